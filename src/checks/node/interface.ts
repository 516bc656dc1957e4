/**
 * node.interface — without `--iface`, `--iface-regex` or `--iface-can-reach` flanneld takes the
 * interface of the first IPv4 default route and its first global address (`Using interface with name %s
 * and address %s`); `--public-ip` or a `public-ip-overwrite` annotation replaces the advertised address
 * (`Using %s as external address`). That address becomes the node's `public-ip` annotation, the vxlan
 * device's `local`, and its interface the device's `dev` (flannel-facts §3.1, §8). On Vagrant/VirtualBox
 * the default route is the NAT NIC whose `10.0.2.15` every VM shares, so tunnels lead nowhere (§10);
 * more generally the tunnel should leave through the NIC of the network the nodes share.
 */
import {cidrContainsIP, normalizeIP, parseCidr, type Cidr} from '../../lib/ip.js'
import type {Addr, KubeNode, Link} from '../../model.js'
import {defineCheck, type Evidence, type Finding} from '../types.js'
import {ANN, FLANNEL_DS, FLANNEL_NS, isFlannelNode, selfOf} from '../lib/flannel.js'
import {ev, fail, ok, unavailable, unknown} from '../lib/result.js'
import {grepLogs, nodeIPs} from '../lib/kube-helpers.js'
import {defaultRoute} from '../lib/datapath.js'
import {addressLine, annotationLine, listNames, nodeSubject, restartFlannelOn} from '../lib/wording.js'

const NAT_NET = parseCidr('10.0.2.0/24') as Cidr
const USING_IFACE = /Using interface with name (\S+) and address (\S+)/
const EXTERNAL = /Using (\S+) as external address/
const DEFAULTING = /Defaulting external address to interface address \((\S+)\)/

interface PublicIP {
  ip: string
  how: string
  evidence: Evidence
  /** The interface flanneld logged, when known. */
  logIface?: string
}

const setEnv = (k: string, v: string): string =>
  `kubectl -n ${FLANNEL_NS} set env ds/${FLANNEL_DS} -c kube-flannel ${k}=${v}`

const addrOf = (addrs: readonly Addr[], ip: string): Addr | undefined =>
  addrs.find((a) => normalizeIP(a.address) === ip)

