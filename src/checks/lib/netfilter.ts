/**
 * A small packet evaluator over parsed iptables and nftables rules, for the checks that ask "is this
 * traffic accepted?" (node.forward-policy, node.overlay-port).
 *
 * Kernel facts it relies on:
 * - iptables: a built-in chain's rules run in order; `-j CHAIN` runs the user chain and comes back on
 *   RETURN or at its end, `-g CHAIN` does not come back; the first ACCEPT/DROP/REJECT decides; falling
 *   off a built-in chain applies its policy.
 * - nftables: every base chain on a hook runs, in priority order. `accept` ends only that base chain;
 *   `drop`/`reject` anywhere is final; a base chain's policy applies at its end. Tables written by
 *   iptables-nft are base chains like any other (and the legacy xtables hooks run besides them).
 * - A `-m conntrack --ctstate RELATED,ESTABLISHED` / `ct state established,related` rule does not match
 *   the first packet of a new connection.
 *
 * Every rule matches `yes`, `no` or `maybe`. `maybe` (an interface the packet description leaves open,
 * a match module or expression not evaluated, an unresolved named set) is not followed: the verdict is
 * what the `yes` rules decide, and every earlier `maybe` rule that could have changed it is reported
 * with the reason (jumps that only maybe match are explored for such rules).
 */
import type {
  IptablesRuleset,
  IptChain,
  IptRule,
  Neg,
  NftChain,
  NftRule,
  NftRuleset,
  NftTable,
} from '../../model.js'
import {
  cidrContains,
  cidrsOverlap,
  normalizeCidr,
  normalizeIP,
  parseCidr,
  parseIP,
  type Cidr,
  type Family,
} from '../../lib/ip.js'
import {canonicalProto} from '../../parse/iptables.js'
import type {Avail, Facts} from '../../facts/types.js'
import type {NetConf} from '../../parse/netconf.js'
import type {Finding} from '../types.js'
import {unavailable, unknown} from './result.js'
import {nodePublicIP, selfOf} from './flannel.js'

/** What is known about a packet. `src`/`dst` may be a CIDR: "some address in this network". */
export interface Packet {
  src?: string
  dst?: string
  /** When the address is not fixed: networks it is surely outside of ("outside the pod network"). */
  srcNotIn?: string[]
  dstNotIn?: string[]
  proto?: 'udp' | 'tcp' | 'icmp' | 'esp'
  dport?: number
  inIface?: string
  outIface?: string
  /** When the interface is not known: interfaces it surely is not (a peer's VXLAN packet never enters on `lo`). */
  inIfaceNot?: string[]
  outIfaceNot?: string[]
  state?: 'new' | 'established'
}

export type Tri = 'yes' | 'no' | 'maybe'
export type Verdict = 'accept' | 'drop' | 'reject' | 'unknown'
/** Why a rule only maybe matches: which part of the packet description (or of the rule) was open. */
export type OpenKind = 'addr' | 'proto' | 'port' | 'iface' | 'state' | 'module' | 'set' | 'target'

export interface Why {
  kind: OpenKind
  text: string
}

export interface MatchResult {
  match: Tri
  why: Why[]
}

/** A rule as evidence: where it is and what it says. */
export interface RuleRef {
  /** `filter FORWARD` (iptables, table and chain) or `inet fw forward` (nft, family, table and chain). */
  chain: string
  /** 1-based position in its chain. */
  index: number
  raw: string
  /** What it does when it matches: `ACCEPT`, `DROP`, `REJECT`, `RETURN`, a chain name; nft verdicts in lower case. */
  action: string
  handle?: number
}

export interface MaybeStep extends RuleRef {
  why: Why[]
  /** The jump rules (themselves only maybe matching) through which this rule would be reached. */
  via: RuleRef[]
}

export interface Evaluation {
  verdict: Verdict
  /** The rule that decided; absent when a policy (or the end of a base chain) decided. */
  rule?: RuleRef
  /** The policy that decided: chain and policy, with the capture's line when it has one. */
  policy?: {chain: string; policy: string; raw?: string}
  /** The rule of the starting chain through which the decision was reached (where to insert before). */
  entry?: RuleRef
  /** Rules that matched (`yes`), in order: jumps, returns, and the deciding rule. */
  path: RuleRef[]
  /** Earlier rules that maybe match and would have decided otherwise. */
  maybe: MaybeStep[]
  /** Why the verdict is `unknown`. */
  reason?: string
  /** Limits of the evidence that apply to this result. */
  caveats: string[]
}

const MAX_DEPTH = 40

// ---------------------------------------------------------------------------------------------------
// Match primitives

function combine(parts: MatchResult[]): MatchResult {
  const why = parts.flatMap((p) => p.why)
  if (parts.some((p) => p.match === 'no')) return {match: 'no', why: []}
  if (parts.some((p) => p.match === 'maybe')) return {match: 'maybe', why}
  return {match: 'yes', why: []}
}

const YES: MatchResult = {match: 'yes', why: []}
const NO: MatchResult = {match: 'no', why: []}
const maybe = (kind: OpenKind, text: string): MatchResult => ({match: 'maybe', why: [{kind, text}]})

