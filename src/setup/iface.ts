/**
 * Which interface and address flanneld would use on this host, decided exactly as flanneld decides it
 * (flannel-facts §8; flannel-io/flannel main.go, pkg/ipmatch/match.go `LookupExtIface`, pkg/ip/iface.go),
 * so `setup` programs the vxlan device over the same underlay a real flanneld would pick:
 *
 * - `--iface` values (names or IPs) are tried in order, then every `--iface-regex` (matched first against
 *   the interfaces' IPv4 addresses, then against their names), then `--iface-can-reach` (the device of
 *   `ip route get <ip>`); a candidate that fails is logged (`Could not find valid interface matching %s: %s`)
 *   and the next one is tried; none left → `Failed to find interface to use that matches the interfaces
 *   and/or regexes provided`.
 * - With none of those flags, a `--public-ip` is looked up as an address of this host (the interface
 *   holding it is used); without it, the link of the first IPv4 default route of the main table. Any
 *   failure there → `Failed to find any valid interface to use: <error>`.
 * - The address is the first IPv4 address of the interface after flannel's sort (global before link-local,
 *   permanent before dynamic, non-temporary first; deprecated ones dropped), unless the candidate itself
 *   named the address (an `--iface` IP, the address a regex matched, the `src` of the route).
 * - The advertised (public) IP is `--public-ip` when given — with iface flags it need not be local (NAT) —
 *   otherwise the interface address. An interface MTU of 0 rejects the candidate.
 *
 * IPv4 only: the vxlan setup this feeds is IPv4 (flannel's dual-stack paths are not modelled).
 */
import {isMainTable} from '../checks/lib/datapath.js'
import type {Addr, Link, Route} from '../model.js'
import {cidrContainsIP, normalizeIP, parseCidr, parseIP, parseIPv4} from '../lib/ip.js'

export interface InterfaceOptions {
  /** `--iface`: interface names or IPs, tried in order. */
  iface?: string[]
  /** `--iface-regex`: tried after every `--iface`, against addresses first, then names. */
  ifaceRegex?: string[]
  /** `--iface-can-reach`: the interface `ip route get <ip>` answers with. */
  ifaceCanReach?: string
  /** `--public-ip` (or the `node-public-ip` annotation): the address peers send tunnels to. */
  publicIP?: string
}

/** The part of `ip route get <ip>` that flannel uses: the device, and the source address the kernel picked. */
export interface RouteGetAnswer {
  dev?: string
  src?: string
}

export interface InterfaceFacts {
  links: readonly Link[]
  addrs: readonly Addr[]
  routes: readonly Route[]
  /** `ip route get <ip>` on the host; undefined answer = no route. Absent → longest-prefix match over `routes`. */
  routeGet?: (ip: string) => RouteGetAnswer | undefined
}

export type InterfaceChoice =
  | {
      ok: true
      iface: string
      /** The interface address flannel logs (`Using interface with name %s and address %s`). */
      ifaceAddr: string
      /** The external address: the vxlan `local` and the node's `public-ip` annotation. */
      publicIP: string
      /** The interface MTU (before any backend overhead). */
      mtu: number
      /** Why this interface, e.g. `default route interface eth0`. */
      how: string
      /** The lines flanneld would log on the way (info level), in order. */
      log: string[]
    }
  | {
      ok: false
      /** One sentence for a person: what is wrong and what to pass instead. */
      message: string
      /** flanneld's own fatal line, e.g. `Failed to find any valid interface to use: ...`. */
      flannelMessage: string
      /** The doctor check that covers this condition. */
      check: string
      log: string[]
    }

const CHECK = 'node.interface'
const NO_SUCH_INTERFACE = 'route ip+net: no such network interface'
const ALL_FLAGS_FAILED = 'Failed to find interface to use that matches the interfaces and/or regexes provided'
const DEFAULT_FAILED = 'Failed to find any valid interface to use: '

type Fault =
  'no-default' | 'multipath' | 'not-local' | 'no-iface' | 'no-addr' | 'mtu' | 'regex' | 'bad-ip' | 'route'

interface Found {
  ok: true
  link: Link
  ifaceAddr: string
  publicIP: string
  how: string
  log: string[]
}
interface Failed {
  ok: false
  error: string
  fault: Fault
  /** Our sentence for the cause. */
  why: string
  log: string[]
}