export const check = defineCheck({
  id: 'node.interface',
  area: 'node',
  title: 'flannel tunnels through the intended interface and address',
  severity: 'warning',
  needs: ['nodes', 'host', 'addrs', 'routes', 'links', 'logs'],
  evaluate(facts) {
    const nodesA = facts.get('nodes')
    const addrsA = facts.get('addrs')
    const routesA = facts.get('routes')
    const linksA = facts.get('links')
    const logsA = facts.get('logs')
    const nodes: readonly KubeNode[] = nodesA.ok ? nodesA.value : []
    const self = nodesA.ok ? selfOf(facts, nodes) : undefined
    const subjectX = self ? {subject: nodeSubject(self.node.name)} : {}

    // The address flannel advertises: the node annotation, else flanneld's own log lines.
    let pub: PublicIP | undefined
    const ann = self?.node.annotations[ANN.publicIP]?.trim()
    const annIP = ann ? normalizeIP(ann) : undefined
    if (self && nodesA.ok && annIP)
      pub = {
        ip: annIP,
        how: `node ${self.node.name}'s public-ip annotation`,
        evidence: ev(nodesA.source, [annotationLine(self.node, ANN.publicIP)]),
      }
    if (logsA.ok) {
      const iface = grepLogs(logsA.source, logsA.value, USING_IFACE).at(-1)
      const ext =
        grepLogs(logsA.source, logsA.value, EXTERNAL).at(-1) ??
        grepLogs(logsA.source, logsA.value, DEFAULTING).at(-1)
      const logIP = normalizeIP(ext?.match[1] ?? iface?.match[2] ?? '')
      if (!pub && logIP) {
        const lines = [iface?.line, ext?.line].filter((l): l is string => l !== undefined)
        pub = {ip: logIP, how: "flanneld's log", evidence: ev((ext ?? iface)?.source ?? logsA.source, lines)}
      }
      if (pub && iface?.match[1] && (normalizeIP(iface.match[2] ?? '') === pub.ip || ext))
        pub.logIface = iface.match[1]
    }
    if (!pub) {
      const why = [
        !nodesA.ok
          ? `nodes: ${nodesA.reason}`
          : !self
            ? 'this host matches no node'
            : `node ${self.node.name} has no ${ANN.publicIP} annotation`,
        !logsA.ok ? `logs: ${logsA.reason}` : 'the flannel log has no "Using interface with name" line',
      ]
      return [
        unknown(`Could not tell which address flannel uses on this node (${why.join('; ')}).`, {
          ...subjectX,
          hint: 'pass --node-name NAME with the nodes evidence, or the flannel log of this node (--log FILE)',
        }),
      ]
    }

    const out: Finding[] = []
    const verified: string[] = []
    const fixes = (iface: string | undefined): string[] => {
      const peer = nodes
        .filter((n) => n !== self?.node)
        .flatMap((n) => nodeIPs(n))
        .find((x) => x.family === 4 && x.ip !== pub?.ip && !cidrContainsIP(NAT_NET, x.ip))
      return [
        `# tell flanneld which NIC carries the node network (same name on every node):`,
        setEnv('FLANNELD_IFACE', iface ?? '<interface of the node network>'),
        `# or let it pick the NIC that reaches another node:`,
        setEnv('FLANNELD_IFACE_CAN_REACH', peer?.ip ?? '<another node address>'),
      ]
    }
    const selfIP4 = self
      ? nodeIPs(self.node).find((x) => x.family === 4 && x.type === 'InternalIP')
      : undefined
    const addrs = addrsA.ok ? addrsA.value : undefined
    const internalIface = selfIP4 && addrs ? addrOf(addrs, selfIP4.ip)?.ifname : undefined

    // 1. A NAT-only address shared by other nodes.
    const sharing = nodes.filter(
      (n) =>
        n !== self?.node &&
        isFlannelNode(n) &&
        normalizeIP(n.annotations[ANN.publicIP]?.trim() ?? '') === pub.ip,
    )
    const nat = cidrContainsIP(NAT_NET, pub.ip)
    // podcidrs.txt has no annotations: count nodes instead of flannel nodes.
    const multi =
      !nodesA.ok || (nodes.some((n) => n.partial) ? nodes.length : nodes.filter(isFlannelNode).length) > 1
    if (sharing.length > 0 || (nat && multi)) {
      const also =
        sharing.length > 0 ? ` that nodes ${listNames(sharing.map((n) => n.name))} also advertise` : ''
      out.push(
        fail(
          'warning',
          `flannel on this node tunnels from ${pub.ip} (from ${pub.how})${nat ? ", VirtualBox/Vagrant's NAT address" : ''}${also}, so peers cannot reach this node's pods through it.`,
          {
            ...subjectX,
            evidence: [
              pub.evidence,
              ...sharing.map((n) => ev(nodesA.ok ? nodesA.source : '', [annotationLine(n, ANN.publicIP)])),
            ],
            fix: [
              ...fixes(internalIface ?? (nat ? 'eth1' : undefined)),
              ...(self ? [restartFlannelOn(self.node.name)] : []),
            ],
          },
        ),
      )
    } else if (nodesA.ok) verified.push('no other node advertises it')

    if (!addrs) {
      if (!addrsA.ok)
        out.push(unavailable("this host's addresses (the interface of the public IP not checked)", addrsA))
      return finish(out, pub, undefined, verified)
    }
    const pubAddr = addrOf(addrs, pub.ip)
    const pubIface = pubAddr?.ifname ?? pub.logIface
    const addrEv = pubAddr ? [ev(addrsA.ok ? addrsA.source : '', [pubAddr.raw])] : []

    // 2. The interface flannel.<VNI> uses as underlay.
    if (!linksA.ok) out.push(unavailable("this host's links (the vxlan underlay not checked)", linksA))
    else {
      const tun = linksA.value.find(
        (l: Link) => /^flannel\.\d+$/.test(l.name) && (l.kind === 'vxlan' || l.vxlan),
      )
      const vx = tun?.vxlan
      if (tun && vx) {
        const linkEv = ev(linksA.source, [tun.raw, ...(tun.detailRaw ? [tun.detailRaw] : [])])
        if (vx.local !== undefined && normalizeIP(vx.local) !== pub.ip)
          out.push(
            fail(
              'warning',
              `${tun.name} sends from local ${vx.local} while flannel advertises ${pub.ip} (from ${pub.how}), so peers' tunnels and this node's disagree.`,
              {
                ...subjectX,
                evidence: [pub.evidence, linkEv],
                fix: [...(self ? [restartFlannelOn(self.node.name)] : []), ...fixes(internalIface)],
              },
            ),
          )
        else if (vx.dev !== undefined && pubIface !== undefined && vx.dev !== pubIface)
          out.push(
            fail(
              'warning',
              `${tun.name} uses ${vx.dev} as underlay but the public IP ${pub.ip} is on ${pubIface}, so encapsulated traffic leaves through another NIC than peers send to.`,
              {
                ...subjectX,
                evidence: [pub.evidence, ...addrEv, linkEv],
                fix: [...(self ? [restartFlannelOn(self.node.name)] : []), ...fixes(pubIface)],
              },
            ),
          )
        else if (pubAddr)
          verified.push(`${tun.name} uses it as local address${vx.dev ? ` over ${vx.dev}` : ''}`)
        else
          out.push(
            fail(
              'info',
              `The public IP ${pub.ip} (from ${pub.how}) is not an address of this host: flannel is behind NAT or uses public-ip-overwrite, and ${tun.name} sends from ${vx.dev ?? 'its underlay'}.`,
              {...subjectX, evidence: [pub.evidence, linkEv]},
            ),
          )
      }
    }

    // 3. The public IP's NIC against the node's InternalIP and the default route.
    if (pubIface && internalIface && selfIP4 && internalIface !== pubIface) {
      out.push(
        fail(
          'warning',
          `flannel tunnels from ${pub.ip} on ${pubIface} while node ${self?.node.name ?? ''}'s InternalIP ${selfIP4.ip} is on ${internalIface}, so pod traffic takes another network than the nodes use.`,
          {
            ...subjectX,
            evidence: [
              pub.evidence,
              ...addrEv,
              ev(nodesA.ok ? nodesA.source : '', self ? [addressLine(self.node, selfIP4)] : []),
              ev(addrsA.ok ? addrsA.source : '', [addrOf(addrs, selfIP4.ip)?.raw ?? '']),
            ],
            fix: [...fixes(internalIface), ...(self ? [restartFlannelOn(self.node.name)] : [])],
          },
        ),
      )
    } else if (!routesA.ok)
      out.push(unavailable("this host's routes (the default route not compared)", routesA))
    else {
      const d = defaultRoute(routesA.value, 4)
      if (internalIface && internalIface === pubIface)
        verified.push(`the node's InternalIP is on the same NIC`)
      if (d?.dev && pubIface && d.dev === pubIface) verified.push('the default route uses the same NIC')
      if (d?.dev && pubIface && d.dev !== pubIface)
        out.push(
          fail(
            'info',
            `flannel uses ${pubIface} (${pub.ip}) although the default route is on ${d.dev}: an explicit --iface, --iface-can-reach or public IP is in effect, which is right when ${pubIface} carries the node network on every node.`,
            {
              ...subjectX,
              evidence: [pub.evidence, ...addrEv, ev(routesA.source, [d.raw])],
              fix: [
                '# make the choice explicit for every node (names must match), or by reachability:',
                ...fixes(pubIface).filter((l) => !l.startsWith('#')),
              ],
            },
          ),
        )
    }
    return finish(out, pub, pubIface, verified)
  },
})

function finish(
  out: Finding[],
  pub: PublicIP,
  iface: string | undefined,
  verified: readonly string[],
): Finding[] {
  if (!out.some((f) => f.status === 'warning' || f.status === 'error' || f.status === 'info')) {
    const what = verified.length > 0 ? `: ${verified.join('; ')}` : ''
    out.push(
      ok(`flannel tunnels from ${pub.ip}${iface ? ` on ${iface}` : ''} (from ${pub.how})${what}.`, {
        evidence: [pub.evidence],
      }),
    )
  }
  return out
}
