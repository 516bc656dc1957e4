/**
 * kube.podcidr-overlap — flannel trusts `spec.podCIDR(s)` blindly: each node's subnet becomes the
 * bridge network on that node and one route (vxlan: neighbour + FDB + route) on every peer
 * (flannel-facts §3.3, §7.1). Two nodes with overlapping podCIDRs hand out the same pod IPs and the
 * peers' routes for one replace the other's; a podCIDR that holds a node address makes that node
 * unreachable from pods and from the other nodes (the route to the podCIDR wins over the LAN route).
 * The controller's range allocator never does this; hand-patched nodes and changed `--cluster-cidr` do.
 */
import {cidrContainsIP, cidrsOverlap, formatCidr, parseCidr, type Cidr} from '../../lib/ip.js'
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

    for (let i = 0; i < members.length; i++) {
      for (let j = i + 1; j < members.length; j++) {
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
    for (const m of members) {
      for (const holder of withAddrs) {
        for (const ip of nodeIPs(holder)) {
          if (!cidrContainsIP(m.cidr, ip.ip)) continue
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