const isV4 = (s: string | undefined): boolean => s !== undefined && parseIPv4(s) !== undefined

/** The family of a route as netlink lists it (`default` is printed for both families). */
function routeIsV4(r: Route): boolean {
  if (r.dst !== 'default') return parseCidr(r.dst)?.family === 4
  const hints = [r.gateway, r.src, ...(r.nexthops ?? []).map((n) => n.gateway)].filter(
    (x): x is string => x !== undefined,
  )
  return hints.length === 0 || hints.some((h) => isV4(h))
}

const isDefault = (r: Route): boolean => r.dst === 'default' || r.dst === '0.0.0.0/0'

/**
 * flanneld's default route: the first IPv4 route of the main table without destination (or 0.0.0.0/0),
 * whatever its type; it must name exactly one link (a multipath or blackhole default does not).
 */
export function defaultRouteDevice(
  routes: readonly Route[],
): {ok: true; dev: string; route: Route} | {ok: false; error: string; route?: Route} {
  const r = routes.find((x) => isMainTable(x) && isDefault(x) && routeIsV4(x))
  if (!r) return {ok: false, error: 'unable to find default route'}
  const hops = r.nexthops ?? []
  const dev = hops.length > 1 ? undefined : (hops[0]?.dev ?? r.dev)
  if (dev === undefined)
    return {ok: false, error: 'found default route but could not determine interface', route: r}
  return {ok: true, dev, route: r}
}

/** Go's `IsGlobalUnicast` / `IsLinkLocalUnicast` for IPv4. */
function v4Class(ip: string): 'global' | 'link-local' | 'other' {
  const v = parseIPv4(ip)
  if (v === undefined) return 'other'
  const a = Number(v >> 24n)
  if (v === 0n || v === 0xffffffffn || a === 127 || a >= 224) return 'other'
  if (v >> 16n === 0xa9fen) return 'link-local'
  return 'global'
}

const has = (a: Addr, flag: string): boolean => a.flags.includes(flag)
/** iproute2 prints `dynamic` when IFA_F_PERMANENT is not set. */
const permanent = (a: Addr): boolean => !has(a, 'dynamic')
/** IFA_F_TEMPORARY is the same bit as IFA_F_SECONDARY; iproute2 names it `secondary` for IPv4. */
const temporary = (a: Addr): boolean => has(a, 'temporary') || has(a, 'secondary')

/**
 * The IPv4 addresses of one interface in the order flannel prefers them (pkg/ip/iface.go
 * `GetInterfaceIP4Addrs` + `compareAddrs`): global before link-local, permanent before dynamic,
 * non-temporary before temporary, capture order otherwise; deprecated and non-unicast ones left out.
 */
export function ipv4AddrsInFlannelOrder(ifname: string, addrs: readonly Addr[]): string[] {
  const rank = (a: Addr): number[] => [
    v4Class(a.address) === 'global' ? 0 : 1,
    permanent(a) ? 0 : 1,
    temporary(a) ? 1 : 0,
  ]
  return addrs
    .filter((a) => a.ifname === ifname && a.family === 'inet' && isV4(a.address))
    .filter((a) => v4Class(a.address) !== 'other' && !has(a, 'deprecated'))
    .map((a, i) => ({a, i, r: rank(a)}))
    .sort((x, y) => {
      for (let k = 0; k < x.r.length; k++) if (x.r[k] !== y.r[k]) return (x.r[k] ?? 0) - (y.r[k] ?? 0)
      return x.i - y.i
    })
    .map((x) => normalizeIP(x.a.address) ?? x.a.address)
}

/** Go regexp (RE2) → JavaScript: a leading `(?flags)` group and `\A` / `\z` are the differences that matter here. */
function compileGoRegex(src: string): RegExp {
  let body = src
  let flags = ''
  const m = /^\(\?([a-zA-Z]+)\)/.exec(body)
  if (m) {
    for (const f of m[1] as string) {
      if (f === 'i' || f === 'm' || f === 's') flags += flags.includes(f) ? '' : f
      else throw new Error(`flag ${f} is not supported here`)
    }
    body = body.slice(m[0].length)
  }
  body = body.replace(/\\A/g, '^').replace(/\\z/g, '$(?![\\s\\S])')
  return new RegExp(body, flags)
}

