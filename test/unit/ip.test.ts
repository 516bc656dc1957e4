import assert from 'node:assert/strict'
import {test} from 'node:test'

import {
  cidrContains,
  cidrContainsIP,
  cidrsOverlap,
  firstHost,
  formatIP,
  normalizeCidr,
  parseCidr,
  parseIPv6,
} from '../../src/lib/ip.js'

const c = (s: string) => {
  const r = parseCidr(s)
  assert.ok(r, s)
  return r
}

test('IPv4 CIDR arithmetic matches flannel semantics', () => {
  assert.equal(normalizeCidr('10.244.1.5/16'), '10.244.0.0/16')
  assert.equal(firstHost(c('10.244.1.0/24')), '10.244.1.1')
  assert.ok(cidrContains(c('10.244.0.0/16'), c('10.244.3.0/24')))
  assert.ok(!cidrContains(c('10.244.0.0/24'), c('10.244.0.0/16')), 'longer outer mask does not contain')
  assert.ok(!cidrContains(c('10.244.0.0/16'), c('10.245.0.0/24')))
  assert.ok(cidrsOverlap(c('10.0.0.0/8'), c('10.244.0.0/16')))
  assert.ok(!cidrsOverlap(c('10.244.1.0/24'), c('10.244.2.0/24')))
  assert.ok(cidrContainsIP(c('10.244.0.0/16'), '10.244.9.9'))
  assert.equal(parseCidr('10.244.0.0/33'), undefined)
  assert.equal(parseCidr('010.1.1.1/8'), undefined)
  assert.equal(parseCidr('256.1.1.1'), undefined)
})

test('IPv6 parsing and formatting', () => {
  assert.equal(formatIP(6, parseIPv6('2001:db8:0:0:0:0:0:1') as bigint), '2001:db8::1')
  assert.equal(formatIP(6, parseIPv6('::') as bigint), '::')
  assert.equal(formatIP(6, parseIPv6('fe80::1%eth0') as bigint), 'fe80::1')
  assert.equal(normalizeCidr('2001:cafe:42::1/56'), '2001:cafe:42::/56')
  assert.equal(parseIPv6('1::2::3'), undefined)
  assert.equal(parseIPv6('::ffff:10.0.0.1'), 0xffff0a000001n)
  assert.ok(!cidrsOverlap(c('10.0.0.0/8'), c('::/0')), 'families never overlap')
})
