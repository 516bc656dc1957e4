/**
 * node.cni0 — the pod bridge holds this node's gateway address and nothing that contradicts it.
 *
 * Why (flannel-facts §4.2, §4.3): the flannel CNI plugin delegates to the bridge plugin with an IPAM
 * range of FLANNEL_SUBNET's network, and the bridge plugin puts the range's first host with the subnet
 * prefix (e.g. `10.244.1.1/24`) on `cni0`. Before adding it, it walks cni0's addresses and stops at the
 * first different IPv4 one (or IPv6 one that overlaps): every new pod then fails with `failed to set
 * bridge addr: "cni0" already has an IP address different from 10.244.1.1/24`. This happens when the
 * node's podCIDR changed (node deleted and re-joined) and cni0 survived. cni0 does not exist before the
 * first pod; the bridge plugin creates it.
 */
import type {Addr} from '../../model.js'
import type {Finding} from '../types.js'
import {defineCheck} from '../types.js'
import {ev, fail, needAll, ok, unknown} from '../lib/result.js'
import {
  cidrContainsIP,
  cidrsOverlap,
  firstHost,
  normalizeIP,
  parseCidr,
  type Cidr,
  type Family,
} from '../../lib/ip.js'

const FAMILY_KEYS: [Family, string][] = [
  [4, 'FLANNEL_SUBNET'],
  [6, 'FLANNEL_IPV6_SUBNET'],
]

const LINK_LOCAL6 = parseCidr('fe80::/10') as Cidr
const isLinkLocal6 = (a: Addr): boolean => a.family === 'inet6' && cidrContainsIP(LINK_LOCAL6, a.address)

export const check = defineCheck({
  id: 'node.cni0',
  area: 'node',
  title: 'cni0, if present, holds exactly the gateway address of FLANNEL_SUBNET',
  severity: 'error',
  needs: ['addrs', 'subnetEnv', 'links'],
  evaluate(facts) {
    const got = needAll(facts, ['addrs', 'subnetEnv'] as const, ['the addresses (ip addr)', 'subnet.env'])
    if (!got.ok) return [got.finding]
    const [addrs, env] = got.values
    const [addrSrc, envSrc] = got.sources as [string, string]
    const linksA = facts.get('links')
    const cni0Link = linksA.ok ? linksA.value.find((l) => l.name === 'cni0') : undefined
    const onCni0 = addrs.filter((a) => a.ifname === 'cni0')

    if (!cni0Link && onCni0.length === 0) {
      return [
        ok(
          linksA.ok
            ? 'There is no cni0 yet: no pod has been started on this node; the bridge plugin creates it with the first one.'
            : 'cni0 has no address (or does not exist yet: the bridge plugin creates it with the first pod).',
        ),
      ]
    }

    const findings: Finding[] = []
    const verified: string[] = []
    for (const [family, key] of FAMILY_KEYS) {
      const entry = [...env.entries].reverse().find((e) => e.key === key)
      if (!entry) {
        if (family === 4)
          findings.push(
            unknown(`subnet.env has no ${key}, so cni0's address cannot be judged`, {
              hint: 'see node.subnet-env',
            }),
          )
        continue
      }
      const sub = parseCidr(entry.value.trim())
      if (!sub || sub.family !== family) {
        findings.push(
          unknown(`subnet.env's ${key}=${entry.value} is not an IPv${family} CIDR`, {
            evidence: [ev(envSrc, [entry.raw])],
            hint: 'see node.subnet-env',
          }),
        )
        continue
      }
      const gw = `${firstHost(sub)}/${sub.prefix}`
      const fam = family === 4 ? 'inet' : 'inet6'
      const mine = onCni0.filter((a) => a.family === fam && !isLinkLocal6(a))
      // The bridge plugin compares `IPNet.String()`: same address and same prefix length.
      const isGw = (a: Addr): boolean =>
        normalizeIP(a.address) === firstHost(sub) && a.prefixlen === sub.prefix
      const range: Cidr = sub
      // The bridge plugin objects to any other IPv4 address, and to IPv6 ones that overlap the range.
      const conflicting = mine.filter((a) => {
        if (isGw(a)) return false
        if (family === 4) return true
        const c = parseCidr(`${a.address}/${a.prefixlen}`)
        return c !== undefined && cidrsOverlap(c, range)
      })
      const present = mine.some(isGw)
      const evidence = [
        ev(
          addrSrc,
          onCni0.filter((a) => a.family === fam).map((a) => a.raw.trim()),
        ),
        ev(envSrc, [entry.raw]),
      ]
      if (conflicting.length > 0) {
        const list = conflicting.map((a) => `${a.address}/${a.prefixlen}`).join(', ')
        findings.push(
          fail(
            'error',
            `cni0 holds ${list}${present ? ` besides ${gw}` : ` instead of ${gw}`} (the gateway of ${key}=${entry.value}), so new pods on this node fail with \`failed to set bridge addr: "cni0" already has an IP address different from ${gw}\`; the node's podCIDR changed while cni0 survived.`,
            {
              subject: 'cni0',
              evidence,
              fix: [
                'ip link set cni0 down && ip link delete cni0',
                `# the bridge plugin recreates cni0 with ${gw} for the next pod; delete the pods already on this node so they are re-attached`,
              ],
            },
          ),
        )
      } else if (!present) {
        const hasPods = linksA.ok && linksA.value.some((l) => l.master === 'cni0')
        if (hasPods)
          findings.push(
            fail(
              'error',
              `cni0 has pods attached but no ${gw} (the gateway of ${key}=${entry.value}): those pods' default route points to an address nobody holds.`,
              {
                subject: 'cni0',
                evidence,
                fix: [`ip addr add ${gw} dev cni0`],
              },
            ),
          )
        else verified.push(`has no IPv${family} address yet (the bridge plugin adds ${gw} with the next pod)`)
      } else verified.push(`holds ${gw}, the gateway of ${key}=${entry.value}`)
    }
    if (findings.every((f) => f.status === 'unknown') && verified.length > 0) {
      findings.push(
        ok(`cni0 ${verified.join(' and ')}, and no conflicting address.`, {
          subject: 'cni0',
          evidence: [
            ev(
              addrSrc,
              onCni0.filter((a) => !isLinkLocal6(a)).map((a) => a.raw.trim()),
            ),
          ],
        }),
      )
    }
    return findings
  },
})
