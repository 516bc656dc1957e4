import assert from 'node:assert/strict'
import {test} from 'node:test'

import type {ProbeId} from '../../../src/facts/probes.js'
import {
  bundleSource,
  type CaptureHint,
  type EvidenceSource,
  type RawCapture,
} from '../../../src/facts/sources.js'
import {collectFacts} from '../../../src/facts/store.js'

/** A hand-written fake source: answers from a map and records what was asked. */
function fakeSource(
  answers: Partial<Record<ProbeId, RawCapture>>,
): EvidenceSource & {asked: [ProbeId, CaptureHint | undefined][]} {
  const asked: [ProbeId, CaptureHint | undefined][] = []
  return {
    origin: 'fake',
    asked,
    async host() {
      return {origin: 'fake', nodeName: 'node-1'}
    },
    async capture(id, hint) {
      asked.push([id, hint])
      return answers[id] ?? {ok: false, state: 'not-collected', reason: `no ${id}`}
    },
  }
}

test('ethtool is asked about flannel.<VNI> from net-conf, after net-conf was read', async () => {
  const src = fakeSource({
    'net-conf': {
      ok: true,
      text: '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":4}}',
      source: 'nc.json',
      path: 'nc.json',
    },
    ethtool: {
      ok: true,
      text: 'Features for flannel.4:\ntx-checksum-ip-generic: on\n',
      source: 'ethtool -k flannel.4',
    },
  })
  const {facts} = await collectFacts(src, ['ethtool', 'netConf'])
  const eth = src.asked.find(([id]) => id === 'ethtool')
  assert.deepEqual(eth?.[1], {vxlanDevice: 'flannel.4'})
  assert.equal(src.asked.filter(([id]) => id === 'ethtool').length, 1, 'each probe runs once')
  const e = facts.get('ethtool')
  assert.ok(e.ok && e.value.features.get('tx-checksum-ip-generic')?.on === true)
})

test('a parse failure is unparseable evidence with the reason, not a crash', async () => {
  const src = fakeSource({
    'ip-route': {ok: true, text: '*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n', source: 'commands/ip-route.txt'},
  })
  const {facts} = await collectFacts(src, ['routes'])
  const r = facts.get('routes')
  assert.equal(r.ok, false)
  assert.ok(
    !r.ok && r.state === 'unparseable' && r.reason.startsWith('commands/ip-route.txt'),
    JSON.stringify(r),
  )
})

test('bundle: a file the manifest says was missing is absent; one never collected says how to add it', async () => {
  const files = new Map([
    [
      'manifest.json',
      JSON.stringify({
        format: 1,
        nodeName: 'n1',
        probes: {'subnet-env': {outcome: 'missing', path: '/run/flannel/subnet.env'}},
      }),
    ],
  ])
  const src = bundleSource('b', files)
  const env = await src.capture('subnet-env')
  assert.ok(!env.ok && env.state === 'absent' && /did not exist/.test(env.reason), JSON.stringify(env))
  const ipt = await src.capture('iptables')
  assert.ok(
    !ipt.ok && ipt.state === 'not-collected' && ipt.hint?.includes('iptables-save'),
    JSON.stringify(ipt),
  )
  assert.equal((await src.host()).nodeName, 'n1')
})

test('bundle: nodes may come as nodes.yaml or podcidrs.txt, logs as any logs/*.log', async () => {
  const src = bundleSource(
    'b',
    new Map([
      ['kubernetes/podcidrs.txt', 'node-1 10.244.1.0/24\n'],
      ['logs/flannel.log', 'x\n'],
      ['logs/kubelet.log', 'y\n'],
      ['logs/sub/ignored.log', 'z\n'],
    ]),
  )
  const nodes = await src.capture('nodes')
  assert.ok(nodes.ok && nodes.path === 'kubernetes/podcidrs.txt')
  const logs = await src.capture('logs')
  assert.ok(logs.ok)
  assert.deepEqual(logs.ok ? logs.files?.map((f) => f.name) : [], ['flannel.log', 'kubelet.log'])
})
