import assert from 'node:assert/strict'
import {test} from 'node:test'

import {check} from '../../../src/checks/node/mtu.js'
import {staticFacts, type StaticFactInput} from '../../../src/facts/static.js'
import type {Finding} from '../../../src/checks/types.js'
import type {Link, Route, SubnetEnv} from '../../../src/model.js'
import type {NetConf, NetConfFact} from '../../../src/parse/netconf.js'
import {
  avail,
  link,
  netConfFact,
  parsedNetConfFact,
  route,
  subnetEnv as subnetEnvKv,
} from '../../support/builders.js'

// Values of the real capture (scripts/capture-fixtures.sh, test/fixtures/outputs/ip-link/iproute2-6.1-d.txt):
// node A 10.99.0.11 on eth0 (MTU 1500), flannel.1 MTU 1450, cni0 + one pod veth MTU 1450.

const netConf = (backend: Record<string, unknown>, o: Partial<NetConf> = {}, type = 'vxlan'): NetConfFact =>
  netConfFact(
    {backendType: type, backend, ...o},
    {text: (c) => JSON.stringify({Network: c.Network, Backend: {Type: type, ...backend}}, null, 2)},
  )

const flannel1 = (mtu = 1450, local = '10.99.0.11', dev = 'eth0'): Link =>
  link(3, 'flannel.1', {
    mtu,
    kind: 'vxlan',
    mac: '0a:58:0a:f4:01:00',
    vxlan: {id: 1, local, dev, dstport: 8472, learning: false, gbp: false},
  })

function nodeALinks(o: {eth0?: number; flannel?: number; cni0?: number; veth?: number} = {}): Link[] {
  return [
    link(1, 'lo', {mtu: 65536}),
    link(2, 'eth0', {mtu: o.eth0 ?? 1500, kind: 'veth', parent: 'if3', mac: '0a:95:fa:58:3b:b9'}),
    flannel1(o.flannel ?? 1450),
    link(4, 'cni0', {mtu: o.cni0 ?? 1450, kind: 'bridge', mac: '56:47:36:c7:fc:34'}),
    link(5, 'vethab12cd34', {
      mtu: o.veth ?? 1450,
      kind: 'veth',
      parent: 'if2',
      master: 'cni0',
      mac: '56:47:36:c7:fc:34',
    }),
  ]
}

const subnetEnv = (mtu: string, more: Record<string, string> = {}): SubnetEnv =>
  subnetEnvKv({
    FLANNEL_NETWORK: '10.244.0.0/16',
    FLANNEL_SUBNET: '10.244.1.1/24',
    FLANNEL_MTU: mtu,
    FLANNEL_IPMASQ: 'true',
    ...more,
  })

const nodeARoutes = (): Route[] => [
  route('default', {gateway: '10.99.0.1', dev: 'eth0', onlink: true}),
  route('10.99.0.0/24', {dev: 'eth0'}),
  route('10.244.2.0/24', {gateway: '10.244.2.0', dev: 'flannel.1', onlink: true}),
]

function facts(o: StaticFactInput = {}) {
  return staticFacts({
    netConf: netConf({}),
    subnetEnv: avail(subnetEnv('1450'), 'files/run/flannel/subnet.env'),
    links: avail(nodeALinks(), 'commands/ip-link.txt'),
    routes: avail(nodeARoutes(), 'commands/ip-route.txt'),
    host: {nodeName: 'worker-1', origin: 'test'},
    ...o,
  })
}

const run = (o: StaticFactInput = {}): Finding[] => check.evaluate(facts(o))
const only = (fs: Finding[], status: string): Finding[] => fs.filter((f) => f.status === status)
const one = (fs: Finding[], subject: string): Finding => {
  const f = fs.find((x) => x.subject === subject)
  assert.ok(f, `no finding for ${subject}: ${JSON.stringify(fs, null, 1)}`)
  return f
}

test('healthy vxlan node: FLANNEL_MTU = eth0 1500 − 50, and flannel.1, cni0 and the veth carry 1450', () => {
  const fs = run()
  assert.equal(fs.length, 1, JSON.stringify(fs))
  const f = fs[0] as Finding
  assert.equal(f.status, 'ok')
  assert.match(f.message, /FLANNEL_MTU=1450 = eth0 MTU 1500 − 50 \(vxlan\)/)
  assert.match(f.message, /flannel\.1 1450/)
  assert.match(f.message, /cni0 and 1 pod veth\(s\) 1450/)
  assert.deepEqual(f.evidence[0], {source: 'files/run/flannel/subnet.env', lines: ['FLANNEL_MTU=1450']})
})

