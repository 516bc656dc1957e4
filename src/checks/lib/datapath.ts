/**
 * The data path flannel programs on a node, as pure functions shared by the node checks and by a
 * `setup` planner: which vxlan device belongs to which family, what `ip route get` would pick, the
 * neighbour / FDB / route entries each peer needs, and how the observed tables differ from them.
 *
 * Why these shapes (flannel-facts §2.4, §3.3, §3.4; flannel-io/flannel vxlan_network.go, route_network.go):
 * - vxlan: per remote node exactly one PERMANENT neighbour (subnet base → VtepMAC), one FDB entry
 *   (VtepMAC → public IP, `self permanent`) and one route `<subnet> via <base> dev flannel.N onlink`,
 *   programmed in that order because the route would otherwise make the kernel ARP for the base.
 * - DirectRouting: when `ip route get <public IP>` gives one route without a gateway, flannel replaces
 *   all of that with `<subnet> via <public IP>` (no dev, the kernel picks the connected one).
 * - host-gw: `<subnet> via <public IP> dev <external interface>`; the peer must be on this L2 segment.
 * - Leases of another backend type are ignored (`ignoring non-vxlan v4Subnet(...)`), and so are nodes
 *   whose backend-data or public IP cannot be read (`Error turning node %q to lease`).
 */
import type {FdbEntry, KubeNode, Link, Neigh, Route} from '../../model.js'
import type {NetConf} from '../../parse/netconf.js'
import {ANN, nodePublicIP, nodeSubnet, parseBackendData, vxlanDeviceName, vxlanOptions} from './flannel.js'
import {
  baseAddress,
  cidrContains,
  cidrContainsIP,
  formatCidr,
  maskOf,
  normalizeCidr,
  normalizeIP,
  parseCidr,
  parseIP,
  type Cidr,
  type Family,
} from '../../lib/ip.js'

// ---------------------------------------------------------------------------------------------------
// Per-family node data

export function enabledFamilies(conf: NetConf): Family[] {
  const out: Family[] = []
  if (conf.EnableIPv4) out.push(4)
  if (conf.EnableIPv6) out.push(6)
  return out
}

/** The network flannel owns for a family (`Network` / `IPv6Network`). */
export function flannelNetwork(conf: NetConf, family: Family): Cidr | undefined {
  const s = family === 4 ? conf.Network : conf.IPv6Network
  const c = s === undefined ? undefined : parseCidr(s)
  return c && c.family === family ? c : undefined
}

