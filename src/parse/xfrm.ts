/**
 * `ip xfrm state` and `ip xfrm policy` (iproute2 text, with or without `-s`).
 *
 * Both print blocks: an unindented `src A dst B` header followed by indented detail lines. flannel's ipsec
 * backend installs, per peer, an `out`, an `in` and a `fwd` policy with a tunnel template `proto esp reqid 11
 * mode tunnel` (flannel-facts §6.1); charon negotiates the SAs (states) bound to them by reqid 11. The kernel
 * adds per-socket bypass policies (`socket in priority 0`) that belong to no tunnel.
 *
 * Forms accepted: plain and `-s` (`spi 0xc1000001(3238002689)`, `reqid 11(0x0000000b)`, `(160 bits)`),
 * tabs or spaces as indentation (pasted captures often have spaces), trailing spaces, and captures whose keys
 * were replaced by `redactXfrmKeys` (`sha256:<hex>`).
 */
import {createHash} from 'node:crypto'

import type {XfrmPolicy, XfrmState} from '../model.js'
import {ParseError} from './errors.js'

interface Block {
  line: number
  header: string
  body: {line: number; text: string; raw: string}[]
}

const HEADER = /^src\s+(\S+)\s+dst\s+(\S+)(?:\s|$)/
const ALGO = /^(enc|auth|auth-trunc|aead|comp)\s/

function blocks(raw: string, what: string): Block[] {
  const out: Block[] = []
  const lines = raw.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i] as string
    if (l.trim() === '') continue
    if (/^\s/.test(l)) {
      const cur = out[out.length - 1]
      if (!cur) {
        throw new ParseError(
          `indented line before any "src ... dst ..." header: ${JSON.stringify(l.trim().slice(0, 60))}`,
          i + 1,
          `capture it with \`ip ${what}\``,
        )
      }
      cur.body.push({line: i + 1, text: l.trim(), raw: l.trimEnd()})
      continue
    }
    if (!HEADER.test(l)) {
      throw new ParseError(
        `expected a "src ADDR dst ADDR" header, got ${JSON.stringify(l.slice(0, 60))}`,
        i + 1,
        /permission|not permitted|RTNETLINK|Error:/i.test(l)
          ? `\`ip ${what}\` needs root (CAP_NET_ADMIN); run it as root`
          : `capture it with \`ip ${what}\``,
      )
    }
    out.push({line: i + 1, header: l.trimEnd(), body: []})
  }
  return out
}

/** The number at the start of a token like `11`, `11(0x0000000b)`, `0x0000000b`. */
function leadingInt(tok: string | undefined): number | undefined {
  if (tok === undefined) return undefined
  const m = /^(0x[0-9a-fA-F]+|\d+)/.exec(tok)
  if (!m) return undefined
  const n = Number(m[1])
  return Number.isSafeInteger(n) ? n : undefined
}

/** `key value` pairs of a whitespace-separated line (`proto esp spi 0x.. reqid 11 mode tunnel`). */
function pairs(text: string): Map<string, string> {
  const t = text.split(/\s+/)
  const m = new Map<string, string>()
  for (let i = 0; i + 1 < t.length; i += 2) {
    const k = t[i] as string
    if (!m.has(k)) m.set(k, t[i + 1] as string)
  }
  return m
}

/** The block as captured (trailing blanks removed), lines joined with `\n`. */
function rawOf(b: Block): string {
  return [b.header, ...b.body.map((x) => x.raw)].join('\n')
}

