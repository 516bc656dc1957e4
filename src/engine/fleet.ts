/**
 * `doctor --all-nodes | --nodes a,b | --sample N`: the node probes of every chosen node run inside that
 * node's kube-flannel pod over the exec API (hostNetwork + NET_ADMIN: its view is the node's), the cluster
 * evidence is read from the API once, and each node is evaluated locally by the same checks as a single
 * doctor run. Bounded concurrency, a time limit per node, and one slow or broken node never stops the
 * rest: a node that cannot be reached keeps its API-level checks and says why its node checks are unknown.
 */
import type {CheckDef} from '../checks/types.js'
import type {KubeClient} from '../k8s/client.js'
import type {KubeNode, KubePod} from '../model.js'
import {canIHint, CLUSTER_PROBES, combinedSource, kubeSource} from '../facts/kube-source.js'
import {bundleSource, liveSource, type EvidenceSource, type RawCapture} from '../facts/sources.js'
import type {Unavailable} from '../facts/types.js'
import {podFs, podRunner} from '../k8s/pod-host.js'
import {mapLimit, withTimeout} from '../lib/concurrency.js'
import {nodeFolder, type FleetManifestNode} from '../collect/collect.js'
import {parseNodes} from '../parse/kube.js'
import {parseDaemonSet} from '../parse/kube-objects.js'
import {
  aggregateReports,
  isClusterCheck,
  newDoctorMemo,
  summarize,
  verdict,
  type CheckResult,
  runDoctor,
  SelectionError,
  type DoctorReport,
  type FailOn,
  type Summary,
} from './doctor.js'
import {podsByNode, selectSample, type SampleChoice} from './sample.js'

export const CLUSTER_SCHEMA = 'flannelctl/cluster-report'
export const CLUSTER_SCHEMA_VERSION = 1

export type FleetSelection = {mode: 'all'} | {mode: 'names'; names: string[]} | {mode: 'sample'; size: number}

export interface FleetOptions extends FleetConnect {
  checks: readonly CheckDef[]
  failOn: FailOn
  version: string
  /** Nodes looked at at once (default 10). */
  concurrency?: number
  /** Time limit for one node's whole capture (default 120 s). */
  nodeTimeoutMs?: number
  /** Called as each node finishes. */
  progress?: (p: FleetProgress) => void
  now?: Date
}

export interface FleetProgress {
  done: number
  total: number
  node: string
  result: DoctorReport['result']
  access: FleetNode['access']
}

export interface FleetNode {
  node: string
  /** How its node evidence was taken: over exec in `pod`, or not at all (API-level checks only). */
  access: 'exec' | 'api-only' | 'timeout'
  pod?: string
  /** Why the node evidence is missing (api-only / timeout). */
  note?: string
  /** Why --sample chose it. */
  chosen?: string
  durationMs: number
  report: DoctorReport
}

export interface FleetReport {
  schema: typeof CLUSTER_SCHEMA
  schemaVersion: typeof CLUSTER_SCHEMA_VERSION
  tool: {name: 'flannelctl'; version: string}
  generatedAt: string
  origin: string
  namespace?: string
  failOn: FailOn
  selection: {mode: FleetSelection['mode']; clusterNodes: number; chosen: number}
  result: DoctorReport['result']
  exitCode: 0 | 1 | 3
  /** Things that hold for every node (exec forbidden, embedded flannel, nodes that could not be listed). */
  notes: string[]
  /** Check ids that are error, warning or unknown on at least one node, in catalogue order. */
  failing: string[]
  summary: Summary
  /**
   * Checks that read only cluster evidence (nodes, net-conf, DaemonSet, RBAC) and came out the same on
   * every node: reported once here, not in each node's report.
   */
  cluster?: ClusterPart
  nodes: FleetNode[]
}

export interface ClusterPart {
  result: DoctorReport['result']
  exitCode: 0 | 1 | 3
  summary: Summary
  checks: CheckResult[]
}

