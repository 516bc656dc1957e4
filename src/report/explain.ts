/** Human output of `flannelctl explain`. */
import {colourLevel, makeChalk, paint} from './style.js'

export interface ExplainResult {
  line: number
  lines: number[]
  text: string
  id: string
  level: string
  check: string
  cause: string
  fix: string[]
}

export function renderExplain(results: readonly ExplainResult[], stream: {isTTY?: boolean}): string {
  const c = makeChalk(colourLevel(stream))
  if (results.length === 0) return 'No known flannel, CNI or kubelet error message found.\n'
  const out: string[] = []
  for (const r of results) {
    const status = r.level === 'error' ? 'error' : r.level === 'warning' ? 'warning' : 'info'
    const where =
      r.lines.length > 1
        ? `lines ${r.lines.slice(0, 5).join(', ')}${r.lines.length > 5 ? ', …' : ''}`
        : `line ${r.line}`
    out.push(`${paint(c, status, status.toUpperCase())} ${c.bold(r.check)} (${where})`)
    out.push(`  ${r.text}`)
    out.push(`  cause: ${r.cause}`)
    if (r.fix.length) {
      out.push('  fix:')
      for (const l of r.fix) out.push(`    ${l}`)
    }
    out.push('')
  }
  const errors = results.filter((r) => r.level === 'error').length
  const warnings = results.filter((r) => r.level === 'warning').length
  out.push(
    `${results.length} known message${results.length === 1 ? '' : 's'}: ${errors} error, ${warnings} warning`,
  )
  return out.join('\n') + '\n'
}
