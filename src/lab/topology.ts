/**
 * The lab's shape, computed from its options: every namespace, link name and address, before anything
 * is built. Pure, so the whole layout can be tested without root and `lab down` can recognise exactly
 * the lab's namespaces.
 *
 * Layout (one router, K switches, N nodes, P pods per node):
 * - underlay subnet k (1..K) = 10.99.<k>.0/24; switch namespace `flt-<name>-sw<k>` holds bridge `br0`;
 *   the router namespace `flt-<name>-router` has leg `eth<k>` = 10.99.<k>.1 on every switch;
 * - node i (1..N) `node-<i>` in `flt-<name>-node-<i>` sits on subnet ((i−1) mod K)+1 with the next free
 *   address there (.2, .3, …), eth0 with the underlay MTU, default route via the router;
 * - podCIDR of node i = 10.244.<i>.0/24 in Network 10.244.0.0/16 (as kube-controller-manager hands out
 *   /24s); pod p (0..P−1) of node i lives in `flt-<name>-node-<i>-pod<p>` at 10.244.<i>.(2+p), behind the
 *   node's `cni0` gateway 10.244.<i>.1 (flannel-facts §4.2, §4.3);
 * - FLANNEL_MTU = underlay MTU − the backend's overhead (vxlan 50, host-gw 0, ipsec 77; flannel-facts §2.3).
 */

export const LAB_BACKENDS = ['vxlan', 'host-gw', 'ipsec'] as const
export type LabBackend = (typeof LAB_BACKENDS)[number]

/** Every lab namespace starts with this; `lab down` only ever touches names of this shape. */
export const LAB_NS_PREFIX = 'flt-'
export const LAB_NETWORK = '10.244.0.0/16'
/** flannel's reqid for its ipsec policies and SAs (flannel-facts §6.1). */

export interface LabOptions {
  name: string
  nodes: number
  subnets: number
  backend: LabBackend
  directRouting: boolean
  podsPerNode: number
  underlayMtu: number
}

export const LAB_DEFAULTS: LabOptions = {
  name: 'lab',
  nodes: 3,
  subnets: 1,
  backend: 'vxlan',
  directRouting: false,
  podsPerNode: 1,
  underlayMtu: 1500,
}

export const LIMITS = {
  nodes: {min: 1, max: 50},
  podsPerNode: {min: 0, max: 10},
  underlayMtu: {min: 1280, max: 9000},
} as const

/** Options that cannot make a lab; the message says which value and what is allowed. */
export class LabOptionsError extends Error {
  override readonly name = 'LabOptionsError'
}

const NAME = /^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$/

function intIn(what: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max)
    throw new LabOptionsError(`${what} must be a whole number from ${min} to ${max}, got ${v}`)
}

/** The options with defaults applied, or LabOptionsError. */
export function validateLabOptions(input: Partial<LabOptions>): LabOptions {
  const o: LabOptions = {...LAB_DEFAULTS}
  for (const [k, v] of Object.entries(input)) if (v !== undefined) Object.assign(o, {[k]: v})
  if (!NAME.test(o.name))
    throw new LabOptionsError(
      `lab name "${o.name}" must be 1–20 lower-case letters, digits or inner dashes (it becomes part of namespace names)`,
    )
  intIn('--nodes', o.nodes, LIMITS.nodes.min, LIMITS.nodes.max)
  intIn('--subnets', o.subnets, 1, o.nodes)
  intIn('--pods-per-node', o.podsPerNode, LIMITS.podsPerNode.min, LIMITS.podsPerNode.max)
  intIn('--underlay-mtu', o.underlayMtu, LIMITS.underlayMtu.min, LIMITS.underlayMtu.max)
  if (!(LAB_BACKENDS as readonly string[]).includes(o.backend))
    throw new LabOptionsError(`--backend must be one of ${LAB_BACKENDS.join(', ')}, got "${o.backend}"`)
  if (o.backend === 'host-gw' && o.subnets > 1)
    throw new LabOptionsError(
      `--backend host-gw needs every node on one underlay subnet (flannel's host-gw routes a peer's podCIDR via its address, which must be directly reachable); use --subnets 1, or vxlan with --direct-routing`,
    )
  if (o.directRouting && o.backend !== 'vxlan')
    throw new LabOptionsError(`--direct-routing is a vxlan option; the ${o.backend} backend has none`)
  return o
}

