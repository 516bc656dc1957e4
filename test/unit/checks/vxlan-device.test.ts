import assert from 'node:assert/strict'
import {test} from 'node:test'

import {check} from '../../../src/checks/node/vxlan-device.js'
import {staticFacts, type StaticFactInput} from '../../../src/facts/static.js'
import type {Finding} from '../../../src/checks/types.js'
import type {Addr, KubeNode, Link, VxlanInfo} from '../../../src/model.js'
import type {NetConf, NetConfFact} from '../../../src/parse/netconf.js'
import {addr, avail, flannelNode, netConfFact} from '../../support/builders.js'

// Values of the real capture (scripts/capture-fixtures.sh; test/fixtures/outputs/ip-link/iproute2-6.1-d.txt,
// ip-addr/iproute2-6.1.txt): node A = worker-1, 10.99.0.11 on eth0, flannel.1 MAC 0a:58:0a:f4:01:00 with
// 10.244.1.0/32; peer worker-2 10.99.0.12, MAC 0a:58:0a:f4:02:00, podCIDR 10.244.2.0/24.

const MAC_A = '0a:58:0a:f4:01:00'
const MAC_B = '0a:58:0a:f4:02:00'

const netConf = (
  backend: Record<string, unknown> = {},
  type = 'vxlan',
  o: Partial<NetConf> = {},
): NetConfFact => netConfFact({backendType: type, backend, ...o})

interface VxOpts {
  id?: number
  local?: string | null
  dstport?: number
  learning?: boolean
  gbp?: boolean
  mac?: string
  up?: boolean
  kind?: string
  mtu?: number
  details?: boolean
}

function flannelLink(o: VxOpts = {}, name = 'flannel.1'): Link {
  const up = o.up ?? true
  const v: VxlanInfo = {
    id: o.id ?? 1,
    dev: 'eth0',
    dstport: o.dstport ?? 8472,
    learning: o.learning ?? false,
    gbp: o.gbp ?? false,
  }
  if (o.local !== null) v.local = o.local ?? '10.99.0.11'
  const l: Link = {
    index: 3,
    name,
    kind: o.kind ?? 'vxlan',
    mtu: o.mtu ?? 1450,
    mac: o.mac ?? MAC_A,
    flags: up ? ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'] : ['BROADCAST', 'MULTICAST'],
    up,
    raw: `3: ${name}: <${up ? 'BROADCAST,MULTICAST,UP,LOWER_UP' : 'BROADCAST,MULTICAST'}> mtu ${o.mtu ?? 1450} qdisc noqueue state ${up ? 'UNKNOWN' : 'DOWN'} mode DEFAULT group default qlen 1000`,
  }
  if (o.details !== false && (o.kind ?? 'vxlan') === 'vxlan') {
    l.vxlan = v
    l.detailRaw = `vxlan id ${v.id}${v.local ? ` local ${v.local}` : ''} dev eth0 srcport 0 0 dstport ${v.dstport} ${v.learning ? '' : 'nolearning '}ttl auto ageing 300 udpcsum noudp6zerocsumtx noudp6zerocsumrx${v.gbp ? ' gbp' : ''}`
  }
  return l
}

const eth0: Link = {
  index: 2,
  name: 'eth0',
  parent: 'if3',
  kind: 'veth',
  mtu: 1500,
  mac: '0a:95:fa:58:3b:b9',
  flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
  up: true,
  raw: '2: eth0@if3: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default qlen 1000',
}

const nodeAAddrs = (flannelAddrs: string[] = ['10.244.1.0/32']): Addr[] => [
  addr('lo', '127.0.0.1/8', {scope: 'host'}),
  addr('eth0', '10.99.0.11/24'),
  ...flannelAddrs.map((a) => addr('flannel.1', a)),
  addr('flannel.1', 'fe80::858:aff:fef4:100/64', {scope: 'link'}),
  addr('cni0', '10.244.1.1/24'),
]

const node = (
  name: string,
  podCIDR: string,
  publicIP: string,
  mac: string,
  more: Record<string, string> = {},
): KubeNode => flannelNode(name, podCIDR, publicIP, {vtepMac: mac, extra: more})

const nodes = (self: KubeNode = node('worker-1', '10.244.1.0/24', '10.99.0.11', MAC_A)): KubeNode[] => [
  self,
  node('worker-2', '10.244.2.0/24', '10.99.0.12', MAC_B),
]

function run(o: StaticFactInput = {}): Finding[] {
  return check.evaluate(
    staticFacts({
      netConf: netConf(),
      links: avail([eth0, flannelLink()], 'commands/ip-link.txt'),
      addrs: avail(nodeAAddrs(), 'commands/ip-addr.txt'),
      nodes: avail(nodes(), 'kubernetes/nodes.json'),
      host: {nodeName: 'worker-1', origin: 'test'},
      ...o,
    }),
  )
}

const problems = (fs: Finding[]): Finding[] => fs.filter((f) => f.status !== 'ok')
function single(fs: Finding[], status: string, re: RegExp): Finding {
  const hits = fs.filter((f) => f.status === status && re.test(f.message))
  assert.equal(hits.length, 1, `expected one ${status} matching ${re}: ${JSON.stringify(fs, null, 1)}`)
  return hits[0] as Finding
}

