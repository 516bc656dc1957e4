/**
 * Builders for the facts the check tests hand to `staticFacts`: net-conf, subnet.env, Kubernetes nodes,
 * and the iproute2 entries (links, addresses, routes, neighbours, FDB entries). Typed, no I/O. Defaults
 * are node A of the real captures (scripts/capture-fixtures.sh): vxlan VNI 1 over 10.99.0.0/24, pod
 * Network 10.244.0.0/16. Each `raw` is rendered the way the tool prints the entry, unless given.
 */
import type {Avail} from '../../src/facts/types.js'
import type {Addr, FdbEntry, KubeNode, Link, Neigh, Route, SubnetEnv, VxlanInfo} from '../../src/model.js'
import {parseNetConf, type NetConf, type NetConfFact} from '../../src/parse/netconf.js'
import {ANN} from '../../src/checks/lib/flannel.js'

// ---- facts ------------------------------------------------------------------------------------

export const avail = <T>(value: T, source: string): Avail<T> => ({ok: true, value, source})

/** A fact that was not collected, with the reason and the hint. */
export const missing = (reason: string, hint: string): Avail<never> => ({
  ok: false,
  state: 'not-collected',
  reason,
  hint,
})

// ---- net-conf.json ----------------------------------------------------------------------------

export const NET_CONF_PATH = 'files/etc/kube-flannel/net-conf.json'

/** A decoded net-conf.json: IPv4 Network 10.244.0.0/16 with the vxlan backend, `o` on top. */
export function decodedNetConf(o: Partial<NetConf> = {}): NetConf {
  return {
    EnableIPv4: true,
    EnableIPv6: false,
    EnableNFTables: false,
    Network: '10.244.0.0/16',
    backendPresent: true,
    backendType: 'vxlan',
    backend: {},
    keys: [],
    unknownKeys: [],
    typeErrors: [],
    duplicates: [],
    ...o,
  }
}

/**
 * net-conf.json as the fact: `decodedNetConf(conf)`, read from `source` (default the bundle path), with
 * `text` as the file's text (default '', or rendered from the decoded conf).
 */
export function netConfFact(
  conf: Partial<NetConf> = {},
  o: {source?: string; text?: string | ((c: NetConf) => string)} = {},
): NetConfFact {
  const c = decodedNetConf(conf)
  return {
    source: o.source ?? NET_CONF_PATH,
    text: typeof o.text === 'function' ? o.text(c) : (o.text ?? ''),
    lineOffset: 0,
    columnOffset: 0,
    result: {ok: true, conf: c},
  }
}

/** net-conf.json as the fact, decoded from `text` by the real parser (which may find it broken). */
export function parsedNetConfFact(text: string, source = NET_CONF_PATH): NetConfFact {
  return {source, text, lineOffset: 0, columnOffset: 0, result: parseNetConf(text)}
}

/** The net-conf.json text of the kube-flannel manifest, with the Network and backend type of `c`. */
export const manifestNetConfText = (c: NetConf): string =>
  `{\n  "Network": "${c.Network ?? ''}",\n  "EnableNFTables": false,\n  "Backend": {\n    "Type": "${c.backendType}"\n  }\n}\n`

// ---- subnet.env -------------------------------------------------------------------------------

/** subnet.env from `KEY=value` lines (split at the first `=`; a repeated key's last value wins). */
export function subnetEnvLines(lines: readonly string[]): SubnetEnv {
  const entries = lines.map((raw, i) => {
    const eq = raw.indexOf('=')
    return {key: raw.slice(0, eq), value: raw.slice(eq + 1), line: i + 1, raw}
  })
  return {entries, values: Object.fromEntries(entries.map((e) => [e.key, e.value])), malformed: []}
}

/** subnet.env with these keys, in this order. */
export const subnetEnv = (kv: Record<string, string>): SubnetEnv =>
  subnetEnvLines(Object.entries(kv).map(([k, v]) => `${k}=${v}`))

// ---- Kubernetes nodes -------------------------------------------------------------------------

export interface NodeOpts {
  podCIDR?: string | undefined
  /** Defaults to `[podCIDR]` (or none). */
  podCIDRs?: string[]
  internal?: string
  external?: string
  /** Also list the `Hostname` address (as kubelet does). */
  hostname?: boolean
  annotations?: Record<string, string>
  partial?: boolean
}

export function kubeNode(name: string, o: NodeOpts = {}): KubeNode {
  const n: KubeNode = {
    name,
    podCIDRs: o.podCIDRs ?? (o.podCIDR ? [o.podCIDR] : []),
    addresses: [],
    annotations: o.annotations ?? {},
    labels: {},
  }
  if (o.podCIDR !== undefined) n.podCIDR = o.podCIDR
  if (o.internal) n.addresses.push({type: 'InternalIP', address: o.internal})
  if (o.external) n.addresses.push({type: 'ExternalIP', address: o.external})
  if (o.hostname) n.addresses.push({type: 'Hostname', address: name})
  if (o.partial) n.partial = true
  return n
}

/**
 * The annotations flannel's kube subnet manager writes on its node. `vtepMac` gives backend-data
 * `{"VNI":1,"VtepMAC":...}`, `null` gives `null` (host-gw, ipsec), undefined leaves backend-data out.
 */
