/**
 * Every check of the catalogue is proven both ways by the scenario bundles (test/fixtures/bundles/, made
 * from real kernel state by scripts/make-bundles.mts): at least one bundle lists the check in its
 * expect.json `failing` and the doctor really fails it there (error or warning), and at least one bundle
 * gives it status `ok`. A check that loses its failing or its passing scenario fails this test.
 */
import assert from 'node:assert/strict'
import {test} from 'node:test'

import {CHECKS} from '../../src/checks/registry.js'
import type {DoctorReport} from '../../src/engine/doctor.js'
import {isFailing, runScenario, scenarioNames, type ScenarioExpect} from '../support/scenarios.js'

const runs: {name: string; expect: ScenarioExpect; report: DoctorReport}[] = []
for (const name of scenarioNames()) runs.push({name, ...(await runScenario(name))})

const statusIn = (r: {report: DoctorReport}, id: string): string =>
  r.report.checks.find((c) => c.id === id)?.status ?? 'absent'

test('there are scenario bundles', () => {
  assert.ok(runs.length > 0, 'no scenario bundles in test/fixtures/bundles')
})

test('every id an expect.json names is a check of the catalogue', () => {
  const ids = new Set(CHECKS.map((c) => c.id))
  for (const r of runs)
    for (const id of [...r.expect.failing, ...(r.expect.ok ?? [])])
      assert.ok(ids.has(id), `${r.name}/expect.json names ${id}, which is not in CHECKS`)
})

for (const check of CHECKS) {
  test(`${check.id}: one scenario fails it, another passes it`, () => {
    const listed = runs.filter((r) => r.expect.failing.includes(check.id))
    const failing = listed.filter((r) => isFailing(statusIn(r, check.id)))
    assert.ok(
      failing.length > 0,
      listed.length === 0
        ? `no scenario bundle lists ${check.id} in expect.json "failing"`
        : `${check.id} is listed as failing by ${listed.map((r) => `${r.name} (doctor says ${statusIn(r, check.id)})`).join(', ')}, but fails in none`,
    )
    const passing = runs.filter((r) => statusIn(r, check.id) === 'ok')
    assert.ok(
      passing.length > 0,
      `no scenario bundle gives ${check.id} status ok (statuses: ${[...new Set(runs.map((r) => statusIn(r, check.id)))].join(', ')})`,
    )
  })
}
