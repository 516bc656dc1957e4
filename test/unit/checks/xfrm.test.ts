import assert from 'node:assert/strict'
import {test} from 'node:test'

import {check} from '../../../src/checks/node/xfrm.js'
import {staticFacts, type StaticFactInput} from '../../../src/facts/static.js'
import type {KubeNode, XfrmState} from '../../../src/model.js'
import type {NetConfFact} from '../../../src/parse/netconf.js'
import {parseXfrmPolicy, parseXfrmState} from '../../../src/parse/xfrm.js'
import {flannelNode, netConfFact} from '../../support/builders.js'
import {fx} from './helpers.js'

const netConf = (type: string): NetConfFact =>
  netConfFact({backendType: type, backend: {PSK: 'a'.repeat(96)}}, {text: '{}'})

const node = (name: string, podCIDR: string, publicIP: string): KubeNode =>
  flannelNode(name, podCIDR, publicIP, {type: 'ipsec', vtepMac: null})

// The capture (scripts/capture-fixtures.sh): node A 10.244.1.0/24 at 10.99.0.11 with out/in/fwd for
// B 10.244.2.0/24 at 10.99.0.12, plus a stale out policy for 10.244.7.0/24 at 10.99.0.17.
const A = node('node-a', '10.244.1.0/24', '10.99.0.11')
const B = node('node-b', '10.244.2.0/24', '10.99.0.12')
const C = node('node-c', '10.244.7.0/24', '10.99.0.17')
const POLICIES = parseXfrmPolicy(fx('ip-xfrm-policy/iproute2-6.1.txt'))
// This kernel has no ESP, so the SAs cannot be captured here; these are the two SAs of the capture script
// (`ip xfrm state add src 10.99.0.11 dst 10.99.0.12 proto esp spi 0xc1000001 reqid 11 mode tunnel ...` and back),
// in the shape of flannel-io/flannel#1027's `ip xfrm sa` header + proto line.
const SA = (src: string, dst: string, spi: string): XfrmState =>
  parseXfrmState(`src ${src} dst ${dst}\n\tproto esp spi ${spi} reqid 11 mode tunnel\n`)[0] as XfrmState
const STATES = [SA('10.99.0.11', '10.99.0.12', '0xc1000001'), SA('10.99.0.12', '10.99.0.11', '0xc1000002')]

const run = (f: StaticFactInput) =>
  check.evaluate(
    staticFacts({netConf: netConf('ipsec'), host: {nodeName: 'node-a', origin: 'test'}, ...f}, 'bundle'),
  )

test('node.xfrm: the captured policies + both SAs: peer B ok, the stale 10.244.7.0/24 policy is an error', () => {
  const fs = run({xfrmPolicies: POLICIES, xfrmStates: STATES, nodes: [A, B]})
  assert.deepEqual(
    fs.map((f) => [f.status, f.subject]),
    [
      ['ok', 'node node-b'],
      ['error', 'leftover policies'],
    ],
  )
  assert.equal(
    fs[0]?.message,
    'Peer node-b: out/in/fwd policies (reqid 11) 10.244.1.0/24 ↔ 10.244.2.0/24 via 10.99.0.11 ↔ 10.99.0.12 and an SA each way.',
  )
  assert.equal(
    fs[1]?.message,
    '1 flannel xfrm policy belongs to no current node: 10.244.7.0/24 at 10.99.0.17; flannel never removes them.',
  )
  assert.deepEqual(fs[1]?.evidence, [
    {
      source: 'bundle',
      lines: [
        'src 10.244.1.0/24 dst 10.244.7.0/24',
        '\tdir out priority 0 ptype main',
        '\ttmpl src 10.99.0.11 dst 10.99.0.17',
        '\t\tproto esp reqid 11 mode tunnel',
      ],
    },
  ])
  assert.deepEqual(fs[1]?.fix, [
    'ip xfrm state flush && ip xfrm policy flush',
    'kubectl -n kube-flannel delete pod -l app=flannel --field-selector spec.nodeName=node-a',
  ])
})

test('node.xfrm: the real empty SA table (kernel without ESP) → no SA either way for B', () => {
  const fs = run({
    xfrmPolicies: POLICIES,
    xfrmStates: parseXfrmState(fx('ip-xfrm-state/iproute2-6.1.txt')),
    nodes: [A, B, C],
  })
  const b = fs.find((f) => f.subject === 'node node-b')
  assert.equal(b?.status, 'error')
  assert.equal(
    b?.message,
    'Peer node-b (10.244.2.0/24 at 10.99.0.12): no ESP SA 10.99.0.11 → 10.99.0.12 nor 10.99.0.12 → 10.99.0.11 (IKE not established: charon down, PSK mismatch, or UDP 500/4500 or ESP blocked).',
  )
  // With C in the cluster its out policy is used, but in/fwd are missing.
  const c = fs.find((f) => f.subject === 'node node-c')
  assert.equal(c?.status, 'error')
  assert.match(
    c?.message ?? '',
    /^Peer node-c \(10\.244\.7\.0\/24 at 10\.99\.0\.17\): no in 10\.244\.7\.0\/24 → 10\.244\.1\.0\/24 \(tunnel 10\.99\.0\.17 → 10\.99\.0\.11, esp reqid 11\) policy; no fwd /,
  )
  assert.equal(
    fs.some((f) => f.subject === 'leftover policies'),
    false,
  )
})

test('node.xfrm: a peer whose public IP changed → the templates are stale', () => {
  const moved = node('node-b', '10.244.2.0/24', '10.99.0.22')
  const fs = run({xfrmPolicies: POLICIES, xfrmStates: STATES, nodes: [A, moved]})
  const b = fs.find((f) => f.subject === 'node node-b')
  assert.equal(b?.status, 'error')
  assert.match(
    b?.message ?? '',
    /the out policy tunnels 10\.99\.0\.11 → 10\.99\.0\.12 instead of 10\.99\.0\.11 → 10\.99\.0\.22 \(stale public IP\)/,
  )
  assert.match(b?.message ?? '', /no ESP SA 10\.99\.0\.11 → 10\.99\.0\.22/)
  assert.ok(fs.some((f) => f.subject === 'leftover SAs' && f.status === 'warning'))
})

test('node.xfrm: vxlan → skip; no policies captured → unknown; SAs missing → policies checked, SAs unknown', () => {
  const skip = check.evaluate(staticFacts({netConf: netConf('vxlan'), xfrmPolicies: POLICIES, nodes: [A, B]}))
  assert.deepEqual(
    skip.map((f) => f.status),
    ['skip'],
  )
  assert.deepEqual(
    run({nodes: [A, B]}).map((f) => f.status),
    ['unknown'],
  )
  const noSa = run({xfrmPolicies: POLICIES, nodes: [A, B]})
  assert.deepEqual(
    noSa.map((f) => f.status),
    ['ok', 'error', 'unknown'],
  )
  assert.match(
    noSa[2]?.message ?? '',
    /The SAs \(ip xfrm state\) were not available: xfrmStates was not collected/,
  )
  // Which node am I? Neither a name nor an address → unknown.
  const anon = check.evaluate(staticFacts({netConf: netConf('ipsec'), xfrmPolicies: POLICIES, nodes: [A, B]}))
  assert.deepEqual(
    anon.map((f) => f.status),
    ['unknown'],
  )
})
