/**
 * `ip addr` (text), `ip -j addr` and `ifconfig` → Addr[].
 *
 * `ifconfig` comes in two shapes: net-tools 2.10 (`eth0: flags=4163<UP,...>  mtu 1500` then `inet
 * 10.0.0.1  netmask 255.255.255.0  broadcast ...`, `inet6 fe80::1  prefixlen 64  scopeid 0x20<link>`)
 * and the old 1.60 one still found on older distributions and in bug reports (`eth0  Link
 * encap:Ethernet  HWaddr ...` then `inet addr:10.0.2.15  Bcast:...  Mask:255.255.255.0`, `inet6 addr:
 * fe80::1/64 Scope:Link`). Netmasks become prefix lengths; an alias block (`eth0:1`) belongs to `eth0`.
 */
import type {Addr} from '../model.js'
import {ParseError} from './errors.js'
import {
  type Json,
  type Line,
  type Tool,
  foreignLine,
  isIndented,
  isIp,
  isJson,
  linkBlocks,
  netmaskToPrefix,
  num,
  objs,
  parseJsonArray,
  promptCommand,
  splitLines,
  str,
  tokens,
} from './iproute-common.js'

const TOOL: Tool = {name: '`ip addr`', hint: 'capture it with `ip addr` (or `ip -j addr`)'}
const IFCONFIG: Tool = {
  name: '`ifconfig`',
  hint: 'capture it with `ip addr` (or `ip -j addr`) instead of ifconfig',
}

/** Keys of an `inet`/`inet6` line that take a value. */
const ADDR_VALUE_KEYS = new Set(['peer', 'brd', 'scope', 'metric', 'proto'])

const IFCONFIG_NEW = /^(\S+?):\s+flags=\d+<[^>]*>/
const IFCONFIG_OLD = /^(\S+)\s+Link encap:/

/**
 * Parse addresses from `ip addr` / `ip -j addr` / `ifconfig` output (auto-detected). Empty input gives
 * `[]`; anything else that is not one of those throws ParseError.
 */
export function parseIpAddr(raw: string): Addr[] {
  if (raw.trim() === '') return []
  if (isJson(raw)) return fromJson(parseJsonArray(raw, TOOL))
  const lines = splitLines(raw)
  const first = lines.find((l) => l.text.trim() !== '' && !promptCommand(l.text))
  if (first && (IFCONFIG_NEW.test(first.text) || IFCONFIG_OLD.test(first.text))) return fromIfconfig(lines)
  return fromIpText(lines)
}

function fromIpText(lines: Line[]): Addr[] {
  const blocks = linkBlocks(lines, TOOL)
  const out: Addr[] = []
  for (const b of blocks) {
    for (const l of b.lines) {
      const tk = tokens(l.text)
      const fam = tk[0]
      if (fam !== 'inet' && fam !== 'inet6') continue
      out.push(addrFromTokens(b.header.name, fam, tk, l))
    }
  }
  // `ip link` has the same headers but never an address; say so instead of returning nothing.
  if (out.length === 0 && blocks.some((b) => / mode \S+/.test(b.header.raw))) {
    throw new ParseError(
      'this is `ip link` output (headers with "mode ..."), which carries no addresses',
      blocks[0]?.headerLine,
      TOOL.hint,
    )
  }
  return out
}

function addrFromTokens(ifname: string, family: 'inet' | 'inet6', tk: string[], l: Line): Addr {
  const local = tk[1] ?? ''
  const [address, prefixText] = splitCidr(local)
  if (!isIp(address)) throw new ParseError(`\`ip addr\`: "${local}" is not an address`, l.no, TOOL.hint)
  let prefix = prefixText
  let scope: string | undefined
  const flags: string[] = []
  for (let i = 2; i < tk.length; i++) {
    const t = tk[i] as string
    if (ADDR_VALUE_KEYS.has(t)) {
      const v = tk[i + 1]
      i++
      // `10.200.0.1 peer 10.200.0.2/32`: the prefix length is the peer's.
      if (t === 'peer' && v !== undefined) prefix = splitCidr(v)[1] ?? prefix
      if (t === 'scope' && v !== undefined) scope = v
      continue
    }
    // The label (`eth0`, `eth0:1`) closes IPv4 lines; everything else bare is a flag.
    if (t === ifname || t.startsWith(`${ifname}:`)) continue
    flags.push(t)
  }
  const prefixlen = prefix !== undefined ? Number(prefix) : family === 'inet' ? 32 : 128
  if (prefix === '' || prefixlen > (family === 'inet' ? 32 : 128))
    throw new ParseError(`\`ip addr\`: "${local}" has an invalid prefix length`, l.no, TOOL.hint)
  const a: Addr = {ifname, family, address, prefixlen, flags, raw: l.text.trim()}
  if (scope !== undefined) a.scope = scope
  return a
}

function splitCidr(s: string): [string, string | undefined] {
  const i = s.indexOf('/')
  if (i === -1) return [s, undefined]
  const p = s.slice(i + 1)
  return [s.slice(0, i), /^\d{1,3}$/.test(p) ? p : '']
}

