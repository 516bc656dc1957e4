/**
 * net-conf.json: strict JSON parsing with precise errors, then decoding the way flannel's Go
 * `encoding/json` does it (exact key first, then case-insensitive; unknown keys ignored; last duplicate
 * wins). See flannel-facts §1 and §2.2.
 *
 * Syntax is judged by a port of Go's `encoding/json` scanner (scanner.go), state for state, so the
 * message flannel logs (`error parsing subnet config: invalid character '#' after object key:value pair`)
 * is reproduced exactly, including which phrase applies where. Go scans bytes; this scans code points,
 * which only differs for non-ASCII characters, where Go names the first UTF-8 byte (`“` → `'â'`).
 */
import {formatCidr, formatIP, parseCidr, parseIP} from '../lib/ip.js'

export type SyntaxCause =
  | 'hash-comment'
  | 'slash-comment'
  | 'trailing-comma'
  | 'single-quotes'
  | 'unquoted-key'
  | 'smart-quotes'
  | 'empty'
  | 'missing-comma'
  | 'unquoted-value'
  | 'other'

export interface NetConfSyntaxError {
  /** 1-based, in the file the user edits (for a ConfigMap: the YAML file's line). */
  line: number
  /** 1-based column (in characters) of the offending character. */
  column: number
  cause: SyntaxCause
  /** Our sentence, naming the cause (`a '#' comment: JSON has no comments`). */
  message: string
  /** What flannel itself logs, e.g. `error parsing subnet config: invalid character '#' looking for beginning of object key string`. */
  flannelMessage: string
  /** The offending line as written. */
  lineText: string
  /** Spaces and a `^` under the offending column. */
  caret: string
  /** Go's own error text, without flannel's prefix. */
  goMessage?: string
  /** The corrected line (may be another line than `line`, e.g. the one holding a trailing comma); `text` is
   * undefined when the line should be deleted. Absent when there is no mechanical fix. */
  fix?: {line: number; before: string; text?: string}
}

/** A key as written, and what flannel makes of it. */
export interface NetConfKey {
  /** Dotted path with the canonical names of the parents, e.g. `Backend.Directrouting`. */
  path: string
  given: string
  /** The field flannel maps it to; absent for unknown keys. */
  canonical?: string
  /** True when `given` equals `canonical` exactly. */
  exact: boolean
  line: number
  column: number
  /** The value's JSON text as written (cut at 200 characters). */
  valueRaw?: string
}

export interface NetConfProblem {
  path: string
  line: number
  column: number
  /** Our sentence. */
  message: string
  /** What flannel would log for this, when it would refuse to start. */
  flannelMessage?: string
  /** For unknown keys: the closest real key. */
  suggestion?: string
  /** The problem only matters on nodes of this OS (Windows-only or Linux-only backend options). */
  platform?: 'windows' | 'linux'
}

/** The config as flannel decodes it. Only fields that were present (or have a flannel default) are set. */
export interface NetConf {
  Network?: string
  IPv6Network?: string
  EnableIPv4: boolean
  EnableIPv6: boolean
  EnableNFTables: boolean
  SubnetLen?: number
  SubnetMin?: string
  SubnetMax?: string
  IPv6SubnetLen?: number
  IPv6SubnetMin?: string
  IPv6SubnetMax?: string
  /** False when `Backend` is absent: flannel then uses `udp`. */
  backendPresent: boolean
  /** Lower-cased `Backend.Type`; `udp` when Backend is absent; `""` when Backend has no Type. */
  backendType: string
  /** `Backend.Type` exactly as written, when given. */
  backendTypeGiven?: string
  /** Backend options under their canonical names for the backend type (e.g. `DirectRouting`, `VNI`, `Port`). */
  backend: Record<string, unknown>
  /** Every key found, with how it matched. */
  keys: NetConfKey[]
  /** Keys flannel ignores, with a suggestion. */
  unknownKeys: NetConfProblem[]
  /** Wrong JSON types and invalid values that make flannel refuse the config. */
  typeErrors: NetConfProblem[]
  /** Keys given twice (last wins). */
  duplicates: NetConfProblem[]
  /** The one error flannel itself would log first (Go stops at the first), e.g.
   * `error parsing subnet config: invalid CIDR address: 10.244.0.0` or
   * `Error registering network: error decoding VXLAN backend config: json: cannot unmarshal ...`. */
  flannelError?: string
}

export interface NetConfFact {
  /** Where it was read: a file path, a bundle path, or `ConfigMap kube-flannel-cfg (FILE)`. */
  source: string
  text: string
  /** Lines to add to a line number in `text` to get the line in the source file (for ConfigMaps). */
  lineOffset: number
  /** Columns to add (the YAML block indentation). */
  columnOffset: number
  result: {ok: true; conf: NetConf} | {ok: false; error: NetConfSyntaxError}
  /** The file the line/column numbers refer to. */
  file?: string
  /** The ConfigMap the text came from. */
  configMap?: {name: string; namespace?: string}
  /** The flannel DaemonSets of the same manifest (one per architecture up to flannel v0.12). */
  daemonSets?: string[]
  /** Subnet manager flannel runs with, when the evidence tells (the manifest's `--kube-subnet-mgr`, the
   * kube-mode config path). */
  mode?: 'kube' | 'etcd'
  /** True when the value was a quoted YAML/JSON string: line/column then count inside the value. */
  positionsInValue?: boolean
}

export interface ParseNetConfOptions {
  lineOffset?: number
  columnOffset?: number
}

// ---------------------------------------------------------------------------------------------------
// JSON syntax: Go's scanner

const OBJ_KEY = 0
const OBJ_VALUE = 1
const ARR_VALUE = 2
const MAX_DEPTH = 10000

const enum S {
  BeginValueOrEmpty,
  BeginValue,
  BeginStringOrEmpty,
  BeginString,
  EndValue,
  EndTop,
  InString,
  InStringEsc,
  EscU,
  EscU1,
  EscU12,
  EscU123,
  Neg,
  One,
  Zero,
  Dot,
  Dot0,
  E,
  ESign,
  E0,
  T,
  Tr,
  Tru,
  F,
  Fa,
  Fal,
  Fals,
  N,
  Nu,
  Nul,
  Error,
}

interface Scanner {
  state: S
  stack: number[]
  endTop: boolean
  err?: {context: string; c: number}
}

const isSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39
const isHex = (c: number): boolean => isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46)

function fail(s: Scanner, c: number, context: string): false {
  s.state = S.Error
  s.err = {context, c}
  return false
}

function push(s: Scanner, c: number, ps: number): boolean {
  s.stack.push(ps)
  return s.stack.length <= MAX_DEPTH ? true : fail(s, c, 'exceeded max depth')
}

function pop(s: Scanner): void {
  s.stack.pop()
  if (s.stack.length === 0) {
    s.state = S.EndTop
    s.endTop = true
  } else s.state = S.EndValue
}

