/**
 * flannel's own conventions that several checks (and setup) share: annotation keys, backend-data,
 * encapsulation overhead, vxlan option defaults, and which node object is "this node".
 * Facts: flannel-facts §2.2, §2.3, §3.5, §7.1.
 */
import type {NetConf} from '../../parse/netconf.js'
import type {Addr, KubeNode} from '../../model.js'
import {normalizeIP, parseCidr, type Cidr, type Family} from '../../lib/ip.js'
import type {Facts, HostInfo} from '../../facts/types.js'

export const ANNOTATION_PREFIX = 'flannel.alpha.coreos.com/'
export const ANN = {
  kubeSubnetManager: `${ANNOTATION_PREFIX}kube-subnet-manager`,
  backendType: `${ANNOTATION_PREFIX}backend-type`,
  backendData: `${ANNOTATION_PREFIX}backend-data`,
  backendV6Data: `${ANNOTATION_PREFIX}backend-v6-data`,
  publicIP: `${ANNOTATION_PREFIX}public-ip`,
  publicIPv6: `${ANNOTATION_PREFIX}public-ipv6`,
  publicIPOverwrite: `${ANNOTATION_PREFIX}public-ip-overwrite`,
  publicIPv6Overwrite: `${ANNOTATION_PREFIX}public-ipv6-overwrite`,
  nodePublicIP: `${ANNOTATION_PREFIX}node-public-ip`,
} as const

/** Where the kube-flannel manifest runs flannel: namespace, DaemonSet (pods labelled `app=flannel`), ConfigMap. */
export const FLANNEL_NS = 'kube-flannel'
export const FLANNEL_DS = 'kube-flannel-ds'
export const FLANNEL_CM = 'kube-flannel-cfg'

/** The reqid of flannel's ipsec (strongSwan) policies and SAs. */
export const FLANNEL_IPSEC_REQID = 11

/** Linux default VXLAN destination port: flannel sends no port when `Port` is 0. */
export const LINUX_VXLAN_PORT = 8472

/** The effective vxlan options, with flannel's defaults applied. */
export interface VxlanOptions {
  vni: number
  /** The port on the wire (8472 when `Port` is 0 or unset). */
  port: number
  gbp: boolean
  learning: boolean
  directRouting: boolean
  /** The `MTU` option (before the 50-byte subtraction), when given. */
  mtu?: number
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined)
const bool = (v: unknown): boolean => v === true

export function vxlanOptions(conf: NetConf): VxlanOptions {
  const b = conf.backend
  const port = num(b['Port']) ?? 0
  const out: VxlanOptions = {
    vni: num(b['VNI']) ?? 1,
    port: port > 0 ? port : LINUX_VXLAN_PORT,
    gbp: bool(b['GBP']),
    learning: bool(b['Learning']),
    directRouting: bool(b['DirectRouting']),
  }
  const mtu = num(b['MTU'])
  if (mtu !== undefined) out.mtu = mtu
  return out
}

/** `flannel.<VNI>` for IPv4, `flannel-v6.<VNI>` for IPv6 (flannel-facts §3.1). */
export function vxlanDeviceName(conf: NetConf, family: Family): string {
  const vni = vxlanOptions(conf).vni
  return family === 4 ? `flannel.${vni}` : `flannel-v6.${vni}`
}

/** The (IPv4) tunnel device flannel creates for the backend, if any. */
export function tunnelDevice(conf: NetConf): string | undefined {
  switch (conf.backendType) {
    case 'vxlan':
      return vxlanDeviceName(conf, 4)
    case 'wireguard':
      return 'flannel-wg'
    case 'udp':
      return 'flannel0'
    case 'ipip':
      return 'flannel.ipip'
    default:
      return undefined
  }
}

/** Bytes flannel subtracts from the underlay MTU for FLANNEL_MTU (flannel-facts §2.3). */
export function backendOverhead(conf: NetConf): number {
  switch (conf.backendType) {
    case 'vxlan':
      return 50
    case 'wireguard':
      return 80
    case 'udp':
      return 28
    case 'ipip':
      return 20
    case 'ipsec':
      return conf.backend['UDPEncap'] === true ? 85 : 77
    default:
      return 0
  }
}

/** UDP/IP ports a peer must be able to reach on this node for the backend (flannel-facts §10). */
export function overlayPorts(conf: NetConf): {proto: 'udp' | 'esp'; port?: number; why: string}[] {
  switch (conf.backendType) {
    case 'vxlan':
      return [{proto: 'udp', port: vxlanOptions(conf).port, why: 'VXLAN'}]
    case 'udp':
      return [{proto: 'udp', port: num(conf.backend['Port']) ?? 8285, why: 'udp backend'}]
    case 'wireguard': {
      const out: {proto: 'udp'; port: number; why: string}[] = [
        {proto: 'udp', port: num(conf.backend['ListenPort']) ?? 51820, why: 'WireGuard'},
      ]
      if (conf.EnableIPv6)
        out.push({proto: 'udp', port: num(conf.backend['ListenPortV6']) ?? 51821, why: 'WireGuard IPv6'})
      return out
    }
    case 'ipsec':
      return [
        {proto: 'udp', port: 500, why: 'IKE'},
        {proto: 'udp', port: 4500, why: 'IPsec NAT-T'},
        {proto: 'esp', why: 'ESP'},
      ]
    default:
      return []
  }
}