function negate(r: MatchResult, negated: boolean): MatchResult {
  if (!negated || r.match === 'maybe') return r
  return r.match === 'yes' ? NO : YES
}

/** Relation of a packet address (IP or CIDR) to one rule value (IP, CIDR or `a-b` range). */
function addrRelation(value: string, pkt: Cidr): Tri | 'family' | 'bad' {
  const dash = value.indexOf('-')
  if (dash > 0 && !value.includes('/')) {
    const a = parseIP(value.slice(0, dash))
    const b = parseIP(value.slice(dash + 1))
    if (!a || !b || a.family !== b.family) return 'bad'
    if (a.family !== pkt.family) return 'family'
    const bits = pkt.family === 4 ? 32 : 128
    const lo = pkt.base
    const hi = pkt.base + (1n << BigInt(bits - pkt.prefix)) - 1n
    if (lo >= a.addr && hi <= b.addr) return 'yes'
    if (hi < a.addr || lo > b.addr) return 'no'
    return 'maybe'
  }
  const c = parseCidr(value)
  if (!c) return 'bad'
  if (c.family !== pkt.family) return 'family'
  if (cidrContains(c, pkt)) return 'yes'
  if (!cidrsOverlap(c, pkt)) return 'no'
  return 'maybe'
}

function addrMatch(
  values: string[],
  negated: boolean,
  pktAddr: string | undefined,
  notIn: string[] | undefined,
  what: string,
  family: Family,
): MatchResult {
  const fam = values.map((v) => parseCidr(v.split('-')[0] ?? v)?.family).find((f) => f !== undefined)
  if (fam !== undefined && fam !== family) return NO // `ip saddr` never matches an IPv6 packet, negated or not
  if (pktAddr === undefined) {
    if (!negated && values.some((v) => parseCidr(v)?.prefix === 0)) return YES
    const outside = (notIn ?? []).map((n) => parseCidr(n)).filter((c): c is Cidr => c !== undefined)
    const inside = (v: string): boolean => {
      const c = parseCidr(v)
      return c !== undefined && outside.some((o) => cidrContains(o, c))
    }
    // every value lies inside a network the address is surely not in
    if (outside.length > 0 && values.length > 0 && values.every(inside)) return negate(NO, negated)
    return maybe('addr', `${what} address is not fixed`)
  }
  const pkt = parseCidr(pktAddr)
  if (!pkt) return maybe('addr', `${what} ${pktAddr} not understood`)
  let any: Tri = 'no'
  const why: Why[] = []
  for (const v of values) {
    if (v.startsWith('@')) {
      any = any === 'yes' ? 'yes' : 'maybe'
      why.push({kind: 'set', text: `set ${v} has no listed elements`})
      continue
    }
    const r = addrRelation(v, pkt)
    if (r === 'yes') {
      any = 'yes'
      break
    }
    if (r === 'maybe') {
      any = 'maybe'
      why.push({kind: 'addr', text: `${pktAddr} is only partly inside ${what} ${v}`})
    } else if (r === 'bad') {
      any = any === 'yes' ? 'yes' : 'maybe'
      why.push({kind: 'addr', text: `${what} ${v} not understood`})
    }
  }
  return negate(any === 'maybe' ? {match: 'maybe', why} : any === 'yes' ? YES : NO, negated)
}

/** Interface name patterns: iptables `eth+`, nft `"eth*"`. */
function ifaceIs(pattern: string, name: string): boolean {
  if (pattern.endsWith('+') || pattern.endsWith('*')) return name.startsWith(pattern.slice(0, -1))
  return pattern === name
}

function ifaceMatch(
  values: string[],
  negated: boolean,
  pkt: string | undefined,
  not: string[] | undefined,
  what: string,
): MatchResult {
  if (pkt === undefined) {
    if (
      not !== undefined &&
      values.every((v) => not.some((n) => ifaceIs(v, n) && !v.endsWith('+') && !v.endsWith('*')))
    ) {
      return negate(NO, negated)
    }
    return maybe('iface', `${what} interface is not known (rule: ${negated ? '! ' : ''}${values.join(',')})`)
  }
  return negate(values.some((v) => ifaceIs(v, pkt)) ? YES : NO, negated)
}

const PROTO_ALIASES: Record<string, string> = {icmpv6: 'icmp', 'ipv6-icmp': 'icmp'}

function protoMatch(values: string[], negated: boolean, pkt: Packet['proto']): MatchResult {
  const canon = values.map((v) => canonicalProto(v))
  if (canon.some((c) => c === undefined)) return negate(YES, negated)
  if (pkt === undefined) return maybe('proto', `protocol ${values.join(',')} (the traffic is any protocol)`)
  const hit = canon.some((c) => c !== undefined && (PROTO_ALIASES[c] ?? c) === pkt)
  return negate(hit ? YES : NO, negated)
}

