/** GitHub Actions workflow commands: one annotation per finding that needs attention. */
import type {DoctorReport} from '../engine/doctor.js'

const escData = (s: string): string => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A')
const escProp = (s: string): string => escData(s).replace(/:/g, '%3A').replace(/,/g, '%2C')

export function renderGithub(report: DoctorReport): string {
  const out: string[] = []
  for (const c of report.checks) {
    for (const f of c.findings) {
      const level =
        f.status === 'error'
          ? 'error'
          : f.status === 'warning'
            ? 'warning'
            : f.status === 'info' || f.status === 'unknown'
              ? 'notice'
              : undefined
      if (!level) continue
      const lines = [f.subject ? `${f.subject}: ${f.message}` : f.message]
      for (const e of f.evidence) if (e.lines.length) lines.push(`evidence (${e.source}):`, ...e.lines)
      if (f.fix?.length) lines.push('fix:', ...f.fix)
      if (f.hint) lines.push(`to look: ${f.hint}`)
      out.push(`::${level} title=${escProp(`${c.id} (${f.status})`)}::${escData(lines.join('\n'))}`)
    }
  }
  const s = report.summary
  out.push(
    `flannelctl doctor: ${s.ok} ok, ${s.error} errors, ${s.warning} warnings, ${s.unknown} unknown — ${report.result}, exit ${report.exitCode}`,
  )
  return out.join('\n') + '\n'
}
