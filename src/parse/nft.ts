/**
 * nftables rules from `nft list ruleset` (with or without `-a` handles) or `nft -j list ruleset`.
 * Named priorities are resolved to numbers; the matches an evaluator needs (addresses, protocols, ports,
 * interfaces, conntrack state) are parsed, named sets are resolved from the table's sets when the capture
 * lists their elements, and anything else is kept as text in `other`. Tables written by iptables-nft are
 * marked `managedByIptables`: nft prints `# Warning: table ip filter is managed by iptables-nft, do not
 * touch!` for tables holding xtables expressions (to stderr, so captures with 2>&1 show it); JSON has no
 * such marker, so there the `xt` expressions and iptables' table/base-chain naming tell it.
 */
import type {Neg, NftChain, NftRule, NftRuleset, NftSet, NftTable} from '../model.js'
import {ParseError} from './errors.js'

const HINT = 'capture it with `nft list ruleset` or `nft -j list ruleset` (as root)'

const PRIO: Record<string, number> = {
  raw: -300,
  mangle: -150,
  dstnat: -100,
  filter: 0,
  security: 50,
  srcnat: 100,
}
const PRIO_BRIDGE: Record<string, number> = {dstnat: -300, filter: -200, out: 100, srcnat: 300}
const IPT_TABLES = new Set(['filter', 'nat', 'mangle', 'raw', 'security'])
const IPT_CHAINS = new Set(['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'])

/** Resolve `filter`, `srcnat + 1`, `filter - 10`, `-150`, `100` to a number. */
export function resolvePriority(expr: string, family = 'ip'): number | undefined {
  const m = /^\s*([a-z]+|-?\d+)\s*(?:([+-])\s*(\d+))?\s*$/.exec(expr)
  if (!m) return undefined
  const table = family === 'bridge' ? PRIO_BRIDGE : PRIO
  const base = /^-?\d+$/.test(m[1] as string) ? Number(m[1]) : table[m[1] as string]
  if (base === undefined) return undefined
  if (m[2] === undefined) return base
  return m[2] === '+' ? base + Number(m[3]) : base - Number(m[3])
}

/** Parse either form; empty input gives an empty ruleset. */
export function parseNft(raw: string): NftRuleset {
  const t = raw.trimStart()
  if (t.startsWith('{') || t.startsWith('[')) return parseJson(raw)
  return parseText(raw)
}

// ---------------------------------------------------------------------------------------------------
// Text

/** Tokens of a rule: quoted strings and `{ ... }` groups are one token each. */
function tokenize(s: string, n: number): string[] {
  const out: string[] = []
  let i = 0
  while (i < s.length) {
    const c = s[i] as string
    if (c === ' ' || c === '\t') {
      i++
      continue
    }
    if (c === '"') {
      let j = i + 1
      while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1
      if (j >= s.length) throw new ParseError(`unterminated string in '${s}'`, n, HINT)
      out.push(s.slice(i, j + 1))
      i = j + 1
      continue
    }
    if (c === '{') {
      let depth = 0
      let j = i
      let inQ = false
      for (; j < s.length; j++) {
        const d = s[j]
        if (inQ) {
          if (d === '\\') j++
          else if (d === '"') inQ = false
          continue
        }
        if (d === '"') inQ = true
        else if (d === '{') depth++
        else if (d === '}' && --depth === 0) break
      }
      if (j >= s.length) throw new ParseError(`unbalanced '{' in '${s}'`, n, HINT)
      out.push(s.slice(i, j + 1))
      i = j + 1
      continue
    }
    let j = i
    while (j < s.length && s[j] !== ' ' && s[j] !== '\t' && s[j] !== '"' && s[j] !== '{') j++
    out.push(s.slice(i, j))
    i = j
  }
  return out
}

const unquote = (s: string): string =>
  s.startsWith('"') && s.endsWith('"') && s.length >= 2 ? s.slice(1, -1) : s