/**
 * Moves the cluster checks whose result is the same on every node out of the node reports into one
 * cluster part, and recomputes each node's summary and verdict over what stays. A cluster check that
 * differs between nodes (a node whose net-conf differs) stays with each node.
 */
export function splitClusterChecks(
  nodes: readonly FleetNode[],
  checks: readonly CheckDef[],
  failOn: FailOn,
): {cluster?: ClusterPart; nodes: FleetNode[]} {
  const first = nodes[0]
  if (first === undefined) return {nodes: [...nodes]}
  const shared = new Set<string>()
  for (const c of checks.filter(isClusterCheck)) {
    const mine = first.report.checks.find((x) => x.id === c.id)
    if (mine === undefined) continue
    let text: string | undefined
    const same = nodes.every((n) => {
      const other = n.report.checks.find((x) => x.id === c.id)
      if (other === mine) return true
      text ??= JSON.stringify(mine)
      return other !== undefined && JSON.stringify(other) === text
    })
    if (same) shared.add(c.id)
  }
  if (shared.size === 0) return {nodes: [...nodes]}
  const part = (
    list: CheckResult[],
  ): {summary: Summary; result: DoctorReport['result']; exitCode: 0 | 1 | 3} => {
    const summary = summarize(list)
    return {summary, ...verdict(summary, failOn)}
  }
  const clusterChecks = first.report.checks.filter((x) => shared.has(x.id))
  const out = nodes.map((n) => {
    const own = n.report.checks.filter((x) => !shared.has(x.id))
    return {...n, report: {...n.report, ...part(own), checks: own}}
  })
  return {cluster: {...part(clusterChecks), checks: clusterChecks}, nodes: out}
}

/** A node source that could not look: every node probe answers with the same reason. */
export function unreachableNode(
  node: string,
  state: Unavailable,
  reason: string,
  hint?: string,
): EvidenceSource {
  const origin = `node ${node} (no node evidence)`
  return {
    origin,
    async host() {
      return {origin, nodeName: node}
    },
    async capture(id): Promise<RawCapture> {
      if (CLUSTER_PROBES.includes(id) || id === 'manifest')
        return {ok: false, state: 'not-collected', reason: `${id} is read from the API`}
      const out: RawCapture = {ok: false, state, reason}
      if (hint !== undefined) out.hint = hint
      return out
    },
  }
}

const mainContainer = (p: KubePod): string | undefined => {
  const main = p.containers.filter((c) => !c.init).map((c) => c.name)
  return main.includes('kube-flannel') ? 'kube-flannel' : main[0]
}

function nearest(name: string, all: readonly string[]): string | undefined {
  return all.find((n) => n.startsWith(name) || name.startsWith(n) || n.includes(name))
}

/** Which nodes, in what order, and why (for --sample). */
export function chooseNodes(
  nodes: readonly KubeNode[],
  pods: readonly KubePod[],
  sel: FleetSelection,
): {node: string; chosen?: string}[] {
  const names = nodes.map((n) => n.name).sort()
  if (sel.mode === 'all') return names.map((node) => ({node}))
  if (sel.mode === 'names') {
    const known = new Set(names)
    const missing = sel.names.filter((n) => !known.has(n))
    if (missing.length > 0) {
      const near = missing.map((m) => nearest(m, names)).filter((x): x is string => x !== undefined)
      throw new SelectionError(
        `no node named ${missing.join(', ')} in the cluster${near.length ? ` (did you mean ${near.join(', ')}?)` : ''}; see kubectl get nodes`,
      )
    }
    return [...new Set(sel.names)].map((node) => ({node}))
  }
  return selectSample(nodes, pods, sel.size).map((c: SampleChoice) => ({node: c.node, chosen: c.reason}))
}

/** Who to look at and how: shared by the every-node doctor and the every-node collect. */
export interface FleetConnect {
  client: KubeClient
  selection: FleetSelection
  namespace?: string
  server?: string
  probeTimeoutMs?: number
}