export interface BackendData {
  VNI?: number
  VtepMAC?: string
  PublicKey?: string
  Port?: number
}

/** Parse a `backend-data` annotation; `null` is valid (host-gw, ipsec). Returns an error sentence otherwise. */
export function parseBackendData(
  s: string | undefined,
): {ok: true; data: BackendData | null} | {ok: false; error: string} {
  if (s === undefined) return {ok: false, error: 'annotation missing'}
  let v: unknown
  try {
    v = JSON.parse(s)
  } catch (e) {
    return {ok: false, error: `not JSON (${(e as Error).message})`}
  }
  if (v === null) return {ok: true, data: null}
  if (typeof v !== 'object' || Array.isArray(v)) return {ok: false, error: 'not a JSON object'}
  const o = v as Record<string, unknown>
  const data: BackendData = {}
  if (typeof o['VNI'] === 'number') data.VNI = o['VNI']
  if (typeof o['VtepMAC'] === 'string') data.VtepMAC = o['VtepMAC'].toLowerCase()
  if (typeof o['PublicKey'] === 'string') data.PublicKey = o['PublicKey']
  if (typeof o['Port'] === 'number') data.Port = o['Port']
  return {ok: true, data}
}

/**
 * The node's podCIDR of a family: IPv4 is the first IPv4 entry of `spec.podCIDRs`, else `spec.podCIDR`;
 * IPv6 is the first IPv6 entry of `spec.podCIDRs`.
 */
export function nodeSubnet(node: KubeNode, family: Family = 4): Cidr | undefined {
  const all = family === 4 ? [...node.podCIDRs, ...(node.podCIDR ? [node.podCIDR] : [])] : node.podCIDRs
  for (const s of all) {
    const c = parseCidr(s)
    if (c && c.family === family) return c
  }
  return undefined
}

/**
 * The tunnel endpoint peers use for a node: `public-ip` / `public-ipv6` (flannel copies
 * `public-ip-overwrite` / `public-ipv6-overwrite` into it).
 */
export function nodePublicIP(node: KubeNode, family: Family = 4): string | undefined {
  const v =
    family === 4
      ? (node.annotations[ANN.publicIPOverwrite] ?? node.annotations[ANN.publicIP])
      : (node.annotations[ANN.publicIPv6Overwrite] ?? node.annotations[ANN.publicIPv6])
  return v === undefined ? undefined : normalizeIP(v.trim())
}

export function isFlannelNode(node: KubeNode): boolean {
  return node.annotations[ANN.kubeSubnetManager] === 'true'
}

/** Which node object is this host: by name first, then by an address the host holds. */
export function identifySelf(
  host: HostInfo | undefined,
  nodes: readonly KubeNode[],
  addrs: readonly Addr[] | undefined,
): {node: KubeNode; how: string} | undefined {
  for (const [name, how] of [
    [host?.nodeName, 'node name'],
    [host?.hostname, 'hostname'],
  ] as const) {
    if (!name) continue
    const n = nodes.find((x) => x.name === name)
    if (n) return {node: n, how: `${how} ${name}`}
  }
  if (addrs) {
    const mine = new Set(addrs.map((a) => normalizeIP(a.address)).filter((x): x is string => !!x))
    for (const n of nodes) {
      const pub = nodePublicIP(n)
      if (pub && mine.has(pub)) return {node: n, how: `public-ip ${pub} is an address of this host`}
    }
    for (const n of nodes) {
      const ip = n.addresses.find((a) => a.type === 'InternalIP' && mine.has(normalizeIP(a.address) ?? ''))
      if (ip) return {node: n, how: `InternalIP ${ip.address} is an address of this host`}
    }
  }
  return undefined
}

/** Which node object is this host, from the `host` and `addrs` facts when they are available. */
export function selfOf(facts: Facts, nodes: readonly KubeNode[]): {node: KubeNode; how: string} | undefined {
  const host = facts.get('host')
  const addrs = facts.get('addrs')
  return identifySelf(host.ok ? host.value : undefined, nodes, addrs.ok ? addrs.value : undefined)
}

/** Other flannel nodes this node must program (nodes without `kube-subnet-manager=true` are ignored by flannel). */
export function peerNodes(nodes: readonly KubeNode[], self: KubeNode | undefined): KubeNode[] {
  return nodes.filter((n) => n.name !== self?.name && isFlannelNode(n))
}