/** One `LookupExtIface` call: exactly one of `ifname`, `regex`, `canReach` (or none: default route). */
function lookup(
  facts: InterfaceFacts,
  links: readonly Link[],
  which: {ifname?: string; regex?: string; canReach?: string},
  publicIP: string | undefined,
  howOfIP: (ip: string, link: string) => string,
): Found | Failed {
  const log: string[] = []
  const fail = (error: string, fault: Fault, why: string): Failed => ({ok: false, error, fault, why, log})
  const byName = (name: string | undefined): Link | undefined =>
    name === undefined ? undefined : links.find((l) => l.name === name)
  let link: Link | undefined
  let ifaceAddr: string | undefined
  let how: string

  if (which.ifname !== undefined) {
    const ip = parseIP(which.ifname)
    if (ip) {
      const want = normalizeIP(which.ifname) as string
      log.push(`Searching for interface using ${want}`)
      // GetInterfaceByIP compares IPv4 addresses only, in interface order, whatever their flags.
      link =
        ip.family === 4
          ? links.find((l) =>
              facts.addrs.some(
                (a) => a.ifname === l.name && a.family === 'inet' && normalizeIP(a.address) === want,
              ),
            )
          : undefined
      if (!link)
        return fail(
          `error looking up interface ${which.ifname}: no interface with given IP found`,
          'not-local',
          `${want} is not an IPv4 address of any interface on this host`,
        )
      ifaceAddr = want
      how = howOfIP(want, link.name)
    } else {
      link = byName(which.ifname)
      if (!link)
        return fail(
          `error looking up interface ${which.ifname}: ${NO_SUCH_INTERFACE}`,
          'no-iface',
          `there is no interface named ${which.ifname}`,
        )
      how = `--iface ${link.name}`
    }
  } else if (which.regex !== undefined) {
    let re: RegExp
    try {
      re = compileGoRegex(which.regex)
    } catch (e) {
      return fail(
        `could not compile the IP address regex '${which.regex}': ${(e as Error).message}`,
        'regex',
        `--iface-regex ${which.regex} is not a valid regular expression`,
      )
    }
    for (const l of links) {
      const hit = ipv4AddrsInFlannelOrder(l.name, facts.addrs).find((a) => re.test(a))
      if (hit !== undefined) {
        link = l
        ifaceAddr = hit
        break
      }
    }
    how = link ? `--iface-regex ${which.regex} matched address ${ifaceAddr} of ${link.name}` : ''
    if (!link) {
      link = links.find((l) => re.test(l.name))
      if (link) how = `--iface-regex ${which.regex} matched interface ${link.name}`
    }
    if (!link) {
      const avail = links.map((l) => `${l.name}:[${ipv4AddrsInFlannelOrder(l.name, facts.addrs).join(' ')}]`)
      return fail(
        `could not match pattern ${which.regex} to any of the available network interfaces (${avail.join(', ')})`,
        'regex',
        `--iface-regex ${which.regex} matches no interface address or name`,
      )
    }
  } else if (which.canReach !== undefined) {
    const target = which.canReach
    log.push(`Determining interface to use based on given ifcanreach: ${target}`)
    const prefix = 'failed to get ifcanreach based interface: '
    const ip = normalizeIP(target)
    if (ip === undefined)
      return fail(
        `${prefix}couldn't lookup route to <nil>: invalid argument`,
        'route',
        `--iface-can-reach ${target} is not an IP address`,
      )
    const ans = facts.routeGet ? facts.routeGet(ip) : routeGetFromTable(ip, facts)
    if (!ans)
      return fail(
        `${prefix}couldn't lookup route to ${ip}: network is unreachable`,
        'route',
        `this host has no route to --iface-can-reach ${ip}`,
      )
    link = byName(ans.dev)
    if (!link)
      return fail(
        `${prefix}couldn't lookup interface: ${NO_SUCH_INTERFACE}`,
        'route',
        `the route to ${ip} names no known interface (${ans.dev ?? 'no device'})`,
      )
    if (ans.src !== undefined && isV4(ans.src)) ifaceAddr = normalizeIP(ans.src)
    how = `--iface-can-reach ${ip} routes through ${link.name}`
  } else {
    log.push('Determining IP address of default interface')
    const d = defaultRouteDevice(facts.routes)
    if (!d.ok) {
      const multipath = (d.route?.nexthops ?? []).length > 1
      return fail(
        `failed to get default interface: ${d.error}`,
        d.route ? 'multipath' : 'no-default',
        d.route
          ? multipath
            ? `the IPv4 default route is multipath (${d.route.nexthops?.map((n) => n.dev ?? n.gateway).join(', ')}), so it names no single interface`
            : `the IPv4 default route (${d.route.raw.trim()}) names no interface`
          : 'this host has no IPv4 default route in the main table',
      )
    }
    link = byName(d.dev)
    if (!link)
      return fail(
        `failed to get default interface: ${NO_SUCH_INTERFACE}`,
        'no-iface',
        `the default route uses ${d.dev}, which is not among the host's links`,
      )
    how = `default route interface ${link.name}`
  }

  if (ifaceAddr === undefined) {
    ifaceAddr = ipv4AddrsInFlannelOrder(link.name, facts.addrs)[0]
    if (ifaceAddr === undefined)
      return fail(
        `failed to find IPv4 address for interface ${link.name}`,
        'no-addr',
        `${link.name} has no usable IPv4 address`,
      )
  }
  log.push(`Using interface with name ${link.name} and address ${ifaceAddr}`)
  // flannel prints the address here, not the name.
  if (link.mtu === 0)
    return fail(`failed to determine MTU for ${ifaceAddr} interface`, 'mtu', `${link.name} reports MTU 0`)
  let ext = ifaceAddr
  if (publicIP !== undefined && publicIP !== '') {
    const p = normalizeIP(publicIP)
    if (p === undefined)
      return fail(
        `invalid public IP address: ${publicIP}`,
        'bad-ip',
        `--public-ip ${publicIP} is not an IP address`,
      )
    ext = p
    log.push(`Using ${p} as external address`)
  } else log.push(`Defaulting external address to interface address (${ifaceAddr})`)
  return {ok: true, link, ifaceAddr, publicIP: ext, how, log}
}

