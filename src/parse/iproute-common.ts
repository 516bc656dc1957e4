/**
 * Shared pieces of the iproute2 / net-tools parsers (`ip link`, `ip addr`, `ip route`, `ip neigh`,
 * `bridge fdb`, `ifconfig`, `route -n`): line splitting, the JSON (`-j`) envelope, typed reads of JSON
 * fields, and the `N: name@parent: <FLAGS> mtu ...` header that `ip link` and `ip addr` share.
 *
 * Everything here is pure and total: it returns a value or throws ParseError, because the property
 * tests feed the parsers arbitrary text.
 */
import {parseIP, parseIPv4, parseIPv6} from '../lib/ip.js'
import {ParseError} from './errors.js'

/** One input line: 1-based number, text without `\r` and without trailing blanks. */
export interface Line {
  no: number
  text: string
}

/** Which command a parser reads, for messages and hints. */
export interface Tool {
  /** As people type it, e.g. "`ip route`". */
  name: string
  /** What to capture instead, e.g. "capture it with `ip route` (or `ip -j route`)". */
  hint: string
}

export type Json = Record<string, unknown>

export function splitLines(raw: string): Line[] {
  return raw.split('\n').map((t, i) => ({no: i + 1, text: t.replace(/\r$/, '').trimEnd()}))
}

/**
 * `-j` output is one JSON array (also `-p` pretty); a lone object (e.g. from jq) is accepted too. A `[`
 * followed by a letter is text: pasted prompts look like `[root@node ~]# ip route`.
 */
