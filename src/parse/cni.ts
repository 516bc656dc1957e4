/**
 * The files of `/etc/cni/net.d`, in the order the container runtime reads them. libcni's `ConfFiles` lists
 * the directory (no subdirectories), keeps names ending in `.conf`, `.conflist` or `.json`, and the runtime
 * sorts them with Go's `sort.Strings` (byte order); containerd/CRI-O use the first one that loads. Files with
 * another extension (`10-flannel.conflist.bak`, `*.disabled`) are kept, flagged with `ignored`, after the loaded
 * ones, so a check can mention them.
 *
 * JSON is parsed (ignored files too) without throwing: a syntax error goes into `error` with its line and column.
 */
import type {CniConfigFile} from '../model.js'

const CNI_EXTENSIONS = ['.conf', '.conflist', '.json'] as const

const byteOrder = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

function position(text: string, offset: number): {line: number; column: number} {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)))
  const nl = before.lastIndexOf('\n')
  return {line: before.split('\n').length, column: before.length - nl}
}

/**
 * Where strict JSON (RFC 8259, as Go's encoding/json reads it) first goes wrong, and why. JSON.parse's own
 * messages do not always carry a position, so the offset comes from this scanner.
 */
export function jsonSyntaxError(text: string): {offset: number; message: string} | undefined {
  let i = 0
  const n = text.length
  class Stop {
    constructor(
      readonly offset: number,
      readonly message: string,
    ) {}
  }
  const ws = (): void => {
    while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++
  }
  const what = (): string => (i >= n ? 'end of input' : JSON.stringify(text[i]))
  const fail = (expected: string): never => {
    throw new Stop(i, `unexpected ${what()}, expected ${expected}`)
  }
  const str = (): void => {
    i++ // opening quote
    while (i < n) {
      const c = text.charCodeAt(i)
      if (c === 0x22) {
        i++
        return
      }
      if (c < 0x20) throw new Stop(i, 'control character in a string')
      if (c === 0x5c) {
        const e = text[i + 1]
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) throw new Stop(i, 'bad \\u escape')
          i += 6
          continue
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) throw new Stop(i, 'bad escape in a string')
        i += 2
        continue
      }
      i++
    }
    throw new Stop(i, 'unterminated string')
  }
  const value = (depth: number): void => {
    if (depth > 512) throw new Stop(i, 'nesting too deep')
    ws()
    const c = text[i]
    if (c === '{') {
      i++
      ws()
      if (text[i] === '}') {
        i++
        return
      }
      for (;;) {
        ws()
        if (text[i] !== '"') fail('a double-quoted key')
        str()
        ws()
        if (text[i] !== ':') fail("':' after the key")
        i++
        value(depth + 1)
        ws()
        if (text[i] === ',') {
          i++
          continue
        }
        if (text[i] === '}') {
          i++
          return
        }
        fail("',' or '}'")
      }
    }
    if (c === '[') {
      i++
      ws()
      if (text[i] === ']') {
        i++
        return
      }
      for (;;) {
        value(depth + 1)
        ws()
        if (text[i] === ',') {
          i++
          continue
        }
        if (text[i] === ']') {
          i++
          return
        }
        fail("',' or ']'")
      }
    }
    if (c === '"') return str()
    const lit = /^(?:true|false|null)/.exec(text.slice(i, i + 5))
    if (lit) {
      i += lit[0].length
      return
    }
    const num = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 400))
    if (num && num[0] !== '' && num[0] !== '-') {
      i += num[0].length
      return
    }
    fail('a value')
  }
  try {
    value(0)
    ws()
    if (i < n) fail('end of input after the top-level value')
    return undefined
  } catch (e) {
    if (e instanceof Stop) return {offset: e.offset, message: e.message}
    throw e
  }
}

function parseJson(text: string): Pick<CniConfigFile, 'json' | 'error' | 'errorLine' | 'errorColumn'> {
  try {
    return {json: JSON.parse(text) as unknown}
  } catch (e) {
    const found = jsonSyntaxError(text)
    const offset = found?.offset ?? text.length
    const message =
      found?.message ?? (e instanceof Error ? (e.message.split('\n')[0] ?? 'invalid JSON') : 'invalid JSON')
    const at = position(text, offset)
    return {error: `${at.line}:${at.column}: ${message}`, errorLine: at.line, errorColumn: at.column}
  }
}

export function parseCniConfigs(files: {name: string; text: string}[]): CniConfigFile[] {
  const loaded: CniConfigFile[] = []
  const ignored: CniConfigFile[] = []
  for (const f of [...files].sort((a, b) => byteOrder(a.name, b.name))) {
    const c: CniConfigFile = {name: f.name, text: f.text, ...parseJson(f.text)}
    if (f.name.includes('/')) {
      c.ignored = 'in a subdirectory: libcni only reads the top of /etc/cni/net.d'
      ignored.push(c)
      continue
    }
    if (!CNI_EXTENSIONS.some((x) => f.name.endsWith(x))) {
      c.ignored = 'not .conf, .conflist or .json: the container runtime does not load it'
      ignored.push(c)
      continue
    }
    loaded.push(c)
  }
  return [...loaded, ...ignored]
}