function fromJson(items: Json[]): Addr[] {
  const out: Addr[] = []
  items.forEach((o, i) => {
    const ifname = str(o, 'ifname')
    if (ifname === undefined || !Array.isArray(o['addr_info'])) {
      throw new ParseError(
        `\`ip -j addr\`: element ${i + 1} has no ${ifname === undefined ? '"ifname"' : '"addr_info"'} (is this \`ip -j link\` or another command?)`,
        undefined,
        TOOL.hint,
      )
    }
    for (const ai of objs(o, 'addr_info')) {
      const family = str(ai, 'family')
      const local = str(ai, 'local')
      const prefixlen = num(ai, 'prefixlen')
      if ((family !== 'inet' && family !== 'inet6') || local === undefined || prefixlen === undefined)
        continue
      if (
        !isIp(local) ||
        !Number.isInteger(prefixlen) ||
        prefixlen < 0 ||
        prefixlen > (family === 'inet' ? 32 : 128)
      ) {
        throw new ParseError(
          `\`ip -j addr\`: ${ifname} has an invalid address ${local}/${prefixlen}`,
          undefined,
          TOOL.hint,
        )
      }
      const flags = Object.keys(ai).filter((k) => ai[k] === true)
      const a: Addr = {
        ifname,
        family,
        address: local,
        prefixlen,
        flags,
        raw: renderAddr(ai, family, local, prefixlen, flags),
      }
      const scope = str(ai, 'scope')
      if (scope !== undefined) a.scope = scope
      out.push(a)
    }
  })
  return out
}

/** The `inet ...` line as `ip addr` prints it, from a `-j` addr_info object. */
function renderAddr(ai: Json, family: string, local: string, prefixlen: number, flags: string[]): string {
  const peer = str(ai, 'address')
  let s = `${family} ${local}${peer !== undefined ? ` peer ${peer}` : ''}/${prefixlen}`
  const metric = num(ai, 'metric')
  if (metric !== undefined) s += ` metric ${metric}`
  const brd = str(ai, 'broadcast')
  if (brd !== undefined) s += ` brd ${brd}`
  const scope = str(ai, 'scope')
  if (scope !== undefined) s += ` scope ${scope}`
  for (const f of flags) s += ` ${f}`
  const label = str(ai, 'label')
  if (label !== undefined) s += ` ${label}`
  return s
}

// ---- ifconfig -----------------------------------------------------------------------------------

function fromIfconfig(lines: Line[]): Addr[] {
  const out: Addr[] = []
  let ifname: string | undefined
  for (const l of lines) {
    if (l.text.trim() === '') continue
    if (!isIndented(l.text)) {
      const m = IFCONFIG_NEW.exec(l.text) ?? IFCONFIG_OLD.exec(l.text)
      if (!m || m[1] === undefined) {
        if (promptCommand(l.text)) continue
        throw foreignLine(IFCONFIG, l, 'an interface line such as "eth0: flags=4163<UP,...>  mtu 1500"')
      }
      // An alias block (`eth0:1`) lists an address of eth0.
      ifname = m[1].split(':')[0] as string
      continue
    }
    if (ifname === undefined)
      throw foreignLine(IFCONFIG, l, 'an interface line before the indented detail lines')
    const a = ifconfigAddr(ifname, l)
    if (a) out.push(a)
  }
  return out
}

function ifconfigAddr(ifname: string, l: Line): Addr | undefined {
  const tk = tokens(l.text)
  const fam = tk[0]
  if (fam !== 'inet' && fam !== 'inet6') return undefined
  const bad = (what: string) => new ParseError(`\`ifconfig\`: ${what}`, l.no, IFCONFIG.hint)
  const raw = l.text.trim()
  if (fam === 'inet') {
    let address: string | undefined
    let mask: string | undefined
    for (let i = 1; i < tk.length; i++) {
      const t = tk[i] as string
      if (t.startsWith('addr:')) address = t.slice(5)
      else if (t.startsWith('Mask:')) mask = t.slice(5)
      else if (t === 'netmask') mask = tk[++i]
      else if (i === 1) address = t
    }
    if (address === undefined || !isIp(address)) return undefined
    let prefixlen = 32
    if (mask !== undefined) {
      const p = netmaskToPrefix(mask)
      if (p === undefined) throw bad(`netmask "${mask}" is not a contiguous IPv4 mask`)
      prefixlen = p
    }
    return {ifname, family: 'inet', address, prefixlen, flags: [], raw}
  }
  // inet6: `inet6 fe80::1  prefixlen 64  scopeid 0x20<link>` or `inet6 addr: fe80::1/64 Scope:Link`.
  let text: string | undefined
  let prefix: string | undefined
  let scope: string | undefined
  for (let i = 1; i < tk.length; i++) {
    const t = tk[i] as string
    if (t === 'addr:') continue
    if (t === 'prefixlen') prefix = tk[++i]
    else if (t === 'scopeid') {
      const m = /<([a-z]+)>/.exec(tk[++i] ?? '')
      if (m?.[1] !== undefined) scope = m[1]
    } else if (t.startsWith('Scope:')) scope = t.slice(6).toLowerCase()
    else if (text === undefined) text = t
  }
  if (text === undefined) return undefined
  const slash = text.indexOf('/')
  if (slash >= 0) {
    prefix = text.slice(slash + 1)
    text = text.slice(0, slash)
  }
  // BSD prints the zone (`fe80::1%lo0`).
  const address = text.includes('%') ? text.slice(0, text.indexOf('%')) : text
  if (!isIp(address)) return undefined
  const prefixlen = prefix !== undefined && /^\d{1,3}$/.test(prefix) ? Number(prefix) : 128
  if (prefixlen > 128) throw bad(`prefix length ${prefixlen} is out of range`)
  const a: Addr = {ifname, family: 'inet6', address, prefixlen, flags: [], raw}
  if (scope !== undefined) a.scope = scope
  return a
}
