/**
 * kube.podcidr-assigned — in kube mode flannel does not allocate subnets: it takes each node's subnet
 * from `spec.podCIDR(s)`, which kube-controller-manager fills only when it runs with
 * `--allocate-node-cidrs=true --cluster-cidr=...` (kubeadm sets both from `--pod-network-cidr`). flanneld
 * on a node without one exits with `Error registering network: failed to acquire lease: node "X" pod
 * cidr not assigned`; with IPv4 (IPv6) enabled and no podCIDR of that family it fails configuring
 * flannel.1 (flannel-v6.1); more than two podCIDRs give `pod cidrs should be IPv4/IPv6 only or
 * dualstack` (flannel-facts §1.5, §7.1). `spec.podCIDR(s)` can be set once, never changed.
 */
import {parseCidr, formatCidr, type Cidr, type Family} from '../../lib/ip.js'
import type {KubeNode} from '../../model.js'
import {defineCheck, type Finding} from '../types.js'
import {ev, fail, ok, unavailable} from '../lib/result.js'
import {FLANNEL_CM, FLANNEL_NS} from '../lib/flannel.js'
import {readNetConf} from '../lib/netconf-read.js'
import {flannelPodCommands, nodesPhrase, nodeSubject, podCidrLine, restartFlannelOn} from '../lib/wording.js'
import {
  freeSubnet,
  grepLogs,
  partialFinding,
  podCidrsOf,
  typicalPrefix,
  type LogHit,
} from '../lib/kube-helpers.js'

/** flannel's message, in the current (`failed to acquire lease`) and old (`failed to register network`) wording, also inside Docker JSON logs. */
const NOT_ASSIGNED = /node \\?"?([^"\\\s]+)\\?"? pod cidr not assigned/

interface Ctx {
  network?: Cidr
  network6?: Cidr
  v4: boolean
  v6: boolean
  /** podCIDRs in use, grown as fixes hand out free ones so that two fixes never collide. */
  used: Cidr[]
}

function take(ctx: Ctx, family: Family): string | undefined {
  const net = family === 4 ? ctx.network : ctx.network6
  if (!net) return undefined
  const c = freeSubnet(net, ctx.used, typicalPrefix(ctx.used, family))
  if (!c) return undefined
  ctx.used.push(c)
  return formatCidr(c)
}

function clusterCidr(ctx: Ctx): string {
  const parts: string[] = []
  if (ctx.v4) parts.push(ctx.network ? formatCidr(ctx.network) : '<Network of net-conf.json>')
  if (ctx.v6) parts.push(ctx.network6 ? formatCidr(ctx.network6) : '<IPv6Network of net-conf.json>')
  return parts.join(',')
}

/** Fix for a node that has no podCIDR at all: allocation is off, or assign one by hand. */
function assignFix(name: string, ctx: Ctx): string[] {
  const cidrs: string[] = []
  if (ctx.v4) cidrs.push(take(ctx, 4) ?? '<a free /24 inside Network>')
  if (ctx.v6) cidrs.push(take(ctx, 6) ?? '<a free /64 inside IPv6Network>')
  const cc = clusterCidr(ctx)
  const patch = {spec: {podCIDR: cidrs[0] ?? '', podCIDRs: cidrs}}
  return [
    `# podCIDRs come from kube-controller-manager --allocate-node-cidrs=true --cluster-cidr=${cc} (kubeadm: kubeadm init --pod-network-cidr=${cc})`,
    `kubectl -n kube-system get pod -l component=kube-controller-manager -o yaml | grep -E 'allocate-node-cidrs|cluster-cidr'`,
    `# or assign one by hand (possible only while the node has none):`,
    `kubectl patch node ${name} -p '${JSON.stringify(patch)}'`,
    restartFlannelOn(name),
  ]
}

/** Fix for a node whose podCIDRs exist but lack a family: they are immutable, so re-register the node. */
function reRegisterFix(name: string, ctx: Ctx, missing?: 'IPv4' | 'IPv6'): string[] {
  const out = [
    `# spec.podCIDRs cannot be changed once set: give kube-controller-manager --cluster-cidr=${clusterCidr(ctx)}, then re-register the node`,
    `kubectl drain ${name} --ignore-daemonsets --delete-emptydir-data && kubectl delete node ${name}`,
    `# on ${name}: systemctl restart kubelet`,
  ]
  if (missing)
    out.push(
      `# or, if the cluster is not meant to be dual-stack, set "Enable${missing}": false in net-conf.json: kubectl -n ${FLANNEL_NS} edit cm ${FLANNEL_CM}`,
    )
  return out
}

function logEvidence(hits: readonly LogHit[]): ReturnType<typeof ev>[] {
  const bySource = new Map<string, string[]>()
  for (const h of hits) bySource.set(h.source, [...(bySource.get(h.source) ?? []), h.line])
  // Old daemons retried every second: the first and the last line tell the story.
  return [...bySource].map(([s, lines]) =>
    ev(s, lines.length <= 2 ? lines : [lines[0] ?? '', lines.at(-1) ?? '']),
  )
}

