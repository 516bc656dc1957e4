/**
 * kube.podcidr-in-network — in kube mode flannel's only validation of the config is that the node's
 * podCIDR lies inside net-conf's `Network` (IPv6: `IPv6Network`); "inside" is Go's check: Network's mask
 * is not longer than the podCIDR's and Network contains the podCIDR's base address. Otherwise flanneld
 * exits with `subnet "N" specified in the flannel net config doesn't contain "P" PodCIDR of the "X" node`
 * (flannel-facts §1.5). The classic cause is the manifest's default `10.244.0.0/16` on a cluster built
 * with another `--pod-network-cidr`; the podCIDRs (immutable) say which side to change.
 */
import {cidrContains, formatCidr, parseCidr, type Cidr, type Family} from '../../lib/ip.js'
import type {KubeNode} from '../../model.js'
import type {NetConfFact} from '../../parse/netconf.js'
import {defineCheck, type Finding} from '../types.js'
import {ev, fail, ok, skip, unavailable} from '../lib/result.js'
import {FLANNEL_CM, FLANNEL_DS, FLANNEL_NS} from '../lib/flannel.js'
import {netConfKeyEvidence, readNetConf} from '../lib/netconf-read.js'
import {listNames, nodeSubject, podCidrLine} from '../lib/wording.js'
import {cmdName, coveringCidr, podCidrsOf, widen} from '../lib/kube-helpers.js'

interface Member {
  node: KubeNode
  raw: string
  cidr: Cidr
}

function editConfFix(key: string, value: string, f: NetConfFact): string[] {
  const out = [
    `kubectl -n ${FLANNEL_NS} edit cm ${FLANNEL_CM}   # in net-conf.json set "${key}": "${value}"`,
    `kubectl -n ${FLANNEL_NS} rollout restart ds ${FLANNEL_DS}`,
  ]
  if (!f.source.includes(FLANNEL_CM) && !f.source.endsWith('/etc/kube-flannel/net-conf.json'))
    out.push(`# or, where flanneld reads ${f.source} directly: edit it there and restart flanneld`)
  return out
}

function reRegisterFix(name: string, network: string): string[] {
  return [
    `kubectl -n kube-system get pod -l component=kube-controller-manager -o yaml | grep cluster-cidr   # should be ${network}`,
    `kubectl drain ${name} --ignore-daemonsets --delete-emptydir-data && kubectl delete node ${name}`,
    `# on ${name}: systemctl restart kubelet   (it re-registers and gets a podCIDR from --cluster-cidr)`,
  ]
}

