/**
 * The parsed facts every check reads. Parsers in `src/parse/` produce these shapes from any accepted
 * evidence form (text or JSON of iproute2, iptables-save / -S / -L, nft text or JSON, ...), so a check
 * never knows which form it came from. Every entry keeps `raw`: the line (or a rendering of the JSON
 * object in the tool's text form) that a failure quotes as evidence.
 */

/** A network interface, from `ip -d link show` (text or `-j`) or `ip link`. */
export interface Link {
  index?: number
  name: string
  /** The `@peer`/`@parent` part of the name (`veth1@if3` → `if3`; `eth0@eth1` → `eth1`), when shown. */
  parent?: string
  /** `vxlan`, `bridge`, `veth`, `dummy`, `ipip`, `wireguard`, ... (from `-d` details or `link_info`). */
  kind?: string
  mtu: number
  mac?: string
  /** Operational state as printed: `UP`, `DOWN`, `UNKNOWN`, `LOWERLAYERDOWN`. */
  operstate?: string
  /** Flags between `<` and `>`: `BROADCAST`, `MULTICAST`, `UP`, `LOWER_UP`, ... */
  flags: string[]
  /** Administratively up (the `UP` flag). */
  up: boolean
  /** Bridge (or bond) the link is enslaved to. */
  master?: string
  vxlan?: VxlanInfo
  /** The header line (`3: flannel.1: <...> mtu 1450 ... state UNKNOWN ...`), or its rendering from JSON. */
  raw: string
  /** The kind-specific details line (`vxlan id 1 local 10.99.0.11 dev eth0 ... dstport 8472 nolearning ...`), when shown. */
  detailRaw?: string
}

export interface VxlanInfo {
  id: number
  local?: string
  /** Underlay device name (`dev eth0`), when shown. */
  dev?: string
  /** Destination port; iproute2 always prints it in `-d` output (8472 is the Linux default). */
  dstport?: number
  learning: boolean
  gbp: boolean
  group?: string
  /** Unicast default remote (`remote 10.0.0.2`); flannel never sets one. */
  remote?: string
}

/** One address of an interface, from `ip addr` (text or `-j`) or `ifconfig`. */
export interface Addr {
  ifname: string
  family: 'inet' | 'inet6'
  address: string
  prefixlen: number
  scope?: string
  /** `noprefixroute`, `dynamic`, `deprecated`, `secondary`, ... */
  flags: string[]
  raw: string
}

/** One route, from `ip route` (text or `-j`) or `route -n`. */
export interface Route {
  /** `default` or a CIDR (a host route is written with /32 or /128). */
  dst: string
  gateway?: string
  dev?: string
  onlink: boolean
  /** `unicast` unless shown (`blackhole`, `unreachable`, `prohibit`, `local`, `broadcast`, ...). */
  type: string
  table?: string
  protocol?: string
  scope?: string
  src?: string
  metric?: number
  /** Multipath routes (`nexthop via ... dev ...` lines / JSON `nexthops`); `gateway`/`dev` above are the first's. */
  nexthops?: RouteNexthop[]
  raw: string
}

export interface RouteNexthop {
  gateway?: string
  dev?: string
  weight?: number
  onlink: boolean
}

/** One neighbour (ARP/NDP) entry, from `ip neigh` (text or `-j`). */
export interface Neigh {
  dst: string
  dev: string
  lladdr?: string
  /** `PERMANENT`, `REACHABLE`, `STALE`, `FAILED`, `INCOMPLETE`, `NOARP`, ... */
  state: string[]
  /** `router`, `proxy`, `extern_learn`, ... when shown. */
  flags?: string[]
  raw: string
}

/** One forwarding-database entry, from `bridge fdb show` (text or `-j`). */
export interface FdbEntry {
  mac: string
  dev: string
  /** Remote VTEP for vxlan devices. */
  dst?: string
  vlan?: number
  master?: string
  self: boolean
  permanent: boolean
  /** Remaining flags as printed (`static`, `extern_learn`, ...). */
  flags: string[]
  raw: string
}

