/**
 * setup and teardown end to end: read the evidence (with the doctor's own probes and parsers), decide
 * the desired state, plan, and — unless it is a dry run — apply under the scope's lock and plan again.
 * A non-empty re-plan is reported as a failure: idempotency is proven on every run, not promised.
 */
import {randomBytes} from 'node:crypto'
import {dirname, join} from 'node:path'

import {ANN, parseBackendData, peerNodes} from '../checks/lib/flannel.js'
import {collectFacts} from '../facts/store.js'
import {liveSource} from '../facts/sources.js'
import type {FactKey, Facts} from '../facts/types.js'
import type {HostFs} from '../host/fs.js'
import type {Runner} from '../host/runner.js'
import {acquireLock, loadJournal, processAlive, saveJournal, scopeDir} from '../host/state.js'
import {netConfFromFile} from '../parse/netconf-source.js'
import {applyPlan, type ApplyDeps} from './apply.js'
import {desiredState, type DesiredState} from './desired.js'
import {chooseInterface} from './iface.js'
import type {Journal} from './journal.js'
import type {NodeSource} from './node-source.js'
import {plan, teardownPlan, type Current, type Op} from './plan.js'

export class SetupError extends Error {
  override readonly name = 'SetupError'
  constructor(
    message: string,
    /** The doctor check that covers the cause. */
    readonly check?: string,
  ) {
    super(check ? `${message} (see doctor check ${check})` : message)
  }
}

export interface SetupOptions {
  netConfPath: string
  nodeName: string
  nodes: NodeSource
  netns?: string
  subnetEnvPath: string
  stateDir: string
  iface?: string[]
  ifaceRegex?: string[]
  ifaceCanReach?: string
  publicIP?: string
  ipMasq: boolean
  forwardRules: boolean
  dryRun: boolean
  onBatch?: ApplyDeps['onBatch']
}

export interface SetupResult {
  scope: string
  desired: DesiredState
  iface: string
  plan: Op[]
  applied: boolean
  /** After apply: must be empty. */
  replan: Op[]
  tookOverLock?: number
  /** Wall time of each phase, in ms: reading the kernel, programming it, reading it again. */
  timings: {readMs: number; applyMs?: number; replanMs?: number}
}

const NODE_FACTS: FactKey[] = ['links', 'addrs', 'routes', 'neighs', 'fdb']

function must<T>(facts: Facts, key: FactKey, what: string): T {
  const a = facts.get(key)
  if (!a.ok) {
    const root = a.state === 'permission' ? ' — setup must run as root' : ''
    throw new SetupError(`cannot read ${what}: ${a.reason}${root}`)
  }
  return a.value as T
}

/** A random locally administered unicast MAC, as flannel generates for a new VTEP. */
export function randomMac(): string {
  const b = randomBytes(6)
  b[0] = ((b[0] ?? 0) & 0xfe) | 0x02
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':')
}

/** The NODE_FACTS part of what setup and teardown compare against: links, addresses, routes, neighbours, FDB. */
function nodeState(facts: Facts): Pick<Current, 'links' | 'addrs' | 'routes' | 'neighs' | 'fdb'> {
  return {
    links: must(facts, 'links', 'links'),
    addrs: must(facts, 'addrs', 'addresses'),
    routes: must(facts, 'routes', 'routes'),
    neighs: must(facts, 'neighs', 'neighbours'),
    fdb: must(facts, 'fdb', 'the forwarding database'),
  }
}

/** The journal as apply reads and records it: every save reaches the scope's journal file. */
function journalStore(dir: string, initial: Journal): ApplyDeps['journal'] {
  let journal = initial
  return {
    get: () => journal,
    save: async (j) => {
      journal = j
      await saveJournal(dir, j)
    },
  }
}

async function readCurrent(
  runner: Runner,
  fs: HostFs,
  o: {netns?: string; nft: boolean; subnetEnvPath: string},
  journal: Journal,
  annotations: Record<string, string>,
): Promise<Current> {
  const src = liveSource(runner, fs, o.netns ? {netns: o.netns} : {})
  const keys: FactKey[] = [...NODE_FACTS, o.nft ? 'nft' : 'iptables']
  const {facts} = await collectFacts(src, keys)
  const cur: Current = {...nodeState(facts), annotations, journal}
  if (o.nft) cur.nft = must(facts, 'nft', 'the nftables ruleset')
  else cur.iptables = must(facts, 'iptables', 'the iptables rules')
  const env = await fs.readText(o.subnetEnvPath)
  if (env.ok) cur.subnetEnv = env.text
  return cur
}

