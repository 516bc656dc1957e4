import assert from 'node:assert/strict'
import {test} from 'node:test'

import {ParseError} from '../../../src/parse/errors.js'
import {parseSubnetEnv} from '../../../src/parse/subnet-env.js'
import {fx} from './helpers.js'

test("subnet.env of a worker (flannel#1437): four keys in flannel's order", () => {
  const s = parseSubnetEnv(fx('subnet-env/flannel-1437-worker.env'))
  assert.deepEqual(s.values, {
    FLANNEL_NETWORK: '10.244.0.0/16',
    FLANNEL_SUBNET: '10.244.1.1/24',
    FLANNEL_MTU: '1450',
    FLANNEL_IPMASQ: 'true',
  })
  assert.deepEqual(s.entries[1], {
    key: 'FLANNEL_SUBNET',
    value: '10.244.1.1/24',
    line: 2,
    raw: 'FLANNEL_SUBNET=10.244.1.1/24',
  })
  assert.deepEqual(s.malformed, [])
})

test('dual-stack subnet.env in the source format; a hand-edited key case is kept as written', () => {
  const d = parseSubnetEnv(fx('subnet-env/source-format-dualstack.env'))
  assert.deepEqual(
    d.entries.map((e) => e.key),
    [
      'FLANNEL_NETWORK',
      'FLANNEL_SUBNET',
      'FLANNEL_IPV6_NETWORK',
      'FLANNEL_IPV6_SUBNET',
      'FLANNEL_MTU',
      'FLANNEL_IPMASQ',
    ],
  )
  assert.equal(d.values['FLANNEL_IPV6_SUBNET'], '2001:cafe:42:1::1/64')
  const c = parseSubnetEnv(fx('subnet-env/read-it-later-12032-ipmasq-case.env'))
  assert.equal(c.values['FLANNEL_ipMASQ'], 'true')
  assert.equal(c.values['FLANNEL_IPMASQ'], undefined)
})

test('what the CNI plugin would read: export, quotes, blanks, CRLF, comments, duplicates', () => {
  // Lines of the worker fixture rewritten the ways people write env files by hand.
  const text = [
    'export FLANNEL_NETWORK=10.244.0.0/16',
    'FLANNEL_SUBNET="10.244.1.1/24"',
    'FLANNEL_MTU=1450 \r',
    '# written by hand',
    'FLANNEL_IPMASQ',
    'FLANNEL_MTU =1400',
    'FLANNEL_IPMASQ=false',
    'FLANNEL_IPMASQ=true',
    '__proto__=x',
  ].join('\n')
  const s = parseSubnetEnv(text)
  assert.deepEqual(Object.keys(s.values), ['FLANNEL_SUBNET', 'FLANNEL_MTU', 'FLANNEL_IPMASQ', '__proto__'])
  assert.equal(s.values['FLANNEL_SUBNET'], '"10.244.1.1/24"')
  assert.equal(s.values['FLANNEL_MTU'], '1450 ')
  assert.equal(s.values['FLANNEL_IPMASQ'], 'true')
  assert.equal(Object.getPrototypeOf(s.values), Object.prototype)
  assert.deepEqual(
    s.malformed.map((m) => [
      m.line,
      /export|quoted|blank|comment|no "="|not a plain name/.exec(m.reason ?? '')?.[0],
    ]),
    [
      [1, 'export'],
      [2, 'quoted'],
      [3, 'blank'],
      [4, 'comment'],
      [5, 'no "="'],
      [6, 'not a plain name'],
    ],
  )
  assert.throws(() => parseSubnetEnv('FLANNEL_MTU=1450\n\u0000\u0001'), ParseError)
})
