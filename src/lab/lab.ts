/**
 * A flannel cluster made of network namespaces on this machine, programmed by the real code: every node
 * runs `flannelctl setup` (runSetup) against the lab's nodes file, the pods are wired as the flannel CNI
 * plugin and the bridge plugin wire them (flannel-facts §4.2, §4.3), and `lab doctor` runs the real doctor
 * inside every node.
 *
 * Safety: everything lives in namespaces named `flt-<name>-…` (topology.ts), created here and found again
 * only by that exact pattern; the machine's own namespace is never configured (links are created from
 * inside a lab namespace with their peer placed straight into another one); the underlay has no way out,
 * and probes target lab addresses only. `labDown` deletes the namespaces and the state folder, whatever
 * state a failed `labUp` left.
 *
 * Processes are few: one `ip -batch` for all namespaces and their sysctls, then one `ip -n NS -batch -`
 * per namespace to wire it.
 */
import {randomBytes} from 'node:crypto'
import {join} from 'node:path'

import {ANN, FLANNEL_IPSEC_REQID} from '../checks/lib/flannel.js'
import {
  aggregateReports,
  runDoctor,
  selectChecks,
  type DoctorReport,
  type FailOn,
  type Summary,
} from '../engine/doctor.js'
import {liveSource} from '../facts/sources.js'
import {collectFacts} from '../facts/store.js'
import type {HostFs} from '../host/fs.js'
import {fileNodeSource} from '../host/nodes-file.js'
import {kernelRelease} from '../host/lab-files.js'
import type {RunResult, Runner} from '../host/runner.js'
import {parseCidr} from '../lib/ip.js'
import type {Addr, Link} from '../model.js'
import {parseSubnetEnv} from '../parse/subnet-env.js'
import {flannelIptablesRules, subnetEnvText} from '../setup/desired.js'
import {runSetup, type SetupOptions, type SetupResult} from '../setup/setup.js'
import {VERSION} from '../version.js'
import {
  buildTopology,
  CNI_CONFLIST,
  labNamespacePattern,
  labNamespaces,
  labNetConf,
  labNodesList,
  nodePairs,
  resolveTarget,
  validateLabOptions,
  type ExecTarget,
  type LabNode,
  type LabOptions,
  type LabPod,
  type LabTopology,
} from './topology.js'
import {mapLimit} from '../lib/concurrency.js'

import {DEFAULT_LAB_ROOT} from '../paths.js'
export const LAB_SCHEMA = 'flannelctl/lab'

/** A lab operation that could not be done; `exitCode` 2 = the request itself was wrong. */
export class LabError extends Error {
  override readonly name: string = 'LabError'
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message)
  }
}

export class LabExistsError extends LabError {
  override readonly name = 'LabExistsError'
}

export interface LabDeps {
  runner: Runner
  fs: HostFs
  /** One line per step of long work (the command prints them to stderr). */
  progress?: (line: string) => void
}

export interface LabRef {
  name: string
  /** Folder that holds one folder per lab (default /run/flannelctl/lab). */
  stateRoot?: string
}

export interface IpsecState {
  /** Whether the static SAs could be installed (no: the kernel lacks ESP or the cipher). */
  sas: boolean
  algorithm?: string
  reason?: string
  policies: number
}

/** A fault `lab fault` put into the lab (src/lab/faults.ts), until `lab heal` undoes it. */
export interface ActiveFault {
  name: string
  /** The node it was aimed at. */
  node: string
  appliedAt: string
}

/** lab.json */
export interface LabState {
  schema: typeof LAB_SCHEMA
  version: 1
  name: string
  createdAt: string
  stage: 'building' | 'ready' | 'failed'
  error?: string
  options: LabOptions
  topology: LabTopology
  /** Things a person should know about this lab (e.g. no ESP in the kernel). */
  notes: string[]
  /** How many setup rounds it took until every node's plan was empty. */
  setupRounds?: number
  ipsec?: IpsecState
  /** Faults applied by `lab fault` and not healed yet, oldest first. */
  faults?: ActiveFault[]
}

export interface NodeFiles {
  netConf: string
  nodesFile: string
  subnetEnv: string
  cniDir: string
  setupState: string
}

export function labDir(ref: LabRef): string {
  validateLabOptions({name: ref.name})
  return join(ref.stateRoot ?? DEFAULT_LAB_ROOT, ref.name)
}

/** Where a node's files live: shared net-conf and nodes file, its own subnet.env and CNI folder. */
export function nodeFiles(dir: string, node: string): NodeFiles {
  return {
    netConf: join(dir, 'net-conf.json'),
    nodesFile: join(dir, 'nodes.json'),
    subnetEnv: join(dir, 'nodes', node, 'subnet.env'),
    cniDir: join(dir, 'nodes', node, 'cni'),
    setupState: join(dir, 'setup'),
  }
}

const isRoot = (): boolean => typeof process.getuid !== 'function' || process.getuid() === 0

/** LabError unless this process is root (the lab's operations create and enter network namespaces). */
export function needRoot(what: string): void {
  if (!isRoot()) throw new LabError(`${what} needs root (network namespaces): run it with sudo`, 1)
}

function firstLines(r: RunResult, n = 3): string {
  return (r.stderr || r.stdout).trim().split('\n').slice(0, n).join(' / ')
}

