/**
 * Live doctor against real kernel state: a namespace made to look like a healthy flannel vxlan node
 * passes `doctor --netns`; each injected fault gives exactly its expected check id; doctor changes
 * nothing; and without root it completes with `unknown` ("run as root") and exit 3.
 * Root only; every namespace is removed in `after`, also when a test fails.
 */
import assert from 'node:assert/strict'
import {after, before, describe, test} from 'node:test'

import type {DoctorReport} from '../../src/engine/doctor.js'
import {cli} from '../support/cli.js'
import {FAULTS, logPaths} from '../support/faults.js'
import {
  buildCluster,
  netnsSupport,
  removeNamespaces,
  snapshot,
  snapshotDiff,
  type Cluster,
} from '../support/netns.js'
import {assertValidReport} from '../support/schema.js'

// Unique per run: two suites on one machine (a CI job beside a developer) never share a namespace.
const PREFIX = `flt-lv${process.pid}-`
const support = await netnsSupport()
const skip = support.ok ? false : support.why

/** Where doctor finds node-1's files, and which node it is. */
function fileArgs(c: Cluster): string[] {
  const f = c.files('node-1')
  return [
    '--net-conf',
    f.netConf,
    '--subnet-env',
    f.subnetEnv,
    '--nodes-file',
    f.nodesFile,
    '--cni-dir',
    f.cniDir,
    '--node-name',
    'node-1',
  ]
}

/** doctor's arguments; logs (fixture paths) are scanned with --log, else the logs checks are skipped. */
function args(c: Cluster, logs: string[] = []): string[] {
  return [
    'doctor',
    '--netns',
    c.nsOf('node-1'),
    ...fileArgs(c),
    ...(logs.length > 0 ? logs.flatMap((l) => ['--log', l]) : ['--skip', 'logs']),
    '--fail-on',
    'warning',
    '--json',
  ]
}

async function doctor(c: Cluster, logs: string[] = []): Promise<{report: DoctorReport; code: number}> {
  const r = await cli(args(c, logs))
  assert.ok(r.stdout.trim().startsWith('{'), `doctor printed JSON (stderr: ${r.stderr})`)
  const report = JSON.parse(r.stdout) as DoctorReport
  assertValidReport(report)
  return {report, code: r.code}
}

const failingIds = (r: DoctorReport) =>
  r.checks
    .filter((c) => c.status === 'error' || c.status === 'warning')
    .map((c) => c.id)
    .sort()

const explainFailures = (r: DoctorReport) =>
  r.checks
    .filter((c) => c.status !== 'ok' && c.status !== 'skip')
    .map((c) => `${c.id} ${c.status}: ${c.findings.map((f) => f.message).join(' | ')}`)
    .join('\n')

describe('live doctor in a network namespace', {skip}, () => {
  before(() => removeNamespaces(PREFIX))
  after(() => removeNamespaces(PREFIX))

  test('a healthy vxlan node passes and doctor changes nothing', async () => {
    const c = await buildCluster({prefix: PREFIX})
    try {
      const ns = c.nsOf('node-1')
      const before = await snapshot(ns)
      const {report, code} = await doctor(c)
      assert.deepEqual(failingIds(report), [], explainFailures(report))
      assert.equal(report.summary.unknown, 0, explainFailures(report))
      assert.equal(code, 0)
      const afterSnap = await snapshot(ns)
      assert.ok(
        afterSnap === before,
        `doctor must not change the namespace:\n${snapshotDiff(before, afterSnap)}`,
      )
    } finally {
      await c.destroy()
    }
  })

  for (const f of FAULTS) {
    // A bundle-only fault edits collected evidence (e.g. an affected kernel release) that this machine's
    // kernel cannot show; its scenario bundle proves it (test/scenario).
    const bundleOnly = f.bundleOnly
      ? `bundle-only: this machine's kernel cannot show "${f.what}"; proven by its scenario bundle`
      : false
    test(`fault ${f.name} → ${f.expect.join(', ')}`, {skip: bundleOnly}, async () => {
      const c = await buildCluster({prefix: PREFIX, backend: f.backend ?? 'vxlan'})
      try {
        const baseline = (await doctor(c)).report
        await f.apply(c)
        const ns = c.nsOf('node-1')
        const before = await snapshot(ns)
        const {report, code} = await doctor(c, logPaths(f.logs))
        const afterSnap = await snapshot(ns)
        assert.ok(
          afterSnap === before,
          `doctor must not change the namespace:\n${snapshotDiff(before, afterSnap)}`,
        )
        assert.deepEqual(failingIds(report), [...f.expect].sort(), explainFailures(report))
        assert.equal(code, 1)
        // The fault must add a finding of its own, not only repeat what the baseline already said.
        const said = new Set(baseline.checks.flatMap((x) => x.findings.map((y) => `${x.id} ${y.message}`)))
        const fresh = report.checks
          .filter((x) => f.expect.includes(x.id))
          .flatMap((x) =>
            x.findings
              .filter((y) => y.status === 'error' || y.status === 'warning')
              .map((y) => `${x.id} ${y.message}`),
          )
          .filter((s) => !said.has(s))
        assert.ok(fresh.length > 0, `fault ${f.name} produced no new finding`)
        for (const id of f.expect) {
          const ch = report.checks.find((x) => x.id === id)
          assert.ok(
            ch?.findings.some((y) => (y.fix?.length ?? 0) > 0 || y.status === 'warning'),
            `${id} offers a fix`,
          )
        }
      } finally {
        await c.destroy()
      }
    })
  }

  test('without root: completes, marks root-only evidence unknown with "run as root", exits 3', async () => {
    const c = await buildCluster({prefix: PREFIX})
    try {
      const r = await cli(['doctor', ...fileArgs(c), '--skip', 'logs', '--json'], {
        wrap: [
          'ip',
          'netns',
          'exec',
          c.nsOf('node-1'),
          'setpriv',
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
        ],
      })
      assert.equal(r.code, 3, `stderr: ${r.stderr}\n${r.stdout.slice(0, 2000)}`)
      const report = JSON.parse(r.stdout) as DoctorReport
      assertValidReport(report)
      assert.equal(report.result, 'incomplete')
      assert.deepEqual(failingIds(report), [], explainFailures(report))
      const fwd = report.checks.find((x) => x.id === 'node.forward-policy')
      assert.equal(fwd?.status, 'unknown')
      assert.ok(
        fwd?.findings.some((x) => x.hint === 'run as root'),
        JSON.stringify(fwd),
      )
    } finally {
      await c.destroy()
    }
  })
})
