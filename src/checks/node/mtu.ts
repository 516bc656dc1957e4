/**
 * node.mtu — pod packets must fit the underlay once encapsulated.
 *
 * Why (flannel-facts §2.3, §3.1, §4.2, §4.3, §10): flannel writes `FLANNEL_MTU` = (the backend `MTU`
 * option, or the MTU of its external interface) − the backend's overhead (vxlan 50, wireguard 80, udp 28,
 * ipip 20, ipsec 77/85, host-gw 0) once, when it starts. The flannel CNI plugin hands it to the bridge
 * plugin as `mtu`, so `cni0` and every pod veth get it. A vxlan device that already exists is reused
 * without touching its MTU, so after an underlay change `flannel.N` keeps the old one. Over an IPv6
 * underlay VXLAN needs 70 bytes, but flannel still subtracts 50. Too-large packets with DF set are
 * dropped: small requests work, large responses hang.
 */
import type {Link, Route} from '../../model.js'
import type {Finding} from '../types.js'
import {defineCheck} from '../types.js'
import {ev, fail, needAll, ok, unavailable, unknown} from '../lib/result.js'
import {backendOverhead, tunnelDevice, vxlanDeviceName} from '../lib/flannel.js'
import {confLines, readNetConf} from '../lib/netconf-read.js'
import {restartFlannelOn} from '../lib/wording.js'
import {defaultRoute, linkLines} from '../lib/datapath.js'

/** Extra bytes VXLAN needs over IPv6 compared with IPv4 (70 − 50). */
const VXLAN_V6_EXTRA = 20

