/**
 * kube.public-ip-unique — every flannel writes the address it tunnels from into its node's
 * `flannel.alpha.coreos.com/public-ip` annotation, and every peer sends that node's pod traffic there
 * (vxlan FDB `dst`, host-gw route `via`; flannel-facts §3.3, §3.5). flanneld picks the interface of the
 * default route unless told otherwise (§8), so on Vagrant/VirtualBox every VM advertises the NAT address
 * `10.0.2.15` and all tunnels lead to one place (§10). A public IP that is not an address of its node
 * only works when it was set on purpose (`public-ip-overwrite` for NAT).
 */
import {cidrContainsIP, normalizeIP, parseCidr, type Cidr} from '../../lib/ip.js'
import type {KubeNode} from '../../model.js'
import {defineCheck, type Finding} from '../types.js'
import {ANN, FLANNEL_DS, FLANNEL_NS, selfOf} from '../lib/flannel.js'
import {ev, fail, ok, skip, unavailable} from '../lib/result.js'
import {addressLine, annotationLine, listNames, nodeSubject, restartFlannelOn} from '../lib/wording.js'
import {nodeIPs, partialFinding} from '../lib/kube-helpers.js'

/** VirtualBox (and QEMU user-mode) NAT network: the same guest address on every VM. */
const NAT_NET = parseCidr('10.0.2.0/24') as Cidr

interface Family {
  label: 'IPv4' | 'IPv6'
  key: string
  overwrite: string
  nodePublic: string
}

const FAMILIES: Family[] = [
  {label: 'IPv4', key: ANN.publicIP, overwrite: ANN.publicIPOverwrite, nodePublic: ANN.nodePublicIP},
  {
    label: 'IPv6',
    key: ANN.publicIPv6,
    overwrite: ANN.publicIPv6Overwrite,
    nodePublic: `${ANN.nodePublicIP}v6`,
  },
]

const annotated = (n: KubeNode, key: string): string | undefined => {
  const v = n.annotations[key]?.trim()
  return v ? (normalizeIP(v) ?? v) : undefined
}

