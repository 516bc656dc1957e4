/**
 * Live setup/teardown against real kernel state (root only; skipped otherwise). Namespaces carry the
 * prefix flt-st- and are removed in finally/after, also when a test fails.
 *
 * - Three bare nodes: --dry-run changes nothing; two rounds of setup make the peers' flannel.1
 *   addresses answer; a device with the wrong VNI is recreated; every node re-plans empty; doctor is
 *   clean; teardown removes exactly what setup created, and foreign entries survive byte for byte.
 * - The scope lock refuses a concurrent run and is taken over from a dead holder.
 * - Input errors exit 2 naming their doctor check, and leave nothing behind.
 * - Crash trials: `flannelctl setup` (its whole process group, children included) is SIGKILLed at a
 *   random point while it programs 200 peers; the journal must cover everything it left, a second run
 *   must converge, and teardown must then leave nothing of its own.
 */
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {existsSync, watch} from 'node:fs'
import {mkdir, readFile, writeFile} from 'node:fs/promises'
import {dirname, join} from 'node:path'
import {after, before, describe, test} from 'node:test'

import {CHECKS} from '../../src/checks/registry.js'
import {runDoctor, selectChecks, type DoctorReport} from '../../src/engine/doctor.js'
import {liveSource} from '../../src/facts/sources.js'
import {nodeFs} from '../../src/host/fs.js'
import {fileNodeSource} from '../../src/host/nodes-file.js'
import {execaRunner} from '../../src/host/runner.js'
import {scopeDir} from '../../src/host/state.js'
import type {Journal} from '../../src/setup/journal.js'
import {runSetup, runTeardown, type SetupOptions, type SetupResult} from '../../src/setup/setup.js'
import {VERSION} from '../../src/version.js'
import {cli} from '../support/cli.js'
import {
  buildCluster,
  DEFAULT_NODES,
  inNs,
  netnsSupport,
  ping,
  removeNamespaces,
  snapshot,
  snapshotDiff,
  type Cluster,
} from '../support/netns.js'
import {
  filesUnder,
  flannelLeftovers,
  FOREIGN,
  nodesJsonWith,
  plantForeign,
  stableSnapshot,
  syntheticPeers,
  withoutEmptyBuiltinChains,
} from '../support/setup-helpers.js'

// Unique per run: two suites on one machine never share a namespace.
const PREFIX = `flt-st${process.pid}-`
const support = await netnsSupport()
const skip = support.ok ? false : support.why
const BIN = new URL('../../bin/run.js', import.meta.url).pathname

const runner = execaRunner(10_000)

function setupArgs(
  c: Cluster,
  node: string,
  state: string,
  extra: string[] = [],
  nodesFile?: string,
): string[] {
  const f = c.files(node)
  return [
    'setup',
    '--net-conf',
    f.netConf,
    '--nodes-file',
    nodesFile ?? f.nodesFile,
    '--netns',
    c.nsOf(node),
    '--node-name',
    node,
    '--subnet-env',
    f.subnetEnv,
    '--state-dir',
    state,
    ...extra,
  ]
}

function parseJson<T>(r: {stdout: string; stderr: string; code: number}, what: string): T {
  assert.ok(r.stdout.trim().startsWith('{'), `${what} printed JSON (exit ${r.code}, stderr: ${r.stderr})`)
  return JSON.parse(r.stdout) as T
}

const journalPath = (state: string, ns: string) => join(scopeDir(state, ns), 'journal.json')

async function readJournal(state: string, ns: string): Promise<Journal | undefined> {
  const text = await readFile(journalPath(state, ns), 'utf8').catch(() => undefined)
  return text === undefined ? undefined : (JSON.parse(text) as Journal)
}