async function mustRun(
  deps: LabDeps,
  argv: string[],
  input?: string,
  timeoutMs = 30_000,
): Promise<RunResult> {
  const r = await deps.runner.run(argv, input === undefined ? {timeoutMs} : {input, timeoutMs})
  if (r.outcome !== 'ok')
    throw new LabError(
      `${argv.join(' ')} failed (${r.outcome}${r.exitCode !== undefined ? `, exit ${r.exitCode}` : ''}): ${firstLines(r)}`,
    )
  return r
}

/** `ip -n NS -batch -` (or `ip -batch -` without a namespace) over these lines; LabError when it fails. */
export function ipBatch(deps: LabDeps, ns: string | undefined, lines: string[]): Promise<RunResult> {
  const argv = ['ip', ...(ns ? ['-n', ns] : []), '-batch', '-']
  return mustRun(deps, argv, lines.join('\n') + '\n', 60_000)
}

/** Lab namespaces that exist now (exactly the lab's name pattern). */
export async function existingNamespaces(name: string, deps: LabDeps): Promise<string[]> {
  const r = await deps.runner.run(['ip', 'netns', 'list'], {timeoutMs: 10_000})
  if (r.outcome !== 'ok') throw new LabError(`ip netns list failed (${r.outcome}): ${firstLines(r)}`)
  const re = labNamespacePattern(name)
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => re.test(n))
    .sort()
}

export async function loadLab(ref: LabRef, fs: HostFs): Promise<LabState | undefined> {
  const path = join(labDir(ref), 'lab.json')
  const r = await fs.readText(path)
  if (!r.ok) {
    if (r.state === 'absent') return undefined
    throw new LabError(`${path}: ${r.reason}`)
  }
  let v: unknown
  try {
    v = JSON.parse(r.text)
  } catch (e) {
    throw new LabError(`${path} is not valid JSON (${(e as Error).message}); remove the lab with lab down`)
  }
  const s = v as Partial<LabState>
  if (s.schema !== LAB_SCHEMA || s.version !== 1 || !s.topology || !s.options)
    throw new LabError(`${path} is not a flannelctl lab state file; remove the lab with lab down`)
  return s as LabState
}

/** The lab's state, or LabError (exit 2) telling how to create it. */
export async function requireLab(ref: LabRef, fs: HostFs): Promise<LabState> {
  const s = await loadLab(ref, fs)
  if (!s)
    throw new LabError(
      `there is no lab "${ref.name}" (no ${join(labDir(ref), 'lab.json')}); create it with flannelctl lab up --name ${ref.name}`,
      2,
    )
  return s
}

export async function saveLab(dir: string, s: LabState, fs: HostFs): Promise<void> {
  await fs.writeAtomic(join(dir, 'lab.json'), JSON.stringify(s, null, 2) + '\n', 0o644)
}

// ---------------------------------------------------------------------------------------------------
// lab up

export interface SetupRound {
  round: number
  /** Per node: how many changes its plan had (0 = already converged). */
  plans: {node: string; ops: number; replan: number}[]
}

export interface LabUpResult {
  state: LabState
  dir: string
  rounds: SetupRound[]
  durationMs: number
}

const SYSCTL_QUIET = ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']

/** Namespaces, then the sysctls inside them, in one `ip -batch` (ip forks the sysctl for each). */
function namespaceLines(t: LabTopology): string[] {
  const all = labNamespaces(t)
  const forwarders = new Set([t.router.ns, ...t.nodes.map((n) => n.ns)])
  return [
    ...all.map((ns) => `netns add ${ns}`),
    ...all.map(
      (ns) =>
        `netns exec ${ns} sysctl -q -w ${[...SYSCTL_QUIET, ...(forwarders.has(ns) ? ['net.ipv4.ip_forward=1'] : [])].join(' ')}`,
    ),
  ]
}

/** A switch: bridge br0, one port per node on this subnet and one for the router, all with the underlay MTU. */
export function switchLines(t: LabTopology, k: number): string[] {
  const sw = t.switches.find((s) => s.index === k)
  if (!sw) return []
  const m = t.options.underlayMtu
  const lines = ['link set lo up', `link add ${sw.bridge} mtu ${m} type bridge`, `link set ${sw.bridge} up`]
  const port = (name: string, peer: string, peerNs: string) => [
    `link add ${name} mtu ${m} type veth peer name ${peer} mtu ${m} netns ${peerNs}`,
    `link set ${name} master ${sw.bridge}`,
    `link set ${name} up`,
  ]
  lines.push(...port(sw.routerPort, sw.routerLeg, t.router.ns))
  for (const n of t.nodes.filter((x) => x.subnet === k)) lines.push(...port(n.switchPort, 'eth0', n.ns))
  return lines
}

export function routerLines(t: LabTopology): string[] {
  return [
    'link set lo up',
    ...t.switches.flatMap((s) => [
      `addr add ${s.router}/${s.prefix} dev ${s.routerLeg}`,
      `link set ${s.routerLeg} up`,
    ]),
  ]
}

export function nodeUnderlayLines(n: LabNode): string[] {
  return [
    'link set lo up',
    `addr add ${n.ip}/24 dev eth0`,
    'link set eth0 up',
    `route add default via ${n.gateway} dev eth0`,
  ]
}

/** What the bridge plugin does on the node for its pods: cni0 with the gateway address, one veth per pod. */
export function cniNodeLines(n: LabNode, env: {subnet: string; mtu: number}): string[] {
  if (n.pods.length === 0) return []
  return [
    `link add cni0 mtu ${env.mtu} type bridge`,
    `addr add ${env.subnet} dev cni0`,
    'link set cni0 up',
    ...n.pods.flatMap((p) => [
      `link add ${p.hostVeth} mtu ${env.mtu} type veth peer name eth0 mtu ${env.mtu} netns ${p.ns}`,
      `link set ${p.hostVeth} master cni0`,
      `link set ${p.hostVeth} type bridge_slave hairpin on`,
      `link set ${p.hostVeth} up`,
    ]),
  ]
}

