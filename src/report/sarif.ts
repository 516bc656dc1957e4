/** SARIF 2.1.0 for code scanning: one result per finding that needs attention, located in the file. */
import type {DoctorReport} from '../engine/doctor.js'
import type {CheckDef} from '../checks/types.js'

const LEVEL: Record<string, 'error' | 'warning' | 'note'> = {error: 'error', warning: 'warning', info: 'note'}

export function renderSarif(report: DoctorReport, catalogue: readonly CheckDef[], file: string): string {
  const used = new Set(report.checks.map((c) => c.id))
  const rules = catalogue
    .filter((c) => used.has(c.id))
    .map((c) => ({
      id: c.id,
      name: c.id,
      shortDescription: {text: c.title},
      defaultConfiguration: {level: LEVEL[c.severity] ?? 'warning'},
    }))
  const results = report.checks.flatMap((c) =>
    c.findings
      .filter((f) => LEVEL[f.status] !== undefined)
      .map((f) => {
        const region: Record<string, number> = {startLine: f.location?.line ?? 1}
        if (f.location?.column !== undefined) region['startColumn'] = f.location.column
        const text = [f.message, ...(f.fix?.length ? ['Fix: ' + f.fix.join(' / ')] : [])].join(' ')
        return {
          ruleId: c.id,
          level: LEVEL[f.status],
          message: {text},
          locations: [{physicalLocation: {artifactLocation: {uri: f.location?.file ?? file}, region}}],
        }
      }),
  )
  const sarif = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [{tool: {driver: {name: 'flannelctl', version: report.tool.version, rules}}, results}],
  }
  return JSON.stringify(sarif, null, 2) + '\n'
}
