/**
 * Test support: the scenario bundles under test/fixtures/bundles/ (made from real kernel state by
 * scripts/make-bundles.mts) and the doctor run over one of them, shared by the scenario tests.
 */
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {CHECKS} from '../../src/checks/registry.js'
import {runDoctor, type DoctorReport} from '../../src/engine/doctor.js'
import {bundleSource} from '../../src/facts/sources.js'
import {readBundle} from '../../src/host/bundle-reader.js'

export const BUNDLES = new URL('../fixtures/bundles/', import.meta.url).pathname

/** A bundle's expect.json. */
export interface ScenarioExpect {
  description?: string
  /** Exact set of check ids that fail (error or warning). */
  failing: string[]
  /** Check ids that must be `ok`. */
  ok?: string[]
  note?: string
}

/** Names of the scenario bundles (folders with an expect.json), sorted. */
export function scenarioNames(): string[] {
  if (!existsSync(BUNDLES)) return []
  return readdirSync(BUNDLES)
    .filter((n) => existsSync(join(BUNDLES, n, 'expect.json')))
    .sort()
}

export function readExpect(name: string): ScenarioExpect {
  return JSON.parse(readFileSync(join(BUNDLES, name, 'expect.json'), 'utf8')) as ScenarioExpect
}

/** Run the whole catalogue over one scenario bundle, as `doctor --bundle` does. */
export async function runScenario(name: string): Promise<{expect: ScenarioExpect; report: DoctorReport}> {
  const report = await runDoctor(bundleSource(name, await readBundle(join(BUNDLES, name))), {
    checks: CHECKS,
    failOn: 'warning',
    version: '0.0.0',
    now: new Date('2026-01-01T00:00:00Z'),
  })
  return {expect: readExpect(name), report}
}

export const isFailing = (status: string): boolean => status === 'error' || status === 'warning'

/** Ids of the checks that fail (error or warning), sorted. */
export function failingIds(report: DoctorReport): string[] {
  return report.checks
    .filter((c) => isFailing(c.status))
    .map((c) => c.id)
    .sort()
}
