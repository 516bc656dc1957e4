import type {
  Addr,
  CniConfigFile,
  EthtoolFeatures,
  FdbEntry,
  FlannelDaemonSet,
  FlannelRbac,
  IptablesRuleset,
  KernelInfo,
  KubeNode,
  Link,
  LogFile,
  Neigh,
  NftRuleset,
  Route,
  SubnetEnv,
  Sysctls,
  XfrmPolicy,
  XfrmState,
} from '../model.js'
import type {NetConfFact} from '../parse/netconf.js'

/**
 * Why a piece of evidence is not available. `absent` means "looked, and it is not there" (which can be
 * the fault itself, e.g. subnet.env); every other state means "could not look".
 */
export type Unavailable =
  'absent' | 'not-collected' | 'permission' | 'not-installed' | 'timeout' | 'error' | 'unparseable'

/** A fact as a check sees it: the parsed value with where it came from, or why it is not there. */
export type Avail<T> =
  | {ok: true; value: T; source: string}
  | {ok: false; state: Unavailable; reason: string; hint?: string; source?: string}

/** Who this node is, as far as the evidence tells. */
export interface HostInfo {
  /** From --node-name, the bundle manifest, or NODE_NAME. */
  nodeName?: string
  hostname?: string
  /** Where the evidence came from: `live`, `live netns NAME`, `bundle PATH`. */
  origin: string
}

/** Every fact key a check may ask for, and its parsed type. */
export interface FactTypes {
  host: HostInfo
  netConf: NetConfFact
  cniConfigs: CniConfigFile[]
  subnetEnv: SubnetEnv
  links: Link[]
  addrs: Addr[]
  routes: Route[]
  neighs: Neigh[]
  fdb: FdbEntry[]
  iptables: IptablesRuleset
  ip6tables: IptablesRuleset
  iptablesLegacy: IptablesRuleset
  nft: NftRuleset
  xfrmStates: XfrmState[]
  xfrmPolicies: XfrmPolicy[]
  sysctl: Sysctls
  ethtool: EthtoolFeatures
  kernel: KernelInfo
  modules: Set<string>
  nodes: KubeNode[]
  logs: LogFile[]
  daemonset: FlannelDaemonSet
  rbac: FlannelRbac
}

export type FactKey = keyof FactTypes

/** Synchronous read access to facts that the engine fetched before evaluation. */
export interface Facts {
  get<K extends FactKey>(key: K): Avail<FactTypes[K]>
}