export const check = defineCheck({
  id: 'node.mtu',
  area: 'node',
  title: 'FLANNEL_MTU fits the underlay and the tunnel, cni0 and pod veths carry it',
  severity: 'error',
  needs: ['netConf', 'subnetEnv', 'links', 'routes', 'host'],
  evaluate(facts) {
    const nc = readNetConf(facts, 'the data path')
    if (!nc.ok) return [nc.finding]
    const conf = nc.conf
    const got = needAll(facts, ['subnetEnv', 'links'] as const, ['subnet.env', 'the links (ip -d link)'])
    if (!got.ok) return [got.finding]
    const [env, links] = got.values
    const [envSrc, linkSrc] = got.sources as [string, string]
    const host = facts.get('host')
    const nodeName = host.ok ? host.value.nodeName : undefined

    const mtuEntry = [...env.entries].reverse().find((e) => e.key === 'FLANNEL_MTU')
    const flannelMtu =
      mtuEntry && /^\d+$/.test(mtuEntry.value.trim()) ? Number(mtuEntry.value.trim()) : undefined
    if (!mtuEntry || flannelMtu === undefined) {
      return [
        unknown(
          mtuEntry
            ? `subnet.env has FLANNEL_MTU=${mtuEntry.value}, which is not a number, so there is nothing to compare`
            : 'subnet.env has no FLANNEL_MTU, so there is nothing to compare',
          {hint: 'see node.subnet-env', evidence: mtuEntry ? [ev(envSrc, [mtuEntry.raw])] : []},
        ),
      ]
    }
    const envEv = ev(envSrc, [mtuEntry.raw])
    const byName = new Map(links.map((l) => [l.name, l]))
    const overhead = backendOverhead(conf)
    const backend = conf.backendType
    const findings: Finding[] = []
    const okParts: string[] = []

    // The underlay: what the vxlan device sits on, else the interface of the default route.
    const tunName = tunnelDevice(conf)
    const tun = tunName !== undefined ? byName.get(tunName) : undefined
    let underlay: Link | undefined
    let underlayWhy = ''
    const underlayEv: {source: string; lines: string[]}[] = []
    let routes: Route[] | undefined
    const routesA = facts.get('routes')
    if (routesA.ok) routes = routesA.value
    if (tun?.vxlan?.dev !== undefined) {
      underlay = byName.get(tun.vxlan.dev)
      underlayWhy = `${tun.name}'s underlay \`dev ${tun.vxlan.dev}\``
      underlayEv.push(ev(linkSrc, linkLines(tun)))
    } else if (routes) {
      const def = defaultRoute(routes, conf.EnableIPv4 ? 4 : 6)
      if (def?.dev !== undefined) {
        underlay = byName.get(def.dev)
        underlayWhy = `${def.dev}, the interface of the default route (flannel's choice unless --iface is given)`
        underlayEv.push(ev(routesA.ok ? routesA.source : 'routes', [def.raw.trimEnd()]))
      }
    }
    if (underlay) underlayEv.push(ev(linkSrc, [underlay.raw.trimEnd()]))

    const optRaw = backend === 'vxlan' || backend === 'wireguard' ? conf.backend['MTU'] : undefined
    const option = typeof optRaw === 'number' && optRaw > 0 ? optRaw : undefined
    const base = option ?? underlay?.mtu
    let expected = base !== undefined ? base - overhead : undefined
    // ipip keeps an existing smaller flannel.ipip MTU (flannel-facts §2.3).
    if (backend === 'ipip' && expected !== undefined && tun && tun.mtu < expected) expected = tun.mtu
    const formula =
      option !== undefined
        ? `Backend MTU ${option} − ${overhead} (${backend})`
        : underlay
          ? `${underlay.name} MTU ${underlay.mtu} − ${overhead} (${backend})`
          : ''
    const whereFrom = option === undefined && underlay ? ` (underlay: ${underlayWhy})` : ''

    if (expected === undefined) {
      if (!routesA.ok && !tun?.vxlan?.dev)
        findings.push(unavailable('the routes (to find the underlay interface)', routesA))
      else
        findings.push(
          unknown(
            `Could not tell the underlay MTU: ${tun?.vxlan?.dev ? `${tun.vxlan.dev} (the underlay of ${tun.name}) is not among the links` : 'there is no default route with an interface'}`,
            {evidence: [envEv, ...underlayEv], hint: 'capture ip -d link and ip route of this node'},
          ),
        )
    } else if (flannelMtu > expected) {
      findings.push(
        fail(
          'error',
          `FLANNEL_MTU is ${flannelMtu}, larger than ${formula} = ${expected}${whereFrom}: encapsulated pod packets over ${expected} bytes do not fit the underlay and are dropped.`,
          {
            subject: 'FLANNEL_MTU',
            evidence: [envEv, ...underlayEv],
            fix:
              option !== undefined
                ? [
                    `# lower "MTU" in net-conf.json's Backend to at most ${underlay?.mtu ?? option} and restart flannel on every node`,
                    restartFlannelOn(nodeName),
                  ]
                : [
                    `# flannel computes FLANNEL_MTU only when it starts (the underlay MTU changed since): restart it`,
                    restartFlannelOn(nodeName),
                    ...(tunName !== undefined && tun ? [`ip link set dev ${tunName} mtu ${expected}`] : []),
                    `# then delete the pods on this node so their veths get the new MTU`,
                  ],
          },
        ),
      )
    } else if (flannelMtu < expected) {
      findings.push(
        fail(
          'warning',
          `FLANNEL_MTU is ${flannelMtu}, smaller than ${formula} = ${expected}${whereFrom}: it works, but every pod packet carries ${expected - flannelMtu} bytes less than it could.`,
          {
            subject: 'FLANNEL_MTU',
            evidence: [envEv, ...underlayEv],
            fix: [
              `# flannel computes FLANNEL_MTU only when it starts (the underlay MTU grew since): restart it`,
              restartFlannelOn(nodeName),
            ],
          },
        ),
      )
    } else okParts.push(`FLANNEL_MTU=${flannelMtu} = ${formula}`)

    if (option !== undefined && underlay && option > underlay.mtu) {
      findings.push(
        fail(
          'error',
          `The Backend MTU option ${option} is larger than ${underlay.name}'s MTU ${underlay.mtu}, so FLANNEL_MTU ${option - overhead} cannot fit the underlay.`,
          {
            subject: 'FLANNEL_MTU',
            evidence: [ev(nc.source, confLines(nc.text, 'MTU')), ...underlayEv],
            fix: [
              `# set "MTU": ${underlay.mtu} (or remove it) in net-conf.json's Backend, then restart flannel on every node`,
            ],
          },
        ),
      )
    }

    // VXLAN over an IPv6 underlay needs 70 bytes, flannel subtracts 50.
    if (backend === 'vxlan' && conf.EnableIPv6) {
      const v6dev = byName.get(vxlanDeviceName(conf, 6))
      const v6under = v6dev?.vxlan?.dev !== undefined ? byName.get(v6dev.vxlan.dev) : underlay
      const v6base = option ?? v6under?.mtu
      if (v6base !== undefined && flannelMtu > v6base - overhead - VXLAN_V6_EXTRA) {
        const iface = v6under?.mtu ?? v6base
        findings.push(
          fail(
            'warning',
            `FLANNEL_MTU ${flannelMtu} leaves room for 50 bytes of VXLAN overhead, but over the IPv6 underlay VXLAN needs 70: IPv6 pod packets near ${flannelMtu} bytes are dropped.`,
            {
              subject: 'FLANNEL_MTU',
              evidence: [envEv, ...(v6dev ? [ev(linkSrc, linkLines(v6dev))] : []), ...underlayEv],
              fix: [
                `# set "MTU": ${iface - VXLAN_V6_EXTRA} (interface MTU ${iface} − 20) in net-conf.json's Backend so FLANNEL_MTU becomes ${iface - VXLAN_V6_EXTRA - overhead}, then restart flannel on every node`,
                restartFlannelOn(nodeName),
              ],
            },
          ),
        )
      }
    }

    // The devices that must carry FLANNEL_MTU.
    const tunnels = [
      tun,
      backend === 'vxlan' && conf.EnableIPv6 ? byName.get(vxlanDeviceName(conf, 6)) : undefined,
    ]
    // When FLANNEL_MTU itself is too large (reported above), devices are measured against what the
    // underlay allows; the ones still at FLANNEL_MTU are covered by that finding's fix.
    const target = expected !== undefined && flannelMtu > expected ? expected : flannelMtu
    const against =
      target === flannelMtu
        ? `FLANNEL_MTU ${flannelMtu}`
        : `the ${target} the underlay allows (FLANNEL_MTU ${flannelMtu} is too large, see above)`
    for (const t of tunnels) {
      if (!t) continue
      if (t.mtu === flannelMtu || t.mtu === target) {
        okParts.push(`${t.name} ${t.mtu}`)
        continue
      }
      const stale =
        backend === 'vxlan'
          ? ` flannel does not change the MTU of a ${t.name} that already exists (it compares only type, VNI, port, local, device and GBP), so it keeps ${t.mtu} from an earlier start.`
          : ''
      findings.push(
        fail('error', `${t.name} has MTU ${t.mtu}, not ${against}.${stale}`, {
          subject: t.name,
          evidence: [ev(linkSrc, linkLines(t)), envEv],
          fix: [`ip link set dev ${t.name} mtu ${target}`],
        }),
      )
    }

    const cni0 = byName.get('cni0')
    const veths = links.filter((l) => l.master === 'cni0' && l.name !== 'cni0')
    const pods: [Link, string][] = [
      ...(cni0 ? ([[cni0, 'cni0']] as [Link, string][]) : []),
      ...veths.map((v): [Link, string] => [v, `veth ${v.name}`]),
    ]
    let podOk = 0
    for (const [l, subject] of pods) {
      if (l.mtu === flannelMtu || l.mtu === target) {
        podOk++
        continue
      }
      const isVeth = l !== cni0
      const bigger = l.mtu > target
      findings.push(
        fail(
          bigger ? 'error' : 'warning',
          bigger
            ? `${l.name} has MTU ${l.mtu}, larger than ${against}: ${isVeth ? 'this pod sends' : 'pods send'} packets that do not fit the tunnel.`
            : `${l.name} has MTU ${l.mtu}, smaller than ${against}: it works, but ${isVeth ? 'this pod was' : 'cni0 was'} set up with an older FLANNEL_MTU.`,
          {
            subject,
            evidence: [ev(linkSrc, linkLines(l)), envEv],
            fix: isVeth
              ? [
                  `ip link set dev ${l.name} mtu ${target}`,
                  `# the pod's own eth0 keeps its old MTU: delete the pod so it is recreated with ${target}`,
                ]
              : [`ip link set dev cni0 mtu ${target}`],
          },
        ),
      )
    }
    if (cni0 && podOk === pods.length) okParts.push(`cni0 and ${veths.length} pod veth(s) ${flannelMtu}`)

    if (findings.every((f) => f.status === 'unknown')) {
      findings.push(
        ok(`${okParts.join('; ')}${cni0 ? '' : '; no cni0 yet (no pod on this node)'}.`, {
          evidence: [envEv, ...underlayEv],
        }),
      )
    }
    return findings
  },
})
