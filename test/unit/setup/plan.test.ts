/**
 * The pure half of setup: desiredState (what flannel's backend would program) and plan / teardownPlan
 * (the exact commands). Everything "current" comes from real captures of namespaces after a real
 * `flannelctl setup` (scripts/capture-setup.sh → test/fixtures/outputs/setup/), so "current == desired →
 * empty plan" is proven against what the kernel actually prints; every stale case is one small edit
 * of such a capture. No I/O besides reading the fixtures.
 */
import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {describe, test} from 'node:test'

import {ANN, parseBackendData, peerNodes} from '../../../src/checks/lib/flannel.js'
import type {KubeNode} from '../../../src/model.js'
import {parseBridgeFdb} from '../../../src/parse/bridge-fdb.js'
import {parseIpAddr} from '../../../src/parse/ip-addr.js'
import {parseIpLink} from '../../../src/parse/ip-link.js'
import {parseIpNeigh} from '../../../src/parse/ip-neigh.js'
import {parseIpRoute} from '../../../src/parse/ip-route.js'
import {parseIptables} from '../../../src/parse/iptables.js'
import {parseNodes} from '../../../src/parse/kube.js'
import {netConfFromFile} from '../../../src/parse/netconf-source.js'
import type {NetConf} from '../../../src/parse/netconf.js'
import {parseNft} from '../../../src/parse/nft.js'
import {
  desiredState,
  flannelIptablesRules,
  flannelNftTable,
  subnetEnvText,
  type DesiredState,
  type SetupInput,
} from '../../../src/setup/desired.js'
import {chooseInterface} from '../../../src/setup/iface.js'
import {parseJournal, type Journal, type JournalEntry} from '../../../src/setup/journal.js'
import {plan, teardownPlan, type Current, type Op} from '../../../src/setup/plan.js'
import {parseCidr} from '../../../src/lib/ip.js'

const OUT = new URL('../../fixtures/outputs/', import.meta.url)
const fx = (path: string): string => readFileSync(new URL(path, OUT), 'utf8')

type CaseName = 'vxlan-before' | 'vxlan' | 'nft-direct' | 'host-gw'

/** One capture case: the parsed kernel state, the inputs setup read, and (after setup) its journal. */
interface Capture {
  conf: NetConf
  nodes: KubeNode[]
  self: KubeNode
  input: SetupInput
  cur: Current
  subnetEnvPath: string
}

function netConf(text: string): NetConf {
  const fact = netConfFromFile(text, 'net-conf.json')
  assert.ok(fact.result.ok, 'the captured net-conf.json parses')
  return fact.result.conf
}

const macOf = (n: KubeNode | undefined): string | undefined => {
  const bd = parseBackendData(n?.annotations[ANN.backendData])
  return bd.ok ? bd.data?.VtepMAC : undefined
}

/** VtepMAC of a node's backend-data annotation (as setup reads it). */
function vtepMac(n: KubeNode | undefined): string {
  const mac = macOf(n)
  assert.ok(mac, `${n?.name} has a VtepMAC`)
  return mac
}

/**
 * Load a capture the way runSetup reads a live node: net-conf, nodes, the links/addrs/routes for the
 * interface choice, and the tables for `Current`. `nodesFrom` picks another case's nodes file (the
 * peers' annotations), `conf` overrides net-conf.
 */
function load(name: CaseName, o: {nodesFrom?: CaseName; mac?: string; conf?: NetConf} = {}): Capture {
  const f = (file: string) => fx(`setup/${name}/${file}`)
  const conf = o.conf ?? netConf(f('net-conf.json'))
  const nodes = parseNodes(fx(`setup/${o.nodesFrom ?? name}/nodes.json`))
  const self = nodes.find((n) => n.name === 'node-1')
  assert.ok(self, 'node-1 is in the captured nodes file')
  const links = parseIpLink(f('ip-link.json'))
  const addrs = parseIpAddr(f('ip-addr.json'))
  const routes = parseIpRoute(f('ip-route.json'))
  const iface = chooseInterface({}, {links, addrs, routes})
  assert.ok(iface.ok, 'the captured node has a default-route interface')
  let journal: Journal = {version: 1, scope: 'capture', entries: []}
  let subnetEnv: string | undefined
  let subnetEnvPath = '/run/flannel/subnet.env'
  if (name !== 'vxlan-before') {
    journal = parseJournal(f('journal.json'), `setup/${name}/journal.json`)
    subnetEnv = f('subnet.env')
    const file = journal.entries.find((e) => e.kind === 'file')
    assert.ok(file?.kind === 'file', 'the journal records subnet.env')
    subnetEnvPath = file.path
  }
  // The annotations setup sees are those of the nodes file of *this* capture (before: none).
  const ownSelf = parseNodes(f('nodes.json')).find((n) => n.name === 'node-1')
  const cur: Current = {
    links,
    addrs,
    routes,
    neighs: parseIpNeigh(f('ip-neigh.json')),
    fdb: parseBridgeFdb(f('bridge-fdb.json')),
    annotations: ownSelf?.annotations ?? {},
    journal,
  }
  if (subnetEnv !== undefined) cur.subnetEnv = subnetEnv
  if (conf.EnableNFTables) cur.nft = parseNft(f('nft.txt'))
  else cur.iptables = parseIptables(f('iptables-save.txt'))
  const input: SetupInput = {
    conf,
    self,
    peers: peerNodes(nodes, self),
    iface: {name: iface.iface, addr: iface.ifaceAddr, publicIP: iface.publicIP, mtu: iface.mtu},
    routes,
    // As setup: the VtepMAC of the node's annotation (host-gw has none; any MAC then).
    mac: o.mac ?? macOf(self) ?? '0a:58:0a:f4:01:00',
    ipMasq: true,
    forwardRules: true,
  }
  return {conf, nodes, self, input, cur, subnetEnvPath}
}