/**
 * A run killed while writing the journal or subnet.env leaves the temporary file of that atomic write
 * (HostFs.writeAtomic names it `.<ms>.<pid>.<random>.tmp`). Under the scope's lock, such a file whose
 * writer is dead is abandoned: remove it, so a crash leaves nothing behind once setup or teardown ran.
 */
async function dropAbandonedTemps(fs: HostFs, dirs: readonly string[]): Promise<void> {
  for (const dir of new Set(dirs)) {
    const l = await fs.list(dir)
    if (!l.ok) continue
    for (const name of l.names) {
      const pid = Number(/^\.\d+\.(\d+)\.[0-9a-z]+\.tmp$/.exec(name)?.[1] ?? NaN)
      if (Number.isInteger(pid) && pid !== process.pid && !processAlive(pid)) await fs.remove(join(dir, name))
    }
  }
}

export async function runSetup(o: SetupOptions, deps: {runner: Runner; fs: HostFs}): Promise<SetupResult> {
  const {runner, fs} = deps
  const scope = o.netns ? `netns ${o.netns}` : 'host'
  const text = await fs.readText(o.netConfPath)
  if (!text.ok) throw new SetupError(`${o.netConfPath}: ${text.reason}`, 'netconf.present')
  const fact = netConfFromFile(text.text, o.netConfPath)
  if (!fact.result.ok) {
    const e = fact.result.error
    throw new SetupError(`${o.netConfPath}:${e.line}:${e.column}: ${e.message}`, 'netconf.json-syntax')
  }
  const conf = fact.result.conf
  if (conf.flannelError)
    throw new SetupError(`${o.netConfPath}: flannel would refuse it: ${conf.flannelError}`, 'netconf.schema')

  const nodes = await o.nodes.list()
  const self = nodes.find((n) => n.name === o.nodeName)
  if (!self)
    throw new SetupError(`node "${o.nodeName}" is not in ${o.nodes.describe}`, 'kube.podcidr-assigned')

  const dir = scopeDir(o.stateDir, o.netns)
  const curOpts = {
    nft: conf.EnableNFTables,
    subnetEnvPath: o.subnetEnvPath,
    ...(o.netns ? {netns: o.netns} : {}),
  }
  // A real run holds the lock from its first look at the kernel to its re-plan, so one read serves
  // choosing the interface, the desired state and the plan; a dry run takes no lock and changes nothing.
  const lock = o.dryRun ? undefined : await acquireLock(dir)
  try {
    if (lock) await dropAbandonedTemps(fs, [dir, dirname(o.subnetEnvPath)])
    const journal = journalStore(dir, await loadJournal(dir, scope))
    const t0 = performance.now()
    const cur = await readCurrent(runner, fs, curOpts, journal.get(), self.annotations)
    const readMs = performance.now() - t0
    const ifaceOpts: Parameters<typeof chooseInterface>[0] = {}
    if (o.iface?.length) ifaceOpts.iface = o.iface
    if (o.ifaceRegex?.length) ifaceOpts.ifaceRegex = o.ifaceRegex
    if (o.ifaceCanReach) ifaceOpts.ifaceCanReach = o.ifaceCanReach
    if (o.publicIP) ifaceOpts.publicIP = o.publicIP
    const iface = chooseInterface(ifaceOpts, {links: cur.links, addrs: cur.addrs, routes: cur.routes})
    if (!iface.ok) throw new SetupError(`${iface.message} (flannel: ${iface.flannelMessage})`, iface.check)

    // The VtepMAC survives restarts: the node's annotation first, then the device as it is, else new.
    const annotated = parseBackendData(self.annotations[ANN.backendData])
    const vni = typeof conf.backend['VNI'] === 'number' ? conf.backend['VNI'] : 1
    const existing = cur.links.find((l) => l.name === `flannel.${vni}`)?.mac
    const mac = (annotated.ok && annotated.data?.VtepMAC) || existing || randomMac()

    const d = desiredState({
      conf,
      self,
      peers: peerNodes(nodes, self),
      iface: {name: iface.iface, addr: iface.ifaceAddr, publicIP: iface.publicIP, mtu: iface.mtu},
      routes: cur.routes,
      mac,
      ipMasq: o.ipMasq,
      forwardRules: o.forwardRules,
    })
    if (!d.ok) throw new SetupError(d.problem.message, d.problem.check)

    const ops = plan(d.state, cur, {subnetEnvPath: o.subnetEnvPath})
    const result: SetupResult = {
      scope,
      desired: d.state,
      iface: iface.iface,
      plan: ops,
      applied: false,
      replan: [],
      timings: {readMs},
    }
    if (lock?.tookOver !== undefined) result.tookOverLock = lock.tookOver
    if (!lock || ops.length === 0) return result
    const applyDeps: ApplyDeps = {
      runner,
      fs,
      nodes: o.nodes,
      nodeName: o.nodeName,
      journal,
    }
    if (o.netns) applyDeps.netns = o.netns
    if (o.onBatch) applyDeps.onBatch = o.onBatch
    const t1 = performance.now()
    await applyPlan(ops, applyDeps)
    result.applied = true
    result.timings.applyMs = performance.now() - t1
    const t2 = performance.now()
    const after = (await o.nodes.list()).find((n) => n.name === o.nodeName)
    result.replan = plan(
      d.state,
      await readCurrent(runner, fs, curOpts, journal.get(), after?.annotations ?? {}),
      {subnetEnvPath: o.subnetEnvPath},
    )
    result.timings.replanMs = performance.now() - t2
    return result
  } finally {
    await lock?.release()
  }
}