/** One step of Go's scanner; false on a syntax error (recorded in `s.err`). */
function step(s: Scanner, c: number): boolean {
  for (;;) {
    switch (s.state) {
      case S.BeginValueOrEmpty:
        if (isSpace(c)) return true
        if (c === 0x5d) {
          s.state = S.EndValue
          continue
        }
        s.state = S.BeginValue
        continue
      case S.BeginValue:
        if (isSpace(c)) return true
        switch (c) {
          case 0x7b:
            s.state = S.BeginStringOrEmpty
            return push(s, c, OBJ_KEY)
          case 0x5b:
            s.state = S.BeginValueOrEmpty
            return push(s, c, ARR_VALUE)
          case 0x22:
            s.state = S.InString
            return true
          case 0x2d:
            s.state = S.Neg
            return true
          case 0x30:
            s.state = S.Zero
            return true
          case 0x74:
            s.state = S.T
            return true
          case 0x66:
            s.state = S.F
            return true
          case 0x6e:
            s.state = S.N
            return true
        }
        if (c >= 0x31 && c <= 0x39) {
          s.state = S.One
          return true
        }
        return fail(s, c, 'looking for beginning of value')
      case S.BeginStringOrEmpty:
        if (isSpace(c)) return true
        if (c === 0x7d) {
          s.stack[s.stack.length - 1] = OBJ_VALUE
          s.state = S.EndValue
          continue
        }
        s.state = S.BeginString
        continue
      case S.BeginString:
        if (isSpace(c)) return true
        if (c === 0x22) {
          s.state = S.InString
          return true
        }
        return fail(s, c, 'looking for beginning of object key string')
      case S.EndValue: {
        const n = s.stack.length
        if (n === 0) {
          s.state = S.EndTop
          s.endTop = true
          continue
        }
        if (isSpace(c)) return true
        const ps = s.stack[n - 1]
        if (ps === OBJ_KEY) {
          if (c === 0x3a) {
            s.stack[n - 1] = OBJ_VALUE
            s.state = S.BeginValue
            return true
          }
          return fail(s, c, 'after object key')
        }
        if (ps === OBJ_VALUE) {
          if (c === 0x2c) {
            s.stack[n - 1] = OBJ_KEY
            s.state = S.BeginString
            return true
          }
          if (c === 0x7d) {
            pop(s)
            return true
          }
          return fail(s, c, 'after object key:value pair')
        }
        if (c === 0x2c) {
          s.state = S.BeginValue
          return true
        }
        if (c === 0x5d) {
          pop(s)
          return true
        }
        return fail(s, c, 'after array element')
      }
      case S.EndTop:
        if (!isSpace(c)) return fail(s, c, 'after top-level value')
        return true
      case S.InString:
        if (c === 0x22) {
          s.state = S.EndValue
          return true
        }
        if (c === 0x5c) {
          s.state = S.InStringEsc
          return true
        }
        if (c < 0x20) return fail(s, c, 'in string literal')
        return true
      case S.InStringEsc:
        if ([0x62, 0x66, 0x6e, 0x72, 0x74, 0x5c, 0x2f, 0x22].includes(c)) {
          s.state = S.InString
          return true
        }
        if (c === 0x75) {
          s.state = S.EscU
          return true
        }
        return fail(s, c, 'in string escape code')
      case S.EscU:
      case S.EscU1:
      case S.EscU12:
      case S.EscU123:
        if (isHex(c)) {
          s.state = s.state === S.EscU123 ? S.InString : ((s.state + 1) as S)
          return true
        }
        return fail(s, c, 'in \\u hexadecimal character escape')
      case S.Neg:
        if (c === 0x30) {
          s.state = S.Zero
          return true
        }
        if (c >= 0x31 && c <= 0x39) {
          s.state = S.One
          return true
        }
        return fail(s, c, 'in numeric literal')
      case S.One:
        if (isDigit(c)) return true
        s.state = S.Zero
        continue
      case S.Zero:
        if (c === 0x2e) {
          s.state = S.Dot
          return true
        }
        if (c === 0x65 || c === 0x45) {
          s.state = S.E
          return true
        }
        s.state = S.EndValue
        continue
      case S.Dot:
        if (isDigit(c)) {
          s.state = S.Dot0
          return true
        }
        return fail(s, c, 'after decimal point in numeric literal')
      case S.Dot0:
        if (isDigit(c)) return true
        if (c === 0x65 || c === 0x45) {
          s.state = S.E
          return true
        }
        s.state = S.EndValue
        continue
      case S.E:
        if (c === 0x2b || c === 0x2d) {
          s.state = S.ESign
          return true
        }
        s.state = S.ESign
        continue
      case S.ESign:
        if (isDigit(c)) {
          s.state = S.E0
          return true
        }
        return fail(s, c, 'in exponent of numeric literal')
      case S.E0:
        if (isDigit(c)) return true
        s.state = S.EndValue
        continue
      case S.T:
        return lit(s, c, 0x72, S.Tr, "in literal true (expecting 'r')")
      case S.Tr:
        return lit(s, c, 0x75, S.Tru, "in literal true (expecting 'u')")
      case S.Tru:
        return lit(s, c, 0x65, S.EndValue, "in literal true (expecting 'e')")
      case S.F:
        return lit(s, c, 0x61, S.Fa, "in literal false (expecting 'a')")
      case S.Fa:
        return lit(s, c, 0x6c, S.Fal, "in literal false (expecting 'l')")
      case S.Fal:
        return lit(s, c, 0x73, S.Fals, "in literal false (expecting 's')")
      case S.Fals:
        return lit(s, c, 0x65, S.EndValue, "in literal false (expecting 'e')")
      case S.N:
        return lit(s, c, 0x75, S.Nu, "in literal null (expecting 'u')")
      case S.Nu:
        return lit(s, c, 0x6c, S.Nul, "in literal null (expecting 'l')")
      case S.Nul:
        return lit(s, c, 0x6c, S.EndValue, "in literal null (expecting 'l')")
      case S.Error:
        return false
    }
  }
}

function lit(s: Scanner, c: number, want: number, next: S, context: string): boolean {
  if (c !== want) return fail(s, c, context)
  s.state = next
  return true
}

/** The first byte of the code point's UTF-8 encoding: what Go's byte scanner sees. */
function firstUtf8Byte(cp: number): number {
  if (cp < 0x80) return cp
  if (cp < 0x800) return 0xc0 | (cp >> 6)
  if (cp < 0x10000) return 0xe0 | (cp >> 12)
  return 0xf0 | (cp >> 18)
}

