/**
 * node.peers — every other flannel node is reachable through exactly the entries flannel programs.
 *
 * Why (flannel-facts §2.4, §3.3, §3.4; vxlan_network.go, route_network.go): for each remote lease the
 * vxlan backend adds one PERMANENT neighbour (peer subnet base → peer VtepMAC) on flannel.N, one FDB entry
 * (VtepMAC → peer public IP, `self permanent`) and one route `<podCIDR> via <base> dev flannel.N onlink`,
 * in that order. With DirectRouting and a peer whose public IP is on a connected network, it installs
 * `<podCIDR> via <public IP>` instead. host-gw installs `<podCIDR> via <public IP> dev <ext iface>`.
 * Entries are only added and removed on node events, so a missed event, a peer whose MAC or IP changed
 * while this flannel was down, or a node that left leaves the tables wrong until flannel restarts.
 */
import type {Finding, Severity} from '../types.js'
import {defineCheck} from '../types.js'
import {ev, fail, needAll, ok, skip, unknown} from '../lib/result.js'
import {ANN, nodeSubnet, peerNodes, selfOf} from '../lib/flannel.js'
import {readNetConf} from '../lib/netconf-read.js'
import {restartFlannelOn, selfUnknown} from '../lib/wording.js'
import {
  backendDataKey,
  desiredPeerState,
  diffDataPath,
  enabledFamilies,
  flannelNetwork,
  reachFromRoutes,
  routeFamily,
  type EntryKind,
  unsupportedPeerBackend,
  type PeerDiff,
} from '../lib/datapath.js'
import {annotationLine, podCidrLine} from '../lib/wording.js'
import type {Evidence} from '../types.js'
import type {FdbEntry, KubeNode, Neigh} from '../../model.js'
import type {Cidr} from '../../lib/ip.js'

const RANK: Record<Severity, number> = {error: 3, warning: 2, info: 1}

export const check = defineCheck({
  id: 'node.peers',
  area: 'node',
  title: 'Every peer node has its neighbour, FDB and route entries, and nothing stale is left',
  severity: 'error',
  needs: ['netConf', 'nodes', 'host', 'addrs', 'routes', 'neighs', 'fdb'],
  evaluate(facts) {
    const nc = readNetConf(facts, 'the data path')
    if (!nc.ok) return [nc.finding]
    const conf = nc.conf
    const unsupported = unsupportedPeerBackend(conf.backendType)
    if (unsupported !== undefined) return [skip(`Not checked for this backend: ${unsupported}.`)]
    const vxlan = conf.backendType === 'vxlan'

    const base = needAll(facts, ['nodes', 'routes'] as const, ['the nodes', 'the routes (ip route)'])
    if (!base.ok) return [base.finding]
    const [nodes, routes] = base.values
    const [nodesSrc, routesSrc] = base.sources as [string, string]
    let neighs: {value: Neigh[]; source: string} | undefined
    let fdb: {value: FdbEntry[]; source: string} | undefined
    if (vxlan) {
      const more = needAll(facts, ['neighs', 'fdb'] as const, [
        'the neighbours (ip neigh)',
        'the forwarding database (bridge fdb)',
      ])
      if (!more.ok) return [more.finding]
      neighs = {value: more.values[0], source: more.sources[0] as string}
      fdb = {value: more.values[1], source: more.sources[1] as string}
    }
    if (nodes.some((n) => n.partial)) {
      return [
        unknown(
          'The nodes evidence has only names and podCIDRs (podcidrs.txt), so peers’ public IPs and VtepMACs are unknown',
          {
            evidence: [ev(nodesSrc, [])],
            hint: 'kubectl get nodes -o json > kubernetes/nodes.json',
          },
        ),
      ]
    }
    const self = selfOf(facts, nodes)
    if (!self) return [selfUnknown(nodes)]
    const me = self.node
    const peers = peerNodes(nodes, me)
    const reach = reachFromRoutes(routes)
    const byName = new Map(nodes.map((n) => [n.name, n]))
    const findings: Finding[] = []

    for (const family of enabledFamilies(conf)) {
      if (family === 6 && !routes.some((r) => routeFamily(r) === 6)) {
        findings.push(
          unknown('IPv6 peers are not checked: the route evidence holds no IPv6 route', {
            evidence: [ev(routesSrc, [])],
            hint: 'add the output of `ip -6 route` to the route capture',
          }),
        )
        continue
      }
      const d = desiredPeerState({conf, family, self: me, peers, reach})
      if (!d.ok) continue
      const desired = d.value
      const ownSubnet = nodeSubnet(me, family)
      const network = flannelNetwork(conf, family)
      const opts: {network?: Cidr; ownSubnet?: Cidr} = {}
      if (network) opts.network = network
      if (ownSubnet) opts.ownSubnet = ownSubnet
      const obs = {routes, ...(neighs ? {neighs: neighs.value} : {}), ...(fdb ? {fdb: fdb.value} : {})}
      const diff = diffDataPath(desired, obs, opts)
      const sourceOf: Record<EntryKind, string> = {
        neighbour: neighs?.source ?? 'neighs',
        fdb: fdb?.source ?? 'fdb',
        route: routesSrc,
      }

      for (const pd of diff.peers)
        findings.push(peerFinding(pd, byName.get(pd.peer.node), nodesSrc, sourceOf, me.name))

      for (const i of desired.ignored) {
        const n = byName.get(i.node)
        findings.push(
          fail('info', `flannel programs nothing for ${i.node}: ${i.reason} (see ${i.seeAlso}).`, {
            subject: `peer ${i.node}${i.subnet ? ` (${i.subnet})` : ''}`,
            evidence: n
              ? [
                  ev(nodesSrc, [
                    annotationLine(n, ANN.backendType),
                    annotationLine(n, backendDataKey(family)),
                    podCidrLine(n),
                  ]),
                ]
              : [],
          }),
        )
      }

      for (const g of diff.leftovers) {
        const parts = [
          ...g.routes.map((r) => `route ${r.raw.trim()}`),
          ...g.neighs.map((n) => `neighbour ${n.dst} → ${n.lladdr ?? '(none)'}`),
          ...g.fdb.map((e) => `FDB ${e.mac} → ${e.dst ?? '(no dst)'}`),
        ]
        const onDevice =
          g.neighs.length > 0 || g.fdb.length > 0 || g.routes.some((r) => r.dev === desired.device)
        const where = onDevice && desired.device !== undefined ? desired.device : 'The routing table'
        const evidence: Evidence[] = []
        if (g.routes.length > 0)
          evidence.push(
            ev(
              routesSrc,
              g.routes.map((r) => r.raw.trim()),
            ),
          )
        if (g.neighs.length > 0)
          evidence.push(
            ev(
              sourceOf.neighbour,
              g.neighs.map((n) => n.raw.trim()),
            ),
          )
        if (g.fdb.length > 0)
          evidence.push(
            ev(
              sourceOf.fdb,
              g.fdb.map((e) => e.raw.trim()),
            ),
          )
        findings.push(
          fail(
            'warning',
            `${where} still has entries for ${g.label}, which belongs to no current flannel node (left by a node that is gone or changed): ${parts.join('; ')}.`,
            {
              subject: `leftover ${g.label}`,
              evidence,
              fix: g.fix,
            },
          ),
        )
      }
      if (diff.peers.length === 0 && desired.ignored.length === 0 && diff.leftovers.length === 0) {
        findings.push(
          ok(
            `${me.name} is the only flannel node${family === 6 ? ' (IPv6)' : ''}: no peer to program and nothing stale left.`,
            {
              evidence: [
                ev(
                  nodesSrc,
                  nodes.map((n) => n.name),
                ),
              ],
            },
          ),
        )
      }
    }
    if (findings.length === 0) findings.push(skip('Neither IPv4 nor IPv6 is enabled in net-conf.json.'))
    return findings
  },
})

