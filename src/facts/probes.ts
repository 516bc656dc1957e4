/**
 * The probe registry: each piece of raw evidence has an id, a fixed place in a bundle (spec/bundle.md),
 * and a way to capture it live. `doctor` (live or --bundle) and `collect` are two views of this one list,
 * so every bundle can answer every check offline.
 */

export type ProbeId =
  | 'manifest'
  | 'net-conf'
  | 'net-conf-k3s'
  | 'flannel-cfg'
  | 'subnet-env'
  | 'cni-dir'
  | 'ip-link'
  | 'ip-addr'
  | 'ip-route'
  | 'ip-neigh'
  | 'bridge-fdb'
  | 'iptables'
  | 'ip6tables'
  | 'iptables-legacy'
  | 'nft'
  | 'xfrm-state'
  | 'xfrm-policy'
  | 'sysctl'
  | 'ethtool'
  | 'uname'
  | 'lsmod'
  | 'nodes'
  | 'logs'
  | 'daemonset'
  | 'rbac'

/** What a live capture needs to know (flags of the command line). */
export interface LiveContext {
  netns?: string
  netConfPath?: string
  subnetEnvPath?: string
  nodesFile?: string
  cniDir?: string
  logFiles?: string[]
  /** The vxlan device to ask ethtool about (from net-conf's VNI when known). */
  vxlanDevice?: string
}

/**
 * Another way to take the same evidence inside a kube-flannel pod, whose image (Alpine, busybox) may
 * lack the tool or its options: the command, and how its output becomes the primary command's format.
 */
export interface PodFallback {
  argv: string[]
  toText: (stdout: string) => string
}

export type LiveCapture =
  | {
      kind: 'cmd'
      argv: (ctx: LiveContext) => string[]
      netns: boolean
      root?: boolean
      podFallback?: PodFallback
    }
  | {kind: 'file'; path: (ctx: LiveContext) => string | undefined; explicit: (ctx: LiveContext) => boolean}
  | {kind: 'dir'; path: (ctx: LiveContext) => string}
  | {kind: 'files'; paths: (ctx: LiveContext) => string[]}
  | {kind: 'none'; why: string; hint: string}

export interface ProbeDef {
  id: ProbeId
  title: string
  /** Paths inside a bundle, first match wins. A path ending in `/` is a folder of files; `*.log` globs one level. */
  bundle: string[]
  live: LiveCapture
  /** When absent from a bundle without a manifest entry, say how to add it. */
  pasteHint: string
}

export const DEFAULT_NET_CONF = '/etc/kube-flannel/net-conf.json'
export const K3S_NET_CONF = '/var/lib/rancher/k3s/agent/etc/flannel/net-conf.json'
export const DEFAULT_SUBNET_ENV = '/run/flannel/subnet.env'
export const DEFAULT_CNI_DIR = '/etc/cni/net.d'

/** Only the sysctls the checks read, so the capture stays small and readable without root. */
export const SYSCTL_PATTERN =
  '^net\\.(ipv4\\.(ip_forward|conf\\.[^.]+\\.(rp_filter|forwarding))|bridge\\.|ipv6\\.conf\\.all\\.forwarding)'

/** Where the sysctls the checks read live under /proc/sys. */
export const SYSCTL_PATHS = [
  '/proc/sys/net/ipv4/ip_forward',
  '/proc/sys/net/ipv4/conf',
  '/proc/sys/net/bridge',
  '/proc/sys/net/ipv6/conf/all/forwarding',
] as const

/**
 * `grep -r . PATHS` output (`/proc/sys/net/ipv4/conf/eth0/rp_filter:1`) as `sysctl -a` prints it
 * (`net.ipv4.conf.eth0.rp_filter = 1`), keeping only the keys the probe asks for. A dot inside a name
 * (`eth0.100`) becomes `/`, as sysctl writes it.
 */
export function sysctlFromProc(grepOutput: string, pattern = SYSCTL_PATTERN): string {
  const re = new RegExp(pattern)
  const out: string[] = []
  for (const line of grepOutput.split('\n')) {
    const m = /^\/proc\/sys\/([^:]+):(.*)$/.exec(line)
    if (!m) continue
    const key = (m[1] as string)
      .split('/')
      .map((part) => part.replace(/\./g, '/'))
      .join('.')
    if (re.test(key)) out.push(`${key} = ${(m[2] as string).trim()}`)
  }
  return out.length > 0 ? out.join('\n') + '\n' : ''
}

const cmd = (
  argv: string[],
  opts: {netns?: boolean; root?: boolean; podFallback?: PodFallback} = {},
): LiveCapture => {
  const c: LiveCapture = {kind: 'cmd', argv: () => argv, netns: opts.netns ?? true}
  if (opts.root) c.root = true
  if (opts.podFallback) c.podFallback = opts.podFallback
  return c
}

