/**
 * `bridge fdb show` (also `show dev X`, and the plain `bridge fdb` of iproute2 3.x) and `bridge -j fdb
 * show` → FdbEntry[].
 *
 * iproute2 prints: MAC, `dev`, `dst`, `vlan`, `port`, `vni`, `src_vni`, `via`, `nhid`, the flags (`self`,
 * `router`, `extern_learn`, `offload`, `master`, `sticky`), then `master BRIDGE`, then the state
 * (`permanent`, `static`, `stale`, nothing for reachable). `master` is therefore both a flag (NTF_MASTER)
 * and a key; it is a key when a bridge name follows. `show dev X` leaves `dev` out: it is then taken
 * from a pasted command line above the output if there is one, otherwise left empty.
 */
import type {FdbEntry} from '../model.js'
import {ParseError} from './errors.js'
import {
  type Json,
  type Line,
  type Tool,
  entryLines,
  foreignLine,
  isIp,
  isJson,
  isMac,
  num,
  parseJsonArray,
  str,
  strs,
  tokens,
} from './iproute-common.js'

const TOOL: Tool = {
  name: '`bridge fdb show`',
  hint: 'capture it with `bridge fdb show` (or `bridge -j fdb show`)',
}

const FDB_VALUE_KEYS = new Set([
  'dev',
  'dst',
  'vlan',
  'port',
  'vni',
  'src_vni',
  'via',
  'nhid',
  'link-netnsid',
  'used',
  'state',
])
/** Words that can follow a bare `master` flag, so `master` is not read as `master BRIDGE` before them. */
const FDB_WORDS = new Set([
  'self',
  'router',
  'extern_learn',
  'offload',
  'master',
  'sticky',
  'locked',
  'permanent',
  'static',
  'stale',
  'state',
])

/**
 * Parse forwarding entries from `bridge fdb show` / `bridge -j fdb show` output (auto-detected). MACs
 * are lower-cased. Empty input gives `[]`; anything else that is not that output throws ParseError.
 */
export function parseBridgeFdb(raw: string): FdbEntry[] {
  if (raw.trim() === '') return []
  if (isJson(raw)) return parseJsonArray(raw, TOOL).map(fromJson)
  return entryLines(raw, fromLine)
}

function fromLine(l: Line, shownDev: string | undefined): FdbEntry {
  const tk = tokens(l.text)
  const mac = tk[0] ?? ''
  if (!isMac(mac))
    throw foreignLine(
      TOOL,
      l,
      'an entry such as "0a:58:0a:f4:02:00 dev flannel.1 dst 10.99.0.12 self permanent"',
    )
  const e: FdbEntry = {
    mac: mac.toLowerCase(),
    dev: shownDev ?? '',
    self: false,
    permanent: false,
    flags: [],
    raw: l.text.trim(),
  }
  for (let i = 1; i < tk.length; i++) {
    const t = tk[i] as string
    if (t === 'master') {
      const next = tk[i + 1]
      if (next !== undefined && !FDB_WORDS.has(next)) {
        e.master = next
        i++
      } else e.flags.push('master')
      continue
    }
    if (FDB_VALUE_KEYS.has(t)) {
      const v = tk[++i]
      if (v === undefined) break
      if (t === 'dev') e.dev = v
      else if (t === 'dst') {
        if (!isIp(v)) throw new ParseError(`\`bridge fdb\`: dst "${v}" is not an address`, l.no, TOOL.hint)
        e.dst = v
      } else if (t === 'vlan' && /^\d+$/.test(v)) e.vlan = Number(v)
      else if (t === 'state') e.flags.push(`state ${v}`)
      continue
    }
    if (t === 'self') e.self = true
    else if (t === 'permanent') e.permanent = true
    else if (/^[a-z_]+$/.test(t)) e.flags.push(t)
  }
  return e
}

function fromJson(o: Json, i: number): FdbEntry {
  const mac = str(o, 'mac')
  if (mac === undefined || !isMac(mac))
    throw new ParseError(
      `\`bridge -j fdb\`: element ${i + 1} has no link-layer address in "mac" (is this the output of another command?)`,
      undefined,
      TOOL.hint,
    )
  const flags = strs(o, 'flags')
  const state = str(o, 'state') ?? ''
  const e: FdbEntry = {
    mac: mac.toLowerCase(),
    dev: str(o, 'ifname') ?? '',
    self: flags.includes('self'),
    permanent: state === 'permanent',
    flags: [...flags.filter((f) => f !== 'self'), ...(state !== '' && state !== 'permanent' ? [state] : [])],
    raw: '',
  }
  const dst = str(o, 'dst')
  if (dst !== undefined) e.dst = dst
  const vlan = num(o, 'vlan')
  if (vlan !== undefined) e.vlan = vlan
  const master = str(o, 'master')
  if (master !== undefined) e.master = master
  e.raw = renderFdb(o, flags, state)
  return e
}

/** The entry as `bridge fdb show` prints it, from a `-j` object. */
function renderFdb(o: Json, flags: string[], state: string): string {
  const parts: string[] = [str(o, 'mac') ?? '?']
  const kv = (key: string, label: string) => {
    const v = o[key]
    if (typeof v === 'string' || typeof v === 'number') parts.push(label, String(v))
  }
  kv('ifname', 'dev')
  kv('dst', 'dst')
  kv('vlan', 'vlan')
  kv('port', 'port')
  kv('vni', 'vni')
  kv('src_vni', 'src_vni')
  kv('viaIf', 'via')
  kv('nhid', 'nhid')
  parts.push(...flags)
  kv('master', 'master')
  if (state !== '') parts.push(state)
  return parts.join(' ')
}
