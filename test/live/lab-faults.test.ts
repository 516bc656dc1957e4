/**
 * The fault matrix against the real kernel: a 3-node lab built by `labUp`, doctor clean; then every vxlan
 * fault of the catalogue in turn — `labFault` puts it in, `labDoctor` must report exactly its expected
 * check ids (error or warning, across all nodes) and nothing else, `labHeal` must bring back a clean doctor
 * (and, for faults that break pod traffic, a probe where every pod reaches every pod). One lab serves all
 * faults while heal keeps it clean; a lab that heal could not bring back is rebuilt. Then stacked faults on
 * several nodes healed at once, the CLI over the same lab, and the ipsec faults on an ipsec lab (no ESP
 * SAs on this kernel, so node.xfrm already fails at baseline: each fault must add a finding of its own
 * and heal must take exactly that away again).
 * Prints the matrix and the score. Root only; unique lab names (flt-f<pid>…), removed in `after`, which
 * checks that no namespace of them is left.
 */
import assert from 'node:assert/strict'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, test} from 'node:test'

import {CHECKS} from '../../src/checks/registry.js'
import {nodeFs} from '../../src/host/fs.js'
import {execaRunner} from '../../src/host/runner.js'
import {FAULTS, type Fault} from '../../src/lab/faults.js'
import {labFault, labHeal} from '../../src/lab/heal.js'
import {
  labDoctor,
  labDown,
  labProbe,
  labStatus,
  labUp,
  cniRepairLines,
  LabError,
  type LabDeps,
  type LabDoctorResult,
} from '../../src/lab/lab.js'
import {
  buildTopology,
  labPrefix,
  LAB_BACKENDS,
  type LabBackend,
  type LabNode,
} from '../../src/lab/topology.js'
import {cli} from '../support/cli.js'
import {namespacesWithPrefix, netnsSupport} from '../support/netns.js'

const support = await netnsSupport()
const skip = support.ok ? false : support.why

const BASE = `f${process.pid}`
const names = {vxlan: `${BASE}v`, hostgw: `${BASE}h`, ipsec: `${BASE}s`}
let stateRoot = ''
const deps: LabDeps = {runner: execaRunner(20_000), fs: nodeFs}

interface Row {
  fault: string
  backend: LabBackend
  expect: string[]
  got: string[]
  detected: boolean
  healed: boolean
  note?: string
}
const rows: Row[] = []

const sorted = (xs: Iterable<string>): string[] => [...new Set(xs)].sort()

/** Check ids at error or warning level on any node. */
function failingIds(d: LabDoctorResult): string[] {
  return sorted(
    d.nodes.flatMap((n) =>
      n.report.checks.filter((c) => c.status === 'error' || c.status === 'warning').map((c) => c.id),
    ),
  )
}

/** Every error/warning finding, as `node id: message`. */
function findingLines(d: LabDoctorResult): string[] {
  return sorted(
    d.nodes.flatMap((n) =>
      n.report.checks.flatMap((c) =>
        c.findings
          .filter((f) => f.status === 'error' || f.status === 'warning')
          .map((f) => `${n.node} ${c.id}: ${f.message}`),
      ),
    ),
  )
}

/** Error, warning or unknown anywhere: a clean lab has none. */
function notClean(d: LabDoctorResult): string[] {
  return d.nodes.flatMap((n) =>
    n.report.checks
      .filter((c) => c.status === 'error' || c.status === 'warning' || c.status === 'unknown')
      .map((c) => `${n.node} ${c.id} ${c.status}: ${c.findings.map((f) => f.message).join(' | ')}`),
  )
}

const labNamespacesLeft = (name: string): Promise<string[]> => namespacesWithPrefix(labPrefix(name))

const doctor = (name: string): Promise<LabDoctorResult> =>
  labDoctor({name, stateRoot, failOn: 'warning'}, deps)

async function build(name: string, backend: LabBackend): Promise<void> {
  await labDown({name, stateRoot}, deps)
  await labUp({name, stateRoot, nodes: 3, podsPerNode: 1, backend}, deps)
}