/** `8472`, `8000:9000` (iptables), `8000-9000` (nft), `<1024`, lists `500,4500`. */
function portIn(spec: string, port: number): boolean | undefined {
  const s = spec.trim()
  const cmp = /^(<=|>=|<|>)(\d+)$/.exec(s)
  if (cmp) {
    const n = Number(cmp[2])
    return cmp[1] === '<' ? port < n : cmp[1] === '>' ? port > n : cmp[1] === '<=' ? port <= n : port >= n
  }
  const r = /^(\d+)(?:[:-](\d+))?$/.exec(s)
  if (!r) return undefined
  const lo = Number(r[1])
  const hi = r[2] === undefined ? lo : Number(r[2])
  return port >= lo && port <= hi
}

function portMatch(values: string[], negated: boolean, p: Packet): MatchResult {
  if (p.proto !== undefined && p.proto !== 'udp' && p.proto !== 'tcp') return NO
  if (p.dport === undefined)
    return maybe('port', `destination port ${values.join(',')} (the traffic uses any port)`)
  let res: Tri = 'no'
  const why: Why[] = []
  for (const v of values.flatMap((x) => x.split(','))) {
    if (v.startsWith('@')) {
      res = 'maybe'
      why.push({kind: 'set', text: `set ${v} has no listed elements`})
      continue
    }
    const hit = portIn(v, p.dport)
    if (hit === true) return negate(YES, negated)
    if (hit === undefined) {
      res = 'maybe'
      why.push({kind: 'port', text: `port ${v} not understood`})
    }
  }
  return negate(res === 'maybe' ? {match: 'maybe', why} : NO, negated)
}

function stateMatch(values: string[], negated: boolean, state: Packet['state']): MatchResult {
  const v = values.flatMap((x) => x.split(',')).map((x) => x.trim().toUpperCase())
  if (state === undefined) return maybe('state', `conntrack state ${v.join(',')}`)
  const want = state === 'new' ? 'NEW' : 'ESTABLISHED'
  if (v.includes(want)) return negate(YES, negated)
  if (v.includes('DNAT') || v.includes('SNAT')) return maybe('state', `conntrack state ${v.join(',')}`)
  return negate(NO, negated)
}

const one = (n: Neg<string>): [string[], boolean] => [[n.value], n.negated]

/** Does an iptables rule match the packet? */
export function matchIptRule(rule: IptRule, p: Packet, family: Family = packetFamily(p)): MatchResult {
  const parts: MatchResult[] = []
  if (rule.source) parts.push(addrMatch(...one(rule.source), p.src, p.srcNotIn, 'source', family))
  if (rule.destination)
    parts.push(addrMatch(...one(rule.destination), p.dst, p.dstNotIn, 'destination', family))
  if (rule.protocol) parts.push(protoMatch(...one(rule.protocol), p.proto))
  if (rule.inInterface) parts.push(ifaceMatch(...one(rule.inInterface), p.inIface, p.inIfaceNot, 'input'))
  if (rule.outInterface)
    parts.push(ifaceMatch(...one(rule.outInterface), p.outIface, p.outIfaceNot, 'output'))
  if (rule.dport) parts.push(portMatch(...one(rule.dport), p))
  if (rule.sport)
    parts.push(
      p.proto !== undefined && p.proto !== 'udp' && p.proto !== 'tcp'
        ? NO
        : maybe('port', `source port ${rule.sport.value}`),
    )
  if (rule.ctstate) parts.push(stateMatch(...one(rule.ctstate), p.state))
  for (const m of rule.matches) {
    if (m.module === 'comment') continue
    if (m.module === 'fragment') {
      // Only non-first fragments match -f; the packets we ask about are first packets.
      parts.push(m.args === '!' ? YES : NO)
      continue
    }
    parts.push(maybe('module', `match ${m.module}${m.args ? ` ${m.args}` : ''} is not evaluated`))
  }
  return combine(parts)
}

/** Does an nftables rule match the packet? */
export function matchNftRule(rule: NftRule, p: Packet, family: Family = packetFamily(p)): MatchResult {
  const parts: MatchResult[] = []
  const v = (n: Neg<string[]>): [string[], boolean] => [n.value, n.negated]
  if (rule.saddr) parts.push(addrMatch(...v(rule.saddr), p.src, p.srcNotIn, 'source', family))
  if (rule.daddr) parts.push(addrMatch(...v(rule.daddr), p.dst, p.dstNotIn, 'destination', family))
  if (rule.l4proto) parts.push(protoMatch(...v(rule.l4proto), p.proto))
  if (rule.dport) parts.push(portMatch(...v(rule.dport), p))
  if (rule.sport)
    parts.push(
      p.proto !== undefined && p.proto !== 'udp' && p.proto !== 'tcp'
        ? NO
        : maybe('port', `source port ${rule.sport.value.join(',')}`),
    )
  if (rule.iifname) parts.push(ifaceMatch(...v(rule.iifname), p.inIface, p.inIfaceNot, 'input'))
  if (rule.oifname) parts.push(ifaceMatch(...v(rule.oifname), p.outIface, p.outIfaceNot, 'output'))
  if (rule.ctstate) parts.push(stateMatch(...v(rule.ctstate), p.state))
  for (const o of rule.other) {
    const nf = /^meta nfproto (!= )?(ipv4|ipv6)$/.exec(o)
    if (nf) {
      parts.push(negate((nf[2] === 'ipv4') === (family === 4) ? YES : NO, nf[1] !== undefined))
      continue
    }
    parts.push(maybe('module', `expression '${o}' is not evaluated`))
  }
  return combine(parts)
}

