/**
 * node.sysctl — the kernel forwards pod traffic and br_netfilter is there.
 *
 * Why (flannel-facts §9, §10): flannel never sets `net.ipv4.ip_forward`; the bridge plugin turns it on when it
 * sets up the first pod (isGateway), and something that resets it (a sysctl.conf, a hardening script) silently
 * stops all forwarded pod traffic. In iptables mode flanneld (≥ v0.26.0) only checks that
 * `/proc/sys/net/bridge/bridge-nf-call-iptables` exists (the br_netfilter module) and exits with
 * `Failed to check br_netfilter: stat ...: no such file or directory` otherwise; IPv6 needs
 * `bridge-nf-call-ip6tables`; nftables mode skips the check. The value itself is kube-proxy's requirement: with
 * 0, pod-to-Service traffic between pods on the same bridge bypasses iptables. Strict reverse-path filtering
 * (`rp_filter=1`) on the underlay drops the asymmetric paths DirectRouting and host-gw create.
 */
import type {Route, Sysctls} from '../../model.js'
import type {Finding} from '../types.js'
import {defineCheck} from '../types.js'
import {ev, fail, needAll, ok, unknown} from '../lib/result.js'
import {defaultRoute} from '../lib/datapath.js'
import {readNetConf} from '../lib/netconf-read.js'
import {ipv4ConfKey} from '../../parse/sysctl.js'

const PERSIST = '/etc/sysctl.d/99-flannel.conf'

/** A capture that looks like a full `sysctl -a` (enough `net.` keys to trust an absence). */
function looksComplete(s: Sysctls): boolean {
  let n = 0
  for (const k of s.values.keys()) if (k.startsWith('net.')) n++
  return n >= 20
}

function line(s: Sysctls, key: string): string {
  return s.raw.get(key) ?? `${key} = ${s.values.get(key) ?? '?'}`
}

