/**
 * Test support: flannel-shaped nodes in network namespaces, built with the same kernel entries flannel's
 * vxlan backend creates (flannel-facts §3), so the doctor can be proven against a real kernel.
 *
 * Safety: every namespace carries the prefix given (always starting with `flt-`), nothing is created in
 * the machine's own namespace, the underlay is a bridge inside a namespace with no way out, and
 * `destroy()` removes everything (callers run it in `finally`/`after`).
 */
import {execFile} from 'node:child_process'
import {chmod, mkdtemp, mkdir, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'

import {ipsecPolicyLines} from '../../src/lab/lab.js'
import {BACKEND_OVERHEAD, CNI_CONFLIST} from '../../src/lab/topology.js'
import {flannelIptablesRules} from '../../src/setup/desired.js'

const pexec = promisify(execFile)

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0

export async function run(argv: string[], input?: string): Promise<string> {
  const [file, ...args] = argv
  if (!file) throw new Error('empty argv')
  if (input !== undefined) {
    return new Promise((resolve, reject) => {
      const child = execFile(
        file,
        args,
        {timeout: 20_000, maxBuffer: 32 * 1024 * 1024},
        (err, stdout, stderr) => {
          if (err) reject(new Error(`${argv.join(' ')} failed: ${stderr || err.message}`))
          else resolve(stdout)
        },
      )
      child.stdin?.end(input)
    })
  }
  try {
    const {stdout} = await pexec(file, args, {timeout: 20_000, maxBuffer: 32 * 1024 * 1024})
    return stdout
  } catch (e) {
    const err = e as {stderr?: string; message: string}
    throw new Error(`${argv.join(' ')} failed: ${err.stderr || err.message}`)
  }
}

export const inNs = (ns: string, argv: string[], input?: string) =>
  run(['ip', 'netns', 'exec', ns, ...argv], input)

/** Can this machine run the namespace tests at all? (root, iproute2, vxlan, iptables, nft) */
export async function netnsSupport(): Promise<{ok: true} | {ok: false; why: string}> {
  if (!isRoot) return {ok: false, why: 'needs root'}
  for (const bin of ['ip', 'bridge', 'iptables-restore', 'nft']) {
    try {
      await run(['sh', '-c', `command -v ${bin}`])
    } catch {
      return {ok: false, why: `${bin} is not installed`}
    }
  }
  return {ok: true}
}

/** The namespaces whose name starts with `prefix`, as `ip netns list` shows them now. */
export async function namespacesWithPrefix(prefix: string): Promise<string[]> {
  const out = await run(['ip', 'netns', 'list'])
  return out
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n !== '' && n.startsWith(prefix))
}

/** Remove every namespace with this prefix (left-overs of an earlier, killed run). */
export async function removeNamespaces(prefix: string): Promise<void> {
  if (!prefix.startsWith('flt-')) throw new Error('refusing to remove namespaces without the flt- prefix')
  for (const name of await namespacesWithPrefix(prefix).catch(() => []))
    await run(['ip', 'netns', 'del', name]).catch(() => undefined)
}

export interface NodeSpec {
  name: string
  ip: string
  subnet: string // e.g. 10.244.1.0/24
  mac: string
}

export interface ClusterOptions {
  prefix: string
  nodes?: NodeSpec[]
  backend?: 'vxlan' | 'ipsec'
  network?: string
  underlayMtu?: number
  /** Only the underlay: no flannel state, no cni0, no pods, nodes without flannel annotations (for setup). */
  bare?: boolean
}

export interface Cluster {
  prefix: string
  dir: string
  nodes: NodeSpec[]
  nsOf(node: string): string
  podNsOf(node: string): string
  /** Per-node files: net-conf.json, subnet.env, nodes.json, cni/ */
  files(node: string): {netConf: string; subnetEnv: string; nodesFile: string; cniDir: string}
  destroy(): Promise<void>
}

export const DEFAULT_NODES: NodeSpec[] = [
  {name: 'node-1', ip: '10.99.0.11', subnet: '10.244.1.0/24', mac: '0a:58:0a:f4:01:00'},
  {name: 'node-2', ip: '10.99.0.12', subnet: '10.244.2.0/24', mac: '0a:58:0a:f4:02:00'},
  {name: 'node-3', ip: '10.99.0.13', subnet: '10.244.3.0/24', mac: '0a:58:0a:f4:03:00'},
]