function desired(c: Capture, input: Partial<SetupInput> = {}): DesiredState {
  const d = desiredState({...c.input, ...input})
  assert.ok(d.ok, d.ok ? '' : `desiredState refused: ${d.problem.message}`)
  return d.state
}

const planOf = (c: Capture, d: DesiredState, cur: Partial<Current> = {}): Op[] =>
  plan(d, {...c.cur, ...cur}, {subnetEnvPath: c.subnetEnvPath})

const displays = (ops: readonly Op[]) => ops.map((o) => o.display)
const explain = (ops: readonly Op[]) => displays(ops).join('\n')

const node = (c: Capture, name: string): KubeNode => {
  const n = c.nodes.find((x) => x.name === name)
  assert.ok(n, `${name} is in the capture`)
  return n
}

// The rules flannel installs, as flannel's own e2e suite pins them (flannel-io/flannel e2e/rules.go
// expectedIptablesPostrouting / expectedIptablesForward; flannel-facts §5.1), for podCIDR 10.244.1.0/24.
const FLANNEL_POSTRTG = [
  '-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN',
  '-A FLANNEL-POSTRTG -s 10.244.1.0/24 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN',
  '-A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment "flanneld masq" -j RETURN',
  '-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment "flanneld masq" -j RETURN',
  '-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
  '-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
]
const POSTRTG_JUMP = '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG'
const FLANNEL_FWD = [
  '-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
  '-A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
]
const FWD_JUMP = '-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD'

