/**
 * node.vxlan-device — the VXLAN device is the one flannel would create.
 *
 * Why (flannel-facts §3.1, §3.2, §3.5, §10): with the vxlan backend flannel creates `flannel.<VNI>`
 * (`flannel-v6.<VNI>` for IPv6) with the configured VNI, dstport (Linux default 8472 when `Port` is 0),
 * `nolearning` unless `Learning`, GBP as configured, `local` = the address of its external interface
 * (normally the node's public IP), and gives it the MAC its node advertises as `VtepMAC` in the
 * `backend-data` annotation — peers program that MAC for this node, so any other MAC means their traffic
 * is dropped here (systemd `MACAddressPolicy=persistent` is the known cause, flannel-io/flannel#1155).
 * The device's only address inside Network is `<subnet base>/32`. An existing device is reused unless
 * type, VNI, local, device, port or GBP differ (`%q already exists with incompatible configuration`);
 * MTU and learning are never corrected.
 */
import type {Addr, KubeNode, Link} from '../../model.js'
import type {Evidence, Finding} from '../types.js'
import {defineCheck} from '../types.js'
import {ev, fail, ok, skip, unavailable, unknown} from '../lib/result.js'
import {
  ANN,
  nodePublicIP,
  nodeSubnet,
  selfOf,
  vxlanDeviceName,
  vxlanOptions,
  type VxlanOptions,
} from '../lib/flannel.js'
import {readNetConf} from '../lib/netconf-read.js'
import {restartFlannelOn, selfUnknown} from '../lib/wording.js'
import {
  backendDataKey,
  enabledFamilies,
  flannelNetwork,
  linkLines,
  nodeVtepMAC,
  sameIP,
} from '../lib/datapath.js'
import {annotationLine, podCidrLine} from '../lib/wording.js'
import {baseAddress, cidrContainsIP, normalizeIP, parseCidr, type Cidr, type Family} from '../../lib/ip.js'

interface Ctx {
  opts: VxlanOptions
  network: Cidr | undefined
  links: Map<string, Link>
  linkSrc: string
  addrs: {value: Addr[]; source: string} | undefined
  self: {node: KubeNode; source: string} | undefined
  nodeName: string | undefined
}

const isLinkLocal6 = (ip: string): boolean => cidrContainsIP(parseCidr('fe80::/10') as Cidr, ip)

function recreate(name: string, nodeName: string | undefined): string[] {
  return [`ip link delete ${name}`, `# flannel creates it again when it starts:`, restartFlannelOn(nodeName)]
}

