import assert from 'node:assert/strict'
import {test} from 'node:test'

import {ParseError} from '../../../src/parse/errors.js'
import {parseXfrmPolicy, parseXfrmState, redactXfrmKeys} from '../../../src/parse/xfrm.js'
import {fx} from './helpers.js'

test('ip xfrm policy (iproute2 6.1, node A): flannel shape, reqid 11, in capture order', () => {
  const ps = parseXfrmPolicy(fx('ip-xfrm-policy/iproute2-6.1.txt'))
  assert.deepEqual(
    ps.map(
      (p) =>
        `${p.dir} ${p.src}>${p.dst} via ${p.tmpls.map((t) => `${t.src}>${t.dst} ${t.proto} ${t.reqid} ${t.mode}`).join()}`,
    ),
    [
      'out 10.244.1.0/24>10.244.7.0/24 via 10.99.0.11>10.99.0.17 esp 11 tunnel',
      'fwd 10.244.2.0/24>10.244.1.0/24 via 10.99.0.12>10.99.0.11 esp 11 tunnel',
      'in 10.244.2.0/24>10.244.1.0/24 via 10.99.0.12>10.99.0.11 esp 11 tunnel',
      'out 10.244.1.0/24>10.244.2.0/24 via 10.99.0.11>10.99.0.12 esp 11 tunnel',
    ],
  )
  const first = ps[0]
  assert.equal(first?.priority, 0)
  assert.equal(first?.ptype, 'main')
  assert.equal(first?.line, 1)
  assert.equal(ps[1]?.line, 5)
  assert.equal(
    first?.raw,
    'src 10.244.1.0/24 dst 10.244.7.0/24\n\tdir out priority 0 ptype main\n\ttmpl src 10.99.0.11 dst 10.99.0.17\n\t\tproto esp reqid 11 mode tunnel',
  )
  assert.deepEqual(parseXfrmPolicy(fx('ip-xfrm-policy/iproute2-6.1-empty.txt')), [])
})

test('ip xfrm policy from Openswan#180: socket policies are marked, spaces as indentation work', () => {
  const ps = parseXfrmPolicy(fx('ip-xfrm-policy/openswan-180.txt'))
  assert.equal(ps.length, 11)
  assert.deepEqual(
    ps.slice(0, 3).map((p) => [p.dir, p.priority, p.socket, p.tmpls[0]?.reqid]),
    [
      ['out', 2344, undefined, 16385],
      ['fwd', 2344, undefined, 16385],
      ['in', 2344, undefined, 16385],
    ],
  )
  const sockets = ps.slice(3)
  assert.ok(sockets.every((p) => p.socket === true && p.tmpls.length === 0 && p.src === '0.0.0.0/0'))
  assert.deepEqual(
    sockets.map((p) => p.dir),
    ['out', 'in', 'out', 'in', 'out', 'in', 'out', 'in'],
  )
})

test('ip xfrm policy: transport templates (libreswan#340) and a mark + spi in the template (cilium docs)', () => {
  const lib = parseXfrmPolicy(fx('ip-xfrm-policy/libreswan-340.txt'))
  assert.equal(lib.length, 7)
  assert.deepEqual(lib[3], {
    src: '10.240.0.0/16',
    dst: '192.168.252.0/24',
    dir: 'out',
    priority: 2088910,
    ptype: 'main',
    tmpls: [{src: '0.0.0.0', dst: '0.0.0.0', proto: 'esp', reqid: 0, mode: 'transport'}],
    line: 13,
    raw: 'src 10.240.0.0/16 dst 192.168.252.0/24\n\tdir out priority 2088910 ptype main\n\ttmpl src 0.0.0.0 dst 0.0.0.0\n\t\tproto esp reqid 0 mode transport',
  })
  const [cil] = parseXfrmPolicy(fx('ip-xfrm-policy/cilium-xfrm-guide.txt'))
  assert.deepEqual(cil?.tmpls, [
    {src: '10.56.0.17', dst: '10.56.1.238', proto: 'esp', reqid: 1, mode: 'tunnel'},
  ])
})

