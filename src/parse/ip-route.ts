/**
 * `ip route` (also `-d`, `-6`, `show table all`), `ip -j route`, and the net-tools tables `route -n` /
 * `netstat -rn` (IPv4 and `-A inet6`) → Route[].
 *
 * Normalised so a check never sees the form: `dst` is `default` or a CIDR (host routes get /32 or
 * /128), `type` is `unicast` unless shown, a multipath route is one Route whose gateway/dev are the
 * first nexthop's (all of them in `nexthops`). net-tools tables cannot show onlink, proto, scope or the
 * exact type: a reject route (`!`) is taken as `unreachable`, a route without gateway and device (`*`)
 * as `blackhole` (that is how the kernel reports one to net-tools).
 */
import type {Route, RouteNexthop} from '../model.js'
import {parseIPv4} from '../lib/ip.js'
import {ParseError} from './errors.js'
import {
  type Json,
  type Line,
  type Tool,
  foreignLine,
  hostCidr,
  isIndented,
  isIp,
  isIpOrCidr,
  isJson,
  isObj,
  netmaskToPrefix,
  num,
  objs,
  parseJsonArray,
  promptCommand,
  splitLines,
  str,
  strs,
  tokens,
} from './iproute-common.js'

const TOOL: Tool = {name: '`ip route`', hint: 'capture it with `ip route` (or `ip -j route`, or `route -n`)'}
const ROUTE_N: Tool = {
  name: '`route -n`',
  hint: 'capture it with `ip route` (or `route -n`, with -n so gateways are numeric)',
}

const ROUTE_TYPES = new Set([
  'unicast',
  'local',
  'broadcast',
  'multicast',
  'blackhole',
  'unreachable',
  'prohibit',
  'throw',
  'nat',
  'anycast',
  'xresolve',
])

const NUD_STATES = new Set([
  'PERMANENT',
  'NOARP',
  'REACHABLE',
  'STALE',
  'DELAY',
  'PROBE',
  'FAILED',
  'INCOMPLETE',
])

/** Keys of a route line that take one value; metrics may add `lock` before theirs. */
const ROUTE_VALUE_KEYS = new Set([
  'via',
  'dev',
  'proto',
  'scope',
  'src',
  'metric',
  'table',
  'from',
  'tos',
  'dsfield',
  'nhid',
  'realm',
  'realms',
  'pref',
  'expires',
  'error',
  'weight',
  'as',
  'mtu',
  'advmss',
  'rtt',
  'rttvar',
  'reordering',
  'window',
  'cwnd',
  'initcwnd',
  'initrwnd',
  'ssthresh',
  'rto_min',
  'hoplimit',
  'features',
  'quickack',
  'congctl',
  'fastopen_no_cookie',
  'ttl-propagate',
  'encap',
])

/**
 * Parse routes from `ip route` / `ip -j route` / `route -n` / `netstat -rn` output (auto-detected).
 * Empty input gives `[]`; anything else that is not one of those throws ParseError.
 */
export function parseIpRoute(raw: string): Route[] {
  if (raw.trim() === '') return []
  if (isJson(raw)) return parseJsonArray(raw, TOOL).map(fromJson)
  const lines = splitLines(raw)
  const first = lines.find((l) => l.text.trim() !== '' && !promptCommand(l.text))
  if (first && /^\s*(?:Kernel IP(?:v6)? routing table|Destination\s)/.test(first.text))
    return fromRouteN(lines)
  return fromText(lines)
}

// ---- ip route text ------------------------------------------------------------------------------

interface Parsed {
  gateway?: string
  dev?: string
  onlink: boolean
  weight?: number
}