/** Address family of a packet description (IPv4 unless an address says otherwise). */
export function packetFamily(p: Packet): Family {
  for (const a of [p.src, p.dst]) {
    const c = a === undefined ? undefined : parseCidr(a)
    if (c) return c.family
  }
  return 4
}

// ---------------------------------------------------------------------------------------------------
// Targets and verdicts

/** iptables targets that do not end the walk. */
const NON_TERMINAL = new Set([
  'LOG',
  'NFLOG',
  'ULOG',
  'MARK',
  'CONNMARK',
  'CT',
  'NOTRACK',
  'TRACE',
  'TCPMSS',
  'DSCP',
  'TOS',
  'TTL',
  'HL',
  'CLASSIFY',
  'CHECKSUM',
  'AUDIT',
  'SECMARK',
  'CONNSECMARK',
  'IDLETIMER',
  'LED',
  'RATEEST',
  'SET',
  'TEE',
])
const NAT_TARGETS = new Set(['MASQUERADE', 'SNAT', 'DNAT', 'REDIRECT', 'NETMAP'])

type Outcome =
  {kind: 'verdict'; verdict: Verdict; rule: RuleRef; reason?: string} | {kind: 'return'} | {kind: 'end'}

/** `unknown` because jumps from `chain` nest deeper than MAX_DEPTH. */
const tooDeep = (chain: string): Outcome => ({
  kind: 'verdict',
  verdict: 'unknown',
  rule: {chain, index: 0, raw: '', action: ''},
  reason: 'jumps nest too deep (a loop?)',
})

/** `unknown` because the rule `ref` jumps to a chain the evidence does not have. */
const missingChain = (ref: RuleRef, target: string | undefined): Outcome => ({
  kind: 'verdict',
  verdict: 'unknown',
  rule: ref,
  reason: `chain ${target} is not in the evidence`,
})

// ---------------------------------------------------------------------------------------------------
// The chain walk, one for iptables and nftables: each only says how its rules match, read and act

/** What a rule does to the walk when it matches. */
type Step =
  | {kind: 'verdict'; verdict: Verdict}
  | {kind: 'return'}
  | {kind: 'jump' | 'goto'; target: string}
  /** A target the evaluator does not know (iptables): reported as a maybe, the walk goes on. */
  | {kind: 'opaque'; why: Why[]}
  /** No decision (LOG, MARK, a counter, `continue`). */
  | {kind: 'none'}

const NONE: Step = {kind: 'none'}

/** One table as the walk sees it, and what the walk has collected so far. */
interface Walk<R> {
  chains: readonly {name: string; rules: readonly R[]}[]
  match(rule: R): MatchResult
  ref(chain: string, index: number, rule: R): RuleRef
  step(rule: R): Step
  /** How a chain is named when jumps from it nest too deep. */
  deepId(chain: string): string
  path: RuleRef[]
  maybe: MaybeStep[]
}

function runChain<R>(
  w: Walk<R>,
  name: string,
  depth: number,
  onTop?: (ref: RuleRef) => void,
): Outcome | {kind: 'missing'} {
  const chain = w.chains.find((c) => c.name === name)
  if (!chain) return {kind: 'missing'}
  if (depth > MAX_DEPTH) return tooDeep(w.deepId(name))
  for (let i = 0; i < chain.rules.length; i++) {
    const rule = chain.rules[i] as R
    const m = w.match(rule)
    if (m.match === 'no') continue
    const ref = w.ref(name, i, rule)
    const s = w.step(rule)
    if (m.match === 'maybe') {
      if (s.kind === 'jump' || s.kind === 'goto') explore(w, s.target, depth + 1, [ref], m.why)
      else if (s.kind !== 'none') w.maybe.push({...ref, why: m.why, via: []})
      continue
    }
    if (onTop) onTop(ref)
    switch (s.kind) {
      case 'verdict':
        w.path.push(ref)
        return {kind: 'verdict', verdict: s.verdict, rule: ref}
      case 'return':
        w.path.push(ref)
        return {kind: 'return'}
      case 'jump':
      case 'goto': {
        w.path.push(ref)
        const r = runChain(w, s.target, depth + 1)
        if (r.kind === 'verdict') return r
        if (r.kind === 'missing') return missingChain(ref, s.target)
        if (s.kind === 'goto') return {kind: 'return'}
        continue
      }
      case 'opaque':
        w.maybe.push({...ref, why: s.why, via: []})
        continue
      case 'none':
        continue
    }
  }
  return {kind: 'end'}
}