/** Elements of `{ a, b }` (top-level commas), or the comma list `a,b`, or one value. */
function values(tok: string): string[] {
  let inner = tok
  if (tok.startsWith('{') && tok.endsWith('}')) inner = tok.slice(1, -1)
  const out: string[] = []
  let depth = 0
  let cur = ''
  let inQ = false
  for (const c of inner) {
    if (inQ) {
      cur += c
      if (c === '"') inQ = false
      continue
    }
    if (c === '"') inQ = true
    if (c === '{') depth++
    if (c === '}') depth--
    if (c === ',' && depth === 0) {
      out.push(cur)
      cur = ''
      continue
    }
    cur += c
  }
  out.push(cur)
  return out.map((v) => unquote(v.trim())).filter((v) => v !== '')
}

const RELOPS: Record<string, string> = {
  '==': '',
  eq: '',
  '!=': '!',
  ne: '!',
  '<': '<',
  lt: '<',
  '>': '>',
  gt: '>',
  '<=': '<=',
  le: '<=',
  '>=': '>=',
  ge: '>=',
}
const VERDICTS = new Set(['accept', 'drop', 'continue', 'return'])
const NAT = new Set(['masquerade', 'snat', 'dnat', 'redirect'])
const STMT_START = new Set([
  'accept',
  'drop',
  'continue',
  'return',
  'jump',
  'goto',
  'reject',
  'queue',
  'masquerade',
  'snat',
  'dnat',
  'redirect',
  'counter',
  'comment',
  'log',
  'limit',
  'notrack',
  'quota',
  'add',
  'update',
  'delete',
  'flow',
  'dup',
  'fwd',
  'tproxy',
  'synproxy',
  'xt',
])
const HDR = new Set([
  'tcp',
  'udp',
  'th',
  'sctp',
  'dccp',
  'udplite',
  'icmp',
  'icmpv6',
  'esp',
  'ah',
  'comp',
  'igmp',
])
const SEL_START = new Set([
  'meta',
  'ct',
  'fib',
  'rt',
  'ether',
  'vlan',
  'arp',
  'ipsec',
  'socket',
  'osf',
  'numgen',
  'jhash',
  'symhash',
  'exthdr',
  'iif',
  'oif',
  'iifname',
  'oifname',
  'iiftype',
  'oiftype',
  'iifgroup',
  'oifgroup',
  'skuid',
  'skgid',
  'pkttype',
  'cgroup',
  'cpu',
  'mark',
  'nfproto',
  'l4proto',
  'priority',
  'nftrace',
  'ibrname',
  'obrname',
  'ip6',
  'ip',
])

/** Does a new expression or statement start at toks[j]? */
function startsNew(toks: string[], j: number): boolean {
  const t = toks[j] as string
  const prev = toks[j - 1]
  if (
    prev === '.' ||
    prev === 'set' ||
    (prev !== undefined && prev in RELOPS) ||
    prev === '&' ||
    prev === '|' ||
    prev === '^'
  )
    return false
  // A selector keyword awaiting its key (`meta mark`, `ct state`, `tcp flags`).
  if (prev !== undefined && (SEL_START.has(prev) || HDR.has(prev)) && toks[j - 2] !== '.') return false
  if (STMT_START.has(t)) return true
  if (HDR.has(t)) return /^[a-z][a-z-]*$/.test(toks[j + 1] ?? '') && !STMT_START.has(toks[j + 1] ?? '')
  if (t.startsWith('@') && t.includes(',')) return true
  return SEL_START.has(t)
}

type MatchField = 'saddr' | 'daddr' | 'l4proto' | 'dport' | 'sport' | 'iifname' | 'oifname' | 'ctstate'

/** The rule field a match on this selector fills (`ip6 saddr`, `meta l4proto`, `udp dport`, `oif`, ...). */
function matchField(sel: string): MatchField | undefined {
  const addr = /^ip6? ([sd])addr$/.exec(sel)
  if (addr) return addr[1] === 's' ? 'saddr' : 'daddr'
  if (sel === 'ip protocol' || sel === 'ip6 nexthdr' || sel === 'meta l4proto') return 'l4proto'
  const port = /^(?:tcp|udp|th|sctp|dccp|udplite) ([ds])port$/.exec(sel)
  if (port) return port[1] === 'd' ? 'dport' : 'sport'
  if (/^(?:meta )?(?:iifname|iif)$/.test(sel)) return 'iifname'
  if (/^(?:meta )?(?:oifname|oif)$/.test(sel)) return 'oifname'
  if (sel === 'ct state') return 'ctstate'
  return undefined
}