/**
 * Inside the pod: its address from the node's range, a default route via the gateway (isDefaultGateway),
 * and the route to FLANNEL_NETWORK the flannel plugin adds to the ipam routes (flannel-facts §4.2).
 */
export function cniPodLines(p: LabPod, env: {gateway: string; prefix: number; network: string}): string[] {
  return [
    'link set lo up',
    `addr add ${p.ip}/${env.prefix} dev eth0`,
    'link set eth0 up',
    `route add default via ${env.gateway} dev eth0`,
    `route add ${env.network} via ${env.gateway} dev eth0`,
  ]
}

/** flannel's three policies per peer (flannel-facts §6.1). */
export function ipsecPolicyLines(
  self: Pick<LabNode, 'podCIDR' | 'ip'>,
  peers: readonly Pick<LabNode, 'podCIDR' | 'ip'>[],
): string[] {
  const tail = `proto esp reqid ${FLANNEL_IPSEC_REQID} mode tunnel`
  return peers.flatMap((p) => [
    `xfrm policy add src ${self.podCIDR} dst ${p.podCIDR} dir out tmpl src ${self.ip} dst ${p.ip} ${tail}`,
    `xfrm policy add src ${p.podCIDR} dst ${self.podCIDR} dir in tmpl src ${p.ip} dst ${self.ip} ${tail}`,
    `xfrm policy add src ${p.podCIDR} dst ${self.podCIDR} dir fwd tmpl src ${p.ip} dst ${self.ip} ${tail}`,
  ])
}

const SA_ALGOS = [
  {
    name: 'rfc4106(gcm(aes)) 128',
    key: () => `aead rfc4106(gcm(aes)) 0x${randomBytes(20).toString('hex')} 128`,
  },
  {
    name: 'cbc(aes) + hmac(sha256)',
    key: () =>
      `enc cbc(aes) 0x${randomBytes(16).toString('hex')} auth-trunc hmac(sha256) 0x${randomBytes(32).toString('hex')} 128`,
  },
] as const

/** Static SAs standing in for the ones charon negotiates: one per direction per pair, the same in both nodes. */
function saLine(from: LabNode, to: LabNode, keys: string): string {
  const spi = (0x10000 + from.index * 256 + to.index).toString(16)
  return `xfrm state add src ${from.ip} dst ${to.ip} proto esp spi 0x${spi} reqid ${FLANNEL_IPSEC_REQID} mode tunnel ${keys}`
}

async function writeLabFiles(t: LabTopology, dir: string, deps: LabDeps, psk: string): Promise<void> {
  const {fs} = deps
  await fs.mkdirp(dir)
  await fs.writeAtomic(join(dir, 'net-conf.json'), JSON.stringify(labNetConf(t, psk), null, 2) + '\n', 0o644)
  await fs.writeAtomic(
    join(dir, 'nodes.json'),
    JSON.stringify(labNodesList(t, kernelRelease()), null, 2) + '\n',
    0o644,
  )
  for (const n of t.nodes) {
    const f = nodeFiles(dir, n.name)
    await fs.writeAtomic(
      join(f.cniDir, '10-flannel.conflist'),
      JSON.stringify(CNI_CONFLIST, null, 2) + '\n',
      0o644,
    )
  }
}

/** Where `lab up` keeps the lab's files as they were once it was ready (what `lab heal` restores). */
export const pristineDir = (dir: string): string => join(dir, 'pristine')

/** The lab's own files, relative to its folder: net-conf, the nodes file, every subnet.env and CNI file. */
export async function labFileList(t: LabTopology, dir: string, fs: HostFs): Promise<string[]> {
  const out = ['net-conf.json', 'nodes.json']
  for (const n of t.nodes) {
    out.push(join('nodes', n.name, 'subnet.env'))
    const l = await fs.list(nodeFiles(dir, n.name).cniDir)
    if (l.ok) for (const f of l.names) out.push(join('nodes', n.name, 'cni', f))
  }
  return out
}

/** Copy the lab's files into pristine/ (after setup converged and the pods were wired). */
async function savePristine(t: LabTopology, dir: string, fs: HostFs): Promise<void> {
  const to = pristineDir(dir)
  await fs.remove(to)
  for (const rel of await labFileList(t, dir, fs)) {
    const r = await fs.readText(join(dir, rel))
    if (r.ok) await fs.writeAtomic(join(to, rel), r.text, 0o644)
  }
}

/** The `flannelctl setup` a lab node runs: its files, its namespace, masquerade and forward rules on. */
export function labSetupOptions(dir: string, n: LabNode, dryRun: boolean): SetupOptions {
  const f = nodeFiles(dir, n.name)
  return {
    netConfPath: f.netConf,
    nodeName: n.name,
    nodes: fileNodeSource(f.nodesFile),
    netns: n.ns,
    subnetEnvPath: f.subnetEnv,
    stateDir: f.setupState,
    ipMasq: true,
    forwardRules: true,
    dryRun,
  }
}

/**
 * flannelctl setup in every node, round after round, until every plan is empty (at most 3 rounds: a node
 * can only program peers that have published). Also what a heal runs after a fault.
 */