/** Go's `quoteChar(c byte)`: `strconv.Quote(string(rune(c)))` in single quotes. */
export function goQuoteChar(b: number): string {
  if (b === 0x27) return `'\\''`
  if (b === 0x22) return `'"'`
  const esc: Record<number, string> = {
    7: '\\a',
    8: '\\b',
    12: '\\f',
    10: '\\n',
    13: '\\r',
    9: '\\t',
    11: '\\v',
    92: '\\\\',
  }
  const e = esc[b]
  if (e !== undefined) return `'${e}'`
  if (b < 0x20 || b === 0x7f) return `'\\x${b.toString(16).padStart(2, '0')}'`
  // U+0080..U+009F (C1 controls), U+00A0 (no-break space) and U+00AD (soft hyphen) are not printable for Go.
  if ((b >= 0x80 && b <= 0xa0) || b === 0xad) return `'\\u${b.toString(16).padStart(4, '0')}'`
  return `'${String.fromCodePoint(b)}'`
}

interface GoSyntax {
  /** Index (UTF-16 offset) of the offending character, or text.length for an early end. */
  index: number
  eof: boolean
  context: string
  /** Go's message without flannel's prefix. */
  goMessage: string
  stack: number[]
}

/** Go's `checkValid`: undefined when `text` is valid JSON for Go's decoder. */
function scanGo(text: string): GoSyntax | undefined {
  const s: Scanner = {state: S.BeginValue, stack: [], endTop: false}
  let i = 0
  while (i < text.length) {
    const cp = text.codePointAt(i) as number
    if (!step(s, cp)) {
      const err = s.err as {context: string; c: number}
      return {
        index: i,
        eof: false,
        context: err.context,
        goMessage: `invalid character ${goQuoteChar(firstUtf8Byte(cp))} ${err.context}`,
        stack: [...s.stack],
      }
    }
    i += cp > 0xffff ? 2 : 1
  }
  if (s.endTop) return undefined
  step(s, 0x20)
  if (s.endTop) return undefined
  return {
    index: text.length,
    eof: true,
    context: '',
    goMessage: 'unexpected end of JSON input',
    stack: [...s.stack],
  }
}

// ---------------------------------------------------------------------------------------------------
// JSON values with positions (built only from text Go's scanner accepted)

interface Base {
  /** UTF-16 offsets of the value's first character and one past its last. */
  start: number
  end: number
}
export type JsonNode =
  | (Base & {kind: 'object'; entries: JsonEntry[]})
  | (Base & {kind: 'array'; items: JsonNode[]})
  | (Base & {kind: 'string'; value: string})
  | (Base & {kind: 'number'; raw: string; value: number})
  | (Base & {kind: 'bool'; value: boolean})
  | (Base & {kind: 'null'})

export interface JsonEntry {
  key: string
  keyStart: number
  value: JsonNode
}

function skipWs(text: string, i: number): number {
  while (i < text.length && isSpace(text.charCodeAt(i))) i++
  return i
}

function stringEnd(text: string, i: number): number {
  // i at the opening quote; returns the index after the closing quote.
  let j = i + 1
  while (j < text.length) {
    const c = text.charCodeAt(j)
    if (c === 0x5c) j += 2
    else if (c === 0x22) return j + 1
    else j++
  }
  return j
}

/** Build the value tree of text that `scanGo` accepted (iterative: nesting depth is not bounded by the stack). */
function buildTree(text: string): JsonNode {
  type Open = {node: JsonNode & {kind: 'object' | 'array'}; key?: {key: string; keyStart: number}}
  const stack: Open[] = []
  let root: JsonNode | undefined
  let i = skipWs(text, 0)
  const attach = (v: JsonNode): void => {
    const top = stack[stack.length - 1]
    if (!top) root = v
    else if (top.node.kind === 'array') top.node.items.push(v)
    else {
      const k = top.key as {key: string; keyStart: number}
      top.node.entries.push({key: k.key, keyStart: k.keyStart, value: v})
      delete top.key
    }
  }
  while (i < text.length) {
    const c = text.charCodeAt(i)
    const top = stack[stack.length - 1]
    if (c === 0x7b || c === 0x5b) {
      const node: Open['node'] =
        c === 0x7b
          ? {kind: 'object', entries: [], start: i, end: i}
          : {kind: 'array', items: [], start: i, end: i}
      stack.push({node})
      i++
    } else if (c === 0x7d || c === 0x5d) {
      const done = stack.pop() as Open
      done.node.end = i + 1
      attach(done.node)
      i++
    } else if (c === 0x2c || c === 0x3a || isSpace(c)) {
      i++
    } else if (c === 0x22) {
      const end = stringEnd(text, i)
      const value = JSON.parse(text.slice(i, end)) as string
      if (top && top.node.kind === 'object' && top.key === undefined) top.key = {key: value, keyStart: i}
      else attach({kind: 'string', value, start: i, end})
      i = end
    } else {
      let j = i
      while (j < text.length && !/[\s,\]}:]/.test(text[j] as string)) j++
      const raw = text.slice(i, j)
      if (raw === 'true' || raw === 'false') attach({kind: 'bool', value: raw === 'true', start: i, end: j})
      else if (raw === 'null') attach({kind: 'null', start: i, end: j})
      else attach({kind: 'number', raw, value: Number(raw), start: i, end: j})
      i = j
    }
    if (stack.length === 0 && root !== undefined) break
  }
  return root as JsonNode
}

// ---------------------------------------------------------------------------------------------------
// Positions

/** Line/column lookup over a text (also used by netconf-source.ts for positions in the YAML file). */
export class Positions {
  private readonly starts: number[] = [0]
  constructor(
    private readonly text: string,
    private readonly lineOffset: number,
    private readonly columnOffset: number,
  ) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 0x0a) this.starts.push(i + 1)
  }
  /** Number of lines in `text` (a trailing newline starts an empty last line). */
  get lineCount(): number {
    return this.starts.length
  }
  /** 0-based line index in `text` of an offset. */
  lineIndex(offset: number): number {
    let lo = 0
    let hi = this.starts.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if ((this.starts[mid] as number) <= offset) lo = mid
      else hi = mid - 1
    }
    return lo
  }
  /** Line and column (1-based, in the source file) of an offset. */
  at(offset: number): {line: number; column: number} {
    const li = this.lineIndex(offset)
    const start = this.starts[li] as number
    const col = Array.from(this.text.slice(start, offset)).length + 1
    return {line: li + 1 + this.lineOffset, column: col + this.columnOffset}
  }
  /** The line holding `offset` without its newline (and a trailing CR). */
  lineOf(offset: number): string {
    return this.lineText(this.lineIndex(offset))
  }
  lineText(li: number): string {
    const start = this.starts[li] as number
    const next = this.starts[li + 1]
    let s = this.text.slice(start, next === undefined ? this.text.length : next - 1)
    if (s.endsWith('\r')) s = s.slice(0, -1)
    return s
  }
  /** As written in the source file (a YAML block's indentation put back). */
  display(s: string): string {
    return ' '.repeat(this.columnOffset) + s
  }
}