function checkDevice(c: Ctx, family: Family, name: string): Finding[] {
  const out: Finding[] = []
  const verified: string[] = []
  const l = c.links.get(name)
  if (!l) {
    return [
      fail(
        'error',
        `${name} does not exist: flannel creates it when it starts (and re-creates it if deleted, since v0.27.4), so flannel is not running here or failed before that (look for \`failed to create vxlan device\` in its log).`,
        {
          subject: name,
          evidence: [
            ev(
              c.linkSrc,
              [...c.links.values()].map((x) => x.raw.trimEnd()),
            ),
          ],
          fix: [restartFlannelOn(c.nodeName)],
        },
      ),
    ]
  }
  const linkEv: Evidence = ev(c.linkSrc, linkLines(l))
  const e = (msg: string, fix: string[], more: Evidence[] = [], sev: 'error' | 'warning' = 'error') =>
    out.push(fail(sev, msg, {subject: name, evidence: [linkEv, ...more], fix}))

  if (l.kind !== undefined && l.kind !== 'vxlan') {
    e(
      `${name} is a ${l.kind} device, not vxlan; flannel logs \`"${name}" already exists with incompatible configuration\` and re-creates it on its next start.`,
      recreate(name, c.nodeName),
    )
    return out
  }
  if (!l.up)
    e(`${name} is down (flannel sets it up after giving it its address).`, [`ip link set dev ${name} up`])
  else verified.push('up')

  const v = l.vxlan
  if (!v) {
    out.push(
      unknown(
        `The capture of ${name} has no vxlan details, so VNI, port, learning, GBP and local cannot be compared`,
        {
          subject: name,
          evidence: [linkEv],
          hint: 'capture `ip -d link show` (with -d)',
        },
      ),
    )
  } else {
    const incompatible = (what: string): string =>
      `${name} has ${what}; flannel logs \`"${name}" already exists with incompatible configuration\` and re-creates it on its next start, so the running device predates the current net-conf.json.`
    if (v.id !== c.opts.vni)
      e(incompatible(`VNI ${v.id}, but net-conf.json says VNI ${c.opts.vni}`), recreate(name, c.nodeName))
    else verified.push(`VNI ${v.id}`)
    if (v.dstport !== undefined && v.dstport !== c.opts.port)
      e(
        incompatible(
          `dstport ${v.dstport}, but net-conf.json gives ${c.opts.port}${c.opts.port === 8472 ? ' (Port 0 or unset: the Linux default 8472)' : ''}`,
        ),
        recreate(name, c.nodeName),
      )
    else if (v.dstport !== undefined) verified.push(`dstport ${v.dstport}`)
    if (v.learning !== c.opts.learning)
      e(
        `${name} has learning ${v.learning ? 'on' : 'off'}, but net-conf.json has Learning ${c.opts.learning}; flannel never corrects learning on an existing device${v.learning ? ', and a learning device adds FDB entries of its own that can go stale' : ''}.`,
        recreate(name, c.nodeName),
        [],
        'warning',
      )
    else verified.push(v.learning ? 'learning' : 'nolearning')
    if (v.gbp !== c.opts.gbp)
      e(
        incompatible(`GBP ${v.gbp ? 'on' : 'off'}, but net-conf.json has GBP ${c.opts.gbp}`),
        recreate(name, c.nodeName),
      )
    else if (v.gbp) verified.push('gbp')

    if (c.self) {
      const {node, source} = c.self
      const pubKey = family === 4 ? ANN.publicIP : ANN.publicIPv6
      const pub = nodePublicIP(node, family)
      const nodeEv = ev(source, [annotationLine(node, pubKey)])
      const held = c.addrs?.value.map((a) => normalizeIP(a.address))
      if (v.local === undefined) {
        e(
          `${name} has no \`local\` address; flannel always sets it to its external interface's address.`,
          recreate(name, c.nodeName),
          [nodeEv],
          'warning',
        )
      } else if (pub === undefined) {
        out.push(
          unknown(`Could not compare ${name}'s local ${v.local}: ${node.name} has no ${pubKey} annotation`, {
            subject: name,
            evidence: [nodeEv],
            hint: 'see kube.flannel-annotations',
          }),
        )
      } else if (sameIP(v.local, pub)) {
        verified.push(`local ${v.local} (${node.name}'s public IP)`)
      } else if (held && !held.includes(normalizeIP(pub)) && held.includes(normalizeIP(v.local))) {
        // public-ip(-overwrite) behind NAT: flannel puts the interface address in `local`, peers use the public one.
        verified.push(
          `local ${v.local} (the interface address; public IP ${pub} is not on this host, as with public-ip-overwrite)`,
        )
      } else {
        const gone =
          held && !held.includes(normalizeIP(v.local))
            ? `, and ${v.local} is no longer an address of this host`
            : ''
        e(
          `${name}'s local is ${v.local}, but ${node.name}'s public IP is ${pub}${gone}: peers send VXLAN to ${pub}, and flannel re-creates the device (incompatible local) on its next start.`,
          recreate(name, c.nodeName),
          [
            nodeEv,
            ...(c.addrs
              ? [
                  ev(
                    c.addrs.source,
                    c.addrs.value
                      .filter((a) => sameIP(a.address, pub) || sameIP(a.address, v.local))
                      .map((a) => a.raw.trim()),
                  ),
                ]
              : []),
          ],
        )
      }
    }
  }

  if (c.self) {
    const {node, source} = c.self
    const key = backendDataKey(family)
    const want = nodeVtepMAC(node, family)
    const annEv = ev(source, [annotationLine(node, key)])
    if (!want.ok) {
      out.push(
        unknown(`Could not compare ${name}'s MAC: ${node.name}'s ${want.error}`, {
          subject: name,
          evidence: [annEv],
          hint: 'see kube.flannel-annotations',
        }),
      )
    } else if (l.mac === undefined) {
      out.push(
        unknown(`The capture of ${name} shows no MAC address`, {
          subject: name,
          evidence: [linkEv],
        }),
      )
    } else if (l.mac.toLowerCase() !== want.mac) {
      e(
        `${name} has MAC ${l.mac.toLowerCase()}, but ${node.name} advertises VtepMAC ${want.mac}: every peer sends this node's VXLAN frames to ${want.mac}, so they are dropped here (a rewrite by systemd's MACAddressPolicy=persistent is the known cause; flannel logs \`${name}'s mac address wanted: ...\`).`,
        [
          `ip link set dev ${name} address ${want.mac}`,
          `# keep systemd-udevd from rewriting it again:`,
          `printf '[Match]\\nOriginalName=flannel*\\n\\n[Link]\\nMACAddressPolicy=none\\n' > /etc/systemd/network/50-flannel.link`,
        ],
        [annEv],
      )
    } else verified.push(`MAC ${want.mac} (${node.name}'s VtepMAC)`)

    const subnet = nodeSubnet(node, family)
    // Without addresses the caller has already said so, once for all devices.
    if (c.addrs && !subnet) {
      out.push(
        unknown(`Could not tell ${name}'s address: ${node.name} has no IPv${family} podCIDR`, {
          subject: name,
          hint: 'see kube.podcidr-assigned',
        }),
      )
    } else if (c.addrs && subnet) {
      const wantAddr = `${baseAddress(subnet)}/${family === 4 ? 32 : 128}`
      const mine = c.addrs.value.filter(
        (a) =>
          a.ifname === name &&
          a.family === (family === 4 ? 'inet' : 'inet6') &&
          !(family === 6 && isLinkLocal6(a.address)),
      )
      const exact = mine.filter(
        (a) => sameIP(a.address, baseAddress(subnet)) && a.prefixlen === (family === 4 ? 32 : 128),
      )
      const others = mine.filter(
        (a) =>
          !exact.includes(a) &&
          (c.network === undefined || family === 6 || cidrContainsIP(c.network, a.address)),
      )
      const addrEv = (xs: Addr[]) =>
        ev(
          c.addrs?.source ?? 'addrs',
          xs.map((a) => a.raw.trim()),
        )
      if (exact.length === 0)
        e(
          `${name} does not hold ${wantAddr} (the base of ${node.name}'s podCIDR ${baseAddress(subnet)}/${subnet.prefix}): host-to-pod traffic towards other nodes has no source address on the flannel network.`,
          [`ip addr add ${wantAddr} dev ${name}`],
          [addrEv(mine), ev(source, [podCidrLine(node)])],
        )
      else verified.push(`address ${wantAddr}`)
      if (others.length > 0)
        e(
          `${name} also holds ${others.map((a) => `${a.address}/${a.prefixlen}`).join(', ')}${c.network && family === 4 ? ` inside Network ${baseAddress(c.network)}/${c.network.prefix}` : ''}; flannel removes such addresses only when it starts (\`removed IP address ... from ${name}\`), so it is a leftover of an earlier podCIDR.`,
          others.map((a) => `ip addr del ${a.address}/${a.prefixlen} dev ${name}`),
          [addrEv(others)],
        )
    }
  }

  if (out.every((f) => f.status === 'unknown'))
    out.push(
      ok(`${name} is ${verified.join(', ')}.`, {
        subject: name,
        evidence: [linkEv],
      }),
    )
  return out
}

