import assert from 'node:assert/strict'
import {test} from 'node:test'

import {check} from '../../../src/checks/node/peers.js'
import {desiredPeerState, reachFromRoutes} from '../../../src/checks/lib/datapath.js'
import {staticFacts, type StaticFactInput} from '../../../src/facts/static.js'
import type {Finding} from '../../../src/checks/types.js'
import type {FdbEntry, KubeNode, Neigh, Route} from '../../../src/model.js'
import type {NetConfFact} from '../../../src/parse/netconf.js'
import {avail, decodedNetConf, fdb, flannelNode, neigh, netConfFact, route} from '../../support/builders.js'

// The real capture (scripts/capture-fixtures.sh; test/fixtures/outputs/ip-route/iproute2-6.1.txt,
// ip-neigh/iproute2-6.1.txt, bridge-fdb/iproute2-6.1.txt): node A = worker-1 (10.99.0.11, 10.244.1.0/24)
// programs peer worker-2 (10.99.0.12, 0a:58:0a:f4:02:00, 10.244.2.0/24), and still holds the entries of a
// node that is gone (10.244.7.0/24, 0a:58:0a:f4:07:00 at 10.99.0.17).

const MAC_A = '0a:58:0a:f4:01:00'
const MAC_B = '0a:58:0a:f4:02:00'
const MAC_GONE = '0a:58:0a:f4:07:00'

const netConf = (backend: Record<string, unknown> = {}, type = 'vxlan'): NetConfFact =>
  netConfFact({backendType: type, backend})

const node = (
  name: string,
  podCIDR: string,
  publicIP: string,
  mac: string | null,
  type = 'vxlan',
): KubeNode => flannelNode(name, podCIDR, publicIP, {type, vtepMac: mac})

const worker1 = (type = 'vxlan') =>
  node('worker-1', '10.244.1.0/24', '10.99.0.11', type === 'vxlan' ? MAC_A : null, type)
const worker2 = (o: {ip?: string; mac?: string; type?: string} = {}) =>
  node(
    'worker-2',
    '10.244.2.0/24',
    o.ip ?? '10.99.0.12',
    (o.type ?? 'vxlan') === 'vxlan' ? (o.mac ?? MAC_B) : null,
    o.type ?? 'vxlan',
  )

// The capture, line by line.
const baseRoutes = (): Route[] => [
  route('default', {gateway: '10.99.0.1', dev: 'eth0', onlink: true}),
  route('10.99.0.0/24', {dev: 'eth0', protocol: 'kernel', scope: 'link', src: '10.99.0.11'}),
  route('10.244.1.0/24', {dev: 'cni0', protocol: 'kernel', scope: 'link', src: '10.244.1.1'}),
]
const peerRoute = () => route('10.244.2.0/24', {gateway: '10.244.2.0', dev: 'flannel.1', onlink: true})
const goneRoute = () => route('10.244.7.0/24', {gateway: '10.244.7.0', dev: 'flannel.1', onlink: true})
const capturedRoutes = (): Route[] => [
  ...baseRoutes(),
  peerRoute(),
  route('10.244.3.0/24', {gateway: '10.99.0.12', dev: 'eth0'}),
  goneRoute(),
  route('10.244.9.0/24', {type: 'blackhole'}),
]
const capturedNeighs = (): Neigh[] => [
  neigh('10.244.7.0', 'flannel.1', MAC_GONE),
  neigh('10.244.2.0', 'flannel.1', MAC_B),
  neigh('10.244.1.2', 'cni0', 'f2:7a:95:fd:49:17', 'DELAY'),
  neigh('10.99.0.12', 'eth0', '3a:3a:72:a6:93:6e', 'REACHABLE'),
]
const capturedFdb = (): FdbEntry[] => [
  fdb('33:33:00:00:00:01', 'eth0'),
  fdb('01:00:5e:00:00:01', 'eth0'),
  fdb(MAC_GONE, 'flannel.1', '10.99.0.17'),
  fdb(MAC_B, 'flannel.1', '10.99.0.12'),
  fdb('33:33:00:00:00:01', 'cni0'),
  fdb('f2:7a:95:fd:49:17', 'vethab12cd34', undefined, {self: false, permanent: false}),
]
const healthyRoutes = () => [...baseRoutes(), peerRoute()]
const healthyNeighs = () => capturedNeighs().filter((n) => n.dst !== '10.244.7.0')
const healthyFdb = () => capturedFdb().filter((e) => e.mac !== MAC_GONE)