/** Collect the terminal rules of a chain reached through a jump that only maybe matches. */
function explore<R>(w: Walk<R>, name: string, depth: number, via: RuleRef[], viaWhy: Why[]): void {
  const chain = w.chains.find((c) => c.name === name)
  if (!chain || depth > MAX_DEPTH) return
  for (let i = 0; i < chain.rules.length; i++) {
    const rule = chain.rules[i] as R
    const m = w.match(rule)
    if (m.match === 'no') continue
    const ref = w.ref(name, i, rule)
    const s = w.step(rule)
    if (s.kind === 'jump' || s.kind === 'goto') {
      explore(w, s.target, depth + 1, [...via, ref], [...viaWhy, ...m.why])
      if (m.match === 'yes' && s.kind === 'goto') return
      continue
    }
    if (s.kind === 'verdict' || s.kind === 'opaque') w.maybe.push({...ref, why: [...viaWhy, ...m.why], via})
    if (m.match === 'yes' && (s.kind === 'verdict' || s.kind === 'return')) return
  }
}

// ---------------------------------------------------------------------------------------------------
// iptables walk

function iptStep(rule: IptRule, table: {chains: IptChain[]}): Step {
  const t = rule.target
  if (t === undefined) return NONE
  if (t === 'ACCEPT') return {kind: 'verdict', verdict: 'accept'}
  if (t === 'DROP') return {kind: 'verdict', verdict: 'drop'}
  if (t === 'REJECT') return {kind: 'verdict', verdict: 'reject'}
  if (t === 'RETURN') return {kind: 'return'}
  if (table.chains.some((c) => c.name === t)) return {kind: rule.goto ? 'goto' : 'jump', target: t}
  if (NON_TERMINAL.has(t)) return NONE
  if (NAT_TARGETS.has(t)) return {kind: 'verdict', verdict: 'accept'}
  return {kind: 'opaque', why: [{kind: 'target', text: `target ${t} is not evaluated`}]}
}

function iptWalk(table: {name: string; chains: IptChain[]}, p: Packet): Walk<IptRule> {
  const family = packetFamily(p)
  return {
    chains: table.chains,
    match: (rule) => matchIptRule(rule, p, family),
    ref: (chain, i, rule) => ({
      chain: `${table.name} ${chain}`,
      index: i + 1,
      raw: rule.raw,
      action: rule.target ?? '(no target)',
    }),
    step: (rule) => iptStep(rule, table),
    deepId: (chain) => `${table.name} ${chain}`,
    path: [],
    maybe: [],
  }
}
/**
 * Evaluate a packet through one chain of an iptables table (normally a built-in chain such as
 * `filter FORWARD`), following jumps, gotos and RETURN, ending at the policy.
 */
export function evalIptables(
  rs: IptablesRuleset,
  tableName: string,
  chainName: string,
  p: Packet,
): Evaluation {
  const caveats: string[] = []
  if (rs.ifacesHidden)
    caveats.push(
      '`iptables -L` without `-v` does not show interface matches; capture `iptables-save` to see them',
    )
  const table = rs.tables.find((t) => t.name === tableName)
  const out = (e: Omit<Evaluation, 'caveats'>): Evaluation => ({...e, caveats})
  if (!table) {
    // iptables-save prints only tables that exist; none means no rules (all built-in policies ACCEPT).
    if (rs.form === 'save' || rs.tables.length === 0)
      return out({verdict: 'accept', path: [], maybe: [], reason: `no ${tableName} table`})
    return out({verdict: 'unknown', path: [], maybe: [], reason: `the evidence has no ${tableName} table`})
  }
  const chain = table.chains.find((c) => c.name === chainName)
  if (!chain) {
    // iptables-nft creates built-in chains lazily: a table without the chain has no rules there.
    if (
      rs.tables.length > 0 &&
      ['INPUT', 'FORWARD', 'OUTPUT', 'PREROUTING', 'POSTROUTING'].includes(chainName)
    ) {
      return out({
        verdict: 'accept',
        policy: {chain: `${tableName} ${chainName}`, policy: 'ACCEPT'},
        path: [],
        maybe: [],
      })
    }
    return out({
      verdict: 'unknown',
      path: [],
      maybe: [],
      reason: `the evidence has no chain ${chainName} in table ${tableName}`,
    })
  }
  const w = iptWalk(table, p)
  let entry: RuleRef | undefined
  const r = runChain(w, chainName, 0, (ref) => (entry = ref))
  const base = {path: w.path, maybe: w.maybe}
  if (r.kind === 'verdict') {
    const e: Omit<Evaluation, 'caveats'> = {verdict: r.verdict, rule: r.rule, ...base}
    if (entry) e.entry = entry
    if (r.reason !== undefined) e.reason = r.reason
    return out(e)
  }
  const policy = chain.policy
  if (policy === undefined) {
    return out({verdict: 'unknown', ...base, reason: `${chainName} is a user chain without a policy`})
  }
  const v: Verdict = policy === 'ACCEPT' ? 'accept' : policy === 'DROP' ? 'drop' : 'unknown'
  const pol: NonNullable<Evaluation['policy']> = {chain: `${tableName} ${chainName}`, policy}
  if (chain.raw !== undefined) pol.raw = chain.raw
  const e: Omit<Evaluation, 'caveats'> = {verdict: v, policy: pol, ...base}
  if (v === 'unknown') e.reason = `policy ${policy} is not understood`
  return out(e)
}

