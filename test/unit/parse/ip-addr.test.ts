import assert from 'node:assert/strict'
import {test} from 'node:test'

import type {Addr} from '../../../src/model.js'
import {ParseError} from '../../../src/parse/errors.js'
import {parseIpAddr} from '../../../src/parse/ip-addr.js'
import {assertParseErrors, captures, fx, textAndJsonAgree} from './helpers.js'

const v4 = (addrs: Addr[]) =>
  addrs.filter((a) => a.family === 'inet').map((a) => `${a.ifname} ${a.address}/${a.prefixlen}`)
const find = (addrs: Addr[], address: string): Addr => {
  const a = addrs.find((x) => x.address === address)
  assert.ok(a, `no ${address} in ${addrs.map((x) => x.address).join(',')}`)
  return a
}

// Node A of scripts/capture-fixtures.sh.
const NODE_A_V4 = ['lo 127.0.0.1/8', 'eth0 10.99.0.11/24', 'flannel.1 10.244.1.0/32', 'cni0 10.244.1.1/24']

test('ip addr (iproute2 6.1, node A)', () => {
  const addrs = parseIpAddr(fx('ip-addr/iproute2-6.1.txt'))
  assert.equal(addrs.length, 10)
  assert.deepEqual(v4(addrs), NODE_A_V4)
  const f = find(addrs, '10.244.1.0')
  assert.deepEqual(f, {
    ifname: 'flannel.1',
    family: 'inet',
    address: '10.244.1.0',
    prefixlen: 32,
    scope: 'global',
    flags: [],
    raw: 'inet 10.244.1.0/32 scope global flannel.1',
  })
  assert.deepEqual(find(addrs, 'fd00:99::11').flags, ['nodad'])
  assert.equal(find(addrs, 'fd00:99::11').prefixlen, 64)
  assert.equal(find(addrs, 'fd00:99::11').family, 'inet6')
  assert.deepEqual(find(addrs, 'fe80::858:aff:fef4:100').flags, ['tentative'])
  assert.equal(find(addrs, 'fe80::858:aff:fef4:100').scope, 'link')
  // The veth in cni0 (header `vethab12cd34@if2`) has only its link-local address, named without @if2.
  assert.deepEqual(
    addrs.filter((a) => a.ifname === 'vethab12cd34').map((a) => a.address),
    ['fe80::5447:36ff:fec7:fc34'],
  )
})

test('ip addr of node B', () => {
  const addrs = parseIpAddr(fx('ip-addr/iproute2-6.1-b.txt'))
  assert.deepEqual(v4(addrs), ['lo 127.0.0.1/8', 'eth0 10.99.0.12/24', 'flannel.1 10.244.2.0/32'])
})

test('secondary with a label, peer, noprefixroute (flt-h capture)', () => {
  for (const file of ['ip-addr/flt-h.txt', 'ip-addr/flt-h.json']) {
    const addrs = parseIpAddr(fx(file))
    assert.equal(addrs.length, 14, file)
    const sec = find(addrs, '10.99.0.50')
    assert.equal(sec.ifname, 'eth0')
    assert.deepEqual(sec.flags, ['secondary'])
    const peer = find(addrs, '10.200.0.1')
    assert.equal(peer.ifname, 'eth1')
    assert.equal(peer.prefixlen, 32)
    assert.equal(peer.raw, 'inet 10.200.0.1 peer 10.200.0.2/32 scope global eth1')
    assert.deepEqual(find(addrs, '192.168.77.1').flags, ['noprefixroute'])
    assert.equal(find(addrs, '192.168.77.1').prefixlen, 24)
  }
})

textAndJsonAgree(
  parseIpAddr,
  [
    ['ip-addr/iproute2-6.1.txt', 'ip-addr/iproute2-6.1.json'],
    ['ip-addr/flt-h.txt', 'ip-addr/flt-h.json'],
  ],
  10,
)

test('ifconfig (net-tools 2.10) gives the same IPv4 addresses as ip addr, netmasks as prefixes', () => {
  const addrs = parseIpAddr(fx('ip-addr/ifconfig.txt'))
  assert.deepEqual(v4(addrs).sort(), [...NODE_A_V4].sort())
  assert.equal(find(addrs, '10.244.1.0').raw, 'inet 10.244.1.0  netmask 255.255.255.255  broadcast 0.0.0.0')
  assert.equal(find(addrs, 'fd00:99::11').prefixlen, 64)
  assert.equal(find(addrs, 'fd00:99::11').scope, 'global')
  assert.equal(find(addrs, '::1').scope, 'host')
  assert.equal(find(addrs, 'fe80::5447:36ff:fec7:fc34').scope, 'link')
  // An alias block (eth0:1) lists an address of eth0.
  const h = parseIpAddr(fx('ip-addr/flt-h-ifconfig.txt'))
  assert.equal(find(h, '10.99.0.50').ifname, 'eth0')
  assert.equal(find(h, '10.99.0.50').prefixlen, 24)
})

