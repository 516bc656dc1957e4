import assert from 'node:assert/strict'
import {test} from 'node:test'

import {ParseError} from '../../../src/parse/errors.js'
import {parseModules} from '../../../src/parse/lsmod.js'
import {fx} from './helpers.js'

test('lsmod of a Raspberry Pi k3s node (k3s#703): vxlan loaded, br_netfilter not', () => {
  const m = parseModules(fx('lsmod/k3s-703-rpi4.txt'))
  assert.equal(m.size, 26)
  assert.ok(m.has('vxlan') && m.has('udp_tunnel') && m.has('ip6_udp_tunnel'))
  assert.ok(!m.has('br_netfilter'))
})

test('lsmod | grep (no header) and an empty lsmod (flannel#441)', () => {
  assert.deepEqual([...parseModules(fx('lsmod/flannel-441-grep-vxlan.txt'))], ['vxlan', 'ip_tunnel'])
  assert.equal(parseModules(fx('lsmod/flannel-441-empty.txt')).size, 0)
})

test('/proc/modules lines and dashes; garbage is a ParseError', () => {
  // /proc/modules shape (name size refcount deps state address), names from the k3s#703 listing.
  const m = parseModules(
    'vxlan 49152 0 - Live 0x0000000000000000\nbr-netfilter 32768 0 - Live 0x0000000000000000\n',
  )
  assert.deepEqual([...m], ['vxlan', 'br_netfilter'])
  assert.throws(
    () => parseModules('Module Size Used by\nlibkmod: ERROR could not open /proc/modules\n'),
    (e: unknown) => {
      assert.ok(e instanceof ParseError)
      assert.match(e.hint ?? '', /no module support/)
      return true
    },
  )
})
