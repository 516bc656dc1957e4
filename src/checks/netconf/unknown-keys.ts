/**
 * netconf.unknown-keys — Go's `encoding/json` ignores keys that match no struct field, so a typo such as
 * `DirectRoute`, `SubnetLength` or `Vni_id` is dropped without a word and flannel runs with the default.
 * Matching is exact first, then case-insensitive, so `Directrouting` or `network` do work (info only).
 * A key given twice is not an error either: the last one wins (flannel-facts §1.2, §1.3, §2.2).
 */
import {CONFIG_KEYS, type NetConfFact, type NetConfProblem} from '../../parse/netconf.js'
import {applyCommands, netConfSourceLine, quoteLines} from '../../parse/netconf-source.js'
import {defineCheck, type Finding} from '../types.js'
import {ev, fail, ok, skip, type FindingExtra} from '../lib/result.js'
import {netConfNotRead} from '../lib/netconf-read.js'

const sentence = (s: string): string => (/[.?!]$/.test(s) ? s : `${s}.`)

function extra(fact: NetConfFact, line: number, fix?: string[]): FindingExtra {
  const x: FindingExtra = {evidence: [ev(fact.source, quoteLines(fact, [line]))]}
  if (fix) x.fix = fix
  if (!fact.positionsInValue) x.location = {file: fact.file ?? fact.source, line}
  return x
}

function renameFix(fact: NetConfFact, p: NetConfProblem, given: string): string[] {
  const s = p.suggestion
  if (s === undefined)
    return [`# remove ${given} from line ${p.line}, or correct its name`, ...applyCommands(fact)]
  const backendLevel = p.path.startsWith('Backend.')
  const move = (!backendLevel && s.startsWith('Backend.')) || (backendLevel && CONFIG_KEYS.includes(s))
  if (move) {
    const where = s.startsWith('Backend.')
      ? `into "Backend": {...} as "${s.slice('Backend.'.length)}"`
      : `to the top level as "${s}"`
    return [`# move ${given} (line ${p.line}) ${where}`, ...applyCommands(fact)]
  }
  const line = netConfSourceLine(fact, p.line)
  const target = s.includes('.') ? s.slice(s.lastIndexOf('.') + 1) : s
  if (line !== undefined && line.includes(`"${given}"`))
    return [`# change line ${p.line} to:`, line.replace(`"${given}"`, `"${target}"`), ...applyCommands(fact)]
  return [`# rename ${given} to ${target} on line ${p.line}`, ...applyCommands(fact)]
}

export const check = defineCheck({
  id: 'netconf.unknown-keys',
  area: 'netconf',
  title: 'Every key in net-conf.json is one flannel reads',
  severity: 'warning',
  needs: ['netConf'],
  evaluate(facts) {
    const a = facts.get('netConf')
    if (!a.ok) return [netConfNotRead(a)]
    const fact = a.value
    if (!fact.result.ok)
      return [skip('net-conf.json does not parse, so its keys cannot be checked (see netconf.json-syntax).')]
    const conf = fact.result.conf
    const out: Finding[] = []
    for (const p of conf.unknownKeys) {
      const given = p.path.startsWith('Backend.') ? p.path.slice('Backend.'.length) : p.path
      out.push(fail('warning', sentence(p.message), extra(fact, p.line, renameFix(fact, p, given))))
    }
    for (const k of conf.keys) {
      if (k.canonical === undefined || k.exact) continue
      const where = k.path.startsWith('Backend.') ? `Backend.${k.canonical}` : k.canonical
      const line = netConfSourceLine(fact, k.line)
      const fix = line?.includes(`"${k.given}"`)
        ? [
            `# optional, for readers: change line ${k.line} to:`,
            line.replace(`"${k.given}"`, `"${k.canonical}"`),
          ]
        : undefined
      out.push(
        fail(
          'info',
          `${k.given} is read as ${where}: flannel (Go encoding/json) matches keys case-insensitively, so this works; the documented spelling is ${k.canonical}.`,
          extra(fact, k.line, fix),
        ),
      )
    }
    for (const d of conf.duplicates)
      out.push(
        fail(
          'warning',
          sentence(d.message),
          extra(fact, d.line, [`# keep one ${d.path} and delete the other`, ...applyCommands(fact)]),
        ),
      )
    if (out.length === 0)
      return [
        ok(`Every key in net-conf.json is one flannel reads (${conf.keys.length} keys).`, {
          evidence: [ev(fact.source, [])],
        }),
      ]
    return out
  },
})