function fromText(lines: Line[]): Route[] {
  const out: Route[] = []
  let cur: Route | undefined
  for (const l of lines) {
    if (l.text.trim() === '') continue
    if (isIndented(l.text)) {
      if (!cur) throw foreignLine(TOOL, l, 'a route line before the indented nexthop lines')
      const tk = tokens(l.text)
      cur.raw += `\n${l.text}`
      if (tk[0] !== 'nexthop') continue // e.g. `cache` lines of `ip route get`
      const nh = nexthopFrom(readKeys(tk, 1, l).parsed)
      const list = (cur.nexthops ??= [])
      list.push(nh)
      if (list.length === 1) adoptFirstHop(cur, nh)
      continue
    }
    if (promptCommand(l.text)) {
      cur = undefined
      continue
    }
    cur = routeLine(l)
    out.push(cur)
  }
  return out
}

function routeLine(l: Line): Route {
  const tk = tokens(l.text)
  let i = 0
  let type = 'unicast'
  if (tk[0] !== undefined && ROUTE_TYPES.has(tk[0])) {
    type = tk[0]
    i = 1
  }
  const dstText = tk[i]
  if (dstText === undefined || (dstText !== 'default' && !isIpOrCidr(dstText)))
    throw foreignLine(TOOL, l, 'a route such as "10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink"')
  // Neighbour entries also start with an address; no route line has an lladdr or a NUD state.
  if (tk.some((t) => t === 'lladdr' || NUD_STATES.has(t)))
    throw foreignLine(TOOL, l, 'a route, not a neighbour entry (that is `ip neigh` output)')
  const {parsed, values} = readKeys(tk, i + 1, l)
  const r: Route = {
    dst: dstText === 'default' ? 'default' : hostCidr(dstText),
    onlink: parsed.onlink,
    type,
    raw: l.text,
  }
  if (parsed.gateway !== undefined) r.gateway = parsed.gateway
  if (parsed.dev !== undefined) r.dev = parsed.dev
  const set = (k: 'table' | 'protocol' | 'scope' | 'src', key: string) => {
    const v = values.get(key)
    if (v !== undefined) r[k] = v
  }
  set('table', 'table')
  set('protocol', 'proto')
  set('scope', 'scope')
  set('src', 'src')
  const metric = values.get('metric')
  if (metric !== undefined && /^\d+$/.test(metric)) r.metric = Number(metric)
  return r
}

/** Walk `key value` pairs and bare flags from index `start`; unknown bare words are tolerated. */
function readKeys(tk: string[], start: number, l: Line): {parsed: Parsed; values: Map<string, string>} {
  const parsed: Parsed = {onlink: false}
  const values = new Map<string, string>()
  for (let i = start; i < tk.length; i++) {
    const k = tk[i] as string
    if (k === 'onlink') {
      parsed.onlink = true
      continue
    }
    if (!ROUTE_VALUE_KEYS.has(k)) continue
    let v = tk[++i]
    // `via inet6 fe80::1` (a gateway of the other family), `mtu lock 1400`.
    if ((k === 'via' && (v === 'inet' || v === 'inet6')) || v === 'lock') v = tk[++i]
    if (v === undefined) break
    if (!values.has(k)) values.set(k, v)
    if (k === 'via') {
      if (!isIp(v)) throw new ParseError(`\`ip route\`: gateway "${v}" is not an address`, l.no, TOOL.hint)
      parsed.gateway = v
    } else if (k === 'dev') parsed.dev = v
    else if (k === 'weight' && /^\d+$/.test(v)) parsed.weight = Number(v)
  }
  return {parsed, values}
}

function nexthopFrom(p: Parsed): RouteNexthop {
  const nh: RouteNexthop = {onlink: p.onlink}
  if (p.gateway !== undefined) nh.gateway = p.gateway
  if (p.dev !== undefined) nh.dev = p.dev
  if (p.weight !== undefined) nh.weight = p.weight
  return nh
}

/** A multipath route shows its first nexthop's gateway, device and onlink (text and JSON alike). */
function adoptFirstHop(r: Route, nh: RouteNexthop): void {
  if (r.gateway === undefined && nh.gateway !== undefined) r.gateway = nh.gateway
  if (r.dev === undefined && nh.dev !== undefined) r.dev = nh.dev
  if (nh.onlink) r.onlink = true
}

// ---- ip -j route --------------------------------------------------------------------------------

