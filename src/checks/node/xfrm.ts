/**
 * node.xfrm — the ipsec backend's policies and SAs match the cluster.
 *
 * Why (flannel-facts §6.1): for every other node flanneld installs three xfrm policies itself (charon runs with
 * install_policy=no): `out` (own subnet → peer subnet, template own public IP → peer public IP) and `in` + `fwd`
 * (peer subnet → own subnet, template peer → own), all `proto esp reqid 11 mode tunnel`. charon negotiates the SAs
 * (xfrm states) that carry reqid 11; without one per direction the policies match but nothing is encrypted, so
 * traffic to that peer is dropped. flannel never removes policies of nodes that are gone and does not restore
 * policies deleted by hand until it restarts; the documented recovery is `ip xfrm state flush && ip xfrm
 * policy flush` followed by a restart of flannel on the node.
 */
import type {XfrmPolicy, XfrmState} from '../../model.js'
import type {Finding} from '../types.js'
import {defineCheck} from '../types.js'
import {ev, fail, needAll, ok, skip, unknown} from '../lib/result.js'
import {FLANNEL_IPSEC_REQID, nodePublicIP, nodeSubnet, peerNodes, selfOf} from '../lib/flannel.js'
import {readNetConf} from '../lib/netconf-read.js'
import {restartFlannelOn} from '../lib/wording.js'
import {formatCidr, normalizeCidr, normalizeIP} from '../../lib/ip.js'

const cidr = (s: string): string => normalizeCidr(s) ?? s
const ip = (s: string): string => normalizeIP(s) ?? s

interface Want {
  dir: XfrmPolicy['dir']
  src: string
  dst: string
  tsrc: string
  tdst: string
}

const isFlannel = (p: XfrmPolicy): boolean =>
  !p.socket && p.tmpls.some((t) => t.reqid === FLANNEL_IPSEC_REQID)
const tmplOf = (p: XfrmPolicy): XfrmPolicy['tmpls'][number] | undefined =>
  p.tmpls.find((t) => t.reqid === FLANNEL_IPSEC_REQID)
const lines = (raw: string): string[] => raw.split('\n').map((l) => l.trimEnd())
const describeWant = (w: Want): string =>
  `${w.dir} ${w.src} → ${w.dst} (tunnel ${w.tsrc} → ${w.tdst}, esp reqid ${FLANNEL_IPSEC_REQID})`