export async function runSetupRounds(t: LabTopology, dir: string, deps: LabDeps): Promise<SetupRound[]> {
  const rounds: SetupRound[] = []
  for (let round = 1; round <= 3; round++) {
    deps.progress?.(
      `setup round ${round}: flannelctl setup in ${t.nodes.length} node${t.nodes.length === 1 ? '' : 's'}`,
    )
    const results = await mapLimit(t.nodes, 4, async (n): Promise<SetupResult> => {
      try {
        return await runSetup(labSetupOptions(dir, n, false), {runner: deps.runner, fs: deps.fs})
      } catch (e) {
        throw new LabError(`setup in ${n.name} (${n.ns}) failed: ${(e as Error).message}`)
      }
    })
    const plans = results.map((r, i) => ({
      node: t.nodes[i]?.name ?? '?',
      ops: r.plan.length,
      replan: r.replan.length,
    }))
    rounds.push({round, plans})
    const dirty = plans.filter((p) => p.replan > 0)
    if (dirty.length > 0)
      throw new LabError(
        `setup round ${round}: the plan after applying was not empty in ${dirty.map((p) => `${p.node} (${p.replan} ops)`).join(', ')}`,
      )
    if (plans.every((p) => p.ops === 0)) return rounds
  }
  const last = rounds[rounds.length - 1]?.plans.filter((p) => p.ops > 0) ?? []
  throw new LabError(
    `setup did not converge in 3 rounds: ${last.map((p) => `${p.node} still had ${p.ops} change(s)`).join(', ')}`,
  )
}

/** ipsec: setup does not program it, so the lab writes what flanneld's ipsec backend would. */
async function programIpsec(
  t: LabTopology,
  dir: string,
  deps: LabDeps,
  notes: string[],
): Promise<IpsecState> {
  const network = t.network
  for (const n of t.nodes) {
    const f = nodeFiles(dir, n.name)
    const sub = parseCidr(n.podCIDR)
    if (!sub) throw new LabError(`bad podCIDR ${n.podCIDR}`)
    await deps.fs.writeAtomic(f.subnetEnv, subnetEnvText(network, sub, t.flannelMtu, true), 0o644)
    const rules = flannelIptablesRules(network, n.podCIDR, {ipMasq: true, forwardRules: true})
    const text = rules.tables
      .map((tb) => [`*${tb.table}`, `:${tb.chain} - [0:0]`, ...tb.rules, tb.jump, 'COMMIT'].join('\n') + '\n')
      .join('')
    await mustRun(deps, ['ip', 'netns', 'exec', n.ns, 'iptables-restore', '--noflush', '-w', '5'], text)
    await fileNodeSource(f.nodesFile).publish(n.name, {
      [ANN.kubeSubnetManager]: 'true',
      [ANN.backendType]: 'ipsec',
      [ANN.backendData]: 'null',
      [ANN.publicIP]: n.ip,
    })
  }
  let policies = 0
  await mapLimit(t.nodes, 8, async (n) => {
    const lines = ipsecPolicyLines(
      n,
      t.nodes.filter((p) => p !== n),
    )
    policies += lines.length
    if (lines.length > 0) await ipBatch(deps, n.ns, lines)
  })
  const pairs = nodePairs(t)
  if (pairs.length === 0) return {sas: true, policies}
  // Try one SA first: a kernel without ESP (or without the cipher) refuses it, and then none can exist.
  const [a, b] = pairs[0] as [LabNode, LabNode]
  let algo: (typeof SA_ALGOS)[number] | undefined
  const refusals: string[] = []
  for (const cand of SA_ALGOS) {
    const r = await deps.runner.run(['ip', '-n', a.ns, '-batch', '-'], {
      input: saLine(a, b, cand.key()) + '\n',
      timeoutMs: 10_000,
    })
    if (r.outcome === 'ok') {
      algo = cand
      await mustRun(deps, ['ip', '-n', a.ns, 'xfrm', 'state', 'flush'])
      break
    }
    refusals.push(`${cand.name}: ${firstLines(r, 1)}`)
  }
  if (!algo) {
    const reason = `this kernel refuses ESP SAs (${refusals.join('; ')}): the xfrm policies are installed, but without SAs traffic between nodes is dropped`
    notes.push(`ipsec: ${reason}`)
    return {sas: false, reason, policies}
  }
  const perNode = new Map<string, string[]>(t.nodes.map((n) => [n.ns, []]))
  for (const [x, y] of pairs) {
    for (const [from, to] of [
      [x, y],
      [y, x],
    ] as const) {
      const line = saLine(from, to, algo.key())
      perNode.get(from.ns)?.push(line)
      perNode.get(to.ns)?.push(line)
    }
  }
  await mapLimit([...perNode], 8, ([ns, lines]) => ipBatch(deps, ns, lines))
  notes.push(`ipsec: static SAs (${algo.name}) stand in for the ones charon would negotiate`)
  return {sas: true, algorithm: algo.name, policies}
}

