import assert from 'node:assert/strict'
import {test} from 'node:test'

import {check} from '../../../src/checks/node/cni0.js'
import {staticFacts, type StaticFactInput} from '../../../src/facts/static.js'
import type {Finding} from '../../../src/checks/types.js'
import type {Addr, Link} from '../../../src/model.js'
import {addr, avail, subnetEnv} from '../../support/builders.js'

// The real capture (test/fixtures/outputs/ip-addr/iproute2-6.1.txt): node A's cni0 holds 10.244.1.1/24 for
// podCIDR 10.244.1.0/24, with one pod veth vethab12cd34 attached.

const cni0Addrs = (...v4: string[]): Addr[] => [
  addr('lo', '127.0.0.1/8', {scope: 'host'}),
  addr('eth0', '10.99.0.11/24'),
  addr('flannel.1', '10.244.1.0/32'),
  ...v4.map((a) => addr('cni0', a)),
  addr('cni0', 'fe80::2c04:82ff:fe92:3526/64', {scope: 'link'}),
]

function link(name: string, o: {master?: string; kind?: string} = {}): Link {
  const l: Link = {
    name,
    mtu: 1450,
    flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
    up: true,
    raw: `${name}: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue${o.master ? ` master ${o.master}` : ''} state UP`,
  }
  if (o.master) l.master = o.master
  if (o.kind) l.kind = o.kind
  return l
}
const withPod = (): Link[] => [
  link('eth0'),
  link('flannel.1', {kind: 'vxlan'}),
  link('cni0', {kind: 'bridge'}),
  link('vethab12cd34', {master: 'cni0', kind: 'veth'}),
]

const ENV = {
  FLANNEL_NETWORK: '10.244.0.0/16',
  FLANNEL_SUBNET: '10.244.1.1/24',
  FLANNEL_MTU: '1450',
  FLANNEL_IPMASQ: 'true',
}

function run(o: StaticFactInput = {}): Finding[] {
  return check.evaluate(
    staticFacts({
      addrs: avail(cni0Addrs('10.244.1.1/24'), 'commands/ip-addr.txt'),
      subnetEnv: avail(subnetEnv(ENV), 'files/run/flannel/subnet.env'),
      links: avail(withPod(), 'commands/ip-link.txt'),
      ...o,
    }),
  )
}

test('cni0 holds exactly 10.244.1.1/24, the gateway of FLANNEL_SUBNET', () => {
  const fs = run()
  assert.equal(fs.length, 1, JSON.stringify(fs))
  assert.equal(fs[0]?.status, 'ok')
  assert.equal(fs[0]?.subject, 'cni0')
  assert.match(
    fs[0]?.message ?? '',
    /cni0 holds 10\.244\.1\.1\/24, the gateway of FLANNEL_SUBNET=10\.244\.1\.1\/24, and no conflicting address/,
  )
  assert.deepEqual(fs[0]?.evidence, [
    {source: 'commands/ip-addr.txt', lines: ['inet 10.244.1.1/24 scope global cni0']},
  ])
})

test('node re-joined with podCIDR 10.244.1.0/24 while cni0 kept 10.244.3.1/24: error quoting the bridge plugin', () => {
  const fs = run({addrs: avail(cni0Addrs('10.244.3.1/24'), 'commands/ip-addr.txt')})
  assert.equal(fs.length, 1)
  const f = fs[0] as Finding
  assert.equal(f.status, 'error')
  assert.equal(f.subject, 'cni0')
  assert.match(f.message, /cni0 holds 10\.244\.3\.1\/24 instead of 10\.244\.1\.1\/24/)
  assert.ok(
    f.message.includes(
      '`failed to set bridge addr: "cni0" already has an IP address different from 10.244.1.1/24`',
    ),
  )
  assert.equal(f.fix?.[0], 'ip link set cni0 down && ip link delete cni0')
  assert.deepEqual(f.evidence, [
    {source: 'commands/ip-addr.txt', lines: ['inet 10.244.3.1/24 scope global cni0']},
    {source: 'files/run/flannel/subnet.env', lines: ['FLANNEL_SUBNET=10.244.1.1/24']},
  ])
})

