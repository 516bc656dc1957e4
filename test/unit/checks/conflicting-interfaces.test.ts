import assert from 'node:assert/strict'
import {test} from 'node:test'

import {check} from '../../../src/checks/node/conflicting-interfaces.js'
import {staticFacts, type StaticFactInput} from '../../../src/facts/static.js'
import type {Finding} from '../../../src/checks/types.js'
import type {Addr, Link, VxlanInfo} from '../../../src/model.js'
import type {NetConfFact} from '../../../src/parse/netconf.js'
import {addr, avail, link, netConfFact} from '../../support/builders.js'

// The real capture (test/fixtures/outputs/ip-link/iproute2-6.1-d.txt) has node A's flannel.1 (vxlan id 1,
// dstport 8472) and a `cilium_vxlan` (vxlan id 2, dstport 8473, down) left by another CNI.

const netConf = (backend: Record<string, unknown> = {}, type = 'vxlan'): NetConfFact =>
  netConfFact({backendType: type, backend})

const vx = (id: number, dstport: number, local?: string): VxlanInfo => {
  const v: VxlanInfo = {id, dstport, learning: false, gbp: false}
  if (local) {
    v.local = local
    v.dev = 'eth0'
  }
  return v
}

const healthy = (): Link[] => [
  link(1, 'lo', {mtu: 65536}),
  link(2, 'eth0', {kind: 'veth'}),
  link(3, 'flannel.1', {kind: 'vxlan', mtu: 1450, vxlan: vx(1, 8472, '10.99.0.11')}),
  link(4, 'cni0', {kind: 'bridge', mtu: 1450}),
  link(5, 'vethab12cd34', {kind: 'veth', mtu: 1450}),
  link(7, 'kube-ipvs0', {kind: 'dummy', up: false}),
  link(8, 'tunl0', {kind: 'ipip', up: false, mtu: 1480}),
]
const cilium = (dstport = 8473) => link(6, 'cilium_vxlan', {kind: 'vxlan', up: false, vxlan: vx(2, dstport)})

const addrs = (): Addr[] => [
  addr('eth0', '10.99.0.11/24'),
  addr('flannel.1', '10.244.1.0/32'),
  addr('cni0', '10.244.1.1/24'),
]

function run(o: StaticFactInput = {}): Finding[] {
  return check.evaluate(
    staticFacts({
      links: avail(healthy(), 'commands/ip-link.txt'),
      addrs: avail(addrs(), 'commands/ip-addr.txt'),
      netConf: netConf(),
      ...o,
    }),
  )
}
const warnings = (fs: Finding[]) => fs.filter((f) => f.status === 'warning')

test('flannel, cni0, kube-ipvs0 and an unaddressed tunl0: nothing conflicts', () => {
  const fs = run()
  assert.equal(fs.length, 1, JSON.stringify(fs))
  assert.equal(fs[0]?.status, 'ok')
  assert.match(fs[0]?.message ?? '', /None of the 7 links/)
})

test('the captured cilium_vxlan: warning naming Cilium, with ip link delete and the CNI config advice', () => {
  const fs = run({links: avail([...healthy(), cilium()], 'commands/ip-link.txt')})
  const w = warnings(fs)
  assert.equal(w.length, 1, JSON.stringify(fs))
  const f = w[0] as Finding
  assert.equal(f.subject, 'link cilium_vxlan')
  assert.match(f.message, /cilium_vxlan is a device of Cilium/)
  assert.doesNotMatch(f.message, /8472/)
  assert.equal(f.fix?.[0], 'ip link delete cilium_vxlan')
  assert.match(f.fix?.[1] ?? '', /\/etc\/cni\/net\.d \(e\.g\. 05-cilium\.conflist\)/)
  assert.deepEqual(f.evidence[0]?.source, 'commands/ip-link.txt')
  assert.ok(f.evidence[0]?.lines[1]?.startsWith('vxlan id 2 srcport 0 0 dstport 8473'))
})