/** iptables rules of all tables present in the evidence. */
export interface IptablesRuleset {
  /** Which form the evidence came in. */
  form: 'save' | 'S' | 'L'
  /** `nf_tables` / `legacy` when the capture says so (iptables-save header comment). */
  backend?: 'nf_tables' | 'legacy'
  tables: IptTable[]
  /** iptables-nft printed `# Warning: iptables-legacy tables present, use iptables-legacy(-save) to see them`. */
  legacyTablesPresent?: boolean
  /** `iptables -L` without `-v`: the in/out interface columns (and so interface matches) are not shown. */
  ifacesHidden?: boolean
}

export interface IptTable {
  /** `filter`, `nat`, `mangle`, `raw`, `security`. `-S` and `-L` captures without a table name are `filter`. */
  name: string
  chains: IptChain[]
}

export interface IptChain {
  name: string
  /** Built-in chains have a policy (`ACCEPT`, `DROP`); user chains do not. */
  policy?: string
  rules: IptRule[]
  raw?: string
}

/** A match negatable with `!`. */
export interface Neg<T> {
  value: T
  negated: boolean
}

export interface IptRule {
  /** In `-A CHAIN ...` form when the source was save/-S; the `-L` line otherwise. */
  raw: string
  source?: Neg<string>
  destination?: Neg<string>
  /** `tcp`, `udp`, `icmp`, `esp`, `all`, or a number as given. */
  protocol?: Neg<string>
  inInterface?: Neg<string>
  outInterface?: Neg<string>
  /** Destination port or range (`8472`, `8000:9000`, or a multiport list `500,4500`). */
  dport?: Neg<string>
  sport?: Neg<string>
  /** Conntrack/state matches, e.g. `RELATED,ESTABLISHED`. */
  ctstate?: Neg<string>
  /** Other match modules, e.g. `mark`, `comment`, `addrtype`, `set`, `physdev`, with their raw argument text. */
  matches: {module: string; args: string}[]
  comment?: string
  /** `-j` target (`ACCEPT`, `DROP`, `REJECT`, `RETURN`, `MASQUERADE`, a user chain) or `-g` goto. */
  target?: string
  targetArgs?: string
  goto?: boolean
  /** Packet/byte counters when shown (-L -v, save -c). */
  packets?: number
  bytes?: number
}

/** nftables ruleset, from `nft list ruleset` or `nft -j list ruleset`. */
export interface NftRuleset {
  form: 'text' | 'json'
  tables: NftTable[]
}

export interface NftTable {
  /** `ip`, `ip6`, `inet`, `arp`, `bridge`, `netdev`. */
  family: string
  name: string
  /** True for tables that iptables-nft owns (`# Warning: table ip filter is managed by iptables-nft`; in
   * JSON, which has no such marker, `xt` expressions; or iptables' layout: an iptables table name whose base
   * chains are all upper-case built-ins): their rules are the iptables rules, evaluated from the iptables evidence. */
  managedByIptables?: boolean
  chains: NftChain[]
  comment?: string
  /** Named sets with the elements the capture lists (used to resolve `@name` in rules). */
  sets?: NftSet[]
}

export interface NftSet {
  name: string
  /** `ipv4_addr`, `inet_service`, ... */
  type?: string
  elements: string[]
}

export interface NftChain {
  name: string
  /** Base chains only. */
  type?: string
  hook?: string
  /** Numeric priority (named priorities resolved: filter 0, srcnat 100, dstnat -100, raw -300, mangle -150, security 50). */
  priority?: number
  policy?: string
  rules: NftRule[]
  /** Base chains: the `type ... hook ... priority ...; policy ...;` line (rendered for JSON captures). */
  raw?: string
}

export interface NftRule {
  /** The rule's text as `nft list ruleset` prints it (rendered from JSON for JSON captures). */
  raw: string
  /** Matches understood well enough to evaluate; anything else is kept in `other` so an evaluator can say "maybe". */
  saddr?: Neg<string[]>
  daddr?: Neg<string[]>
  /** `ip protocol` / `meta l4proto` / implied by `udp dport`. */
  l4proto?: Neg<string[]>
  dport?: Neg<string[]>
  sport?: Neg<string[]>
  iifname?: Neg<string[]>
  oifname?: Neg<string[]>
  ctstate?: Neg<string[]>
  /** Unparsed match expressions, in text form. */
  other: string[]
  /** `accept`, `drop`, `reject`, `return`, `jump`, `goto`, `masquerade`, `snat`, `dnat`, `counter-only` (no verdict). */
  verdict?: string
  /** For `jump`/`goto`. */
  target?: string
  comment?: string
  /** `# handle N` (nft -a) or the JSON handle. */
  handle?: number
}