test('healthy flannel.1: up, VNI 1, dstport 8472, nolearning, local = public IP, MAC = VtepMAC, 10.244.1.0/32', () => {
  const fs = run()
  assert.equal(fs.length, 1, JSON.stringify(fs))
  const f = fs[0] as Finding
  assert.equal(f.status, 'ok')
  assert.equal(f.subject, 'flannel.1')
  for (const part of [
    'up',
    'VNI 1',
    'dstport 8472',
    'nolearning',
    "local 10.99.0.11 (worker-1's public IP)",
    `MAC ${MAC_A}`,
    'address 10.244.1.0/32',
  ])
    assert.ok(f.message.includes(part), `${part} in ${f.message}`)
})

test('MAC rewritten (systemd MACAddressPolicy): error with the annotated MAC to restore', () => {
  const fs = run({links: [eth0, flannelLink({mac: 'b2:7c:11:3e:8d:42'})]})
  const f = single(fs, 'error', /MAC/)
  assert.equal(f.subject, 'flannel.1')
  assert.match(f.message, new RegExp(`has MAC b2:7c:11:3e:8d:42, but worker-1 advertises VtepMAC ${MAC_A}`))
  assert.equal(f.fix?.[0], `ip link set dev flannel.1 address ${MAC_A}`)
  assert.ok(f.fix?.some((x) => x.includes('MACAddressPolicy=none')))
  assert.ok(
    f.evidence.some(
      (e) => e.source === 'kubernetes/nodes.json' && e.lines[0]?.includes(`"VtepMAC":"${MAC_A}"`),
    ),
  )
})