/** The node's pods, wired from its subnet.env as the flannel CNI plugin + bridge plugin do. */
export async function wirePods(n: LabNode, dir: string, deps: LabDeps): Promise<void> {
  if (n.pods.length === 0) return
  const f = nodeFiles(dir, n.name)
  const r = await deps.fs.readText(f.subnetEnv)
  if (!r.ok)
    throw new LabError(
      `failed to load flannel 'subnet.env' file: ${f.subnetEnv}: ${r.reason} (the CNI plugin of ${n.name} cannot wire pods)`,
    )
  const env = parseSubnetEnv(r.text).values
  const subnet = env['FLANNEL_SUBNET']
  const mtu = Number(env['FLANNEL_MTU'])
  const network = env['FLANNEL_NETWORK']
  const c = subnet ? parseCidr(subnet) : undefined
  if (!subnet || !c || !network || !Number.isInteger(mtu))
    throw new LabError(`${f.subnetEnv} is missing FLANNEL_NETWORK, FLANNEL_SUBNET or FLANNEL_MTU`)
  const gateway = subnet.split('/')[0] as string
  const cur = await cniCurrent(n, deps)
  const lines = cur ? cniRepairLines(n, {subnet, mtu}, cur) : cniNodeLines(n, {subnet, mtu})
  if (lines.length > 0) await ipBatch(deps, n.ns, lines)
  await mapLimit(n.pods, 4, (p) =>
    ipBatch(
      deps,
      p.ns,
      cur
        ? cniPodRepairLines(p, {gateway, prefix: c.prefix, network, mtu})
        : cniPodLines(p, {gateway, prefix: c.prefix, network}),
    ),
  )
}

/** What the node has of the CNI wiring now: cni0 (MTU, addresses, up) and the pods' host veths. */
export interface CniCurrent {
  cni0?: {mtu: number; up: boolean; addrs: string[]}
  veths: Record<string, {mtu: number; up: boolean; master?: string}>
}

/** The node's cni0 and pod veths as the kernel has them; undefined when neither exists (a fresh node). */
async function cniCurrent(n: LabNode, deps: LabDeps): Promise<CniCurrent | undefined> {
  const {facts} = await collectFacts(liveSource(deps.runner, deps.fs, {netns: n.ns}), ['links', 'addrs'])
  const links = facts.get('links')
  const addrs = facts.get('addrs')
  if (!links.ok || !addrs.ok)
    throw new LabError(`cannot read the links of ${n.ns}: ${links.ok ? '' : links.reason}`)
  const ls = links.value as Link[]
  const out: CniCurrent = {veths: {}}
  const br = ls.find((l) => l.name === 'cni0')
  if (br)
    out.cni0 = {
      mtu: br.mtu,
      up: br.up,
      addrs: (addrs.value as Addr[])
        .filter((a) => a.ifname === 'cni0' && a.family === 'inet')
        .map((a) => `${a.address}/${a.prefixlen}`),
    }
  for (const p of n.pods) {
    const l = ls.find((x) => x.name === p.hostVeth)
    if (!l) continue
    const v: CniCurrent['veths'][string] = {mtu: l.mtu, up: l.up}
    if (l.master !== undefined) v.master = l.master
    out.veths[p.hostVeth] = v
  }
  return out.cni0 || Object.keys(out.veths).length > 0 ? out : undefined
}

/**
 * Make an existing node's wiring what the plugins would give a new pod: cni0 with exactly the gateway
 * address (a cni0 holding another address is deleted and recreated, the documented fix for `cni0 already
 * has an IP address different from ...`), cni0 and every pod veth at FLANNEL_MTU, each veth a hairpin port
 * of cni0 and up; missing veths are created.
 */
export function cniRepairLines(n: LabNode, env: {subnet: string; mtu: number}, cur: CniCurrent): string[] {
  if (n.pods.length === 0) return []
  const lines: string[] = []
  const conflict =
    cur.cni0 !== undefined && !(cur.cni0.addrs.length === 1 && cur.cni0.addrs[0] === env.subnet)
  const fresh = cur.cni0 === undefined || conflict
  if (conflict) lines.push('link del cni0')
  if (fresh)
    lines.push(
      `link add cni0 mtu ${env.mtu} type bridge`,
      `addr add ${env.subnet} dev cni0`,
      'link set cni0 up',
    )
  else {
    if (cur.cni0?.mtu !== env.mtu) lines.push(`link set cni0 mtu ${env.mtu}`)
    if (!cur.cni0?.up) lines.push('link set cni0 up')
  }
  for (const p of n.pods) {
    const v = cur.veths[p.hostVeth]
    if (!v) {
      lines.push(
        `link add ${p.hostVeth} mtu ${env.mtu} type veth peer name eth0 mtu ${env.mtu} netns ${p.ns}`,
      )
    } else if (v.mtu !== env.mtu) lines.push(`link set ${p.hostVeth} mtu ${env.mtu}`)
    if (!v || fresh || v.master !== 'cni0')
      lines.push(`link set ${p.hostVeth} master cni0`, `link set ${p.hostVeth} type bridge_slave hairpin on`)
    if (!v || !v.up) lines.push(`link set ${p.hostVeth} up`)
  }
  // A bridge takes the smallest MTU of its ports when they join: set cni0's last.
  if (fresh) lines.push(`link set cni0 mtu ${env.mtu}`)
  return lines
}

/** Inside an existing pod: the same end state as cniPodLines, written so it can run again. */
export function cniPodRepairLines(
  p: LabPod,
  env: {gateway: string; prefix: number; network: string; mtu: number},
): string[] {
  return [
    'link set lo up',
    `link set eth0 mtu ${env.mtu}`,
    `addr replace ${p.ip}/${env.prefix} dev eth0`,
    'link set eth0 up',
    `route replace default via ${env.gateway} dev eth0`,
    `route replace ${env.network} via ${env.gateway} dev eth0`,
  ]
}