describe('desiredState', () => {
  test('vxlan: the device, its /32 address and per peer one neighbour, one FDB entry, one onlink route', () => {
    const c = load('vxlan')
    const d = desired(c)
    const mac1 = vtepMac(c.self)
    const mac2 = vtepMac(node(c, 'node-2'))
    const mac3 = vtepMac(node(c, 'node-3'))
    assert.equal(d.backend, 'vxlan')
    assert.equal(d.subnet, '10.244.1.0/24')
    assert.equal(d.network, '10.244.0.0/16')
    assert.equal(d.flannelMtu, 1450)
    assert.deepEqual(d.device, {
      name: 'flannel.1',
      vni: 1,
      port: 0,
      gbp: false,
      learning: false,
      local: '10.99.0.11',
      dev: 'eth0',
      mtu: 1450,
      mac: mac1,
      address: '10.244.1.0/32',
    })
    assert.deepEqual(
      d.peers.map((p) => ({node: p.node, mode: p.mode, neigh: p.neigh, fdb: p.fdb, route: p.route})),
      [
        {
          node: 'node-2',
          mode: 'vxlan',
          neigh: {ip: '10.244.2.0', mac: mac2, dev: 'flannel.1'},
          fdb: {mac: mac2, dst: '10.99.0.12', dev: 'flannel.1'},
          route: {dst: '10.244.2.0/24', gateway: '10.244.2.0', dev: 'flannel.1', onlink: true},
        },
        {
          node: 'node-3',
          mode: 'vxlan',
          neigh: {ip: '10.244.3.0', mac: mac3, dev: 'flannel.1'},
          fdb: {mac: mac3, dst: '10.99.0.13', dev: 'flannel.1'},
          route: {dst: '10.244.3.0/24', gateway: '10.244.3.0', dev: 'flannel.1', onlink: true},
        },
      ],
    )
    assert.deepEqual(d.ignored, [])
    // The annotations flannel publishes (flannel-facts §3.5), exactly as setup left them in the nodes file.
    assert.deepEqual(d.annotations, {
      [ANN.kubeSubnetManager]: 'true',
      [ANN.backendType]: 'vxlan',
      [ANN.publicIP]: '10.99.0.11',
      [ANN.backendData]: `{"VNI":1,"VtepMAC":"${mac1}"}`,
    })
    for (const [k, v] of Object.entries(d.annotations)) assert.equal(c.self.annotations[k], v, k)
  })

  test('DirectRouting: a peer on the underlay subnet gets `<podCIDR> via <public IP>` and no neighbour/FDB', () => {
    const c = load('nft-direct')
    const d = desired(c)
    const [n2, n3] = d.peers
    assert.equal(n2?.node, 'node-2')
    assert.equal(n2.mode, 'direct')
    assert.equal(n2.neigh, undefined)
    assert.equal(n2.fdb, undefined)
    assert.deepEqual(n2.route, {dst: '10.244.2.0/24', gateway: '10.99.0.12', onlink: false})
    // node-3's public IP is behind the default gateway: normal vxlan entries.
    assert.equal(n3?.node, 'node-3')
    assert.equal(n3.mode, 'vxlan')
    assert.deepEqual(n3.fdb, {mac: vtepMac(node(c, 'node-3')), dst: '10.98.0.13', dev: 'flannel.1'})
    assert.deepEqual(n3.route, {dst: '10.244.3.0/24', gateway: '10.244.3.0', dev: 'flannel.1', onlink: true})
    // Without the direct route the plan is exactly flannel's `ip route replace` with no device.
    const ops = planOf(c, d, {routes: c.cur.routes.filter((r) => r.dst !== '10.244.2.0/24')})
    assert.deepEqual(displays(ops), ['ip route replace 10.244.2.0/24 via 10.99.0.12'], explain(ops))
    assert.deepEqual(ops[0]?.creates, [{kind: 'route', dst: '10.244.2.0/24'}])
  })

  test('host-gw: routes via the peers public IPs on the external interface, no device, MTU of the interface', () => {
    const c = load('host-gw')
    const d = desired(c)
    assert.equal(d.backend, 'host-gw')
    assert.equal(d.device, undefined)
    assert.equal(d.flannelMtu, 1500)
    assert.deepEqual(
      d.peers.map((p) => [p.mode, p.neigh, p.fdb, p.route]),
      [
        [
          'host-gw',
          undefined,
          undefined,
          {dst: '10.244.2.0/24', gateway: '10.99.0.12', dev: 'eth0', onlink: false},
        ],
        [
          'host-gw',
          undefined,
          undefined,
          {dst: '10.244.3.0/24', gateway: '10.99.0.13', dev: 'eth0', onlink: false},
        ],
      ],
    )
    assert.equal(d.annotations[ANN.backendData], 'null')
    assert.equal(
      d.subnetEnv,
      'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=true\n',
    )
    const ops = planOf(c, d, {routes: c.cur.routes.filter((r) => r.dst !== '10.244.3.0/24')})
    assert.deepEqual(displays(ops), ['ip route replace 10.244.3.0/24 via 10.99.0.13 dev eth0'], explain(ops))
  })

  test('subnet.env is byte for byte the file flannel writes', () => {
    // A real flannel worker's file (flannel-io/flannel#1437): Network 10.244.0.0/16, podCIDR 10.244.1.0/24, vxlan over 1500.
    const real = fx('subnet-env/flannel-1437-worker.env')
    const sub = parseCidr('10.244.1.0/24')
    assert.ok(sub)
    assert.equal(subnetEnvText('10.244.0.0/16', sub, 1450, true), real)
    assert.equal(desired(load('vxlan')).subnetEnv, real)
    assert.equal(
      subnetEnvText('10.0.0.0/8', parseCidr('10.9.128.0/17') ?? sub, 8950, false),
      'FLANNEL_NETWORK=10.0.0.0/8\nFLANNEL_SUBNET=10.9.128.1/17\nFLANNEL_MTU=8950\nFLANNEL_IPMASQ=false\n',
    )
  })

  test('iptables rules in iptables-save form, as flannel pins them and as iptables-save prints them back', () => {
    const d = desired(load('vxlan'))
    assert.deepEqual(d.iptables, {
      tables: [
        {table: 'nat', chain: 'FLANNEL-POSTRTG', jump: POSTRTG_JUMP, rules: FLANNEL_POSTRTG},
        {table: 'filter', chain: 'FLANNEL-FWD', jump: FWD_JUMP, rules: FLANNEL_FWD},
      ],
    })
    assert.equal(d.nft, undefined)
    const saved = fx('setup/vxlan/iptables-save.txt').split('\n')
    for (const line of [POSTRTG_JUMP, ...FLANNEL_POSTRTG, FWD_JUMP, ...FLANNEL_FWD])
      assert.ok(saved.includes(line), `iptables-save prints ${line}`)
    // Flags switch the tables off one by one.
    assert.deepEqual(
      flannelIptablesRules('10.244.0.0/16', '10.244.1.0/24', {ipMasq: false, forwardRules: true}).tables.map(
        (t) => t.chain,
      ),
      ['FLANNEL-FWD'],
    )
    assert.deepEqual(
      flannelIptablesRules('10.244.0.0/16', '10.244.1.0/24', {ipMasq: true, forwardRules: false}).tables.map(
        (t) => t.chain,
      ),
      ['FLANNEL-POSTRTG'],
    )
  })

  test('EnableNFTables: the flannel-ipv4 table, as `nft list ruleset` prints it back', () => {
    const c = load('nft-direct')
    const d = desired(c)
    assert.equal(d.iptables, undefined)
    assert.equal(
      d.nft,
      [
        'table ip flannel-ipv4 {',
        '\tcomment "rules for flannel-ipv4"',
        '\tchain forward {',
        '\t\ttype filter hook forward priority filter; policy accept;',
        '\t\tip saddr 10.244.0.0/16 accept',
        '\t\tip daddr 10.244.0.0/16 accept',
        '\t}',
        '\tchain postrtg {',
        '\t\ttype nat hook postrouting priority srcnat; policy accept;',
        '\t\tmeta mark 0x00004000 return',
        '\t\tip saddr 10.244.1.0/24 ip daddr 10.244.0.0/16 return',
        '\t\tip saddr 10.244.0.0/16 ip daddr 10.244.1.0/24 return',
        '\t\tip saddr != 10.244.1.0/24 ip daddr 10.244.0.0/16 return',
        '\t\tip saddr 10.244.0.0/16 ip daddr != 224.0.0.0/4 masquerade fully-random',
        '\t\tip saddr != 10.244.0.0/16 ip daddr 10.244.0.0/16 masquerade fully-random',
        '\t}',
        '}',
        '',
      ].join('\n'),
    )
    // nft lists exactly this table (it adds a blank line between chains).
    const listed = fx('setup/nft-direct/nft.txt')
    const table = listed.slice(listed.indexOf('table ip flannel-ipv4 {'))
    const body = table.slice(0, table.indexOf('\n}\n') + 3)
    assert.equal(body.replace(/\n\n/g, '\n'), d.nft)
    assert.equal(
      flannelNftTable('10.244.0.0/16', '10.244.1.0/24', {ipMasq: false, forwardRules: false}),
      'table ip flannel-ipv4 {\n\tcomment "rules for flannel-ipv4"\n}\n',
    )
  })

  test('refusals name the doctor check that covers them', () => {
    const c = load('vxlan')
    const {podCIDR: _p, ...noCidr} = c.self
    const none = desiredState({...c.input, self: {...noCidr, podCIDRs: []}})
    assert.ok(!none.ok)
    assert.equal(none.problem.check, 'kube.podcidr-assigned')
    assert.match(none.problem.message, /node "node-1" pod cidr not assigned/)

    const outside = desiredState({
      ...c.input,
      self: {...c.self, podCIDR: '10.250.1.0/24', podCIDRs: ['10.250.1.0/24']},
    })
    assert.ok(!outside.ok)
    assert.equal(outside.problem.check, 'kube.podcidr-in-network')
    // flannel's own words (kube.go AcquireLease).
    assert.equal(
      outside.problem.message,
      'subnet "10.244.0.0/16" specified in the flannel net config doesn\'t contain "10.250.1.0/24" PodCIDR of the "node-1" node',
    )

    for (const type of ['wireguard', 'udp', 'ipsec']) {
      const r = desiredState({...c.input, conf: {...c.conf, backendType: type}})
      assert.ok(!r.ok, type)
      assert.equal(r.problem.check, 'netconf.schema', type)
      assert.match(r.problem.message, new RegExp(`"${type}"`))
    }
    const v6 = desiredState({...c.input, conf: {...c.conf, Network: 'fd00:244::/56'}})
    assert.ok(!v6.ok)
    assert.equal(v6.problem.check, 'netconf.schema')
  })
})

