/**
 * The one way a check that depends on net-conf.json reads it. A config flannel would refuse at start-up
 * (a syntax error, an unknown backend, a type error: `conf.flannelError`) is not a basis for judging the
 * node: flannel never ran with it, so those checks say `unknown` and point at the netconf checks, which
 * report the cause once.
 */
import type {Facts} from '../../facts/types.js'
import type {NetConf, NetConfFact} from '../../parse/netconf.js'
import type {Finding} from '../types.js'
import {ev, unknown, type FindingExtra} from './result.js'

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
