import assert from 'node:assert/strict'
import {test} from 'node:test'

import type {Route} from '../../../src/model.js'
import {ParseError} from '../../../src/parse/errors.js'
import {parseIpRoute} from '../../../src/parse/ip-route.js'
import {assertParseErrors, captures, fx, textAndJsonAgree} from './helpers.js'

const find = (routes: Route[], dst: string, pred: (r: Route) => boolean = () => true): Route => {
  const r = routes.find((x) => x.dst === dst && pred(x))
  assert.ok(r, `no route ${dst} in ${routes.map((x) => x.dst).join(',')}`)
  return r
}
/** The part every form of the same table shows: dst, gateway, dev, type. */
const core = (r: Route) => `${r.type} ${r.dst} via ${r.gateway ?? '-'} dev ${r.dev ?? '-'}`

// Node A of scripts/capture-fixtures.sh.
const NODE_A = [
  'unicast default via 10.99.0.1 dev eth0',
  'unicast 10.99.0.0/24 via - dev eth0',
  'unicast 10.244.1.0/24 via - dev cni0',
  'unicast 10.244.2.0/24 via 10.244.2.0 dev flannel.1',
  'unicast 10.244.3.0/24 via 10.99.0.12 dev eth0',
  'unicast 10.244.7.0/24 via 10.244.7.0 dev flannel.1',
  'blackhole 10.244.9.0/24 via - dev -',
]

test('ip route (iproute2 6.1, node A): flannel peer routes are onlink, the blackhole typed', () => {
  const routes = parseIpRoute(fx('ip-route/iproute2-6.1.txt'))
  assert.deepEqual(routes.map(core), NODE_A)
  assert.deepEqual(find(routes, '10.244.2.0/24'), {
    dst: '10.244.2.0/24',
    gateway: '10.244.2.0',
    dev: 'flannel.1',
    onlink: true,
    type: 'unicast',
    raw: '10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink',
  })
  assert.equal(find(routes, '10.244.3.0/24').onlink, false)
  assert.equal(find(routes, 'default').onlink, true)
  const cni = find(routes, '10.244.1.0/24')
  assert.equal(cni.protocol, 'kernel')
  assert.equal(cni.scope, 'link')
  assert.equal(cni.src, '10.244.1.1')
  assert.equal(find(routes, '10.244.9.0/24').raw, 'blackhole 10.244.9.0/24')
})

test('ip -d route shows unicast, proto and scope explicitly', () => {
  const routes = parseIpRoute(fx('ip-route/iproute2-6.1-d.txt'))
  assert.deepEqual(routes.map(core), NODE_A)
  const p = find(routes, '10.244.2.0/24')
  assert.equal(p.protocol, 'boot')
  assert.equal(p.scope, 'global')
  assert.equal(p.onlink, true)
  assert.equal(find(routes, '10.244.9.0/24').protocol, 'boot')
})

test('route -n of the same node: Genmask to prefix, 0.0.0.0 gateway to none, * to a blackhole', () => {
  const routes = parseIpRoute(fx('ip-route/route-n.txt'))
  assert.deepEqual(routes.map(core), NODE_A)
  assert.ok(routes.every((r) => r.metric === 0 && !r.onlink))
  assert.equal(
    find(routes, '10.244.2.0/24').raw,
    '10.244.2.0      10.244.2.0      255.255.255.0   UG    0      0        0 flannel.1',
  )
})

textAndJsonAgree(
  parseIpRoute,
  [
    ['ip-route/iproute2-6.1.txt', 'ip-route/iproute2-6.1.json'],
    ['ip-route/flt-h-multipath.txt', 'ip-route/flt-h-multipath.json'],
    ['ip-route/flt-h-v6-multipath.txt', 'ip-route/flt-h-v6-multipath.json'],
    ['ip-route/flt-h-table-all.txt', 'ip-route/flt-h-table-all.json'],
  ],
  7,
)