function caretFor(lineText: string, column: number): string {
  const before = Array.from(lineText).slice(0, Math.max(0, column - 1))
  return before.map((ch) => (ch === '\t' ? '\t' : ' ')).join('') + '^'
}

// ---------------------------------------------------------------------------------------------------
// Syntax error: cause, our sentence, the corrected line

const SMART = /[\u201c\u201d\u2018\u2019\u201e\u201f\u00ab\u00bb]/
const SMART_G = /[\u201c\u201d\u2018\u2019\u201e\u201f\u00ab\u00bb]/g

function prevNonWs(text: string, i: number): number {
  let j = i - 1
  while (j >= 0 && isSpace(text.charCodeAt(j))) j--
  return j
}

function describeSyntax(text: string, g: GoSyntax, pos: Positions): NetConfSyntaxError {
  let index = g.index
  let cause: SyntaxCause = 'other'
  let message: string
  let fix: {index: number; apply: (line: string, col: number) => string | undefined} | undefined
  const ch = text.codePointAt(index)
  const next = text[index + 1]
  const smartAt = g.eof ? undefined : smartQuoteCause(text, index, g.context)

  if (g.eof && text.trim() === '') {
    cause = 'empty'
    index = 0
    message =
      'the file is empty: flannel needs a JSON object such as {"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}'
  } else if (g.eof) {
    const open = g.stack.filter((p) => p !== ARR_VALUE).length
    const arrays = g.stack.length - open
    const parts: string[] = []
    if (open > 0) parts.push(`${open} '{' not closed`)
    if (arrays > 0) parts.push(`${arrays} '[' not closed`)
    message = `the JSON ends early${parts.length > 0 ? ` (${parts.join(', ')})` : ''}: the end of the file comes before the value is complete`
    index = prevNonWs(text, text.length) + 1
  } else if (ch === 0x23) {
    cause = 'hash-comment'
    message = "a '#' comment: JSON has no comments, so flannel cannot read the file"
    fix = {index, apply: (line, col) => stripComment(line, col)}
  } else if (ch === 0x2f && (next === '/' || next === '*')) {
    cause = 'slash-comment'
    message = `a '${next === '/' ? '//' : '/* */'}' comment: JSON has no comments, so flannel cannot read the file`
    fix = {
      index,
      apply: (line, col) => {
        if (next === '*') {
          const close = line.indexOf('*/', col + 1)
          if (close !== -1) return (line.slice(0, col) + line.slice(close + 2)).trimEnd()
        }
        return stripComment(line, col)
      },
    }
  } else if ((ch === 0x7d || ch === 0x5d) && text.charCodeAt(prevNonWs(text, index)) === 0x2c) {
    cause = 'trailing-comma'
    index = prevNonWs(text, index)
    message = `a trailing comma before '${String.fromCharCode(ch)}': JSON allows no comma after the last entry`
    fix = {index, apply: (line, col) => line.slice(0, col) + line.slice(col + 1)}
  } else if (smartAt !== undefined) {
    cause = 'smart-quotes'
    index = smartAt
    const q = text[index] ?? '“'
    message = `a typographic quote '${q}': JSON needs plain double quotes '"' (an editor or chat tool replaced them)`
    fix = {index, apply: (line) => line.replace(SMART_G, '"')}
  } else if (ch === 0x27) {
    cause = 'single-quotes'
    message = "single quotes: JSON strings and keys need double quotes '\"'"
    fix = {index, apply: (line) => line.replace(/'/g, '"')}
  } else if (
    g.context === 'looking for beginning of object key string' &&
    ch !== undefined &&
    /[A-Za-z_$]/.test(String.fromCodePoint(ch))
  ) {
    cause = 'unquoted-key'
    const word = /^[A-Za-z_$][\w$.-]*/.exec(text.slice(index))?.[0] ?? ''
    message = `an unquoted key '${word}': JSON keys need double quotes ("${word}")`
    fix = {index, apply: (line, col) => line.slice(0, col) + `"${word}"` + line.slice(col + word.length)}
  } else if (g.context === 'after object key:value pair' && ch === 0x22) {
    cause = 'missing-comma'
    const prev = prevNonWs(text, index)
    message = "a missing comma: the entry before this one does not end with ','"
    fix = {index: prev, apply: (line, col) => line.slice(0, col + 1) + ',' + line.slice(col + 1)}
  } else if (
    g.context === 'looking for beginning of value' &&
    ch !== undefined &&
    /[A-Za-z]/.test(String.fromCodePoint(ch))
  ) {
    cause = 'unquoted-value'
    const word = /^[A-Za-z_][\w.-]*/.exec(text.slice(index))?.[0] ?? ''
    const lower = word.toLowerCase()
    if (lower === 'true' || lower === 'false' || lower === 'null') {
      message = `'${word}' is not JSON: booleans and null are lower-case (${lower})`
      fix = {index, apply: (line, col) => line.slice(0, col) + lower + line.slice(col + word.length)}
    } else {
      message = `an unquoted value '${word}': JSON strings need double quotes ("${word}")`
      fix = {index, apply: (line, col) => line.slice(0, col) + `"${word}"` + line.slice(col + word.length)}
    }
  } else if (ch === 0xfeff) {
    message = 'a byte-order mark (BOM) before the JSON: save the file as UTF-8 without BOM'
    fix = {index, apply: (line, col) => line.slice(0, col) + line.slice(col + 1)}
  } else if (g.context === 'in string literal') {
    message =
      ch === 0x0a || ch === 0x0d
        ? "a string is not closed before the end of the line (a missing '\"')"
        : 'a control character (such as a tab) inside a string: write it as an escape (\\t)'
  } else if (g.context === 'after top-level value') {
    message = 'text after the end of the JSON object (a second object, or a stray character)'
  } else if (g.context === 'after object key') {
    message = "a key not followed by ':'"
  } else {
    message = `invalid JSON: ${g.goMessage}`
  }

  const at = pos.at(index)
  const li = index < text.length ? pos.lineIndex(index) : pos.lineIndex(Math.max(0, text.length - 1))
  const lineText = pos.display(pos.lineText(li))
  const out: NetConfSyntaxError = {
    line: at.line,
    column: at.column,
    cause,
    message,
    flannelMessage: `error parsing subnet config: ${g.goMessage}`,
    lineText,
    caret: caretFor(lineText, at.column),
    goMessage: g.goMessage,
  }
  if (fix) {
    const fli = pos.lineIndex(fix.index)
    const line = pos.lineText(fli)
    const col0 = fix.index - lineColumn0Start(text, fix.index)
    const fixed = fix.apply(line, col0)
    const before = pos.display(line)
    if (fixed !== undefined && fixed !== line) {
      const f: NonNullable<NetConfSyntaxError['fix']> = {line: pos.at(fix.index).line, before}
      if (fixed.trim() !== '') f.text = pos.display(fixed)
      out.fix = f
    }
  }
  return out
}

/**
 * The typographic quote that caused a syntax error at `index`, if any: one outside strings on the error's
 * line (up to the error), or one inside the string just before the error that was meant to close it (it is
 * followed by `:`, `,`, `}` or `]`, or the line ends inside the string).
 */
function smartQuoteCause(text: string, index: number, context: string): number | undefined {
  const start = lineColumn0Start(text, index)
  let strStart = -1
  let lastClosed: {start: number; end: number} | undefined
  for (let i = start; i <= index && i < text.length; i++) {
    const ch = text[i] as string
    if (strStart !== -1) {
      if (ch === '\\') i++
      else if (ch === '"') {
        lastClosed = {start: strStart, end: i}
        strStart = -1
      }
      continue
    }
    if (ch === '"') strStart = i
    else if (SMART.test(ch)) return i
  }
  const closing = (from: number, to: number, atEnd: boolean): number | undefined => {
    for (let i = from; i < to; i++) {
      if (!SMART.test(text[i] as string)) continue
      const rest = text.slice(i + 1, to).trimStart()
      if (/^[:,}\]]/.test(rest) || (atEnd && rest === '')) return i
    }
    return undefined
  }
  if (context === 'in string literal' && strStart !== -1) return closing(strStart + 1, index, true)
  if (lastClosed && prevNonWs(text, index) === lastClosed.end)
    return closing(lastClosed.start + 1, lastClosed.end, false)
  return undefined
}