function run(o: StaticFactInput = {}): Finding[] {
  return check.evaluate(
    staticFacts({
      netConf: netConf(),
      nodes: avail([worker1(), worker2()], 'kubernetes/nodes.json'),
      host: {nodeName: 'worker-1', origin: 'test'},
      routes: avail(healthyRoutes(), 'commands/ip-route.txt'),
      neighs: avail(healthyNeighs(), 'commands/ip-neigh.txt'),
      fdb: avail(healthyFdb(), 'commands/bridge-fdb.txt'),
      ...o,
    }),
  )
}
const PEER = 'peer worker-2 (10.244.2.0/24)'
const RESTART = 'kubectl -n kube-flannel delete pod -l app=flannel --field-selector spec.nodeName=worker-1'
function bySubject(fs: Finding[], subject: string): Finding {
  const f = fs.filter((x) => x.subject === subject)
  assert.equal(f.length, 1, `one finding for ${subject}: ${JSON.stringify(fs, null, 1)}`)
  return f[0] as Finding
}

test('healthy vxlan peer: neighbour, FDB and route in place', () => {
  const fs = run()
  assert.equal(fs.length, 1, JSON.stringify(fs, null, 1))
  const f = bySubject(fs, PEER)
  assert.equal(f.status, 'ok')
  assert.match(f.message, /10\.244\.2\.0\/24 over flannel\.1 to 10\.99\.0\.12 \(VtepMAC 0a:58:0a:f4:02:00\)/)
  const lines = f.evidence.flatMap((e) => e.lines)
  for (const l of [
    '10.244.2.0 dev flannel.1 lladdr 0a:58:0a:f4:02:00 PERMANENT',
    '0a:58:0a:f4:02:00 dev flannel.1 dst 10.99.0.12 self permanent',
    '10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink',
  ])
    assert.ok(lines.includes(l), l)
})

test('the captured node: worker-2 ok, and the gone node 10.244.7.0/24 reported once with route, FDB, neighbour removal', () => {
  const fs = run({
    routes: avail(capturedRoutes(), 'commands/ip-route.txt'),
    neighs: avail(capturedNeighs(), 'commands/ip-neigh.txt'),
    fdb: avail(capturedFdb(), 'commands/bridge-fdb.txt'),
  })
  assert.equal(bySubject(fs, PEER).status, 'ok')
  const g = bySubject(fs, 'leftover 10.244.7.0/24')
  assert.equal(g.status, 'warning')
  assert.match(
    g.message,
    /flannel\.1 still has entries for 10\.244\.7\.0\/24, which belongs to no current flannel node/,
  )
  assert.deepEqual(g.fix, [
    'ip route del 10.244.7.0/24 via 10.244.7.0 dev flannel.1',
    `bridge fdb del ${MAC_GONE} dev flannel.1 dst 10.99.0.17 self`,
    'ip neigh del 10.244.7.0 dev flannel.1',
  ])
  assert.deepEqual(
    g.evidence.map((e) => e.source),
    ['commands/ip-route.txt', 'commands/ip-neigh.txt', 'commands/bridge-fdb.txt'],
  )
  // The eth0 route 10.244.3.0/24 and the blackhole are not flannel.1's business without DirectRouting.
  assert.equal(fs.length, 2, JSON.stringify(fs, null, 1))
})

