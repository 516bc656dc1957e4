/**
 * The one way a check that depends on net-conf.json reads it. A config flannel would refuse at start-up
 * (a syntax error, an unknown backend, a type error: `conf.flannelError`) is not a basis for judging the
 * node: flannel never ran with it, so those checks say `unknown` and point at the netconf checks, which
 * report the cause once. The lines of net-conf.json that set a key are quoted from here too.
 */
import type {Avail, Facts} from '../../facts/types.js'
import type {NetConf, NetConfFact} from '../../parse/netconf.js'
import type {Evidence, Finding} from '../types.js'
import {ev, skip, unknown, type FindingExtra} from './result.js'

export type NetConfRead =
  {ok: true; conf: NetConf; fact: NetConfFact; source: string; text: string} | {ok: false; finding: Finding}

export function readNetConf(facts: Facts, purpose = 'this'): NetConfRead {
  const a = facts.get('netConf')
  if (!a.ok) {
    const x: FindingExtra = {}
    if (a.hint !== undefined) x.hint = a.hint
    if (a.source !== undefined) x.evidence = [ev(a.source, [])]
    return {
      ok: false,
      finding: unknown(`Could not look at net-conf.json, so ${purpose} could not be checked: ${a.reason}`, x),
    }
  }
  const f = a.value
  if (!f.result.ok) {
    const e = f.result.error
    return {
      ok: false,
      finding: unknown(
        `net-conf.json does not parse (line ${e.line}, column ${e.column}: ${e.message}), so ${purpose} could not be checked.`,
        {
          evidence: [ev(`${f.source}:${e.line}`, [e.lineText])],
          hint: 'fix net-conf.json first (see netconf.json-syntax)',
        },
      ),
    }
  }
  const conf = f.result.conf
  if (conf.flannelError !== undefined) {
    return {
      ok: false,
      finding: unknown(
        `net-conf.json would stop flannel at start-up (${conf.flannelError}), so ${purpose} is not judged against it.`,
        {evidence: [ev(f.source, [conf.flannelError])], hint: 'fix net-conf.json first (see netconf.schema)'},
      ),
    }
  }
  return {ok: true, conf, fact: f, source: a.source, text: f.text}
}

/**
 * For the netconf.* checks, which judge the file itself: a file that is not there is netconf.present's
 * to report (`skip`); any other reason it could not be read is `unknown`.
 */
export function netConfNotRead(a: Extract<Avail<NetConfFact>, {ok: false}>): Finding {
  if (a.state === 'absent') return skip('There is no net-conf.json to check (see netconf.present).')
  const x: FindingExtra = {}
  if (a.hint !== undefined) x.hint = a.hint
  return unknown(`Could not look at net-conf.json: ${a.reason}`, x)
}

/**
 * The key as written for a canonical path (`Network`, `Backend.VNI`): the last occurrence, the one
 * flannel uses.
 */
export function keyAt(conf: NetConf, path: string): NetConf['keys'][number] | undefined {
  const backend = path.startsWith('Backend.')
  const name = backend ? path.slice('Backend.'.length) : path
  return [...conf.keys]
    .reverse()
    .find((k) => k.canonical === name && k.path.startsWith('Backend.') === backend)
}

/** Matches a line that sets `key` (case-insensitive, as flannel matches keys). */
const keyRe = (key: string): RegExp => new RegExp(`"${key}"\\s*:`, 'i')

/** The net-conf.json lines that set `key`, trimmed, for evidence. */
export function confLines(text: string, key: string): string[] {
  const re = keyRe(key)
  return text
    .split('\n')
    .filter((l) => re.test(l))
    .map((l) => l.trim())
}

/** The net-conf.json line that sets a key (`Network`, `IPv6Network`, `Backend.Type`), quoted as evidence. */
export function netConfKeyEvidence(f: NetConfFact, key: string, value: string | undefined): Evidence {
  const lines = f.text.split('\n')
  const dot = key.lastIndexOf('.')
  const parent = dot === -1 ? '' : key.slice(0, dot + 1)
  const leaf = key.slice(dot + 1)
  // A key given twice: flannel's decoder keeps the last, so the evidence quotes the last.
  const known = f.result.ok
    ? [...f.result.conf.keys]
        .reverse()
        .find(
          (k) =>
            k.canonical === leaf && k.path.startsWith(parent) && !k.path.slice(parent.length).includes('.'),
        )
    : undefined
  let lineNo = known?.line
  if (lineNo === undefined) {
    const re = keyRe(leaf)
    for (let i = lines.length - 1; i >= 0 && lineNo === undefined; i--)
      if (re.test(lines[i] ?? '')) lineNo = i + 1
  }
  const text = lineNo === undefined ? undefined : lines[lineNo - 1]
  if (lineNo !== undefined && text !== undefined && text.trim() !== '')
    return ev(`${f.source}:${lineNo + f.lineOffset}`, [text.trim()])
  return ev(f.source, [value === undefined ? `(no "${leaf}" key)` : `"${leaf}": "${value}"`])
}
