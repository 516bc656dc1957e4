/**
 * The kernel state flannel's backend would create on this node, computed from net-conf, this node's
 * object, its peers and the chosen interface (flannel-facts §2.3, §3, §4.1, §5). Pure: the planner
 * compares it with what the kernel has.
 */
import {ANN, backendOverhead, vxlanOptions} from '../checks/lib/flannel.js'
import {desiredPeerState, reachFromRoutes, type PeerIgnored, type PeerState} from '../checks/lib/datapath.js'
import {baseAddress, cidrContains, firstHost, formatCidr, parseCidr, type Cidr} from '../lib/ip.js'
import type {KubeNode, Route} from '../model.js'
import type {NetConf} from '../parse/netconf.js'

/** A reason setup refuses to program anything, with the doctor check that covers it. */
export interface SetupProblem {
  message: string
  check: string
}

export interface VxlanDevice {
  name: string
  vni: number
  /** 0 = not given, the kernel's default 8472. */
  port: number
  gbp: boolean
  learning: boolean
  /** The interface address flannel binds the VTEP to (`local`). */
  local: string
  /** The underlay interface. */
  dev: string
  mtu: number
  mac: string
  /** `<subnet base>/32`. */
  address: string
}

export interface IptablesRules {
  /** Rules in `iptables-save` form, per table: the chain's own rules in order, and the jumps into it. */
  tables: {table: 'nat' | 'filter'; chain: string; rules: string[]; jump: string}[]
}

export interface DesiredState {
  backend: 'vxlan' | 'host-gw'
  subnet: string
  network: string
  flannelMtu: number
  device?: VxlanDevice
  peers: PeerState[]
  ignored: PeerIgnored[]
  subnetEnv: string
  iptables?: IptablesRules
  /** The `flannel-ipv4` nftables table, in `nft -f` syntax (EnableNFTables). */
  nft?: string
  annotations: Record<string, string>
}

export interface SetupInput {
  conf: NetConf
  self: KubeNode
  /** Other flannel nodes. */
  peers: readonly KubeNode[]
  iface: {name: string; addr: string; publicIP: string; mtu: number}
  /** This node's main routing table, to decide DirectRouting / host-gw reachability. */
  routes: readonly Route[]
  /** The VtepMAC to use (existing annotation, else existing device, else a fresh random one). */
  mac: string
  ipMasq: boolean
  forwardRules: boolean
}

/** Rules exactly as `iptables-save` prints them, so the planner can compare text (flannel-facts §5.1). */
export function flannelIptablesRules(
  network: string,
  subnet: string,
  o: {ipMasq: boolean; forwardRules: boolean},
): IptablesRules {
  const tables: IptablesRules['tables'] = []
  if (o.ipMasq) {
    const c = '-m comment --comment "flanneld masq"'
    tables.push({
      table: 'nat',
      chain: 'FLANNEL-POSTRTG',
      jump: `-A POSTROUTING ${c} -j FLANNEL-POSTRTG`,
      rules: [
        `-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 ${c} -j RETURN`,
        `-A FLANNEL-POSTRTG -s ${subnet} -d ${network} ${c} -j RETURN`,
        `-A FLANNEL-POSTRTG -s ${network} -d ${subnet} ${c} -j RETURN`,
        `-A FLANNEL-POSTRTG ! -s ${network} -d ${subnet} ${c} -j RETURN`,
        `-A FLANNEL-POSTRTG -s ${network} ! -d 224.0.0.0/4 ${c} -j MASQUERADE --random-fully`,
        `-A FLANNEL-POSTRTG ! -s ${network} -d ${network} ${c} -j MASQUERADE --random-fully`,
      ],
    })
  }
  if (o.forwardRules) {
    const c = '-m comment --comment "flanneld forward"'
    tables.push({
      table: 'filter',
      chain: 'FLANNEL-FWD',
      jump: `-A FORWARD ${c} -j FLANNEL-FWD`,
      rules: [`-A FLANNEL-FWD -s ${network} ${c} -j ACCEPT`, `-A FLANNEL-FWD -d ${network} ${c} -j ACCEPT`],
    })
  }
  return {tables}
}

