/**
 * Every scenario bundle under test/fixtures/bundles/ (made from real kernel state by
 * scripts/make-bundles.mts) is run through the doctor; the set of failing check ids must equal the
 * bundle's expect.json exactly, and the JSON report must match the published schema.
 */
import assert from 'node:assert/strict'
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {test} from 'node:test'

import {CHECKS} from '../../src/checks/registry.js'
import {runDoctor} from '../../src/engine/doctor.js'
import {bundleSource} from '../../src/facts/sources.js'
import {readBundle} from '../../src/host/bundle-reader.js'
import {assertValidReport} from '../support/schema.js'

const ROOT = new URL('../fixtures/bundles/', import.meta.url).pathname
const names = existsSync(ROOT)
  ? readdirSync(ROOT).filter((n) => existsSync(join(ROOT, n, 'expect.json')))
  : []

test('there are scenario bundles', () => {
  assert.ok(names.length >= 2, 'expected scenario bundles in test/fixtures/bundles')
})

for (const name of names) {
  test(`scenario ${name}`, async () => {
    const expect = JSON.parse(readFileSync(join(ROOT, name, 'expect.json'), 'utf8')) as {
      failing: string[]
      ok?: string[]
    }
    const report = await runDoctor(bundleSource(name, await readBundle(join(ROOT, name))), {
      checks: CHECKS,
      failOn: 'warning',
      version: '0.0.0',
      now: new Date('2026-01-01T00:00:00Z'),
    })
    assertValidReport(report)
    const failing = report.checks.filter((c) => c.status === 'error' || c.status === 'warning')
    const detail = failing.map(
      (c) =>
        `${c.id}: ${c.findings
          .filter((f) => f.status === c.status)
          .map((f) => f.message)
          .join(' | ')}`,
    )
    assert.deepEqual(failing.map((c) => c.id).sort(), [...expect.failing].sort(), detail.join('\n'))
    for (const id of expect.ok ?? []) assert.equal(report.checks.find((c) => c.id === id)?.status, 'ok', id)
    // Every failure must say what to do.
    for (const c of failing) {
      for (const f of c.findings.filter((x) => x.status === 'error')) {
        assert.ok(f.message.length > 10, `${c.id} has a real message`)
      }
    }
  })
}