/** Heal, then: doctor clean (and every pod reaching every pod after a data-path fault). Why not, or ''. */
async function healAndVerify(name: string, probe: boolean): Promise<string> {
  try {
    const h = await labHeal({name, stateRoot}, deps)
    if (h.rounds.at(-1)?.plans.some((p) => p.ops > 0)) return 'setup did not converge'
  } catch (e) {
    return `heal failed: ${(e as Error).message}`
  }
  const left = notClean(await doctor(name))
  if (left.length > 0) return `doctor after heal: ${left.join('; ')}`
  if (probe) {
    const p = await labProbe({name, stateRoot, deadlineMs: 20_000}, deps)
    if (p.exitCode !== 0)
      return `probe after heal: ${[...p.pairs, ...p.df]
        .filter((x) => !x.ok)
        .map((x) => `${x.from} → ${x.to}: ${x.reason ?? 'failed'}`)
        .join('; ')}`
  }
  const s = await labStatus({name, stateRoot}, deps)
  if (s.faults.length > 0) return `lab status still lists ${s.faults.map((f) => f.name).join(', ')}`
  return ''
}

function printMatrix(): void {
  const w = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length))
  const fw = Math.max(5, ...rows.map((r) => r.fault.length))
  const ew = Math.max(12, ...rows.map((r) => r.expect.join(',').length))
  const gw = Math.max(7, ...rows.map((r) => r.got.join(',').length))
  const lines = [
    '',
    `${w('fault', fw)}  ${w('backend', 7)}  ${w('expected ids', ew)}  ${w('got ids', gw)}  detected  healed`,
  ]
  for (const r of rows)
    lines.push(
      `${w(r.fault, fw)}  ${w(r.backend, 7)}  ${w(r.expect.join(','), ew)}  ${w(r.got.join(','), gw)}  ${w(r.detected ? 'yes' : 'NO', 8)}  ${r.healed ? 'yes' : 'NO'}${r.note ? `  (${r.note})` : ''}`,
    )
  const m = rows.length
  const detected = rows.filter((r) => r.detected).length
  const healed = rows.filter((r) => r.healed).length
  lines.push('', `${detected}/${m} faults detected exactly, ${healed}/${m} healed`, '')
  process.stdout.write(lines.join('\n') + '\n')
}