test("cilium_vxlan on flannel's port 8472 says they compete for the traffic", () => {
  const fs = run({links: [...healthy(), cilium(8472)]})
  assert.match(warnings(fs)[0]?.message ?? '', /listens on UDP 8472, flannel's VXLAN port/)
})

test('a second vxlan device on the same dstport, and Calico/Weave names', () => {
  const fs = run({
    links: [
      ...healthy(),
      link(9, 'vxlan0', {kind: 'vxlan', vxlan: vx(42, 8472)}),
      link(10, 'vxlan.calico', {kind: 'vxlan', vxlan: vx(4096, 4789)}),
      link(11, 'weave', {kind: 'bridge'}),
    ],
  })
  const subj = warnings(fs).map((f) => f.subject)
  assert.deepEqual(subj, ['link vxlan0', 'link vxlan.calico', 'link weave'])
  assert.match(
    warnings(fs)[0]?.message ?? '',
    /second VXLAN device on UDP 8472, the port of flannel's flannel\.1/,
  )
  assert.deepEqual(warnings(fs)[0]?.fix?.[0], 'ip link delete vxlan0')
  // a vxlan device on another port with a neutral name is left alone
  assert.equal(
    warnings(run({links: [...healthy(), link(9, 'vxlan0', {kind: 'vxlan', vxlan: vx(42, 4789)})]})).length,
    0,
  )
})

test('flannel-wg with the vxlan backend, and flannel.1 after moving to host-gw, are leftovers of an earlier backend', () => {
  const wg = run({links: [...healthy(), link(12, 'flannel-wg', {kind: 'wireguard', mtu: 1420})]})
  const f = warnings(wg)[0] as Finding
  assert.equal(f.subject, 'link flannel-wg')
  assert.match(f.message, /flannel's device for the wireguard backend, but net-conf\.json now uses vxlan/)
  assert.deepEqual(f.fix, ['ip link delete flannel-wg'])

  assert.equal(
    warnings(
      run({
        netConf: netConf({}, 'wireguard'),
        links: [
          ...healthy().filter((l) => l.name !== 'flannel.1'),
          link(12, 'flannel-wg', {kind: 'wireguard'}),
        ],
      }),
    ).length,
    0,
  )

  const hg = run({netConf: netConf({}, 'host-gw')})
  assert.equal(warnings(hg)[0]?.subject, 'link flannel.1')
  assert.match(warnings(hg)[0]?.message ?? '', /vxlan \(VNI 1\) backend, but net-conf\.json now uses host-gw/)
})

test('tunl0 with an address (Calico IPIP): warning with ip addr flush, not ip link delete', () => {
  const fs = run({addrs: [...addrs(), addr('tunl0', '192.168.77.0/32')]})
  const f = warnings(fs)[0] as Finding
  assert.equal(f.subject, 'link tunl0')
  assert.match(f.message, /tunl0 holds 192\.168\.77\.0\/32/)
  assert.equal(f.fix?.[0], 'ip addr flush dev tunl0')
  assert.ok(f.evidence.some((e) => e.lines.includes('inet 192.168.77.0/32 scope global tunl0')))
})

test('facts unavailable: links → unknown; addrs → unknown only for tunl0; net-conf → name rules still run', () => {
  const noLinks = run({
    links: {ok: false, state: 'error', reason: 'ip -d -j link show exited 1: Cannot open netlink socket'},
  })
  assert.equal(noLinks.length, 1)
  assert.equal(noLinks[0]?.status, 'unknown')
  assert.match(noLinks[0]?.message ?? '', /Cannot open netlink socket/)

  const noAddrs = run({
    addrs: {ok: false, state: 'permission', reason: 'ip addr failed', hint: 'run as root'},
  })
  assert.ok(noAddrs.some((f) => f.status === 'unknown' && /tunl0/.test(f.message)))
  assert.ok(noAddrs.some((f) => f.status === 'ok'))

  const noConf = run({
    netConf: {ok: false, state: 'absent', reason: '/etc/kube-flannel/net-conf.json does not exist'},
    links: [...healthy(), cilium()],
  })
  assert.equal(warnings(noConf)[0]?.subject, 'link cilium_vxlan')
  assert.ok(noConf.some((f) => f.status === 'unknown' && /net-conf\.json does not exist/.test(f.message)))
})
