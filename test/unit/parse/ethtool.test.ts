import assert from 'node:assert/strict'
import {test} from 'node:test'

import {ParseError} from '../../../src/parse/errors.js'
import {parseEthtoolFeatures} from '../../../src/parse/ethtool.js'
import {fx} from './helpers.js'

test('ethtool -k flannel.1: device, on/off, [fixed], sub-features', () => {
  const e = parseEthtoolFeatures(fx('ethtool/flannel.1.txt'))
  assert.equal(e.device, 'flannel.1')
  assert.equal(e.features.size, 63)
  assert.deepEqual(e.features.get('tx-checksum-ip-generic'), {
    on: true,
    fixed: false,
    raw: '\ttx-checksum-ip-generic: on',
  })
  assert.deepEqual(e.features.get('tx-checksum-ipv4'), {
    on: false,
    fixed: true,
    raw: '\ttx-checksum-ipv4: off [fixed]',
  })
  assert.equal(e.features.get('generic-receive-offload')?.on, true)
})

test('ethtool -k after `ethtool -K flannel.1 tx-checksum-ip-generic off`: [requested on] lines', () => {
  const e = parseEthtoolFeatures(fx('ethtool/flannel.1-tx-csum-off.txt'))
  assert.equal(e.features.get('tx-checksum-ip-generic')?.on, false)
  assert.equal(e.features.get('tx-checksumming')?.on, false)
  assert.deepEqual(e.features.get('tx-tcp-segmentation'), {
    on: false,
    fixed: false,
    raw: '\ttx-tcp-segmentation: off [requested on]',
  })
  const veth = parseEthtoolFeatures(fx('ethtool/eth0-veth.txt'))
  assert.equal(veth.device, 'eth0')
  assert.equal(veth.features.get('tx-checksum-sctp')?.on, true)
})

test('ethtool: errors and a second device are ParseErrors; empty input is no features', () => {
  assert.throws(
    () => parseEthtoolFeatures('netlink error: no device matches name (offset 24)\n'),
    (e: unknown) => {
      assert.ok(e instanceof ParseError)
      assert.match(e.message, /could not find the device/)
      return true
    },
  )
  const one = fx('ethtool/flannel.1.txt')
  assert.throws(() => parseEthtoolFeatures(one + fx('ethtool/eth0-veth.txt')), ParseError)
  assert.equal(parseEthtoolFeatures('').features.size, 0)
})
