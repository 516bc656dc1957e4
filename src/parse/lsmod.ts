/**
 * Loaded kernel modules from `lsmod` (`Module  Size  Used by` header, then `name size count [deps]`), its
 * `grep` excerpts (no header), or `/proc/modules` (`name size refcount deps state address`). Names are returned
 * with `-` written as `_`, the kernel's canonical form (`modprobe br-netfilter` loads `br_netfilter`).
 * A module built into the kernel is not listed; absence here is not proof that a feature is missing.
 */
import {ParseError} from './errors.js'

const LINE = /^([A-Za-z0-9_-]+)\s+(\d+)(?:\s+(-?\d+|-))?(?:\s|$)/

export function parseModules(raw: string): Set<string> {
  const out = new Set<string>()
  const lines = raw.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const t = (lines[i] as string).trim()
    if (t === '' || /^Module\s+Size\s+Used by$/.test(t)) continue
    const m = LINE.exec(t)
    if (!m) {
      throw new ParseError(
        `not a module line: ${JSON.stringify(t.slice(0, 80))}`,
        i + 1,
        /could not open \/proc\/modules|No such file/.test(t)
          ? 'this kernel has no module support (everything is built in); lsmod cannot tell'
          : 'capture it with `lsmod` or `cat /proc/modules`',
      )
    }
    out.add((m[1] as string).replace(/-/g, '_'))
  }
  return out
}