describe('plan', () => {
  test('nothing there yet: every op, in flannel order, with exact commands and journal entries', () => {
    // The real namespace before setup (only lo, eth0 and the planted foreign entries), the peers as published.
    const after = load('vxlan')
    const mac1 = vtepMac(after.self)
    const c = load('vxlan-before', {nodesFrom: 'vxlan', mac: mac1})
    const d = desired(c)
    const ops = planOf(c, d)
    const mac2 = vtepMac(node(c, 'node-2'))
    const mac3 = vtepMac(node(c, 'node-3'))
    assert.deepEqual(
      ops.map((o) => o.step),
      [
        'device',
        'address',
        'up',
        'neigh',
        'neigh',
        'fdb',
        'fdb',
        'route',
        'route',
        'iptables',
        'iptables',
        'subnet-env',
        'annotations',
      ],
    )
    const env = fx('setup/vxlan/subnet.env')
    assert.deepEqual(displays(ops), [
      `ip link add flannel.1 address ${mac1} mtu 1450 type vxlan id 1 local 10.99.0.11 dev eth0 nolearning`,
      'ip addr add 10.244.1.0/32 dev flannel.1',
      'ip link set flannel.1 up',
      `ip neigh replace 10.244.2.0 lladdr ${mac2} dev flannel.1 nud permanent`,
      `ip neigh replace 10.244.3.0 lladdr ${mac3} dev flannel.1 nud permanent`,
      `bridge fdb replace ${mac2} dev flannel.1 dst 10.99.0.12 self permanent`,
      `bridge fdb replace ${mac3} dev flannel.1 dst 10.99.0.13 self permanent`,
      'ip route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink',
      'ip route replace 10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink',
      `iptables-restore --noflush <<'EOF'\n*nat\n:FLANNEL-POSTRTG - [0:0]\n${FLANNEL_POSTRTG.join('\n')}\n${POSTRTG_JUMP}\nCOMMIT\nEOF`,
      `iptables-restore --noflush <<'EOF'\n*filter\n:FLANNEL-FWD - [0:0]\n${FLANNEL_FWD.join('\n')}\n${FWD_JUMP}\nCOMMIT\nEOF`,
      `cat > ${c.subnetEnvPath} <<'EOF'\n${env}EOF`,
      `annotate node: ${ANN.kubeSubnetManager}=true ${ANN.backendType}=vxlan ${ANN.publicIP}=10.99.0.11 ${ANN.backendData}={"VNI":1,"VtepMAC":"${mac1}"}`,
    ])
    // What each batch is fed: ip/bridge lines without the tool name, the restore body, the file text.
    assert.equal(ops[0]?.input, displays(ops)[0]?.replace(/^ip /, ''))
    assert.equal(ops[5]?.input, `fdb replace ${mac2} dev flannel.1 dst 10.99.0.12 self permanent`)
    assert.equal(
      ops[9]?.input,
      `*nat\n:FLANNEL-POSTRTG - [0:0]\n${FLANNEL_POSTRTG.join('\n')}\n${POSTRTG_JUMP}\nCOMMIT\n`,
    )
    assert.equal(ops[11]?.input, env)
    assert.equal(ops[11]?.path, c.subnetEnvPath)
    assert.deepEqual(ops[12]?.annotations, d.annotations)
    // Write-ahead: everything an op may create is named, so the journal covers a crash anywhere.
    assert.deepEqual(
      ops.flatMap((o) => o.creates ?? []),
      [
        {kind: 'link', name: 'flannel.1'},
        {kind: 'addr', dev: 'flannel.1', cidr: '10.244.1.0/32'},
        {kind: 'neigh', dev: 'flannel.1', dst: '10.244.2.0'},
        {kind: 'neigh', dev: 'flannel.1', dst: '10.244.3.0'},
        {kind: 'fdb', dev: 'flannel.1', mac: mac2},
        {kind: 'fdb', dev: 'flannel.1', mac: mac3},
        {kind: 'route', dst: '10.244.2.0/24'},
        {kind: 'route', dst: '10.244.3.0/24'},
        {kind: 'ipt-chain', table: 'nat', chain: 'FLANNEL-POSTRTG'},
        {kind: 'ipt-rule', table: 'nat', rule: POSTRTG_JUMP},
        {kind: 'ipt-chain', table: 'filter', chain: 'FLANNEL-FWD'},
        {kind: 'ipt-rule', table: 'filter', rule: FWD_JUMP},
        {kind: 'file', path: c.subnetEnvPath},
      ],
    )
    // The foreign entries already in the namespace are never part of a plan.
    assert.doesNotMatch(explain(ops), /192\.0\.2\.|10\.99\.0\.99|FOREIGN|198\.51\.100|foreign/)
  })

  for (const name of ['vxlan', 'nft-direct', 'host-gw'] as const)
    test(`${name}: the kernel as setup left it plans nothing`, () => {
      const c = load(name)
      const ops = planOf(c, desired(c))
      assert.deepEqual(displays(ops), [], explain(ops))
    })

  test('a stale neighbour MAC → exactly one `neigh replace`', () => {
    const c = load('vxlan')
    const mac2 = vtepMac(node(c, 'node-2'))
    const neighs = c.cur.neighs.map((n) => (n.dst === '10.244.2.0' ? {...n, lladdr: '0a:58:0a:f4:99:99'} : n))
    const ops = planOf(c, desired(c), {neighs})
    assert.deepEqual(
      displays(ops),
      [`ip neigh replace 10.244.2.0 lladdr ${mac2} dev flannel.1 nud permanent`],
      explain(ops),
    )
    assert.match(ops[0]?.why ?? '', /was 0a:58:0a:f4:99:99/)
    // A neighbour that is right but not PERMANENT (learned, it would age out) is replaced too.
    const learned = c.cur.neighs.map((n) => (n.dst === '10.244.3.0' ? {...n, state: ['REACHABLE']} : n))
    assert.deepEqual(displays(planOf(c, desired(c), {neighs: learned})), [
      `ip neigh replace 10.244.3.0 lladdr ${vtepMac(node(c, 'node-3'))} dev flannel.1 nud permanent`,
    ])
  })

  test('an FDB entry pointing at the wrong VTEP → one `fdb replace`; duplicates are deleted first', () => {
    const c = load('vxlan')
    const mac2 = vtepMac(node(c, 'node-2'))
    const moved = c.cur.fdb.map((e) => (e.mac === mac2 ? {...e, dst: '10.99.0.77'} : e))
    const ops = planOf(c, desired(c), {fdb: moved})
    assert.deepEqual(
      displays(ops),
      [`bridge fdb replace ${mac2} dev flannel.1 dst 10.99.0.12 self permanent`],
      explain(ops),
    )
    const old = c.cur.fdb.find((e) => e.mac === mac2)
    assert.ok(old)
    const dup = planOf(c, desired(c), {fdb: [...c.cur.fdb, {...old, dst: '10.99.0.77'}]})
    assert.deepEqual(displays(dup), [
      `bridge fdb del ${mac2} dev flannel.1 dst 10.99.0.12 self`,
      `bridge fdb del ${mac2} dev flannel.1 dst 10.99.0.77 self`,
      `bridge fdb replace ${mac2} dev flannel.1 dst 10.99.0.12 self permanent`,
    ])
  })

  test('a wrong route (a DirectRouting leftover via the underlay) → one `route replace`', () => {
    const c = load('vxlan')
    const routes = c.cur.routes.map((r) =>
      r.dst === '10.244.2.0/24' ? {...r, gateway: '10.99.0.12', dev: 'eth0', onlink: false} : r,
    )
    const ops = planOf(c, desired(c), {routes})
    assert.deepEqual(displays(ops), ['ip route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink'])
    // A missing route alone is the same op.
    const gone = planOf(c, desired(c), {routes: c.cur.routes.filter((r) => r.dst !== '10.244.3.0/24')})
    assert.deepEqual(displays(gone), ['ip route replace 10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink'])
  })

  test('a wrong MTU → `link set mtu` only (flannel does not recreate the device for it)', () => {
    const c = load('vxlan')
    const links = c.cur.links.map((l) => (l.name === 'flannel.1' ? {...l, mtu: 1400} : l))
    const ops = planOf(c, desired(c), {links})
    assert.deepEqual(displays(ops), ['ip link set flannel.1 mtu 1450'], explain(ops))
    assert.equal(ops[0]?.creates, undefined)
  })

  test('an incompatible VNI → del + add, and everything the deleted device carried is programmed again', () => {
    const c = load('vxlan')
    const flannel1 = c.cur.links.find((l) => l.name === 'flannel.1')
    assert.ok(flannel1?.vxlan)
    const links = c.cur.links.map((l) => (l === flannel1 ? {...l, vxlan: {...flannel1.vxlan!, id: 2}} : l))
    const ops = planOf(c, desired(c), {links})
    const mac1 = vtepMac(c.self)
    const mac2 = vtepMac(node(c, 'node-2'))
    const mac3 = vtepMac(node(c, 'node-3'))
    // Deleting the link takes its address, neighbours, FDB entries and routes with it (the kernel flushes them).
    assert.deepEqual(
      displays(ops),
      [
        'ip link del flannel.1',
        `ip link add flannel.1 address ${mac1} mtu 1450 type vxlan id 1 local 10.99.0.11 dev eth0 nolearning`,
        'ip addr add 10.244.1.0/32 dev flannel.1',
        'ip link set flannel.1 up',
        `ip neigh replace 10.244.2.0 lladdr ${mac2} dev flannel.1 nud permanent`,
        `ip neigh replace 10.244.3.0 lladdr ${mac3} dev flannel.1 nud permanent`,
        `bridge fdb replace ${mac2} dev flannel.1 dst 10.99.0.12 self permanent`,
        `bridge fdb replace ${mac3} dev flannel.1 dst 10.99.0.13 self permanent`,
        'ip route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink',
        'ip route replace 10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink',
      ],
      explain(ops),
    )
    assert.match(ops[0]?.why ?? '', /VNI 2, want 1/)
    // A gone node's journaled entries on that device vanish with it: no `del` that would fail the batch.
    const without3 = desired(c, {peers: peerNodes(c.nodes, c.self).filter((n) => n.name !== 'node-3')})
    const recreate = planOf(c, without3, {links})
    assert.equal(recreate.filter((o) => o.step === 'cleanup').length, 0, explain(recreate))
    assert.equal(recreate.length, ops.length - 3)
  })

  test('only the FORWARD jump missing → the jump line, without rewriting the chain', () => {
    const c = load('vxlan')
    const saved = fx('setup/vxlan/iptables-save.txt')
    assert.ok(saved.includes(`${FWD_JUMP}\n`))
    const ops = planOf(c, desired(c), {iptables: parseIptables(saved.replace(`${FWD_JUMP}\n`, ''))})
    assert.equal(ops.length, 1, explain(ops))
    assert.equal(ops[0]?.tool, 'iptables-restore')
    assert.equal(ops[0]?.input, `*filter\n${FWD_JUMP}\nCOMMIT\n`)
    assert.deepEqual(ops[0]?.creates, [{kind: 'ipt-rule', table: 'filter', rule: FWD_JUMP}])
  })

  test('a changed chain (no --random-fully, as an old iptables leaves it) → the chain rewritten whole, jump kept', () => {
    const c = load('vxlan')
    const saved = fx('setup/vxlan/iptables-save.txt')
    const old = saved.replace(/ -j MASQUERADE --random-fully/g, ' -j MASQUERADE')
    assert.notEqual(old, saved)
    const ops = planOf(c, desired(c), {iptables: parseIptables(old)})
    assert.equal(ops.length, 1, explain(ops))
    assert.equal(ops[0]?.input, `*nat\n:FLANNEL-POSTRTG - [0:0]\n${FLANNEL_POSTRTG.join('\n')}\nCOMMIT\n`)
    assert.deepEqual(ops[0]?.creates, [{kind: 'ipt-chain', table: 'nat', chain: 'FLANNEL-POSTRTG'}])
    // A rule of the chain missing is the same rewrite (flannel deletes and re-adds the whole set).
    const missing = saved.replace(`${FLANNEL_POSTRTG[2]}\n`, '')
    assert.deepEqual(
      planOf(c, desired(c), {iptables: parseIptables(missing)}).map((o) => o.input),
      [`*nat\n:FLANNEL-POSTRTG - [0:0]\n${FLANNEL_POSTRTG.join('\n')}\nCOMMIT\n`],
    )
  })

  test('nftables: a changed chain → the flannel-ipv4 table replaced whole', () => {
    const c = load('nft-direct')
    const d = desired(c)
    const listed = fx('setup/nft-direct/nft.txt')
    const edited = listed.replace('\t\tip daddr 10.244.0.0/16 accept\n', '')
    assert.notEqual(edited, listed)
    const ops = planOf(c, d, {nft: parseNft(edited)})
    assert.equal(ops.length, 1, explain(ops))
    assert.equal(ops[0]?.tool, 'nft')
    assert.equal(ops[0]?.input, `table ip flannel-ipv4\ndelete table ip flannel-ipv4\n${d.nft}`)
    assert.deepEqual(ops[0]?.creates, [{kind: 'nft-table', family: 'ip', name: 'flannel-ipv4'}])
  })

  test('a changed subnet.env is rewritten but not journaled as created (setup did not create it)', () => {
    const c = load('vxlan')
    const ops = planOf(c, desired(c), {subnetEnv: fx('setup/vxlan/subnet.env').replace('1450', '1400')})
    assert.deepEqual(
      ops.map((o) => [o.step, o.input, o.creates]),
      [['subnet-env', fx('setup/vxlan/subnet.env'), undefined]],
    )
  })

  test('entries of a node that is gone are removed when setup journaled them, and only then', () => {
    const c = load('vxlan')
    const mac3 = vtepMac(node(c, 'node-3'))
    const without3 = desired(c, {peers: peerNodes(c.nodes, c.self).filter((n) => n.name !== 'node-3')})
    const ops = planOf(c, without3)
    assert.deepEqual(
      ops.map((o) => [o.step, o.display]),
      [
        ['cleanup', 'ip neigh del 10.244.3.0 dev flannel.1'],
        ['cleanup', `bridge fdb del ${mac3} dev flannel.1 self`],
        ['cleanup', 'ip route del 10.244.3.0/24'],
      ],
    )
    assert.deepEqual(
      ops.flatMap((o) => o.removes ?? []),
      [
        {kind: 'neigh', dev: 'flannel.1', dst: '10.244.3.0'},
        {kind: 'fdb', dev: 'flannel.1', mac: mac3},
        {kind: 'route', dst: '10.244.3.0/24'},
      ],
    )
    // The same entries, made by someone else (not in the journal), are left alone.
    const of3 = (e: JournalEntry) =>
      (e.kind === 'neigh' && e.dst === '10.244.3.0') ||
      (e.kind === 'fdb' && e.mac === mac3) ||
      (e.kind === 'route' && e.dst === '10.244.3.0/24')
    const foreign: Journal = {...c.cur.journal, entries: c.cur.journal.entries.filter((e) => !of3(e))}
    assert.equal(foreign.entries.length, c.cur.journal.entries.length - 3)
    assert.deepEqual(displays(planOf(c, without3, {journal: foreign})), [])
    // Journaled entries that no longer exist need no op.
    const cleared = planOf(c, without3, {
      neighs: c.cur.neighs.filter((n) => n.dst !== '10.244.3.0'),
      fdb: c.cur.fdb.filter((e) => e.mac !== mac3),
      routes: c.cur.routes.filter((r) => r.dst !== '10.244.3.0/24'),
    })
    assert.deepEqual(displays(cleared), [])
  })
})

