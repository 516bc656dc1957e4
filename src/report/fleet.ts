/**
 * Several nodes' reports as one picture: a table of nodes × the checks that failed anywhere, then each
 * distinct finding once with the nodes it holds for ("all 40 nodes" for a cluster-wide one), so a fault
 * shared by every node reads as one line and an odd node stands out. Used by `doctor --all-nodes` and
 * `lab doctor`.
 */
import Table from 'cli-table3'
import type {ChalkInstance} from 'chalk'

import type {Status} from '../checks/types.js'
import type {DoctorReport} from '../engine/doctor.js'
import type {FleetReport} from '../engine/fleet.js'
import {renderReport} from './render.js'
import {colourLevel, makeChalk, MARK, paint} from './style.js'
import {verdictText} from './table.js'

type Stream = {isTTY?: boolean; columns?: number}

export const FAILING: readonly Status[] = ['error', 'warning', 'unknown']

const plain = (): Table.Table =>
  new Table({
    style: {head: [], border: [], 'padding-left': 1, 'padding-right': 1},
    chars: {mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': ''},
  })

export const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`

export interface MatrixRow {
  node: string
  /** Cells after the node name (e.g. how it was reached). */
  extra: string[]
  report: Pick<DoctorReport, 'result' | 'summary' | 'checks'>
  /** The row of the checks that are the same on every node. */
  cluster?: boolean
  /** Why this node's own evidence is missing: its unknowns that say just that are listed once, elsewhere. */
  note?: string
}

/** The nodes × failing-checks table. */
export function nodeMatrix(
  c: ChalkInstance,
  rows: readonly MatrixRow[],
  failing: readonly string[],
  extraHeads: string[],
): string {
  const tb = plain()
  tb.push(
    ['node', ...extraHeads, 'result', 'ok', 'error', 'warning', 'unknown', ...failing].map((h) => c.dim(h)),
  )
  for (const r of rows) {
    const rep = r.report
    const res = rep.result === 'healthy' ? 'ok' : rep.result === 'failed' ? 'error' : 'unknown'
    const cells = failing.map((id) => {
      const st = rep.checks.find((x) => x.id === id)?.status
      return st && FAILING.includes(st) ? paint(c, st, MARK[st]) : st === undefined ? '' : c.dim(MARK[st])
    })
    const s = rep.summary
    tb.push(
      [r.node, ...r.extra, paint(c, res, rep.result), s.ok, s.error, s.warning, s.unknown, ...cells].map(
        String,
      ),
    )
  }
  return tb.toString()
}

/** Each distinct failing finding once, with the nodes it was found on (catalogue order, worst first). */
export function groupedFindings(c: ChalkInstance, rows: readonly MatrixRow[]): string[] {
  const groups = new Map<
    string,
    {status: Status; id: string; message: string; hint?: string; nodes: string[]}
  >()
  for (const r of rows)
    for (const ch of r.report.checks.filter((x) => FAILING.includes(x.status))) {
      const f = ch.findings.find((x) => x.status === ch.status)
      if (ch.status === 'unknown' && r.note !== undefined && f?.message.includes(r.note)) continue
      const message = f?.message ?? ch.title
      const key = `${ch.id}\u0000${ch.status}\u0000${message}`
      let g = groups.get(key)
      if (g === undefined) {
        g = {status: ch.status, id: ch.id, message, nodes: []}
        if (f?.hint !== undefined) g.hint = f.hint
        groups.set(key, g)
      }
      g.nodes.push(r.node)
    }
  const nodeRows = rows.filter((r) => !r.cluster).length
  const out: string[] = []
  for (const g of groups.values()) {
    const where =
      nodeRows > 1 && g.nodes.length === nodeRows
        ? `all ${nodeRows} nodes`
        : g.nodes.length > 4
          ? `${g.nodes.slice(0, 4).join(', ')} and ${g.nodes.length - 4} more`
          : g.nodes.join(', ')
    out.push(`${paint(c, g.status, MARK[g.status])} ${c.bold(g.id)} (${where}): ${g.message}`)
    if (g.hint !== undefined) out.push(c.dim(`    ${g.hint}`))
  }
  return out
}

export function verdictLine(
  c: ChalkInstance,
  r: Pick<DoctorReport, 'result' | 'failOn' | 'exitCode' | 'summary'>,
  nodes: number,
): string {
  const sum = r.summary
  return `${plural(nodes, 'node')}: ${sum.ok} ok, ${plural(sum.error, 'error')}, ${plural(sum.warning, 'warning')}, ${sum.unknown} unknown, ${sum.skip} skipped — ${verdictText(c, r)}, exit ${r.exitCode}`
}

export function renderFleet(r: FleetReport, opts: {verbose?: boolean; stream?: Stream} = {}): string {
  const stream = opts.stream ?? process.stdout
  const c = makeChalk(colourLevel(stream))
  const how =
    r.selection.mode === 'all'
      ? 'every node'
      : r.selection.mode === 'sample'
        ? `a sample of ${r.selection.chosen}`
        : plural(r.selection.chosen, 'named node')
  const out: string[] = [
    c.bold(
      `flannelctl doctor — ${how} of ${plural(r.selection.clusterNodes, 'node')} (${r.origin}${r.namespace ? `, flannel in ${r.namespace}` : ''})`,
    ),
  ]
  for (const n of r.notes) out.push(paint(c, 'unknown', `${MARK.unknown} ${n}`))
  out.push('')
  const rows: MatrixRow[] = r.nodes.map((n) => ({
    node: n.node,
    extra: [n.access === 'exec' ? 'exec' : n.access === 'timeout' ? c.yellow('timeout') : c.dim('api only')],
    report: n.report,
    ...(n.access !== 'exec' && n.note !== undefined ? {note: n.note} : {}),
  }))
  // The checks that came out the same on every node: one row, named for what it stands for.
  const clusterRow: MatrixRow[] = r.cluster
    ? [{node: 'every node', extra: [c.dim('api')], report: r.cluster, cluster: true}]
    : []
  out.push(nodeMatrix(c, [...clusterRow, ...rows], r.failing, ['via']))
  const chosen = r.nodes.filter((n) => n.chosen !== undefined)
  if (chosen.length > 0) {
    out.push('', 'why these nodes:')
    for (const n of chosen) out.push(`  ${n.node}: ${n.chosen as string}`)
  }
  const unreached = r.nodes.filter(
    (n) => n.access !== 'exec' && n.note !== undefined && !r.notes.some((x) => x.includes(n.note as string)),
  )
  if (unreached.length > 0) {
    out.push('', 'node checks not run:')
    for (const n of unreached) out.push(`  ${n.node}: ${n.note as string}`)
  }
  if (r.failing.length === 0) out.push('', 'No check failed or was left unknown on any node.')
  else if (!opts.verbose) {
    out.push(
      '',
      ...groupedFindings(c, [...clusterRow, ...rows]),
      '',
      c.dim(`--verbose shows every node's evidence and fixes`),
    )
  }
  if (opts.verbose) {
    const first = r.nodes[0]?.report
    if (r.cluster && first) {
      const {node: _node, ...rest} = first
      const origin = `${r.origin}: the checks that are the same on every node`
      const part = {...rest, ...r.cluster, origin}
      out.push('', renderReport(part, 'table', {verbose: true, command: 'doctor', stream}).trimEnd())
    }
    for (const n of r.nodes)
      out.push('', renderReport(n.report, 'table', {verbose: true, command: 'doctor', stream}).trimEnd())
  }
  out.push('', verdictLine(c, r, r.nodes.length))
  return out.join('\n') + '\n'
}