/**
 * Put a match into its field (text and JSON rules alike); false when the selector has none. A port of a
 * named protocol also gives the protocol when none was matched (`udp dport 8472` → l4proto udp).
 */
function setMatch(rule: NftRule, sel: string, v: Neg<string[]>): boolean {
  const field = matchField(sel)
  if (field === undefined) return false
  rule[field] = v
  const proto = sel.split(' ')[0] as string
  if ((field === 'dport' || field === 'sport') && proto !== 'th' && rule.l4proto === undefined)
    rule.l4proto = {value: [proto], negated: false}
  return true
}

function negVals(op: string, tok: string): Neg<string[]> {
  const v = values(tok)
  const p = RELOPS[op] ?? ''
  if (p === '!') return {value: v, negated: true}
  return {value: p === '' ? v : v.map((x) => `${p}${x}`), negated: false}
}

/** Parse one rule line (without the `# handle N` suffix). */
function parseNftRuleText(text: string, n = 0): NftRule {
  const toks = tokenize(text, n)
  const rule: NftRule = {raw: text, other: []}
  let i = 0
  const take = (): string | undefined => toks[i++]
  /** op + value after a selector of `len` tokens; undefined when the shape is not `sel [op] value`. */
  const relValue = (len: number): {op: string; value: string} | undefined => {
    let k = i + len
    let op = '=='
    const o = toks[k]
    if (o !== undefined && o in RELOPS) {
      op = o
      k++
    }
    const v = toks[k]
    if (v === undefined || toks[k + 1] === '.' || toks[i + len] === '.' || toks[i + len] === '&')
      return undefined
    if (STMT_START.has(v) && !/^\d/.test(v)) return undefined
    i = k + 1
    return {op, value: v}
  }
  while (i < toks.length) {
    const t = toks[i] as string
    const nx = toks[i + 1]
    // A match on a selector of two words (`ip saddr`, `meta iifname`) or one (`iifname`).
    const sel = nx !== undefined && matchField(`${t} ${nx}`) ? `${t} ${nx}` : matchField(t) ? t : undefined
    if (sel !== undefined) {
      const r = relValue(sel === t ? 1 : 2)
      if (r) {
        setMatch(rule, sel, negVals(r.op, r.value))
        continue
      }
    } else if (t === 'counter') {
      i++
      if (toks[i] === 'name') i += 2
      while (toks[i] === 'packets' || toks[i] === 'bytes') i += 2
      continue
    } else if (t === 'comment') {
      i++
      const c = take()
      if (c !== undefined) rule.comment = unquote(c)
      continue
    } else if (VERDICTS.has(t)) {
      rule.verdict = t
      i++
      continue
    } else if (t === 'jump' || t === 'goto') {
      rule.verdict = t
      i++
      const target = take()
      if (target === undefined) throw new ParseError(`'${t}' without a chain in '${text}'`, n, HINT)
      rule.target = unquote(target)
      continue
    } else if (t === 'reject' || t === 'queue' || NAT.has(t)) {
      rule.verdict = t
      i++
      while (i < toks.length && toks[i] !== 'comment') i++
      continue
    } else if (t === 'log') {
      i++
      while (
        i < toks.length &&
        /^(prefix|level|flags|group|snaplen|queue-threshold)$/.test(toks[i] as string)
      ) {
        i++
        if (toks[i - 1] === 'flags')
          while (i < toks.length && /^(tcp|ip|skuid|ether|all|sequence|options|,)/.test(toks[i] as string))
            i++
        else i++
      }
      continue
    } else if (t === 'notrack') {
      i++
      continue
    }
    // Anything else: one expression (or statement) up to where the next one starts.
    const start = i
    i++
    while (i < toks.length && !startsNew(toks, i)) i++
    const group = toks.slice(start, i)
    const isStatement =
      group.includes('set') ||
      ['add', 'update', 'delete', 'dup', 'fwd', 'flow', 'quota', 'synproxy', 'tproxy'].includes(
        group[0] as string,
      )
    if (!isStatement) rule.other.push(group.join(' '))
  }
  if (rule.verdict === undefined) rule.verdict = 'counter-only'
  return rule
}