/** Rules that maybe matched and would have decided otherwise than `verdict`. */
export function contrary(e: Evaluation): MaybeStep[] {
  return e.maybe.filter((m) => {
    const a = actionVerdict(m.action)
    if (a === undefined) return false
    if (e.verdict === 'accept') return a === 'drop' || a === 'reject' || a === 'unknown'
    if (e.verdict === 'drop' || e.verdict === 'reject') return a === 'accept' || a === 'unknown'
    return true
  })
}

function actionVerdict(action: string): Verdict | undefined {
  const a = action.toLowerCase()
  if (a === 'accept' || a === 'masquerade' || a === 'snat' || a === 'dnat' || a === 'redirect')
    return 'accept'
  if (a === 'drop') return 'drop'
  if (a === 'reject') return 'reject'
  if (a === 'return' || a === '(no target)' || a === 'counter-only' || a === 'continue') return undefined
  if (a === 'queue') return 'unknown'
  if (NON_TERMINAL.has(action)) return undefined
  // a target the evaluator does not know
  return /^[A-Z]+$/.test(action) && !NAT_TARGETS.has(action) ? 'unknown' : undefined
}

// ---------------------------------------------------------------------------------------------------
// nftables

function nftRef(t: NftTable, chain: string, i: number, rule: NftRule): RuleRef {
  const ref: RuleRef = {
    chain: `${t.family} ${t.name} ${chain}`,
    index: i + 1,
    raw: rule.raw,
    action:
      rule.verdict === 'jump' || rule.verdict === 'goto'
        ? `${rule.verdict} ${rule.target ?? ''}`
        : (rule.verdict ?? 'counter-only'),
  }
  if (rule.handle !== undefined) ref.handle = rule.handle
  return ref
}

function nftTerminal(v: string | undefined): Verdict | undefined {
  switch (v) {
    case 'accept':
    case 'masquerade':
    case 'snat':
    case 'dnat':
    case 'redirect':
      return 'accept'
    case 'drop':
      return 'drop'
    case 'reject':
      return 'reject'
    case 'queue':
      return 'unknown'
    default:
      return undefined
  }
}

function nftStep(rule: NftRule): Step {
  const v = rule.verdict
  if ((v === 'jump' || v === 'goto') && rule.target !== undefined) return {kind: v, target: rule.target}
  const term = nftTerminal(v)
  if (term !== undefined) return {kind: 'verdict', verdict: term}
  return v === 'return' ? {kind: 'return'} : NONE
}

function nftWalk(table: NftTable, p: Packet): Walk<NftRule> {
  const family = packetFamily(p)
  return {
    chains: table.chains,
    match: (rule) => matchNftRule(rule, p, family),
    ref: (chain, i, rule) => nftRef(table, chain, i, rule),
    step: nftStep,
    deepId: (chain) => chain,
    path: [],
    maybe: [],
  }
}

/** Evaluate a packet through one nftables base chain, ending at its policy. */
export function evalNftChain(table: NftTable, chainName: string, p: Packet): Evaluation {
  const chain = table.chains.find((c) => c.name === chainName)
  const id = `${table.family} ${table.name} ${chainName}`
  if (!chain) return {verdict: 'unknown', path: [], maybe: [], reason: `no chain ${id}`, caveats: []}
  const w = nftWalk(table, p)
  let entry: RuleRef | undefined
  const r = runChain(w, chainName, 0, (ref) => (entry = ref))
  if (r.kind === 'verdict') {
    const e: Evaluation = {verdict: r.verdict, rule: r.rule, path: w.path, maybe: w.maybe, caveats: []}
    if (entry) e.entry = entry
    if (r.reason !== undefined) e.reason = r.reason
    return e
  }
  const policy = chain.policy ?? 'accept'
  const pol: NonNullable<Evaluation['policy']> = {chain: id, policy}
  if (chain.raw !== undefined) pol.raw = chain.raw
  return {
    verdict: policy === 'drop' ? 'drop' : 'accept',
    policy: pol,
    path: w.path,
    maybe: w.maybe,
    caveats: [],
  }
}

export interface NftHookEvaluation {
  /** `drop`/`reject` if any base chain drops; `unknown` if one could not be evaluated; else `accept`. */
  verdict: Verdict
  /** Every base chain on the hook, in the order the kernel runs them (priority, then listing order). */
  chains: {id: string; table: NftTable; chain: NftChain; evaluation: Evaluation}[]
  /** The base chain whose drop decided. */
  decidedBy?: {id: string; table: NftTable; chain: NftChain; evaluation: Evaluation}
}

export interface NftHookOptions {
  /** Include tables iptables-nft manages (normally evaluated from the iptables evidence instead). */
  includeIptablesManaged?: boolean
}

/**
 * Evaluate a packet through all nftables base chains of a hook (`input`, `forward`, ...) that see its
 * address family: `accept` ends only one base chain, a drop anywhere is final.
 */