test('all three entries missing: error, fixes in programming order neighbour → FDB → route, then restart', () => {
  const fs = run({routes: baseRoutes(), neighs: [], fdb: []})
  const f = bySubject(fs, PEER)
  assert.equal(f.status, 'error')
  assert.match(
    f.message,
    /no neighbour entry 10\.244\.2\.0 → 0a:58:0a:f4:02:00 on flannel\.1; no FDB entry 0a:58:0a:f4:02:00 → 10\.99\.0\.12 on flannel\.1; no route 10\.244\.2\.0\/24 via 10\.244\.2\.0 dev flannel\.1 onlink/,
  )
  assert.deepEqual(f.fix, [
    'ip neigh replace 10.244.2.0 lladdr 0a:58:0a:f4:02:00 dev flannel.1 nud permanent',
    'bridge fdb replace 0a:58:0a:f4:02:00 dev flannel.1 dst 10.99.0.12 self permanent',
    'ip route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink',
    '# or restart flannel on this node, which re-programs every peer:',
    RESTART,
  ])
})

test("peer's VtepMAC changed (re-created flannel.1 on worker-2): stale MAC in neighbour and FDB", () => {
  const NEW = '0a:58:0a:f4:02:01'
  const fs = run({nodes: [worker1(), worker2({mac: NEW})]})
  const f = bySubject(fs, PEER)
  assert.equal(f.status, 'error')
  assert.match(
    f.message,
    new RegExp(
      `neighbour 10\\.244\\.2\\.0 on flannel\\.1 has MAC ${MAC_B} \\(PERMANENT\\), not the peer's VtepMAC ${NEW}`,
    ),
  )
  assert.match(f.message, new RegExp(`still sends ${MAC_B} to 10\\.99\\.0\\.12`))
  // The route is right (it goes via the base address), so only neighbour and FDB are re-programmed.
  assert.deepEqual(f.fix, [
    `ip neigh replace 10.244.2.0 lladdr ${NEW} dev flannel.1 nud permanent`,
    `bridge fdb replace ${NEW} dev flannel.1 dst 10.99.0.12 self permanent`,
    `bridge fdb del ${MAC_B} dev flannel.1 dst 10.99.0.12 self`,
    '# or restart flannel on this node, which re-programs every peer:',
    RESTART,
  ])
  assert.ok(
    f.evidence.some(
      (e) =>
        e.source === 'commands/bridge-fdb.txt' &&
        e.lines.includes(`${MAC_B} dev flannel.1 dst 10.99.0.12 self permanent`),
    ),
  )
  // The old MAC is that peer's, so it is not also reported as a leftover.
  assert.equal(fs.length, 1, JSON.stringify(fs, null, 1))
})

test("peer's public IP changed: the FDB dst still points to the old IP", () => {
  const fs = run({nodes: [worker1(), worker2({ip: '10.99.0.22'})]})
  const f = bySubject(fs, PEER)
  assert.equal(f.status, 'error')
  assert.match(
    f.message,
    /the FDB entry for 0a:58:0a:f4:02:00 on flannel\.1 points to 10\.99\.0\.12, not the peer's public IP 10\.99\.0\.22/,
  )
  assert.deepEqual(f.fix?.slice(0, 2), [
    'bridge fdb del 0a:58:0a:f4:02:00 dev flannel.1 dst 10.99.0.12 self',
    'bridge fdb replace 0a:58:0a:f4:02:00 dev flannel.1 dst 10.99.0.22 self permanent',
  ])
})

test('route via the wrong gateway/dev is an error with ip route replace', () => {
  const fs = run({routes: [...baseRoutes(), route('10.244.2.0/24', {gateway: '10.99.0.12', dev: 'eth0'})]})
  const f = bySubject(fs, PEER)
  assert.equal(f.status, 'error')
  assert.match(
    f.message,
    /the route to 10\.244\.2\.0\/24 is via 10\.99\.0\.12 dev eth0, not 10\.244\.2\.0\/24 via 10\.244\.2\.0 dev flannel\.1 onlink/,
  )
  assert.equal(f.fix?.[0], 'ip route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink')
})