/** The annotation that holds a node's VtepMAC for a family. */
export function backendDataKey(family: Family): string {
  return family === 4 ? ANN.backendData : ANN.backendV6Data
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/

/** A node's VtepMAC from `backend-data` (IPv4) or `backend-v6-data` (IPv6), lower-case. */
export function nodeVtepMAC(
  node: KubeNode,
  family: Family,
): {ok: true; mac: string} | {ok: false; error: string} {
  const key = backendDataKey(family)
  const r = parseBackendData(node.annotations[key])
  if (!r.ok) return {ok: false, error: `${key} ${r.error}`}
  if (r.data === null) return {ok: false, error: `${key} is null`}
  const mac = r.data.VtepMAC
  if (mac === undefined) return {ok: false, error: `${key} has no VtepMAC`}
  if (!MAC_RE.test(mac))
    return {ok: false, error: `${key} VtepMAC ${JSON.stringify(mac)} is not a MAC address`}
  return {ok: true, mac}
}

/** A link as evidence: its header line and, when captured, its details line. */
export function linkLines(l: Link): string[] {
  return [l.raw.trimEnd(), ...(l.detailRaw !== undefined ? [l.detailRaw.trim()] : [])]
}

export const sameIP = (a: string | undefined, b: string | undefined): boolean =>
  a !== undefined && b !== undefined && normalizeIP(a) !== undefined && normalizeIP(a) === normalizeIP(b)

export const sameMac = (a: string | undefined, b: string | undefined): boolean =>
  a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase()

/** A unicast, non-zero MAC (a VTEP's). Multicast and the all-zero flood entry are not flannel's. */
export function isUnicastMac(mac: string): boolean {
  const m = mac.toLowerCase()
  if (!MAC_RE.test(m) || m === '00:00:00:00:00:00') return false
  return (parseInt(m.slice(0, 2), 16) & 1) === 0
}

// ---------------------------------------------------------------------------------------------------
// Routes: the main table and `ip route get`

/** Routes of the main table (the ones `ip route` shows and flannel programs). */
export function isMainTable(r: Route): boolean {
  return r.table === undefined || r.table === 'main' || r.table === '254'
}

/** The destination as a CIDR (`default` → /0 of the family of its gateway or source). */
export function routeDst(r: Route): Cidr | undefined {
  if (r.dst === 'default') {
    const fam = parseIP(r.gateway ?? r.src ?? '')?.family
    if (fam === undefined) return undefined
    return parseCidr(fam === 4 ? '0.0.0.0/0' : '::/0')
  }
  return parseCidr(r.dst)
}

export function routeFamily(r: Route): Family | undefined {
  return routeDst(r)?.family
}

const metricOf = (r: Route): number => r.metric ?? 0

/**
 * The main-table route the kernel would pick for an address: longest prefix, then lowest metric, with
 * every route parsed once (a node with a thousand peers asks it a thousand times). `default` routes
 * without a gateway or source count for either family. Policy rules and other tables are not evidence
 * we have, so this is the main-table answer only.
 */
export function routeTable(routes: readonly Route[]): (ip: string) => Route | undefined {
  // Per family and prefix length, base address → the best route (lowest metric): a lookup masks the
  // target once per prefix length in use, longest first.
  const byLen = new Map<string, Map<bigint, Route>>()
  for (const r of routes) {
    if (!isMainTable(r)) continue
    const family = r.dst === 'default' ? routeFamily(r) : routeDst(r)?.family
    const dst = r.dst === 'default' ? parseCidr(family === 6 ? '::/0' : '0.0.0.0/0') : routeDst(r)
    if (!dst) continue
    const key = `${dst.family}/${dst.prefix}`
    const m = byLen.get(key) ?? new Map<bigint, Route>()
    const had = m.get(dst.base)
    if (!had || metricOf(r) < metricOf(had)) m.set(dst.base, r)
    byLen.set(key, m)
  }
  const lens = [...byLen.keys()]
    .map((k) => ({k, family: Number(k.split('/')[0]) as 4 | 6, prefix: Number(k.split('/')[1])}))
    .sort((a, b) => b.prefix - a.prefix)
  return (ip) => {
    const target = parseIP(ip)
    if (!target) return undefined
    for (const l of lens) {
      if (l.family !== target.family) continue
      const hit = byLen.get(l.k)?.get(target.addr & maskOf(l.family, l.prefix))
      if (hit) return hit
    }
    return undefined
  }
}

/** How this host reaches an address, as flannel's `ip.DirectRouting` sees it. */
export interface Reach {
  /** One route, no gateway: the peer is on a connected network. */
  direct: boolean
  route?: Route
  /** The interface the route uses. */
  dev?: string
  /** The gateway, when the route has one. */
  gateway?: string
  /** A few words for a message: `connected on eth0`, `via 10.99.0.1 dev eth0`, `no route`. */
  why: string
}

export type ReachFn = (ip: string) => Reach

/** `Reach` answered from a captured main routing table. */
export function reachFromRoutes(routes: readonly Route[]): ReachFn {
  const lookup = routeTable(routes)
  return (ip) => {
    const r = lookup(ip)
    if (!r) return {direct: false, why: 'no route'}
    const base: Reach = {direct: false, route: r, why: ''}
    if (r.dev !== undefined) base.dev = r.dev
    if (r.type !== 'unicast') return {...base, why: `a ${r.type} route (${r.raw.trim()})`}
    if (r.gateway !== undefined) {
      base.gateway = r.gateway
      return {...base, why: `via gateway ${r.gateway}${r.dev ? ` dev ${r.dev}` : ''}`}
    }
    // A multipath route shows neither gateway nor dev; the kernel answers with one of its nexthops.
    if (r.dev === undefined) return {...base, why: `a multipath route (${r.raw.trim()})`}
    return {...base, direct: true, why: `directly connected on ${r.dev}`}
  }
}

// ---------------------------------------------------------------------------------------------------
// Desired per-peer state

export type PeerMode = 'vxlan' | 'direct' | 'host-gw'

export interface DesiredNeigh {
  ip: string
  mac: string
  dev: string
}

export interface DesiredFdb {
  mac: string
  dst: string
  dev: string
}

export interface DesiredRoute {
  dst: string
  gateway: string
  /** Absent for DirectRouting (flannel gives no device; the kernel picks the connected one). */
  dev?: string
  onlink: boolean
}

export interface PeerState {
  node: string
  family: Family
  /** The peer's podCIDR, canonical. */
  subnet: string
  /** Its base address (the neighbour IP and vxlan gateway). */
  base: string
  publicIP: string
  mode: PeerMode
  /** VtepMAC (vxlan backend, also in direct mode). */
  mac?: string
  /** Entries in programming order: neighbour, FDB, route. */
  neigh?: DesiredNeigh
  fdb?: DesiredFdb
  route: DesiredRoute
  reach: Reach
  /** host-gw only: why the kernel will refuse the route (the peer is not on a connected network). */
  unreachable?: string
}

/** A flannel node flannel programs nothing for, and why. */
export interface PeerIgnored {
  node: string
  family: Family
  subnet?: string
  reason: string
  /** The check that covers the cause. */
  seeAlso: string
}

export interface DesiredPeers {
  backend: 'vxlan' | 'host-gw'
  family: Family
  /** The vxlan device (`flannel.1`), for the vxlan backend. */
  device?: string
  peers: PeerState[]
  ignored: PeerIgnored[]
}

export interface DesiredPeerInput {
  conf: NetConf
  family: Family
  /** This node (excluded from the peers if present there). */
  self: KubeNode | undefined
  /** The other flannel nodes (`peerNodes`). */
  peers: readonly KubeNode[]
  /** Answers "is this public IP directly connected" (`reachFromRoutes`, or a live `ip route get`). */
  reach: ReachFn
  /** host-gw: the external interface flannel uses; defaults to the interface of the route to each peer. */
  extIface?: string
}

/** Why a backend is not programmed per peer with neighbour/FDB/route entries; undefined for vxlan and host-gw. */
export function unsupportedPeerBackend(backendType: string): string | undefined {
  if (backendType === 'vxlan' || backendType === 'host-gw') return undefined
  const why: Record<string, string> = {
    wireguard:
      'the wireguard backend keeps its peers in the WireGuard device (wg show), not in neighbour/FDB/route entries',
    ipsec: 'the ipsec backend routes through xfrm policies (see node.xfrm)',
    udp: 'the udp backend routes the whole Network to flannel0 and forwards in user space',
    ipip: 'the ipip backend is not modelled here',
  }
  return why[backendType] ?? `the ${backendType || '(empty)'} backend programs no per-peer kernel entries`
}

/**
 * The neighbour / FDB / route entries flannel keeps for every peer, for the vxlan (with or without
 * DirectRouting) and host-gw backends. Other backends are not routed per peer this way: `ok: false`.
 */
export function desiredPeerState(
  input: DesiredPeerInput,
): {ok: true; value: DesiredPeers} | {ok: false; reason: string} {
  const {conf, family} = input
  const backend = conf.backendType
  const unsupported = unsupportedPeerBackend(backend)
  if (unsupported !== undefined || (backend !== 'vxlan' && backend !== 'host-gw'))
    return {ok: false, reason: unsupported ?? ''}
  const device = backend === 'vxlan' ? vxlanDeviceName(conf, family) : undefined
  const direct = backend === 'vxlan' && vxlanOptions(conf).directRouting
  const out: DesiredPeers = {backend, family, peers: [], ignored: []}
  if (device !== undefined) out.device = device
  for (const n of input.peers) {
    if (input.self && n.name === input.self.name) continue
    const subnet = nodeSubnet(n, family)
    const ignore = (reason: string, seeAlso: string): void => {
      const i: PeerIgnored = {node: n.name, family, reason, seeAlso}
      if (subnet) i.subnet = formatCidr(subnet)
      out.ignored.push(i)
    }
    const type = n.annotations[ANN.backendType]
    if (type !== backend) {
      ignore(
        `its backend-type is ${type === undefined ? 'missing' : JSON.stringify(type)}, so flannel ignores it (\`ignoring non-${backend} ...: type=${type ?? ''}\`)`,
        'kube.flannel-annotations',
      )
      continue
    }
    if (!subnet) {
      ignore(`it has no IPv${family} podCIDR`, 'kube.podcidr-assigned')
      continue
    }
    const publicIP = nodePublicIP(n, family)
    if (publicIP === undefined || parseIP(publicIP)?.family !== family) {
      ignore(
        `its ${family === 4 ? 'public-ip' : 'public-ipv6'} annotation is missing or not an IPv${family} address`,
        'kube.flannel-annotations',
      )
      continue
    }
    let mac: string | undefined
    if (backend === 'vxlan') {
      const m = nodeVtepMAC(n, family)
      if (!m.ok) {
        ignore(`its ${m.error} (flannel: \`error decoding subnet lease JSON\`)`, 'kube.flannel-annotations')
        continue
      }
      mac = m.mac
    }
    const base = baseAddress(subnet)
    const reach = input.reach(publicIP)
    const p: PeerState = {
      node: n.name,
      family,
      subnet: formatCidr(subnet),
      base,
      publicIP,
      mode: backend === 'host-gw' ? 'host-gw' : direct && reach.direct ? 'direct' : 'vxlan',
      route: {dst: formatCidr(subnet), gateway: publicIP, onlink: false},
      reach,
    }
    if (mac !== undefined) p.mac = mac
    if (p.mode === 'vxlan' && device !== undefined && mac !== undefined) {
      p.neigh = {ip: base, mac, dev: device}
      p.fdb = {mac, dst: publicIP, dev: device}
      p.route = {dst: p.subnet, gateway: base, dev: device, onlink: true}
    } else if (p.mode === 'host-gw') {
      const dev = input.extIface ?? reach.dev
      if (dev !== undefined) p.route.dev = dev
      if (!reach.direct)
        p.unreachable = `host-gw needs every node on one L2 segment, but ${publicIP} is reached ${reach.why}`
    }
    out.peers.push(p)
  }
  return {ok: true, value: out}
}

// ---------------------------------------------------------------------------------------------------
// Commands (the fixes, and what a planner would run)

export const neighReplaceCmd = (n: DesiredNeigh): string =>
  `ip neigh replace ${n.ip} lladdr ${n.mac} dev ${n.dev} nud permanent`
export const fdbReplaceCmd = (f: DesiredFdb): string =>
  `bridge fdb replace ${f.mac} dev ${f.dev} dst ${f.dst} self permanent`
export function routeReplaceCmd(r: DesiredRoute): string {
  return `ip route replace ${r.dst} via ${r.gateway}${r.dev !== undefined ? ` dev ${r.dev}` : ''}${r.onlink ? ' onlink' : ''}`
}
export const neighDelCmd = (n: Neigh): string => `ip neigh del ${n.dst} dev ${n.dev}`
export function fdbDelCmd(e: FdbEntry): string {
  return `bridge fdb del ${e.mac} dev ${e.dev}${e.dst !== undefined ? ` dst ${e.dst}` : ''}${e.self ? ' self' : ''}`
}
export function routeDelCmd(r: Route): string {
  const type = r.type !== 'unicast' ? `${r.type} ` : ''
  return (
    `ip route del ${type}${r.dst}` +
    (r.gateway !== undefined ? ` via ${r.gateway}` : '') +
    (r.dev !== undefined ? ` dev ${r.dev}` : '') +
    (r.metric !== undefined ? ` metric ${r.metric}` : '')
  )
}

// ---------------------------------------------------------------------------------------------------
// Observed vs desired

export interface Observed {
  /** Needed for vxlan peers (absent for host-gw). */
  neighs?: readonly Neigh[]
  fdb?: readonly FdbEntry[]
  routes: readonly Route[]
}

export type EntryKind = 'neighbour' | 'fdb' | 'route'

export interface EntryProblem {
  kind: EntryKind
  state: 'missing' | 'wrong'
  severity: 'error' | 'warning' | 'info'
  /** One clause with the observed fact (`no neighbour 10.244.2.0 on flannel.1`). */
  what: string
  /** The observed entries involved (their evidence lines). */
  have: string[]
  /** Commands that make it right, in order. */
  fix: string[]
}

export interface PeerDiff {
  peer: PeerState
  problems: EntryProblem[]
  /** Evidence lines of the entries that are right. */
  matched: {kind: EntryKind; raw: string}[]
}

/** Entries on the vxlan device (or in Network) that belong to no current peer. */
export interface Leftover {
  /** The subnet (`10.244.7.0/24`), address or MAC the entries are about. */
  label: string
  routes: Route[]
  neighs: Neigh[]
  fdb: FdbEntry[]
  /** Removal in the safe order: route, FDB, neighbour. */
  fix: string[]
}

export interface DataPathDiff {
  peers: PeerDiff[]
  leftovers: Leftover[]
}

const PRIORITY: Record<EntryKind, number> = {neighbour: 0, fdb: 1, route: 2}

function routesTo(routes: readonly Route[], subnet: string, family: Family): Route[] {
  return routes
    .filter((r) => isMainTable(r) && routeFamily(r) === family && normalizeCidr(r.dst) === subnet)
    .sort((a, b) => metricOf(a) - metricOf(b))
}

function describeRoute(r: Route): string {
  if (r.type !== 'unicast') return `a ${r.type} route`
  const parts = [r.gateway !== undefined ? `via ${r.gateway}` : 'without a gateway']
  if (r.dev !== undefined) parts.push(`dev ${r.dev}`)
  if (r.onlink) parts.push('onlink')
  return parts.join(' ')
}

function routeMatches(p: PeerState, r: Route, device: string | undefined): boolean {
  if (r.type !== 'unicast' || !sameIP(r.gateway, p.route.gateway)) return false
  if (p.mode === 'vxlan') return r.dev === p.route.dev && r.onlink
  if (p.mode === 'direct')
    return r.dev !== device && (p.reach.dev === undefined || r.dev === undefined || r.dev === p.reach.dev)
  return p.route.dev === undefined || r.dev === undefined || r.dev === p.route.dev
}

function diffOnePeer(
  p: PeerState,
  obs: Observed,
  device: string | undefined,
  knownMacs: Set<string>,
): PeerDiff {
  const d: PeerDiff = {peer: p, problems: [], matched: []}
  const add = (x: EntryProblem): void => void d.problems.push(x)

  if (p.neigh) {
    const want = p.neigh
    const have = (obs.neighs ?? []).filter((n) => n.dev === want.dev && sameIP(n.dst, want.ip))
    const fix = [neighReplaceCmd(want)]
    if (have.length === 0) {
      add({
        kind: 'neighbour',
        state: 'missing',
        severity: 'error',
        what: `no neighbour entry ${want.ip} → ${want.mac} on ${want.dev}`,
        have: [],
        fix,
      })
    }
    for (const n of have) {
      if (!sameMac(n.lladdr, want.mac)) {
        add({
          kind: 'neighbour',
          state: 'wrong',
          severity: 'error',
          what: `the neighbour ${want.ip} on ${want.dev} has MAC ${n.lladdr ?? '(none)'} (${n.state.join(',') || 'no state'}), not the peer's VtepMAC ${want.mac}`,
          have: [n.raw],
          fix,
        })
      } else if (!n.state.includes('PERMANENT')) {
        add({
          kind: 'neighbour',
          state: 'wrong',
          severity: 'error',
          what: `the neighbour ${want.ip} on ${want.dev} is ${n.state.join(',') || 'without state'}, not PERMANENT, so the kernel may drop or re-resolve it`,
          have: [n.raw],
          fix,
        })
      } else d.matched.push({kind: 'neighbour', raw: n.raw})
    }
  }

  if (p.fdb) {
    const want = p.fdb
    const onDev = (obs.fdb ?? []).filter((e) => e.dev === want.dev)
    const byMac = onDev.filter((e) => sameMac(e.mac, want.mac))
    const good = byMac.filter((e) => sameIP(e.dst, want.dst))
    const staleDst = byMac.filter((e) => !sameIP(e.dst, want.dst))
    const staleMac = onDev.filter(
      (e) => sameIP(e.dst, want.dst) && isUnicastMac(e.mac) && !knownMacs.has(e.mac.toLowerCase()),
    )
    const dels = staleDst.map(fdbDelCmd)
    if (staleDst.length > 0) {
      add({
        kind: 'fdb',
        state: 'wrong',
        severity: 'error',
        what: `the FDB entry for ${want.mac} on ${want.dev} points to ${staleDst.map((e) => e.dst ?? '(no dst)').join(', ')}, not the peer's public IP ${want.dst}`,
        have: staleDst.map((e) => e.raw),
        fix: [...dels, fdbReplaceCmd(want)],
      })
    } else if (good.length === 0) {
      add({
        kind: 'fdb',
        state: 'missing',
        severity: 'error',
        what: `no FDB entry ${want.mac} → ${want.dst} on ${want.dev}`,
        have: [],
        fix: [fdbReplaceCmd(want)],
      })
    }
    for (const e of good) {
      if (!e.self || !e.permanent) {
        add({
          kind: 'fdb',
          state: 'wrong',
          severity: 'error',
          what: `the FDB entry ${want.mac} → ${want.dst} on ${want.dev} is not \`self permanent\` (a learned entry ages out)`,
          have: [e.raw],
          fix: [fdbReplaceCmd(want)],
        })
      } else d.matched.push({kind: 'fdb', raw: e.raw})
    }
    if (staleMac.length > 0) {
      add({
        kind: 'fdb',
        state: 'wrong',
        severity: 'warning',
        what: `the FDB of ${want.dev} still sends ${staleMac.map((e) => e.mac).join(', ')} to ${want.dst}, a VtepMAC this peer no longer has`,
        have: staleMac.map((e) => e.raw),
        fix: staleMac.map(fdbDelCmd),
      })
    }
  }

  const rs = routesTo(obs.routes, p.subnet, p.family)
  const eff = rs[0]
  const fix = (r?: Route): string[] => [
    ...(r && (r.type !== 'unicast' || metricOf(r) !== 0) ? [routeDelCmd(r)] : []),
    routeReplaceCmd(p.route),
  ]
  const wantText = routeReplaceCmd(p.route).replace(/^ip route replace /, '')
  if (!eff) {
    add({
      kind: 'route',
      state: 'missing',
      severity: 'error',
      what: `no route ${wantText}`,
      have: [],
      fix: fix(),
    })
  } else if (routeMatches(p, eff, device)) {
    d.matched.push({kind: 'route', raw: eff.raw})
  } else if (
    p.mode === 'direct' &&
    eff.type === 'unicast' &&
    eff.dev === device &&
    eff.onlink &&
    sameIP(eff.gateway, p.base)
  ) {
    // Works (encapsulated) — flannel decided "direct" when it saw the peer, so the table is older than that.
    add({
      kind: 'route',
      state: 'wrong',
      severity: 'info',
      what: `${p.subnet} is still routed through ${device} (${describeRoute(eff)}); that works (encapsulated), but flannel would now install ${wantText}, so the entries predate the peer becoming directly reachable`,
      have: [eff.raw],
      fix: fix(eff),
    })
  } else {
    add({
      kind: 'route',
      state: 'wrong',
      severity: 'error',
      what: `the route to ${p.subnet} is ${describeRoute(eff)}, not ${wantText}`,
      have: [eff.raw],
      fix: fix(eff),
    })
  }
  d.problems.sort((a, b) => PRIORITY[a.kind] - PRIORITY[b.kind])
  return d
}

const isLinkLocalOrMulticast = (ip: string): boolean => {
  const c = parseCidr(ip)
  if (!c) return false
  if (c.family === 4) return cidrContainsIP(parseCidr('224.0.0.0/4') as Cidr, c.addr, 4)
  return (
    cidrContainsIP(parseCidr('fe80::/10') as Cidr, c.addr, 6) ||
    cidrContainsIP(parseCidr('ff00::/8') as Cidr, c.addr, 6)
  )
}

/**
 * Compare the observed tables with the desired per-peer state: per peer what is missing or wrong, and
 * the entries left for nodes that are gone. `network` and `ownSubnet` let it recognise routes inside
 * the flannel Network that belong to no node (host-gw, DirectRouting).
 */
export function diffDataPath(
  desired: DesiredPeers,
  obs: Observed,
  opts: {network?: Cidr; ownSubnet?: Cidr} = {},
): DataPathDiff {
  const device = desired.device
  const fam = desired.family
  const knownMacs = new Set(desired.peers.flatMap((p) => (p.mac ? [p.mac] : [])))
  const peers = desired.peers.map((p) => diffOnePeer(p, obs, device, knownMacs))

  const peerIPs = desired.peers.map((p) => p.base)
  const peerPublic = desired.peers.map((p) => p.publicIP)
  const peerSubnets = new Set(desired.peers.map((p) => p.subnet))
  // Nodes flannel ignores still own their subnet: their entries are not "leftovers" of a gone node.
  for (const i of desired.ignored) if (i.subnet) peerSubnets.add(i.subnet)
  const ignoredBases = desired.ignored.flatMap((i) => (i.subnet ? [i.subnet.split('/')[0] as string] : []))

  const left = new Map<string, Leftover>()
  const group = (key: string, label: string): Leftover => {
    let g = left.get(key)
    if (!g) {
      g = {label, routes: [], neighs: [], fdb: [], fix: []}
      left.set(key, g)
    }
    return g
  }

  const directish =
    desired.backend === 'host-gw' || (device !== undefined && desired.peers.some((p) => p.mode === 'direct'))
  for (const r of obs.routes) {
    if (!isMainTable(r) || routeFamily(r) !== fam || r.protocol === 'kernel') continue
    const dst = routeDst(r)
    if (
      !dst ||
      peerSubnets.has(formatCidr(dst)) ||
      isLinkLocalOrMulticast(formatCidr(dst).split('/')[0] as string)
    )
      continue
    if (device !== undefined && r.dev === device) {
      const key = r.gateway !== undefined ? (normalizeIP(r.gateway) ?? r.gateway) : formatCidr(dst)
      const g = group(key, formatCidr(dst))
      g.label = formatCidr(dst)
      g.routes.push(r)
    } else if (
      directish &&
      r.type === 'unicast' &&
      r.gateway !== undefined &&
      opts.network !== undefined &&
      cidrContains(opts.network, dst) &&
      !(opts.ownSubnet && cidrContains(opts.ownSubnet, dst))
    ) {
      const g = group(formatCidr(dst), formatCidr(dst))
      g.routes.push(r)
    }
  }
  if (device !== undefined) {
    for (const n of obs.neighs ?? []) {
      if (n.dev !== device || parseIP(n.dst)?.family !== fam || isLinkLocalOrMulticast(n.dst)) continue
      if (peerIPs.some((ip) => sameIP(ip, n.dst)) || ignoredBases.some((ip) => sameIP(ip, n.dst))) continue
      const key = normalizeIP(n.dst) ?? n.dst
      group(key, left.get(key)?.label ?? key).neighs.push(n)
    }
    for (const e of obs.fdb ?? []) {
      if (e.dev !== device || !isUnicastMac(e.mac) || knownMacs.has(e.mac.toLowerCase())) continue
      if (e.dst !== undefined && parseIP(e.dst)?.family !== fam) continue
      // Stale MACs towards a current peer are reported with that peer.
      if (peerPublic.some((ip) => sameIP(ip, e.dst))) continue
      const viaNeigh = [...left.entries()].find(([, g]) => g.neighs.some((n) => sameMac(n.lladdr, e.mac)))
      if (viaNeigh) viaNeigh[1].fdb.push(e)
      else group(e.mac.toLowerCase(), e.mac.toLowerCase()).fdb.push(e)
    }
  }
  const leftovers = [...left.values()]
  for (const g of leftovers)
    g.fix = [...g.routes.map(routeDelCmd), ...g.fdb.map(fdbDelCmd), ...g.neighs.map(neighDelCmd)]
  return {peers, leftovers}
}

/**
 * The default route flannel would take its interface from (first main-table default of the family,
 * lowest metric; flannel-facts §8).
 */
export function defaultRoute(routes: readonly Route[], family: Family): Route | undefined {
  return routes
    .filter((r) => isMainTable(r) && r.dst === 'default' && r.type === 'unicast')
    .filter((r) => {
      const f = parseIP(r.gateway ?? r.src ?? '')?.family
      return f === undefined || f === family
    })
    .sort((a, b) => metricOf(a) - metricOf(b))[0]
}
