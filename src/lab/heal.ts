/**
 * `lab fault` and `lab heal`: put a catalogued fault (faults.ts) into a ready lab and record it in lab.json;
 * undo every recorded fault and bring the lab back to what `lab up` left.
 *
 * Heal, in order: each active fault's own heal, newest first (what nothing else would undo: a stray rule,
 * table, link, policy or sysctl); the lab's files as `lab up` left them (pristine/: net-conf.json,
 * nodes.json, every subnet.env, every CNI folder, extra CNI files removed); flannelctl setup on every node in
 * rounds until every plan is empty (ipsec, which setup does not program: every node's xfrm policies
 * rewritten); and the pods re-wired as the CNI plugins would wire a new pod (wirePods: MTUs, a conflicting
 * cni0 deleted and recreated with its pods re-attached). Running heal on a lab without faults changes
 * nothing.
 */
import {join} from 'node:path'

import {
  ipBatch,
  labDir,
  LabError,
  labFileList,
  needRoot,
  nodeFiles,
  pristineDir,
  requireLab,
  runSetupRounds,
  saveLab,
  wirePods,
  type ActiveFault,
  type LabDeps,
  type LabRef,
  type SetupRound,
} from './lab.js'
import {faultContext, faultRefusal, FAULTS, findFault, ipsecPoliciesOf, type Fault} from './faults.js'
import {mapLimit} from '../lib/concurrency.js'

export interface FaultInfo {
  name: string
  what: string
  expect: string[]
  backends: string[]
  minNodes: number
  dataPath: boolean
}

/** The catalogue as `lab fault --list` shows it. */
export function faultCatalogue(): FaultInfo[] {
  return FAULTS.map((f) => ({
    name: f.name,
    what: f.what,
    expect: [...f.expect],
    backends: [...f.backends],
    minNodes: f.minNodes ?? 1,
    dataPath: f.dataPath ?? false,
  }))
}

export interface LabFaultResult {
  lab: string
  fault: string
  node: string
  what: string
  /** The check ids `lab doctor` must now report (error or warning). */
  expect: string[]
  /** Every fault active in the lab now, oldest first. */
  active: ActiveFault[]
  durationMs: number
}

function unknownFault(name: string): LabError {
  return new LabError(
    `there is no fault "${name}"; lab fault --list shows them: ${FAULTS.map((f) => f.name).join(', ')}`,
    2,
  )
}

export async function labFault(
  o: LabRef & {fault: string; node?: string},
  deps: LabDeps,
): Promise<LabFaultResult> {
  const start = Date.now()
  const f: Fault | undefined = findFault(o.fault)
  if (!f) throw unknownFault(o.fault)
  needRoot('lab fault')
  const state = await requireLab(o, deps.fs)
  const dir = labDir(o)
  const nodeName = o.node ?? state.topology.nodes[0]?.name ?? 'node-1'
  const ctx = faultContext(state, dir, nodeName, deps)
  const active = state.faults ?? []
  const refusal = faultRefusal(f, state, ctx.node.name, active)
  if (refusal) throw new LabError(refusal, 2)
  deps.progress?.(`${f.name} on ${ctx.node.name}: ${f.what}`)
  const record = (): void => {
    state.faults = [...active, {name: f.name, node: ctx.node.name, appliedAt: new Date().toISOString()}]
  }
  try {
    await f.apply(ctx)
  } catch (e) {
    // Whatever it did so far is recorded, so heal undoes it.
    record()
    await saveLab(dir, state, deps.fs).catch(() => undefined)
    throw new LabError(
      `fault ${f.name} on ${ctx.node.name} failed half-way: ${(e as Error).message}; lab heal --name ${state.name} undoes what was done`,
    )
  }
  record()
  await saveLab(dir, state, deps.fs)
  return {
    lab: state.name,
    fault: f.name,
    node: ctx.node.name,
    what: f.what,
    expect: [...f.expect],
    active: state.faults ?? [],
    durationMs: Date.now() - start,
  }
}

export interface LabHealResult {
  lab: string
  /** The faults undone, newest first. */
  healed: ActiveFault[]
  /** Lab files (relative to the lab folder) written back from pristine/ or removed as extra. */
  restored: string[]
  /** setup rounds (vxlan, host-gw). */
  rounds: SetupRound[]
  /** ipsec: xfrm policies rewritten on every node. */
  ipsecPolicies?: number
  notes: string[]
  durationMs: number
}

/** Put the lab's files back as lab up left them; returns what differed. */
async function restoreFiles(
  dir: string,
  deps: LabDeps,
  t: Parameters<typeof labFileList>[0],
): Promise<string[]> {
  const from = pristineDir(dir)
  const want = await labFileList(t, from, deps.fs)
  const changed: string[] = []
  for (const rel of want) {
    const p = await deps.fs.readText(join(from, rel))
    if (!p.ok) continue
    const cur = await deps.fs.readText(join(dir, rel))
    if (cur.ok && cur.text === p.text) continue
    await deps.fs.writeAtomic(join(dir, rel), p.text, 0o644)
    changed.push(rel)
  }
  const keep = new Set(want)
  for (const n of t.nodes) {
    const cni = nodeFiles(dir, n.name).cniDir
    const l = await deps.fs.list(cni)
    if (!l.ok) continue
    for (const name of l.names) {
      const rel = join('nodes', n.name, 'cni', name)
      if (keep.has(rel)) continue
      await deps.fs.remove(join(cni, name))
      changed.push(rel)
    }
  }
  return changed
}

export async function labHeal(o: LabRef, deps: LabDeps): Promise<LabHealResult> {
  const start = Date.now()
  needRoot('lab heal')
  const state = await requireLab(o, deps.fs)
  const dir = labDir(o)
  const t = state.topology
  if (state.stage !== 'ready')
    throw new LabError(
      `lab "${t.name}" is ${state.stage}, not ready: there is nothing to heal back to; rebuild it with lab down and lab up`,
    )
  const notes: string[] = []
  const healed = [...(state.faults ?? [])].reverse()
  for (const a of healed) {
    const f = findFault(a.name)
    if (!f) {
      notes.push(`fault ${a.name} is not in this version's catalogue: only the generic heal ran for it`)
      continue
    }
    if (!f.heal) continue
    deps.progress?.(`undoing ${a.name} on ${a.node}`)
    await f.heal(faultContext(state, dir, a.node, deps))
  }
  let restored: string[] = []
  if (await deps.fs.exists(join(pristineDir(dir), 'net-conf.json'))) {
    restored = await restoreFiles(dir, deps, t)
    if (restored.length > 0) deps.progress?.(`restored ${restored.join(', ')}`)
  } else
    notes.push(
      `${pristineDir(dir)} does not exist (a lab built by an older flannelctl): its files were not restored`,
    )
  const out: LabHealResult = {lab: t.name, healed, restored, rounds: [], notes, durationMs: 0}
  if (t.options.backend === 'ipsec') {
    deps.progress?.('ipsec: rewriting every node’s xfrm policies')
    let n = 0
    await mapLimit(t.nodes, 8, async (node) => {
      const lines = ipsecPoliciesOf(t, node)
      n += lines.length
      await ipBatch(deps, node.ns, ['xfrm policy flush', ...lines])
    })
    out.ipsecPolicies = n
  } else out.rounds = await runSetupRounds(t, dir, deps)
  deps.progress?.('re-wiring pods')
  await mapLimit(t.nodes, 4, (n) => wirePods(n, dir, deps))
  state.faults = []
  await saveLab(dir, state, deps.fs)
  out.durationMs = Date.now() - start
  return out
}