test('DirectRouting and a connected peer: a plain route via the public IP, no neighbour/FDB needed', () => {
  const fs = run({
    netConf: netConf({DirectRouting: true}),
    routes: [...baseRoutes(), route('10.244.2.0/24', {gateway: '10.99.0.12', dev: 'eth0'})],
    neighs: [],
    fdb: [],
  })
  const f = bySubject(fs, PEER)
  assert.equal(f.status, 'ok', JSON.stringify(fs, null, 1))
  assert.match(f.message, /directly via 10\.99\.0\.12 \(DirectRouting: directly connected on eth0\)/)

  const missing = bySubject(
    run({netConf: netConf({DirectRouting: true}), routes: baseRoutes(), neighs: [], fdb: []}),
    PEER,
  )
  assert.equal(missing.status, 'error')
  assert.equal(missing.fix?.[0], 'ip route replace 10.244.2.0/24 via 10.99.0.12')
})

test('DirectRouting with the vxlan entries still in place (the capture): works, reported as info', () => {
  const fs = run({netConf: netConf({DirectRouting: true})})
  const f = bySubject(fs, PEER)
  assert.equal(f.status, 'info')
  assert.match(
    f.message,
    /still routed through flannel\.1 .*flannel would now install 10\.244\.2\.0\/24 via 10\.99\.0\.12/,
  )
})

test('DirectRouting but the peer is behind a gateway: vxlan entries are expected', () => {
  const far = worker2({ip: '192.168.5.12'})
  const fs = run({
    netConf: netConf({DirectRouting: true}),
    nodes: [worker1(), far],
    fdb: [fdb(MAC_B, 'flannel.1', '192.168.5.12')],
  })
  assert.equal(bySubject(fs, PEER).status, 'ok', JSON.stringify(fs, null, 1))
  const d = desiredPeerState({
    conf: decodedNetConf({backend: {DirectRouting: true}}),
    family: 4,
    self: worker1(),
    peers: [far],
    reach: reachFromRoutes(healthyRoutes()),
  })
  assert.ok(d.ok)
  assert.equal(d.value.peers[0]?.mode, 'vxlan')
  assert.equal(d.value.peers[0]?.reach.why, 'via gateway 10.99.0.1 dev eth0')
})

test('host-gw: route via the public IP dev eth0; missing → error; a peer behind a gateway cannot work', () => {
  const nodes = [worker1('host-gw'), worker2({type: 'host-gw'})]
  const good = run({
    netConf: netConf({}, 'host-gw'),
    nodes,
    routes: [...baseRoutes(), route('10.244.2.0/24', {gateway: '10.99.0.12', dev: 'eth0'})],
    neighs: [],
    fdb: [],
  })
  assert.equal(bySubject(good, PEER).status, 'ok', JSON.stringify(good))
  assert.match(bySubject(good, PEER).message, /via 10\.99\.0\.12 dev eth0 \(host-gw\)/)

  const missing = bySubject(run({netConf: netConf({}, 'host-gw'), nodes, routes: baseRoutes()}), PEER)
  assert.equal(missing.status, 'error')
  assert.equal(missing.fix?.[0], 'ip route replace 10.244.2.0/24 via 10.99.0.12 dev eth0')

  const far = run({
    netConf: netConf({}, 'host-gw'),
    nodes: [worker1('host-gw'), worker2({type: 'host-gw', ip: '192.168.5.12'})],
    routes: baseRoutes(),
  })
  const f = bySubject(far, PEER)
  assert.equal(f.status, 'error')
  assert.match(
    f.message,
    /host-gw needs every node on one L2 segment, but 192\.168\.5\.12 is reached via gateway 10\.99\.0\.1 dev eth0/,
  )
})

