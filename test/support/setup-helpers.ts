/**
 * Helpers for the live setup/teardown tests: synthetic peer nodes (to give a namespace many peers),
 * foreign kernel entries that setup must never touch, a snapshot that ignores what traffic changes by
 * itself, and what of setup's own may be left in a namespace. Everything runs inside namespaces the
 * caller created (test/support/netns.ts); nothing touches the machine's own namespace.
 */
import {readdir, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {inNs, snapshot} from './netns.js'

export interface SyntheticPeer {
  name: string
  podCIDR: string
  publicIP: string
  mac: string
}

/**
 * `count` flannel peers with addresses made by `at(i)`: each annotated as a running vxlan flannel would
 * have published it (kube-subnet-manager, backend-type, backend-data with a VtepMAC, public-ip).
 */
export function syntheticPeers(
  count: number,
  at: (i: number) => {podCIDR: string; publicIP: string},
): SyntheticPeer[] {
  return Array.from({length: count}, (_, i) => ({
    name: `peer-${i}`,
    ...at(i),
    // Locally administered unicast, unique per peer: 0a:58:00:<i>.
    mac: `0a:58:00:${((i >> 16) & 0xff).toString(16).padStart(2, '0')}:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`,
  }))
}

type NodeObj = Record<string, unknown>

function nodeObj(
  name: string,
  podCIDR: string | undefined,
  ip: string,
  annotations: Record<string, string>,
): NodeObj {
  const spec: Record<string, unknown> = podCIDR === undefined ? {} : {podCIDR, podCIDRs: [podCIDR]}
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {name, annotations, labels: {'kubernetes.io/os': 'linux', 'kubernetes.io/hostname': name}},
    spec,
    status: {
      addresses: [
        {type: 'InternalIP', address: ip},
        {type: 'Hostname', address: name},
      ],
    },
  }
}

/** A `kubectl get nodes -o json` list: `self` without flannel annotations (bare), then the peers. */
export function nodesJsonWith(
  self: {name: string; ip: string; podCIDR?: string},
  peers: readonly SyntheticPeer[],
): string {
  const items = [
    nodeObj(self.name, self.podCIDR, self.ip, {'node.alpha.kubernetes.io/ttl': '0'}),
    ...peers.map((p) =>
      nodeObj(p.name, p.podCIDR, p.publicIP, {
        'flannel.alpha.coreos.com/backend-data': JSON.stringify({VNI: 1, VtepMAC: p.mac}),
        'flannel.alpha.coreos.com/backend-type': 'vxlan',
        'flannel.alpha.coreos.com/kube-subnet-manager': 'true',
        'flannel.alpha.coreos.com/public-ip': p.publicIP,
      }),
    ),
  ]
  return (
    JSON.stringify({apiVersion: 'v1', kind: 'List', items, metadata: {resourceVersion: ''}}, null, 2) + '\n'
  )
}

/** The foreign entries planted in a namespace before setup (none of them is setup's). */
export const FOREIGN = {
  route: '192.0.2.0/24',
  neigh: '10.99.0.99',
  neighMac: '0a:58:0a:63:00:63',
  forwardRule: '-A FORWARD -s 198.51.100.0/24 -m comment --comment "foreign rule" -j ACCEPT',
  chain: 'FOREIGN-NAT',
  nftTable: 'inet foreign',
  file: 'other.conf',
  fileText: 'not flannel\n',
} as const

/**
 * Plant foreign entries in `ns` (underlay gateway 10.99.0.1 on eth0) and a file in `dir` (next to
 * subnet.env). The nat chain also makes the nat table exist before setup, as it does on any node with
 * kube-proxy or Docker, so a before/after comparison sees only what setup did.
 */
