import assert from 'node:assert/strict'
import {test} from 'node:test'

import type {FdbEntry} from '../../../src/model.js'
import {parseBridgeFdb} from '../../../src/parse/bridge-fdb.js'
import {assertParseErrors, captures, fx, textAndJsonAgree} from './helpers.js'

const find = (es: FdbEntry[], mac: string, dev?: string): FdbEntry => {
  const e = es.find((x) => x.mac === mac && (dev === undefined || x.dev === dev))
  assert.ok(e, `no fdb entry ${mac} ${dev ?? ''}`)
  return e
}

test('bridge fdb show (iproute2 6.1, node A): one self permanent entry per flannel peer', () => {
  const es = parseBridgeFdb(fx('bridge-fdb/iproute2-6.1.txt'))
  assert.equal(es.length, 16)
  assert.deepEqual(find(es, '0a:58:0a:f4:02:00'), {
    mac: '0a:58:0a:f4:02:00',
    dev: 'flannel.1',
    dst: '10.99.0.12',
    self: true,
    permanent: true,
    flags: [],
    raw: '0a:58:0a:f4:02:00 dev flannel.1 dst 10.99.0.12 self permanent',
  })
  assert.equal(find(es, '0a:58:0a:f4:07:00').dst, '10.99.0.17')
  assert.deepEqual(
    es.filter((e) => e.dev === 'flannel.1').map((e) => e.mac),
    ['0a:58:0a:f4:07:00', '0a:58:0a:f4:02:00'],
  )
  // A learned entry on a bridge port: master key, no state.
  const learned = find(es, 'f2:7a:95:fd:49:17')
  assert.equal(learned.master, 'cni0')
  assert.equal(learned.self, false)
  assert.equal(learned.permanent, false)
  assert.deepEqual(learned.flags, [])
  assert.equal(find(es, '56:47:36:c7:fc:34').permanent, true)
  assert.equal(find(es, '56:47:36:c7:fc:34').master, 'cni0')
})

textAndJsonAgree(
  parseBridgeFdb,
  [
    ['bridge-fdb/iproute2-6.1.txt', 'bridge-fdb/iproute2-6.1.json'],
    ['bridge-fdb/flt-h.txt', 'bridge-fdb/flt-h.json'],
  ],
  16,
)

test('static entries, via and port on vxlan entries (flt-h capture)', () => {
  const es = parseBridgeFdb(fx('bridge-fdb/flt-h.txt'))
  const st = find(es, '0a:58:0a:f4:aa:01')
  assert.deepEqual(st.flags, ['static'])
  assert.equal(st.permanent, false)
  assert.equal(st.master, 'br0')
  assert.equal(find(es, '0a:58:0a:f4:aa:03').dst, '10.99.0.13')
  assert.equal(find(es, '00:00:00:00:00:00', 'vx-gbp').dst, '239.1.1.1')
  assert.equal(find(es, '00:00:00:00:00:00', 'vx-learn').dst, '10.99.0.12')
})

test('show dev X omits dev: empty, or taken from a pasted command line', () => {
  const es = parseBridgeFdb(fx('bridge-fdb/iproute2-6.1-dev.txt'))
  assert.deepEqual(
    es.map((e) => `${e.mac} ${e.dev || '(none)'} ${e.dst}`),
    ['0a:58:0a:f4:07:00 (none) 10.99.0.17', '0a:58:0a:f4:02:00 (none) 10.99.0.12'],
  )
  // flannel-io/flannel#1119: the prompt line `[root@k8s-master01 ~]# bridge fdb show dev flannel.1` was pasted too.
  const f = parseBridgeFdb(fx('bridge-fdb/flannel-1119-dev.txt'))
  assert.deepEqual(
    f.map((e) => `${e.mac} ${e.dev} ${e.dst} ${e.self} ${e.permanent}`),
    [
      'a2:05:9f:ac:40:da flannel.1 192.168.56.103 true true',
      '0e:22:e2:f3:09:04 flannel.1 192.168.56.103 true true',
      'ce:cf:6f:d7:c9:4c flannel.1 192.168.56.102 true true',
      '8e:32:8d:27:ac:9a flannel.1 192.168.56.102 true true',
    ],
  )
  const [k3s, ...none] = parseBridgeFdb(fx('bridge-fdb/k3s-1719-dev.txt'))
  assert.equal(none.length, 0)
  assert.equal(k3s?.mac, 'd6:ad:6b:77:37:eb')
  assert.equal(k3s?.dev, 'flannel.1')
  assert.equal(k3s?.dst, '192.168.1.73')
})

test('iproute2 3.x bridge fdb with vlan 0 (flannel-io/flannel#203)', () => {
  const es = parseBridgeFdb(fx('bridge-fdb/flannel-203-old.txt'))
  assert.equal(es.length, 9)
  const p = find(es, 'b2:b3:c4:3d:89:c3')
  assert.equal(p.vlan, 0)
  assert.equal(p.dev, 'veth603752d')
  assert.equal(p.permanent, true)
  assert.equal(p.self, false)
  const learned = find(es, '02:42:c0:a8:d0:02')
  assert.equal(learned.permanent, false)
  assert.deepEqual(learned.flags, [])
})

test('master as a flag (NTF_MASTER) and as the bridge name; upper-case MACs', () => {
  // Real lines, edited: iproute2 prints a bare `master` flag before `master BRIDGE`.
  const line = fx('bridge-fdb/iproute2-6.1.txt')
    .split('\n')
    .find((l) => l.includes('master cni0 permanent')) as string
  const [e] = parseBridgeFdb(line.replace('56:47:36:c7:fc:34', '56:47:36:C7:FC:34'))
  assert.equal(e?.mac, '56:47:36:c7:fc:34')
  const [g] = parseBridgeFdb(line.replace(' master cni0', ' master'))
  assert.ok(g)
  assert.equal(g.master, undefined)
  assert.deepEqual(g.flags, ['master'])
  assert.equal(g.permanent, true)
  const [h] = parseBridgeFdb(line.replace(' master cni0', ' extern_learn master master cni0'))
  assert.equal(h?.master, 'cni0')
  assert.deepEqual(h?.flags, ['extern_learn', 'master'])
})

test('every fdb capture parses with lower-case MACs', () => {
  const files = captures('bridge-fdb')
  assert.ok(files.length >= 9)
  for (const {file: f, text} of files) {
    const es = parseBridgeFdb(text)
    assert.ok(es.length > 0, f)
    for (const e of es) assert.equal(e.mac, e.mac.toLowerCase())
  }
})

test('empty input is an empty list', () => {
  assert.deepEqual(parseBridgeFdb(''), [])
  assert.deepEqual(parseBridgeFdb('[]'), [])
})

test('other tools are ParseErrors naming the line and `bridge fdb show`', () => {
  assertParseErrors(
    parseBridgeFdb,
    [
      [fx('ip-neigh/iproute2-6.1.txt'), 1, /neigh/],
      [fx('ip-link/iproute2-6.1.txt'), 1, /ip link/],
      [fx('iptables/save-b-healthy.txt'), 1, /iptables/],
      [fx('ip-neigh/iproute2-6.1.json'), undefined, /mac/],
      [fx('bridge-fdb/iproute2-6.1.txt').replace('dst 10.99.0.12', 'dst flannel'), 6, /dst/],
    ],
    /bridge fdb show/,
  )
})
