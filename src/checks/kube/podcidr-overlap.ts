/**
 * kube.podcidr-overlap — flannel trusts `spec.podCIDR(s)` blindly: each node's subnet becomes the
 * bridge network on that node and one route (vxlan: neighbour + FDB + route) on every peer
 * (flannel-facts §3.3, §7.1). Two nodes with overlapping podCIDRs hand out the same pod IPs and the
 * peers' routes for one replace the other's; a podCIDR that holds a node address makes that node
 * unreachable from pods and from the other nodes (the route to the podCIDR wins over the LAN route).
 * The controller's range allocator never does this; hand-patched nodes and changed `--cluster-cidr` do.
 */
import {cidrsOverlap, formatCidr, maskOf, parseCidr, parseIP, type Cidr} from '../../lib/ip.js'
import type {KubeNode} from '../../model.js'
import {defineCheck, type Finding} from '../types.js'
import {ev, fail, ok, unavailable} from '../lib/result.js'
import {readNetConf} from '../lib/netconf-read.js'
import {addressLine, nodeSubject, podCidrLine} from '../lib/wording.js'
import {
  cmdName,
  freeSubnet,
  coveringCidr,
  nodeIPs,
  partialFinding,
  podCidrsOf,
  typicalPrefix,
  widen,
} from '../lib/kube-helpers.js'

interface Member {
  node: KubeNode
  raw: string
  cidr: Cidr
}

export const check = defineCheck({
  id: 'kube.podcidr-overlap',
  area: 'kube',
  title: 'No two nodes share podCIDR space, and no podCIDR holds a node address',
  severity: 'error',
  needs: ['nodes', 'netConf'],
  evaluate(facts) {
    const nodesA = facts.get('nodes')
    if (!nodesA.ok) return [unavailable('the Kubernetes nodes', nodesA)]
    const src = nodesA.source
    const nodes = nodesA.value
    const members: Member[] = []
    for (const n of nodes)
      for (const p of podCidrsOf(n)) if (p.cidr) members.push({node: n, raw: p.raw, cidr: p.cidr})
    const out: Finding[] = []
    const used = members.map((m) => m.cidr)
    // Free ranges for the fix come from net-conf's Network when it is readable (optional here).
    const cr = readNetConf(facts, 'free podCIDRs')
    const nets = cr.ok
      ? [cr.conf.Network, cr.conf.IPv6Network].map((s) => (s ? parseCidr(s.trim()) : undefined))
      : []
    const poolOf = (family: 4 | 6): Cidr | undefined => {
      const net = nets.find((c) => c?.family === family)
      if (net) return net
      const cover = coveringCidr(used.filter((c) => c.family === family))
      return cover ? widen(cover, family === 4 ? 16 : 56) : undefined
    }

    for (const [i, j] of overlappingPairs(members)) {
      {
        const a = members[i] as Member
        const b = members[j] as Member
        if (a.node === b.node || !cidrsOverlap(a.cidr, b.cidr)) continue
        const same = formatCidr(a.cidr) === formatCidr(b.cidr)
        // Re-register the later-named node: the allocator then gives it a free range.
        const [keep, move] = a.node.name <= b.node.name ? [a, b] : [b, a]
        const mv = cmdName(move.node)
        const family = move.cidr.family
        const pool = poolOf(family)
        const free = pool ? freeSubnet(pool, used, typicalPrefix(used, family)) : undefined
        if (free) used.push(free)
        const freeStr = free ? formatCidr(free) : '<a free CIDR inside Network>'
        out.push(
          fail(
            'error',
            same
              ? `Nodes ${a.node.name} and ${b.node.name} both have podCIDR ${a.raw}, so they hand out the same pod IPs and every peer routes that range to only one of them.`
              : `Node ${a.node.name}'s podCIDR ${a.raw} overlaps node ${b.node.name}'s ${b.raw}, so pod IPs collide and peers route the shared range to only one of them.`,
            {
              subject: `nodes ${a.node.name} and ${b.node.name}`,
              evidence: [ev(src, [podCidrLine(a.node), podCidrLine(b.node)])],
              fix: [
                `# spec.podCIDR cannot be changed: re-register ${move.node.name} so it gets a free range (keep ${keep.node.name})`,
                `kubectl drain ${mv} --ignore-daemonsets --delete-emptydir-data && kubectl delete node ${mv}`,
                `# on ${mv}: systemctl restart kubelet`,
                `# if podCIDRs are assigned by hand, patch the re-registered node with a free one:`,
                `kubectl patch node ${mv} -p '${JSON.stringify({spec: {podCIDR: freeStr, podCIDRs: [freeStr]}})}'`,
              ],
            },
          ),
        )
      }
    }

    const withAddrs = nodes.filter((n) => !n.partial)
    const partial = nodes.filter((n) => n.partial).map((n) => n.name)
    for (const [mi, hi, ii] of addressesInside(members, withAddrs)) {
      const m = members[mi] as Member
      const holder = withAddrs[hi] as KubeNode
      const ip = nodeIPs(holder)[ii] as ReturnType<typeof nodeIPs>[number]
      {
        {
          const whose = holder === m.node ? 'its own' : `node ${holder.name}'s`
          out.push(
            fail(
              'error',
              `Node ${m.node.name}'s podCIDR ${m.raw} contains ${whose} ${ip.type} ${ip.address}, so traffic to that address is routed into the pod network instead of the host network.`,
              {
                subject: nodeSubject(m.node.name),
                evidence: [ev(src, [podCidrLine(m.node), addressLine(holder, ip)])],
                fix: [
                  `# the cluster CIDR overlaps the node network: pick a cluster CIDR (kube-controller-manager --cluster-cidr, kubeadm --pod-network-cidr) and net-conf "Network" that contain no node address, then re-register the nodes`,
                  `kubectl get nodes -o custom-columns=NAME:.metadata.name,PODCIDR:.spec.podCIDR,ADDRESSES:.status.addresses[*].address`,
                ],
              },
            ),
          )
        }
      }
    }
    if (partial.length > 0)
      out.push(partialFinding(src, 'whether a podCIDR contains a node address', partial))
    if (!out.some((f) => f.status === 'error')) {
      const what =
        partial.length > 0
          ? 'overlap none of the others'
          : 'overlap none of the others and contain no node address'
      out.push(
        ok(`The ${members.length} podCIDRs of ${nodes.length} nodes ${what}.`, {
          evidence: [ev(src, nodes.map(podCidrLine))],
        }),
      )
    }
    return out
  },
})