export async function plantForeign(ns: string, dir: string): Promise<void> {
  await inNs(ns, ['ip', 'route', 'add', FOREIGN.route, 'via', '10.99.0.1', 'dev', 'eth0'])
  await inNs(ns, [
    'ip',
    'neigh',
    'add',
    FOREIGN.neigh,
    'lladdr',
    FOREIGN.neighMac,
    'dev',
    'eth0',
    'nud',
    'permanent',
  ])
  await inNs(
    ns,
    ['iptables-restore', '--noflush'],
    `*filter\n${FOREIGN.forwardRule}\nCOMMIT\n*nat\n:${FOREIGN.chain} - [0:0]\n-A ${FOREIGN.chain} -d 203.0.113.0/24 -j RETURN\nCOMMIT\n`,
  )
  await inNs(
    ns,
    ['nft', '-f', '-'],
    'table inet foreign {\n\tchain input {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tudp dport 9999 counter accept\n\t}\n}\n',
  )
  await writeFile(join(dir, FOREIGN.file), FOREIGN.fileText)
}

/**
 * `snapshot()` with the neighbour table reduced to its configured (PERMANENT) entries: traffic (a ping)
 * adds and ages dynamic ARP entries by itself, and those are nobody's configuration.
 */
export async function stableSnapshot(ns: string): Promise<string> {
  const snap = await snapshot(ns)
  const neigh = await inNs(ns, ['ip', 'neigh', 'show', 'nud', 'permanent'])
  return snap.replace(/## ip neigh\n[\s\S]*?(?=\n## )/, `## ip neigh nud permanent\n${neigh}`)
}

/**
 * The snapshot with empty iptables built-in base chains removed from the nft listing. iptables-nft
 * creates a built-in chain (`chain POSTROUTING { type nat hook postrouting ...; policy accept; }`) the
 * first time a rule goes into it and never deletes it; `iptables -X` cannot remove a built-in chain, and
 * iptables-save prints it the same way whether it exists or not. Such a chain without rules and with
 * policy accept filters nothing; every other line must match byte for byte.
 */
export function withoutEmptyBuiltinChains(snap: string): string {
  return snap
    .replace(
      /\n\tchain [A-Z][A-Z_-]* \{\n\t\ttype [a-z]+ hook [a-z]+ priority [^;\n]+; policy accept;\n\t\}\n/g,
      '\n',
    )
    .replace(/\{\n\n\t/g, '{\n\t')
    .replace(/\n\n\}/g, '\n}')
    .replace(/\n\n\n+/g, '\n\n')
}

/** Every file under `dir` (recursive), sorted, relative. */
export async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = []
  const walk = async (d: string, rel: string): Promise<void> => {
    let names: string[]
    try {
      names = await readdir(d)
    } catch {
      return
    }
    for (const n of names) {
      const st = await readdir(join(d, n)).then(
        () => true,
        () => false,
      )
      if (st) await walk(join(d, n), `${rel}${n}/`)
      else out.push(`${rel}${n}`)
    }
  }
  await walk(dir, '')
  return out.sort()
}

/** What of setup's own is still in `ns`: flannel links, FLANNEL-* chains, flannel nft tables. */
export async function flannelLeftovers(ns: string): Promise<string[]> {
  const out: string[] = []
  const links = await inNs(ns, ['ip', '-o', 'link', 'show'])
  for (const l of links.split('\n'))
    if (/^\d+: flannel[.-]/.test(l)) out.push(`link ${l.split(':')[1]?.trim()}`)
  const ipt = await inNs(ns, ['iptables-save'])
  for (const l of ipt.split('\n')) if (/FLANNEL-/.test(l)) out.push(`iptables ${l}`)
  const nft = await inNs(ns, ['nft', 'list', 'tables'])
  for (const l of nft.split('\n')) if (/flannel/.test(l)) out.push(`nft ${l}`)
  const routes = await inNs(ns, ['ip', 'route', 'show'])
  for (const l of routes.split('\n')) if (/flannel\./.test(l)) out.push(`route ${l}`)
  return out
}