/** oclif's error text, unwrapped (it prefixes ` ›   ` and breaks long lines). */
const errText = (stderr: string) =>
  stderr
    .replace(/\s*›\s*/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()

const failing = (r: DoctorReport) =>
  r.checks
    .filter((x) => x.status === 'error' || x.status === 'warning')
    .map((x) => `${x.id} ${x.status}: ${x.findings.map((f) => f.message).join(' | ')}`)

describe('live setup and teardown', {skip}, () => {
  before(() => removeNamespaces(PREFIX))
  after(() => removeNamespaces(PREFIX))

  test('three bare nodes: dry run, two rounds, pods reach each other, re-plan empty, doctor clean, teardown exact', async () => {
    const c = await buildCluster({prefix: `${PREFIX}a-`, bare: true})
    try {
      const state = join(c.dir, 'state')
      const ns1 = c.nsOf('node-1')
      const f1 = c.files('node-1')
      await plantForeign(ns1, dirname(f1.subnetEnv))
      const baseline = await stableSnapshot(ns1)
      const baseFiles = await filesUnder(dirname(f1.subnetEnv))
      const nodesBefore = await readFile(f1.nodesFile, 'utf8')

      // --dry-run: the exact commands, and nothing changes (kernel, journal, files, nodes file).
      const snap = await snapshot(ns1)
      const dry = await cli(setupArgs(c, 'node-1', state, ['--dry-run']))
      assert.equal(dry.code, 0, dry.stderr)
      assert.match(
        dry.stdout,
        new RegExp(
          `^ip -n ${ns1} link add flannel\\.1 address \\S+ mtu 1450 type vxlan id 1 local 10\\.99\\.0\\.11 dev eth0 nolearning`,
          'm',
        ),
      )
      assert.match(dry.stdout, new RegExp(`^ip netns exec ${ns1} iptables-restore --noflush <<'EOF'$`, 'm'))
      const snapAfter = await snapshot(ns1)
      assert.ok(snapAfter === snap, `--dry-run changed the namespace:\n${snapshotDiff(snap, snapAfter)}`)
      assert.equal(existsSync(journalPath(state, ns1)), false, 'no journal after --dry-run')
      assert.equal(existsSync(f1.subnetEnv), false)
      assert.equal(await readFile(f1.nodesFile, 'utf8'), nodesBefore)

      // Two rounds: in the first, each node only learns the nodes set up before it.
      const peersIn: number[][] = []
      for (let round = 0; round < 2; round++) {
        const counts: number[] = []
        for (const n of c.nodes) {
          const r = await cli(setupArgs(c, n.name, state, ['--json']))
          assert.equal(r.code, 0, `${n.name} round ${round + 1}: ${r.stderr}`)
          const res = parseJson<SetupResult>(r, 'setup --json')
          assert.equal(res.applied, res.plan.length > 0)
          assert.deepEqual(res.replan, [], `${n.name}: the re-plan after apply`)
          counts.push(res.plan.filter((o) => o.step === 'route').length)
        }
        peersIn.push(counts)
      }
      assert.deepEqual(peersIn, [
        [0, 1, 2],
        [2, 1, 0],
      ])
      for (const n of c.nodes.slice(1)) {
        const vtep = n.subnet.replace(/\/24$/, '')
        assert.ok(await ping(ns1, vtep), `node-1 reaches ${n.name}'s flannel.1 address ${vtep}`)
      }
      assert.ok(await ping(c.nsOf('node-3'), '10.244.2.0'), "node-3 reaches node-2's flannel.1 address")

      // net-conf changes the VXLAN port: flannel cannot reuse a device with another dstport, so each node
      // deletes and recreates flannel.1 — which takes the peers' entries along — and programs them again.
      for (const n of c.nodes) {
        const conf = {Network: '10.244.0.0/16', EnableNFTables: false, Backend: {Type: 'vxlan', Port: 4789}}
        await writeFile(c.files(n.name).netConf, JSON.stringify(conf, null, 2) + '\n')
        const r = await cli(setupArgs(c, n.name, state, ['--json']))
        assert.equal(r.code, 0, `${n.name} with Port 4789: ${r.stdout}${r.stderr}`)
        const res = parseJson<SetupResult>(r, 'setup --json')
        assert.deepEqual(
          res.plan.map((o) => o.step),
          ['device', 'device', 'address', 'up', 'neigh', 'neigh', 'fdb', 'fdb', 'route', 'route'],
          res.plan.map((o) => o.display).join('\n'),
        )
        assert.match(res.plan[0]?.why ?? '', /dstport 8472, want 4789/)
        assert.deepEqual(res.replan, [], `${n.name}: the re-plan after recreating the device`)
      }
      const details = await inNs(ns1, ['ip', '-d', 'link', 'show', 'flannel.1'])
      assert.match(details, /dstport 4789/)
      for (const [from, to] of [
        ['node-1', '10.244.2.0'],
        ['node-2', '10.244.3.0'],
        ['node-3', '10.244.1.0'],
      ] as const)
        assert.ok(await ping(c.nsOf(from), to), `${from} reaches ${to} over port 4789`)

      // Every node plans nothing now.
      for (const n of c.nodes) {
        const r = await cli(setupArgs(c, n.name, state, ['--dry-run', '--json']))
        assert.equal(r.code, 0, r.stderr)
        const res = parseJson<SetupResult>(r, 'setup --dry-run --json')
        assert.deepEqual(
          res.plan.map((o) => o.display),
          [],
          `${n.name} re-plans empty`,
        )
      }

      // doctor agrees (no CNI config in a bare node, no logs).
      const d = await cli([
        'doctor',
        '--netns',
        ns1,
        '--net-conf',
        f1.netConf,
        '--subnet-env',
        f1.subnetEnv,
        '--nodes-file',
        f1.nodesFile,
        '--node-name',
        'node-1',
        '--skip',
        'cni,logs',
        '--fail-on',
        'warning',
        '--json',
      ])
      const report = parseJson<DoctorReport>(d, 'doctor --json')
      assert.deepEqual(failing(report), [])
      assert.equal(report.summary.unknown, 0)
      assert.equal(d.code, 0)

      // Teardown: nothing of setup's left, every foreign entry byte for byte as before.
      for (const n of c.nodes) {
        const r = await cli(['teardown', '--netns', c.nsOf(n.name), '--state-dir', state])
        assert.equal(r.code, 0, r.stderr)
        assert.deepEqual(await flannelLeftovers(c.nsOf(n.name)), [], `${n.name} after teardown`)
        assert.equal(existsSync(c.files(n.name).subnetEnv), false)
        assert.deepEqual(
          await filesUnder(scopeDir(state, c.nsOf(n.name))),
          [],
          'no journal, lock or temp file',
        )
      }
      const end = withoutEmptyBuiltinChains(await stableSnapshot(ns1))
      const base = withoutEmptyBuiltinChains(baseline)
      assert.ok(end === base, `teardown left a difference:\n${snapshotDiff(base, end)}`)
      assert.deepEqual(await filesUnder(dirname(f1.subnetEnv)), baseFiles)
      assert.equal(await readFile(join(dirname(f1.subnetEnv), FOREIGN.file), 'utf8'), FOREIGN.fileText)
      const ipt = await inNs(ns1, ['iptables-save'])
      assert.ok(ipt.includes(FOREIGN.forwardRule) && ipt.includes(`:${FOREIGN.chain} - `))
    } finally {
      await c.destroy()
    }
  })

  describe('one node with 200 peers', () => {
    const PEERS = 200
    let c: Cluster
    let ns: string
    let state: string
    let nodesFile: string
    let bareNodes: string
    let baseline: string
    let baseFiles: string[]
    const self = {name: 'node-1', ip: '10.99.0.11', podCIDR: '10.244.1.0/24'}

    before(async () => {
      c = await buildCluster({prefix: `${PREFIX}b-`, bare: true, nodes: [DEFAULT_NODES[0]!]})
      ns = c.nsOf('node-1')
      state = join(c.dir, 'state')
      nodesFile = join(c.dir, 'nodes-200.json')
      // 200 flannel peers on the underlay subnet (vxlan: one neighbour, FDB entry and route each).
      bareNodes = nodesJsonWith(
        self,
        syntheticPeers(PEERS, (i) => ({podCIDR: `10.244.${10 + i}.0/24`, publicIP: `10.99.0.${20 + i}`})),
      )
      await writeFile(nodesFile, bareNodes)
      await plantForeign(ns, dirname(c.files('node-1').subnetEnv))
      baseline = await stableSnapshot(ns)
      baseFiles = await filesUnder(dirname(c.files('node-1').subnetEnv))
      await mkdir(scopeDir(state, ns), {recursive: true})
    })
    after(() => c?.destroy())

    /** Teardown in-process, then: nothing of setup's own, foreign entries and files as before. */
    async function assertClean(what: string): Promise<void> {
      const t = await runTeardown({netns: ns, stateDir: state, dryRun: false}, {runner, fs: nodeFs})
      assert.equal(t.left, 0)
      assert.deepEqual(await flannelLeftovers(ns), [], what)
      assert.equal(existsSync(journalPath(state, ns)), false, `${what}: journal removed`)
      assert.equal(existsSync(c.files('node-1').subnetEnv), false, `${what}: subnet.env removed`)
      assert.deepEqual(await filesUnder(scopeDir(state, ns)), [], `${what}: no lock or temporary file left`)
      assert.deepEqual(await filesUnder(dirname(c.files('node-1').subnetEnv)), baseFiles, what)
      const now = withoutEmptyBuiltinChains(await stableSnapshot(ns))
      const base = withoutEmptyBuiltinChains(baseline)
      assert.ok(now === base, `${what}: teardown left a difference:\n${snapshotDiff(base, now)}`)
    }

    function options(o: Partial<SetupOptions> = {}): SetupOptions {
      const f = c.files('node-1')
      return {
        netConfPath: f.netConf,
        nodeName: 'node-1',
        nodes: fileNodeSource(nodesFile),
        netns: ns,
        subnetEnvPath: f.subnetEnv,
        stateDir: state,
        ipMasq: true,
        forwardRules: true,
        dryRun: false,
        ...o,
      }
    }

    test('the lock refuses a concurrent run naming its pid; a dead holder is taken over', async () => {
      const sleeper = spawn('sleep', ['60'], {stdio: 'ignore'})
      const pid = sleeper.pid
      assert.ok(pid)
      const exited = new Promise((r) => sleeper.once('exit', r))
      try {
        await writeFile(join(scopeDir(state, ns), 'lock'), `${pid}\n`)
        const snap = await snapshot(ns)
        const r = await cli(setupArgs(c, 'node-1', state, [], nodesFile))
        assert.equal(r.code, 2, r.stdout + r.stderr)
        assert.match(
          errText(r.stderr),
          new RegExp(`another flannelctl setup/teardown is running in this scope \\(pid ${pid},`),
        )
        const t = await cli(['teardown', '--netns', ns, '--state-dir', state])
        assert.equal(t.code, 2, t.stdout + t.stderr)
        assert.match(errText(t.stderr), new RegExp(`\\(pid ${pid},`))
        assert.equal(await snapshot(ns), snap, 'nothing was applied')
        assert.equal(existsSync(journalPath(state, ns)), false)
      } finally {
        sleeper.kill('SIGKILL')
        await exited
      }
      // The holder is gone: its lock is taken over, and released afterwards.
      const r = await cli(setupArgs(c, 'node-1', state, ['--json'], nodesFile))
      assert.equal(r.code, 0, r.stderr)
      const res = parseJson<SetupResult>(r, 'setup --json')
      assert.equal(res.tookOverLock, pid)
      assert.equal(res.plan.filter((o) => o.step === 'neigh').length, PEERS)
      assert.deepEqual(res.replan, [])
      assert.equal(existsSync(join(scopeDir(state, ns), 'lock')), false)
      await writeFile(nodesFile, bareNodes)
      await assertClean('after the lock test')
    })

    test('input errors exit 2 naming their check, as root or not, and leave nothing behind', async () => {
      const snap = await stableSnapshot(ns)
      const variant = async (name: string, text: string) => {
        const p = join(c.dir, name)
        await writeFile(p, text)
        return p
      }
      const noCidr = await variant('nodes-nocidr.json', nodesJsonWith({name: 'node-1', ip: '10.99.0.11'}, []))
      const outside = await variant(
        'nodes-outside.json',
        nodesJsonWith({...self, podCIDR: '10.250.1.0/24'}, []),
      )
      const cases: [string, string[], string | undefined, RegExp][] = [
        ['no podCIDR', [], noCidr, /pod cidr not assigned.*\(see doctor check kube\.podcidr-assigned\)/],
        [
          'podCIDR outside Network',
          [],
          outside,
          /doesn't contain "10\.250\.1\.0\/24".*kube\.podcidr-in-network/,
        ],
        [
          '--iface nosuch0',
          ['--iface', 'nosuch0'],
          nodesFile,
          /nosuch0.*\(see doctor check node\.interface\)/s,
        ],
      ]
      for (const [what, extra, file, want] of cases) {
        const r = await cli(setupArgs(c, 'node-1', state, extra, file))
        assert.equal(r.code, 2, `${what}: ${r.stdout}${r.stderr}`)
        assert.match(errText(r.stderr), want, what)
      }
      // Not root (uid 65534 inside the namespace): refused before anything is read or written.
      const nobody = await cli(setupArgs(c, 'node-1', state, [], nodesFile), {
        wrap: ['ip', 'netns', 'exec', ns, 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'],
      })
      assert.equal(nobody.code, 2, nobody.stdout + nobody.stderr)
      assert.match(errText(nobody.stderr), /run it as root/)
      const now = await stableSnapshot(ns)
      assert.ok(now === snap, `a refused setup changed the namespace:\n${snapshotDiff(snap, now)}`)
      assert.equal(existsSync(journalPath(state, ns)), false, 'no journal: nothing was applied')
      assert.equal(existsSync(c.files('node-1').subnetEnv), false)
      assert.equal(await readFile(nodesFile, 'utf8'), bareNodes, 'nothing published')
    })

    test('crash trials: SIGKILL at a random point of apply, then setup converges and teardown is exact', async (t) => {
      const TRIALS = 20
      const f = c.files('node-1')
      const dir = scopeDir(state, ns)
      const args = setupArgs(c, 'node-1', state, [], nodesFile)

      /** Run setup as a process group; kill the whole group `killAfter` ms after it took the lock. */
      async function run(
        killAfter?: number,
      ): Promise<{pid: number; killed: boolean; lockMs?: number; doneMs?: number}> {
        const child = spawn(process.execPath, [BIN, ...args], {detached: true, stdio: 'ignore'})
        const pid = child.pid
        assert.ok(pid)
        const t0 = performance.now()
        let lockMs: number | undefined
        let doneMs: number | undefined
        const watcher = watch(dir, (_e, name) => {
          if (name !== 'lock') return
          const now = performance.now() - t0
          if (lockMs === undefined) {
            lockMs = now
            if (killAfter !== undefined)
              setTimeout(() => {
                try {
                  process.kill(-pid, 'SIGKILL')
                } catch {
                  /* already exited */
                }
              }, killAfter)
          } else doneMs = now
        })
        const [code, signal] = await new Promise<[number | null, string | null]>((r) =>
          child.once('exit', (cd, sg) => r([cd, sg])),
        )
        watcher.close()
        if (signal === null) assert.equal(code, 0, 'an unkilled setup succeeds')
        const out: {pid: number; killed: boolean; lockMs?: number; doneMs?: number} = {
          pid,
          killed: signal === 'SIGKILL',
        }
        if (lockMs !== undefined) out.lockMs = lockMs
        if (doneMs !== undefined) out.doneMs = doneMs
        return out
      }

      const count = async (argv: string[], re: RegExp) =>
        (await inNs(ns, argv)).split('\n').filter((l) => re.test(l)).length

      /** Where the kill landed, read from what it left (journal, kernel, files). */
      async function killPoint(journal: Journal | undefined): Promise<string> {
        if (!journal) return 'before apply'
        const link = await count(['ip', '-o', 'link', 'show'], /: flannel\.1[:@]/)
        if (link === 0) return 'before the ip batch'
        const stage = (n: number, batch: string, next: string): string | undefined =>
          n === 0 ? next : n < PEERS ? `inside the ${batch} (${n}/${PEERS})` : undefined
        const neigh = await count(['ip', 'neigh', 'show', 'dev', 'flannel.1', 'nud', 'permanent'], /lladdr/)
        const inNeigh = stage(neigh, 'ip batch', 'inside the ip batch (device, 0 neighbours)')
        if (inNeigh) return inNeigh
        const fdb = await count(['bridge', 'fdb', 'show', 'dev', 'flannel.1'], / dst /)
        const inFdb = stage(fdb, 'bridge batch', 'between the ip and bridge batches')
        if (inFdb) return inFdb
        const routes = await count(['ip', 'route', 'show', 'dev', 'flannel.1'], /onlink/)
        const inRoutes = stage(routes, 'route batch', 'between the bridge and route batches')
        if (inRoutes) return inRoutes
        const ipt = await inNs(ns, ['iptables-save'])
        if (!ipt.includes('-j FLANNEL-FWD')) return 'before or inside iptables-restore'
        if (!existsSync(f.subnetEnv)) return 'writing subnet.env'
        if (
          !(await readFile(nodesFile, 'utf8')).includes('"flannel.alpha.coreos.com/public-ip": "10.99.0.11"')
        )
          return 'publishing the annotations'
        return 'after apply (re-plan)'
      }

      /** Write-ahead: everything of setup's own that exists is in the journal (teardown can find it). */
      async function assertCovered(journal: Journal | undefined, what: string): Promise<void> {
        const has = (pred: (e: Journal['entries'][number]) => boolean) => journal?.entries.some(pred) ?? false
        const links = await inNs(ns, ['ip', '-o', 'link', 'show'])
        if (/: flannel\.1[:@]/.test(links))
          assert.ok(
            has((e) => e.kind === 'link' && e.name === 'flannel.1'),
            `${what}: flannel.1 journaled`,
          )
        const ipt = await inNs(ns, ['iptables-save'])
        for (const [table, chain] of [
          ['nat', 'FLANNEL-POSTRTG'],
          ['filter', 'FLANNEL-FWD'],
        ] as const) {
          if (ipt.includes(`:${chain} `))
            assert.ok(
              has((e) => e.kind === 'ipt-chain' && e.chain === chain && e.table === table),
              `${what}: ${chain}`,
            )
          if (ipt.includes(`-j ${chain}\n`))
            assert.ok(
              has((e) => e.kind === 'ipt-rule' && e.rule.endsWith(`-j ${chain}`)),
              `${what}: jump to ${chain}`,
            )
        }
        if (existsSync(f.subnetEnv))
          assert.ok(
            has((e) => e.kind === 'file' && e.path === f.subnetEnv),
            `${what}: subnet.env`,
          )
        const routes = await inNs(ns, ['ip', 'route', 'show'])
        for (const l of routes.split('\n'))
          if (/^10\.244\./.test(l) && !l.includes('dev flannel.1'))
            assert.ok(
              has((e) => e.kind === 'route' && e.dst === l.split(' ')[0]),
              `${what}: ${l}`,
            )
      }

      // Calibrate the window on this machine: one run to the end, timed from taking the lock to releasing it.
      const cal = await run()
      assert.ok(cal.lockMs !== undefined && cal.doneMs !== undefined, 'the watcher saw the lock come and go')
      const window = (cal.doneMs - cal.lockMs) * 0.7
      await writeFile(nodesFile, bareNodes)
      await assertClean('after the calibration run')

      const hits: string[] = []
      let halfWritten = 0
      let emptyLocks = 0
      const doctorChecks = selectChecks(CHECKS, ['node.peers', 'node.vxlan-device', 'node.mtu'], [])
      for (let i = 0; i < TRIALS; i++) {
        const what = `trial ${i + 1}`
        await writeFile(nodesFile, bareNodes) // a node that never published (new VtepMAC each time)
        // Stratified: trial i kills somewhere in the i-th slice of the window.
        const delay = (window * (i + Math.random())) / TRIALS
        const k = await run(delay)
        const journal = await readJournal(state, ns)
        const point = k.killed ? await killPoint(journal) : 'finished before the kill'
        hits.push(point)
        const temps = [...(await filesUnder(dir)), ...(await filesUnder(dirname(f.subnetEnv)))].filter((x) =>
          x.endsWith('.tmp'),
        )
        halfWritten += temps.length
        await assertCovered(journal, what)
        // The dead run's lock: its pid, or empty when the kill fell between creating and writing it.
        const lockLeft = await readFile(join(dir, 'lock'), 'utf8').catch(() => undefined)

        // Converge: one more run, under the lock the dead process left.
        const res = await runSetup(options(), {runner, fs: nodeFs})
        assert.deepEqual(
          res.replan.map((o) => o.display),
          [],
          `${what} (${point}): re-plan after converging`,
        )
        // Only a run with something to do takes the lock; else the teardown below takes it over.
        if (lockLeft !== undefined && res.plan.length > 0)
          assert.equal(res.tookOverLock, lockLeft === '' ? undefined : k.pid, `${what}: the dead run's lock`)
        if (lockLeft === '') emptyLocks++
        const dry = await runSetup(options({dryRun: true}), {runner, fs: nodeFs})
        assert.deepEqual(
          dry.plan.map((o) => o.display),
          [],
          `${what}: a fresh plan is empty`,
        )
        const report = await runDoctor(
          liveSource(runner, nodeFs, {
            netns: ns,
            netConfPath: f.netConf,
            subnetEnvPath: f.subnetEnv,
            nodesFile,
            nodeName: 'node-1',
          }),
          {checks: doctorChecks, failOn: 'warning', version: VERSION},
        )
        assert.deepEqual(failing(report), [], `${what} (${point}): doctor`)
        assert.deepEqual(
          report.checks.map((x) => `${x.id} ${x.status}`).sort(),
          ['node.mtu ok', 'node.peers ok', 'node.vxlan-device ok'],
          `${what}: doctor`,
        )
        await assertClean(`${what} (${point})`)
      }
      const tally = new Map<string, number>()
      for (const h of hits) tally.set(h, (tally.get(h) ?? 0) + 1)
      const summary =
        `crash trials: ${TRIALS} SIGKILLs within ${window.toFixed(0)} ms of taking the lock — ` +
        [...tally].map(([k, v]) => `${k}: ${v}`).join(', ') +
        `; half-written temp files cleaned: ${halfWritten}; empty locks taken over: ${emptyLocks}`
      t.diagnostic(summary)
      console.log(summary)
      assert.ok(hits.filter((h) => h !== 'finished before the kill').length >= TRIALS / 2, summary)
    })
  })
})