test('host-gw: a route inside Network for no current node is a leftover', () => {
  const nodes = [worker1('host-gw'), worker2({type: 'host-gw'})]
  const fs = run({
    netConf: netConf({}, 'host-gw'),
    nodes,
    routes: [
      ...baseRoutes(),
      route('10.244.2.0/24', {gateway: '10.99.0.12', dev: 'eth0'}),
      route('10.244.3.0/24', {gateway: '10.99.0.12', dev: 'eth0'}),
    ],
  })
  const g = bySubject(fs, 'leftover 10.244.3.0/24')
  assert.equal(g.status, 'warning')
  assert.match(g.message, /^The routing table still has entries for 10\.244\.3\.0\/24/)
  assert.deepEqual(g.fix, ['ip route del 10.244.3.0/24 via 10.99.0.12 dev eth0'])
})

test('a peer flannel ignores (other backend-type, no VtepMAC) is reported as info, not as missing entries', () => {
  const odd = node('worker-3', '10.244.3.0/24', '10.99.0.13', MAC_B, 'host-gw')
  const noMac = node('worker-4', '10.244.4.0/24', '10.99.0.14', null)
  const fs = run({nodes: [worker1(), worker2(), odd, noMac]})
  const a = bySubject(fs, 'peer worker-3 (10.244.3.0/24)')
  assert.equal(a.status, 'info')
  assert.match(a.message, /backend-type is "host-gw", so flannel ignores it .*kube\.flannel-annotations/)
  const b = bySubject(fs, 'peer worker-4 (10.244.4.0/24)')
  assert.equal(b.status, 'info')
  assert.match(b.message, /backend-data is null/)
})

test('only node: ok; wireguard: skip with the reason', () => {
  const fs = run({nodes: [worker1()], routes: baseRoutes(), neighs: [], fdb: []})
  assert.equal(fs.length, 1)
  assert.equal(fs[0]?.status, 'ok')
  assert.match(fs[0]?.message ?? '', /worker-1 is the only flannel node/)

  const wg = run({netConf: netConf({}, 'wireguard')})
  assert.equal(wg.length, 1)
  assert.equal(wg[0]?.status, 'skip')
  assert.match(wg[0]?.message ?? '', /wg show/)
})

test('facts unavailable: FDB not readable → unknown with hint; self unknown → unknown; podcidrs.txt only → unknown', () => {
  const noFdb = run({
    fdb: {ok: false, state: 'permission', reason: 'bridge fdb show failed without root', hint: 'run as root'},
  })
  assert.equal(noFdb.length, 1)
  assert.equal(noFdb[0]?.status, 'unknown')
  assert.equal(noFdb[0]?.hint, 'run as root')
  assert.match(noFdb[0]?.message ?? '', /forwarding database/)

  const noSelf = run({host: {origin: 'test'}})
  assert.equal(noSelf[0]?.status, 'unknown')
  assert.equal(noSelf[0]?.hint, 'pass --node-name NAME (or set NODE_NAME)')

  const partial = run({
    nodes: [
      {
        name: 'worker-1',
        podCIDR: '10.244.1.0/24',
        podCIDRs: ['10.244.1.0/24'],
        addresses: [],
        annotations: {},
        labels: {},
        partial: true,
      },
    ],
  })
  assert.equal(partial[0]?.status, 'unknown')
  assert.match(partial[0]?.hint ?? '', /kubectl get nodes -o json/)
})

test('a vxlan route without onlink (or a blackhole for the peer) is wrong', () => {
  const plain = bySubject(
    run({routes: [...baseRoutes(), route('10.244.2.0/24', {gateway: '10.244.2.0', dev: 'flannel.1'})]}),
    PEER,
  )
  assert.equal(plain.status, 'error')
  assert.match(
    plain.message,
    /the route to 10\.244\.2\.0\/24 is via 10\.244\.2\.0 dev flannel\.1, not 10\.244\.2\.0\/24 via 10\.244\.2\.0 dev flannel\.1 onlink/,
  )

  const bh = bySubject(run({routes: [...baseRoutes(), route('10.244.2.0/24', {type: 'blackhole'})]}), PEER)
  assert.equal(bh.status, 'error')
  assert.match(bh.message, /is a blackhole route/)
  assert.deepEqual(bh.fix?.slice(0, 2), [
    'ip route del blackhole 10.244.2.0/24',
    'ip route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink',
  ])
})
