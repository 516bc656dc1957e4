/**
 * logs.known-errors — no known flannel, CNI, kubelet or kernel error message in the logs.
 *
 * Why (flannel-facts §4, §7.2, §9, §10): most flannel failures announce themselves in one recognisable line —
 * flanneld's start-up errors, the CNI plugin's subnet.env errors in kubelet events, RBAC denials from the API
 * server, the kernel's `UDP: bad checksum` for VXLAN. Each catalogue entry (src/checks/lib/messages.ts) names the
 * check that covers its cause; this check reports every such line at the entry's level and points there, so a
 * log alone (e.g. a bug report) already leads to the right check and fix. Healthy messages (`flannel is ready`)
 * are recognised and never failures.
 */
import type {Finding} from '../types.js'
import {defineCheck} from '../types.js'
import {ev, fail, needAll, ok, skip} from '../lib/result.js'
import {entryFix, explainLines} from '../lib/messages.js'
import {logSource} from '../lib/kube-helpers.js'

/** How many lines of one message to quote. */
const QUOTE = 3

export const check = defineCheck({
  id: 'logs.known-errors',
  area: 'logs',
  title: 'No known flannel, CNI, kubelet or kernel error message in the logs',
  severity: 'error',
  needs: ['logs'],
  evaluate(facts) {
    // Logs are supporting evidence: when none was given at all, the check does not apply (skip, with how
    // to add one) rather than making every live run "incomplete". A log that was named but could not be
    // read is still `unknown`.
    const logs = facts.get('logs')
    if (!logs.ok && logs.state === 'not-collected')
      return [skip(`No log was given (${logs.reason}).`, logs.hint === undefined ? {} : {hint: logs.hint})]
    const got = needAll(facts, ['logs'] as const, ['the logs (flannel, kubelet, dmesg)'])
    if (!got.ok) return [got.finding]
    const [files] = got.values
    const src = got.sources[0] as string
    const findings: Finding[] = []
    const healthy: string[] = []
    let total = 0
    for (const f of files) {
      total += f.lines.length
      const where = logSource(src, f)
      for (const x of explainLines(f.lines)) {
        if (x.entry.level === 'info') {
          healthy.push(`${where}:${x.line}: ${x.text}`)
          continue
        }
        const quoted = x.lines.slice(0, QUOTE).map((n) => (f.lines[n - 1] ?? '').trim())
        const more = x.lines.length > 1 ? ` (${x.lines.length} times)` : ''
        findings.push(
          fail(
            x.entry.level,
            `${where} line ${x.line}${more}: ${x.entry.cause.replace(/\.$/, '')} — see ${x.entry.check}.`,
            {
              subject: x.entry.check,
              evidence: [ev(`${where}:${x.line}`, quoted)],
              fix: entryFix(x.entry, x.captures),
            },
          ),
        )
      }
    }
    if (findings.length === 0) {
      findings.push(
        ok(
          `No known error message in ${total} log line${total === 1 ? '' : 's'} (${files.length} file${files.length === 1 ? '' : 's'})${healthy.length > 0 ? `; healthy messages seen: ${healthy.length}` : ''}.`,
          {evidence: healthy.length > 0 ? [ev(src, healthy.slice(0, QUOTE))] : []},
        ),
      )
    }
    return findings
  },
})