function gatewayOf(o: Json): string | undefined {
  const g = str(o, 'gateway')
  if (g !== undefined) return g
  // `"via": {"family": "inet6", "host": "fe80::1"}` for a gateway of the other family.
  const via = o['via']
  return isObj(via) ? str(via, 'host') : undefined
}

function fromJson(o: Json, i: number): Route {
  const dst = str(o, 'dst')
  if (dst === undefined || (dst !== 'default' && !isIpOrCidr(dst)))
    throw new ParseError(
      `\`ip -j route\`: element ${i + 1} has no destination in "dst" (is this the output of another command?)`,
      undefined,
      TOOL.hint,
    )
  const flags = strs(o, 'flags')
  const r: Route = {
    dst: dst === 'default' ? 'default' : hostCidr(dst),
    onlink: flags.includes('onlink'),
    type: str(o, 'type') ?? 'unicast',
    raw: '',
  }
  const gw = gatewayOf(o)
  if (gw !== undefined) r.gateway = gw
  const dev = str(o, 'dev')
  if (dev !== undefined) r.dev = dev
  const table = str(o, 'table') ?? (num(o, 'table') !== undefined ? String(num(o, 'table')) : undefined)
  if (table !== undefined) r.table = table
  const proto = str(o, 'protocol')
  if (proto !== undefined) r.protocol = proto
  const scope = str(o, 'scope')
  if (scope !== undefined) r.scope = scope
  const src = str(o, 'prefsrc')
  if (src !== undefined) r.src = src
  const metric = num(o, 'metric')
  if (metric !== undefined) r.metric = metric
  const nhs = objs(o, 'nexthops')
  if (nhs.length > 0) {
    r.nexthops = nhs.map((n) => {
      const nf = strs(n, 'flags')
      const nh: RouteNexthop = {onlink: nf.includes('onlink')}
      const g = gatewayOf(n)
      if (g !== undefined) nh.gateway = g
      const d = str(n, 'dev')
      if (d !== undefined) nh.dev = d
      const w = num(n, 'weight')
      if (w !== undefined) nh.weight = w
      return nh
    })
    const firstHop = r.nexthops[0]
    if (firstHop) adoptFirstHop(r, firstHop)
  }
  r.raw = renderRoute(o, nhs)
  return r
}

/** The route as `ip route` prints it (same key order), from a `-j` object. */
function renderRoute(o: Json, nhs: Json[]): string {
  const parts: string[] = []
  const type = str(o, 'type')
  if (type !== undefined && type !== 'unicast') parts.push(type)
  parts.push(str(o, 'dst') ?? '?')
  const hop = (h: Json) => {
    const g = gatewayOf(h)
    if (g !== undefined) parts.push('via', g)
    const d = str(h, 'dev')
    if (d !== undefined) parts.push('dev', d)
  }
  hop(o)
  const kv = (key: string, label: string) => {
    const v = o[key]
    if (typeof v === 'string' || typeof v === 'number') parts.push(label, String(v))
  }
  kv('table', 'table')
  kv('protocol', 'proto')
  kv('scope', 'scope')
  kv('prefsrc', 'src')
  kv('metric', 'metric')
  parts.push(...strs(o, 'flags'))
  kv('pref', 'pref')
  const expires = num(o, 'expires')
  if (expires !== undefined) parts.push('expires', `${expires}sec`)
  for (const m of objs(o, 'metrics')) {
    for (const [k, v] of Object.entries(m))
      if (typeof v === 'number' || typeof v === 'string') parts.push(k, String(v))
  }
  let s = parts.join(' ')
  for (const n of nhs) {
    const hp: string[] = ['nexthop']
    const g = gatewayOf(n)
    if (g !== undefined) hp.push('via', g)
    const d = str(n, 'dev')
    if (d !== undefined) hp.push('dev', d)
    const w = num(n, 'weight')
    if (w !== undefined) hp.push('weight', String(w))
    hp.push(...strs(n, 'flags'))
    s += `\n\t${hp.join(' ')}`
  }
  return s
}