test('old net-tools ifconfig (inet addr: / Mask:) from flannel-io/flannel#1728 and #1039', () => {
  assert.deepEqual(v4(parseIpAddr(fx('ip-addr/flannel-1728-ifconfig-old.txt'))), [
    'docker0 10.1.5.1/24',
    'eth0 107.6.13.95/24',
    'flannel.1 10.1.5.0/32',
  ])
  const cni = parseIpAddr(fx('ip-addr/flannel-1039-ifconfig-old.txt'))
  assert.deepEqual(
    cni.map((a) => [a.ifname, a.family, a.address, a.prefixlen, a.scope]),
    [
      ['cni0', 'inet', '10.244.1.1', 24, undefined],
      ['cni0', 'inet6', 'fe80::ac85:74ff:feb8:f14e', 64, 'link'],
    ],
  )
  assert.equal(cni[0]?.raw, 'inet addr:10.244.1.1  Bcast:0.0.0.0  Mask:255.255.255.0')
})

test('other distributions: brd, dynamic, noprefixroute, metric (k3s-io/k3s#1719, voxpupuli/puppet-k8s#22)', () => {
  const k3s = parseIpAddr(fx('ip-addr/k3s-1719-ip-addr-show.txt'))
  assert.deepEqual(k3s[0], {
    ifname: 'enp0s3',
    family: 'inet',
    address: '192.168.1.72',
    prefixlen: 24,
    scope: 'global',
    flags: ['dynamic', 'noprefixroute'],
    raw: 'inet 192.168.1.72/24 brd 192.168.1.255 scope global dynamic noprefixroute enp0s3',
  })
  assert.deepEqual(k3s[1]?.flags, ['noprefixroute'])
  const pk = parseIpAddr(fx('ip-addr/puppet-k8s-22-ip-a.txt'))
  assert.deepEqual(v4(pk), [
    'lo 127.0.0.1/8',
    'enp0s3 10.0.2.15/24',
    'enp0s8 10.0.0.11/24',
    'flannel.1 10.0.0.0/32',
  ])
  assert.deepEqual(find(pk, '10.0.2.15').flags, ['dynamic'])
})

test('every address capture parses', () => {
  const files = captures('ip-addr')
  assert.ok(files.length >= 9)
  for (const {file: f, text} of files) {
    const addrs = parseIpAddr(text)
    assert.ok(addrs.length > 0, f)
    for (const a of addrs) assert.ok(a.prefixlen >= 0 && a.prefixlen <= (a.family === 'inet' ? 32 : 128), f)
  }
})

test('empty input is an empty list', () => {
  assert.deepEqual(parseIpAddr(''), [])
  assert.deepEqual(parseIpAddr('\n \n'), [])
})

test('ip link output, other tools and broken input are ParseErrors naming `ip addr`', () => {
  assertParseErrors(
    parseIpAddr,
    [
      [fx('ip-link/iproute2-6.1.txt'), 1, /ip link/],
      [fx('ip-route/iproute2-6.1.txt'), 1, /ip route/],
      [fx('nft/ruleset.txt'), 1, /nft/],
      [fx('ip-link/iproute2-6.1-d.json'), undefined, /addr_info/],
    ],
    /ip addr/,
  )
  // A non-contiguous netmask in an otherwise real ifconfig capture.
  const bad = fx('ip-addr/ifconfig.txt').replace('netmask 255.255.255.0', 'netmask 255.0.255.0')
  assert.throws(
    () => parseIpAddr(bad),
    (e: unknown) => e instanceof ParseError && e.line === 9 && /contiguous/.test(e.message),
  )
  // An address line that lost its address.
  const cut = fx('ip-addr/iproute2-6.1.txt').replace('inet 10.244.1.0/32', 'inet /32')
  assert.throws(
    () => parseIpAddr(cut),
    (e: unknown) => e instanceof ParseError && e.line === 17,
  )
})