/** One IPsec SA, from `ip xfrm state`. */
export interface XfrmState {
  src: string
  dst: string
  proto: string
  spi: string
  reqid?: number
  mode?: string
  /** Selector when shown (`sel src ... dst ...`). */
  sel?: {src: string; dst: string}
  /** Algorithm lines (`aead rfc4106(gcm(aes)) 0x... 128`), kept verbatim so collect can redact keys. */
  algorithms: string[]
  /** 1-based line of the `src ... dst ...` header in the capture. */
  line?: number
  raw: string
}

/** One IPsec policy, from `ip xfrm policy`. */
export interface XfrmPolicy {
  src: string
  dst: string
  dir: 'in' | 'out' | 'fwd'
  priority?: number
  ptype?: string
  tmpls: {src: string; dst: string; proto: string; reqid?: number; mode?: string}[]
  /** The kernel's per-socket bypass policies (`socket in priority 0`); never flannel's. */
  socket?: boolean
  /** `action block` when shown (default allow). */
  action?: string
  /** 1-based line of the `src ... dst ...` header in the capture. */
  line?: number
  raw: string
}

/** `key = value` settings from `sysctl -a` (keys in dotted form: `net.ipv4.ip_forward`). */
export interface Sysctls {
  values: Map<string, string>
  raw: Map<string, string>
  /** Keys the capture says do not exist (`sysctl: cannot stat /proc/sys/...: No such file or directory`), with that line. */
  missing?: Map<string, string>
}

/** `ethtool -k DEV` */
export interface EthtoolFeatures {
  device?: string
  features: Map<string, {on: boolean; fixed: boolean; raw: string}>
}

/** `/run/flannel/subnet.env` */
export interface SubnetEnv {
  /** In file order; later duplicates win in `values`. */
  entries: {key: string; value: string; line: number; raw: string}[]
  values: Record<string, string>
  /** Lines that are not `KEY=value` (kept to report them), or that the CNI plugin would misread (`reason`). */
  malformed: {line: number; raw: string; reason?: string}[]
}

/** A file under /etc/cni/net.d. */
export interface CniConfigFile {
  name: string
  text: string
  /** Parsed JSON, or the syntax error. */
  json?: unknown
  error?: string
  /** 1-based position of the syntax error, when known. */
  errorLine?: number
  errorColumn?: number
  /** Why libcni does not load this file at all (wrong extension, subdirectory); absent for loaded files. */
  ignored?: string
}

export interface KernelInfo {
  release: string
  machine?: string
  raw: string
}

export interface KubeNodeAddress {
  type: string
  address: string
}

/** A Kubernetes Node, reduced to what flannel and the checks use. */
export interface KubeNode {
  name: string
  podCIDR?: string
  podCIDRs: string[]
  addresses: KubeNodeAddress[]
  annotations: Record<string, string>
  labels: Record<string, string>
  /** From `status.nodeInfo`. */
  kernelVersion?: string
  osImage?: string
  operatingSystem?: string
  architecture?: string
  /** True when the evidence had only name + podCIDR (podcidrs.txt). */
  partial?: boolean
  /** True when the evidence gave no name (`{.items[*].spec.podCIDR}` prints CIDRs only): `name` is a placeholder. */
  nameUnknown?: boolean
  /** `status.conditions` (flannel sets `NetworkUnavailable=False`, reason `FlannelIsUp`). */
  conditions?: KubeNodeCondition[]
}

export interface KubeNodeCondition {
  type: string
  status: string
  reason?: string
  message?: string
}

/** A log file (free text), split into lines. */
export interface LogFile {
  name: string
  lines: string[]
  /** The same lines with their prefixes understood (klog, kubectl --timestamps, CRI, docker json, syslog, dmesg). */
  entries?: LogLine[]
}

export interface LogLine {
  /** 1-based line number in the file. */
  n: number
  /** The line as it is in the file (the evidence). */
  raw: string
  /** The message text with every recognised prefix removed and escaped quotes (`\\"`) unescaped. */
  text: string
  /** klog / logrus / CRI severity when shown: `I`, `W`, `E`, `F`. */
  level?: 'I' | 'W' | 'E' | 'F'
  /** Timestamp as printed, when there was one. */
  time?: string
  /** `main.go:330` (klog) or the syslog program (`kubelet[123]`), when shown. */
  origin?: string
}