function lineColumn0Start(text: string, index: number): number {
  const nl = text.lastIndexOf('\n', index - 1)
  return nl + 1
}

function stripComment(line: string, col: number): string {
  return line.slice(0, col).trimEnd()
}

// ---------------------------------------------------------------------------------------------------
// Decoding like flannel's structs

type Kind = 'bool' | 'uint' | 'int' | 'string' | 'ip4net' | 'ip6net' | 'ip4' | 'ip6ptr' | 'raw'

interface Field {
  /** Documented name (what the docs and manifests write). */
  name: string
  kind: Kind
  /** Go's type as printed in `cannot unmarshal ... of type X`. */
  goType: string
  /** Name Go prints in the struct-field path (the struct tag when there is one). */
  goName?: string
  platform?: 'windows' | 'linux'
}

const f = (name: string, kind: Kind, goType: string, extra: Partial<Field> = {}): Field => ({
  name,
  kind,
  goType,
  ...extra,
})

/** flannel's `subnet.Config` (pkg/subnet/config.go); `BackendType` is `json:"-"` and not a key. */
const CONFIG_FIELDS: readonly Field[] = [
  f('EnableIPv4', 'bool', 'bool'),
  f('EnableIPv6', 'bool', 'bool'),
  f('EnableNFTables', 'bool', 'bool'),
  f('Network', 'ip4net', 'ip.IP4Net'),
  f('IPv6Network', 'ip6net', 'ip.IP6Net'),
  f('SubnetMin', 'ip4', 'ip.IP4'),
  f('SubnetMax', 'ip4', 'ip.IP4'),
  f('IPv6SubnetMin', 'ip6ptr', '*ip.IP6'),
  f('IPv6SubnetMax', 'ip6ptr', '*ip.IP6'),
  f('SubnetLen', 'uint', 'uint'),
  f('IPv6SubnetLen', 'uint', 'uint'),
  f('Backend', 'raw', 'json.RawMessage'),
]

/** The top-level keys flannel reads. */
export const CONFIG_KEYS: readonly string[] = CONFIG_FIELDS.map((x) => x.name)

interface BackendSpec {
  fields: readonly Field[]
  /** flannel's wrapper for decode errors (flannel-facts §2.2). */
  prefix: string
}

/** Registered backends and their option structs (flannel-facts §2.1, §2.2). */
export const BACKENDS: Readonly<Record<string, BackendSpec>> = {
  vxlan: {
    prefix: 'error decoding VXLAN backend config: ',
    fields: [
      f('VNI', 'int', 'int', {goName: 'vni'}),
      f('Port', 'int', 'int', {goName: 'port'}),
      f('MTU', 'int', 'int', {goName: 'mtu', platform: 'linux'}),
      f('GBP', 'bool', 'bool', {goName: 'gbp'}),
      f('Learning', 'bool', 'bool', {goName: 'learning', platform: 'linux'}),
      f('DirectRouting', 'bool', 'bool', {goName: 'directRouting'}),
      f('Name', 'string', 'string', {platform: 'windows'}),
      f('MacPrefix', 'string', 'string', {platform: 'windows'}),
    ],
  },
  'host-gw': {
    prefix: 'error decoding windows host-gw backend config: ',
    fields: [
      f('Name', 'string', 'string', {platform: 'windows'}),
      f('DNSServerList', 'string', 'string', {platform: 'windows'}),
    ],
  },
  wireguard: {
    prefix: 'error decoding backend config: ',
    fields: [
      f('ListenPort', 'int', 'int'),
      f('ListenPortV6', 'int', 'int'),
      f('MTU', 'int', 'int'),
      f('PSK', 'string', 'string'),
      f('PersistentKeepaliveInterval', 'int', 'time.Duration'),
      f('Mode', 'string', 'wireguard.Mode'),
    ],
  },
  udp: {prefix: 'error decoding UDP backend config: ', fields: [f('Port', 'int', 'int')]},
  ipip: {prefix: 'error decoding IPIP backend config: ', fields: [f('DirectRouting', 'bool', 'bool')]},
  ipsec: {
    prefix: 'error decoding IPSEC backend config: ',
    fields: [
      f('UDPEncap', 'bool', 'bool'),
      f('ESPProposal', 'string', 'string'),
      f('PSK', 'string', 'string'),
    ],
  },
  alloc: {prefix: 'error decoding backend config: ', fields: []},
  extension: {
    prefix: 'error decoding backend config: ',
    fields: [
      f('PreStartupCommand', 'string', 'string'),
      f('PostStartupCommand', 'string', 'string'),
      f('SubnetAddCommand', 'string', 'string'),
      f('SubnetRemoveCommand', 'string', 'string'),
    ],
  },
  'tencent-vpc': {
    prefix: 'error decoding VPC backend config: ',
    fields: [f('AccessKeyID', 'string', 'string'), f('AccessKeySecret', 'string', 'string')],
  },
}

/** Backend types flannel removed (v0.20.0): `unknown backend type` now. */
export const REMOVED_BACKENDS: readonly string[] = ['aws-vpc', 'gce', 'ali-vpc']

const ALL_BACKEND_FIELDS: Field[] = (() => {
  const seen = new Map<string, Field>()
  for (const spec of Object.values(BACKENDS))
    for (const fl of spec.fields) if (!seen.has(fl.name)) seen.set(fl.name, fl)
  return [...seen.values()]
})()

/** Go's case folding for key matching (bytes.EqualFold semantics; Kelvin sign and long s fold to k and s). */
function fold(s: string): string {
  return s
    .toLowerCase()
    .replace(/\u017f/g, 's')
    .replace(/\u212a/g, 'k')
}