export const check = defineCheck({
  id: 'kube.podcidr-assigned',
  area: 'kube',
  title: 'Every node has a podCIDR (and an IPv6 one when IPv6 is enabled)',
  severity: 'error',
  needs: ['nodes', 'netConf', 'logs'],
  evaluate(facts) {
    const out: Finding[] = []
    const cr = readNetConf(facts, 'the IPv6 podCIDRs')
    const conf = cr.ok ? cr.conf : undefined
    const ctx: Ctx = {v4: conf?.EnableIPv4 ?? true, v6: conf?.EnableIPv6 ?? false, used: []}
    const network = conf?.Network === undefined ? undefined : parseCidr(conf.Network)
    const network6 = conf?.IPv6Network === undefined ? undefined : parseCidr(conf.IPv6Network)
    if (network?.family === 4) ctx.network = network
    if (network6?.family === 6) ctx.network6 = network6

    const logsA = facts.get('logs')
    const hits = logsA.ok ? grepLogs(logsA.source, logsA.value, NOT_ASSIGNED) : []
    const hitsByNode = new Map<string, LogHit[]>()
    for (const h of hits) {
      const name = h.match[1] ?? ''
      hitsByNode.set(name, [...(hitsByNode.get(name) ?? []), h])
    }

    const nodesA = facts.get('nodes')
    const nodes: readonly KubeNode[] = nodesA.ok ? nodesA.value : []
    for (const n of nodes) for (const p of podCidrsOf(n)) if (p.cidr) ctx.used.push(p.cidr)

    // Nodes named by flannel's own log line but absent from (or not given by) the node evidence.
    for (const [name, hs] of hitsByNode) {
      if (nodes.some((n) => n.name === name)) continue
      const where = nodesA.ok ? ` (the node evidence ${nodesA.source} has no node ${name})` : ''
      out.push(
        fail('error', `flannel's log says node ${name} has no podCIDR, so flanneld there exits${where}.`, {
          subject: nodeSubject(name),
          evidence: logEvidence(hs),
          fix: assignFix(name, ctx),
        }),
      )
    }
    if (!nodesA.ok) {
      out.push(unavailable('the Kubernetes nodes', nodesA))
      return out
    }

    const src = nodesA.source
    let good = 0
    const v6Unseen: string[] = []
    for (const n of nodes) {
      const cidrs = podCidrsOf(n)
      const has4 = cidrs.some((p) => p.cidr?.family === 4)
      const has6 = cidrs.some((p) => p.cidr?.family === 6)
      const bad = cidrs.filter((p) => !p.cidr)
      const evid = [ev(src, [podCidrLine(n)]), ...logEvidence(hitsByNode.get(n.name) ?? [])]
      const subject = nodeSubject(n.name)
      if (!n.podCIDR && n.podCIDRs.length === 0) {
        out.push(
          fail(
            'error',
            `Node ${n.name} has no spec.podCIDR, so flanneld there exits with "node \\"${n.name}\\" pod cidr not assigned" and its pods get no network.`,
            {subject, evidence: evid, fix: assignFix(n.name, ctx)},
          ),
        )
        continue
      }
      if (bad.length > 0) {
        out.push(
          fail(
            'error',
            `Node ${n.name} has a podCIDR that is not a CIDR (${bad.map((b) => b.raw).join(', ')}).`,
            {
              subject,
              evidence: evid,
              fix: reRegisterFix(n.name, ctx),
            },
          ),
        )
        continue
      }
      if (n.podCIDRs.length > 2) {
        out.push(
          fail(
            'error',
            `Node ${n.name} has ${n.podCIDRs.length} podCIDRs, and flannel refuses more than two: "node \\"${n.name}\\" pod cidrs should be IPv4/IPv6 only or dualstack".`,
            {subject, evidence: evid, fix: reRegisterFix(n.name, ctx)},
          ),
        )
        continue
      }
      if (ctx.v4 && !has4) {
        out.push(
          fail(
            'error',
            `Node ${n.name} has no IPv4 podCIDR (only ${cidrs.map((c) => c.raw).join(', ')}) while net-conf enables IPv4, so flanneld fails with "IPv4 is enabled but the lease has no IPv4".`,
            {subject, evidence: evid, fix: reRegisterFix(n.name, ctx, 'IPv4')},
          ),
        )
        continue
      }
      if (ctx.v6 && !has6) {
        if (n.partial) {
          v6Unseen.push(n.name)
          continue
        }
        out.push(
          fail(
            'error',
            `Node ${n.name} has no IPv6 podCIDR (only ${cidrs.map((c) => c.raw).join(', ')}) while net-conf enables IPv6, so flanneld fails with "IPv6 is enabled but the lease has no IPv6".`,
            {subject, evidence: evid, fix: reRegisterFix(n.name, ctx, 'IPv6')},
          ),
        )
        continue
      }
      good++
      const stale = hitsByNode.get(n.name)
      if (stale) {
        out.push(
          fail(
            'info',
            `flannel's log says node ${n.name} had no podCIDR, but it now has ${cidrs.map((c) => c.raw).join(', ')}: the log predates the assignment.`,
            {
              subject,
              evidence: evid,
              fix: [`# if its flannel pod still crash-loops:`, restartFlannelOn(n.name)],
            },
          ),
        )
      }
    }
    if (v6Unseen.length > 0) out.push(partialFinding(src, 'whether they have an IPv6 podCIDR', v6Unseen))
    if (nodes.length === 0) {
      out.push(
        fail('warning', `The node evidence lists no nodes, so no podCIDR could be checked.`, {
          evidence: [ev(src, [])],
          fix: ['kubectl get nodes -o wide', ...flannelPodCommands(undefined)],
        }),
      )
    } else if (good + v6Unseen.length === nodes.length) {
      const v6 = ctx.v6 && v6Unseen.length === 0
      const fam = v6
        ? ctx.v4
          ? 'an IPv4 and an IPv6 podCIDR'
          : 'an IPv6 podCIDR'
        : ctx.v4
          ? 'an IPv4 podCIDR'
          : 'a podCIDR'
      const note = conf ? '' : ' (IPv6 not checked: net-conf.json was not available)'
      const all = nodesPhrase(nodes.map((n) => n.name))
      out.push(
        ok(`${all.phrase} ${all.plural ? 'have' : 'has'} ${fam}${note}.`, {
          evidence: [ev(src, nodes.map(podCidrLine))],
        }),
      )
    }
    return out
  },
})
