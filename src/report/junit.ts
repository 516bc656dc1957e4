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

export function renderJunit(report: DoctorReport): string {
  const areas = [...new Set(report.checks.map((c) => c.area))]
  const failing = (s: string) => s === 'error' || (report.failOn === 'warning' && s === 'warning')
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>']
  const total = report.checks.length
  const failures = report.checks.filter((c) => failing(c.status)).length
  const skipped = report.checks.filter((c) => c.status === 'unknown' || c.status === 'skip').length
  out.push(
    `<testsuites name="flannelctl doctor" tests="${total}" failures="${failures}" skipped="${skipped}" timestamp="${esc(report.generatedAt)}">`,
  )
  for (const area of areas) {
    const cs = report.checks.filter((c) => c.area === area)
    const f = cs.filter((c) => failing(c.status)).length
    const sk = cs.filter((c) => c.status === 'unknown' || c.status === 'skip').length
    out.push(`  <testsuite name="${esc(area)}" tests="${cs.length}" failures="${f}" skipped="${sk}">`)
    for (const c of cs) {
      out.push(`    <testcase classname="flannelctl.${esc(area)}" name="${esc(c.id)}">`)
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
  out.push('</testsuites>')
  return out.join('\n') + '\n'
}