test('multipath keeps one route with the first nexthop, host routes get /32 and /128', () => {
  const routes = parseIpRoute(fx('ip-route/flt-h-multipath.txt'))
  const mp = find(routes, '10.244.5.0/24')
  assert.equal(mp.gateway, '10.99.0.12')
  assert.equal(mp.dev, 'eth0')
  assert.equal(mp.onlink, false)
  assert.deepEqual(mp.nexthops, [
    {gateway: '10.99.0.12', dev: 'eth0', weight: 1, onlink: false},
    {gateway: '10.99.0.13', dev: 'eth0', weight: 2, onlink: false},
  ])
  assert.equal(routes.filter((r) => r.dst === '10.244.5.0/24').length, 1)
  assert.equal(find(routes, '10.244.6.7/32').protocol, 'static')
  assert.equal(find(routes, '10.200.0.2/32').src, '10.200.0.1')
  assert.equal(find(routes, '10.244.8.0/24').type, 'unreachable')
  assert.equal(find(routes, '10.244.10.0/24').type, 'prohibit')
  assert.equal(find(routes, '10.244.10.0/24').metric, 5)
  assert.equal(find(routes, 'default').metric, 100)
  const v6 = parseIpRoute(fx('ip-route/flt-h-v6-multipath.txt'))
  const mp6 = find(v6, 'fd00:244::/56')
  assert.equal(mp6.gateway, 'fd00:99::12')
  assert.equal(mp6.nexthops?.[1]?.dev, 'eth1')
  assert.equal(mp6.onlink, false)
  assert.equal(mp6.metric, 1024)
  assert.equal(find(v6, 'fd00:245::1/128').gateway, 'fd00:99::12')
  assert.equal(find(v6, 'default').gateway, 'fd00:99::1')
  assert.equal(find(v6, 'fd00:246::/48').type, 'unreachable')
})

test('ip route show table all: local/broadcast/multicast types and tables', () => {
  const routes = parseIpRoute(fx('ip-route/flt-h-table-all.txt'))
  assert.equal(routes.length, 40)
  assert.equal(find(routes, '10.250.0.0/16').table, '100')
  const local = find(routes, '10.99.0.11/32')
  assert.equal(local.type, 'local')
  assert.equal(local.table, 'local')
  assert.equal(local.scope, 'host')
  assert.equal(find(routes, '10.99.0.255/32').type, 'broadcast')
  assert.equal(routes.filter((r) => r.type === 'multicast').length, 6)
  assert.equal(find(routes, '::1/128').type, 'local')
})

test('ip -6 route (node A)', () => {
  const routes = parseIpRoute(fx('ip-route/iproute2-6.1-v6.txt'))
  assert.deepEqual(
    routes.map((r) => `${r.dst} ${r.dev} ${r.metric}`),
    [
      'fd00:99::/64 eth0 256',
      'fe80::/64 eth0 256',
      'fe80::/64 flannel.1 256',
      'fe80::/64 cni0 256',
      'fe80::/64 vethab12cd34 256',
    ],
  )
})

test('route -n / netstat -rn of the flt-h namespace match its ip route', () => {
  const ip = parseIpRoute(fx('ip-route/flt-h-multipath.txt'))
  // net-tools cannot tell prohibit from unreachable; both are reject (`!`) routes.
  const expected = ip.map(core).map((s) => s.replace(/^prohibit/, 'unreachable'))
  assert.deepEqual(parseIpRoute(fx('ip-route/flt-h-route-n.txt')).map(core), expected)
  assert.deepEqual(parseIpRoute(fx('ip-route/flt-h-netstat-rn.txt')).map(core), expected)
  assert.equal(find(parseIpRoute(fx('ip-route/flt-h-route-n.txt')), '10.244.10.0/24').metric, 5)
  assert.equal(find(parseIpRoute(fx('ip-route/flt-h-netstat-rn.txt')), '10.244.10.0/24').metric, undefined)
  const v6 = parseIpRoute(fx('ip-route/flt-h-route-n-inet6.txt'))
  assert.equal(v6.length, 23)
  assert.equal(find(v6, 'default', (r) => r.type === 'unicast').gateway, 'fd00:99::1')
  assert.equal(find(v6, 'fd00:246::/48').type, 'unreachable')
  assert.equal(find(v6, 'fd00:245::1/128').metric, 1024)
  assert.equal(v6.filter((r) => r.dst === 'fd00:244::/56').length, 2)
})