export interface TeardownResult {
  scope: string
  plan: Op[]
  applied: boolean
  /** Journal entries still recorded afterwards (must be none). */
  left: number
}

export async function runTeardown(
  o: {netns?: string; stateDir: string; dryRun: boolean},
  deps: {runner: Runner; fs: HostFs; nodes?: NodeSource},
): Promise<TeardownResult> {
  const scope = o.netns ? `netns ${o.netns}` : 'host'
  const dir = scopeDir(o.stateDir, o.netns)
  const read = async (j: Journal) => {
    const src = liveSource(deps.runner, deps.fs, o.netns ? {netns: o.netns} : {})
    const needNft = j.entries.some((e) => e.kind === 'nft-table')
    const needIpt = j.entries.some((e) => e.kind === 'ipt-chain' || e.kind === 'ipt-rule')
    const keys: FactKey[] = [
      ...NODE_FACTS,
      ...(needNft ? (['nft'] as const) : []),
      ...(needIpt ? (['iptables'] as const) : []),
    ]
    const {facts} = await collectFacts(src, keys)
    const files = new Set<string>()
    for (const e of j.entries) if (e.kind === 'file' && (await deps.fs.exists(e.path))) files.add(e.path)
    const cur: Parameters<typeof teardownPlan>[1] = {...nodeState(facts), files}
    if (needNft) cur.nft = must(facts, 'nft', 'the nftables ruleset')
    if (needIpt) cur.iptables = must(facts, 'iptables', 'the iptables rules')
    return cur
  }
  const recorded = await loadJournal(dir, scope)
  const ops = teardownPlan(recorded, await read(recorded))
  const result: TeardownResult = {scope, plan: ops, applied: false, left: recorded.entries.length}
  if (o.dryRun) return result
  const lock = await acquireLock(dir)
  try {
    const journal = journalStore(dir, await loadJournal(dir, scope))
    await dropAbandonedTemps(deps.fs, [
      dir,
      ...journal.get().entries.flatMap((e) => (e.kind === 'file' ? [dirname(e.path)] : [])),
    ])
    const fresh = teardownPlan(journal.get(), await read(journal.get()))
    result.plan = fresh
    const applyDeps: ApplyDeps = {
      runner: deps.runner,
      fs: deps.fs,
      nodes: deps.nodes ?? {describe: 'none', list: async () => [], publish: async () => ({changed: false})},
      nodeName: '',
      journal,
    }
    if (o.netns) applyDeps.netns = o.netns
    await applyPlan(fresh, applyDeps)
    // Whatever the journal still lists no longer exists (or was never created): the record is done.
    await saveJournal(dir, {...journal.get(), entries: []})
    result.applied = true
    result.left = 0
  } finally {
    await lock.release()
  }
  return result
}