test('flannel.1 kept MTU 1500 from an earlier start: error naming the stale device and flannel behaviour', () => {
  const fs = run({links: nodeALinks({flannel: 1500})})
  const f = one(fs, 'flannel.1')
  assert.equal(f.status, 'error')
  assert.match(f.message, /flannel\.1 has MTU 1500, not FLANNEL_MTU 1450/)
  assert.match(f.message, /does not change the MTU/)
  assert.deepEqual(f.fix, ['ip link set dev flannel.1 mtu 1450'])
  assert.ok(f.evidence[0]?.lines[0]?.includes('flannel.1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500'))
  assert.ok(f.evidence[0]?.lines[1]?.startsWith('vxlan id 1 local 10.99.0.11 dev eth0'))
})

test('a pod veth larger than FLANNEL_MTU is an error per veth; a smaller cni0 is a warning', () => {
  const fs = run({links: nodeALinks({veth: 1500, cni0: 1400})})
  const v = one(fs, 'veth vethab12cd34')
  assert.equal(v.status, 'error')
  assert.match(v.message, /vethab12cd34 has MTU 1500, larger than FLANNEL_MTU 1450/)
  assert.equal(v.fix?.[0], 'ip link set dev vethab12cd34 mtu 1450')
  assert.match(v.fix?.[1] ?? '', /delete the pod/)
  const c = one(fs, 'cni0')
  assert.equal(c.status, 'warning')
  assert.deepEqual(c.fix, ['ip link set dev cni0 mtu 1450'])
  assert.equal(only(fs, 'ok').length, 0)
})

test('underlay MTU lowered to 1400 after flannel started: FLANNEL_MTU 1450 is too large', () => {
  const fs = run({links: nodeALinks({eth0: 1400})})
  const f = one(fs, 'FLANNEL_MTU')
  assert.equal(f.status, 'error')
  assert.match(f.message, /FLANNEL_MTU is 1450, larger than eth0 MTU 1400 − 50 \(vxlan\) = 1350/)
  assert.ok(
    f.fix?.includes(
      'kubectl -n kube-flannel delete pod -l app=flannel --field-selector spec.nodeName=worker-1',
    ),
  )
  assert.ok(f.fix?.includes('ip link set dev flannel.1 mtu 1350'))
  const lines = f.evidence.flatMap((e) => e.lines)
  assert.ok(lines.some((l) => l.includes('eth0@if3') && l.includes('mtu 1400')))
})

test('FLANNEL_MTU smaller than possible is a warning, not an error', () => {
  const fs = run({links: nodeALinks({eth0: 9000, flannel: 1450})})
  const f = one(fs, 'FLANNEL_MTU')
  assert.equal(f.status, 'warning')
  assert.match(f.message, /smaller than eth0 MTU 9000 − 50 \(vxlan\) = 8950/)
})

test('the Backend MTU option is honoured (MTU 1400 → FLANNEL_MTU 1350)', () => {
  const fs = run({
    netConf: netConf({MTU: 1400}),
    subnetEnv: subnetEnv('1350'),
    links: nodeALinks({flannel: 1350, cni0: 1350, veth: 1350}),
  })
  assert.equal(fs.length, 1, JSON.stringify(fs))
  assert.equal(fs[0]?.status, 'ok')
  assert.match(fs[0]?.message ?? '', /Backend MTU 1400 − 50 \(vxlan\)/)
})

test('a Backend MTU option above the interface MTU is an error quoting the net-conf line', () => {
  const fs = run({
    netConf: netConf({MTU: 9000}),
    subnetEnv: subnetEnv('8950'),
    links: nodeALinks({flannel: 8950, cni0: 8950, veth: 8950}),
  })
  const f = fs.find((x) => x.message.includes('Backend MTU option 9000'))
  assert.ok(f, JSON.stringify(fs))
  assert.equal(f.status, 'error')
  assert.ok(f.evidence[0]?.lines.includes('"MTU": 9000'))
})