/**
 * `ip route get` emulated over the main table (and this host's own addresses, which the kernel routes
 * through `lo`): longest prefix, then lowest metric; blackhole/unreachable/prohibit give no route. The
 * source is the route's `src`, else what the kernel would pick: the first primary address of the device in
 * the gateway's (or target's) subnet, else its first primary global address.
 */
function routeGetFromTable(ip: string, facts: InterfaceFacts): RouteGetAnswer | undefined {
  if (facts.addrs.some((a) => a.family === 'inet' && normalizeIP(a.address) === ip))
    return {dev: 'lo', src: ip}
  const pick = (target: string, depth: number): RouteGetAnswer | undefined => {
    let best: {r: Route; prefix: number} | undefined
    for (const r of facts.routes) {
      if (!isMainTable(r) || !routeIsV4(r)) continue
      const c = isDefault(r) ? parseCidr('0.0.0.0/0') : parseCidr(r.dst)
      if (!c || c.family !== 4 || !cidrContainsIP(c, target)) continue
      if (
        !best ||
        c.prefix > best.prefix ||
        (c.prefix === best.prefix && (r.metric ?? 0) < (best.r.metric ?? 0))
      )
        best = {r, prefix: c.prefix}
    }
    if (!best) return undefined
    const r = best.r
    if (r.type !== 'unicast' && r.type !== 'local') return undefined
    const hop = r.nexthops?.[0]
    const dev = hop?.dev ?? r.dev
    const gw = hop?.gateway ?? r.gateway
    if (dev === undefined) return gw !== undefined && depth < 3 ? pick(gw, depth + 1) : undefined
    const out: RouteGetAnswer = {dev}
    const src = r.src ?? kernelSource(dev, gw ?? target, gw === undefined, facts.addrs)
    if (src !== undefined) out.src = src
    return out
  }
  return pick(ip, 0)
}

function kernelSource(
  dev: string,
  near: string,
  linkScope: boolean,
  addrs: readonly Addr[],
): string | undefined {
  const own = addrs.filter(
    (a) =>
      a.ifname === dev &&
      a.family === 'inet' &&
      !has(a, 'secondary') &&
      (a.scope === undefined || a.scope === 'global' || (linkScope && a.scope === 'link')),
  )
  const inSubnet = own.find((a) => {
    const c = parseCidr(`${a.address}/${a.prefixlen}`)
    return c !== undefined && cidrContainsIP(c, near)
  })
  const a = inSubnet ?? own[0]
  return a ? normalizeIP(a.address) : undefined
}