describe('the fault catalogue and the CNI repair (no root needed)', () => {
  test('unique names; every expected id is a check of the registry; backends are lab backends', () => {
    const ids = new Set(CHECKS.map((c) => c.id))
    assert.equal(new Set(FAULTS.map((f) => f.name)).size, FAULTS.length)
    for (const f of FAULTS) {
      assert.ok(f.expect.length > 0, f.name)
      assert.deepEqual(
        f.expect.filter((id) => !ids.has(id)),
        [],
        `${f.name}: ids not in the registry`,
      )
      assert.ok(f.backends.length > 0 && f.backends.every((b) => LAB_BACKENDS.includes(b)), f.name)
      // A fault with consequential ids names each of them in its one line, with the reason.
      assert.deepEqual(
        f.expect.slice(1).filter((id) => !f.what.includes(id)),
        [],
        `${f.name}: what names the consequential ids`,
      )
    }
    for (const name of [
      'forward-drop',
      'forward-drop-nft',
      'block-overlay-port',
      'mtu-veth',
      'mtu-subnet-env',
      'mtu-flannel-device',
      'stale-fdb',
      'missing-neigh',
      'missing-route',
      'subnet-env-missing',
      'cni0-conflict',
      'podcidr-missing',
      'podcidr-outside-network',
      'duplicate-public-ip',
      'netconf-comment',
      'netconf-typo',
      'ip-forward-off',
      'xfrm-missing-policy',
      'xfrm-stale-policy',
      'vxlan-wrong-vni',
    ])
      assert.ok(
        FAULTS.some((f) => f.name === name),
        `the catalogue has ${name}`,
      )
  })

  test('wiring an existing node: nothing when right; MTU fixed; a conflicting cni0 recreated and the pods re-attached', () => {
    const n = buildTopology({name: 'u', podsPerNode: 2}).nodes[1] as LabNode
    const env = {subnet: '10.244.2.1/24', mtu: 1450}
    const good = {
      cni0: {mtu: 1450, up: true, addrs: ['10.244.2.1/24']},
      veths: {
        vethpod0: {mtu: 1450, up: true, master: 'cni0'},
        vethpod1: {mtu: 1450, up: true, master: 'cni0'},
      },
    }
    assert.deepEqual(cniRepairLines(n, env, good), [])
    assert.deepEqual(
      cniRepairLines(n, env, {
        ...good,
        veths: {...good.veths, vethpod1: {mtu: 1500, up: true, master: 'cni0'}},
      }),
      ['link set vethpod1 mtu 1450'],
    )
    assert.deepEqual(
      cniRepairLines(n, env, {...good, cni0: {mtu: 1450, up: true, addrs: ['10.244.250.1/24']}}),
      [
        'link del cni0',
        'link add cni0 mtu 1450 type bridge',
        'addr add 10.244.2.1/24 dev cni0',
        'link set cni0 up',
        'link set vethpod0 master cni0',
        'link set vethpod0 type bridge_slave hairpin on',
        'link set vethpod1 master cni0',
        'link set vethpod1 type bridge_slave hairpin on',
        'link set cni0 mtu 1450',
      ],
    )
    // A node whose wiring is gone (flannel never ran there) gets cni0 and the veths anew.
    const gone = cniRepairLines(n, env, {veths: {vethpod0: {mtu: 1450, up: false}}})
    assert.equal(gone[0], 'link add cni0 mtu 1450 type bridge')
    assert.ok(gone.includes('link set vethpod0 master cni0'))
    assert.ok(gone.includes('link set vethpod0 up'))
    assert.ok(
      gone.includes('link add vethpod1 mtu 1450 type veth peer name eth0 mtu 1450 netns flt-u-node-2-pod1'),
    )
  })
})