export async function labUp(opts: Partial<LabOptions> & LabRef, deps: LabDeps): Promise<LabUpResult> {
  const start = Date.now()
  const {stateRoot, ...rest} = opts
  const t = buildTopology(rest)
  const ref: LabRef = stateRoot === undefined ? {name: t.name} : {name: t.name, stateRoot}
  const dir = labDir(ref)
  needRoot('lab up')
  const present = await existingNamespaces(t.name, deps)
  if ((await deps.fs.exists(join(dir, 'lab.json'))) || present.length > 0)
    throw new LabExistsError(
      `lab "${t.name}" already exists (${present.length > 0 ? `${present.length} namespace(s) ${present.slice(0, 3).join(', ')}${present.length > 3 ? ', …' : ''}` : dir}); remove it first with flannelctl lab down --name ${t.name}`,
      2,
    )
  for (const bin of [
    ['ip', '-V'],
    ['iptables-restore', '--version'],
    ['sysctl', '--version'],
  ]) {
    const r = await deps.runner.run(bin, {timeoutMs: 5000})
    if (r.outcome === 'not-installed')
      throw new LabError(`${bin[0]} is not installed; the lab needs iproute2, iptables and procps`)
  }
  const notes: string[] = []
  const state: LabState = {
    schema: LAB_SCHEMA,
    version: 1,
    name: t.name,
    createdAt: new Date().toISOString(),
    stage: 'building',
    options: t.options,
    topology: t,
    notes,
  }
  const rounds: SetupRound[] = []
  try {
    await saveLab(dir, state, deps.fs)
    await writeLabFiles(t, dir, deps, randomBytes(48).toString('hex'))
    const all = labNamespaces(t)
    deps.progress?.(`creating ${all.length} namespaces (${t.prefix}*)`)
    await ipBatch(deps, undefined, namespaceLines(t))
    deps.progress?.(
      `wiring the underlay: ${t.switches.length} switch${t.switches.length === 1 ? '' : 'es'}, a router, ${t.nodes.length} node${t.nodes.length === 1 ? '' : 's'} (MTU ${t.options.underlayMtu})`,
    )
    await mapLimit(t.switches, 8, (s) => ipBatch(deps, s.ns, switchLines(t, s.index)))
    await ipBatch(deps, t.router.ns, routerLines(t))
    await mapLimit(t.nodes, 8, (n) => ipBatch(deps, n.ns, nodeUnderlayLines(n)))
    if (t.options.backend === 'ipsec') {
      deps.progress?.('ipsec: subnet.env, iptables rules, annotations, xfrm policies and SAs in every node')
      state.ipsec = await programIpsec(t, dir, deps, notes)
    } else {
      rounds.push(...(await runSetupRounds(t, dir, deps)))
      state.setupRounds = rounds.length
    }
    const pods = t.nodes.reduce((s, n) => s + n.pods.length, 0)
    if (pods > 0) deps.progress?.(`wiring ${pods} pod${pods === 1 ? '' : 's'} (cni0, veths with FLANNEL_MTU)`)
    await mapLimit(t.nodes, 4, (n) => wirePods(n, dir, deps))
    await savePristine(t, dir, deps.fs)
    state.stage = 'ready'
    await saveLab(dir, state, deps.fs)
    return {state, dir, rounds, durationMs: Date.now() - start}
  } catch (e) {
    state.stage = 'failed'
    state.error = (e as Error).message
    await saveLab(dir, state, deps.fs).catch(() => undefined)
    const msg = `lab up failed: ${(e as Error).message}\nWhat was built is still there for a look; flannelctl lab down --name ${t.name} removes it.`
    throw new LabError(msg, e instanceof LabError ? e.exitCode : 1)
  }
}

// ---------------------------------------------------------------------------------------------------
// lab down

export interface LabDownResult {
  name: string
  removed: string[]
  stateDir: string
  stateRemoved: boolean
}

export async function labDown(ref: LabRef, deps: LabDeps): Promise<LabDownResult> {
  const dir = labDir(ref)
  needRoot('lab down')
  const found = await existingNamespaces(ref.name, deps)
  if (found.length > 0) {
    deps.progress?.(`deleting ${found.length} namespace${found.length === 1 ? '' : 's'}`)
    // -force: carry on past a namespace that vanished meanwhile; what is left is checked below.
    await deps.runner.run(['ip', '-force', '-batch', '-'], {
      input: found.map((ns) => `netns del ${ns}`).join('\n') + '\n',
      timeoutMs: 60_000,
    })
  }
  const left = await existingNamespaces(ref.name, deps)
  if (left.length > 0)
    throw new LabError(`could not delete ${left.join(', ')}; try ip netns del NAME by hand`)
  const stateRemoved = await deps.fs.exists(dir)
  await deps.fs.remove(dir)
  return {name: ref.name, removed: found, stateDir: dir, stateRemoved}
}

// ---------------------------------------------------------------------------------------------------
// lab status

export interface LabNodeStatus {
  name: string
  ns: string
  present: boolean
  ip: string
  podCIDR: string
  subnetEnv: boolean
  pods: {name: string; ip: string; present: boolean}[]
}

export interface LabStatus {
  name: string
  stateDir: string
  exists: boolean
  stage?: LabState['stage']
  error?: string
  options?: LabOptions
  flannelMtu?: number
  notes: string[]
  ipsec?: IpsecState
  /** Faults applied and not healed yet. */
  faults: ActiveFault[]
  namespaces: {expected: number; present: string[]; missing: string[]}
  nodes: LabNodeStatus[]
  /** Whether everything the lab should have is there and ready. */
  healthy: boolean
}