describe('teardownPlan', () => {
  const files = (c: Capture) => new Set([c.subnetEnvPath])
  const tearDown = (c: Capture, journal: Journal = c.cur.journal, cur: Partial<Current> = {}) =>
    teardownPlan(journal, {...c.cur, ...cur, files: files(c)})
  const FOREIGN = /192\.0\.2\.|10\.99\.0\.99|FOREIGN|198\.51\.100|foreign|other\.conf|eth0/

  test('vxlan: the device (which takes its entries along), jumps before chains, subnet.env — nothing foreign', () => {
    const c = load('vxlan')
    const ops = tearDown(c)
    assert.deepEqual(displays(ops), [
      'ip link del flannel.1',
      `iptables-restore --noflush <<'EOF'\n*nat\n-D POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG\n-F FLANNEL-POSTRTG\n-X FLANNEL-POSTRTG\nCOMMIT\nEOF`,
      `iptables-restore --noflush <<'EOF'\n*filter\n-D FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD\n-F FLANNEL-FWD\n-X FLANNEL-FWD\nCOMMIT\nEOF`,
      `rm ${c.subnetEnvPath}`,
    ])
    assert.doesNotMatch(explain(ops), FOREIGN)
    // Every journal entry is accounted for: removed by an op, or gone with the device.
    const removed = ops.flatMap((o) => o.removes ?? [])
    const onDevice = (e: JournalEntry) => 'dev' in e && e.dev === 'flannel.1'
    const viaDevice = (e: JournalEntry) =>
      e.kind === 'route' && c.cur.routes.some((r) => r.dst === e.dst && r.dev === 'flannel.1')
    assert.deepEqual(
      c.cur.journal.entries.filter((e) => !removed.includes(e)).filter((e) => !onDevice(e) && !viaDevice(e)),
      [],
    )
  })

  test('DirectRouting + nftables: the direct route (not on the device), the device, the table, the file', () => {
    const c = load('nft-direct')
    assert.deepEqual(displays(tearDown(c)), [
      'ip route del 10.244.2.0/24',
      'ip link del flannel.1',
      'nft delete table ip flannel-ipv4',
      `rm ${c.subnetEnvPath}`,
    ])
  })

  test('host-gw: the routes, the rules, the file', () => {
    const c = load('host-gw')
    const ops = tearDown(c)
    assert.deepEqual(
      ops.map((o) => o.display.split('\n')[0]),
      [
        'ip route del 10.244.2.0/24',
        'ip route del 10.244.3.0/24',
        "iptables-restore --noflush <<'EOF'",
        "iptables-restore --noflush <<'EOF'",
        `rm ${c.subnetEnvPath}`,
      ],
    )
    assert.doesNotMatch(explain(ops), FOREIGN)
  })

  test('entries on a device that teardown does not delete are removed one by one', () => {
    // The device was there before setup (not journaled): its entries go, the device stays.
    const c = load('vxlan')
    const journal = {...c.cur.journal, entries: c.cur.journal.entries.filter((e) => e.kind !== 'link')}
    const ops = tearDown(c, journal).filter((o) => o.tool === 'ip' || o.tool === 'bridge')
    const mac2 = vtepMac(node(c, 'node-2'))
    const mac3 = vtepMac(node(c, 'node-3'))
    assert.deepEqual(displays(ops), [
      'ip route del 10.244.2.0/24',
      'ip route del 10.244.3.0/24',
      `bridge fdb del ${mac2} dev flannel.1 self`,
      `bridge fdb del ${mac3} dev flannel.1 self`,
      'ip neigh del 10.244.2.0 dev flannel.1',
      'ip neigh del 10.244.3.0 dev flannel.1',
      'ip addr del 10.244.1.0/32 dev flannel.1',
    ])
  })

  test('only journaled entries that still exist: nothing recorded → nothing; already gone → skipped', () => {
    const c = load('vxlan')
    assert.deepEqual(tearDown(c, {...c.cur.journal, entries: []}), [])
    const gone = teardownPlan(c.cur.journal, {
      ...c.cur,
      links: c.cur.links.filter((l) => l.name !== 'flannel.1'),
      addrs: c.cur.addrs.filter((a) => a.ifname !== 'flannel.1'),
      neighs: c.cur.neighs.filter((n) => n.dev !== 'flannel.1'),
      fdb: c.cur.fdb.filter((e) => e.dev !== 'flannel.1'),
      routes: c.cur.routes.filter((r) => r.dev !== 'flannel.1'),
      iptables: parseIptables(fx('setup/vxlan-before/iptables-save.txt')),
      files: new Set(),
    })
    assert.deepEqual(displays(gone), [])
    // A jump that is gone while its chain is still there: only the chain goes.
    const saved = fx('setup/vxlan/iptables-save.txt').replace(`${FWD_JUMP}\n`, '')
    const partial = tearDown(c, c.cur.journal, {iptables: parseIptables(saved)}).filter(
      (o) => o.tool === 'iptables-restore',
    )
    assert.deepEqual(
      partial.map((o) => o.input),
      [
        `*nat\n-D POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG\n-F FLANNEL-POSTRTG\n-X FLANNEL-POSTRTG\nCOMMIT\n`,
        `*filter\n-F FLANNEL-FWD\n-X FLANNEL-FWD\nCOMMIT\n`,
      ],
    )
  })
})
