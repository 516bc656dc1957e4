/**
 * `ip neigh` (also `show nud all`, `show proxy`, `-s`) and `ip -j neigh` → Neigh[].
 *
 * Lines: `10.244.2.0 dev flannel.1 lladdr 0a:58:0a:f4:02:00 PERMANENT`, `10.0.0.5 dev eth0  FAILED`
 * (no lladdr), `fe80::1 dev eth0 lladdr ... router REACHABLE`, `10.0.0.7 dev eth0 proxy`. States are the
 * upper-case words; lower-case bare words (`router`, `proxy`, `extern_learn`) are flags. `ip neigh show
 * dev X` leaves `dev` out: it is then taken from a pasted command line above the output if there is one,
 * otherwise left empty.
 */
import type {Neigh} from '../model.js'
import {ParseError} from './errors.js'
import {
  type Json,
  type Line,
  type Tool,
  entryLines,
  foreignLine,
  has,
  isIp,
  isJson,
  isMac,
  parseJsonArray,
  str,
  strs,
  tokens,
} from './iproute-common.js'

const TOOL: Tool = {name: '`ip neigh`', hint: 'capture it with `ip neigh` (or `ip -j neigh`)'}

const NEIGH_VALUE_KEYS = new Set(['dev', 'lladdr', 'used', 'probes', 'protocol', 'nud', 'vrf'])
const ROUTE_WORDS = new Set(['via', 'proto', 'scope', 'src', 'metric', 'table', 'onlink', 'nexthop'])
/** Bare flags iproute2 prints (JSON: the same names as keys, usually with a null value). */
const NEIGH_FLAGS = ['router', 'proxy', 'extern_learn', 'offload', 'managed', 'extern_valid']

/**
 * Parse neighbours from `ip neigh` / `ip -j neigh` output (auto-detected). Empty input gives `[]`;
 * anything else that is not that output throws ParseError.
 */
export function parseIpNeigh(raw: string): Neigh[] {
  if (raw.trim() === '') return []
  if (isJson(raw)) return parseJsonArray(raw, TOOL).map(fromJson)
  return entryLines(raw, fromLine)
}

function fromLine(l: Line, shownDev: string | undefined): Neigh {
  const tk = tokens(l.text)
  const dst = tk[0] ?? ''
  if (!isIp(dst))
    throw foreignLine(
      TOOL,
      l,
      'a neighbour such as "10.244.2.0 dev flannel.1 lladdr 0a:58:0a:f4:02:00 PERMANENT"',
    )
  // Host routes also start with an address; no neighbour entry has these route keys.
  if (tk.some((t) => ROUTE_WORDS.has(t)))
    throw foreignLine(TOOL, l, 'a neighbour entry, not a route (that is `ip route` output)')
  let dev = shownDev
  let lladdr: string | undefined
  const state: string[] = []
  const flags: string[] = []
  for (let i = 1; i < tk.length; i++) {
    const t = tk[i] as string
    if (NEIGH_VALUE_KEYS.has(t)) {
      const v = tk[++i]
      if (t === 'dev') dev = v
      else if (t === 'lladdr' && v !== undefined) {
        if (!isMac(v) && !isIp(v))
          throw new ParseError(`\`ip neigh\`: lladdr "${v}" is not a link-layer address`, l.no, TOOL.hint)
        lladdr = v.toLowerCase()
      }
      continue
    }
    if (/^[A-Z_]+$/.test(t)) state.push(t)
    else if (/^[a-z_]+$/.test(t)) flags.push(t)
  }
  const n: Neigh = {dst, dev: dev ?? '', state, flags, raw: l.text.trim()}
  if (lladdr !== undefined) n.lladdr = lladdr
  return n
}

function fromJson(o: Json, i: number): Neigh {
  const dst = str(o, 'dst')
  if (dst === undefined || !isIp(dst))
    throw new ParseError(
      `\`ip -j neigh\`: element ${i + 1} has no address in "dst" (is this the output of another command?)`,
      undefined,
      TOOL.hint,
    )
  const n: Neigh = {
    dst,
    dev: str(o, 'dev') ?? '',
    state: strs(o, 'state'),
    flags: NEIGH_FLAGS.filter((f) => has(o, f) && o[f] !== false),
    raw: '',
  }
  const ll = str(o, 'lladdr')
  if (ll !== undefined) n.lladdr = ll.toLowerCase()
  n.raw = [
    n.dst,
    ...(str(o, 'dev') !== undefined ? ['dev', n.dev] : []),
    ...(ll !== undefined ? ['lladdr', ll] : []),
    ...(n.flags ?? []),
    ...n.state,
  ].join(' ')
  return n
}
