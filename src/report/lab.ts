/**
 * The lab's human output: what `lab up` built, `lab status`, the `lab doctor` table (nodes × the checks
 * that failed anywhere, with a per-node summary; --verbose appends every node's own doctor report), and
 * the `lab probe` reachability matrix.
 */
import Table from 'cli-table3'
import type {ChalkInstance} from 'chalk'

import type {FaultInfo, LabFaultResult, LabHealResult} from '../lab/heal.js'
import type {LabDoctorResult, LabProbeResult, LabStatus, LabUpResult} from '../lab/lab.js'
import {groupedFindings, nodeMatrix, plural, verdictLine, type MatrixRow} from './fleet.js'
import {renderReport} from './render.js'
import {colourLevel, makeChalk, MARK, paint} from './style.js'

type Stream = {isTTY?: boolean; columns?: number}

const chalkFor = (stream: Stream): ChalkInstance => makeChalk(colourLevel(stream))

const plain = (): Table.Table =>
  new Table({
    style: {head: [], border: [], 'padding-left': 1, 'padding-right': 1},
    chars: {mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': ''},
  })

export function renderLabUp(r: LabUpResult, stream: Stream = process.stdout): string {
  const c = chalkFor(stream)
  const s = r.state
  const t = s.topology
  const o = s.options
  const out: string[] = []
  out.push(
    c.bold(
      `lab ${t.name}: ${plural(t.nodes.length, 'node')} on ${plural(t.switches.length, 'underlay subnet')}, backend ${o.backend}${o.directRouting ? ' with DirectRouting' : ''}, FLANNEL_MTU ${t.flannelMtu} (underlay ${o.underlayMtu})`,
    ),
  )
  const tb = plain()
  tb.push(['node', 'namespace', 'underlay', 'podCIDR', 'pods'].map((h) => c.dim(h)))
  for (const n of t.nodes)
    tb.push([n.name, n.ns, `${n.ip} (sw${n.subnet})`, n.podCIDR, n.pods.map((p) => p.ip).join(' ') || '–'])
  out.push(tb.toString())
  if (r.rounds.length > 0)
    out.push(
      `setup: ${r.rounds.map((x) => `round ${x.round} ${x.plans.reduce((a, p) => a + p.ops, 0)} changes`).join(', ')} — every plan empty after round ${r.rounds.length}`,
    )
  for (const n of s.notes) out.push(paint(c, 'warning', `${MARK.warning} ${n}`))
  out.push(
    `built in ${(r.durationMs / 1000).toFixed(1)} s; state in ${r.dir}`,
    '',
    'next:',
    `  flannelctl lab probe --name ${t.name}`,
    `  flannelctl lab doctor --name ${t.name}`,
    `  flannelctl lab exec --name ${t.name} node-1 -- ip route`,
    `  flannelctl lab down --name ${t.name}`,
  )
  return out.join('\n') + '\n'
}

export function renderLabStatus(s: LabStatus, stream: Stream = process.stdout): string {
  const c = chalkFor(stream)
  const out: string[] = []
  if (!s.exists) return `no lab "${s.name}" (nothing in ${s.stateDir}, no namespace of it)\n`
  const o = s.options
  out.push(
    c.bold(
      `lab ${s.name}: ${s.stage ?? 'no state'}${o ? ` — ${plural(o.nodes, 'node')}, ${plural(o.subnets, 'subnet')}, backend ${o.backend}${o.directRouting ? ' (DirectRouting)' : ''}, FLANNEL_MTU ${s.flannelMtu ?? '?'}` : ''}`,
    ),
  )
  if (s.error) out.push(paint(c, 'error', `${MARK.error} ${s.error}`))
  if (s.nodes.length > 0) {
    const tb = plain()
    tb.push(['node', 'namespace', 'underlay', 'podCIDR', 'subnet.env', 'pods'].map((h) => c.dim(h)))
    for (const n of s.nodes)
      tb.push([
        `${paint(c, n.present ? 'ok' : 'error', n.present ? MARK.ok : MARK.error)} ${n.name}`,
        n.ns,
        n.ip,
        n.podCIDR,
        n.subnetEnv ? 'yes' : paint(c, 'warning', 'no'),
        n.pods.length === 0
          ? '–'
          : `${n.pods.filter((p) => p.present).length}/${n.pods.length} (${n.pods.map((p) => p.ip).join(' ')})`,
      ])
    out.push(tb.toString())
  }
  out.push(
    `namespaces: ${s.namespaces.present.length} present of ${s.namespaces.expected}${s.namespaces.missing.length > 0 ? `; missing ${s.namespaces.missing.join(', ')}` : ''}`,
  )
  if (s.ipsec)
    out.push(
      `ipsec: ${s.ipsec.policies} xfrm policies; SAs ${s.ipsec.sas ? `installed (${s.ipsec.algorithm ?? 'static'})` : 'not installed'}`,
    )
  if (s.faults.length > 0)
    out.push(
      paint(
        c,
        'warning',
        `${MARK.warning} active faults: ${s.faults.map((f) => `${f.name} on ${f.node}`).join(', ')} — flannelctl lab heal --name ${s.name} undoes them`,
      ),
    )
  for (const n of s.notes) out.push(paint(c, 'warning', `${MARK.warning} ${n}`))
  out.push(`state: ${s.stateDir}`)
  return out.join('\n') + '\n'
}

export function renderLabDoctor(r: LabDoctorResult, opts: {verbose?: boolean; stream?: Stream} = {}): string {
  const stream = opts.stream ?? process.stdout
  const c = chalkFor(stream)
  const out: string[] = [
    c.bold(`flannelctl lab doctor — lab ${r.lab}, ${plural(r.nodes.length, 'node')}`),
    '',
  ]
  const rows: MatrixRow[] = r.nodes.map((n) => ({node: n.node, extra: [], report: n.report}))
  out.push(nodeMatrix(c, rows, r.failing, []))
  if (r.failing.length === 0) out.push('', 'No check failed or was left unknown on any node.')
  else if (!opts.verbose)
    out.push('', ...groupedFindings(c, rows), '', c.dim(`--verbose shows every node's evidence and fixes`))
  if (opts.verbose)
    for (const n of r.nodes)
      out.push('', renderReport(n.report, 'table', {verbose: true, command: 'lab doctor', stream}).trimEnd())
  out.push('', verdictLine(c, r, r.nodes.length))
  return out.join('\n') + '\n'
}

/** The full matrix while it fits a screen; beyond that only the failures are listed. */
const MATRIX_MAX = 12

export function renderLabProbe(r: LabProbeResult, stream: Stream = process.stdout): string {
  const c = chalkFor(stream)
  const out: string[] = [
    c.bold(
      `flannelctl lab probe — lab ${r.lab}: ${plural(r.pods.length, 'pod')}, FLANNEL_MTU ${r.flannelMtu}`,
    ),
  ]
  if (r.limited) out.push(c.dim(r.limited))
  const names = [...new Set(r.pairs.flatMap((p) => [p.from, p.to]))]
  if (names.length > 0 && names.length <= MATRIX_MAX) {
    const tb = plain()
    tb.push([c.dim('from \\ to'), ...names.map((n) => c.dim(n))])
    for (const a of names)
      tb.push([
        a,
        ...names.map((b) => {
          if (a === b) return c.dim('·')
          const p = r.pairs.find((x) => x.from === a && x.to === b)
          if (!p) return ''
          return p.ok ? paint(c, 'ok', MARK.ok) : paint(c, 'error', MARK.error)
        }),
      ])
    out.push(tb.toString())
  }
  const bad = r.pairs.filter((p) => !p.ok)
  for (const p of bad.slice(0, 50))
    out.push(`${paint(c, 'error', MARK.error)} ${p.from} → ${p.to} (${p.toIP}): ${p.reason ?? 'failed'}`)
  if (bad.length > 50) out.push(`… and ${bad.length - 50} more`)
  if (r.df.length > 0) {
    out.push(
      '',
      `don't-fragment pings (${r.df[0]?.size ?? '?'} bytes of payload = a ${r.flannelMtu}-byte packet):`,
    )
    for (const d of r.df)
      if (!d.ok || r.df.length <= MATRIX_MAX)
        out.push(
          `${d.ok ? paint(c, 'ok', MARK.ok) : paint(c, 'error', MARK.error)} ${d.fromNode} → ${d.toNode} (${d.from} → ${d.toIP}, -M do -s ${d.size})${d.ok ? '' : `: ${d.reason ?? 'failed'}`}`,
        )
  } else if (r.pods.length === 0) out.push('the lab has no pods (--pods-per-node 0): nothing to probe')
  const k = r.counts
  const verdict = r.exitCode === 0 ? paint(c, 'ok', 'ALL REACH') : paint(c, 'error', 'SOME FAIL')
  out.push(
    '',
    `${k.ok}/${k.pairs} pod pairs reach, ${k.dfOk}/${k.df} don't-fragment pings pass — ${verdict}, exit ${r.exitCode} (${(r.durationMs / 1000).toFixed(1)} s)`,
  )
  return out.join('\n') + '\n'
}

export function renderFaultList(faults: readonly FaultInfo[], stream: Stream = process.stdout): string {
  const c = chalkFor(stream)
  const tb = new Table({
    style: {head: [], border: [], 'padding-left': 1, 'padding-right': 1},
    chars: {mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': ''},
    colWidths: [31, 29, 18, Math.max(30, (stream.columns ?? 120) - 88)],
    wordWrap: true,
  })
  tb.push(['fault', 'lab doctor must report', 'backends', 'what'].map((h) => c.dim(h)))
  for (const f of faults)
    tb.push([
      f.name,
      f.expect.join('\n'),
      f.backends.join(', ') + (f.minNodes > 1 ? `\n(${f.minNodes}+ nodes)` : ''),
      f.what,
    ])
  return (
    [
      tb.toString(),
      '',
      `${plural(faults.length, 'fault')}. flannelctl lab fault NAME [--node node-2] puts one into a lab; lab doctor must then report exactly the ids listed (error or warning, on any node); lab heal undoes every fault.`,
    ].join('\n') + '\n'
  )
}

export function renderLabFault(r: LabFaultResult, stream: Stream = process.stdout): string {
  const c = chalkFor(stream)
  const out = [
    c.bold(`lab ${r.lab}: ${r.fault} on ${r.node}`),
    r.what,
    `lab doctor must now report: ${r.expect.join(', ')}`,
  ]
  if (r.active.length > 1)
    out.push(`active faults: ${r.active.map((f) => `${f.name} on ${f.node}`).join(', ')}`)
  out.push(
    '',
    'next:',
    `  flannelctl lab doctor --name ${r.lab}`,
    `  flannelctl lab probe --name ${r.lab}`,
    `  flannelctl lab heal --name ${r.lab}`,
  )
  return out.join('\n') + '\n'
}

export function renderLabHeal(r: LabHealResult, stream: Stream = process.stdout): string {
  const c = chalkFor(stream)
  const out = [
    c.bold(
      `lab ${r.lab}: ${r.healed.length === 0 ? 'no active fault' : `healed ${r.healed.map((f) => `${f.name} on ${f.node}`).join(', ')}`}`,
    ),
  ]
  out.push(`files restored: ${r.restored.length === 0 ? 'none differed' : r.restored.join(', ')}`)
  if (r.rounds.length > 0)
    out.push(
      `setup: ${r.rounds.map((x) => `round ${x.round} ${x.plans.reduce((a, p) => a + p.ops, 0)} changes`).join(', ')} — every plan empty after round ${r.rounds.length}`,
    )
  if (r.ipsecPolicies !== undefined) out.push(`ipsec: ${r.ipsecPolicies} xfrm policies rewritten`)
  out.push('pods re-wired as the CNI plugins would wire a new pod')
  for (const n of r.notes) out.push(paint(c, 'warning', `${MARK.warning} ${n}`))
  out.push(
    `done in ${(r.durationMs / 1000).toFixed(1)} s`,
    '',
    'next:',
    `  flannelctl lab doctor --name ${r.lab}`,
    `  flannelctl lab probe --name ${r.lab}`,
  )
  return out.join('\n') + '\n'
}