export interface FleetTarget {
  node: string
  chosen?: string
  access: 'exec' | 'api-only'
  pod?: string
  note?: string
  /** The node's evidence (through its pod, or the reason there is none) with the cluster's. */
  source: EvidenceSource
  /** Only the node's side (no API evidence). */
  nodeSource: EvidenceSource
}

export interface FleetPlan {
  origin: string
  namespace?: string
  notes: string[]
  clusterNodes: number
  /** False when the nodes could not be listed: then `targets` holds one `(cluster)` entry. */
  listed: boolean
  cluster: EvidenceSource
  targets: FleetTarget[]
}

export async function planFleet(o: FleetConnect): Promise<FleetPlan> {
  const shared = new Map<string, Promise<unknown>>()
  const base: {namespace?: string; server?: string} = {}
  if (o.namespace !== undefined) base.namespace = o.namespace
  if (o.server !== undefined) base.server = o.server
  const cluster = kubeSource(o.client, base, shared)
  const origin = `kubernetes API${o.server ? ' ' + o.server : ''}`
  const notes: string[] = []
  const nodesCap = await cluster.capture('nodes')
  const nodes: KubeNode[] = nodesCap.ok ? parseNodes(nodesCap.text) : []
  const dsCap = await cluster.capture('daemonset')
  const pods = dsCap.ok ? parseDaemonSet(dsCap.text).pods : []
  const namespace = pods[0]?.namespace ?? o.namespace ?? 'kube-flannel'
  const plan: FleetPlan = {
    origin,
    notes,
    clusterNodes: nodes.length,
    listed: nodesCap.ok,
    cluster,
    targets: [],
  }
  if (dsCap.ok || o.namespace !== undefined) plan.namespace = namespace

  const target = (
    node: string,
    nodeSource: EvidenceSource,
    x: Omit<FleetTarget, 'node' | 'source' | 'nodeSource'>,
  ): FleetTarget => ({
    node,
    ...x,
    nodeSource,
    source: combinedSource(nodeSource, kubeSource(o.client, {...base, nodeName: node}, shared)),
  })

  if (!nodesCap.ok) {
    // Without the node list there is nothing to go through: the cluster-level answer, once.
    const note = `cannot list the nodes: ${nodesCap.reason}`
    notes.push(note)
    plan.targets.push(
      target('(cluster)', unreachableNode('(cluster)', 'not-collected', 'the nodes could not be listed'), {
        access: 'api-only',
        note,
      }),
    )
    return plan
  }

  const chosen = chooseNodes(nodes, pods, o.selection)
  const byNode = podsByNode(pods)
  let execDenied: string | undefined
  if (!dsCap.ok) {
    notes.push(
      dsCap.state === 'not-collected'
        ? `${dsCap.reason}; node checks need flannelctl on each node (doctor there, or collect and doctor --bundle)`
        : `the flannel pods could not be read: ${dsCap.reason}`,
    )
  } else {
    // The exec API over WebSocket is a GET: `get pods/exec` (Kubernetes 1.35 asks for `create` as well,
    // which kubectl's SPDY exec has always needed). Ask for both; without get there is no exec at all.
    const get = {verb: 'get', resource: 'pods', subresource: 'exec', namespace}
    const create = {verb: 'create', resource: 'pods', subresource: 'exec', namespace}
    try {
      const [g, c] = await Promise.all([
        o.client.selfSubjectAccessReview(get),
        o.client.selfSubjectAccessReview(create),
      ])
      if (!g.allowed || !c.allowed) {
        const missing = [!g.allowed ? get : undefined, !c.allowed ? create : undefined].filter(
          (x): x is typeof get => x !== undefined,
        )
        const verbs = missing.map((m) => m.verb).join(' and ')
        if (!g.allowed)
          execDenied = `your credentials may not ${verbs} pods/exec in ${namespace}: ${missing.map(canIHint).join('; ')}`
        else
          notes.push(
            `your credentials may not create pods/exec in ${namespace} (${canIHint(create)}): Kubernetes 1.35 and later refuse exec without it`,
          )
      }
    } catch {
      // Cannot ask: try the exec itself, which says so per node.
    }
    if (execDenied !== undefined)
      notes.push(`${execDenied}; only the API-level checks ran (node checks are unknown)`)
  }

  for (const {node, chosen: why} of chosen) {
    const extra = why !== undefined ? {chosen: why} : {}
    const apiOnly = (state: Unavailable, note: string, hint?: string): FleetTarget =>
      target(node, unreachableNode(node, state, note, hint), {access: 'api-only', note, ...extra})
    const pod = byNode.get(node)
    if (!dsCap.ok) plan.targets.push(apiOnly('not-collected', notes[0] ?? 'no flannel pods'))
    else if (execDenied !== undefined)
      plan.targets.push(
        apiOnly('permission', execDenied, 'ask for create pods/exec in the flannel namespace'),
      )
    else if (pod === undefined)
      plan.targets.push(
        apiOnly(
          'error',
          `no app=flannel pod runs on node ${node}`,
          `kubectl -n ${namespace} get pods -l app=flannel -o wide`,
        ),
      )
    else if (pod.phase !== 'Running')
      plan.targets.push(
        apiOnly(
          'error',
          `flannel pod ${pod.name} on node ${node} is ${pod.phase ?? 'not running'}: nothing to exec into`,
          `kubectl -n ${namespace} describe pod ${pod.name}`,
        ),
      )
    else {
      // No container status to name it by: let the API server pick the default container.
      const ref: {namespace: string; pod: string; container?: string} = {
        namespace: pod.namespace ?? namespace,
        pod: pod.name,
      }
      const container = mainContainer(pod)
      if (container !== undefined) ref.container = container
      const label = `${ref.namespace}/${ref.pod}`
      const runner = podRunner(o.client, ref, o.probeTimeoutMs ?? 10_000)
      const live = liveSource(runner, podFs(runner), {
        nodeName: node,
        timeoutMs: o.probeTimeoutMs ?? 10_000,
        pod: {
          label,
          node,
          permissionHint: `${canIHint({verb: 'create', resource: 'pods', subresource: 'exec', namespace: ref.namespace})}   # exec into ${label} needs this`,
        },
      })
      plan.targets.push(target(node, live, {access: 'exec', pod: label, ...extra}))
    }
  }
  return plan
}