export const PROBES: readonly ProbeDef[] = [
  {
    id: 'manifest',
    title: 'bundle manifest',
    bundle: ['manifest.json'],
    live: {kind: 'none', why: 'only bundles have a manifest', hint: ''},
    pasteHint: 'written by flannelctl collect',
  },
  {
    id: 'net-conf',
    title: 'net-conf.json',
    bundle: ['files/etc/kube-flannel/net-conf.json'],
    live: {
      kind: 'file',
      path: (c) => c.netConfPath ?? DEFAULT_NET_CONF,
      explicit: (c) => c.netConfPath !== undefined,
    },
    pasteHint: 'copy net-conf.json to files/etc/kube-flannel/net-conf.json',
  },
  {
    id: 'net-conf-k3s',
    title: 'k3s/RKE2 net-conf.json',
    bundle: ['files/var/lib/rancher/k3s/agent/etc/flannel/net-conf.json'],
    live: {kind: 'file', path: (c) => (c.netConfPath ? undefined : K3S_NET_CONF), explicit: () => false},
    pasteHint: 'copy it to files/var/lib/rancher/k3s/agent/etc/flannel/net-conf.json',
  },
  {
    id: 'flannel-cfg',
    title: 'kube-flannel-cfg ConfigMap',
    bundle: ['kubernetes/kube-flannel-cfg.yaml', 'kubernetes/kube-flannel-cfg.json'],
    live: {
      kind: 'none',
      why: 'the ConfigMap is read from the API',
      hint: 'pass --net-conf FILE (a net-conf.json, the ConfigMap or the whole manifest)',
    },
    pasteHint: 'kubectl -n kube-flannel get cm kube-flannel-cfg -o yaml > kubernetes/kube-flannel-cfg.yaml',
  },
  {
    id: 'subnet-env',
    title: 'subnet.env',
    bundle: ['files/run/flannel/subnet.env'],
    live: {kind: 'file', path: (c) => c.subnetEnvPath ?? DEFAULT_SUBNET_ENV, explicit: () => true},
    pasteHint: 'copy /run/flannel/subnet.env to files/run/flannel/subnet.env',
  },
  {
    id: 'cni-dir',
    title: 'CNI configurations',
    bundle: ['files/etc/cni/net.d/'],
    live: {kind: 'dir', path: (c) => c.cniDir ?? DEFAULT_CNI_DIR},
    pasteHint: 'copy /etc/cni/net.d/* to files/etc/cni/net.d/',
  },
  {
    id: 'ip-link',
    title: 'links',
    bundle: ['commands/ip-link.txt'],
    live: cmd(['ip', '-d', '-j', 'link', 'show']),
    pasteHint: 'ip -d link show > commands/ip-link.txt',
  },
  {
    id: 'ip-addr',
    title: 'addresses',
    bundle: ['commands/ip-addr.txt'],
    live: cmd(['ip', '-j', 'addr', 'show']),
    pasteHint: 'ip addr > commands/ip-addr.txt',
  },
  {
    id: 'ip-route',
    title: 'routes',
    bundle: ['commands/ip-route.txt'],
    live: cmd(['ip', '-j', 'route', 'show']),
    pasteHint: 'ip route > commands/ip-route.txt',
  },
  {
    id: 'ip-neigh',
    title: 'neighbours',
    bundle: ['commands/ip-neigh.txt'],
    live: cmd(['ip', '-j', 'neigh', 'show']),
    pasteHint: 'ip neigh > commands/ip-neigh.txt',
  },
  {
    id: 'bridge-fdb',
    title: 'forwarding database',
    bundle: ['commands/bridge-fdb.txt'],
    live: cmd(['bridge', '-j', 'fdb', 'show']),
    pasteHint: 'bridge fdb show > commands/bridge-fdb.txt',
  },
  {
    id: 'iptables',
    title: 'IPv4 iptables rules',
    bundle: ['commands/iptables.txt'],
    live: cmd(['iptables-save'], {root: true}),
    pasteHint: 'iptables-save > commands/iptables.txt (as root)',
  },
  {
    id: 'ip6tables',
    title: 'IPv6 iptables rules',
    bundle: ['commands/ip6tables.txt'],
    live: cmd(['ip6tables-save'], {root: true}),
    pasteHint: 'ip6tables-save > commands/ip6tables.txt (as root)',
  },
  {
    id: 'iptables-legacy',
    title: 'iptables-legacy rules',
    bundle: ['commands/iptables-legacy.txt'],
    live: cmd(['iptables-legacy-save'], {root: true}),
    pasteHint: 'iptables-legacy-save > commands/iptables-legacy.txt (as root)',
  },
  {
    id: 'nft',
    title: 'nftables ruleset',
    bundle: ['commands/nft-ruleset.txt'],
    live: cmd(['nft', 'list', 'ruleset'], {root: true}),
    pasteHint: 'nft list ruleset > commands/nft-ruleset.txt (as root)',
  },
  {
    id: 'xfrm-state',
    title: 'IPsec SAs',
    bundle: ['commands/ip-xfrm-state.txt'],
    live: cmd(['ip', 'xfrm', 'state'], {root: true}),
    pasteHint: 'ip xfrm state > commands/ip-xfrm-state.txt (as root; remove keys)',
  },
  {
    id: 'xfrm-policy',
    title: 'IPsec policies',
    bundle: ['commands/ip-xfrm-policy.txt'],
    live: cmd(['ip', 'xfrm', 'policy'], {root: true}),
    pasteHint: 'ip xfrm policy > commands/ip-xfrm-policy.txt (as root)',
  },
  {
    id: 'sysctl',
    title: 'sysctls',
    bundle: ['commands/sysctl.txt'],
    // busybox's sysctl has no --pattern: in a pod, read /proc/sys and write it as sysctl does.
    live: cmd(['sysctl', '-a', '--pattern', SYSCTL_PATTERN], {
      podFallback: {argv: ['grep', '-r', '.', ...SYSCTL_PATHS], toText: (out) => sysctlFromProc(out)},
    }),
    pasteHint: 'sysctl -a > commands/sysctl.txt',
  },
  {
    id: 'ethtool',
    title: 'vxlan device offloads',
    bundle: ['commands/ethtool-flannel.txt'],
    live: {kind: 'cmd', argv: (c) => ['ethtool', '-k', c.vxlanDevice ?? 'flannel.1'], netns: true},
    pasteHint: 'ethtool -k flannel.1 > commands/ethtool-flannel.txt',
  },
  {
    id: 'uname',
    title: 'kernel',
    bundle: ['commands/uname.txt'],
    live: cmd(['uname', '-a'], {netns: false}),
    pasteHint: 'uname -a > commands/uname.txt',
  },
  {
    id: 'lsmod',
    title: 'kernel modules',
    bundle: ['commands/lsmod.txt'],
    live: {kind: 'file', path: () => '/proc/modules', explicit: () => false},
    pasteHint: 'lsmod > commands/lsmod.txt',
  },
  {
    id: 'nodes',
    title: 'Kubernetes nodes',
    bundle: [
      'kubernetes/nodes.json',
      'kubernetes/nodes.yaml',
      'kubernetes/nodes.yml',
      'kubernetes/podcidrs.txt',
    ],
    live: {kind: 'file', path: (c) => c.nodesFile, explicit: (c) => c.nodesFile !== undefined},
    pasteHint: 'kubectl get nodes -o json > kubernetes/nodes.json',
  },
  {
    id: 'logs',
    title: 'flannel and node logs',
    bundle: ['logs/*.log', 'kubernetes/events.txt'],
    live: {kind: 'files', paths: (c) => c.logFiles ?? []},
    pasteHint: 'kubectl -n kube-flannel logs POD > logs/flannel.log (add --previous for a crashed pod)',
  },
  {
    id: 'daemonset',
    title: 'flannel DaemonSet and pods',
    bundle: ['kubernetes/daemonset.json', 'kubernetes/daemonset.yaml', 'kubernetes/daemonset.yml'],
    live: {
      kind: 'none',
      why: 'the DaemonSet comes from the Kubernetes API: pass --kube or --kubeconfig',
      hint: 'kubectl -n kube-flannel get ds,pods -l app=flannel -o json > kubernetes/daemonset.json, then doctor --bundle',
    },
    pasteHint:
      'kubectl -n kube-flannel get ds,pods -l app=flannel -o json > kubernetes/daemonset.json (namespace kube-system for flannel ≤ v0.18)',
  },
  {
    id: 'rbac',
    title: 'flannel RBAC',
    bundle: ['kubernetes/rbac.json', 'kubernetes/rbac.yaml', 'kubernetes/rbac.yml'],
    live: {
      kind: 'none',
      why: 'RBAC comes from the Kubernetes API: pass --kube or --kubeconfig',
      hint: 'kubectl get clusterrole/flannel clusterrolebinding/flannel -o json > kubernetes/rbac.json, then doctor --bundle',
    },
    pasteHint:
      'kubectl get clusterrole/flannel clusterrolebinding/flannel -o json > kubernetes/rbac.json (add SubjectAccessReview answers to the List if you have them)',
  },
]

export const PROBE_BY_ID: ReadonlyMap<ProbeId, ProbeDef> = new Map(PROBES.map((p) => [p.id, p]))

export function probe(id: ProbeId): ProbeDef {
  const p = PROBE_BY_ID.get(id)
  if (!p) throw new Error(`unknown probe ${id}`)
  return p
}
