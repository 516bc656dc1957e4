/**
 * `ip -d link show`, `ip link` and `ip -d -j link show` (also `-p` pretty JSON) → Link[].
 *
 * Text form: a header line per interface (`3: flannel.1: <...> mtu 1450 ... state UNKNOWN ...`), then
 * indented lines: `link/ether MAC ...`, and with `-d` the kind line (`vxlan id 1 local ... dstport 8472
 * nolearning ...`, `veth ...`, `bridge forward_delay ...`), then for enslaved ports a `bridge_slave ...`
 * line that describes the port, not the device kind. iproute2 5.x prints the same lines without
 * `allmulti`/`tso_*`; 4.x and older print `port LOW HIGH` instead of `srcport LOW HIGH`.
 */
import type {Link, VxlanInfo} from '../model.js'
import {ParseError} from './errors.js'
import {
  type Json,
  type LinkBlock,
  type Tool,
  has,
  isJson,
  isMac,
  linkBlocks,
  linkParentFromJson,
  num,
  obj,
  parseJsonArray,
  renderLinkHeader,
  splitLines,
  str,
  strs,
  tokens,
} from './iproute-common.js'

const TOOL: Tool = {
  name: '`ip link`',
  hint: 'capture it with `ip -d link show` (or `ip -d -j link show`)',
}

/** First words of detail lines that are not the device kind. */
const NOT_KIND = new Set([
  'altname',
  'alias',
  'vf',
  'prop',
  'inet',
  'inet6',
  'valid_lft',
  'preferred_lft',
  'cache',
])

/**
 * Parse links from `ip -d link show` / `ip link` text or `ip -d -j link show` JSON. Empty input gives
 * `[]`; anything else that is not that output throws ParseError.
 */
export function parseIpLink(raw: string): Link[] {
  if (raw.trim() === '') return []
  if (isJson(raw)) return parseJsonArray(raw, TOOL).map(fromJson)
  return linkBlocks(splitLines(raw), TOOL).map(fromBlock)
}

function fromBlock(b: LinkBlock): Link {
  const h = b.header
  if (h.mtu === undefined)
    throw new ParseError(
      `\`ip link\`: interface ${h.name} has no "mtu N" in its header`,
      b.headerLine,
      TOOL.hint,
    )
  const link: Link = {
    index: h.index,
    name: h.name,
    mtu: h.mtu,
    flags: h.flags,
    up: h.flags.includes('UP'),
    raw: h.raw,
  }
  if (h.parent !== undefined) link.parent = h.parent
  if (h.state !== undefined) link.operstate = h.state
  if (h.master !== undefined) link.master = h.master
  const li = b.lines.findIndex((l) => l.text.trim().startsWith('link/'))
  if (li >= 0) {
    const mac = tokens((b.lines[li] as {text: string}).text)[1]
    if (mac !== undefined && isMac(mac)) link.mac = mac.toLowerCase()
    // The kind line follows the link/ line directly when `-d` was given; ports add a `*_slave` line.
    for (const l of b.lines.slice(li + 1)) {
      const tk = tokens(l.text)
      const first = tk[0]
      if (first === undefined || !/^[a-z][a-z0-9_]*$/.test(first)) continue
      if (first.endsWith('_slave') || NOT_KIND.has(first)) continue
      link.kind = first
      link.detailRaw = l.text.trim()
      if (first === 'vxlan') {
        const vx = vxlanFromTokens(tk)
        if (vx) link.vxlan = vx
      }
      break
    }
  }
  return link
}

function vxlanFromTokens(tk: string[]): VxlanInfo | undefined {
  const after = (k: string): string | undefined => {
    const i = tk.indexOf(k)
    return i >= 0 ? tk[i + 1] : undefined
  }
  const id = after('id')
  if (id === undefined || !/^\d+$/.test(id)) return undefined
  const vx: VxlanInfo = {id: Number(id), learning: !tk.includes('nolearning'), gbp: tk.includes('gbp')}
  const local = after('local')
  if (local !== undefined) vx.local = local
  const dev = after('dev')
  if (dev !== undefined) vx.dev = dev
  const port = after('dstport')
  if (port !== undefined && /^\d+$/.test(port)) vx.dstport = Number(port)
  const group = after('group')
  if (group !== undefined) vx.group = group
  const remote = after('remote')
  if (remote !== undefined) vx.remote = remote
  return vx
}

function fromJson(o: Json, i: number): Link {
  const name = str(o, 'ifname')
  const mtu = num(o, 'mtu')
  if (name === undefined || mtu === undefined || !Number.isInteger(mtu) || mtu < 0) {
    throw new ParseError(
      `\`ip -j link\`: element ${i + 1} has no ${name === undefined ? '"ifname"' : 'valid "mtu"'} (is this the output of another command?)`,
      undefined,
      TOOL.hint,
    )
  }
  const flags = strs(o, 'flags')
  const link: Link = {name, mtu, flags, up: flags.includes('UP'), raw: renderLinkHeader(o)}
  const idx = num(o, 'ifindex')
  if (idx !== undefined) link.index = idx
  const parent = linkParentFromJson(o)
  if (parent !== undefined) link.parent = parent
  const mac = str(o, 'address')
  if (mac !== undefined && isMac(mac)) link.mac = mac.toLowerCase()
  const op = str(o, 'operstate')
  if (op !== undefined) link.operstate = op
  const master = str(o, 'master')
  if (master !== undefined) link.master = master
  const info = obj(o, 'linkinfo')
  const kind = info ? str(info, 'info_kind') : undefined
  if (kind !== undefined && info) {
    link.kind = kind
    const data = obj(info, 'info_data')
    if (kind === 'vxlan' && data) {
      const vx = vxlanFromJson(data)
      if (vx) link.vxlan = vx
    }
    link.detailRaw = link.vxlan ? renderVxlan(link.vxlan, data) : kind
  }
  return link
}

function vxlanFromJson(d: Json): VxlanInfo | undefined {
  const id = num(d, 'id')
  if (id === undefined) return undefined
  const vx: VxlanInfo = {id, learning: d['learning'] !== false, gbp: has(d, 'gbp') && d['gbp'] !== false}
  const local = str(d, 'local') ?? str(d, 'local6')
  if (local !== undefined) vx.local = local
  const dev = str(d, 'link')
  if (dev !== undefined) vx.dev = dev
  const port = num(d, 'port')
  if (port !== undefined) vx.dstport = port
  const group = str(d, 'group') ?? str(d, 'group6')
  if (group !== undefined) vx.group = group
  const remote = str(d, 'remote') ?? str(d, 'remote6')
  if (remote !== undefined) vx.remote = remote
  return vx
}

/** The leading part of the `-d` vxlan line, in iproute2's order, so evidence reads the same as text. */
function renderVxlan(vx: VxlanInfo, d: Json | undefined): string {
  let s = `vxlan id ${vx.id}`
  if (vx.group !== undefined) s += ` group ${vx.group}`
  if (vx.remote !== undefined) s += ` remote ${vx.remote}`
  if (vx.local !== undefined) s += ` local ${vx.local}`
  if (vx.dev !== undefined) s += ` dev ${vx.dev}`
  const range = d ? obj(d, 'port_range') : undefined
  const lo = range ? num(range, 'low') : undefined
  const hi = range ? num(range, 'high') : undefined
  if (lo !== undefined && hi !== undefined) s += ` srcport ${lo} ${hi}`
  if (vx.dstport !== undefined) s += ` dstport ${vx.dstport}`
  if (!vx.learning) s += ' nolearning'
  if (vx.gbp) s += ' gbp'
  return s
}