export async function runFleet(o: FleetOptions): Promise<FleetReport> {
  const now = o.now ?? new Date()
  const memo = newDoctorMemo()
  const plan = await planFleet(o)
  const doctor = (source: EvidenceSource): Promise<DoctorReport> =>
    runDoctor(source, {checks: o.checks, failOn: o.failOn, version: o.version, now, memo})
  const total = plan.targets.length
  let done = 0
  const nodeTimeout = o.nodeTimeoutMs ?? 120_000
  const nodes = await mapLimit(plan.targets, o.concurrency ?? 10, async (t): Promise<FleetNode> => {
    const started = Date.now()
    const out = (access: FleetNode['access'], report: DoctorReport, note?: string): FleetNode => {
      const n: FleetNode = {node: t.node, access, durationMs: Date.now() - started, report}
      if (t.pod !== undefined && access === 'exec') n.pod = t.pod
      if (note !== undefined) n.note = note
      if (t.chosen !== undefined) n.chosen = t.chosen
      return n
    }
    let n: FleetNode
    if (t.access === 'api-only') n = out('api-only', await doctor(t.source), t.note)
    else {
      const r = await withTimeout(doctor(t.source), nodeTimeout)
      if (r !== 'timeout') n = out('exec', r)
      else {
        const note = `node ${t.node} did not answer within ${Math.round(nodeTimeout / 1000)} s (exec in ${t.pod ?? '?'})`
        const hint = 'retry with a larger --node-timeout, or look at the node directly'
        const fallback = combinedSource(unreachableNode(t.node, 'timeout', note, hint), plan.cluster)
        n = out('timeout', await doctor(fallback), note)
      }
    }
    if (!plan.listed) delete n.report.node
    done++
    o.progress?.({done, total, node: t.node, result: n.report.result, access: n.access})
    return n
  })
  return fleetReport(o, now, plan, nodes)
}