/** Bytes flannel subtracts from the underlay MTU for each backend (flannel-facts §2.3). */
export const BACKEND_OVERHEAD: Record<LabBackend, number> = {vxlan: 50, 'host-gw': 0, ipsec: 77}

export interface LabSwitch {
  /** 1..K */
  index: number
  ns: string
  bridge: 'br0'
  cidr: string
  prefix: 24
  /** The router's address on this subnet (every node's default gateway there). */
  router: string
  /** The router's leg on this switch (`eth<k>` in the router namespace) and its port here. */
  routerLeg: string
  routerPort: string
}

export interface LabPod {
  /** `node-1-pod0` */
  name: string
  index: number
  ns: string
  ip: string
  /** With prefix, as the bridge plugin assigns it. */
  cidr: string
  /** The host side of the pod's veth, a port of cni0 in the node namespace. */
  hostVeth: string
}

export interface LabNode {
  /** `node-<i>` */
  name: string
  index: number
  ns: string
  /** Switch index (1..K). */
  subnet: number
  ip: string
  /** The switch port (in the switch namespace) that eth0 is wired to. */
  switchPort: string
  gateway: string
  podCIDR: string
  /** The cni0 address: first host of the podCIDR, with its prefix. */
  cni0: string
  pods: LabPod[]
}

export interface LabTopology {
  name: string
  prefix: string
  options: LabOptions
  network: string
  flannelMtu: number
  router: {ns: string}
  switches: LabSwitch[]
  nodes: LabNode[]
}