const base = (cidr: string) => cidr.split('/')[0] as string
const gw = (cidr: string) => base(cidr).replace(/\.0$/, '.1')
const prefixLen = (cidr: string) => cidr.split('/')[1] as string

export const IPSEC_PSK = 'flannelctl-test-psk-'.repeat(6)

export function netConfText(network: string, backend: 'vxlan' | 'ipsec'): string {
  const b = backend === 'vxlan' ? {Type: 'vxlan'} : {Type: 'ipsec', PSK: IPSEC_PSK}
  return JSON.stringify({Network: network, EnableNFTables: false, Backend: b}, null, 2) + '\n'
}

export function nodesJson(
  nodes: NodeSpec[],
  backend: 'vxlan' | 'ipsec',
  kernel: string,
  bare = false,
): string {
  const items = nodes.map((n) => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: n.name,
      labels: {'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', 'kubernetes.io/hostname': n.name},
      annotations: bare
        ? {'node.alpha.kubernetes.io/ttl': '0'}
        : {
            'flannel.alpha.coreos.com/kube-subnet-manager': 'true',
            'flannel.alpha.coreos.com/backend-type': backend,
            'flannel.alpha.coreos.com/backend-data':
              backend === 'vxlan' ? JSON.stringify({VNI: 1, VtepMAC: n.mac}) : 'null',
            'flannel.alpha.coreos.com/public-ip': n.ip,
            'node.alpha.kubernetes.io/ttl': '0',
          },
    },
    spec: {podCIDR: n.subnet, podCIDRs: [n.subnet]},
    status: {
      addresses: [
        {type: 'InternalIP', address: n.ip},
        {type: 'Hostname', address: n.name},
      ],
      nodeInfo: {
        kernelVersion: kernel,
        osImage: 'Debian GNU/Linux 12 (bookworm)',
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
    },
  }))
  return (
    JSON.stringify({apiVersion: 'v1', kind: 'List', items, metadata: {resourceVersion: ''}}, null, 2) + '\n'
  )
}

/** Built-in chains and their policies: FORWARD DROP as Docker (>= 1.13) leaves it. */
const BUILTIN_CHAINS = {
  nat: [':POSTROUTING ACCEPT [0:0]'],
  filter: [':INPUT ACCEPT [0:0]', ':FORWARD DROP [0:0]', ':OUTPUT ACCEPT [0:0]'],
} as const

/** A whole `iptables-restore` input: the built-in chains, then flannel's chains, jumps and rules. */
export function iptablesRules(network: string, subnet: string): string {
  return flannelIptablesRules(network, subnet, {ipMasq: true, forwardRules: true})
    .tables.map((t) =>
      [
        `*${t.table}`,
        ...BUILTIN_CHAINS[t.table],
        `:${t.chain} - [0:0]`,
        t.jump,
        ...t.rules,
        'COMMIT',
        '',
      ].join('\n'),
    )
    .join('')
}

/** The lines only one side has, for a readable assertion message. */
export function snapshotDiff(a: string, b: string): string {
  const la = a.split('\n')
  const lb = b.split('\n')
  const sa = new Set(la)
  const sb = new Set(lb)
  return [
    ...la.filter((l) => !sb.has(l)).map((l) => `- ${l}`),
    ...lb.filter((l) => !sa.has(l)).map((l) => `+ ${l}`),
  ].join('\n')
}