export function flannelAnnotations(
  publicIP: string,
  o: {type?: string; vtepMac?: string | null; extra?: Record<string, string>} = {},
): Record<string, string> {
  const a: Record<string, string> = {
    [ANN.kubeSubnetManager]: 'true',
    [ANN.backendType]: o.type ?? 'vxlan',
  }
  if (o.vtepMac !== undefined)
    a[ANN.backendData] = o.vtepMac === null ? 'null' : JSON.stringify({VNI: 1, VtepMAC: o.vtepMac})
  a[ANN.publicIP] = publicIP
  return {...a, ...o.extra}
}

/** A flannel node whose InternalIP is its public IP. */
export const flannelNode = (
  name: string,
  podCIDR: string,
  publicIP: string,
  o: {type?: string; vtepMac?: string | null; extra?: Record<string, string>} = {},
): KubeNode => kubeNode(name, {podCIDR, internal: publicIP, annotations: flannelAnnotations(publicIP, o)})

// ---- iproute2 entries -------------------------------------------------------------------------

export interface LinkOpts {
  /** Default 1500. */
  mtu?: number
  kind?: string
  mac?: string
  /** Default true. */
  up?: boolean
  master?: string
  parent?: string
  operstate?: string
  vxlan?: VxlanInfo
}

/** A link as `ip -d link` shows it: header line, and the `vxlan ...` details line for a VXLAN device. */
export function link(index: number, name: string, o: LinkOpts = {}): Link {
  const up = o.up ?? true
  const mtu = o.mtu ?? 1500
  const flags = up ? ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'] : ['BROADCAST', 'MULTICAST']
  const l: Link = {
    index,
    name,
    mtu,
    flags,
    up,
    raw: `${index}: ${name}${o.parent ? `@${o.parent}` : ''}: <${flags.join(',')}> mtu ${mtu} qdisc ${up ? 'noqueue' : 'noop'}${o.master ? ` master ${o.master}` : ''} state ${up ? 'UNKNOWN' : 'DOWN'} mode DEFAULT group default qlen 1000`,
  }
  if (o.kind) l.kind = o.kind
  if (o.mac) l.mac = o.mac
  if (o.master) l.master = o.master
  if (o.parent) l.parent = o.parent
  if (o.operstate) l.operstate = o.operstate
  if (o.vxlan) {
    const v = o.vxlan
    l.vxlan = v
    l.detailRaw = `vxlan id ${v.id}${v.local ? ` local ${v.local}` : ''}${v.dev ? ` dev ${v.dev}` : ''} srcport 0 0 dstport ${v.dstport} ${v.learning ? '' : 'nolearning '}ttl auto ageing 300 udpcsum noudp6zerocsumtx noudp6zerocsumrx`
  }
  return l
}

/** An address as `ip addr` shows it (`inet 10.99.0.11/24 scope global eth0`, or `raw` as given). */
export function addr(ifname: string, cidr: string, o: {scope?: string; raw?: string} = {}): Addr {
  const [address = '', len = '32'] = cidr.split('/')
  const family = address.includes(':') ? 'inet6' : 'inet'
  const scope = o.scope ?? 'global'
  return {
    ifname,
    family,
    address,
    prefixlen: Number(len),
    scope,
    flags: [],
    raw: o.raw ?? `${family} ${cidr} scope ${scope} ${ifname}`,
  }
}

/** A main-table route as `ip route` shows it (or with `raw` as given). */
export function route(dst: string, o: Partial<Route> = {}): Route {
  const r: Route = {dst, onlink: o.onlink ?? false, type: o.type ?? 'unicast', raw: ''}
  if (o.gateway) r.gateway = o.gateway
  if (o.dev) r.dev = o.dev
  if (o.protocol) r.protocol = o.protocol
  if (o.scope) r.scope = o.scope
  if (o.src) r.src = o.src
  if (o.metric !== undefined) r.metric = o.metric
  r.raw =
    o.raw ??
    (r.type !== 'unicast' ? `${r.type} ` : '') +
      dst +
      (o.gateway ? ` via ${o.gateway}` : '') +
      (o.dev ? ` dev ${o.dev}` : '') +
      (o.protocol ? ` proto ${o.protocol}` : '') +
      (o.scope ? ` scope ${o.scope}` : '') +
      (o.src ? ` src ${o.src}` : '') +
      (o.metric !== undefined ? ` metric ${o.metric}` : '') +
      (r.onlink ? ' onlink' : '')
  return r
}

/** A neighbour as `ip neigh` shows it. */
export const neigh = (dst: string, dev: string, lladdr: string, state = 'PERMANENT'): Neigh => ({
  dst,
  dev,
  lladdr,
  state: [state],
  raw: `${dst} dev ${dev} lladdr ${lladdr} ${state}`,
})

/** An FDB entry as `bridge fdb show` shows it (`self permanent` unless told otherwise). */
export function fdb(
  mac: string,
  dev: string,
  dst?: string,
  o: {self?: boolean; permanent?: boolean} = {},
): FdbEntry {
  const e: FdbEntry = {mac, dev, self: o.self ?? true, permanent: o.permanent ?? true, flags: [], raw: ''}
  if (dst) e.dst = dst
  e.raw = `${mac} dev ${dev}${dst ? ` dst ${dst}` : ''}${e.self ? ' self' : ''}${e.permanent ? ' permanent' : ''}`
  return e
}