export const check = defineCheck({
  id: 'node.xfrm',
  area: 'node',
  title: 'ipsec: three reqid-11 policies and SAs per peer, none for nodes that are gone',
  severity: 'error',
  needs: ['netConf', 'xfrmPolicies', 'xfrmStates', 'nodes', 'host', 'addrs'],
  evaluate(facts) {
    const nc = readNetConf(facts, 'the data path')
    if (!nc.ok) return [nc.finding]
    if (nc.conf.backendType !== 'ipsec')
      return [
        skip(`The backend is ${nc.conf.backendType || '""'}, not ipsec: flannel installs no xfrm policies.`),
      ]
    const got = needAll(facts, ['xfrmPolicies', 'nodes'] as const, [
      'the IPsec policies (ip xfrm policy)',
      'the nodes',
    ])
    if (!got.ok) return [got.finding]
    const [policies, nodes] = got.values
    const [polSrc, nodeSrc] = got.sources as [string, string]
    const statesA = facts.get('xfrmStates')
    const states: XfrmState[] | undefined = statesA.ok ? statesA.value : undefined
    const self = selfOf(facts, nodes)
    if (!self) {
      return [
        unknown(
          `Could not tell which of the ${nodes.length} nodes is this host, so its expected policies are unknown.`,
          {
            hint: 'pass --node-name NAME (or set NODE_NAME)',
          },
        ),
      ]
    }
    const me = self.node
    const mySub = nodeSubnet(me)
    const myPub = nodePublicIP(me)
    if (!mySub || !myPub) {
      return [
        unknown(
          `Node ${me.name} has no ${mySub ? 'public-ip annotation' : 'IPv4 podCIDR'}, so its tunnels cannot be derived.`,
          {
            evidence: [ev(nodeSrc, [`node ${me.name}`])],
            hint: 'see kube.flannel-annotations and kube.podcidr-assigned',
          },
        ),
      ]
    }
    const mine = formatCidr(mySub)
    const restart = ['ip xfrm state flush && ip xfrm policy flush', restartFlannelOn(me.name)]
    const flannelPols = policies.filter(isFlannel)
    const used = new Set<XfrmPolicy>()
    const findings: Finding[] = []
    const peers = peerNodes(nodes, me)
    const peerPubs = new Set<string>()
    const peerSubs = new Set<string>()

    for (const peer of peers) {
      const sub = nodeSubnet(peer)
      const pub = nodePublicIP(peer)
      if (!sub || !pub) {
        findings.push(
          unknown(
            `Peer ${peer.name} has no ${sub ? 'public-ip annotation' : 'IPv4 podCIDR'}; flannel skips it too.`,
            {subject: `node ${peer.name}`},
          ),
        )
        continue
      }
      const theirs = formatCidr(sub)
      peerPubs.add(pub)
      peerSubs.add(theirs)
      const wants: Want[] = [
        {dir: 'out', src: mine, dst: theirs, tsrc: myPub, tdst: pub},
        {dir: 'in', src: theirs, dst: mine, tsrc: pub, tdst: myPub},
        {dir: 'fwd', src: theirs, dst: mine, tsrc: pub, tdst: myPub},
      ]
      const problems: string[] = []
      const evLines: string[] = []
      for (const w of wants) {
        const same = flannelPols.filter(
          (p) => p.dir === w.dir && cidr(p.src) === w.src && cidr(p.dst) === w.dst,
        )
        same.forEach((p) => used.add(p))
        same.forEach((p) => evLines.push(...lines(p.raw)))
        if (same.length === 0) {
          problems.push(`no ${describeWant(w)} policy`)
          continue
        }
        if (same.length > 1) problems.push(`${same.length} ${w.dir} policies for ${w.src} → ${w.dst}`)
        const t = tmplOf(same[0] as XfrmPolicy)
        if (t && (ip(t.src) !== w.tsrc || ip(t.dst) !== w.tdst))
          problems.push(
            `the ${w.dir} policy tunnels ${t.src} → ${t.dst} instead of ${w.tsrc} → ${w.tdst} (stale public IP)`,
          )
        if (t && t.mode !== undefined && t.mode !== 'tunnel')
          problems.push(`the ${w.dir} policy is mode ${t.mode}, not tunnel`)
      }
      // SAs: one per direction between the public IPs, bound to reqid 11.
      const saEv: string[] = []
      const noSa: string[] = []
      if (states) {
        for (const [a, b] of [
          [myPub, pub],
          [pub, myPub],
        ] as const) {
          const sas = states.filter((s) => s.proto === 'esp' && ip(s.src) === a && ip(s.dst) === b)
          const bound = sas.filter((s) => s.reqid === FLANNEL_IPSEC_REQID)
          sas.forEach((s) => saEv.push(...lines(s.raw).slice(0, 2)))
          if (bound.length > 0) continue
          if (sas.length > 0)
            problems.push(
              `the ESP SA ${a} → ${b} has reqid ${sas.map((s) => s.reqid ?? '?').join('/')}, not ${FLANNEL_IPSEC_REQID}`,
            )
          else noSa.push(`${a} → ${b}`)
        }
        if (noSa.length > 0)
          problems.push(
            `no ESP SA ${noSa.join(' nor ')} (IKE not established: charon down, PSK mismatch, or UDP 500/4500 or ESP blocked)`,
          )
      }
      const evidence = [ev(polSrc, evLines.length > 0 ? evLines : ['(no matching policy)'])]
      if (states && statesA.ok)
        evidence.push(ev(statesA.source, saEv.length > 0 ? saEv : ['(no SA between these public IPs)']))
      evidence.push(
        ev(nodeSrc, [
          `node ${me.name}: podCIDR ${mine}, public-ip ${myPub}`,
          `node ${peer.name}: podCIDR ${theirs}, public-ip ${pub}`,
        ]),
      )
      if (problems.length > 0) {
        findings.push(
          fail('error', `Peer ${peer.name} (${theirs} at ${pub}): ${problems.join('; ')}.`, {
            subject: `node ${peer.name}`,
            evidence,
            fix: restart,
          }),
        )
      } else {
        findings.push(
          ok(
            `Peer ${peer.name}: out/in/fwd policies (reqid ${FLANNEL_IPSEC_REQID}) ${mine} ↔ ${theirs} via ${myPub} ↔ ${pub}${states ? ' and an SA each way' : ''}.`,
            {
              subject: `node ${peer.name}`,
              evidence,
            },
          ),
        )
      }
    }

    // Policies of nodes that are gone: flannel never removes them.
    const stale = flannelPols.filter((p) => !used.has(p))
    if (stale.length > 0) {
      const gone = new Set<string>()
      for (const p of stale) {
        const other = cidr(p.src) === mine ? cidr(p.dst) : cidr(p.src)
        const t = tmplOf(p)
        const far = t ? (ip(t.src) === myPub ? ip(t.dst) : ip(t.src)) : '?'
        gone.add(peerSubs.has(other) ? `${other} (duplicate)` : `${other} at ${far}`)
      }
      findings.push(
        fail(
          'error',
          `${stale.length} flannel xfrm polic${stale.length === 1 ? 'y belongs' : 'ies belong'} to no current node: ${[...gone].join(', ')}; flannel never removes them.`,
          {
            subject: 'leftover policies',
            evidence: [
              ev(
                polSrc,
                stale.flatMap((p) => lines(p.raw)),
              ),
            ],
            fix: restart,
          },
        ),
      )
    }
    if (states && statesA.ok) {
      const strays = states.filter(
        (s) =>
          s.reqid === FLANNEL_IPSEC_REQID &&
          !(
            (ip(s.src) === myPub && peerPubs.has(ip(s.dst))) ||
            (ip(s.dst) === myPub && peerPubs.has(ip(s.src)))
          ),
      )
      if (strays.length > 0) {
        findings.push(
          fail(
            'warning',
            `${strays.length} reqid-${FLANNEL_IPSEC_REQID} SA(s) lead to addresses that are no node's public IP: ${[...new Set(strays.map((s) => `${s.src} → ${s.dst}`))].join(', ')}.`,
            {
              subject: 'leftover SAs',
              evidence: [
                ev(
                  statesA.source,
                  strays.flatMap((s) => lines(s.raw).slice(0, 2)),
                ),
              ],
              fix: restart,
            },
          ),
        )
      }
    } else if (!statesA.ok) {
      findings.push(
        unknown(
          `The SAs (ip xfrm state) were not available: ${statesA.reason}; only the policies were checked.`,
          {
            hint: statesA.hint ?? 'capture `ip xfrm state` as root (collect redacts the keys)',
          },
        ),
      )
    }
    if (peers.length === 0 && stale.length === 0)
      findings.push(
        ok(`Node ${me.name} has no flannel peers and no leftover flannel policies.`, {
          evidence: [ev(nodeSrc, [`node ${me.name}`])],
        }),
      )
    return findings
  },
})