export const check = defineCheck({
  id: 'kube.public-ip-unique',
  area: 'kube',
  title: "Every node's flannel public IP is distinct and is an address of that node",
  severity: 'error',
  needs: ['nodes', 'host', 'addrs'],
  evaluate(facts) {
    const nodesA = facts.get('nodes')
    if (!nodesA.ok) return [unavailable('the Kubernetes nodes', nodesA)]
    const src = nodesA.source
    const out: Finding[] = []
    const partial = nodesA.value.filter((n) => n.partial).map((n) => n.name)
    const nodes = nodesA.value.filter((n) => !n.partial)
    if (partial.length > 0) out.push(partialFinding(src, 'their flannel public-ip annotations', partial))
    const self = selfOf(facts, nodesA.value)
    const addrsA = facts.get('addrs')
    const hostIPs = new Set(addrsA.ok ? addrsA.value.map((a) => normalizeIP(a.address) ?? a.address) : [])
    let seen = 0

    for (const fam of FAMILIES) {
      const byIP = new Map<string, KubeNode[]>()
      for (const n of nodes) {
        const ip = annotated(n, fam.key)
        if (ip === undefined) continue
        seen++
        byIP.set(ip, [...(byIP.get(ip) ?? []), n])
      }

      // Distinct.
      for (const [ip, group] of byIP) {
        if (group.length < 2) continue
        const names = group.map((n) => n.name)
        const nat = cidrContainsIP(NAT_NET, ip)
        // A per-node address that differs from the shared one is what flannel should use instead.
        const alt = (n: KubeNode): string | undefined =>
          nodeIPs(n).find((x) => x.ip !== ip && (fam.label === 'IPv4' ? x.family === 4 : x.family === 6))?.ip
        const peerIP = group.map(alt).find((x) => x !== undefined)
        const fix = [
          `# make flanneld pick the interface of the cluster network instead of the default route's${nat ? ' (Vagrant: eth1)' : ''}:`,
          `kubectl -n ${FLANNEL_NS} set env ds/${FLANNEL_DS} -c kube-flannel FLANNELD_IFACE=${nat ? 'eth1' : '<interface of the node network>'}`,
          `# or pick it by a node address it must reach: kubectl -n ${FLANNEL_NS} set env ds/${FLANNEL_DS} -c kube-flannel FLANNELD_IFACE_CAN_REACH=${peerIP ?? '<another node address>'}`,
          `# or set each node's address explicitly, then restart its flannel pod:`,
        ]
        for (const n of group) {
          const a = alt(n)
          if (a === undefined) continue
          fix.push(
            `kubectl annotate node ${n.name} ${fam.overwrite}=${a} --overwrite`,
            restartFlannelOn(n.name),
          )
        }
        out.push(
          fail(
            'error',
            `Nodes ${listNames(names)} ${group.length === 2 ? 'both' : 'all'} advertise ${fam.label} public IP ${ip}${nat ? " (VirtualBox/Vagrant's NAT address)" : ''}, so peers send the pod traffic of all of them to one address.`,
            {
              subject: `nodes ${listNames(names)}`,
              evidence: [
                ev(
                  src,
                  group.map((n) => annotationLine(n, fam.key)),
                ),
              ],
              fix,
            },
          ),
        )
      }

      // Each is an address of its node, or set on purpose.
      for (const [ip, group] of byIP) {
        if (group.length > 1) continue // reported above
        for (const n of group) {
          const own = nodeIPs(n).some((x) => x.ip === ip)
          const isSelf = self?.node === n
          const onHost = isSelf && addrsA.ok && hostIPs.has(ip)
          const over = annotated(n, fam.overwrite) ?? annotated(n, fam.nodePublic)
          const subject = nodeSubject(n.name)
          const evid = [
            ev(src, [
              annotationLine(n, fam.key),
              ...(over !== undefined
                ? [annotationLine(n, n.annotations[fam.overwrite] ? fam.overwrite : fam.nodePublic)]
                : []),
              ...nodeIPs(n).map((x) => addressLine(n, x)),
            ]),
          ]
          if (over !== undefined && over !== ip) {
            out.push(
              fail(
                'warning',
                `Node ${n.name} advertises public IP ${ip} but its override annotation says ${over}: flannel applies the override only when it starts.`,
                {subject, evidence: evid, fix: [restartFlannelOn(n.name)]},
              ),
            )
            continue
          }
          if (own || onHost || over !== undefined) continue
          if (isSelf && addrsA.ok) {
            out.push(
              fail(
                'error',
                `Node ${n.name} (this host, found by ${self?.how ?? 'its name'}) advertises public IP ${ip}, which is neither one of its node addresses nor an address of this host, so peers tunnel its pod traffic elsewhere.`,
                {
                  subject,
                  evidence: [...evid, ev(addrsA.source, [...addrsA.value.map((a) => a.raw)].slice(0, 12))],
                  fix: [
                    `# if this node is reachable at ${ip} only through NAT, say so explicitly:`,
                    `kubectl annotate node ${n.name} ${fam.overwrite}=${ip} --overwrite`,
                    `# otherwise point flanneld at the right interface (FLANNELD_IFACE / FLANNELD_IFACE_CAN_REACH) and restart it:`,
                    restartFlannelOn(n.name),
                  ],
                },
              ),
            )
            continue
          }
          const addrs = nodeIPs(n).map((x) => x.ip)
          out.push(
            fail(
              'warning',
              `Node ${n.name} advertises public IP ${ip}, which is not among its node addresses (${addrs.length > 0 ? addrs.join(', ') : 'none listed'}) and has no ${fam.overwrite} annotation.`,
              {
                subject,
                evidence: evid,
                fix: [
                  `# fine if flanneld on ${n.name} runs with --iface/--public-ip on another NIC; check on ${n.name}: ip -br addr | grep -w ${ip}`,
                  `# if ${ip} is a NAT address that peers reach, record it: kubectl annotate node ${n.name} ${fam.overwrite}=${ip} --overwrite`,
                ],
              },
            ),
          )
        }
      }
    }

    if (nodes.length > 0 && !out.some((f) => f.status === 'error' || f.status === 'warning')) {
      out.push(
        seen === 0
          ? skip(
              `No node carries a ${ANN.publicIP} annotation yet, so there is nothing to compare (see kube.flannel-annotations).`,
              {
                evidence: [
                  ev(
                    src,
                    nodes.map((n) => annotationLine(n, ANN.publicIP)),
                  ),
                ],
              },
            )
          : ok(
              `The ${seen} flannel public IPs are distinct and each is an address of its node (or an explicit override).`,
              {
                evidence: [
                  ev(
                    src,
                    nodes.flatMap((n) =>
                      FAMILIES.filter((f) => n.annotations[f.key]).map((f) => annotationLine(n, f.key)),
                    ),
                  ),
                ],
              },
            ),
      )
    }
    return out
  },
})