const ADVICE: Record<Fault, string> = {
  'no-default':
    'give flanneld (and setup) --iface NAME or --iface-can-reach <another node IP>, or add a default route',
  multipath: 'give --iface NAME (the NIC of the node network) or --iface-can-reach <another node IP>',
  'not-local':
    'use an address this host holds, or also give --iface NAME so the public IP may be any address (NAT)',
  'no-iface': 'give the name of an existing interface (ip -br link lists them)',
  'no-addr': 'add an IPv4 address to that interface or choose another one with --iface',
  mtu: 'choose another interface with --iface',
  regex: 'fix the pattern (it is matched against IPv4 addresses first, then names)',
  'bad-ip': 'give an IPv4 address',
  route: 'give an address another node has, reachable from this host',
}

/** Pick the external interface, its address and the public IP exactly as flanneld does (flannel-facts §8). */
export function chooseInterface(opts: InterfaceOptions, facts: InterfaceFacts): InterfaceChoice {
  // net.Interfaces() lists by index; captures list in index order already.
  const links = facts.links
    .map((l, i) => ({l, i}))
    .sort((a, b) => (a.l.index ?? Infinity) - (b.l.index ?? Infinity) || a.i - b.i)
    .map((x) => x.l)
  const ifaces = opts.iface ?? []
  const regexes = opts.ifaceRegex ?? []
  const canReach =
    opts.ifaceCanReach !== undefined && opts.ifaceCanReach !== '' ? opts.ifaceCanReach : undefined
  const publicIP = opts.publicIP !== undefined && opts.publicIP !== '' ? opts.publicIP : undefined
  const done = (f: Found, log: string[]): InterfaceChoice => ({
    ok: true,
    iface: f.link.name,
    ifaceAddr: f.ifaceAddr,
    publicIP: f.publicIP,
    mtu: f.link.mtu,
    how: f.how,
    log: [...log, ...f.log],
  })

  if (ifaces.length === 0 && regexes.length === 0 && canReach === undefined) {
    // Without iface flags flanneld passes the public IP as the interface to look up.
    const r = lookup(
      facts,
      links,
      publicIP !== undefined ? {ifname: publicIP} : {},
      publicIP,
      (ip, name) => `interface ${name} holds --public-ip ${ip}`,
    )
    if (r.ok) return done(r, [])
    const flannelMessage = DEFAULT_FAILED + r.error
    const why =
      r.fault === 'not-local'
        ? `--public-ip ${publicIP} is not an address of this host, and without --iface flanneld uses the interface that holds it`
        : r.fault === 'no-iface' && publicIP !== undefined && r.error.includes(`interface ${publicIP}:`)
          ? `--public-ip ${publicIP} is not an IP address`
          : r.why
    return {
      ok: false,
      message: `flanneld would exit at start: ${why}; ${ADVICE[r.fault]}.`,
      flannelMessage,
      check: CHECK,
      log: r.log,
    }
  }

  const log: string[] = []
  const reasons: string[] = []
  let last: Fault = 'no-iface'
  const tryOne = (
    which: {ifname?: string; regex?: string; canReach?: string},
    label: string,
  ): InterfaceChoice | undefined => {
    const r = lookup(facts, links, which, publicIP, (ip, name) => `--iface ${ip} (an address of ${name})`)
    if (r.ok) return done(r, log)
    log.push(...r.log, `Could not find valid interface matching ${label}: ${r.error}`)
    reasons.push(r.why)
    last = r.fault
    return undefined
  }
  for (const name of ifaces) {
    const r = tryOne({ifname: name}, name)
    if (r) return r
  }
  for (const re of regexes) {
    const r = tryOne({regex: re}, re)
    if (r) return r
  }
  if (canReach !== undefined) {
    const r = tryOne({canReach}, `ifaceCanReach: ${canReach}`)
    if (r) return r
  }
  const given = [
    ...ifaces.map((x) => `--iface ${x}`),
    ...regexes.map((x) => `--iface-regex ${x}`),
    ...(canReach !== undefined ? [`--iface-can-reach ${canReach}`] : []),
  ]
  return {
    ok: false,
    message: `flanneld would exit at start: none of ${given.join(', ')} gives a usable interface (${reasons.join('; ')}); ${ADVICE[last]}.`,
    flannelMessage: ALL_FLAGS_FAILED,
    check: CHECK,
    log,
  }
}