/** flannel's nftables tables (flannel-facts §5.2), as one `nft -f` body for `table ip flannel-ipv4`. */
export function flannelNftTable(
  network: string,
  subnet: string,
  o: {ipMasq: boolean; forwardRules: boolean},
): string {
  const lines = ['table ip flannel-ipv4 {', '\tcomment "rules for flannel-ipv4"']
  if (o.forwardRules)
    lines.push(
      '\tchain forward {',
      '\t\ttype filter hook forward priority filter; policy accept;',
      `\t\tip saddr ${network} accept`,
      `\t\tip daddr ${network} accept`,
      '\t}',
    )
  if (o.ipMasq)
    lines.push(
      '\tchain postrtg {',
      '\t\ttype nat hook postrouting priority srcnat; policy accept;',
      '\t\tmeta mark 0x00004000 return',
      `\t\tip saddr ${subnet} ip daddr ${network} return`,
      `\t\tip saddr ${network} ip daddr ${subnet} return`,
      `\t\tip saddr != ${subnet} ip daddr ${network} return`,
      `\t\tip saddr ${network} ip daddr != 224.0.0.0/4 masquerade fully-random`,
      `\t\tip saddr != ${network} ip daddr ${network} masquerade fully-random`,
      '\t}',
    )
  lines.push('}')
  return lines.join('\n') + '\n'
}

export function subnetEnvText(network: string, subnet: Cidr, mtu: number, ipMasq: boolean): string {
  return `FLANNEL_NETWORK=${network}\nFLANNEL_SUBNET=${firstHost(subnet)}/${subnet.prefix}\nFLANNEL_MTU=${mtu}\nFLANNEL_IPMASQ=${ipMasq}\n`
}

export function desiredState(
  input: SetupInput,
): {ok: true; state: DesiredState} | {ok: false; problem: SetupProblem} {
  const {conf, self} = input
  if (conf.backendType !== 'vxlan' && conf.backendType !== 'host-gw')
    return {
      ok: false,
      problem: {
        message: `setup programs the vxlan and host-gw backends; net-conf.json asks for "${conf.backendType}"`,
        check: 'netconf.schema',
      },
    }
  if (!conf.Network)
    return {ok: false, problem: {message: 'net-conf.json has no Network', check: 'netconf.schema'}}
  const network = parseCidr(conf.Network)
  if (!network || network.family !== 4)
    return {
      ok: false,
      problem: {message: `net-conf Network ${conf.Network} is not an IPv4 CIDR`, check: 'netconf.schema'},
    }
  const podCIDR = [...self.podCIDRs, ...(self.podCIDR ? [self.podCIDR] : [])]
    .map(parseCidr)
    .find((c) => c?.family === 4)
  if (!podCIDR)
    return {
      ok: false,
      problem: {
        message: `node "${self.name}" pod cidr not assigned (it has no spec.podCIDR)`,
        check: 'kube.podcidr-assigned',
      },
    }
  if (!cidrContains(network, podCIDR))
    return {
      ok: false,
      problem: {
        message: `subnet "${formatCidr(network)}" specified in the flannel net config doesn't contain "${formatCidr(podCIDR)}" PodCIDR of the "${self.name}" node`,
        check: 'kube.podcidr-in-network',
      },
    }
  const netStr = formatCidr(network)
  const subStr = formatCidr(podCIDR)
  const opts = vxlanOptions(conf)
  const mtuBase = conf.backendType === 'vxlan' && opts.mtu !== undefined ? opts.mtu : input.iface.mtu
  const flannelMtu = mtuBase - backendOverhead(conf)
  const peers = desiredPeerState({
    conf,
    family: 4,
    self,
    peers: input.peers,
    reach: reachFromRoutes(input.routes),
    extIface: input.iface.name,
  })
  if (!peers.ok) return {ok: false, problem: {message: peers.reason, check: 'netconf.schema'}}
  const backend = conf.backendType
  const annotations: Record<string, string> = {
    [ANN.kubeSubnetManager]: 'true',
    [ANN.backendType]: backend,
    [ANN.publicIP]: input.iface.publicIP,
    [ANN.backendData]: backend === 'vxlan' ? JSON.stringify({VNI: opts.vni, VtepMAC: input.mac}) : 'null',
  }
  const rulesOpts = {ipMasq: input.ipMasq, forwardRules: input.forwardRules}
  const state: DesiredState = {
    backend,
    subnet: subStr,
    network: netStr,
    flannelMtu,
    peers: peers.value.peers,
    ignored: peers.value.ignored,
    subnetEnv: subnetEnvText(netStr, podCIDR, flannelMtu, input.ipMasq),
    annotations,
  }
  if (conf.EnableNFTables) state.nft = flannelNftTable(netStr, subStr, rulesOpts)
  else state.iptables = flannelIptablesRules(netStr, subStr, rulesOpts)
  if (backend === 'vxlan') {
    state.device = {
      name: `flannel.${opts.vni}`,
      vni: opts.vni,
      port: typeof conf.backend['Port'] === 'number' && conf.backend['Port'] > 0 ? conf.backend['Port'] : 0,
      gbp: opts.gbp,
      learning: opts.learning,
      local: input.iface.addr,
      dev: input.iface.name,
      mtu: flannelMtu,
      mac: input.mac.toLowerCase(),
      address: `${baseAddress(podCIDR)}/32`,
    }
  }
  return {ok: true, state}
}