/** Build a healthy flannel cluster of namespaces: one switch, one namespace per node, one pod per node. */
export async function buildCluster(opts: ClusterOptions): Promise<Cluster> {
  if (!opts.prefix.startsWith('flt-')) throw new Error('namespace prefix must start with flt-')
  const nodes = opts.nodes ?? DEFAULT_NODES
  const backend = opts.backend ?? 'vxlan'
  const network = opts.network ?? '10.244.0.0/16'
  const underlayMtu = opts.underlayMtu ?? 1500
  const mtu = underlayMtu - BACKEND_OVERHEAD[backend]
  const p = opts.prefix
  const sw = `${p}sw`
  const nsOf = (n: string) => `${p}${n}`
  const podNsOf = (n: string) => `${p}${n}-pod`
  const dir = await mkdtemp(join(tmpdir(), `${p}files-`))
  await chmod(dir, 0o755)
  const kernel = (await run(['uname', '-r'])).trim()
  const cluster: Cluster = {
    prefix: p,
    dir,
    nodes,
    nsOf,
    podNsOf,
    files: (n) => ({
      netConf: join(dir, n, 'net-conf.json'),
      subnetEnv: join(dir, n, 'subnet.env'),
      nodesFile: join(dir, 'nodes.json'),
      cniDir: join(dir, n, 'cni'),
    }),
    async destroy() {
      await removeNamespaces(p)
      await rm(dir, {recursive: true, force: true})
    },
  }
  try {
    await removeNamespaces(p)
    await run(['ip', 'netns', 'add', sw])
    await run(
      ['ip', '-n', sw, '-batch', '-'],
      `link add br0 mtu ${underlayMtu} type bridge\nlink set br0 up\n`,
    )
    await writeFile(join(dir, 'nodes.json'), nodesJson(nodes, backend, kernel, opts.bare === true))
    for (const [i, n] of nodes.entries()) {
      const ns = nsOf(n.name)
      const pod = podNsOf(n.name)
      await run(['ip', 'netns', 'add', ns])
      await run(['ip', 'netns', 'add', pod])
      await run([
        'ip',
        'link',
        'add',
        `up${i}`,
        'netns',
        sw,
        'mtu',
        String(underlayMtu),
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        ns,
      ])
      await run(['ip', '-n', sw, 'link', 'set', `up${i}`, 'master', 'br0', 'up'])
      // No IPv6 autoconfiguration inside the lab: no DAD or router solicitations, so the namespaces stay
      // quiet and a before/after snapshot compares configuration only.
      for (const n2 of [ns, pod])
        await inNs(n2, [
          'sysctl',
          '-q',
          '-w',
          'net.ipv6.conf.all.disable_ipv6=1',
          'net.ipv6.conf.default.disable_ipv6=1',
        ])
      const underlay = [
        'link set lo up',
        `link set eth0 mtu ${underlayMtu} up`,
        `addr add ${n.ip}/24 dev eth0`,
        'route add default via 10.99.0.1 dev eth0 onlink',
      ]
      if (opts.bare) {
        await run(['ip', '-n', ns, '-batch', '-'], underlay.join('\n') + '\n')
        await inNs(ns, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'])
        const f = cluster.files(n.name)
        await mkdir(f.cniDir, {recursive: true})
        await writeFile(f.netConf, netConfText(network, backend))
        await chmod(join(dir, n.name), 0o755)
        continue
      }
      const lines = [
        ...underlay,
        'link add cni0 mtu ' + mtu + ' type bridge',
        `addr add ${gw(n.subnet)}/${prefixLen(n.subnet)} dev cni0`,
        'link set cni0 up',
      ]
      if (backend === 'vxlan') {
        lines.push(
          `link add flannel.1 address ${n.mac} mtu ${mtu} type vxlan id 1 local ${n.ip} dev eth0 nolearning dstport 8472`,
          `addr add ${base(n.subnet)}/32 dev flannel.1`,
          'link set flannel.1 up',
        )
        for (const peer of nodes.filter((x) => x.name !== n.name)) {
          lines.push(`neigh add ${base(peer.subnet)} lladdr ${peer.mac} dev flannel.1 nud permanent`)
        }
      }
      await run(['ip', '-n', ns, '-batch', '-'], lines.join('\n') + '\n')
      if (backend === 'vxlan') {
        const fdb = nodes
          .filter((x) => x.name !== n.name)
          .map((peer) => `fdb add ${peer.mac} dev flannel.1 dst ${peer.ip} self permanent`)
        await run(['bridge', '-n', ns, '-batch', '-'], fdb.join('\n') + '\n')
        const routes = nodes
          .filter((x) => x.name !== n.name)
          .map((peer) => `route add ${peer.subnet} via ${base(peer.subnet)} dev flannel.1 onlink`)
        await run(['ip', '-n', ns, '-batch', '-'], routes.join('\n') + '\n')
      } else {
        // ipsec: three policies per peer, reqid 11, endpoints at the public IPs (flannel-facts §6.1).
        const at = (x: NodeSpec) => ({podCIDR: x.subnet, ip: x.ip})
        const pol = ipsecPolicyLines(at(n), nodes.filter((x) => x.name !== n.name).map(at))
        await run(['ip', '-n', ns, '-batch', '-'], pol.join('\n') + '\n')
      }
      // The pod, wired as the bridge plugin does it.
      await run([
        'ip',
        '-n',
        ns,
        'link',
        'add',
        'veth0pod',
        'mtu',
        String(mtu),
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        pod,
      ])
      await run(['ip', '-n', ns, 'link', 'set', 'veth0pod', 'master', 'cni0', 'up'])
      await run(
        ['ip', '-n', pod, '-batch', '-'],
        `link set lo up\nlink set eth0 up\naddr add ${gw(n.subnet).replace(/\.1$/, '.2')}/${prefixLen(n.subnet)} dev eth0\nroute add default via ${gw(n.subnet)}\n`,
      )
      await inNs(ns, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'])
      await inNs(ns, ['iptables-restore'], iptablesRules(network, n.subnet))
      const f = cluster.files(n.name)
      await mkdir(f.cniDir, {recursive: true})
      await writeFile(f.netConf, netConfText(network, backend))
      await writeFile(
        f.subnetEnv,
        `FLANNEL_NETWORK=${network}\nFLANNEL_SUBNET=${gw(n.subnet)}/${prefixLen(n.subnet)}\nFLANNEL_MTU=${mtu}\nFLANNEL_IPMASQ=true\n`,
      )
      await writeFile(join(f.cniDir, '10-flannel.conflist'), JSON.stringify(CNI_CONFLIST, null, 2) + '\n')
      await chmod(join(dir, n.name), 0o755)
    }
    return cluster
  } catch (e) {
    await cluster.destroy()
    throw e
  }
}

/** Bounded reachability probe from one pod to another address (inside the namespaces only). */
export async function ping(ns: string, addr: string): Promise<boolean> {
  try {
    await inNs(ns, ['ping', '-c', '1', '-W', '1', addr])
    return true
  } catch {
    return false
  }
}

/** A snapshot of everything doctor might read in a namespace, to prove it changes nothing. */
export async function snapshot(ns: string): Promise<string> {
  const parts: string[] = []
  for (const argv of [
    ['ip', '-d', 'link', 'show'],
    ['ip', 'addr'],
    ['ip', 'route', 'show', 'table', 'all'],
    ['ip', 'neigh'],
    ['bridge', 'fdb', 'show'],
    ['iptables-save'],
    ['nft', 'list', 'ruleset'],
    ['ip', 'xfrm', 'state'],
    ['ip', 'xfrm', 'policy'],
  ]) {
    const out = await inNs(ns, argv).catch((e: Error) => `ERR ${e.message}`)
    // Counters and timers move by themselves; strip them so only configuration is compared.
    parts.push(
      `## ${argv.join(' ')}\n` +
        out
          .replace(/^# (Generated|Completed) .*$/gm, '')
          .replace(/\[\d+:\d+\]/g, '')
          .replace(/counter packets \d+ bytes \d+/g, 'counter')
          .replace(
            /(hello_timer|tcn_timer|topology_change_timer|gc_timer|hold_timer|message_age_timer|forward_delay_timer)\s+[\d.]+/g,
            '$1',
          )
          .replace(/ (REACHABLE|STALE|DELAY|PROBE)\s*$/gm, '')
          // Operational state follows carrier by itself (a bridge goes UNKNOWN → UP when a port forwards).
          .replace(/ state (UP|DOWN|UNKNOWN|LOWERLAYERDOWN) /g, ' ')
          // Bridge ports learn MAC addresses of the traffic that passes; only configured entries count.
          .split('\n')
          .filter((l) => !/ master \S+\s*$/.test(l))
          .join('\n'),
    )
  }
  return parts.join('\n')
}