function evaluateFamily(
  family: Family,
  key: 'Network' | 'IPv6Network',
  value: string | undefined,
  nodes: readonly KubeNode[],
  nodesSource: string,
  f: NetConfFact,
): Finding[] {
  const members: Member[] = []
  for (const n of nodes)
    for (const p of podCidrsOf(n))
      if (p.cidr?.family === family) members.push({node: n, raw: p.raw, cidr: p.cidr})
  if (members.length === 0) return []
  const fam = family === 4 ? 'IPv4' : 'IPv6'
  const confEv = netConfKeyEvidence(f, key, value)
  const parsed = value === undefined ? undefined : parseCidr(value.trim())
  const net = parsed?.family === family ? parsed : undefined
  const cover = coveringCidr(members.map((m) => m.cidr))
  if (!net) {
    const suggest = cover ? formatCidr(cover) : '<the cluster CIDR>'
    return [
      fail(
        'error',
        `net-conf.json has no valid ${key} (${value === undefined ? 'absent' : `"${value}"`}) while ${fam} is enabled, so flannel refuses every node's ${fam} podCIDR.`,
        {
          evidence: [
            confEv,
            ev(
              nodesSource,
              members.map((m) => podCidrLine(m.node)),
            ),
          ],
          fix: editConfFix(key, suggest, f),
        },
      ),
    ]
  }
  const netStr = formatCidr(net)
  const outside = members.filter((m) => !cidrContains(net, m.cidr))
  if (outside.length === 0) {
    return [
      ok(`All ${members.length} ${fam} podCIDRs lie inside ${key} ${netStr}.`, {
        evidence: [
          confEv,
          ev(
            nodesSource,
            members.map((m) => podCidrLine(m.node)),
          ),
        ],
      }),
    ]
  }
  // Which side is wrong: if no podCIDR (or only a minority) fits, net-conf disagrees with the cluster CIDR;
  // if most fit, the odd nodes got their podCIDR elsewhere (hand-patched, or --cluster-cidr changed).
  const confWrong = outside.length * 2 >= members.length
  const suggested = cover ? formatCidr(widen(cover, net.prefix)) : undefined
  const wider = coveringCidr([net, ...members.map((m) => m.cidr)])
  const out: Finding[] = []
  for (const m of outside) {
    const flannelMsg =
      `subnet "${netStr}" specified in the flannel net config doesn't contain "${m.raw}" ` +
      `${family === 6 ? 'IPv6 ' : ''}PodCIDR of the "${m.node.name}" node`
    let fix: string[]
    if (confWrong) {
      fix = [
        `# ${outside.length} of ${members.length} ${fam} podCIDRs lie outside ${netStr}${suggested ? ` and all lie in ${suggested}` : ''}: net-conf's ${key} is the side to change`,
        ...editConfFix(key, suggested ?? '<the cluster CIDR>', f),
      ]
    } else {
      fix = [
        `# the other ${members.length - outside.length} nodes' podCIDRs lie inside ${netStr}: ${m.node.name}'s podCIDR is the odd one`,
        ...reRegisterFix(cmdName(m.node), netStr),
      ]
      if (wider && wider.prefix >= net.prefix - 4)
        fix.push(`# or widen ${key} to cover it: ${editConfFix(key, formatCidr(wider), f)[0] ?? ''}`)
    }
    out.push(
      fail(
        'error',
        `Node ${m.node.name}'s ${fam} podCIDR ${m.raw} lies outside ${key} ${netStr}, so flanneld there exits with "${flannelMsg}".`,
        {subject: nodeSubject(m.node.name), evidence: [confEv, ev(nodesSource, [podCidrLine(m.node)])], fix},
      ),
    )
  }
  const inside = members.filter((m) => !outside.includes(m))
  if (inside.length > 0)
    out.push(
      ok(`The ${fam} podCIDRs of ${listNames(inside.map((m) => m.node.name))} lie inside ${key} ${netStr}.`, {
        evidence: [
          confEv,
          ev(
            nodesSource,
            inside.map((m) => podCidrLine(m.node)),
          ),
        ],
      }),
    )
  return out
}

export const check = defineCheck({
  id: 'kube.podcidr-in-network',
  area: 'kube',
  title: "Every node's podCIDR lies inside net-conf's Network",
  severity: 'error',
  needs: ['nodes', 'netConf'],
  evaluate(facts) {
    const nodesA = facts.get('nodes')
    if (!nodesA.ok) return [unavailable('the Kubernetes nodes', nodesA)]
    const cr = readNetConf(facts, 'whether the podCIDRs lie inside Network')
    if (!cr.ok) return [cr.finding]
    const {conf, fact} = cr
    const out: Finding[] = []
    if (conf.EnableIPv4)
      out.push(...evaluateFamily(4, 'Network', conf.Network, nodesA.value, nodesA.source, fact))
    if (conf.EnableIPv6)
      out.push(...evaluateFamily(6, 'IPv6Network', conf.IPv6Network, nodesA.value, nodesA.source, fact))
    if (out.length === 0)
      out.push(
        skip(
          'No node has a podCIDR of an enabled family to compare with Network (see kube.podcidr-assigned).',
          {
            evidence: [ev(nodesA.source, nodesA.value.map(podCidrLine))],
          },
        ),
      )
    return out
  },
})