test('the right address with a different prefix, or an extra address beside it, is also a conflict', () => {
  const prefix = run({addrs: cni0Addrs('10.244.1.1/16')})
  assert.equal(prefix[0]?.status, 'error')
  assert.match(prefix[0]?.message ?? '', /holds 10\.244\.1\.1\/16 instead of 10\.244\.1\.1\/24/)

  const extra = run({addrs: cni0Addrs('10.244.1.1/24', '10.244.5.1/24')})
  assert.equal(extra.length, 1)
  assert.equal(extra[0]?.status, 'error')
  assert.match(extra[0]?.message ?? '', /holds 10\.244\.5\.1\/24 besides 10\.244\.1\.1\/24/)
})

test('no cni0 yet: ok, the bridge plugin creates it with the first pod', () => {
  const fs = run({
    addrs: cni0Addrs().filter((a) => a.ifname !== 'cni0'),
    links: [link('eth0'), link('flannel.1')],
  })
  assert.equal(fs.length, 1)
  assert.equal(fs[0]?.status, 'ok')
  assert.match(fs[0]?.message ?? '', /There is no cni0 yet/)
})

test('cni0 with pods attached but no IPv4 address: error with ip addr add', () => {
  const fs = run({addrs: cni0Addrs()})
  assert.equal(fs[0]?.status, 'error')
  assert.match(fs[0]?.message ?? '', /cni0 has pods attached but no 10\.244\.1\.1\/24/)
  assert.deepEqual(fs[0]?.fix, ['ip addr add 10.244.1.1/24 dev cni0'])
})

test('IPv6: FLANNEL_IPV6_SUBNET gateway is required too; a non-overlapping IPv6 address is allowed', () => {
  const env = subnetEnv({
    ...ENV,
    FLANNEL_IPV6_NETWORK: 'fd00:244::/56',
    FLANNEL_IPV6_SUBNET: 'fd00:244:0:1::1/64',
  })
  const good = run({
    subnetEnv: env,
    addrs: [
      ...cni0Addrs('10.244.1.1/24'),
      addr('cni0', 'fd00:244:0:1::1/64'),
      addr('cni0', 'fd00:aaaa::1/64'),
    ],
  })
  assert.equal(good.length, 1, JSON.stringify(good))
  assert.match(
    good[0]?.message ?? '',
    /holds 10\.244\.1\.1\/24, the gateway of FLANNEL_SUBNET=10\.244\.1\.1\/24 and holds fd00:244:0:1::1\/64/,
  )

  const bad = run({
    subnetEnv: env,
    addrs: [...cni0Addrs('10.244.1.1/24'), addr('cni0', 'fd00:244:0:7::1/56')],
  })
  assert.equal(bad[0]?.status, 'error')
  assert.match(bad[0]?.message ?? '', /fd00:244:0:7::1\/56 instead of fd00:244:0:1::1\/64/)
})

test('facts unavailable: subnet.env absent → unknown with its reason; addresses not readable → unknown', () => {
  const noEnv = run({
    subnetEnv: {
      ok: false,
      state: 'absent',
      reason: '/run/flannel/subnet.env does not exist',
      source: '/run/flannel/subnet.env',
    },
  })
  assert.equal(noEnv.length, 1)
  assert.equal(noEnv[0]?.status, 'unknown')
  assert.match(noEnv[0]?.message ?? '', /does not exist/)

  const noAddrs = run({
    addrs: {
      ok: false,
      state: 'timeout',
      reason: 'ip addr did not finish in time',
      hint: 'retry, or raise --timeout',
    },
  })
  assert.equal(noAddrs[0]?.status, 'unknown')
  assert.equal(noAddrs[0]?.hint, 'retry, or raise --timeout')

  const env = subnetEnv({FLANNEL_NETWORK: '10.244.0.0/16', FLANNEL_MTU: '1450'})
  const noKey = run({subnetEnv: env})
  assert.equal(noKey[0]?.status, 'unknown')
  assert.match(noKey[0]?.message ?? '', /no FLANNEL_SUBNET/)
})

test('cni0 exists without an address and without pods: ok, the next pod brings the address', () => {
  const fs = run({addrs: cni0Addrs(), links: [link('eth0'), link('cni0', {kind: 'bridge'})]})
  assert.equal(fs.length, 1)
  assert.equal(fs[0]?.status, 'ok')
  assert.match(
    fs[0]?.message ?? '',
    /cni0 has no IPv4 address yet \(the bridge plugin adds 10\.244\.1\.1\/24 with the next pod\)/,
  )
})
