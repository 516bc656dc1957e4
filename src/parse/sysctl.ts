/**
 * Kernel settings from `sysctl -a` (`key = value`), `key=value` lines (sysctl.conf style), and `/proc/sys`
 * paths as `grep -H . /proc/sys/...` prints them (`/proc/sys/net/ipv4/ip_forward:1`, `...: 1`) or
 * `net/ipv4/ip_forward = 1`. Keys are normalised to sysctl's dotted form, where a `.` inside a path segment
 * (an interface name such as `flannel.1`) becomes `/`: `/proc/sys/net/ipv4/conf/flannel.1/rp_filter` →
 * `net.ipv4.conf.flannel/1.rp_filter`, exactly as `sysctl -a` names it.
 *
 * `sysctl: cannot stat /proc/sys/KEY: No such file or directory` (sysctl's own message for a key that does not
 * exist, e.g. `net.bridge.bridge-nf-call-iptables` without br_netfilter) is kept in `missing`. Other sysctl
 * complaints (`permission denied on key`, `reading key`), `* Applying ...` lines of `sysctl --system`, and
 * `#`/`;` comments are skipped.
 */
import type {Sysctls} from '../model.js'
import {ParseError} from './errors.js'

/** `net/ipv4/conf/flannel.1/rp_filter` → `net.ipv4.conf.flannel/1.rp_filter`. */
export function sysctlKeyFromPath(path: string): string {
  return path
    .replace(/^\/?proc\/sys\//, '')
    .split('/')
    .filter((s) => s !== '')
    .map((s) => s.replace(/\./g, '/'))
    .join('.')
}

/** The dotted key for an interface's setting: `confKey('flannel.1', 'rp_filter')` → `net.ipv4.conf.flannel/1.rp_filter`. */
export function ipv4ConfKey(ifname: string, setting: string): string {
  return `net.ipv4.conf.${ifname.replace(/\./g, '/')}.${setting}`
}

const KEY = /^[^\s=]+$/

export function parseSysctl(raw: string): Sysctls {
  const values = new Map<string, string>()
  const rawMap = new Map<string, string>()
  const missing = new Map<string, string>()
  const lines = raw.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string
    const t = line.trim()
    if (t === '' || t.startsWith('#') || t.startsWith(';') || t.startsWith('* ')) continue
    if (t.startsWith('sysctl:')) {
      const m = /cannot stat (\/proc\/sys\/\S+?): No such file or directory/.exec(t)
      if (m) missing.set(sysctlKeyFromPath(m[1] as string), line)
      continue
    }
    let key: string | undefined
    let value: string | undefined
    const proc = /^(\/proc\/sys\/[^:\s]+):\s?(.*)$/.exec(t)
    if (proc) {
      key = sysctlKeyFromPath(proc[1] as string)
      value = proc[2] as string
    } else {
      const eq = t.indexOf('=')
      if (eq > 0) {
        key = t.slice(0, eq).trim()
        value = t.slice(eq + 1).trim()
        if (key.includes('/')) {
          // `net/ipv4/ip_forward = 1`: a path, unless it is a dotted key whose interface part has a `/`.
          if (!/^[a-z0-9_]+\.[^.]/.test(key) || key.startsWith('/')) key = sysctlKeyFromPath(key)
        }
      }
    }
    if (key === undefined || value === undefined || !KEY.test(key)) {
      throw new ParseError(
        `not a "key = value" line: ${JSON.stringify(t.slice(0, 80))}`,
        i + 1,
        'capture it with `sysctl -a` (or `grep -H . /proc/sys/net/...`)',
      )
    }
    values.set(key, value)
    rawMap.set(key, line)
    missing.delete(key)
  }
  const out: Sysctls = {values, raw: rawMap}
  if (missing.size > 0) out.missing = missing
  return out
}