/**
 * Index pairs (i < j) of members whose CIDRs overlap, in the order a nested loop would find them —
 * by sorting and sweeping, so 10,000 nodes cost N log N, not N².
 */
function overlappingPairs(members: readonly Member[]): [number, number][] {
  const bits = (f: number) => (f === 4 ? 32n : 128n)
  const spans = members
    .map((m, i) => ({
      i,
      f: m.cidr.family,
      lo: m.cidr.base,
      hi: m.cidr.base + (1n << (bits(m.cidr.family) - BigInt(m.cidr.prefix))) - 1n,
    }))
    .sort((a, b) => a.f - b.f || (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0))
  const pairs: [number, number][] = []
  for (let x = 0; x < spans.length; x++) {
    const a = spans[x] as (typeof spans)[number]
    for (let y = x + 1; y < spans.length; y++) {
      const b = spans[y] as (typeof spans)[number]
      if (b.f !== a.f || b.lo > a.hi) break
      pairs.push(a.i < b.i ? [a.i, b.i] : [b.i, a.i])
    }
  }
  return pairs.sort((p, q) => p[0] - q[0] || p[1] - q[1])
}

/** (member, holder, address) index triples where a podCIDR contains a node address, in nested-loop order. */
function addressesInside(
  members: readonly Member[],
  holders: readonly KubeNode[],
): [number, number, number][] {
  const byLen = new Map<string, Map<bigint, number[]>>()
  members.forEach((m, i) => {
    const key = `${m.cidr.family}/${m.cidr.prefix}`
    const map = byLen.get(key) ?? new Map<bigint, number[]>()
    map.set(m.cidr.base, [...(map.get(m.cidr.base) ?? []), i])
    byLen.set(key, map)
  })
  const lens = [...byLen.keys()].map((k) => ({
    k,
    family: Number(k.split('/')[0]) as 4 | 6,
    prefix: Number(k.split('/')[1]),
  }))
  const out: [number, number, number][] = []
  holders.forEach((h, hi) =>
    nodeIPs(h).forEach((ip, ii) => {
      const p = parseIP(ip.ip)
      if (!p) return
      for (const l of lens) {
        if (l.family !== p.family) continue
        for (const mi of byLen.get(l.k)?.get(p.addr & maskOf(l.family, l.prefix)) ?? [])
          out.push([mi, hi, ii])
      }
    }),
  )
  return out.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2])
}
