/**
 * The human report: one table per area with a status mark per check, then every finding that needs
 * attention with its evidence and a fix to paste, then a closing summary.
 */
import Table from 'cli-table3'
import type {ChalkInstance} from 'chalk'

import type {CheckResult, DoctorReport} from '../engine/doctor.js'
import type {Finding, Status} from '../checks/types.js'
import {MARK, paint} from './style.js'

const AREA_TITLE: Record<string, string> = {
  netconf: 'Configuration',
  cni: 'CNI',
  kube: 'Kubernetes',
  node: 'Node',
  logs: 'Logs',
  probe: 'Probes',
  doctor: 'Doctor',
}

const ATTENTION: readonly Status[] = ['error', 'warning', 'unknown', 'info']

function headline(r: CheckResult, verbose: boolean): string {
  const f = r.findings.find((x) => x.status === r.status) ?? r.findings[0]
  if (!f) return r.title
  const more = r.findings.filter((x) => x.status === r.status).length - 1
  const msg = r.status === 'ok' && !verbose ? r.title : f.message
  return more > 0 ? `${msg} (+${more} more)` : msg
}

function findingBlock(c: ChalkInstance, f: Finding, indent: string): string[] {
  const out: string[] = []
  const subject = f.subject ? `${f.subject}: ` : ''
  out.push(`${indent}${paint(c, f.status, MARK[f.status])} ${subject}${f.message}`)
  for (const e of f.evidence) {
    if (e.lines.length === 0) continue
    out.push(`${indent}    ${c.dim(`evidence (${e.source}):`)}`)
    for (const l of e.lines) out.push(`${indent}      ${l}`)
  }
  if (f.fix && f.fix.length > 0) {
    out.push(`${indent}    ${c.dim('fix:')}`)
    for (const l of f.fix) out.push(`${indent}      ${l}`)
  }
  if (f.hint) out.push(`${indent}    ${c.dim(`to look: ${f.hint}`)}`)
  return out
}

export function renderTable(
  report: DoctorReport,
  c: ChalkInstance,
  opts: {width: number; verbose: boolean; command?: string},
): string {
  const lines: string[] = []
  const node = report.node ? ` — node ${report.node}` : ''
  lines.push(c.bold(`flannelctl ${opts.command ?? 'doctor'} — ${report.origin}${node}`), '')
  const areas = [...new Set(report.checks.map((r) => r.area))]
  const msgWidth = Math.max(30, opts.width - 40)
  for (const area of areas) {
    lines.push(c.bold(AREA_TITLE[area] ?? area))
    const t = new Table({
      head: [],
      colWidths: [4, 32, msgWidth],
      wordWrap: true,
      style: {head: [], border: [], 'padding-left': 1, 'padding-right': 1},
      chars: {mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': ''},
    })
    for (const r of report.checks.filter((x) => x.area === area)) {
      t.push([paint(c, r.status, MARK[r.status]), r.id, headline(r, opts.verbose)])
    }
    lines.push(t.toString(), '')
  }
  const attention = report.checks.filter((r) => ATTENTION.includes(r.status) || opts.verbose)
  if (attention.length > 0) {
    lines.push(c.bold('Details'))
    for (const r of attention) {
      lines.push(`${paint(c, r.status, MARK[r.status])} ${c.bold(r.id)} — ${r.title}`)
      const shown = r.findings.filter((f) => opts.verbose || f.status !== 'ok')
      for (const f of shown) lines.push(...findingBlock(c, f, '  '))
      lines.push('')
    }
  }
  lines.push(summaryLine(report, c))
  return lines.join('\n') + '\n'
}

export function summaryLine(report: DoctorReport, c: ChalkInstance): string {
  const s = report.summary
  const parts = [
    `${s.ok} ok`,
    `${s.error} error${s.error === 1 ? '' : 's'}`,
    `${s.warning} warning${s.warning === 1 ? '' : 's'}`,
    `${s.info} info`,
    `${s.unknown} unknown`,
    `${s.skip} skipped`,
  ]
  return `${parts.join(', ')} — ${verdictText(c, report)}, exit ${report.exitCode}`
}

/** HEALTHY / FAILED (findings at or above LEVEL) / INCOMPLETE, coloured: one node's verdict or several's. */
export function verdictText(c: ChalkInstance, r: Pick<DoctorReport, 'result' | 'failOn'>): string {
  return r.result === 'failed'
    ? paint(c, 'error', `FAILED (findings at or above ${r.failOn})`)
    : r.result === 'incomplete'
      ? paint(c, 'unknown', 'INCOMPLETE (some evidence could not be looked at)')
      : paint(c, 'ok', 'HEALTHY')
}
