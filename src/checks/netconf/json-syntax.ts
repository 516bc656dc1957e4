/**
 * netconf.json-syntax — flannel decodes net-conf.json with Go's `encoding/json`, which accepts strict
 * JSON only: no comments (`#`, `//`, `/* *\/`), no trailing commas, double quotes only. In a ConfigMap a `#`
 * inside the `net-conf.json: |` block is text, not a YAML comment, so flannel receives it. Any syntax error
 * stops flanneld with `error parsing subnet config: invalid character ...` (flannel-facts §1.1, §1.3); the
 * exact Go wording is reproduced by the parser (a port of Go's scanner).
 */
import {applyCommands} from '../../parse/netconf-source.js'
import {defineCheck} from '../types.js'
import {ev, fail, ok, skip} from '../lib/result.js'
import {netConfNotRead} from '../lib/netconf-read.js'

export const check = defineCheck({
  id: 'netconf.json-syntax',
  area: 'netconf',
  title: 'net-conf.json is strict JSON',
  severity: 'error',
  needs: ['netConf'],
  evaluate(facts) {
    const a = facts.get('netConf')
    if (!a.ok) {
      if (a.state === 'absent') return [skip('There is no net-conf.json to parse (see netconf.present).')]
      return [netConfNotRead(a)]
    }
    const fact = a.value
    if (fact.result.ok) {
      const keys = fact.result.conf.keys.length
      return [
        ok(`net-conf.json parses as strict JSON (${keys} key${keys === 1 ? '' : 's'}).`, {
          evidence: [ev(fact.source, [])],
        }),
      ]
    }
    const e = fact.result.error
    const where = fact.positionsInValue
      ? `line ${e.line}, column ${e.column} of the net-conf.json value`
      : `line ${e.line}, column ${e.column}`
    const yamlNote =
      fact.configMap && e.cause === 'hash-comment' && !fact.positionsInValue
        ? ' Inside the YAML block (net-conf.json: |) a # is text, not a YAML comment, so flannel receives it.'
        : ''
    const prefix = `${e.line}: `
    const fix: string[] = []
    if (e.fix) {
      if (e.fix.text !== undefined) fix.push(`# change line ${e.fix.line} to:`, e.fix.text)
      else fix.push(`# delete line ${e.fix.line}:`, e.fix.before)
    } else fix.push(`# correct line ${e.line} (${e.message})`)
    fix.push(...applyCommands(fact))
    const x: Parameters<typeof fail>[2] = {
      evidence: [
        ev(fact.source, [prefix + e.lineText, ' '.repeat(prefix.length) + e.caret]),
        ev('flanneld log (what flannel says)', [e.flannelMessage]),
      ],
      fix,
    }
    if (!fact.positionsInValue && x)
      x.location = {file: fact.file ?? fact.source, line: e.line, column: e.column}
    return [fail('error', `net-conf.json is not valid JSON at ${where}: ${e.message}.${yamlNote}`, x)]
  },
})