// ---- route -n / netstat -rn ---------------------------------------------------------------------

function fromRouteN(lines: Line[]): Route[] {
  const out: Route[] = []
  let cols: string[] | undefined
  for (const l of lines) {
    const t = l.text.trim()
    if (t === '') continue
    if (/^Kernel IP(?:v6)? routing table/.test(t)) {
      cols = undefined
      continue
    }
    if (/^Destination\s/.test(t)) {
      cols = tokens(t.replace('Next Hop', 'NextHop'))
      continue
    }
    if (promptCommand(l.text)) continue
    if (!cols) throw foreignLine(ROUTE_N, l, 'the "Destination Gateway Genmask ..." column header first')
    const tk = tokens(t)
    if (tk.length !== cols.length) throw foreignLine(ROUTE_N, l, `${cols.length} columns (${cols.join(' ')})`)
    const col = new Map<string, string>()
    cols.forEach((c, i) => col.set(c, tk[i] as string))
    out.push(cols.includes('Genmask') ? routeNv4(col, l) : routeNv6(col, l))
  }
  return out
}

const noneGw = (g: string | undefined): boolean =>
  g === undefined || g === '0.0.0.0' || g === '*' || g === '-' || g === '::'
const noDev = (d: string | undefined): boolean => d === undefined || d === '*' || d === '-'

function routeNv4(col: Map<string, string>, l: Line): Route {
  const dest = col.get('Destination') ?? ''
  const mask = col.get('Genmask') ?? ''
  const gw = col.get('Gateway')
  if (parseIPv4(dest) === undefined)
    throw new ParseError(
      `\`route\`: destination "${dest}" is not an IPv4 address (names need \`route -n\`)`,
      l.no,
      ROUTE_N.hint,
    )
  const prefix = netmaskToPrefix(mask)
  if (prefix === undefined)
    throw new ParseError(`\`route -n\`: "${mask}" is not a netmask`, l.no, ROUTE_N.hint)
  if (!noneGw(gw) && !isIp(gw as string))
    throw new ParseError(
      `\`route\`: gateway "${gw}" is not an address (names need \`route -n\`)`,
      l.no,
      ROUTE_N.hint,
    )
  return routeNCommon(
    dest === '0.0.0.0' && prefix === 0 ? 'default' : `${dest}/${prefix}`,
    gw,
    col,
    'Flags',
    'Metric',
    'Iface',
    l,
  )
}

function routeNv6(col: Map<string, string>, l: Line): Route {
  const dest = col.get('Destination') ?? ''
  const gw = col.get('NextHop')
  if (!dest.includes('/') || !isIpOrCidr(dest))
    throw new ParseError(
      `\`route -A inet6\`: destination "${dest}" is not an IPv6 prefix`,
      l.no,
      ROUTE_N.hint,
    )
  if (!noneGw(gw) && !isIp(gw as string))
    throw new ParseError(`\`route -A inet6\`: next hop "${gw}" is not an address`, l.no, ROUTE_N.hint)
  return routeNCommon(dest === '::/0' ? 'default' : dest, gw, col, 'Flag', 'Met', 'If', l)
}

function routeNCommon(
  dst: string,
  gw: string | undefined,
  col: Map<string, string>,
  flagCol: string,
  metricCol: string,
  devCol: string,
  l: Line,
): Route {
  const flags = col.get(flagCol) ?? ''
  const dev = col.get(devCol)
  const reject = flags.includes('!')
  const type = reject ? 'unreachable' : noneGw(gw) && noDev(dev) ? 'blackhole' : 'unicast'
  const r: Route = {dst, onlink: false, type, raw: l.text.trim()}
  if (!noneGw(gw)) r.gateway = gw as string
  if (!noDev(dev)) r.dev = dev as string
  const m = col.get(metricCol)
  if (m !== undefined && /^-?\d+$/.test(m)) {
    // net-tools prints the kernel's u32 metric as a signed int (-1 = 4294967295).
    const n = Number(m)
    r.metric = n < 0 ? n + 2 ** 32 : n
  }
  return r
}