function peerFinding(
  pd: PeerDiff,
  node: KubeNode | undefined,
  nodesSrc: string,
  sourceOf: Record<EntryKind, string>,
  selfName: string,
): Finding {
  const p = pd.peer
  const subject = `peer ${p.node} (${p.subnet})`
  const nodeEv = node
    ? [
        ev(nodesSrc, [
          podCidrLine(node),
          annotationLine(node, p.family === 4 ? ANN.publicIP : ANN.publicIPv6),
          ...(p.mac ? [annotationLine(node, backendDataKey(p.family))] : []),
        ]),
      ]
    : []
  const how =
    p.mode === 'vxlan'
      ? `over ${p.route.dev} to ${p.publicIP} (VtepMAC ${p.mac})`
      : p.mode === 'direct'
        ? `directly via ${p.publicIP} (DirectRouting: ${p.reach.why})`
        : `via ${p.publicIP}${p.route.dev ? ` dev ${p.route.dev}` : ''} (host-gw)`
  const matchedEv = (kinds: EntryKind[]): Evidence[] =>
    kinds
      .map((k) =>
        ev(
          sourceOf[k],
          pd.matched.filter((m) => m.kind === k).map((m) => m.raw.trim()),
        ),
      )
      .filter((e) => e.lines.length > 0)

  if (pd.problems.length === 0 && !p.unreachable) {
    return ok(
      `${p.node}'s ${p.mode === 'vxlan' ? 'neighbour, FDB entry and route are' : 'route is'} in place: ${p.subnet} ${how}.`,
      {
        subject,
        evidence: [...nodeEv, ...matchedEv(['neighbour', 'fdb', 'route'])],
      },
    )
  }
  let sev: Severity = 'info'
  for (const x of pd.problems) if (RANK[x.severity] > RANK[sev]) sev = x.severity
  const clauses = pd.problems.map((x) => x.what)
  if (p.unreachable) {
    sev = 'error'
    clauses.unshift(p.unreachable)
  }
  const have: Evidence[] = (['neighbour', 'fdb', 'route'] as EntryKind[])
    .map((k) =>
      ev(
        sourceOf[k],
        pd.problems.filter((x) => x.kind === k).flatMap((x) => x.have.map((h) => h.trim())),
      ),
    )
    .filter((e) => e.lines.length > 0)
  const fix: string[] = []
  for (const x of pd.problems) for (const f of x.fix) if (!fix.includes(f)) fix.push(f)
  if (p.unreachable)
    fix.push(
      '# or use the vxlan backend with "DirectRouting": true, which encapsulates only towards peers that are not on this segment',
    )
  if (pd.problems.some((x) => x.state === 'missing' || x.severity === 'error'))
    fix.push('# or restart flannel on this node, which re-programs every peer:', restartFlannelOn(selfName))
  return fail(
    sev,
    `${p.node} (${p.subnet}, public IP ${p.publicIP}) is to be reached ${how}, but ${clauses.join('; ')}.`,
    {
      subject,
      evidence: [...nodeEv, ...have, ...matchedEv(['neighbour', 'fdb', 'route'])],
      fix,
    },
  )
}