export function parseXfrmState(raw: string): XfrmState[] {
  return blocks(raw, 'xfrm state').map((b) => {
    const h = HEADER.exec(b.header) as RegExpExecArray
    const st: XfrmState = {
      src: h[1] as string,
      dst: h[2] as string,
      proto: '',
      spi: '',
      algorithms: [],
      line: b.line,
      raw: rawOf(b),
    }
    let sawProto = false
    for (const {text} of b.body) {
      if (!sawProto && text.startsWith('proto ')) {
        const p = pairs(text)
        st.proto = p.get('proto') ?? ''
        st.spi = (p.get('spi') ?? '').replace(/\(.*$/, '')
        const reqid = leadingInt(p.get('reqid'))
        if (reqid !== undefined) st.reqid = reqid
        const mode = p.get('mode')
        if (mode !== undefined) st.mode = mode
        sawProto = true
      } else if (ALGO.test(text)) {
        st.algorithms.push(text)
      } else if (text.startsWith('sel ')) {
        const p = pairs(text.slice(4))
        const src = p.get('src')
        const dst = p.get('dst')
        if (src !== undefined && dst !== undefined) st.sel = {src, dst}
      }
    }
    if (!sawProto) {
      throw new ParseError(
        `SA ${st.src} -> ${st.dst} has no "proto ... spi ..." line`,
        b.line,
        'capture the whole output of `ip xfrm state`',
      )
    }
    return st
  })
}

const DIRS = new Set(['in', 'out', 'fwd'])

export function parseXfrmPolicy(raw: string): XfrmPolicy[] {
  return blocks(raw, 'xfrm policy').map((b) => {
    const h = HEADER.exec(b.header) as RegExpExecArray
    let dir: string | undefined
    const pol: Omit<XfrmPolicy, 'dir'> & {dir?: XfrmPolicy['dir']} = {
      src: h[1] as string,
      dst: h[2] as string,
      tmpls: [],
      line: b.line,
      raw: rawOf(b),
    }
    for (const {line, text} of b.body) {
      const first = text.split(/\s+/)[0]
      if (first === 'dir' || first === 'socket') {
        const t = text.split(/\s+/)
        dir = t[1]
        if (dir === undefined || !DIRS.has(dir)) {
          throw new ParseError(`unknown policy direction ${JSON.stringify(dir ?? '')}`, line)
        }
        if (first === 'socket') pol.socket = true
        const p = pairs(t.slice(2).join(' '))
        const prio = leadingInt(p.get('priority'))
        if (prio !== undefined) pol.priority = prio
        const ptype = p.get('ptype')
        if (ptype !== undefined) pol.ptype = ptype
        const action = p.get('action')
        if (action !== undefined) pol.action = action
      } else if (first === 'tmpl') {
        const p = pairs(text.slice(5))
        pol.tmpls.push({src: p.get('src') ?? '', dst: p.get('dst') ?? '', proto: ''})
      } else if (first === 'proto') {
        const tm = pol.tmpls[pol.tmpls.length - 1]
        if (!tm) continue // a selector detail of the policy itself, not of a template
        const p = pairs(text)
        tm.proto = p.get('proto') ?? ''
        const reqid = leadingInt(p.get('reqid'))
        if (reqid !== undefined) tm.reqid = reqid
        const mode = p.get('mode')
        if (mode !== undefined) tm.mode = mode
      }
    }
    if (dir === undefined) {
      throw new ParseError(
        `policy ${pol.src} -> ${pol.dst} has no "dir ..." line`,
        b.line,
        'capture the whole output of `ip xfrm policy`',
      )
    }
    return {...pol, dir: dir as XfrmPolicy['dir']}
  })
}

/**
 * Replace every key in `ip xfrm state` output (the `0x...` after enc/auth/auth-trunc/aead/comp) with
 * `sha256:<hex>`, the SHA-256 of the key's hex digits in lower case (without `0x`). Two nodes' keys can still
 * be compared; the key itself never reaches a bundle. Everything else is left byte for byte.
 */
export function redactXfrmKeys(raw: string): string {
  return raw.replace(
    /^([ \t]*(?:enc|auth|auth-trunc|aead|comp)[ \t]+\S+[ \t]+)0x([0-9a-fA-F]+)/gm,
    (_m, lead: string, hex: string) =>
      `${lead}sha256:${createHash('sha256').update(hex.toLowerCase()).digest('hex')}`,
  )
}