export const labPrefix = (name: string): string => `${LAB_NS_PREFIX}${name}-`

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** Exactly the namespace names a lab of this name can have (so `lab` never matches lab `lab-2`'s). */
export function labNamespacePattern(name: string): RegExp {
  return new RegExp(`^${escapeRe(labPrefix(name))}(router|sw\\d+|node-\\d+(-pod\\d+)?)$`)
}

export function buildTopology(input: Partial<LabOptions>): LabTopology {
  const options = validateLabOptions(input)
  const prefix = labPrefix(options.name)
  const switches: LabSwitch[] = []
  for (let k = 1; k <= options.subnets; k++)
    switches.push({
      index: k,
      ns: `${prefix}sw${k}`,
      bridge: 'br0',
      cidr: `10.99.${k}.0/24`,
      prefix: 24,
      router: `10.99.${k}.1`,
      routerLeg: `eth${k}`,
      routerPort: 'rtr',
    })
  const used = new Map<number, number>()
  const nodes: LabNode[] = []
  for (let i = 1; i <= options.nodes; i++) {
    const subnet = ((i - 1) % options.subnets) + 1
    const host = (used.get(subnet) ?? 1) + 1
    used.set(subnet, host)
    const name = `node-${i}`
    const ns = `${prefix}${name}`
    const pods: LabPod[] = []
    for (let p = 0; p < options.podsPerNode; p++)
      pods.push({
        name: `${name}-pod${p}`,
        index: p,
        ns: `${ns}-pod${p}`,
        ip: `10.244.${i}.${2 + p}`,
        cidr: `10.244.${i}.${2 + p}/24`,
        hostVeth: `vethpod${p}`,
      })
    nodes.push({
      name,
      index: i,
      ns,
      subnet,
      ip: `10.99.${subnet}.${host}`,
      switchPort: `n${i}`,
      gateway: `10.99.${subnet}.1`,
      podCIDR: `10.244.${i}.0/24`,
      cni0: `10.244.${i}.1/24`,
      pods,
    })
  }
  return {
    name: options.name,
    prefix,
    options,
    network: LAB_NETWORK,
    flannelMtu: options.underlayMtu - BACKEND_OVERHEAD[options.backend],
    router: {ns: `${prefix}router`},
    switches,
    nodes,
  }
}

/** Every namespace of the lab, in build order: router, switches, nodes, pods. */
export function labNamespaces(t: LabTopology): string[] {
  return [
    t.router.ns,
    ...t.switches.map((s) => s.ns),
    ...t.nodes.map((n) => n.ns),
    ...t.nodes.flatMap((n) => n.pods.map((p) => p.ns)),
  ]
}

export type ExecTarget =
  | {kind: 'node'; ns: string; node: LabNode}
  | {kind: 'pod'; ns: string; node: LabNode; pod: LabPod}
  | {kind: 'router'; ns: string}
  | {kind: 'switch'; ns: string; sw: LabSwitch}

/**
 * A name a person types for `lab exec`: `node-2` (or `2`), `node-2-pod0`, `router`, `sw1`, or the full
 * namespace name. Undefined when the lab has no such member.
 */
export function resolveTarget(t: LabTopology, what: string): ExecTarget | undefined {
  const short = what.startsWith(t.prefix) ? what.slice(t.prefix.length) : what
  const key = /^\d+$/.test(short) ? `node-${short}` : short
  if (key === 'router') return {kind: 'router', ns: t.router.ns}
  for (const sw of t.switches) if (key === `sw${sw.index}`) return {kind: 'switch', ns: sw.ns, sw}
  for (const node of t.nodes) {
    if (key === node.name) return {kind: 'node', ns: node.ns, node}
    for (const pod of node.pods) if (key === pod.name) return {kind: 'pod', ns: pod.ns, node, pod}
  }
  return undefined
}

/** The net-conf.json the lab's nodes read, shaped like the manifest's (flannel-facts §7.3). */
export function labNetConf(t: LabTopology, psk?: string): Record<string, unknown> {
  const backend: Record<string, unknown> = {Type: t.options.backend}
  if (t.options.directRouting) backend['DirectRouting'] = true
  if (t.options.backend === 'ipsec') backend['PSK'] = psk ?? ''
  return {Network: t.network, EnableNFTables: false, Backend: backend}
}

/**
 * The nodes as `kubectl get nodes -o json` prints them before flannel runs: podCIDRs, InternalIP,
 * Hostname, nodeInfo, and no flannel annotations (setup publishes them).
 */
export function labNodesList(t: LabTopology, kernelVersion: string): Record<string, unknown> {
  const items = t.nodes.map((n) => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      annotations: {'node.alpha.kubernetes.io/ttl': '0'},
      labels: {
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/hostname': n.name,
        'kubernetes.io/os': 'linux',
        'flannelctl.io/lab': t.name,
      },
      name: n.name,
    },
    spec: {podCIDR: n.podCIDR, podCIDRs: [n.podCIDR]},
    status: {
      addresses: [
        {address: n.ip, type: 'InternalIP'},
        {address: n.name, type: 'Hostname'},
      ],
      nodeInfo: {
        architecture: 'amd64',
        kernelVersion,
        operatingSystem: 'linux',
        osImage: 'flannelctl lab (network namespace)',
      },
    },
  }))
  return {apiVersion: 'v1', items, kind: 'List', metadata: {resourceVersion: ''}}
}

/** The manifest's CNI config, installed as /etc/cni/net.d/10-flannel.conflist (flannel-facts §4.2). */
export const CNI_CONFLIST = {
  name: 'cbr0',
  cniVersion: '0.3.1',
  plugins: [
    {type: 'flannel', delegate: {hairpinMode: true, isDefaultGateway: true}},
    {type: 'portmap', capabilities: {portMappings: true}},
  ],
}

/** Unordered node pairs (i < j), for the don't-fragment probes. */
export function nodePairs(t: LabTopology): [LabNode, LabNode][] {
  const out: [LabNode, LabNode][] = []
  for (let a = 0; a < t.nodes.length; a++)
    for (let b = a + 1; b < t.nodes.length; b++) out.push([t.nodes[a] as LabNode, t.nodes[b] as LabNode])
  return out
}