function resolve(fields: readonly Field[], key: string): Field | undefined {
  return (
    fields.find((x) => (x.goName ?? x.name) === key || x.name === key) ??
    fields.find((x) => fold(x.name) === fold(key))
  )
}

function goValueKind(n: JsonNode): string {
  switch (n.kind) {
    case 'object':
      return 'object'
    case 'array':
      return 'array'
    case 'string':
      return 'string'
    case 'number':
      return 'number'
    case 'bool':
      return 'bool'
    case 'null':
      return 'null'
  }
}

const UINT64_MAX = (1n << 64n) - 1n
const INT64_MAX = (1n << 63n) - 1n
const INT64_MIN = -(1n << 63n)

/** Go's net.ParseCIDR (no zones); undefined when Go would refuse. */
function goParseCidr(s: string): ReturnType<typeof parseCidr> {
  if (!s.includes('/') || s.includes('%')) return undefined
  const [, prefix] = s.split('/')
  if (prefix === undefined || !/^\d+$/.test(prefix)) return undefined
  return parseCidr(s)
}

function goParseIP(s: string): ReturnType<typeof parseIP> {
  if (s.includes('%')) return undefined
  return parseIP(s)
}

type Decoded =
  | {ok: true; value?: unknown}
  | {ok: false; kind: 'type'; goValue: string; ours: string}
  | {ok: false; kind: 'unmarshal'; goError: string; ours: string}

function describeNode(n: JsonNode, text: string): string {
  const raw = text.slice(n.start, n.end)
  const shown = raw.length > 60 ? `${raw.slice(0, 57)}...` : raw
  switch (n.kind) {
    case 'string':
      return `the string ${shown}`
    case 'number':
      return `the number ${shown}`
    case 'bool':
      return `the boolean ${shown}`
    case 'object':
      return 'an object'
    case 'array':
      return 'an array'
    case 'null':
      return 'null'
  }
}

const WANT: Record<Kind, string> = {
  bool: 'a JSON boolean (true or false, without quotes)',
  uint: 'a non-negative whole number (without quotes)',
  int: 'a whole number (without quotes)',
  string: 'a JSON string',
  ip4net: 'an IPv4 CIDR string such as "10.244.0.0/16"',
  ip6net: 'a CIDR string such as "2001:db8:42::/56"',
  ip4: 'an IPv4 address string such as "10.244.1.0"',
  ip6ptr: 'an IPv6 address string',
  raw: 'any JSON value',
}

function decodeValue(field: Field, n: JsonNode, text: string, path: string): Decoded {
  const typeErr = (goValue: string): Decoded => ({
    ok: false,
    kind: 'type',
    goValue,
    ours: `${path} is ${describeNode(n, text)}, but flannel reads it as ${WANT[field.kind]}`,
  })
  const raw = text.slice(n.start, n.end)
  const trimmed = raw.replace(/^"+|"+$/g, '')
  switch (field.kind) {
    case 'raw':
      return {ok: true, value: n}
    case 'bool':
      if (n.kind === 'null') return {ok: true}
      return n.kind === 'bool' ? {ok: true, value: n.value} : typeErr(goValueKind(n))
    case 'string':
      if (n.kind === 'null') return {ok: true}
      return n.kind === 'string' ? {ok: true, value: n.value} : typeErr(goValueKind(n))
    case 'uint':
    case 'int': {
      if (n.kind === 'null') return {ok: true}
      if (n.kind !== 'number') return typeErr(goValueKind(n))
      const okSyntax = field.kind === 'uint' ? /^\d+$/.test(n.raw) : /^-?\d+$/.test(n.raw)
      if (!okSyntax) return typeErr(`number ${n.raw}`)
      const big = BigInt(n.raw)
      if (field.kind === 'uint' ? big > UINT64_MAX : big > INT64_MAX || big < INT64_MIN)
        return typeErr(`number ${n.raw}`)
      return {ok: true, value: Number(big)}
    }
    case 'ip4net': {
      const c = goParseCidr(trimmed)
      if (!c)
        return {
          ok: false,
          kind: 'unmarshal',
          goError: `invalid CIDR address: ${trimmed}`,
          ours: `${path} ${raw} is not a CIDR (address/prefix length, e.g. "10.244.0.0/16")`,
        }
      if (c.family !== 4)
        return {
          ok: false,
          kind: 'unmarshal',
          goError: 'invalid IPv4 CIDR format',
          ours: `${path} ${raw} is IPv6: ${path} takes the IPv4 pod network; put an IPv6 network in IPv6Network with "EnableIPv6": true`,
        }
      return {ok: true, value: formatCidr(c)}
    }
    case 'ip6net': {
      const c = goParseCidr(trimmed)
      if (!c)
        return {
          ok: false,
          kind: 'unmarshal',
          goError: `invalid CIDR address: ${trimmed}`,
          ours: `${path} ${raw} is not a CIDR (address/prefix length, e.g. "2001:db8:42::/56")`,
        }
      return {ok: true, value: formatCidr(c)}
    }
    case 'ip4': {
      const ip = goParseIP(trimmed)
      if (!ip)
        return {
          ok: false,
          kind: 'unmarshal',
          goError: 'invalid IP address format',
          ours: `${path} ${raw} is not an IP address`,
        }
      if (ip.family !== 4) {
        // IPv4-mapped IPv6 (::ffff:a.b.c.d) is an IPv4 address for Go.
        if (ip.addr >> 32n === 0xffffn) return {ok: true, value: formatIP(4, ip.addr & 0xffffffffn)}
        return {
          ok: false,
          kind: 'unmarshal',
          goError: 'invalid IPv4 address format',
          ours: `${path} ${raw} is IPv6; it must be an IPv4 address`,
        }
      }
      return {ok: true, value: formatIP(4, ip.addr)}
    }
    case 'ip6ptr': {
      if (n.kind === 'null') return {ok: true}
      const ip = goParseIP(trimmed)
      if (!ip)
        return {
          ok: false,
          kind: 'unmarshal',
          goError: 'invalid IP address format',
          ours: `${path} ${raw} is not an IP address`,
        }
      return {ok: true, value: formatIP(ip.family, ip.addr)}
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Suggestions for unknown keys

function levenshtein(a: string, b: string): number {
  const prev = Array.from({length: b.length + 1}, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] as number
    prev[0] = i
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j] as number
      prev[j] = Math.min(
        (prev[j] as number) + 1,
        (prev[j - 1] as number) + 1,
        diag + (a[i - 1] === b[j - 1] ? 0 : 1),
      )
      diag = tmp
    }
  }
  return prev[b.length] as number
}

const norm = (s: string): string => fold(s).replace(/[\s_\-.]/g, '')

