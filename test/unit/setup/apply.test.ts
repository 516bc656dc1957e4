import assert from 'node:assert/strict'
import {test} from 'node:test'

import type {HostFs} from '../../../src/host/fs.js'
import type {RunResult, Runner} from '../../../src/host/runner.js'
import {applyPlan, ApplyError, batches, displayOp} from '../../../src/setup/apply.js'
import {emptyJournal, type Journal} from '../../../src/setup/journal.js'
import type {Op} from '../../../src/setup/plan.js'

/** A hand-written fake runner: records every call, answers from a function. */
function fakeRunner(
  answer: (argv: readonly string[], input: string) => Partial<RunResult> = () => ({}),
): Runner & {calls: {argv: string[]; input: string}[]} {
  const calls: {argv: string[]; input: string}[] = []
  return {
    calls,
    async run(argv, opts) {
      calls.push({argv: [...argv], input: opts?.input ?? ''})
      return {
        argv: [...argv],
        outcome: 'ok',
        stdout: '',
        stderr: '',
        durationMs: 0,
        exitCode: 0,
        ...answer(argv, opts?.input ?? ''),
      }
    },
  }
}

const noFs = {} as HostFs
const nodes = {describe: 'test', list: async () => [], publish: async () => ({changed: true})}

const ops: Op[] = [
  {
    step: 'device',
    tool: 'ip',
    input: 'link add flannel.1 type vxlan id 1',
    display: 'ip link add flannel.1 type vxlan id 1',
    why: 'x',
    creates: [{kind: 'link', name: 'flannel.1'}],
  },
  {
    step: 'neigh',
    tool: 'ip',
    input: 'neigh replace 10.244.2.0 lladdr aa:bb:cc:dd:ee:ff dev flannel.1 nud permanent',
    display: 'ip neigh ...',
    why: 'x',
    creates: [{kind: 'neigh', dev: 'flannel.1', dst: '10.244.2.0'}],
  },
  {
    step: 'fdb',
    tool: 'bridge',
    input: 'fdb replace aa:bb:cc:dd:ee:ff dev flannel.1 dst 10.0.0.2 self permanent',
    display: 'bridge fdb ...',
    why: 'x',
    creates: [{kind: 'fdb', dev: 'flannel.1', mac: 'aa:bb:cc:dd:ee:ff'}],
  },
  {
    step: 'route',
    tool: 'ip',
    input: 'route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink',
    display: 'ip route ...',
    why: 'x',
    creates: [{kind: 'route', dst: '10.244.2.0/24'}],
  },
]

test('one process per batch of consecutive ops, in order, inside the namespace', async () => {
  assert.deepEqual(
    batches(ops).map((b) => [b.tool, b.ops.length]),
    [
      ['ip', 2],
      ['bridge', 1],
      ['ip', 1],
    ],
  )
  const runner = fakeRunner()
  let journal: Journal = emptyJournal('netns n1')
  const saved: number[] = []
  await applyPlan(ops, {
    runner,
    fs: noFs,
    nodes,
    nodeName: 'n1',
    netns: 'n1',
    journal: {
      get: () => journal,
      save: async (j) => {
        journal = j
        saved.push(j.entries.length)
      },
    },
  })
  assert.deepEqual(
    runner.calls.map((c) => c.argv),
    [
      ['ip', '-n', 'n1', '-batch', '-'],
      ['bridge', '-n', 'n1', '-batch', '-'],
      ['ip', '-n', 'n1', '-batch', '-'],
    ],
  )
  assert.equal(runner.calls[0]?.input, `${ops[0]?.input}\n${ops[1]?.input}\n`)
  // Write-ahead: the journal grows before each batch runs.
  assert.deepEqual(saved, [2, 3, 4])
  assert.equal(displayOp(ops[0] as Op, 'n1'), 'ip -n n1 link add flannel.1 type vxlan id 1')
})

test('a kernel without VXLAN gives a message naming node.vxlan-device, and the journal already covers the batch', async () => {
  const runner = fakeRunner((argv) =>
    argv[0] === 'ip'
      ? {outcome: 'failed', exitCode: 2, stderr: 'Error: Unknown device type.\nCommand failed -:1\n'}
      : {},
  )
  let journal: Journal = emptyJournal('host')
  await assert.rejects(
    applyPlan(ops, {
      runner,
      fs: noFs,
      nodes,
      nodeName: 'n1',
      journal: {
        get: () => journal,
        save: async (j) => {
          journal = j
        },
      },
    }),
    (e: unknown) =>
      e instanceof ApplyError && /no VXLAN support/.test(e.message) && /node\.vxlan-device/.test(e.message),
  )
  assert.equal(runner.calls.length, 1, 'stops at the failed batch')
  assert.deepEqual(
    journal.entries.map((e) => e.kind),
    ['link', 'neigh'],
  )
})