describe('lab fault / lab heal: the fault matrix (network namespaces, real setup and doctor)', {skip}, () => {
  before(async () => {
    stateRoot = await mkdtemp(join(tmpdir(), 'flt-faults-test-'))
  })
  after(async () => {
    printMatrix()
    for (const name of Object.values(names)) {
      await labDown({name, stateRoot}, deps).catch(() => undefined)
      assert.deepEqual(await labNamespacesLeft(name), [], `no namespace of lab ${name} is left`)
    }
    await rm(stateRoot, {recursive: true, force: true})
  })

  /** Every fault of this backend on one lab: apply, doctor, heal, verify; rebuild when heal fails. */
  async function matrix(name: string, backend: LabBackend): Promise<Row[]> {
    await build(name, backend)
    assert.deepEqual(notClean(await doctor(name)), [], 'the fresh lab is clean')
    const out: Row[] = []
    for (const f of FAULTS.filter((x) => x.backends.includes(backend))) {
      const r = await labFault({name, stateRoot, fault: f.name}, deps)
      assert.equal(r.node, 'node-1')
      const got = failingIds(await doctor(name))
      const why = await healAndVerify(name, f.dataPath ?? false)
      const row: Row = {
        fault: f.name,
        backend,
        expect: sorted(f.expect),
        got,
        detected: JSON.stringify(got) === JSON.stringify(sorted(f.expect)),
        healed: why === '',
      }
      if (why) {
        row.note = why
        await build(name, backend)
      }
      out.push(row)
    }
    rows.push(...out)
    return out
  }

  const wrong = (rs: Row[]): string[] =>
    rs
      .filter((r) => !(r.detected && r.healed))
      .map(
        (r) =>
          `${r.fault}: expected ${r.expect.join(',')}, got ${r.got.join(',')}${r.note ? ` — ${r.note}` : ''}`,
      )

  test('every vxlan fault: detected with exactly its ids, healed back to a clean doctor and full reach', async () => {
    const rs = await matrix(names.vxlan, 'vxlan')
    assert.ok(rs.length >= 25, `${rs.length} vxlan faults`)
    assert.deepEqual(wrong(rs), [])
  })

  test('stacked faults on three nodes: the union of their ids, one heal undoes them all', async () => {
    const name = names.vxlan
    const stack: [string, string][] = [
      ['vxlan-wrong-vni', 'node-3'],
      ['forward-drop', 'node-2'],
      ['cni0-conflict', 'node-2'],
      ['cni-other-first', 'node-1'],
      ['missing-route', 'node-1'],
    ]
    for (const [fault, node] of stack) await labFault({name, stateRoot, fault, node}, deps)
    const st = await labStatus({name, stateRoot}, deps)
    assert.deepEqual(
      st.faults.map((f) => `${f.name}@${f.node}`),
      stack.map(([f, n]) => `${f}@${n}`),
    )
    // The same fault twice on one node is refused (exit 2); another node is fine.
    await assert.rejects(
      labFault({name, stateRoot, fault: 'forward-drop', node: 'node-2'}, deps),
      (e: Error) => e instanceof LabError && e.exitCode === 2 && /already active/.test(e.message),
    )
    const expect = sorted(stack.flatMap(([f]) => FAULTS.find((x) => x.name === f)?.expect ?? []))
    const got = failingIds(await doctor(name))
    const p = await labProbe({name, stateRoot, deadlineMs: 20_000}, deps)
    assert.ok(p.counts.failed > 0, 'the stacked faults break pod traffic')
    const why = await healAndVerify(name, true)
    rows.push({
      fault: `stacked (${stack.length}, node-1..3)`,
      backend: 'vxlan',
      expect,
      got,
      detected: JSON.stringify(got) === JSON.stringify(expect),
      healed: why === '',
      ...(why ? {note: why} : {}),
    })
    assert.deepEqual(got, expect)
    assert.equal(why, '')
  })

  test('the CLI: lab fault --list, lab fault --node, lab status, lab heal; refusals exit 2', async () => {
    const name = names.vxlan
    const common = ['--name', name, '--state-dir', stateRoot]
    const list = await cli(['lab', 'fault', '--list', '--json'])
    assert.equal(list.code, 0, list.stderr)
    const cat = JSON.parse(list.stdout) as {faults: {name: string; expect: string[]}[]}
    assert.deepEqual(
      cat.faults.map((f) => f.name),
      FAULTS.map((f) => f.name),
    )
    assert.deepEqual(cat.faults.find((f) => f.name === 'podcidr-outside-network')?.expect, [
      'kube.podcidr-in-network',
      'node.subnet-env',
    ])
    const text = await cli(['lab', 'fault', '--list'])
    assert.match(text.stdout, /stale-fdb\s+│ node\.peers/)

    const f = await cli(['lab', 'fault', 'missing-neigh', '--node', '2', '--json', ...common])
    assert.equal(f.code, 0, f.stderr)
    const applied = JSON.parse(f.stdout) as {lab: string; fault: string; node: string; expect: string[]}
    assert.deepEqual(
      [applied.lab, applied.fault, applied.node, applied.expect],
      [name, 'missing-neigh', 'node-2', ['node.peers']],
    )
    const st = await cli(['lab', 'status', ...common])
    assert.match(st.stdout, /active faults: missing-neigh on node-2 — flannelctl lab heal/)
    const doc = await cli(['lab', 'doctor', '--json', ...common])
    assert.equal(doc.code, 1)
    assert.deepEqual((JSON.parse(doc.stdout) as {failing: string[]}).failing, ['node.peers'])

    for (const args of [
      ['lab', 'fault', 'no-such-fault', ...common],
      ['lab', 'fault', 'missing-neigh', '--node', 'node-9', ...common],
      ['lab', 'fault', 'xfrm-stale-policy', ...common],
      ['lab', 'fault', ...common],
    ]) {
      const r = await cli(args)
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
    }
    const nf = await cli(['lab', 'fault', 'xfrm-stale-policy', ...common])
    // oclif wraps the message over lines that start with ` ›`.
    const msg = nf.stderr.replace(/\s*›\s+/g, ' ')
    assert.match(msg, /needs a lab with backend ipsec; lab "[^"]+" runs vxlan \(lab up --backend ipsec\)/)

    const h = await cli(['lab', 'heal', '--json', ...common])
    assert.equal(h.code, 0, h.stderr)
    const healed = JSON.parse(h.stdout) as {healed: {name: string; node: string}[]; rounds: unknown[]}
    assert.deepEqual(
      healed.healed.map((x) => `${x.name}@${x.node}`),
      ['missing-neigh@node-2'],
    )
    assert.deepEqual(notClean(await doctor(name)), [])
    // Heal on a clean lab changes nothing: one setup round with an empty plan, no file restored.
    const again = await labHeal({name, stateRoot}, deps)
    assert.deepEqual(again.healed, [])
    assert.deepEqual(again.restored, [])
    assert.deepEqual(
      again.rounds.map((r) => r.plans.reduce((a, p) => a + p.ops, 0)),
      [0],
    )
  })

  test('every host-gw fault on a host-gw lab: the same, then the lab is removed', async () => {
    const rs = await matrix(names.hostgw, 'host-gw')
    assert.ok(rs.length >= 12, `${rs.length} host-gw faults`)
    assert.deepEqual(wrong(rs), [])
    await labDown({name: names.hostgw, stateRoot}, deps)
    assert.deepEqual(await labNamespacesLeft(names.hostgw), [])
  })

  test('ipsec faults: each adds its own node.xfrm finding to the baseline, heal takes exactly it away', async () => {
    const name = names.ipsec
    await build(name, 'ipsec')
    const base = await doctor(name)
    const baseLines = findingLines(base)
    // Only node.xfrm at baseline (no SAs on a kernel without ESP), or nothing at all where SAs exist.
    assert.ok(
      failingIds(base).every((id) => id === 'node.xfrm'),
      failingIds(base).join(','),
    )
    const faults = FAULTS.filter((f: Fault) => f.backends.includes('ipsec') && !f.backends.includes('vxlan'))
    assert.ok(faults.length >= 2)
    for (const f of faults) {
      await labFault({name, stateRoot, fault: f.name, node: 'node-1'}, deps)
      const d = await doctor(name)
      const fresh = findingLines(d).filter((l) => !baseLines.includes(l))
      const got = failingIds(d)
      const idsOk = got.every((id) => f.expect.includes(id)) && f.expect.every((id) => got.includes(id))
      const ownOk = fresh.length > 0 && fresh.every((l) => f.expect.some((id) => l.includes(` ${id}: `)))
      let healed = false
      let note = ''
      try {
        await labHeal({name, stateRoot}, deps)
        const after = findingLines(await doctor(name))
        healed = JSON.stringify(after) === JSON.stringify(baseLines)
        if (!healed) note = `after heal: ${after.filter((l) => !baseLines.includes(l)).join('; ')}`
      } catch (e) {
        note = `heal failed: ${(e as Error).message}`
      }
      if (!idsOk || !ownOk) note = `new findings: ${fresh.join('; ') || 'none'} ${note}`.trim()
      const row: Row = {
        fault: f.name,
        backend: 'ipsec',
        expect: sorted(f.expect),
        got,
        detected: idsOk && ownOk,
        healed,
      }
      if (note) row.note = note
      rows.push(row)
      if (!healed) await build(name, 'ipsec')
    }
    const bad = rows.filter((r) => r.backend === 'ipsec' && !(r.detected && r.healed))
    assert.deepEqual(
      bad.map((r) => `${r.fault}: ${r.note ?? ''}`),
      [],
    )
    await labDown({name, stateRoot}, deps)
    assert.deepEqual(await labNamespacesLeft(name), [])
  })
})