/** The closest real key: same letters ignoring case and `_`/`-`, a prefix, or a small edit distance. */
export function closestKey(given: string, candidates: readonly string[]): string | undefined {
  const g = norm(given)
  if (g === '') return undefined
  let best: {name: string; score: number} | undefined
  for (const name of candidates) {
    const c = norm(name)
    let score: number
    if (c === g) score = 0
    else if (c.length >= 3 && (g.startsWith(c) || c.startsWith(g)) && Math.min(c.length, g.length) >= 3)
      score = 1
    else {
      const d = levenshtein(g, c)
      const limit = Math.max(2, Math.floor(Math.max(c.length, g.length) / 3))
      if (d > limit) continue
      score = 1 + d
    }
    if (!best || score < best.score) best = {name, score}
  }
  return best?.name
}

// ---------------------------------------------------------------------------------------------------
// parseNetConf

function cut(s: string): string {
  return s.length > 200 ? `${s.slice(0, 197)}...` : s
}

/**
 * Parse net-conf.json exactly as flannel reads it. Never throws: invalid JSON gives `{ok: false, error}`
 * with line:column (shifted by `lineOffset`/`columnOffset` for text cut out of a YAML file), the cause
 * and flannel's own message; valid JSON gives the decoded config with every key, unknown key, duplicate
 * and type error flannel would act on.
 */
export function parseNetConf(
  text: string,
  opts: ParseNetConfOptions = {},
): {ok: true; conf: NetConf} | {ok: false; error: NetConfSyntaxError} {
  const pos = new Positions(text, opts.lineOffset ?? 0, opts.columnOffset ?? 0)
  const syntax = scanGo(text)
  if (syntax) return {ok: false, error: describeSyntax(text, syntax, pos)}
  return {ok: true, conf: decodeConfig(text, buildTree(text), pos)}
}

function decodeConfig(text: string, root: JsonNode, pos: Positions): NetConf {
  const conf: NetConf = {
    EnableIPv4: true,
    EnableIPv6: false,
    EnableNFTables: false,
    backendPresent: false,
    backendType: 'udp',
    backend: {},
    keys: [],
    unknownKeys: [],
    typeErrors: [],
    duplicates: [],
  }
  // Go: the first Unmarshaler error aborts; type errors are saved and the first one is returned.
  let abortError: string | undefined
  let savedError: string | undefined
  const note = (goErr: string, abort: boolean): void => {
    if (abortError !== undefined) return
    if (abort) abortError = goErr
    else savedError ??= goErr
  }

  if (root.kind !== 'object') {
    if (root.kind !== 'null') {
      const goErr = `json: cannot unmarshal ${goValueKind(root)} into Go value of type subnet.Config`
      const at = pos.at(root.start)
      conf.typeErrors.push({
        path: '(top level)',
        ...at,
        message: `net-conf.json must be a JSON object ({...}); it is ${describeNode(root, text)}`,
        flannelMessage: `error parsing subnet config: ${goErr}`,
      })
      conf.flannelError = `error parsing subnet config: ${goErr}`
    }
    return conf
  }

  const seen = new Map<string, {given: string; line: number}>()
  let backendNode: JsonNode | undefined
  for (const e of root.entries) {
    const at = pos.at(e.keyStart)
    const field = resolve(CONFIG_FIELDS, e.key)
    const key: NetConfKey = {
      path: e.key,
      given: e.key,
      exact: field?.name === e.key,
      ...at,
      valueRaw: cut(text.slice(e.value.start, e.value.end)),
    }
    if (field) key.canonical = field.name
    conf.keys.push(key)
    if (!field) {
      conf.unknownKeys.push(unknownTopLevel(e.key, at))
      continue
    }
    const prev = seen.get(field.name)
    if (prev)
      conf.duplicates.push({
        path: field.name,
        ...at,
        message: `${field.name} is given twice ("${prev.given}" on line ${prev.line}, "${e.key}" on line ${at.line}); flannel uses the last one`,
      })
    seen.set(field.name, {given: e.key, line: at.line})
    const d = decodeValue(field, e.value, text, field.name)
    if (!d.ok) {
      const goErr =
        d.kind === 'type'
          ? `json: cannot unmarshal ${d.goValue} into Go struct field Config.${field.name} of type ${field.goType}`
          : d.goError
      note(goErr, d.kind === 'unmarshal')
      conf.typeErrors.push({
        path: field.name,
        ...at,
        message: d.ours,
        flannelMessage: `error parsing subnet config: ${goErr}`,
      })
      continue
    }
    if (d.value === undefined) continue
    if (field.name === 'Backend') {
      backendNode = d.value as JsonNode
      conf.backendPresent = true
      continue
    }
    ;(conf as unknown as Record<string, unknown>)[field.name] = d.value
  }
  const configError = abortError ?? savedError
  if (configError !== undefined) conf.flannelError = `error parsing subnet config: ${configError}`

  if (backendNode) decodeBackend(conf, backendNode, text, pos)
  else conf.backendType = 'udp'
  return conf
}

const CNI_KEYS = ['name', 'cniVersion', 'plugins', 'delegate', 'ipam', 'capabilities']

function unknownTopLevel(given: string, at: {line: number; column: number}): NetConfProblem {
  const p: NetConfProblem = {path: given, ...at, message: ''}
  if (fold(given) === 'backendtype') {
    p.suggestion = 'Backend.Type'
    p.message = `BackendType is not a key flannel reads (the field is internal); write the type as "Backend": {"Type": "..."}`
    return p
  }
  if (CNI_KEYS.includes(given)) {
    p.message = `flannel ignores ${given}: it is a key of the CNI config (cni-conf.json), not of net-conf.json`
    return p
  }
  const backendKey = resolve(
    [...ALL_BACKEND_FIELDS.filter((x) => x.platform !== 'windows'), f('Type', 'string', 'string')],
    given,
  )
  if (backendKey) {
    p.suggestion = `Backend.${backendKey.name}`
    p.message = `${given} is a backend option; at the top level flannel ignores it. Move it into "Backend": {...}`
    return p
  }
  const s = closestKey(
    given,
    CONFIG_FIELDS.map((x) => x.name),
  )
  if (s) p.suggestion = s
  p.message = `flannel ignores the unknown key ${given}${s ? `; did you mean ${s}?` : ''}`
  return p
}

