/**
 * `/run/flannel/subnet.env` (flannel-facts §4.1). flanneld writes `KEY=value\n` lines in a fixed order, with no
 * quotes, no `export` and no comments. Its one reader that matters, the flannel CNI plugin, reads it line by
 * line (Go `bufio.Scanner`, which drops a trailing `\r`), splits each line at the first `=`, and compares the
 * part before it byte for byte with `FLANNEL_NETWORK`, `FLANNEL_SUBNET`, ... (flannel-io/cni-plugin:
 * `loadFlannelSubnetEnv`). This parser records exactly what the plugin would read:
 *
 * - `KEY=value` where KEY is an identifier → an entry with KEY and value verbatim (later duplicates win in
 *   `values`, as in the plugin, whose loop overwrites).
 * - `export KEY=value`, `KEY = value`, lines without `=`, `#` comments → `malformed`: the plugin compares
 *   `export KEY` / `KEY ` with the key names, matches nothing and ignores the line, so the key counts as missing.
 * - `KEY="value"`, `KEY='value'`, `KEY=value ` (trailing blank) → an entry with the value *including* the quotes
 *   or blank (that is what the plugin passes to `net.ParseCIDR` / `strconv.ParseUint`, which then fail), and also
 *   a `malformed` note with the reason, so a check can say why the plugin will reject it.
 *
 * Input containing NUL bytes is not a text file: ParseError.
 */
import type {SubnetEnv} from '../model.js'
import {ParseError} from './errors.js'

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/

export function parseSubnetEnv(raw: string): SubnetEnv {
  const nul = raw.indexOf('\u0000')
  if (nul !== -1) {
    throw new ParseError(
      'binary data (NUL byte) in subnet.env',
      raw.slice(0, nul).split('\n').length,
      'copy /run/flannel/subnet.env as text',
    )
  }
  const out: SubnetEnv = {entries: [], values: {}, malformed: []}
  const lines = raw.split('\n')
  if (lines[lines.length - 1] === '') lines.pop()
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).replace(/\r$/, '')
    const n = i + 1
    if (line.trim() === '') continue
    if (line.trimStart().startsWith('#')) {
      out.malformed.push({
        line: n,
        raw: line,
        reason: 'a comment: flanneld never writes one; the CNI plugin ignores it',
      })
      continue
    }
    const eq = line.indexOf('=')
    if (eq === -1) {
      out.malformed.push({line: n, raw: line, reason: 'no "=": the CNI plugin ignores this line'})
      continue
    }
    const key = line.slice(0, eq)
    const value = line.slice(eq + 1)
    if (!IDENT.test(key)) {
      const reason = /^\s*export\s/.test(key)
        ? `"export ": the CNI plugin reads the key as ${JSON.stringify(key)} and ignores the line`
        : `key ${JSON.stringify(key)} is not a plain name: the CNI plugin ignores the line`
      out.malformed.push({line: n, raw: line, reason})
      continue
    }
    out.entries.push({key, value, line: n, raw: line})
    // defineProperty, not assignment: a key named `__proto__` must stay an ordinary entry.
    Object.defineProperty(out.values, key, {value, enumerable: true, writable: true, configurable: true})
    if (/^(["']).*\1$/.test(value) && value.length >= 2) {
      out.malformed.push({
        line: n,
        raw: line,
        reason: 'quoted value: the CNI plugin keeps the quotes as part of it',
      })
    } else if (value !== value.trim()) {
      out.malformed.push({
        line: n,
        raw: line,
        reason: 'blank around the value: the CNI plugin keeps it as part of it',
      })
    }
  }
  return out
}