interface Block {
  kind: 'table' | 'chain' | 'set' | 'skip'
  depth: number
}

function parseText(raw: string): NftRuleset {
  const out: NftRuleset = {form: 'text', tables: []}
  const managed = new Set<string>()
  const lines = raw.split(/\r?\n/)
  let table: NftTable | undefined
  let chain: NftChain | undefined
  let setBuf: {name: string; text: string[]} | undefined
  let skipDepth = 0
  const stack: Block[] = []
  for (let idx = 0; idx < lines.length; idx++) {
    const n = idx + 1
    let l = (lines[idx] as string).trim()
    if (l === '') continue
    const warn = /^# Warning: table (\S+) (\S+) is managed by iptables-nft/.exec(l)
    if (warn) {
      managed.add(`${warn[1]} ${warn[2]}`)
      continue
    }
    if (l.startsWith('#')) continue
    let handle: number | undefined
    const h = /\s*# handle (\d+)\s*$/.exec(l)
    if (h) {
      handle = Number(h[1])
      l = l.slice(0, h.index).trimEnd()
    }
    // Header lines may carry other `#` annotations (`# progname iptables-nft`).
    if (/\{\s*#.*$/.test(l) && !l.includes('"')) l = l.replace(/\s*#.*$/, '')
    if (skipDepth > 0) {
      skipDepth += count(l, '{') - count(l, '}')
      continue
    }
    if (setBuf) {
      setBuf.text.push(l)
      const joined = setBuf.text.join(' ')
      if (count(joined, '{') <= count(joined, '}')) {
        if (table) addSet(table, setBuf.name, joined)
        setBuf = undefined
      }
      continue
    }
    const top = stack[stack.length - 1]
    if (!top) {
      const m = /^table\s+(?:(ip|ip6|inet|arp|bridge|netdev)\s+)?(\S+)\s*\{$/.exec(l)
      if (!m) {
        if (/Operation not permitted|Permission denied|^(netlink: )?Error:/.test(l)) {
          throw new ParseError(
            `the capture is an nft error message, not a ruleset: '${l.slice(0, 100)}'`,
            n,
            /permi/i.test(raw) ? 'run it as root' : HINT,
          )
        }
        throw new ParseError(`expected 'table <family> <name> {', got '${l.slice(0, 60)}'`, n, HINT)
      }
      table = {family: m[1] ?? 'ip', name: unquote(m[2] as string), chains: []}
      out.tables.push(table)
      stack.push({kind: 'table', depth: 1})
      continue
    }
    if (top.kind === 'table' && table) {
      if (l === '}') {
        stack.pop()
        table = undefined
        continue
      }
      let m = /^chain\s+(\S+)\s*\{$/.exec(l)
      if (m) {
        chain = {name: unquote(m[1] as string), rules: []}
        table.chains.push(chain)
        stack.push({kind: 'chain', depth: 1})
        continue
      }
      m = /^(?:set|map)\s+(\S+)\s*\{(.*)$/.exec(l)
      if (m) {
        const rest = `{${m[2] as string}`
        if (count(rest, '{') <= count(rest, '}')) addSet(table, unquote(m[1] as string), rest)
        else setBuf = {name: unquote(m[1] as string), text: [rest]}
        continue
      }
      m = /^comment\s+(".*")$/.exec(l)
      if (m) {
        table.comment = unquote(m[1] as string)
        continue
      }
      if (/^flags\s/.test(l)) continue
      if (/^[a-z][\w ]*?\s+\S+\s*\{/.test(l)) {
        // flowtable, counter, quota, limit, ct helper/timeout/expectation, secmark, synproxy objects
        const d = count(l, '{') - count(l, '}')
        if (d > 0) skipDepth = d
        continue
      }
      throw new ParseError(
        `unexpected line in table ${table.family} ${table.name}: '${l.slice(0, 60)}'`,
        n,
        HINT,
      )
    }
    if (top.kind === 'chain' && chain && table) {
      if (l === '}') {
        stack.pop()
        chain = undefined
        continue
      }
      if (/^type\s/.test(l)) {
        parseChainSpec(chain, l, table.family, n)
        continue
      }
      if (/^policy\s+\w+\s*;?$/.test(l)) {
        chain.policy = (/^policy\s+(\w+)/.exec(l) as RegExpExecArray)[1] as string
        continue
      }
      const cm = /^comment\s+(".*")$/.exec(l)
      if (cm) continue
      if (/^devices\s*=/.test(l)) continue
      const rule = parseNftRuleText(l, n)
      if (handle !== undefined) rule.handle = handle
      chain.rules.push(rule)
      continue
    }
    throw new ParseError(`unexpected line '${l.slice(0, 60)}'`, n, HINT)
  }
  if (stack.length > 0 || setBuf)
    throw new ParseError('the ruleset ends inside a block (truncated capture?)', lines.length, HINT)
  finish(out, managed)
  return out
}

function count(s: string, c: string): number {
  let k = 0
  let inQ = false
  for (const x of s) {
    if (x === '"') inQ = !inQ
    else if (!inQ && x === c) k++
  }
  return k
}

function parseChainSpec(chain: NftChain, l: string, family: string, n: number): void {
  const m =
    /^type\s+(\S+)\s+hook\s+(\S+)(?:\s+device\s+\S+|\s+devices\s*=\s*\{[^}]*\})?\s+priority\s+([^;]+);(?:\s*policy\s+(\w+)\s*;)?/.exec(
      l,
    )
  if (!m) throw new ParseError(`bad base chain line '${l}'`, n, HINT)
  chain.type = m[1] as string
  chain.hook = m[2] as string
  const p = resolvePriority(m[3] as string, family)
  if (p === undefined) throw new ParseError(`unknown priority '${m[3] as string}'`, n, HINT)
  chain.priority = p
  if (m[4] !== undefined) chain.policy = m[4]
  chain.raw = l
}

function addSet(table: NftTable, name: string, body: string): void {
  const set: NftSet = {name, elements: []}
  const t =
    /\btype\s+([\w. ]+?)\s*(?:;|$|\s(?=flags|elements|size|timeout|policy|comment|counter|auto-merge|gc-interval))/.exec(
      body,
    )
  if (t) set.type = (t[1] as string).trim()
  const e = /\belements\s*=\s*(\{.*\})/.exec(body)
  if (e) {
    // The `{ ... }` after `elements =` up to its matching brace.
    const s = e[1] as string
    let depth = 0
    let end = 0
    for (let i = 0; i < s.length; i++) {
      if (s[i] === '{') depth++
      else if (s[i] === '}' && --depth === 0) {
        end = i
        break
      }
    }
    set.elements = values(s.slice(0, end + 1)).map((v) => v.replace(/\s*:.*$/, '').trim())
  }
  ;(table.sets ??= []).push(set)
}

/** Resolve `@set` references, mark iptables-nft tables. */
function finish(out: NftRuleset, managed: Set<string>): void {
  for (const table of out.tables) {
    const sets = new Map((table.sets ?? []).map((s) => [s.name, s.elements]))
    const resolve = (v: Neg<string[]> | undefined): void => {
      if (!v) return
      v.value = v.value.flatMap((x) =>
        x.startsWith('@') && sets.has(x.slice(1)) ? (sets.get(x.slice(1)) as string[]) : [x],
      )
    }
    for (const c of table.chains) {
      for (const r of c.rules) {
        for (const f of [
          'saddr',
          'daddr',
          'l4proto',
          'dport',
          'sport',
          'iifname',
          'oifname',
          'ctstate',
        ] as const)
          resolve(r[f])
      }
    }
    if (managed.has(`${table.family} ${table.name}`) || looksLikeIptables(table))
      table.managedByIptables = true
  }
}

/** iptables-nft's own layout: an iptables table name with only upper-case built-in base chains. */
function looksLikeIptables(t: NftTable): boolean {
  if (!IPT_TABLES.has(t.name) || !['ip', 'ip6', 'arp', 'bridge'].includes(t.family)) return false
  const base = t.chains.filter((c) => c.hook !== undefined)
  return base.length > 0 && base.every((c) => IPT_CHAINS.has(c.name))
}

// ---------------------------------------------------------------------------------------------------
// JSON

type J = unknown
const isObj = (v: J): v is Record<string, J> => typeof v === 'object' && v !== null && !Array.isArray(v)
const str = (v: J): string | undefined =>
  typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined

function parseJson(raw: string): NftRuleset {
  let doc: J
  try {
    doc = JSON.parse(raw)
  } catch (e) {
    throw new ParseError(`nft JSON does not parse: ${(e as Error).message}`, undefined, HINT)
  }
  if (!isObj(doc) || !Array.isArray(doc['nftables'])) {
    throw new ParseError('not `nft -j list ruleset` output: no top-level "nftables" array', undefined, HINT)
  }
  const out: NftRuleset = {form: 'json', tables: []}
  const tables = new Map<string, NftTable>()
  const xt = new Set<string>()
  const getTable = (family: string, name: string): NftTable => {
    const k = `${family} ${name}`
    let t = tables.get(k)
    if (!t) {
      t = {family, name, chains: []}
      tables.set(k, t)
      out.tables.push(t)
    }
    return t
  }
  const getChain = (t: NftTable, name: string): NftChain => {
    let c = t.chains.find((x) => x.name === name)
    if (!c) {
      c = {name, rules: []}
      t.chains.push(c)
    }
    return c
  }
  for (const item of doc['nftables'] as J[]) {
    if (!isObj(item)) throw new ParseError('an "nftables" entry is not an object', undefined, HINT)
    const [kind, body] = Object.entries(item)[0] ?? []
    if (kind === undefined || !isObj(body)) continue
    const family = str(body['family'])
    if (kind === 'metainfo') continue
    if (kind === 'table') {
      const name = str(body['name'])
      if (family === undefined || name === undefined)
        throw new ParseError('table without family/name', undefined, HINT)
      const t = getTable(family, name)
      const c = str(body['comment'])
      if (c !== undefined) t.comment = c
      continue
    }
    const tname = str(body['table'])
    if (family === undefined || tname === undefined) continue
    const t = getTable(family, tname)
    if (kind === 'chain') {
      const name = str(body['name'])
      if (name === undefined) throw new ParseError('chain without a name', undefined, HINT)
      const c = getChain(t, name)
      const type = str(body['type'])
      const hook = str(body['hook'])
      if (type !== undefined) c.type = type
      if (hook !== undefined) c.hook = hook
      const prio = body['prio']
      if (typeof prio === 'number') c.priority = prio
      else if (typeof prio === 'string') {
        const p = resolvePriority(prio, family)
        if (p !== undefined) c.priority = p
      }
      const pol = str(body['policy'])
      if (pol !== undefined) c.policy = pol
      if (type !== undefined && hook !== undefined) {
        c.raw = `type ${type} hook ${hook} priority ${c.priority ?? '?'}; policy ${pol ?? 'accept'};`
      }
    } else if (kind === 'rule') {
      const cname = str(body['chain'])
      if (cname === undefined) throw new ParseError('rule without a chain', undefined, HINT)
      const exprs = body['expr']
      if (!Array.isArray(exprs))
        throw new ParseError(`rule in ${tname} ${cname} without "expr"`, undefined, HINT)
      const rule = ruleFromJson(exprs, str(body['comment']))
      if (exprs.some((e) => isObj(e) && 'xt' in e)) xt.add(`${family} ${tname}`)
      if (typeof body['handle'] === 'number') rule.handle = body['handle']
      getChain(t, cname).rules.push(rule)
    } else if (kind === 'set' || kind === 'map') {
      const name = str(body['name'])
      if (name === undefined) continue
      const set: NftSet = {name, elements: []}
      const type = body['type']
      if (typeof type === 'string') set.type = type
      else if (Array.isArray(type)) set.type = type.map((x) => String(x)).join(' . ')
      const elem = body['elem']
      if (Array.isArray(elem)) set.elements = elem.map((e) => renderValue(Array.isArray(e) ? e[0] : e))
      ;(t.sets ??= []).push(set)
    }
  }
  finish(out, xt)
  return out
}

const PLAIN_META = new Set([
  'iif',
  'oif',
  'iifname',
  'oifname',
  'iiftype',
  'oiftype',
  'skuid',
  'skgid',
  'nftrace',
  'rtclassid',
  'ibriport',
  'obriport',
  'pkttype',
  'cpu',
  'iifgroup',
  'oifgroup',
  'cgroup',
  'ipsec',
  'ibrname',
  'obrname',
])

/** Render a JSON expression (left side) in nft's text syntax. */
function renderLeft(v: J, d = 0): string {
  if (d > 40) return '…'
  if (!isObj(v)) return renderValue(v, false, d + 1)
  const [k, b] = Object.entries(v)[0] ?? ['', null]
  if (k === 'payload' && isObj(b)) {
    if (b['protocol'] !== undefined) return `${str(b['protocol'])} ${str(b['field'])}`
    return `@${str(b['base'])},${str(b['offset'])},${str(b['len'])}`
  }
  if (k === 'meta' && isObj(b)) {
    const key = str(b['key']) ?? ''
    return PLAIN_META.has(key) ? key : `meta ${key}`
  }
  if (k === 'ct' && isObj(b)) return `ct ${b['dir'] !== undefined ? `${str(b['dir'])} ` : ''}${str(b['key'])}`
  if (k === 'fib' && isObj(b)) {
    const flags = Array.isArray(b['flags']) ? b['flags'].map(String).join(' . ') : str(b['flags'])
    return `fib ${flags} ${str(b['result'])}`
  }
  if (['&', '|', '^', '<<', '>>'].includes(k) && Array.isArray(b))
    return `${renderLeft(b[0], d + 1)} ${k} ${renderValue(b[1], false, d + 1)}`
  if (k === 'concat' && Array.isArray(b)) return b.map((x) => renderLeft(x, d + 1)).join(' . ')
  if (isObj(b))
    return `${k} ${Object.values(b)
      .map((x) => renderValue(x, false, d + 1))
      .join(' ')}`
  return `${k} ${renderValue(b, false, d + 1)}`
}

function renderValue(v: J, quote = false, d = 0): string {
  if (d > 40) return '…'
  if (typeof v === 'string') return quote && !v.startsWith('@') ? JSON.stringify(v) : v
  if (typeof v === 'number' || typeof v === 'boolean') return String(v)
  if (Array.isArray(v)) return v.map((x) => renderValue(x, quote, d + 1)).join(',')
  if (!isObj(v)) return ''
  const [k, b] = Object.entries(v)[0] ?? ['', null]
  if (k === 'prefix' && isObj(b)) return `${str(b['addr'])}/${str(b['len'])}`
  if (k === 'range' && Array.isArray(b))
    return `${renderValue(b[0], false, d + 1)}-${renderValue(b[1], false, d + 1)}`
  if (k === 'set' && Array.isArray(b)) return `{ ${b.map((x) => renderValue(x, quote, d + 1)).join(', ')} }`
  if (k === 'set') return renderValue(b, quote, d + 1)
  if (k === 'elem' && isObj(b)) return renderValue(b['val'], quote, d + 1)
  if (k === 'concat' && Array.isArray(b)) return b.map((x) => renderValue(x, quote, d + 1)).join(' . ')
  return renderLeft(v, d + 1)
}

/** Plain values of a right-hand side, for the parsed match fields. */
function rightValues(v: J): string[] {
  if (isObj(v) && 'set' in v && Array.isArray(v['set'])) return v['set'].map((x) => renderValue(x))
  if (Array.isArray(v)) return v.map((x) => renderValue(x))
  return [renderValue(v)]
}

function ruleFromJson(exprs: J[], comment: string | undefined): NftRule {
  const parts: string[] = []
  const rule: NftRule = {raw: '', other: []}
  for (const e of exprs) {
    if (!isObj(e)) continue
    const [k, b] = Object.entries(e)[0] ?? ['', null]
    if (k === 'match' && isObj(b)) {
      const op = str(b['op']) ?? '=='
      const left = b['left']
      const lt = renderLeft(left)
      const quoteRight = /^(iifname|oifname|iif|oif|meta iifname|meta oifname)$/.test(lt)
      const markHex = /^(meta mark|ct mark|mark)$|& \d+$/.test(lt)
      let right = renderValue(b['right'], quoteRight)
      if (markHex && typeof b['right'] === 'number') right = `0x${b['right'].toString(16).padStart(8, '0')}`
      let leftText = lt
      if (/ & \d+$/.test(lt))
        leftText = lt.replace(
          / & (\d+)$/,
          (_m, d: string) => ` & 0x${Number(d).toString(16).padStart(8, '0')}`,
        )
      const binop = /\s[&|^]\s/.test(lt)
      const text = `${leftText} ${(op === '==' && !binop) || op === 'in' ? '' : `${op} `}${right}`
      parts.push(text)
      const vals = rightValues(b['right'])
      const neg: Neg<string[]> =
        op === '!='
          ? {value: vals, negated: true}
          : {value: op === '==' || op === 'in' ? vals : vals.map((x) => `${op}${x}`), negated: false}
      if (!setMatch(rule, lt, neg)) rule.other.push(text)
      continue
    }
    if (k === 'counter') {
      parts.push(isObj(b) ? `counter packets ${str(b['packets'])} bytes ${str(b['bytes'])}` : 'counter')
      continue
    }
    if (VERDICTS.has(k)) {
      rule.verdict = k
      parts.push(k)
      continue
    }
    if ((k === 'jump' || k === 'goto') && isObj(b)) {
      rule.verdict = k
      const target = str(b['target'])
      if (target !== undefined) rule.target = target
      parts.push(`${k} ${target ?? ''}`)
      continue
    }
    if (k === 'reject') {
      rule.verdict = 'reject'
      if (isObj(b)) {
        const type = str(b['type'])
        const ex = str(b['expr'])
        parts.push(`reject${type !== undefined ? ` with ${type}` : ''}${ex !== undefined ? ` ${ex}` : ''}`)
      } else parts.push('reject')
      continue
    }
    if (NAT.has(k)) {
      rule.verdict = k
      let text = k
      if (isObj(b)) {
        if (b['addr'] !== undefined)
          text += ` to ${renderValue(b['addr'])}${b['port'] !== undefined ? `:${renderValue(b['port'])}` : ''}`
        else if (b['port'] !== undefined) text += ` to :${renderValue(b['port'])}`
        const flags = b['flags']
        if (flags !== undefined) text += ` ${Array.isArray(flags) ? flags.join(',') : renderValue(flags)}`
      }
      parts.push(text)
      continue
    }
    if (k === 'queue') {
      rule.verdict = 'queue'
      parts.push('queue')
      continue
    }
    if (k === 'xt' && isObj(b)) {
      const type = str(b['type'])
      const name = str(b['name']) ?? ''
      parts.push(`xt ${type ?? 'match'} "${name}"`)
      if (type === 'target') {
        const map: Record<string, string> = {
          REJECT: 'reject',
          MASQUERADE: 'masquerade',
          SNAT: 'snat',
          DNAT: 'dnat',
          REDIRECT: 'redirect',
        }
        const v = map[name]
        if (v !== undefined) rule.verdict = v
      } else if (name !== 'comment') rule.other.push(`xt match "${name}"`)
      continue
    }
    if (k === 'mangle' && isObj(b)) {
      parts.push(`${renderLeft(b['key'])} set ${renderValue(b['value'])}`)
      continue
    }
    if (k === 'log') {
      parts.push(
        isObj(b) && b['prefix'] !== undefined ? `log prefix ${JSON.stringify(str(b['prefix']))}` : 'log',
      )
      continue
    }
    if (k === 'limit' && isObj(b)) {
      const text = `limit rate ${b['inv'] === true ? 'over ' : ''}${str(b['rate'])}/${str(b['per'])}`
      parts.push(text)
      rule.other.push(text)
      continue
    }
    if (k === 'notrack') {
      parts.push('notrack')
      continue
    }
    const text = `${k}${b === null ? '' : ` ${renderValue(b)}`}`
    parts.push(text)
    rule.other.push(text)
  }
  if (comment !== undefined) {
    rule.comment = comment
    parts.push(`comment ${JSON.stringify(comment)}`)
  }
  if (rule.verdict === undefined) rule.verdict = 'counter-only'
  rule.raw = parts.join(' ')
  return rule
}