/** The report over the nodes: cluster checks once, the verdict over them and every node. */
function fleetReport(
  o: {checks: readonly CheckDef[]; failOn: FailOn; version: string; selection: FleetSelection},
  now: Date,
  plan: {origin: string; clusterNodes: number; listed: boolean; notes: string[]; namespace?: string},
  all: FleetNode[],
): FleetReport {
  const {cluster, nodes} = splitClusterChecks(all, o.checks, o.failOn)
  const agg = aggregateReports([...(cluster ? [cluster] : []), ...nodes.map((n) => n.report)])
  const order = new Map(o.checks.map((c, i) => [c.id, i]))
  agg.failing.sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0))
  const report: FleetReport = {
    schema: CLUSTER_SCHEMA,
    schemaVersion: CLUSTER_SCHEMA_VERSION,
    tool: {name: 'flannelctl', version: o.version},
    generatedAt: now.toISOString(),
    origin: plan.origin,
    failOn: o.failOn,
    selection: {
      mode: o.selection.mode,
      clusterNodes: plan.clusterNodes,
      chosen: plan.listed ? nodes.length : 0,
    },
    ...agg,
    notes: plan.notes,
    nodes,
  }
  if (cluster !== undefined) report.cluster = cluster
  if (plan.namespace !== undefined) report.namespace = plan.namespace
  return report
}

/**
 * `doctor --bundle` over a multi-node bundle: each node's folder with the cluster's files beside it, read
 * by the same bundle source and checks as a single-node bundle, and reported as the live run was.
 */
export async function bundleFleet(
  label: string,
  files: ReadonlyMap<string, string>,
  o: {checks: readonly CheckDef[]; failOn: FailOn; version: string; now?: Date},
): Promise<FleetReport> {
  const now = o.now ?? new Date()
  const memo = newDoctorMemo()
  let manifest: {nodes?: FleetManifestNode[]; notes?: string[]; clusterNodes?: number; namespace?: string} =
    {}
  try {
    manifest = JSON.parse(files.get('manifest.json') ?? '{}') as typeof manifest
  } catch {
    // A hand-made bundle without a readable manifest: the folders are still the nodes.
  }
  const shared = new Map<string, string>()
  const perNode = new Map<string, Map<string, string>>()
  for (const [k, v] of files) {
    const m = /^nodes\/([^/]+)\/(.+)$/.exec(k)
    if (!m) {
      if (k !== 'manifest.json') shared.set(k, v)
      continue
    }
    let f = perNode.get(m[1] as string)
    if (f === undefined) perNode.set(m[1] as string, (f = new Map()))
    f.set(m[2] as string, v)
  }
  const listed: FleetManifestNode[] =
    manifest.nodes ?? [...perNode.keys()].sort().map((name) => ({name, access: 'exec'}))
  const nodes: FleetNode[] = []
  for (const mn of listed) {
    const own = perNode.get(nodeFolder(mn.name).slice('nodes/'.length, -1))
    if (own === undefined) continue
    const merged = new Map([...shared, ...own])
    const started = Date.now()
    const report = await runDoctor(bundleSource(`${label} (${mn.name})`, merged), {
      checks: o.checks,
      failOn: o.failOn,
      version: o.version,
      now,
      memo,
    })
    const n: FleetNode = {node: mn.name, access: mn.access, durationMs: Date.now() - started, report}
    if (mn.pod !== undefined) n.pod = mn.pod
    if (mn.note !== undefined) n.note = mn.note
    if (mn.chosen !== undefined) n.chosen = mn.chosen
    nodes.push(n)
  }
  return fleetReport(
    {...o, selection: {mode: 'all'}},
    now,
    {
      origin: `bundle ${label}`,
      clusterNodes: manifest.clusterNodes ?? nodes.length,
      listed: true,
      notes: manifest.notes ?? [],
      ...(manifest.namespace !== undefined ? {namespace: manifest.namespace} : {}),
    },
    nodes,
  )
}
