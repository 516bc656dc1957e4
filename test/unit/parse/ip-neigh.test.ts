import assert from 'node:assert/strict'
import {test} from 'node:test'

import type {Neigh} from '../../../src/model.js'
import {parseIpNeigh} from '../../../src/parse/ip-neigh.js'
import {assertParseErrors, captures, fx, textAndJsonAgree} from './helpers.js'

const find = (ns: Neigh[], dst: string): Neigh => {
  const n = ns.find((x) => x.dst === dst)
  assert.ok(n, `no neighbour ${dst}`)
  return n
}

test('ip neigh (iproute2 6.1, node A): flannel peers are PERMANENT on flannel.1', () => {
  const ns = parseIpNeigh(fx('ip-neigh/iproute2-6.1.txt'))
  assert.deepEqual(
    ns.map((n) => `${n.dst} ${n.dev} ${n.lladdr} ${n.state.join(',')}`),
    [
      '10.244.7.0 flannel.1 0a:58:0a:f4:07:00 PERMANENT',
      '10.244.2.0 flannel.1 0a:58:0a:f4:02:00 PERMANENT',
      '10.244.1.2 cni0 f2:7a:95:fd:49:17 DELAY',
      '10.99.0.12 eth0 3a:3a:72:a6:93:6e REACHABLE',
    ],
  )
  assert.deepEqual(find(ns, '10.244.2.0'), {
    dst: '10.244.2.0',
    dev: 'flannel.1',
    lladdr: '0a:58:0a:f4:02:00',
    state: ['PERMANENT'],
    flags: [],
    raw: '10.244.2.0 dev flannel.1 lladdr 0a:58:0a:f4:02:00 PERMANENT',
  })
})

textAndJsonAgree(
  parseIpNeigh,
  [
    ['ip-neigh/iproute2-6.1.txt', 'ip-neigh/iproute2-6.1.json'],
    ['ip-neigh/flt-h-states.txt', 'ip-neigh/flt-h-states.json'],
    ['ip-neigh/flt-h-nud-all.txt', 'ip-neigh/flt-h-nud-all.json'],
    ['ip-neigh/flt-h-proxy.txt', 'ip-neigh/flt-h-proxy.json'],
  ],
  1,
)

test('states without lladdr, router and proxy flags, NOARP (flt-h capture)', () => {
  const ns = parseIpNeigh(fx('ip-neigh/flt-h-nud-all.txt'))
  assert.equal(ns.length, 16)
  const failed = find(ns, '10.99.0.20')
  assert.deepEqual(failed.state, ['FAILED'])
  assert.equal(failed.lladdr, undefined)
  assert.deepEqual(find(ns, '10.99.0.30').state, ['INCOMPLETE'])
  assert.deepEqual(find(ns, '10.99.0.22').state, ['NOARP'])
  assert.deepEqual(find(ns, '10.99.0.21').state, ['STALE'])
  const r = find(ns, 'fd00:99::12')
  assert.deepEqual(r.flags, ['router'])
  assert.deepEqual(r.state, ['REACHABLE'])
  const [proxy] = parseIpNeigh(fx('ip-neigh/flt-h-proxy.txt'))
  assert.deepEqual(proxy, {
    dst: '10.99.0.77',
    dev: 'eth0',
    state: [],
    flags: ['proxy'],
    raw: '10.99.0.77 dev eth0 proxy',
  })
})

test('ip neigh show dev X omits dev: left empty, entries still read', () => {
  const ns = parseIpNeigh(fx('ip-neigh/flt-h-dev.txt'))
  assert.equal(ns.length, 6)
  assert.ok(ns.every((n) => n.dev === ''))
  assert.equal(find(ns, '10.99.0.12').lladdr, '0a:58:0a:f4:02:00')
  // With the command pasted above the output, dev comes from it.
  const withPrompt = parseIpNeigh(`$ ip neigh show dev eth0\n${fx('ip-neigh/flt-h-dev.txt')}`)
  assert.ok(withPrompt.every((n) => n.dev === 'eth0'))
})

test('older iproute2 (two spaces before FAILED) from networkservicemesh/deployments-k8s#10581', () => {
  const ns = parseIpNeigh(fx('ip-neigh/nsm-10581-ip-neigh.txt'))
  assert.equal(ns.length, 22)
  assert.deepEqual(find(ns, '172.16.102.119').state, ['FAILED'])
  assert.equal(find(ns, '172.16.102.119').lladdr, undefined)
  assert.equal(find(ns, '172.16.102.119').dev, 'ens3')
  assert.deepEqual(find(ns, '2408:8631:c02:ffa2::d').flags, ['router'])
  assert.equal(ns.filter((n) => n.state.includes('STALE')).length, 15)
})

test('every neighbour capture parses with lower-case lladdr', () => {
  const files = captures('ip-neigh')
  assert.ok(files.length >= 10)
  for (const {file: f, text} of files) {
    for (const n of parseIpNeigh(text)) {
      if (n.lladdr !== undefined) assert.equal(n.lladdr, n.lladdr.toLowerCase(), f)
    }
  }
  const upper = fx('ip-neigh/iproute2-6.1.txt').replace('0a:58:0a:f4:02:00', '0A:58:0A:F4:02:00')
  assert.equal(find(parseIpNeigh(upper), '10.244.2.0').lladdr, '0a:58:0a:f4:02:00')
})

test('empty input is an empty list', () => {
  assert.deepEqual(parseIpNeigh(''), [])
  assert.deepEqual(parseIpNeigh('[]'), [])
})

test('other tools are ParseErrors naming the line and `ip neigh`', () => {
  assertParseErrors(
    parseIpNeigh,
    [
      [fx('ip-route/iproute2-6.1.txt'), 1, /route/],
      // A host route starts with an address too.
      [fx('ip-route/flt-h-multipath.txt').split('\n').slice(6).join('\n'), 1, /route/],
      [fx('bridge-fdb/iproute2-6.1.txt'), 1, /bridge fdb/],
      [fx('iptables/S.txt'), 1, /iptables/],
      [fx('ip-route/iproute2-6.1.json'), undefined, /dst|ip -j neigh/],
    ],
    /ip neigh/,
  )
})