test('vxlan with IPv6 enabled warns that 70 bytes are needed, and gives the MTU to set', () => {
  const fs = run({netConf: netConf({}, {EnableIPv6: true, IPv6Network: 'fd00:244::/56'})})
  const f = one(fs, 'FLANNEL_MTU')
  assert.equal(f.status, 'warning')
  assert.match(f.message, /IPv6 underlay VXLAN needs 70/)
  assert.match(f.fix?.[0] ?? '', /"MTU": 1480 \(interface MTU 1500 − 20\).*FLANNEL_MTU becomes 1430/)
})

test('host-gw takes the underlay from the default route and subtracts nothing', () => {
  const links = nodeALinks({cni0: 1500, veth: 1500}).filter((l) => l.name !== 'flannel.1')
  const fs = run({netConf: netConf({}, {}, 'host-gw'), subnetEnv: subnetEnv('1500'), links})
  assert.equal(fs.length, 1, JSON.stringify(fs))
  assert.equal(fs[0]?.status, 'ok')
  assert.match(fs[0]?.message ?? '', /FLANNEL_MTU=1500 = eth0 MTU 1500 − 0 \(host-gw\)/)
  assert.ok(
    fs[0]?.evidence.some(
      (e) => e.source === 'commands/ip-route.txt' && e.lines[0] === 'default via 10.99.0.1 dev eth0 onlink',
    ),
  )
})

test('wireguard: FLANNEL_MTU 1450 over eth0 1500 should be 1420', () => {
  const links = [
    ...nodeALinks({cni0: 1450, veth: 1450}).filter((l) => l.name !== 'flannel.1'),
    link(7, 'flannel-wg', {mtu: 1450, kind: 'wireguard'}),
  ]
  const fs = run({netConf: netConf({}, {}, 'wireguard'), links})
  const f = one(fs, 'FLANNEL_MTU')
  assert.equal(f.status, 'error')
  assert.match(f.message, /eth0 MTU 1500 − 80 \(wireguard\) = 1420/)
})

test('subnet.env unavailable → unknown with the reason; no FLANNEL_MTU → unknown pointing to node.subnet-env', () => {
  const absent = run({
    subnetEnv: {
      ok: false,
      state: 'absent',
      reason: '/run/flannel/subnet.env does not exist',
      source: '/run/flannel/subnet.env',
    },
  })
  assert.equal(absent.length, 1)
  assert.equal(absent[0]?.status, 'unknown')
  assert.match(absent[0]?.message ?? '', /subnet\.env: \/run\/flannel\/subnet\.env does not exist/)

  const env = subnetEnv('1450')
  env.entries = env.entries.filter((e) => e.key !== 'FLANNEL_MTU')
  const noKey = run({subnetEnv: env})
  assert.equal(noKey[0]?.status, 'unknown')
  assert.equal(noKey[0]?.hint, 'see node.subnet-env')
})

test('links unavailable → unknown with the hint; routes unavailable only matter without a vxlan device', () => {
  const fs = run({
    links: {ok: false, state: 'permission', reason: 'ip -d link needs more privilege', hint: 'run as root'},
  })
  assert.equal(fs.length, 1)
  assert.equal(fs[0]?.status, 'unknown')
  assert.equal(fs[0]?.hint, 'run as root')

  const vx = run({routes: {ok: false, state: 'not-collected', reason: 'routes was not collected'}})
  assert.equal(vx[0]?.status, 'ok', 'flannel.1 names its underlay, routes are not needed')

  const hg = run({
    netConf: netConf({}, {}, 'host-gw'),
    subnetEnv: subnetEnv('1500'),
    links: nodeALinks({cni0: 1500, veth: 1500}).filter((l) => l.name !== 'flannel.1'),
    routes: {ok: false, state: 'not-collected', reason: 'routes was not collected'},
  })
  assert.ok(
    hg.some((f) => f.status === 'unknown' && /routes was not collected/.test(f.message)),
    JSON.stringify(hg),
  )
})

test('net-conf.json that does not parse gives unknown, not a failure', () => {
  const bad = parsedNetConfFact('{\n  # comment\n}')
  const fs = run({netConf: bad})
  assert.equal(fs.length, 1)
  assert.equal(fs[0]?.status, 'unknown')
  assert.match(fs[0]?.message ?? '', /line 2, column 3/)
})