test('ip xfrm state: flannel#1027 (reqid 11), moby#45635 (-s form), cilium docs (aead + sel)', () => {
  const [fl] = parseXfrmState(fx('ip-xfrm-state/flannel-1027-ip-xfrm-sa.txt'))
  assert.deepEqual(fl, {
    src: '10.193.37.153',
    dst: '10.193.37.216',
    proto: 'esp',
    spi: '0xc41726d2',
    reqid: 11,
    mode: 'tunnel',
    algorithms: [],
    line: 1,
    raw: 'src 10.193.37.153 dst 10.193.37.216\n        proto esp spi 0xc41726d2 reqid 11 mode tunnel',
  })
  const [mb] = parseXfrmState(fx('ip-xfrm-state/moby-45635-ip-s.txt'))
  assert.equal(mb?.spi, '0xf4faae1b')
  assert.equal(mb?.reqid, 13681891)
  assert.equal(mb?.mode, 'transport')
  assert.deepEqual(mb?.algorithms, [
    'aead rfc4106(gcm(aes)) 0xa6e7b83e73f8f13d9cd01d9e4428cfb5f4faae1b (160 bits) 64',
  ])
  assert.deepEqual(mb?.sel, {src: '0.0.0.0/0', dst: '0.0.0.0/0'})
  const [cil] = parseXfrmState(fx('ip-xfrm-state/cilium-xfrm-guide.txt'))
  assert.equal(cil?.reqid, 1)
  assert.deepEqual(cil?.algorithms, ['aead rfc4106(gcm(aes)) 0x6254fced5f7a5ea9401b9015ecf10d65eac51a69 128'])
  assert.deepEqual(parseXfrmState(fx('ip-xfrm-state/iproute2-6.1.txt')), [])
  assert.deepEqual(parseXfrmState(fx('ip-xfrm-state/iproute2-6.1-empty.txt')), [])
})

test('redactXfrmKeys replaces every key with sha256 of its hex digits and keeps the rest', () => {
  const raw = fx('ip-xfrm-state/moby-45635-ip-s.txt')
  const red = redactXfrmKeys(raw)
  assert.ok(!red.includes('a6e7b83e73f8f13d9cd01d9e4428cfb5f4faae1b'))
  // sha256("a6e7b8...ae1b") computed independently with `printf %s KEY | sha256sum`.
  assert.ok(
    red.includes(
      '\taead rfc4106(gcm(aes)) sha256:0e1fb71ef4825bb7438fb94eaa6c36d71c5299a0c5a7c21db9d719ad837fce72 (160 bits) 64\n',
    ),
  )
  assert.equal(red.split('\n').length, raw.split('\n').length)
  assert.equal(red.replace(/sha256:[0-9a-f]{64}/, 'K'), raw.replace(/0xa6e7b8[0-9a-f]+/, 'K'))
  // The redacted capture still parses to the same SA (algorithm text aside).
  const [a] = parseXfrmState(raw)
  const [b] = parseXfrmState(red)
  assert.deepEqual({...b, algorithms: [], raw: ''}, {...a, algorithms: [], raw: ''})
  // Same key → same digest (two nodes' keys stay comparable); the spi is not a key.
  const cil = redactXfrmKeys(fx('ip-xfrm-state/cilium-xfrm-guide.txt'))
  assert.match(cil, /spi 0x00000003 /)
  assert.match(cil, /aead rfc4106\(gcm\(aes\)\) sha256:[0-9a-f]{64} 128/)
})

test('xfrm parsers reject what they cannot read with ParseError', () => {
  assert.throws(
    () => parseXfrmState('RTNETLINK answers: Operation not permitted\n'),
    (e: unknown) => {
      assert.ok(e instanceof ParseError)
      assert.equal(e.line, 1)
      assert.match(e.hint ?? '', /root/)
      return true
    },
  )
  assert.throws(() => parseXfrmState('\tproto esp spi 0x1 reqid 11 mode tunnel\n'), ParseError)
  assert.throws(() => parseXfrmState('src 10.0.0.1 dst 10.0.0.2\n\treplay-window 0\n'), ParseError)
  assert.throws(
    () => parseXfrmPolicy('src 10.0.0.0/24 dst 10.1.0.0/24\n\ttmpl src 1.1.1.1 dst 2.2.2.2\n'),
    ParseError,
  )
  assert.throws(
    () => parseXfrmPolicy('src 10.0.0.0/24 dst 10.1.0.0/24\n\tdir sideways priority 0\n'),
    ParseError,
  )
})