export async function labStatus(ref: LabRef, deps: LabDeps): Promise<LabStatus> {
  const dir = labDir(ref)
  const state = await loadLab(ref, deps.fs)
  const present = await existingNamespaces(ref.name, deps)
  const have = new Set(present)
  const out: LabStatus = {
    name: ref.name,
    stateDir: dir,
    exists: state !== undefined || present.length > 0,
    notes: state?.notes ?? [],
    faults: state?.faults ?? [],
    namespaces: {expected: 0, present, missing: []},
    nodes: [],
    healthy: false,
  }
  if (!state) {
    if (present.length > 0)
      out.notes.push(
        `namespaces of lab "${ref.name}" exist but it has no state (${dir}); remove them with lab down`,
      )
    return out
  }
  const t = state.topology
  const expected = labNamespaces(t)
  out.stage = state.stage
  if (state.error !== undefined) out.error = state.error
  out.options = state.options
  out.flannelMtu = t.flannelMtu
  if (state.ipsec) out.ipsec = state.ipsec
  out.namespaces.expected = expected.length
  out.namespaces.missing = expected.filter((ns) => !have.has(ns))
  for (const n of t.nodes)
    out.nodes.push({
      name: n.name,
      ns: n.ns,
      present: have.has(n.ns),
      ip: n.ip,
      podCIDR: n.podCIDR,
      subnetEnv: await deps.fs.exists(nodeFiles(dir, n.name).subnetEnv),
      pods: n.pods.map((p) => ({name: p.name, ip: p.ip, present: have.has(p.ns)})),
    })
  out.healthy = state.stage === 'ready' && out.namespaces.missing.length === 0
  return out
}

// ---------------------------------------------------------------------------------------------------
// lab exec

export interface ExecPlan {
  target: ExecTarget
  /** `ip netns exec NS CMD…` */
  argv: string[]
}

/** Which namespace `lab exec WHAT -- CMD` enters, and the full argv. */
export async function resolveExec(
  ref: LabRef & {target: string; command: string[]},
  deps: LabDeps,
): Promise<ExecPlan> {
  if (ref.command.length === 0)
    throw new LabError('give the command to run after --, e.g. lab exec node-1 -- ip route', 2)
  const state = await requireLab(ref, deps.fs)
  const target = resolveTarget(state.topology, ref.target)
  if (!target) {
    const t = state.topology
    const names = ['router', ...t.switches.map((s) => `sw${s.index}`), ...t.nodes.map((n) => n.name)]
    const pod = t.nodes[0]?.pods[0]?.name
    throw new LabError(
      `lab "${ref.name}" has no "${ref.target}"; use one of ${names.join(', ')}${pod ? ` or a pod such as ${pod}` : ''}`,
      2,
    )
  }
  return {target, argv: ['ip', 'netns', 'exec', target.ns, ...ref.command]}
}

// ---------------------------------------------------------------------------------------------------
// lab doctor

export interface LabDoctorOptions extends LabRef {
  only?: string[]
  skip?: string[]
  failOn?: FailOn
  timeoutMs?: number
}

export interface LabDoctorNode {
  node: string
  ns: string
  report: DoctorReport
}

export interface LabDoctorResult {
  lab: string
  failOn: FailOn
  result: DoctorReport['result']
  exitCode: 0 | 1 | 3
  /** Check ids that are error, warning or unknown on at least one node, in catalogue order. */
  failing: string[]
  summary: Summary
  nodes: LabDoctorNode[]
}

/** One verdict over the nodes' reports: failed if any node failed, else incomplete if any was. */
export function aggregateDoctor(lab: string, failOn: FailOn, nodes: LabDoctorNode[]): LabDoctorResult {
  return {lab, failOn, ...aggregateReports(nodes.map((n) => n.report)), nodes}
}

export async function labDoctor(o: LabDoctorOptions, deps: LabDeps): Promise<LabDoctorResult> {
  // The check registry is the heavy part: only lab doctor loads it.
  const {CHECKS} = await import('../checks/registry.js')
  const state = await requireLab(o, deps.fs)
  const dir = labDir(o)
  const failOn = o.failOn ?? 'error'
  const checks = selectChecks(CHECKS, o.only ?? [], o.skip ?? [])
  const t = state.topology
  deps.progress?.(`doctor in ${t.nodes.length} node${t.nodes.length === 1 ? '' : 's'}`)
  const nodes = await mapLimit(t.nodes, 4, async (n): Promise<LabDoctorNode> => {
    const f = nodeFiles(dir, n.name)
    const source = liveSource(deps.runner, deps.fs, {
      netns: n.ns,
      netConfPath: f.netConf,
      subnetEnvPath: f.subnetEnv,
      nodesFile: f.nodesFile,
      cniDir: f.cniDir,
      nodeName: n.name,
      timeoutMs: o.timeoutMs ?? 5000,
    })
    return {node: n.name, ns: n.ns, report: await runDoctor(source, {checks, failOn, version: VERSION})}
  })
  return aggregateDoctor(t.name, failOn, nodes)
}

// ---------------------------------------------------------------------------------------------------
// lab probe

export interface ProbeOutcome {
  from: string
  to: string
  toIP: string
  ok: boolean
  rttMs?: number
  /** Why not, when not: `no reply`, the ping's own error, `timeout`, `not run (deadline)`. */
  reason?: string
}

