import assert from 'node:assert/strict'
import {test} from 'node:test'

import {jsonSyntaxError, parseCniConfigs} from '../../../src/parse/cni.js'
import {fx} from './helpers.js'

const flannel = fx('cni/10-flannel.conflist')
const containerd = fx('cni/10-containerd-net.conflist')

test('CNI configs are ordered like libcni (byte order), other extensions flagged and put last', () => {
  const cs = parseCniConfigs([
    {name: '10-flannel.conflist', text: flannel},
    {name: '10-flannel.conflist.bak', text: flannel},
    {name: 'Z-upper.conf', text: containerd},
    {name: '10-containerd-net.conflist', text: containerd},
  ])
  assert.deepEqual(
    cs.map((c) => [c.name, c.ignored === undefined]),
    [
      ['10-containerd-net.conflist', true],
      ['10-flannel.conflist', true],
      ['Z-upper.conf', true],
      ['10-flannel.conflist.bak', false],
    ],
  )
  const fl = cs[1]?.json as {name: string; plugins: {type: string; delegate?: object}[]}
  assert.equal(fl.name, 'cbr0')
  assert.deepEqual(
    fl.plugins.map((p) => p.type),
    ['flannel', 'portmap'],
  )
  assert.deepEqual(fl.plugins[0]?.delegate, {hairpinMode: true, isDefaultGateway: true})
  assert.match(cs[3]?.ignored ?? '', /not \.conf, \.conflist or \.json/)
})

test('invalid JSON: error with line:column, never a throw', () => {
  // The flannel conflist with a trailing comma after the last plugin (a common hand edit).
  const broken = flannel.replace(/}\n {2}\]/, '},\n  ]')
  const [c] = parseCniConfigs([{name: '10-flannel.conflist', text: broken}])
  assert.equal(c?.json, undefined)
  assert.equal(c?.errorLine, 18)
  assert.equal(c?.errorColumn, 3)
  assert.equal(c?.error, '18:3: unexpected "]", expected a value')
  const [t] = parseCniConfigs([{name: 'x.conf', text: flannel.slice(0, 40)}])
  assert.equal(t?.error, '3:21: unterminated string')
  // The file cut after its first line: JSON.parse says "Unexpected end of JSON input", without a position.
  const [u] = parseCniConfigs([{name: 'x.conf', text: flannel.slice(0, 2)}])
  assert.equal(u?.error, '2:1: unexpected end of input, expected a double-quoted key')
})

test('jsonSyntaxError agrees with JSON.parse on what is valid', () => {
  const texts = [
    flannel,
    containerd,
    '{"a":1}',
    '[]',
    '"x"',
    '1e5',
    '{"a" 1}',
    "{'a':1}",
    '{"a":01}',
    '[1,]',
    '{"a":1,}',
    '\ufeff{}',
    '{"a":"\\x"}',
  ]
  for (const t of texts) {
    let ok = true
    try {
      JSON.parse(t)
    } catch {
      ok = false
    }
    assert.equal(jsonSyntaxError(t) === undefined, ok, JSON.stringify(t))
  }
})
