/**
 * kube.network-overlaps-host — flannel routes all of `Network` into the overlay: every pod subnet gets a
 * route via flannel.N (or via the peer's public IP with host-gw/DirectRouting), cni0 holds the own
 * subnet, and the CNI plugin gives every pod a route for the whole Network (flannel-facts §3.3, §3.4,
 * §4.2). Nothing else on the host may use that range: a node address inside Network is unreachable
 * from pods, a LAN/VPN route inside it steals pod traffic (or loses hosts behind it), and Docker's
 * `docker0` bridge (`bip`, 172.17.0.0/16 by default) inside it hijacks replies on every node.
 * flannel itself never checks any of this.
 */
import {cidrContains, cidrContainsIP, cidrsOverlap, formatCidr, parseCidr, type Cidr} from '../../lib/ip.js'
import type {Addr, KubeNode, Route} from '../../model.js'
import type {NetConfFact} from '../../parse/netconf.js'
import {defineCheck, type Evidence, type Finding} from '../types.js'
import {FLANNEL_CM, FLANNEL_NS, selfOf, tunnelDevice} from '../lib/flannel.js'
import {ev, fail, ok, skip, unavailable, unknown} from '../lib/result.js'
import {netConfKeyEvidence, readNetConf} from '../lib/netconf-read.js'
import {addressLine, nodeSubject} from '../lib/wording.js'
import {nodeIPs, partialFinding, podCidrsOf, suggestNetwork} from '../lib/kube-helpers.js'

interface Net {
  key: 'Network' | 'IPv6Network'
  cidr: Cidr
  str: string
  evidence: Evidence
}

/** Route types that describe addresses, not forwarding (the `local` table's entries). */
const NOT_FORWARDING = new Set(['local', 'broadcast', 'multicast', 'anycast', 'nat'])

/** Docker bridge ranges to suggest, in order of preference. */
const BIPS = ['172.17.0.1/16', '172.26.0.1/16', '192.168.250.1/24', '10.250.0.1/16']

function moveNetworkFix(net: Net, avoid: readonly Cidr[]): string[] {
  const s = suggestNetwork(net.cidr.prefix, avoid)
  const to = s ? formatCidr(s) : '<a free private range>'
  return [
    `# or move the pod network to a range nothing else uses, e.g. ${to}: it must equal the cluster CIDR (kubeadm --pod-network-cidr=${to}, kube-controller-manager --cluster-cidr=${to}), so existing nodes must be re-registered`,
    `kubectl -n ${FLANNEL_NS} edit cm ${FLANNEL_CM}   # in net-conf.json set "${net.key}": "${to}"`,
  ]
}

function routeDelCommand(r: Route): string {
  const parts = ['ip', 'route', 'del']
  if (r.type !== 'unicast' && r.type !== '') parts.push(r.type)
  parts.push(r.dst)
  if (r.gateway) parts.push('via', r.gateway)
  if (r.dev) parts.push('dev', r.dev)
  if (r.table && r.table !== 'main') parts.push('table', r.table)
  return parts.join(' ')
}