export const check = defineCheck({
  id: 'node.vxlan-device',
  area: 'node',
  title: 'The vxlan device matches net-conf.json and this node’s annotations',
  severity: 'error',
  needs: ['netConf', 'links', 'addrs', 'nodes', 'host'],
  evaluate(facts) {
    const nc = readNetConf(facts, 'the data path')
    if (!nc.ok) return [nc.finding]
    const conf = nc.conf
    if (conf.backendType !== 'vxlan')
      return [
        skip(
          `The backend is ${conf.backendType || '(none)'}, not vxlan: there is no flannel.<VNI> device to check.`,
        ),
      ]
    const linksA = facts.get('links')
    if (!linksA.ok) return [unavailable('the links (ip -d link)', linksA)]
    const findings: Finding[] = []
    const addrsA = facts.get('addrs')
    const nodesA = facts.get('nodes')
    const host = facts.get('host')
    const c: Ctx = {
      opts: vxlanOptions(conf),
      network: undefined,
      links: new Map(linksA.value.map((l) => [l.name, l])),
      linkSrc: linksA.source,
      addrs: addrsA.ok ? {value: addrsA.value, source: addrsA.source} : undefined,
      self: undefined,
      nodeName: host.ok ? host.value.nodeName : undefined,
    }
    if (!addrsA.ok) findings.push(unavailable("the addresses (needed for flannel.N's address)", addrsA))
    if (!nodesA.ok)
      findings.push(unavailable("the nodes (needed for this node's MAC, public IP and podCIDR)", nodesA))
    else {
      const self = selfOf(facts, nodesA.value)
      if (self) {
        c.self = {node: self.node, source: nodesA.source}
        c.nodeName = self.node.name
      } else findings.push(selfUnknown(nodesA.value))
    }
    for (const family of enabledFamilies(conf)) {
      c.network = flannelNetwork(conf, family)
      findings.push(...checkDevice(c, family, vxlanDeviceName(conf, family)))
    }
    if (findings.length === 0) findings.push(skip('Neither IPv4 nor IPv6 is enabled in net-conf.json.'))
    return findings
  },
})