test('dstport 4789 while Port is unset (8472): incompatible configuration, quoted as flannel logs it', () => {
  const fs = run({links: [eth0, flannelLink({dstport: 4789})]})
  const f = single(fs, 'error', /dstport/)
  assert.match(f.message, /dstport 4789, but net-conf\.json gives 8472 \(Port 0 or unset/)
  assert.match(f.message, /`"flannel\.1" already exists with incompatible configuration`/)
  assert.deepEqual(f.fix?.slice(0, 1), ['ip link delete flannel.1'])
  assert.ok(
    f.fix?.includes(
      'kubectl -n kube-flannel delete pod -l app=flannel --field-selector spec.nodeName=worker-1',
    ),
  )
  assert.ok(f.evidence[0]?.lines[1]?.includes('dstport 4789'))
})

test('Port 4789 in net-conf and 4789 on the device is fine; VNI 2 in net-conf looks for flannel.2', () => {
  assert.equal(
    run({netConf: netConf({Port: 4789}), links: [eth0, flannelLink({dstport: 4789})]})[0]?.status,
    'ok',
  )
  const fs = run({netConf: netConf({VNI: 2})})
  const f = single(fs, 'error', /flannel\.2 does not exist/)
  assert.equal(f.subject, 'flannel.2')
})

test('learning on while Learning is false is a warning; GBP off while configured is an error', () => {
  const fs = run({links: [eth0, flannelLink({learning: true})]})
  const w = single(fs, 'warning', /learning on/)
  assert.match(w.message, /never corrects learning/)
  const g = run({netConf: netConf({GBP: true})})
  single(g, 'error', /GBP off, but net-conf\.json has GBP true/)
})

test('local is an old address that this host no longer holds: error naming both IPs', () => {
  const fs = run({links: [eth0, flannelLink({local: '10.99.0.21'})]})
  const f = single(fs, 'error', /local/)
  assert.match(
    f.message,
    /flannel\.1's local is 10\.99\.0\.21, but worker-1's public IP is 10\.99\.0\.11, and 10\.99\.0\.21 is no longer an address of this host/,
  )
  assert.ok(
    f.evidence.some((e) => e.lines.includes('worker-1 flannel.alpha.coreos.com/public-ip: 10.99.0.11')),
  )
})

test('behind NAT (public-ip-overwrite not on this host) local = interface address is correct', () => {
  const self = node('worker-1', '10.244.1.0/24', '203.0.113.11', MAC_A, {
    'flannel.alpha.coreos.com/public-ip-overwrite': '203.0.113.11',
  })
  const fs = run({nodes: nodes(self)})
  assert.equal(fs.length, 1, JSON.stringify(fs))
  assert.equal(fs[0]?.status, 'ok')
  assert.match(
    fs[0]?.message ?? '',
    /local 10\.99\.0\.11 \(the interface address; public IP 203\.0\.113\.11 is not on this host/,
  )
})

test('a leftover address inside Network is an error; a missing /32 gives the ip addr add to paste', () => {
  const extra = run({addrs: nodeAAddrs(['10.244.1.0/32', '10.244.5.0/32'])})
  const f = single(extra, 'error', /also holds/)
  assert.match(f.message, /also holds 10\.244\.5\.0\/32 inside Network 10\.244\.0\.0\/16/)
  assert.deepEqual(f.fix, ['ip addr del 10.244.5.0/32 dev flannel.1'])

  const wrongPrefix = run({addrs: nodeAAddrs(['10.244.1.0/24'])})
  const m = single(wrongPrefix, 'error', /does not hold 10\.244\.1\.0\/32/)
  assert.deepEqual(m.fix, ['ip addr add 10.244.1.0/32 dev flannel.1'])
  single(wrongPrefix, 'error', /also holds 10\.244\.1\.0\/24/)
})

test('missing device: error telling to restart flannel on this node', () => {
  const fs = run({links: [eth0]})
  assert.equal(fs.length, 1)
  const f = fs[0] as Finding
  assert.equal(f.status, 'error')
  assert.equal(f.subject, 'flannel.1')
  assert.match(f.message, /flannel\.1 does not exist/)
  assert.deepEqual(f.fix, [
    'kubectl -n kube-flannel delete pod -l app=flannel --field-selector spec.nodeName=worker-1',
  ])
})

test('device down, or not a vxlan device at all', () => {
  const down = single(run({links: [eth0, flannelLink({up: false})]}), 'error', /is down/)
  assert.deepEqual(down.fix, ['ip link set dev flannel.1 up'])
  const dummy = run({links: [eth0, flannelLink({kind: 'dummy'})]})
  assert.equal(dummy.length, 1)
  assert.match(dummy[0]?.message ?? '', /flannel\.1 is a dummy device, not vxlan/)
})

test('IPv6 enabled: flannel-v6.1 is checked too (address <v6 base>/128, backend-v6-data MAC)', () => {
  const self = node('worker-1', '10.244.1.0/24', '10.99.0.11', MAC_A, {
    'flannel.alpha.coreos.com/backend-v6-data': JSON.stringify({VNI: 1, VtepMAC: '0a:58:0a:f4:01:01'}),
    'flannel.alpha.coreos.com/public-ipv6': 'fd00:99::11',
  })
  self.podCIDRs = ['10.244.1.0/24', 'fd00:244:0:1::/64']
  const v6 = flannelLink({local: 'fd00:99::11', mac: '0a:58:0a:f4:01:01'}, 'flannel-v6.1')
  const fs = run({
    netConf: netConf({}, 'vxlan', {EnableIPv6: true, IPv6Network: 'fd00:244::/56'}),
    nodes: nodes(self),
    links: [eth0, flannelLink(), v6],
    addrs: [...nodeAAddrs(), addr('eth0', 'fd00:99::11/64'), addr('flannel-v6.1', 'fd00:244:0:1::/128')],
  })
  assert.deepEqual(
    fs.map((f) => [f.status, f.subject]),
    [
      ['ok', 'flannel.1'],
      ['ok', 'flannel-v6.1'],
    ],
    JSON.stringify(fs, null, 1),
  )
  assert.match(fs[1]?.message ?? '', /address fd00:244:0:1::\/128/)
})

test('non-vxlan backend: skip', () => {
  const fs = run({netConf: netConf({}, 'host-gw')})
  assert.equal(fs.length, 1)
  assert.equal(fs[0]?.status, 'skip')
  assert.match(fs[0]?.message ?? '', /host-gw/)
})

test('links unavailable → unknown with hint; nodes unavailable → unknown for MAC/local/address, device still checked', () => {
  const noLinks = run({
    links: {ok: false, state: 'not-installed', reason: 'ip is not installed', hint: 'install iproute2'},
  })
  assert.equal(noLinks.length, 1)
  assert.equal(noLinks[0]?.status, 'unknown')
  assert.equal(noLinks[0]?.hint, 'install iproute2')

  const noNodes = run({
    nodes: {ok: false, state: 'not-collected', reason: 'nodes was not collected', hint: 'pass --nodes-file'},
  })
  assert.ok(noNodes.some((f) => f.status === 'unknown' && /nodes was not collected/.test(f.message)))
  const okf = noNodes.find((f) => f.status === 'ok')
  assert.ok(okf && /VNI 1/.test(okf.message) && !/MAC/.test(okf.message))

  const noDetails = run({links: [eth0, flannelLink({details: false})]})
  assert.ok(noDetails.some((f) => f.status === 'unknown' && /no vxlan details/.test(f.message)))
  assert.equal(problems(noDetails).filter((f) => f.status === 'error').length, 0)
})

test('this node cannot be identified → unknown asking for --node-name', () => {
  const fs = run({host: {origin: 'test'}, addrs: [addr('eth0', '192.168.7.7/24')]})
  const f = fs.find((x) => x.status === 'unknown' && /which of the 2 nodes/.test(x.message))
  assert.ok(f, JSON.stringify(fs))
  assert.equal(f.hint, 'pass --node-name NAME (or set NODE_NAME)')
})

test('flannel.1 carrying VNI 2 while net-conf says VNI 1: incompatible, re-created on the next start', () => {
  const f = single(run({links: [eth0, flannelLink({id: 2})]}), 'error', /VNI/)
  assert.match(f.message, /flannel\.1 has VNI 2, but net-conf\.json says VNI 1/)
  assert.equal(f.fix?.[0], 'ip link delete flannel.1')
})
