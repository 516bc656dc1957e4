/**
 * Every scenario bundle under test/fixtures/bundles/ (made from real kernel state by
 * scripts/make-bundles.mts) is run through the doctor; the set of failing check ids must equal the
 * bundle's expect.json exactly, and the JSON report must match the published schema.
 */
import assert from 'node:assert/strict'
import {test} from 'node:test'

import {failingIds, isFailing, runScenario, scenarioNames} from '../support/scenarios.js'
import {assertValidReport} from '../support/schema.js'

const names = scenarioNames()

test('there are scenario bundles', () => {
  assert.ok(names.length >= 2, 'expected scenario bundles in test/fixtures/bundles')
})

for (const name of names) {
  test(`scenario ${name}`, async () => {
    const {expect, report} = await runScenario(name)
    assertValidReport(report)
    const failing = report.checks.filter((c) => isFailing(c.status))
    const detail = failing.map(
      (c) =>
        `${c.id}: ${c.findings
          .filter((f) => f.status === c.status)
          .map((f) => f.message)
          .join(' | ')}`,
    )
    assert.deepEqual(failingIds(report), [...expect.failing].sort(), detail.join('\n'))
    for (const id of expect.ok ?? []) assert.equal(report.checks.find((c) => c.id === id)?.status, 'ok', id)
    // Every failure must say what to do.
    for (const c of failing) {
      for (const f of c.findings.filter((x) => x.status === 'error')) {
        assert.ok(f.message.length > 10, `${c.id} has a real message`)
      }
    }
  })
}