test('other distributions: proto static, metric (flannel-io/flannel#1029), route -n with a UH host route (#1764), netstat -rn (#203)', () => {
  const c7 = parseIpRoute(fx('ip-route/flannel-1029-ip-route.txt'))
  assert.equal(c7.length, 9, 'the pasted prompt line is skipped')
  const def = find(c7, 'default')
  assert.equal(def.protocol, 'static')
  assert.equal(def.metric, 100)
  assert.equal(def.gateway, '192.168.56.1')
  assert.equal(c7.filter((r) => r.dev === 'flannel.1' && r.onlink).length, 5)
  assert.deepEqual(find(c7, '172.20.5.0/24').gateway, '172.20.5.0')
  const u = parseIpRoute(fx('ip-route/flannel-1764-route-n.txt'))
  assert.equal(find(u, '10.22.0.185/32').dev, 'tun0')
  assert.equal(find(u, '10.22.0.185/32').gateway, undefined)
  assert.equal(find(u, '10.244.1.0/24').gateway, '10.244.1.0')
  assert.equal(find(u, '169.254.0.0/16').metric, 1000)
  const old = parseIpRoute(fx('ip-route/flannel-203-netstat-rn.txt'))
  assert.deepEqual(
    old.map((r) => `${r.dst} ${r.dev}`),
    [
      'default eth0',
      '10.88.216.0/22 eth0',
      '169.254.0.0/16 eth0',
      '192.0.0.0/8 flannel.1',
      '192.168.208.0/20 docker0',
    ],
  )
})

test('every route capture parses; dst is default or a CIDR', () => {
  const files = captures('ip-route')
  assert.ok(files.length >= 15)
  for (const {file: f, text} of files) {
    const routes = parseIpRoute(text)
    assert.ok(routes.length > 0, f)
    for (const r of routes) assert.ok(r.dst === 'default' || r.dst.includes('/'), `${f}: ${r.dst}`)
  }
})

test('empty input is an empty list', () => {
  assert.deepEqual(parseIpRoute(''), [])
  assert.deepEqual(parseIpRoute('[]'), [])
})

test('other tools are ParseErrors, not silently skipped', () => {
  assertParseErrors(
    parseIpRoute,
    [
      [fx('iptables/save-nf_tables.txt'), 1, /iptables/],
      [fx('iptables/L-n-v.txt'), 1, /iptables -L/],
      [fx('ip-addr/iproute2-6.1.txt'), 1, /ip link/],
      [fx('ip-neigh/iproute2-6.1.txt'), 1, /neighbour|ip neigh/],
      [fx('ip-route/iproute2-6.1.txt').replace('10.244.3.0/24 via', 'x 10.244.3.0/24 via'), 5, /route/],
      [`\tnexthop via 10.99.0.12 dev eth0 weight 1`, 1, /route line before/],
      [fx('ip-link/iproute2-6.1-d.json'), undefined, /dst/],
    ],
    /ip route|route -n/,
  )
  // `route` without -n prints names; a table that lost a column is not a route table.
  const named = fx('ip-route/route-n.txt').replace(
    '0.0.0.0         10.99.0.1  ',
    'default         _gateway   ',
  )
  assert.throws(
    () => parseIpRoute(named),
    (e: unknown) => e instanceof ParseError && e.line === 3 && /route -n/.test(e.message),
  )
  const short = fx('ip-route/route-n.txt').replace(' flannel.1', '')
  assert.throws(
    () => parseIpRoute(short),
    (e: unknown) => e instanceof ParseError && e.line === 6 && /columns/.test(e.message),
  )
})

test('unknown extra tokens are tolerated', () => {
  const edited = fx('ip-route/iproute2-6.1.txt').replace(
    'dev flannel.1 onlink',
    'dev flannel.1 onlink rt_offload newthing',
  )
  const routes = parseIpRoute(edited)
  assert.equal(find(routes, '10.244.2.0/24').gateway, '10.244.2.0')
  assert.equal(find(routes, '10.244.2.0/24').onlink, true)
})