export function evalNftHook(
  rs: NftRuleset,
  hook: string,
  p: Packet,
  opts: NftHookOptions = {},
): NftHookEvaluation {
  const family = packetFamily(p)
  const fams = family === 4 ? ['ip', 'inet'] : ['ip6', 'inet']
  const chains: NftHookEvaluation['chains'] = []
  const bases: {table: NftTable; chain: NftChain; order: number}[] = []
  let order = 0
  for (const table of rs.tables) {
    if (!fams.includes(table.family)) continue
    if (table.managedByIptables && !opts.includeIptablesManaged) continue
    for (const chain of table.chains) {
      if (chain.hook !== hook || chain.type === 'nat') continue
      bases.push({table, chain, order: order++})
    }
  }
  bases.sort((a, b) => (a.chain.priority ?? 0) - (b.chain.priority ?? 0) || a.order - b.order)
  let verdict: Verdict = 'accept'
  let decidedBy: NftHookEvaluation['decidedBy']
  for (const {table, chain} of bases) {
    const evaluation = evalNftChain(table, chain.name, p)
    const entry = {id: `${table.family} ${table.name} ${chain.name}`, table, chain, evaluation}
    chains.push(entry)
    if (evaluation.verdict === 'drop' || evaluation.verdict === 'reject') {
      if (!decidedBy) {
        decidedBy = entry
        verdict = evaluation.verdict
      }
    } else if (evaluation.verdict === 'unknown' && verdict === 'accept') verdict = 'unknown'
  }
  const out: NftHookEvaluation = {verdict, chains}
  if (decidedBy) out.decidedBy = decidedBy
  return out
}

/** Human-readable reasons of maybe steps, for a message. */
export function describeWhy(why: readonly Why[]): string {
  return [...new Set(why.map((w) => w.text))].join('; ')
}

/** True when a maybe step only depends on which protocol/port the traffic uses (a partial block by design). */
export function onlyProtoOrPort(step: MaybeStep): boolean {
  return step.why.length > 0 && step.why.every((w) => w.kind === 'proto' || w.kind === 'port')
}

// ---------------------------------------------------------------------------------------------------
// Which evidence to evaluate, and how to word it (shared by the netfilter checks)

/** One iptables-style ruleset to evaluate, with the command that edits it. */
export interface IptView {
  /** `iptables`, `iptables-legacy`, `ip6tables`. */
  cmd: string
  rs: IptablesRuleset
  source: string
}

export interface NftView {
  rs: NftRuleset
  source: string
  /** Evaluate iptables-nft's tables from nft too (when no iptables evidence covers them). */
  includeIptablesManaged: boolean
}

export interface Views {
  ipt: IptView[]
  nft?: NftView
  /** Evidence that could not be read, as `what: reason` (for messages), with the first unavailable fact. */
  notLooked: string[]
  firstUnavailable?: Extract<Avail<unknown>, {ok: false}>
}

/** True when a ruleset holds anything: a rule, a user chain, or a built-in policy other than ACCEPT. */
export function hasRules(rs: IptablesRuleset): boolean {
  return rs.tables.some((t) =>
    t.chains.some((c) => c.rules.length > 0 || (c.policy === undefined ? true : c.policy !== 'ACCEPT')),
  )
}

/**
 * The rulesets that see packets of a family: the iptables capture, iptables-legacy when it holds rules
 * besides an nf_tables capture (both hook sets run), and nftables (with iptables-nft's tables when the
 * iptables capture is missing or legacy, since then nothing else shows them).
 */
export function netfilterViews(facts: Facts, family: Family): Views {
  const out: Views = {ipt: [], notLooked: []}
  const note = (what: string, a: Avail<unknown>): void => {
    if (a.ok) return
    out.notLooked.push(`${what}: ${a.reason}`)
    if (!out.firstUnavailable) out.firstUnavailable = a
  }
  const main = facts.get(family === 4 ? 'iptables' : 'ip6tables')
  note(family === 4 ? 'iptables' : 'ip6tables', main)
  if (main.ok)
    out.ipt.push({cmd: family === 4 ? 'iptables' : 'ip6tables', rs: main.value, source: main.source})
  if (family === 4) {
    const legacy = facts.get('iptablesLegacy')
    if (legacy.ok && hasRules(legacy.value) && !(main.ok && main.value.backend === 'legacy')) {
      out.ipt.push({cmd: 'iptables-legacy', rs: legacy.value, source: legacy.source})
    }
  }
  const nft = facts.get('nft')
  note('nftables', nft)
  if (nft.ok) {
    out.nft = {
      rs: nft.value,
      source: nft.source,
      includeIptablesManaged: !main.ok || main.value.backend === 'legacy',
    }
  }
  return out
}

/** The `unknown` finding when no ruleset of the family could be read; undefined when there is one. */
export function noRulesFinding(views: Views, family: Family): Finding | undefined {
  if (views.ipt.length > 0 || views.nft) return undefined
  const a = views.firstUnavailable
  return a
    ? unavailable(`the ${family === 4 ? 'iptables' : 'ip6tables'} and nftables rules`, a)
    : unknown('No netfilter evidence to evaluate.')
}

/**
 * Where an ACCEPT inserted into the built-in `chain` comes before what decided: the position of the
 * rule of `chain` the decision was reached through, else 1.
 */
export function insertPosition(e: Evaluation, chain: string): number {
  return e.rule && e.entry && e.entry.chain.endsWith(` ${chain}`) ? e.entry.index : 1
}

