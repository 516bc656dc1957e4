/**
 * JUnit XML: one testsuite per area, one testcase per check. Errors (and warnings with
 * --fail-on warning) are failures; unknown is `skipped` with the reason, so CI shows it without
 * calling it a pass.
 */
import type {DoctorReport} from '../engine/doctor.js'
import type {Finding} from '../checks/types.js'

const esc = (s: string): string =>
  s
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')

function body(fs: readonly Finding[]): string {
  return fs
    .map((f) => {
      const ev = f.evidence.flatMap((e) =>
        e.lines.length ? [`  evidence (${e.source}):`, ...e.lines.map((l) => `    ${l}`)] : [],
      )
      const fix = f.fix?.length ? ['  fix:', ...f.fix.map((l) => `    ${l}`)] : []
      return [`${f.status}: ${f.subject ? f.subject + ': ' : ''}${f.message}`, ...ev, ...fix].join('\n')
    })
    .join('\n')
}

const failingIn = (report: DoctorReport) => (s: string) =>
  s === 'error' || (report.failOn === 'warning' && s === 'warning')

function counts(report: DoctorReport): {total: number; failures: number; skipped: number} {
  const failing = failingIn(report)
  return {
    total: report.checks.length,
    failures: report.checks.filter((c) => failing(c.status)).length,
    skipped: report.checks.filter((c) => c.status === 'unknown' || c.status === 'skip').length,
  }
}

/** One testsuite per area; with `node`, suites and class names carry the node's name. */
function suites(report: DoctorReport, node?: string): string[] {
  const failing = failingIn(report)
  const out: string[] = []
  const areas = [...new Set(report.checks.map((c) => c.area))]
  for (const area of areas) {
    const cs = report.checks.filter((c) => c.area === area)
    const f = cs.filter((c) => failing(c.status)).length
    const sk = cs.filter((c) => c.status === 'unknown' || c.status === 'skip').length
    const name = node === undefined ? area : `${node}/${area}`
    const cls = node === undefined ? `flannelctl.${area}` : `flannelctl.${node}.${area}`
    out.push(`  <testsuite name="${esc(name)}" tests="${cs.length}" failures="${f}" skipped="${sk}">`)
    for (const c of cs) {
      out.push(`    <testcase classname="${esc(cls)}" name="${esc(c.id)}">`)
      const attention = c.findings.filter((x) => x.status !== 'ok' && x.status !== 'skip')
      if (failing(c.status)) {
        const first = c.findings.find((x) => x.status === c.status)
        out.push(
          `      <failure type="${c.status}" message="${esc(first?.message ?? c.title)}">${esc(body(attention))}</failure>`,
        )
      } else if (c.status === 'unknown' || c.status === 'skip') {
        const first = c.findings.find((x) => x.status === c.status)
        out.push(
          `      <skipped message="${esc(`${c.status}: ${first?.message ?? ''}${first?.hint ? ` (${first.hint})` : ''}`)}"/>`,
        )
      } else if (attention.length > 0) {
        out.push(`      <system-out>${esc(body(attention))}</system-out>`)
      }
      out.push('    </testcase>')
    }
    out.push('  </testsuite>')
  }
  return out
}

export function renderJunit(report: DoctorReport): string {
  const n = counts(report)
  return (
    [
      '<?xml version="1.0" encoding="UTF-8"?>',
      `<testsuites name="flannelctl doctor" tests="${n.total}" failures="${n.failures}" skipped="${n.skipped}" timestamp="${esc(report.generatedAt)}">`,
      ...suites(report),
      '</testsuites>',
    ].join('\n') + '\n'
  )
}

/** Several nodes (doctor --all-nodes): suites named NODE/AREA. */
export function renderJunitNodes(
  nodes: readonly {node: string; report: DoctorReport}[],
  generatedAt: string,
): string {
  const all = nodes.map((x) => counts(x.report))
  const sum = (k: 'total' | 'failures' | 'skipped') => all.reduce((a, x) => a + x[k], 0)
  return (
    [
      '<?xml version="1.0" encoding="UTF-8"?>',
      `<testsuites name="flannelctl doctor" tests="${sum('total')}" failures="${sum('failures')}" skipped="${sum('skipped')}" timestamp="${esc(generatedAt)}">`,
      ...nodes.flatMap((x) => suites(x.report, x.node)),
      '</testsuites>',
    ].join('\n') + '\n'
  )
}