export const check = defineCheck({
  id: 'node.sysctl',
  area: 'node',
  title:
    'IPv4 forwarding is on and br_netfilter is loaded (reverse-path filtering is not strict where it matters)',
  severity: 'error',
  needs: ['sysctl', 'netConf', 'routes', 'modules'],
  evaluate(facts) {
    const got = needAll(facts, ['sysctl'] as const, ['the kernel settings (sysctl -a)'])
    if (!got.ok) return [got.finding]
    const [s] = got.values
    const src = got.sources[0] as string
    const nc = readNetConf(facts, 'the data path')
    const conf = nc.ok ? nc.conf : undefined
    const mods = facts.get('modules')
    const findings: Finding[] = []
    const complete = looksComplete(s)

    // 1. ip_forward
    const fwd = s.values.get('net.ipv4.ip_forward')
    if (fwd === undefined) {
      findings.push(
        unknown('The capture has no net.ipv4.ip_forward, so forwarding could not be checked.', {
          evidence: [ev(src, [])],
          hint: 'capture it with `sysctl -a`',
        }),
      )
    } else if (fwd.trim() !== '1') {
      findings.push(
        fail(
          'error',
          `net.ipv4.ip_forward is ${fwd.trim()}: the node does not forward packets, so no pod traffic leaves or enters it.`,
          {
            evidence: [ev(src, [line(s, 'net.ipv4.ip_forward')])],
            fix: ['sysctl -w net.ipv4.ip_forward=1', `echo 'net.ipv4.ip_forward = 1' > ${PERSIST}`],
          },
        ),
      )
    } else {
      findings.push(ok('net.ipv4.ip_forward is 1.', {evidence: [ev(src, [line(s, 'net.ipv4.ip_forward')])]}))
    }

    // 2. br_netfilter (iptables mode only)
    if (conf?.EnableNFTables === true) {
      findings.push(
        ok('EnableNFTables is true: flannel does not require br_netfilter in nftables mode.', {
          evidence: [ev(nc.ok ? nc.source : src, ['"EnableNFTables": true'])],
        }),
      )
    } else {
      const keys = [
        'net.bridge.bridge-nf-call-iptables',
        ...(conf?.EnableIPv6 === true ? ['net.bridge.bridge-nf-call-ip6tables'] : []),
      ]
      const modLine = mods.ok
        ? mods.value.has('br_netfilter')
          ? ' (lsmod lists br_netfilter, so the capture may come from another network namespace)'
          : ' (lsmod does not list br_netfilter either)'
        : ''
      for (const key of keys) {
        const v = s.values.get(key)
        const path = `/proc/sys/${key.replace(/\./g, '/')}`
        if (v !== undefined) {
          if (v.trim() === '1')
            findings.push(
              ok(`${key} exists (br_netfilter is loaded) and is 1.`, {evidence: [ev(src, [line(s, key)])]}),
            )
          else
            findings.push(
              fail(
                'warning',
                `${key} is ${v.trim()}: br_netfilter is loaded, but bridged pod traffic skips iptables, so kube-proxy Services between pods on the same node break.`,
                {
                  evidence: [ev(src, [line(s, key)])],
                  fix: [`sysctl -w ${key}=1`, `echo '${key} = 1' >> ${PERSIST}`],
                },
              ),
            )
          continue
        }
        const said = s.missing?.get(key)
        const absent =
          said !== undefined || complete || [...s.values.keys()].some((k) => k.startsWith('net.bridge.'))
        if (!absent) {
          findings.push(
            unknown(`The capture does not show ${key}, and it is too partial to say it does not exist.`, {
              evidence: [ev(src, [])],
              hint: 'capture it with `sysctl -a`',
            }),
          )
          continue
        }
        findings.push(
          fail(
            'error',
            `${path} does not exist: br_netfilter is not loaded${modLine}, and flanneld in iptables mode exits with "Failed to check br_netfilter".`,
            {
              evidence: [ev(src, said !== undefined ? [said] : [`(no ${key} among ${s.values.size} keys)`])],
              fix: [
                'modprobe br_netfilter',
                'echo br_netfilter > /etc/modules-load.d/br_netfilter.conf',
                `sysctl -w ${key}=1`,
              ],
            },
          ),
        )
      }
    }

    // 3. rp_filter where the path is asymmetric (DirectRouting, host-gw)
    const asym =
      conf === undefined
        ? undefined
        : conf.backendType === 'host-gw'
          ? 'host-gw'
          : (conf.backendType === 'vxlan' || conf.backendType === 'ipip') &&
              conf.backend['DirectRouting'] === true
            ? `${conf.backendType} with DirectRouting`
            : undefined
    if (asym !== undefined) {
      const routes = facts.get('routes')
      let dev: string | undefined
      let def: Route | undefined
      if (routes.ok) {
        def = defaultRoute(routes.value, 4)
        dev = def?.dev
      }
      const keys = [
        'net.ipv4.conf.all.rp_filter',
        ...(dev !== undefined ? [ipv4ConfKey(dev, 'rp_filter')] : []),
      ]
      const vals = keys.map((k) => ({k, v: s.values.get(k)}))
      const strict = vals.filter((x) => x.v?.trim() === '1')
      // The kernel uses the larger of conf.all and conf.<dev>: 1 (strict) wins unless one of them is 2 (loose).
      const loose = vals.some((x) => x.v?.trim() === '2')
      const evLines = vals.filter((x) => x.v !== undefined).map((x) => line(s, x.k))
      const routeEv = def ? [ev(routes.ok ? routes.source : 'routes', [def.raw.trimEnd()])] : []
      if (strict.length > 0 && !loose) {
        findings.push(
          fail(
            'warning',
            `Strict reverse-path filtering (${strict.map((x) => `${x.k}=1`).join(', ')}) with ${asym}: replies that come back over another path than the kernel would route are dropped.`,
            {
              subject: dev ?? 'all',
              evidence: [ev(src, evLines), ...routeEv],
              fix: keys
                .map((k) => `sysctl -w ${k}=2`)
                .concat([`printf '${keys.map((k) => `${k} = 2`).join('\\n')}\\n' >> ${PERSIST}`]),
            },
          ),
        )
      } else if (vals.every((x) => x.v === undefined)) {
        findings.push(
          unknown(
            `The capture has no rp_filter setting for ${dev ?? 'the underlay'}, which matters with ${asym}.`,
            {hint: 'capture it with `sysctl -a`'},
          ),
        )
      } else {
        findings.push(
          ok(`Reverse-path filtering is not strict on ${dev ?? 'all interfaces'} (${asym} needs that).`, {
            evidence: [ev(src, evLines), ...routeEv],
          }),
        )
      }
    }
    return findings
  },
})