/** The command that deletes an iptables rule: by its spec when the capture shows it (`-A ...`), else by position. */
export function iptDeleteCmd(cmd: string, r: RuleRef): string {
  const [table, chain] = r.chain.split(' ') as [string, string]
  return r.raw.startsWith('-A ')
    ? `${cmd}${table === 'filter' ? '' : ` -t ${table}`} -D ${r.raw.slice(3)}`
    : `${cmd} -D ${chain} ${r.index}`
}

/** The command that deletes an nftables rule of table `family name` by its handle. */
export function nftDeleteCmd(family: string, table: string, r: RuleRef, handle: number): string {
  return `nft delete rule ${family} ${table} ${r.chain.split(' ').slice(2).join(' ')} handle ${handle}`
}

/** `rule 2 '-A FORWARD -j REJECT'` or `rule 1 'accept' of inet fw pods`. */
export function ruleText(r: RuleRef, base?: string): string {
  const where = base !== undefined && r.chain !== base ? ` of ${r.chain}` : ''
  return `rule ${r.index} '${r.raw}'${where}`
}

/** The capture line of a policy, or a synthesized one. */
export function policyLine(e: Evaluation): string | undefined {
  if (!e.policy) return undefined
  return e.policy.raw ?? `${e.policy.chain} policy ${e.policy.policy}`
}

/** Evidence lines of an evaluation: the path taken, the deciding rule or policy, and the open rules. */
export function evidenceLines(e: Evaluation, withMaybe: MaybeStep[] = []): string[] {
  const lines: string[] = []
  const add = (l: string | undefined): void => {
    if (l !== undefined && l !== '' && !lines.includes(l)) lines.push(l)
  }
  if (e.policy) add(policyLine(e))
  for (const m of withMaybe) {
    for (const v of m.via) add(v.raw)
    add(m.raw)
  }
  for (const r of e.path) add(r.raw)
  return lines
}

/** Firewalld leaves its own chains/tables; its CLI is then the right place for a fix. */
export function usesFirewalld(views: Views): boolean {
  if (views.nft?.rs.tables.some((t) => t.name === 'firewalld')) return true
  return views.ipt.some((v) =>
    v.rs.tables.some((t) => t.chains.some((c) => /^(INPUT_ZONES|IN_public|FWDI_public)$/.test(c.name))),
  )
}

/** The flannel network(s): net-conf first, subnet.env as the fallback. */
export function flannelNetworks(
  facts: Facts,
): {v4?: string; v6?: string; conf?: NetConf; from: string} | {error: Finding} {
  const nc = facts.get('netConf')
  const conf = nc.ok && nc.value.result.ok ? nc.value.result.conf : undefined
  const out: {v4?: string; v6?: string; conf?: NetConf; from: string} = {from: ''}
  if (conf) out.conf = conf
  // The network flannel runs with is what its rules (and the pods' addresses) use: subnet.env's
  // FLANNEL_NETWORK first; net-conf's Network when there is no subnet.env. A difference between the
  // two is node.subnet-env's finding, not a firewall problem.
  const se = facts.get('subnetEnv')
  if (se.ok) {
    const v4 = se.value.values['FLANNEL_NETWORK']
    const v6 = se.value.values['FLANNEL_IPV6_NETWORK']
    if (v4 !== undefined && normalizeCidr(v4)) out.v4 = normalizeCidr(v4) as string
    if (v6 !== undefined && normalizeCidr(v6)) out.v6 = normalizeCidr(v6) as string
    if (out.v4 !== undefined || out.v6 !== undefined) {
      out.from = `${se.source} (FLANNEL_NETWORK)`
      return out
    }
  }
  if (conf?.Network !== undefined && conf.EnableIPv4 !== false) {
    const n = normalizeCidr(conf.Network)
    if (n) out.v4 = n
  }
  if (conf?.IPv6Network !== undefined && conf.EnableIPv6) {
    const n = normalizeCidr(conf.IPv6Network)
    if (n) out.v6 = n
  }
  if (out.v4 !== undefined || out.v6 !== undefined) {
    out.from = nc.ok ? nc.value.source : 'net-conf.json'
    return out
  }
  if (!nc.ok) return {error: unavailable('net-conf.json (for the flannel Network)', nc)}
  if (!se.ok) return {error: unavailable('subnet.env (for FLANNEL_NETWORK)', se)}
  return {
    error: unknown(
      'Neither net-conf.json nor subnet.env names the flannel network (Network / FLANNEL_NETWORK).',
    ),
  }
}

/** The interface holding this node's public IP (the underlay), when the evidence tells. */
export function underlayInterface(facts: Facts, family: Family): string | undefined {
  const nodes = facts.get('nodes')
  const addrs = facts.get('addrs')
  if (!nodes.ok || !addrs.ok) return undefined
  const self = selfOf(facts, nodes.value)
  if (!self) return undefined
  const pub = nodePublicIP(self.node, family)
  if (pub === undefined) return undefined
  return addrs.value.find((a) => normalizeIP(a.address) === pub)?.ifname
}