export function isJson(raw: string): boolean {
  return /^\s*(?:\[\s*(?:[{[\]"\d-]|$)|\{)/.test(raw)
}

export const isIndented = (text: string): boolean => /^\s/.test(text)

export const tokens = (text: string): string[] =>
  text
    .trim()
    .split(/\s+/)
    .filter((t) => t !== '')

/** A link-layer address of 6 (Ethernet) to 20 (InfiniBand) octets, either case. */
export function isMac(s: string): boolean {
  return /^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5,19}$/.test(s)
}

export const isIp = (s: string): boolean => parseIP(s) !== undefined

/** `a.b.c.d`, `x::y`, or either with `/len` (length in range). */
export function isIpOrCidr(s: string): boolean {
  const slash = s.indexOf('/')
  if (slash === -1) return isIp(s)
  const ip = parseIP(s.slice(0, slash))
  const len = s.slice(slash + 1)
  if (!ip || !/^\d{1,3}$/.test(len)) return false
  return Number(len) <= (ip.family === 4 ? 32 : 128)
}

/** A bare host address gets its host prefix (`10.1.2.3` → `10.1.2.3/32`, `fd00::1` → `fd00::1/128`). */
export function hostCidr(s: string): string {
  if (s.includes('/')) return s
  if (parseIPv4(s) !== undefined) return `${s}/32`
  if (parseIPv6(s) !== undefined) return `${s}/128`
  return s
}

/** Dotted (`255.255.255.0`) or hex (`0xffffff00`, BSD ifconfig) netmask → prefix length. */
export function netmaskToPrefix(mask: string): number | undefined {
  let v: bigint | undefined
  if (/^0x[0-9a-fA-F]{1,8}$/.test(mask)) v = BigInt(mask)
  else v = parseIPv4(mask)
  if (v === undefined) return undefined
  let len = 0
  let bit = 1n << 31n
  while (bit > 0n && (v & bit) !== 0n) {
    len++
    bit >>= 1n
  }
  // The remaining bits must all be zero: a non-contiguous mask has no prefix length.
  const rest = v & ((1n << BigInt(32 - len)) - 1n)
  return rest === 0n ? len : undefined
}

// ---- JSON fields --------------------------------------------------------------------------------

export const str = (o: Json, k: string): string | undefined => {
  const v = o[k]
  return typeof v === 'string' ? v : undefined
}

export const num = (o: Json, k: string): number | undefined => {
  const v = o[k]
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined
}

export const strs = (o: Json, k: string): string[] => {
  const v = o[k]
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []
}

export const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

export const obj = (o: Json, k: string): Json | undefined => {
  const v = o[k]
  return isObj(v) ? v : undefined
}

export const objs = (o: Json, k: string): Json[] => {
  const v = o[k]
  return Array.isArray(v) ? v.filter(isObj) : []
}

/** Own key present (iproute2 prints some flags as `"router": null`). */
export const has = (o: Json, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k)

/** Parse a `-j` capture into its objects, or throw a ParseError that says where the JSON broke. */
export function parseJsonArray(raw: string, tool: Tool): Json[] {
  let v: unknown
  try {
    v = JSON.parse(raw)
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e)
    throw new ParseError(`${tool.name} JSON is not valid: ${msg}`, jsonErrorLine(raw, msg), tool.hint)
  }
  const arr = Array.isArray(v) ? v : [v]
  const out: Json[] = []
  for (let i = 0; i < arr.length; i++) {
    const item: unknown = arr[i]
    if (!isObj(item)) {
      throw new ParseError(
        `${tool.name} JSON: element ${i + 1} is ${item === null ? 'null' : typeof item}, expected an object`,
        undefined,
        tool.hint,
      )
    }
    out.push(item)
  }
  return out
}

function jsonErrorLine(raw: string, msg: string): number | undefined {
  const lc = /line (\d+) column \d+/.exec(msg)
  if (lc) return Number(lc[1])
  const pos = /at position (\d+)/.exec(msg)
  if (!pos) return undefined
  const p = Math.min(Number(pos[1]), raw.length)
  let line = 1
  for (let i = 0; i < p; i++) if (raw.charCodeAt(i) === 10) line++
  return line
}

// ---- foreign input ------------------------------------------------------------------------------

/**
 * A pasted shell prompt with one of the commands we read (`[root@node ~]# bridge fdb show dev
 * flannel.1`, `$ ip route`): people paste these with the output. Returns the command's words, or
 * undefined when the line is not such a prompt.
 */
export function promptCommand(text: string): string[] | undefined {
  const m = /^\s*(?:.*?[#$%>]\s*)?(?:sudo\s+)?((?:ip|bridge|ifconfig|route|netstat)(?:\s.*)?)$/.exec(text)
  if (!m || m[1] === undefined) return undefined
  const words = tokens(m[1])
  const [cmd, second] = words
  // `ip` alone, or `ip` followed by an option or an object name: output lines never look like this.
  if (cmd === 'ip' || cmd === 'bridge') {
    if (second === undefined) return words
    if (
      /^-/.test(second) ||
      /^(?:l|li|lin|link|a|ad|add|addr|address|r|ro|rou|route|n|ne|nei|neigh|neighbor|neighbour|fdb)$/.test(
        second,
      )
    )
      return words
    return undefined
  }
  if (cmd === 'ifconfig' || cmd === 'route' || cmd === 'netstat') {
    // `route -n`, `netstat -rn`, `ifconfig -a`, `ifconfig eth0`: at most a few short words.
    return words.length <= 4 ? words : undefined
  }
  return undefined
}

/** The value after `dev` in a pasted command (`bridge fdb show dev flannel.1`). */
function devFromCommand(words: string[]): string | undefined {
  const i = words.indexOf('dev')
  return i >= 0 ? words[i + 1] : undefined
}

/**
 * The text of a tool that prints one entry per line (`ip neigh`, `bridge fdb`): blank lines are skipped,
 * and a pasted prompt line gives the `dev` of the lines below it (`show dev X` leaves `dev` out of them).
 */
export function entryLines<T>(raw: string, fromLine: (l: Line, shownDev: string | undefined) => T): T[] {
  const out: T[] = []
  let dev: string | undefined
  for (const l of splitLines(raw)) {
    if (l.text.trim() === '') continue
    const cmd = promptCommand(l.text)
    if (cmd) {
      dev = devFromCommand(cmd)
      continue
    }
    out.push(fromLine(l, dev))
  }
  return out
}

/** Name the tool a stray line most likely came from, to make the error say what was pasted. */
function guessTool(text: string): string | undefined {
  const t = text.trim()
  if (
    /^(?:\*(?:filter|nat|mangle|raw|security)\b|:[A-Z][\w-]* (?:ACCEPT|DROP|-) |-[AINP] \S|# (?:Generated|Completed) by ip6?tables)/.test(
      t,
    )
  )
    return 'iptables-save / iptables -S'
  if (
    /^Chain \S+ \((?:policy|\d+ references)/.test(t) ||
    /^(?:num\s+)?(?:pkts\s+bytes\s+)?target\s+prot\s+opt/.test(t)
  )
    return 'iptables -L'
  if (/^(?:table|chain)\s+\S+.*\{$/.test(t)) return 'nft list ruleset'
  if (/^\d+:\s+\S+:\s+<[^>]*>/.test(t)) return '`ip link` / `ip addr`'
  if (/^\S+: flags=\d+</.test(t) || /^\S+\s+Link encap:/.test(t)) return 'ifconfig'
  if (/^Kernel IP(?:v6)? routing table/.test(t) || /^Destination\s+(?:Gateway|Next Hop)/.test(t))
    return 'route -n'
  if (/^(?:src|dst) \S+ (?:dst|proto)/.test(t) || /^\s*dir (?:in|out|fwd)\b/.test(t)) return 'ip xfrm'
  if (/^[\w.-]+ = /.test(t)) return 'sysctl'
  if (/^(?:[0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}\s/.test(t)) return '`bridge fdb show`'
  const first = t.split(/\s/)[0] ?? ''
  if ((first === 'default' || isIpOrCidr(first)) && /\s(?:via|dev|proto|scope)\s/.test(` ${t} `)) {
    if (/\s(?:lladdr|FAILED|INCOMPLETE)\b/.test(t)) return '`ip neigh`'
    return '`ip route`'
  }
  return undefined
}

/** ParseError for a line that does not belong to `tool`'s output. */
export function foreignLine(tool: Tool, line: Line, expected: string): ParseError {
  const shown = line.text.trim().slice(0, 80)
  const guess = guessTool(line.text)
  const from = guess !== undefined ? ` (it looks like ${guess} output)` : ''
  return new ParseError(
    `not ${tool.name} output${from}: expected ${expected}, got "${shown}"`,
    line.no,
    tool.hint,
  )
}

// ---- the interface header of `ip link` / `ip addr` ---------------------------------------------

export interface LinkHeader {
  index: number
  name: string
  parent?: string
  flags: string[]
  mtu?: number
  qdisc?: string
  master?: string
  state?: string
  raw: string
}

/** Header keys that take one value (`mtu 1450 qdisc noqueue master cni0 state UP mode DEFAULT ...`). */
const HEADER_VALUE_KEYS = new Set([
  'mtu',
  'qdisc',
  'master',
  'state',
  'mode',
  'group',
  'qlen',
  'link-netnsid',
  'netns',
])

/** `3: flannel.1: <BROADCAST,...> mtu 1450 ...`, `5: veth1@if2: <...>`; undefined when the line is not one. */
function parseLinkHeader(text: string): LinkHeader | undefined {
  const m = /^(\d+):\s+([^\s:]+):\s+<([^>]*)>(.*)$/.exec(text)
  if (!m) return undefined
  const [, idx, fullName, flagText, rest] = m as unknown as [string, string, string, string, string]
  const at = fullName.indexOf('@')
  const name = at > 0 ? fullName.slice(0, at) : fullName
  const parentText = at > 0 ? fullName.slice(at + 1) : undefined
  const h: LinkHeader = {
    index: Number(idx),
    name,
    flags: flagText.split(',').filter((f) => f !== ''),
    raw: text.trim(),
  }
  // `@NONE` is how ip prints "no lower device" (tunnels): that is no parent.
  if (parentText !== undefined && parentText !== '' && parentText !== 'NONE') h.parent = parentText
  const tk = tokens(rest)
  for (let i = 0; i < tk.length; i++) {
    const k = tk[i] as string
    if (!HEADER_VALUE_KEYS.has(k)) continue
    const v = tk[i + 1]
    i++
    if (v === undefined) break
    if (k === 'mtu' && /^\d+$/.test(v)) h.mtu = Number(v)
    else if (k === 'qdisc') h.qdisc = v
    else if (k === 'master') h.master = v
    else if (k === 'state') h.state = v
  }
  return h
}

/** A header with its indented continuation lines, as `ip link` and `ip addr` print them. */
export interface LinkBlock {
  header: LinkHeader
  headerLine: number
  lines: Line[]
}

/**
 * Split `ip link` / `ip addr` text into interface blocks. Blank lines and pasted prompts are skipped;
 * any other unindented line that is not a header, or an indented line before the first header, is a
 * ParseError naming the line.
 */
export function linkBlocks(lines: Line[], tool: Tool): LinkBlock[] {
  const blocks: LinkBlock[] = []
  let cur: LinkBlock | undefined
  for (const line of lines) {
    if (line.text.trim() === '') continue
    if (!isIndented(line.text)) {
      const h = parseLinkHeader(line.text)
      if (!h) {
        if (promptCommand(line.text)) continue
        throw foreignLine(
          tool,
          line,
          'an interface header such as "3: flannel.1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 ..."',
        )
      }
      cur = {header: h, headerLine: line.no, lines: []}
      blocks.push(cur)
      continue
    }
    if (!cur) throw foreignLine(tool, line, 'an interface header before the indented detail lines')
    cur.lines.push(line)
  }
  return blocks
}

/** Header line as `ip link` prints it, rendered from a `-j` object (for `raw` evidence). */
export function renderLinkHeader(o: Json): string {
  const idx = num(o, 'ifindex')
  const name = str(o, 'ifname') ?? '?'
  const parent = linkParentFromJson(o)
  let s = `${idx ?? '?'}: ${name}${parent !== undefined ? `@${parent}` : ''}: <${strs(o, 'flags').join(',')}>`
  const mtu = num(o, 'mtu')
  if (mtu !== undefined) s += ` mtu ${mtu}`
  const add = (k: string, label: string) => {
    const v = o[k]
    if (typeof v === 'string' || typeof v === 'number') s += ` ${label} ${v}`
  }
  add('qdisc', 'qdisc')
  add('master', 'master')
  add('operstate', 'state')
  add('linkmode', 'mode')
  add('group', 'group')
  add('txqlen', 'qlen')
  return s
}

/**
 * `"link": "vethport"` (peer in the same namespace) → `vethport`; `"link_index": 3` with a netns id
 * (peer elsewhere) → `if3`, exactly as the text form prints `@if3`; `"link": null` is `@NONE`.
 */
export function linkParentFromJson(o: Json): string | undefined {
  const l = str(o, 'link')
  if (l !== undefined) return l
  const li = num(o, 'link_index')
  if (li !== undefined && li > 0) return `if${li}`
  return undefined
}