export interface DfOutcome extends ProbeOutcome {
  fromNode: string
  toNode: string
  /** ICMP payload: FLANNEL_MTU − 28, so the IP packet is exactly FLANNEL_MTU. */
  size: number
}

export interface LabProbeResult {
  lab: string
  pods: {name: string; node: string; ip: string}[]
  /** Every ordered pod pair probed (or, above maxPairs, the first pod of every node). */
  pairs: ProbeOutcome[]
  df: DfOutcome[]
  flannelMtu: number
  limited?: string
  counts: {pairs: number; ok: number; failed: number; df: number; dfOk: number; dfFailed: number}
  exitCode: 0 | 1
  durationMs: number
}

export interface LabProbeOptions extends LabRef {
  /** Ordered pod pairs above which only the first pod of each node is probed (default 2500). */
  maxPairs?: number
  concurrency?: number
  /** Overall time limit; pairs not started by then count as failed (default 120 s). */
  deadlineMs?: number
}

function pingOutcome(r: RunResult): {ok: boolean; rttMs?: number; reason?: string} {
  if (r.outcome === 'ok') {
    const m = /= ([\d.]+)\/([\d.]+)\//.exec(r.stdout)
    return m ? {ok: true, rttMs: Number(m[2])} : {ok: true}
  }
  if (r.outcome === 'timeout') return {ok: false, reason: 'timeout'}
  const err = r.stderr.trim().split('\n')[0]
  if (err) return {ok: false, reason: err}
  return {ok: false, reason: /(\d+) received/.test(r.stdout) ? 'no reply' : `exit ${r.exitCode ?? '?'}`}
}

export async function labProbe(o: LabProbeOptions, deps: LabDeps): Promise<LabProbeResult> {
  needRoot('lab probe')
  const start = Date.now()
  const state = await requireLab(o, deps.fs)
  const t = state.topology
  const dir = labDir(o)
  const pods = t.nodes.flatMap((n) => n.pods.map((p) => ({pod: p, node: n})))
  const maxPairs = o.maxPairs ?? 2500
  let limited: string | undefined
  let sources = pods
  if (pods.length * (pods.length - 1) > maxPairs) {
    sources = pods.filter((p) => p.pod.index === 0)
    limited = `${pods.length} pods make ${pods.length * (pods.length - 1)} pairs (over ${maxPairs}): probing between the first pod of every node`
  }
  const work = sources.flatMap((a) => sources.filter((b) => b !== a).map((b) => ({a, b})))
  const deadline = start + (o.deadlineMs ?? 120_000)
  const concurrency = o.concurrency ?? 16
  deps.progress?.(`probing ${work.length} pod pair${work.length === 1 ? '' : 's'}`)
  const ping = async (
    ns: string,
    ip: string,
    extra: string[],
  ): Promise<{ok: boolean; rttMs?: number; reason?: string}> => {
    if (Date.now() > deadline) return {ok: false, reason: 'not run (deadline)'}
    const r = await deps.runner.run(
      ['ip', 'netns', 'exec', ns, 'ping', '-n', '-q', ...extra, '-c', '1', '-W', '1', ip],
      {
        timeoutMs: 3000,
      },
    )
    return pingOutcome(r)
  }
  const pairs = await mapLimit(work, concurrency, async ({a, b}): Promise<ProbeOutcome> => {
    const res = await ping(a.pod.ns, b.pod.ip, [])
    return {from: a.pod.name, to: b.pod.name, toIP: b.pod.ip, ...res}
  })
  // One don't-fragment ping per node pair at FLANNEL_MTU − 28, between their first pods.
  const df: DfOutcome[] = []
  const firsts = new Map(t.nodes.map((n) => [n.name, n.pods[0]]))
  const dfWork = nodePairs(t).filter(([x, y]) => firsts.get(x.name) && firsts.get(y.name))
  if (dfWork.length > 0)
    deps.progress?.(
      `don't-fragment probes between ${dfWork.length} node pair${dfWork.length === 1 ? '' : 's'}`,
    )
  const mtuOf = async (n: LabNode): Promise<number> => {
    const r = await deps.fs.readText(nodeFiles(dir, n.name).subnetEnv)
    const v = r.ok ? Number(parseSubnetEnv(r.text).values['FLANNEL_MTU']) : NaN
    return Number.isInteger(v) && v > 28 ? v : t.flannelMtu
  }
  df.push(
    ...(await mapLimit(dfWork, concurrency, async ([x, y]): Promise<DfOutcome> => {
      const pa = firsts.get(x.name) as LabPod
      const pb = firsts.get(y.name) as LabPod
      const size = (await mtuOf(x)) - 28
      const res = await ping(pa.ns, pb.ip, ['-M', 'do', '-s', String(size)])
      return {from: pa.name, to: pb.name, toIP: pb.ip, fromNode: x.name, toNode: y.name, size, ...res}
    })),
  )
  const ok = pairs.filter((p) => p.ok).length
  const dfOk = df.filter((p) => p.ok).length
  const result: LabProbeResult = {
    lab: t.name,
    pods: pods.map((p) => ({name: p.pod.name, node: p.node.name, ip: p.pod.ip})),
    pairs,
    df,
    flannelMtu: t.flannelMtu,
    counts: {
      pairs: pairs.length,
      ok,
      failed: pairs.length - ok,
      df: df.length,
      dfOk,
      dfFailed: df.length - dfOk,
    },
    exitCode: ok === pairs.length && dfOk === df.length ? 0 : 1,
    durationMs: Date.now() - start,
  }
  if (limited !== undefined) result.limited = limited
  return result
}