/** One container of a flannel pod (`status.containerStatuses` / `initContainerStatuses`, joined with the spec). */
export interface KubeContainerStatus {
  name: string
  /** An init container (`install-cni-plugin`, `install-cni`). */
  init: boolean
  image?: string
  ready: boolean
  restarts: number
  /** `running`, `waiting`, `terminated`, or `unknown` when the status has none of them. */
  state: 'running' | 'waiting' | 'terminated' | 'unknown'
  /** `state.waiting.reason` (`CrashLoopBackOff`, `ImagePullBackOff`, `PodInitializing`, ...). */
  waitingReason?: string
  waitingMessage?: string
  /** `lastState.terminated` (the previous run), or `state.terminated` for a container that is down now. */
  lastTerminated?: {exitCode?: number; reason?: string; message?: string; finishedAt?: string}
}

/** A pod of the flannel DaemonSet. */
export interface KubePod {
  name: string
  namespace?: string
  /** `spec.nodeName`. */
  node?: string
  /** `status.phase`: `Running`, `Pending`, `Failed`, `Succeeded`, `Unknown`. */
  phase?: string
  /** The `Ready` condition is `True` (else every main container ready). */
  ready: boolean
  /** Sum of the restart counts of all containers. */
  restarts: number
  containers: KubeContainerStatus[]
  /** A one-line rendering (`kube-flannel-ds-abcde node-3 Running 0/1 CrashLoopBackOff restarts=7`), for evidence. */
  raw: string
}

/** The flannel DaemonSet with its pods (`kubectl -n kube-flannel get ds,pods -l app=flannel -o json`). */
export interface FlannelDaemonSet {
  /** Absent when the evidence had pods only. */
  namespace?: string
  name?: string
  /** `status.desiredNumberScheduled`, `numberReady`, `numberAvailable`, `updatedNumberScheduled`; counted from the pods when the DaemonSet object is absent. */
  desired: number
  ready: number
  available: number
  updated: number
  /** True when the counts were derived from the pods (no DaemonSet object, or one without status). */
  countsFromPods?: boolean
  pods: KubePod[]
  /** Images of the pod template (init containers first). */
  images: string[]
  /** Command and args of the main flanneld container of the template (`/opt/bin/flanneld --ip-masq --kube-subnet-mgr`). */
  args: string[]
  /** `spec.template.spec.serviceAccountName`. */
  serviceAccount?: string
  /** A one-line rendering of the DaemonSet status (`daemonset kube-flannel/kube-flannel-ds desired=3 ready=2 ...`). */
  raw?: string
}

/** One RBAC rule (`rules[]` of a ClusterRole/Role). */
export interface RbacRule {
  apiGroups: string[]
  resources: string[]
  verbs: string[]
  resourceNames: string[]
  nonResourceURLs: string[]
}

export interface RbacRole {
  kind: 'ClusterRole' | 'Role'
  name: string
  namespace?: string
  rules: RbacRule[]
  /** True when the role has an `aggregationRule` (its rules are filled in by the controller). */
  aggregated?: boolean
}

export interface RbacSubject {
  kind: string
  name: string
  namespace?: string
}

export interface RbacBinding {
  kind: 'ClusterRoleBinding' | 'RoleBinding'
  name: string
  namespace?: string
  roleRef: {kind: string; name: string}
  subjects: RbacSubject[]
}

/** A SubjectAccessReview (`kubectl create -f sar.yaml -o json`) with its answer. */
export interface AccessReview {
  user?: string
  verb: string
  resource: string
  subresource?: string
  group: string
  namespace?: string
  name?: string
  allowed: boolean
  denied?: boolean
  reason?: string
  /** `can-i VERB RESOURCE[/SUB] as USER: yes|no (reason)`, for evidence. */
  raw: string
}

/** RBAC objects around the flannel ServiceAccount (kubernetes/rbac.json). */
export interface FlannelRbac {
  roles: RbacRole[]
  bindings: RbacBinding[]
  reviews: AccessReview[]
}