function decodeBackend(conf: NetConf, node: JsonNode, text: string, pos: Positions): void {
  // parseBackendType: json.Unmarshal(Backend, &struct{ Type string }{})
  let type = ''
  let typeError: string | undefined
  if (node.kind === 'object') {
    for (const e of node.entries) {
      if (fold(e.key) !== 'type') continue
      if (e.value.kind === 'string') {
        type = e.value.value
        conf.backendTypeGiven = e.value.value
      } else if (e.value.kind !== 'null') {
        const goErr = `json: cannot unmarshal ${goValueKind(e.value)} into Go struct field .Type of type string`
        typeError ??= goErr
        conf.typeErrors.push({
          path: 'Backend.Type',
          ...pos.at(e.keyStart),
          message: `Backend.Type is ${describeNode(e.value, text)}, but flannel reads it as a string such as "vxlan"`,
          flannelMessage: `error parsing subnet config: error decoding Backend property of config: ${goErr}`,
        })
      }
    }
  } else if (node.kind !== 'null') {
    typeError = `json: cannot unmarshal ${goValueKind(node)} into Go value of type struct { Type string }`
    conf.typeErrors.push({
      path: 'Backend',
      ...pos.at(node.start),
      message: `Backend must be an object such as {"Type": "vxlan"}; it is ${describeNode(node, text)}`,
      flannelMessage: `error parsing subnet config: error decoding Backend property of config: ${typeError}`,
    })
  }
  if (typeError !== undefined && conf.flannelError === undefined)
    conf.flannelError = `error parsing subnet config: error decoding Backend property of config: ${typeError}`
  conf.backendType = type.toLowerCase()
  if (conf.flannelError === undefined && BACKENDS[conf.backendType] === undefined)
    conf.flannelError = `Error fetching backend: unknown backend type: ${conf.backendType}`
  if (node.kind !== 'object') return

  const spec = BACKENDS[conf.backendType]
  const fields = spec ? spec.fields : ALL_BACKEND_FIELDS
  const seen = new Map<string, {given: string; line: number}>()
  let firstError: string | undefined
  for (const e of node.entries) {
    const at = pos.at(e.keyStart)
    const path = `Backend.${e.key}`
    const valueRaw = cut(text.slice(e.value.start, e.value.end))
    if (fold(e.key) === 'type') {
      conf.keys.push({path, given: e.key, canonical: 'Type', exact: e.key === 'Type', ...at, valueRaw})
      const prev = seen.get('Type')
      if (prev)
        conf.duplicates.push({
          path: 'Backend.Type',
          ...at,
          message: `Backend.Type is given twice ("${prev.given}" on line ${prev.line}, "${e.key}" on line ${at.line}); flannel uses the last one`,
        })
      seen.set('Type', {given: e.key, line: at.line})
      continue
    }
    const field = resolve(fields, e.key)
    const key: NetConfKey = {path, given: e.key, exact: field?.name === e.key, ...at, valueRaw}
    if (field) key.canonical = field.name
    conf.keys.push(key)
    if (!field) {
      conf.unknownKeys.push(unknownBackendKey(e.key, conf.backendType, at))
      continue
    }
    const prev = seen.get(field.name)
    if (prev)
      conf.duplicates.push({
        path: `Backend.${field.name}`,
        ...at,
        message: `Backend.${field.name} is given twice ("${prev.given}" on line ${prev.line}, "${e.key}" on line ${at.line}); flannel uses the last one`,
      })
    seen.set(field.name, {given: e.key, line: at.line})
    const d = decodeValue(field, e.value, text, `Backend.${field.name}`)
    if (!d.ok) {
      if (!spec) continue // flannel stops at the unknown type before decoding options
      const goName = field.platform === 'windows' ? field.name : (field.goName ?? field.name)
      const goErr =
        d.kind === 'type'
          ? `json: cannot unmarshal ${d.goValue} into Go struct field .${goName} of type ${field.goType}`
          : d.goError
      const prefix = spec.prefix
      const p: NetConfProblem = {
        path: `Backend.${field.name}`,
        ...at,
        message: d.ours,
        flannelMessage: `Error registering network: ${prefix}${goErr}`,
      }
      if (field.platform) p.platform = field.platform
      conf.typeErrors.push(p)
      if (field.platform !== 'windows') firstError ??= p.flannelMessage
      continue
    }
    if (d.value !== undefined) conf.backend[field.name] = d.value
  }
  if (conf.flannelError === undefined && spec && firstError !== undefined) conf.flannelError = firstError
}

function unknownBackendKey(given: string, type: string, at: {line: number; column: number}): NetConfProblem {
  const p: NetConfProblem = {path: `Backend.${given}`, ...at, message: ''}
  const top = resolve(CONFIG_FIELDS, given)
  if (top && top.name !== 'Backend') {
    p.suggestion = top.name
    p.message = `${given} belongs at the top level of net-conf.json, not inside Backend; flannel ignores it here`
    return p
  }
  const other = Object.entries(BACKENDS)
    .filter(([name, spec]) => name !== type && spec.fields.some((x) => fold(x.name) === fold(given)))
    .map(([name]) => name)
  if (other.length > 0) {
    p.message = `${given} is not an option of the ${type || '(no type)'} backend (it belongs to ${other.join(', ')}); flannel ignores it`
    return p
  }
  const own = BACKENDS[type]?.fields.map((x) => x.name) ?? ALL_BACKEND_FIELDS.map((x) => x.name)
  const s = closestKey(given, [...own, 'Type'])
  if (s) p.suggestion = s
  p.message = `flannel's ${type || '(no type)'} backend ignores the unknown key ${given}${s ? `; did you mean ${s}?` : ''}`
  return p
}

// ---------------------------------------------------------------------------------------------------
// Strict JSON for other Go-read files (cni-conf.json)

/** Strict JSON as Go reads it: the value tree, or the syntax error described like net-conf's. */
export function parseGoJson(
  text: string,
  opts: ParseNetConfOptions = {},
): {ok: true; value: JsonNode} | {ok: false; error: NetConfSyntaxError} {
  const pos = new Positions(text, opts.lineOffset ?? 0, opts.columnOffset ?? 0)
  const syntax = scanGo(text)
  if (syntax) {
    const error = describeSyntax(text, syntax, pos)
    error.flannelMessage = syntax.goMessage
    return {ok: false, error}
  }
  return {ok: true, value: buildTree(text)}
}

/** The plain JavaScript value of a tree from `parseGoJson` (last duplicate key wins, like Go). */
export function jsonToValue(n: JsonNode): unknown {
  const out: unknown[] = []
  type Work = {node: JsonNode; set: (v: unknown) => void}
  const work: Work[] = [{node: n, set: (v) => out.push(v)}]
  while (work.length > 0) {
    const {node, set} = work.pop() as Work
    switch (node.kind) {
      case 'object': {
        const o: Record<string, unknown> = {}
        set(o)
        // Pushed in reverse so they are set in document order: a later duplicate overwrites an earlier one.
        for (const e of [...node.entries].reverse())
          work.push({
            node: e.value,
            set: (v) =>
              Object.defineProperty(o, e.key, {
                value: v,
                enumerable: true,
                writable: true,
                configurable: true,
              }),
          })
        break
      }
      case 'array': {
        const a: unknown[] = new Array<unknown>(node.items.length)
        set(a)
        node.items.forEach((it, i) => work.push({node: it, set: (v) => (a[i] = v)}))
        break
      }
      case 'null':
        set(null)
        break
      default:
        set(node.value)
    }
  }
  return out[0]
}
