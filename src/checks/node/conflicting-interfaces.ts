/**
 * node.conflicting-interfaces — no network device of another CNI (or of an earlier flannel backend).
 *
 * Why: switching CNI without rebooting leaves the old one's devices behind. A second VXLAN device on
 * flannel's UDP port (Cilium also defaults to 8472) competes for the encapsulated traffic; Calico's
 * `vxlan.calico` and an addressed `tunl0` (Calico IPIP) keep routes and addresses that answer for pod
 * traffic; Weave's and kube-router's bridges keep their own pod subnets. flannel itself never deletes the
 * device of a backend it no longer uses (flannel-facts §3.1: the vxlan device survives flannel's exit),
 * e.g. `flannel-wg` after moving to vxlan. `tunl0` without addresses is just the ipip module's fallback
 * device, and `kube-ipvs0` belongs to kube-proxy; both are fine.
 */
import type {Link} from '../../model.js'
import type {NetConf} from '../../parse/netconf.js'
import type {Finding} from '../types.js'
import {defineCheck} from '../types.js'
import {ev, fail, ok, unavailable, unknown} from '../lib/result.js'
import {vxlanDeviceName, vxlanOptions} from '../lib/flannel.js'
import {readNetConf} from '../lib/netconf-read.js'
import {linkLines} from '../lib/datapath.js'

interface OtherCni {
  cni: string
  /** A typical file name of its CNI config, for the advice. */
  conf: string
  names: RegExp
}

const OTHER_CNIS: OtherCni[] = [
  {cni: 'Cilium', conf: '05-cilium.conflist', names: /^cilium_(vxlan|host|net|geneve)$/},
  {cni: 'Calico', conf: '10-calico.conflist', names: /^vxlan(-v6)?\.calico$/},
  {cni: 'Weave Net', conf: '10-weave.conflist', names: /^(weave|vxlan-6784)$/},
  {cni: 'kube-router', conf: '10-kuberouter.conflist', names: /^kube-bridge$/},
]

/** flannel's own devices per backend; one of another backend is a leftover of an earlier configuration. */
function flannelLeftover(l: Link, conf: NetConf): string | undefined {
  const b = conf.backendType
  if (/^flannel-wg(-v6)?$/.test(l.name) && b !== 'wireguard') return 'wireguard'
  if (l.name === 'flannel0' && b !== 'udp') return 'udp'
  if (l.name === 'flannel.ipip' && b !== 'ipip') return 'ipip'
  const m = /^flannel(-v6)?\.(\d+)$/.exec(l.name)
  if (m && (b !== 'vxlan' || Number(m[2]) !== vxlanOptions(conf).vni)) return `vxlan (VNI ${m[2]})`
  return undefined
}

const cniAdvice = (o: OtherCni): string =>
  `# remove ${o.cni} itself (its DaemonSet) and its config from /etc/cni/net.d (e.g. ${o.conf}), or the device comes back`

export const check = defineCheck({
  id: 'node.conflicting-interfaces',
  area: 'node',
  title: 'No network device left by another CNI or an earlier flannel backend',
  severity: 'warning',
  needs: ['links', 'addrs', 'netConf'],
  evaluate(facts) {
    const linksA = facts.get('links')
    if (!linksA.ok) return [unavailable('the links (ip -d link)', linksA)]
    const links = linksA.value
    const src = linksA.source
    const nc = readNetConf(facts, 'the data path')
    const conf = nc.ok ? nc.conf : undefined
    const addrsA = facts.get('addrs')
    const findings: Finding[] = []
    const warn = (l: Link, message: string, fix: string[], extra: {source: string; lines: string[]}[] = []) =>
      findings.push(
        fail('warning', message, {
          subject: `link ${l.name}`,
          evidence: [ev(src, linkLines(l)), ...extra],
          fix,
        }),
      )

    const flannelVxlan =
      conf?.backendType === 'vxlan' ? [vxlanDeviceName(conf, 4), vxlanDeviceName(conf, 6)] : []
    const port = conf?.backendType === 'vxlan' ? vxlanOptions(conf).port : undefined
    const samePort = (l: Link): boolean =>
      port !== undefined && l.kind === 'vxlan' && l.vxlan?.dstport === port && !flannelVxlan.includes(l.name)
    const portClause = (l: Link): string =>
      samePort(l)
        ? ` It listens on UDP ${port}, flannel's VXLAN port, and competes for the encapsulated traffic.`
        : ''

    for (const l of links) {
      const other = OTHER_CNIS.find((o) => o.names.test(l.name))
      if (other) {
        warn(l, `${l.name} is a device of ${other.cni}, left on this node beside flannel.${portClause(l)}`, [
          `ip link delete ${l.name}`,
          cniAdvice(other),
        ])
        continue
      }
      if (conf) {
        const was = flannelLeftover(l, conf)
        if (was) {
          warn(
            l,
            `${l.name} is flannel's device for the ${was} backend, but net-conf.json now uses ${conf.backendType}${conf.backendType === 'vxlan' ? ` (device ${vxlanDeviceName(conf, 4)})` : ''}; flannel never deletes the device of a backend it no longer uses.${portClause(l)}`,
            [`ip link delete ${l.name}`],
          )
          continue
        }
        if (samePort(l)) {
          warn(
            l,
            `${l.name} is a second VXLAN device on UDP ${port}, the port of flannel's ${vxlanDeviceName(conf, 4)}: the two compete for the encapsulated traffic.`,
            [
              `ip link delete ${l.name}`,
              '# if another CNI created it, also remove its config from /etc/cni/net.d',
            ],
          )
          continue
        }
      }
      if (l.name === 'tunl0') {
        if (!addrsA.ok) {
          findings.push(unavailable('the addresses (to tell whether tunl0 is in use)', addrsA))
          continue
        }
        const on = addrsA.value.filter((a) => a.ifname === 'tunl0')
        if (on.length > 0)
          warn(
            l,
            `tunl0 holds ${on.map((a) => `${a.address}/${a.prefixlen}`).join(', ')}: Calico's IPIP mode addresses it, so this is a leftover of Calico that still answers for those addresses.`,
            [
              'ip addr flush dev tunl0',
              "# tunl0 itself is the ipip module's fallback device and cannot be deleted (modprobe -r ipip removes it when nothing uses ipip)",
              cniAdvice(OTHER_CNIS[1] as OtherCni),
            ],
            [
              ev(
                addrsA.source,
                on.map((a) => a.raw.trim()),
              ),
            ],
          )
      }
    }
    if (!nc.ok)
      findings.push(
        unknown(`Leftover flannel devices and VXLAN port clashes were not checked. ${nc.finding.message}`, {
          hint: nc.finding.hint ?? 'pass --net-conf FILE',
        }),
      )
    if (findings.every((f) => f.status === 'unknown'))
      findings.push(
        ok(`None of the ${links.length} links belongs to another CNI or to an unused flannel backend.`, {
          evidence: [
            ev(
              src,
              links.map((l) => l.name),
            ),
          ],
        }),
      )
    return findings
  },
})