export const check = defineCheck({
  id: 'kube.network-overlaps-host',
  area: 'kube',
  title: "net-conf's Network overlaps no node address, host route or docker0",
  severity: 'error',
  needs: ['netConf', 'nodes', 'routes', 'addrs', 'links', 'host'],
  evaluate(facts) {
    const cr = readNetConf(facts, 'whether Network overlaps the host networks')
    if (!cr.ok) return [cr.finding]
    const {conf, fact} = cr
    const nets: Net[] = []
    const add = (key: Net['key'], value: string | undefined, family: 4 | 6, f: NetConfFact): void => {
      const c = value === undefined ? undefined : parseCidr(value.trim())
      if (c?.family === family)
        nets.push({key, cidr: c, str: formatCidr(c), evidence: netConfKeyEvidence(f, key, value)})
    }
    if (conf.EnableIPv4) add('Network', conf.Network, 4, fact)
    if (conf.EnableIPv6) add('IPv6Network', conf.IPv6Network, 6, fact)
    if (nets.length === 0)
      return [
        skip('net-conf.json has no valid Network to compare (see netconf.schema).', {
          evidence: [ev(fact.source, [])],
        }),
      ]

    const out: Finding[] = []
    const checked: string[] = []
    const nodesA = facts.get('nodes')
    const nodes: readonly KubeNode[] = nodesA.ok ? nodesA.value : []
    const avoid: Cidr[] = []
    for (const n of nodes) for (const ip of nodeIPs(n)) avoid.push(parseCidr(ip.ip) as Cidr)

    // 1. Node addresses.
    if (!nodesA.ok) out.push(unavailable('the Kubernetes nodes', nodesA))
    else {
      const partial = nodes.filter((n) => n.partial).map((n) => n.name)
      if (partial.length > 0)
        out.push(partialFinding(nodesA.source, 'whether Network contains their addresses', partial))
      for (const n of nodes) {
        if (n.partial) continue
        for (const ip of nodeIPs(n)) {
          const net = nets.find((x) => cidrContainsIP(x.cidr, ip.ip))
          if (!net) continue
          out.push(
            fail(
              'error',
              `Node ${n.name}'s ${ip.type} ${ip.address} lies inside ${net.key} ${net.str}, so pods and peers route traffic for it into the overlay instead of to the node.`,
              {
                subject: nodeSubject(n.name),
                evidence: [net.evidence, ev(nodesA.source, [addressLine(n, ip)])],
                fix: moveNetworkFix(net, avoid).map((l, i) => (i === 0 ? l.replace(/^# or /, '# ') : l)),
              },
            ),
          )
        }
      }
      if (nodes.length > partial.length) checked.push('node addresses')
    }

    // 2. docker0's address (Docker's bip).
    const addrsA = facts.get('addrs')
    let dockerReported = false
    if (!addrsA.ok) out.push(unavailable("this host's addresses (docker0 not checked)", addrsA))
    else {
      const docker = addrsA.value.filter((a: Addr) => a.ifname === 'docker0')
      for (const a of docker) {
        const c = parseCidr(`${a.address}/${a.prefixlen}`)
        const net = c ? nets.find((x) => cidrsOverlap(x.cidr, c)) : undefined
        if (!c || !net) continue
        dockerReported = true
        const bip = BIPS.find((b) => {
          const bc = parseCidr(b) as Cidr
          return !nets.some((x) => cidrsOverlap(x.cidr, bc)) && !avoid.some((x) => cidrsOverlap(x, bc))
        })
        out.push(
          fail(
            'error',
            `docker0 has ${a.address}/${a.prefixlen}, which overlaps ${net.key} ${net.str}, so traffic for those pod addresses goes to the Docker bridge.`,
            {
              subject: 'docker0',
              evidence: [net.evidence, ev(addrsA.source, [a.raw])],
              fix: [
                `# set "bip": "${bip ?? '<a range outside Network>'}" in /etc/docker/daemon.json (keep its other keys), then:`,
                'sudo systemctl restart docker',
                '# or, if Docker is not used by Kubernetes here (containerd/CRI-O): sudo ip link delete docker0',
              ],
            },
          ),
        )
      }
      checked.push('docker0')
    }

    // 3. Routes other than flannel's own.
    const routesA = facts.get('routes')
    if (!routesA.ok) out.push(unavailable("this host's routes", routesA))
    else {
      const linksA = facts.get('links')
      const bridged = new Set(
        linksA.ok ? linksA.value.filter((l) => l.master === 'cni0').map((l) => l.name) : [],
      )
      const tunnel = tunnelDevice(conf)
      const self = nodesA.ok ? selfOf(facts, nodes) : undefined
      const podCidrs = nodes.flatMap((n) =>
        podCidrsOf(n).flatMap((p) => (p.cidr ? [{node: n, cidr: p.cidr}] : [])),
      )
      const flannels = (r: Route, c: Cidr, net: Net): boolean => {
        if (
          r.dev &&
          (r.dev.startsWith('flannel') || r.dev === tunnel || r.dev === 'cni0' || bridged.has(r.dev))
        )
          return true
        const same = podCidrs.filter((p) => formatCidr(p.cidr) === formatCidr(c))
        if (r.type === 'blackhole') {
          // --ip-blackhole-route: the own subnet only.
          if (self) return same.some((p) => p.node === self.node)
          return nodesA.ok ? same.length > 0 : cidrContains(net.cidr, c)
        }
        // Per-peer routes (vxlan, host-gw, DirectRouting) go to exactly a node's podCIDR; whether they
        // point at the right peer is node.peers' business.
        if (r.type === 'unicast' && same.length > 0) return true
        // Without nodes: a gateway route inside Network is most likely host-gw/DirectRouting.
        if (!nodesA.ok && r.gateway && r.type === 'unicast') return cidrContains(net.cidr, c)
        return false
      }
      for (const r of routesA.value) {
        if (NOT_FORWARDING.has(r.type) || r.table === 'local' || r.dst === 'default') continue
        const c = parseCidr(r.dst)
        if (!c || c.prefix === 0) continue
        const net = nets.find((x) => cidrsOverlap(x.cidr, c))
        if (!net || flannels(r, c, net)) continue
        if (r.dev === 'docker0' && dockerReported) continue
        const broader = c.prefix < net.cidr.prefix
        const kernel = r.protocol === 'kernel'
        const fix = kernel
          ? [
              `# the route comes from an address on ${r.dev ?? 'an interface'} inside ${net.str}:`,
              `ip addr show dev ${r.dev ?? ''}`,
            ]
          : [`# if the route is not needed (a VPN, a leftover of another CNI):`, routeDelCommand(r)]
        out.push(
          fail(
            broader ? 'warning' : 'error',
            broader
              ? `Route ${r.dst} covers all of ${net.key} ${net.str}: flannel's more specific routes win, but hosts in ${net.str} behind that route are unreachable.`
              : `Route ${r.dst}${r.dev ? ` on ${r.dev}` : ''} lies inside ${net.key} ${net.str} and is not flannel's, so it takes traffic meant for pods.`,
            {
              subject: `route ${r.dst}`,
              evidence: [net.evidence, ev(routesA.source, [r.raw])],
              fix: [...fix, ...moveNetworkFix(net, [...avoid, c])],
            },
          ),
        )
      }
      checked.push('host routes')
    }

    if (!out.some((f) => f.status === 'error' || f.status === 'warning')) {
      if (checked.length === 0) {
        if (!out.some((f) => f.status === 'unknown'))
          out.push(unknown('Nothing could be compared with Network.'))
      } else
        out.push(
          ok(
            `${nets.map((n) => `${n.key} ${n.str}`).join(' and ')} overlaps no ${checked.join(', ')} other than flannel's own.`,
            {
              evidence: nets.map((n) => n.evidence),
            },
          ),
        )
    }
    return out
  },
})
