/**
 * Free-text logs (flanneld / kube-flannel container, kubelet, containerd, dmesg, `kubectl describe` events).
 * Each line keeps its raw form for evidence; `text` is the message with every prefix the common collectors
 * add taken off, in this order (each at most once):
 *
 * 1. Docker json-file lines `{"log":"...\n","stream":"stderr","time":"..."}` → the `log` string.
 * 2. syslog / journald `Oct 26 14:08:18 host kubelet[1067481]: ` (also with an ISO time instead).
 * 3. dmesg `[ 1423.035722] ` or `[Tue May 28 10:00:00 2024] `.
 * 4. `kubectl logs --timestamps` `2024-05-29T10:32:01.123456789Z `, and the CRI log-file form
 *    `2024-05-29T10:32:01.123Z stderr F ` (containerd/CRI-O files under /var/log/pods).
 * 5. klog `E0529 10:32:01.123456       1 main.go:330] ` — also without its severity letter (`0824 07:17:56...`,
 *    as pasted by people who cut the first character).
 * 6. logrus (k3s, containerd) `time="..." level=error msg="..."` → the msg string, level mapped to I/W/E/F.
 * 7. klog structured (kubelet) `"RunPodSandbox from runtime service failed" err="..." pod="..."` →
 *    `RunPodSandbox from runtime service failed: <err>`.
 *
 * Finally `\"` becomes `"`, so kubelet's structured `err="... \"cni0\" already has ..."` reads like flannel's own
 * text. Lines are never rejected: any text is a log.
 */
import type {LogFile, LogLine} from '../model.js'

const SYSLOG =
  /^(?<time>(?:[A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2})|(?:\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)) (?<host>\S+) (?<prog>[\w./-]+(?:\[\d+\])?): /
const DMESG = /^\[(?<time>\s*\d+\.\d+|[A-Z][a-z]{2} [A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2} \d{4})\] ?/
const RFC3339 =
  /^(?<time>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})) (?:(?:stdout|stderr) [FP] )?/
const KLOG = /^(?<level>[IWEF])?(?<time>\d{4} \d{2}:\d{2}:\d{2}\.\d{6}) +(?:\d+ )?(?<origin>[\w./-]+:\d+)\] ?/
const LOGRUS = /^time="(?<time>[^"]*)" level=(?<level>\w+) msg="(?<msg>(?:[^"\\]|\\.)*)"/

const STRUCTURED = /^"((?:[^"\\]|\\.)*)"((?:\s+[\w.-]+=(?:"(?:[^"\\]|\\.)*"|[^"\s]\S*))*)\s*$/

const LEVELS: Record<string, LogLine['level']> = {
  trace: 'I',
  debug: 'I',
  info: 'I',
  warning: 'W',
  warn: 'W',
  error: 'E',
  fatal: 'F',
  panic: 'F',
}

function unescapeGo(s: string): string {
  return s.replace(/\\(["\\nt])/g, (_m, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : c))
}

/** Take the prefixes off one log line (see the file comment). Pure; never throws. */
export function normalizeLogLine(raw: string, n = 1): LogLine {
  const out: LogLine = {n, raw, text: ''}
  let t = raw.replace(/\r$/, '').trim()
  if (t.startsWith('{"log":')) {
    try {
      const j = JSON.parse(t) as unknown
      if (typeof j === 'object' && j !== null && typeof (j as {log?: unknown}).log === 'string') {
        const o = j as {log: string; time?: unknown}
        t = o.log.replace(/\r?\n$/, '').trim()
        if (typeof o.time === 'string') out.time = o.time
      }
    } catch {
      // not JSON after all: keep the line as it is
    }
  }
  let m = SYSLOG.exec(t)
  if (m?.groups) {
    out.time ??= m.groups['time'] as string
    out.origin = m.groups['prog'] as string
    t = t.slice(m[0].length)
  }
  m = DMESG.exec(t)
  if (m?.groups) {
    out.time ??= (m.groups['time'] as string).trim()
    t = t.slice(m[0].length)
  }
  m = RFC3339.exec(t)
  if (m?.groups) {
    out.time ??= m.groups['time'] as string
    t = t.slice(m[0].length)
  }
  m = KLOG.exec(t)
  if (m?.groups) {
    const lv = m.groups['level']
    if (lv !== undefined) out.level = lv as 'I' | 'W' | 'E' | 'F'
    out.time ??= m.groups['time'] as string
    out.origin = m.groups['origin'] as string
    t = t.slice(m[0].length)
  } else {
    m = LOGRUS.exec(t)
    if (m?.groups) {
      const lv = LEVELS[(m.groups['level'] as string).toLowerCase()]
      if (lv !== undefined) out.level = lv
      out.time ??= m.groups['time'] as string
      t = unescapeGo(m.groups['msg'] as string)
    }
  }
  const st = STRUCTURED.exec(t)
  if (st) {
    // klog structured (kubelet): `"Msg" err="..." pod="..."` → `Msg: <err>` (other key/values dropped).
    const msg = unescapeGo(st[1] as string)
    const err = /\berr="((?:[^"\\]|\\.)*)"/.exec(st[2] as string)
    t = err ? `${msg}: ${unescapeGo(err[1] as string)}` : msg
  }
  out.text = t.replace(/\\"/g, '"')
  return out
}

export function parseLog(name: string, raw: string): LogFile {
  const lines = raw.split('\n')
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop()
  const clean = lines.map((l) => l.replace(/\r$/, ''))
  return {name, lines: clean, entries: clean.map((l, i) => normalizeLogLine(l, i + 1))}
}
