import assert from 'node:assert/strict'
import {test} from 'node:test'

import {check} from '../../../src/checks/node/overlay-port.js'
import type {Finding} from '../../../src/checks/types.js'
import {staticFacts, type StaticFactInput} from '../../../src/facts/static.js'
import type {Addr, KubeNode} from '../../../src/model.js'
import type {NetConf, NetConfFact} from '../../../src/parse/netconf.js'
import {parseIptables} from '../../../src/parse/iptables.js'
import {flannelNode, netConfFact} from '../../support/builders.js'
import {ipt, nft, only} from './helpers.js'

const netConf = (
  type = 'vxlan',
  backend: Record<string, unknown> = {},
  o: Partial<NetConf> = {},
): NetConfFact => netConfFact({backendType: type, backend, ...o}, {source: '/etc/kube-flannel/net-conf.json'})

const node = (name: string, ip: string, cidr: string): KubeNode => flannelNode(name, cidr, ip)
// node-1 is this host (10.99.0.11 on eth0, as in the captures' namespace); node-3 sits outside 10.99.0.0/24
const NODES = [
  node('node-1', '10.99.0.11', '10.244.1.0/24'),
  node('node-2', '10.99.0.12', '10.244.2.0/24'),
  node('node-3', '192.168.7.13', '10.244.3.0/24'),
]
const ADDRS: Addr[] = [
  {
    ifname: 'lo',
    family: 'inet',
    address: '127.0.0.1',
    prefixlen: 8,
    flags: [],
    raw: 'inet 127.0.0.1/8 scope host lo',
  },
  {
    ifname: 'eth0',
    family: 'inet',
    address: '10.99.0.11',
    prefixlen: 24,
    flags: [],
    raw: 'inet 10.99.0.11/24 scope global eth0',
  },
]
const CLUSTER: StaticFactInput = {nodes: NODES, addrs: ADDRS, host: {nodeName: 'node-1', origin: 'test'}}

const run = (input: StaticFactInput): Finding[] => check.evaluate(staticFacts(input, 'commands/iptables.txt'))

test('pass: INPUT policy ACCEPT and no dropping rule', () => {
  const f = only(
    run({
      ...CLUSTER,
      netConf: netConf(),
      iptables: ipt('save-b-healthy.txt'),
      nft: nft('ruleset-iptables-nft.txt'),
    }),
  )
  assert.equal(f.status, 'ok')
  assert.equal(
    f.message,
    'Overlay traffic from the peers is accepted on the way in (udp 8472 (VXLAN) from 10.99.0.12 (node node-2), 192.168.7.13 (node node-3): iptables INPUT accepts (policy ACCEPT)).',
  )
})

test('fail: an INPUT DROP of udp 8472 names the rule, the peers and the fix', () => {
  const fs = run({
    ...CLUSTER,
    netConf: netConf(),
    iptables: ipt('save-nf_tables.txt'),
    nft: nft('ruleset.txt'),
  })
  assert.equal(fs.length, 2)
  const [i, n] = fs as [Finding, Finding]
  assert.equal(i.status, 'error')
  assert.equal(
    i.message,
    "udp 8472 (VXLAN) from 10.99.0.12 (node node-2), 192.168.7.13 (node node-3) is dropped by iptables INPUT rule 2 '-A INPUT -p udp -m udp --dport 8472 -j DROP'.",
  )
  assert.deepEqual(i.evidence, [
    {source: 'commands/iptables.txt', lines: ['-A INPUT -p udp -m udp --dport 8472 -j DROP']},
  ])
  assert.deepEqual(i.fix, [
    'iptables -I INPUT 2 -s 10.99.0.12,192.168.7.13 -p udp --dport 8472 -j ACCEPT',
    '# or remove the rule: iptables -D INPUT -p udp -m udp --dport 8472 -j DROP',
  ])
  // the nftables firewall drops it too, through a named set
  assert.equal(n.status, 'error')
  assert.match(
    n.message,
    /is dropped by nftables inet fw input \(hook input, priority 0\) rule 3 'udp dport @overlay_ports counter packets 0 bytes 0 drop comment "block overlay"'/,
  )
  assert.deepEqual(n.fix, [
    'nft insert rule inet fw input ip saddr { 10.99.0.12, 192.168.7.13 } udp dport 8472 accept',
    '# or take the port out of set overlay_ports: nft delete element inet fw overlay_ports { 8472 }',
  ])
})

test('fail: an allow-list that misses a peer, and the INPUT DROP policy', () => {
  const f = only(run({...CLUSTER, netConf: netConf(), iptables: ipt('healthy-docker-save.txt')}))
  assert.equal(f.status, 'error')
  assert.equal(
    f.message,
    'udp 8472 (VXLAN) from 192.168.7.13 (node node-3) is dropped by the iptables INPUT policy DROP: no rule accepts it.',
  )
  assert.deepEqual(f.evidence[0]?.lines, [':INPUT DROP [0:0]'])
  assert.deepEqual(f.fix, ['iptables -I INPUT 1 -s 192.168.7.13 -p udp --dport 8472 -j ACCEPT'])
  // same shape in an nft-only firewall with a set of peers
  const n = only(
    run({
      ...CLUSTER,
      netConf: netConf(),
      iptables: ipt('nftonly-firewall-save.txt'),
      nft: nft('nftonly-firewall-handles.txt'),
    }),
  )
  assert.equal(n.status, 'error')
  assert.equal(
    n.message,
    'udp 8472 (VXLAN) from 192.168.7.13 (node node-3) is dropped by the nftables inet filter input (hook input, priority 0) policy drop: no rule accepts it.',
  )
  assert.deepEqual(n.fix, ['nft insert rule inet filter input ip saddr 192.168.7.13 udp dport 8472 accept'])
})

test('ipsec: UDP 500/4500 rejected by a multiport rule, ESP accepted', () => {
  const fs = run({
    ...CLUSTER,
    netConf: netConf('ipsec', {PSK: 'x'.repeat(96)}),
    iptables: ipt('save-nf_tables.txt'),
  })
  assert.deepEqual(
    fs.map((f) => [f.status, f.subject]),
    [
      ['error', 'udp 500 (IKE)'],
      ['error', 'udp 4500 (IPsec NAT-T)'],
    ],
  )
  assert.match(
    fs[0]?.message ?? '',
    /is rejected by iptables INPUT rule 3 '-A INPUT -p udp -m multiport --dports 500,4500 -j REJECT --reject-with icmp-port-unreachable'/,
  )
  assert.equal(
    fs[1]?.fix?.[0],
    'iptables -I INPUT 3 -s 10.99.0.12,192.168.7.13 -p udp --dport 4500 -j ACCEPT',
  )
})

test('a configured vxlan Port is the one evaluated', () => {
  const f = only(
    run({
      ...CLUSTER,
      netConf: netConf('vxlan', {Port: 4789}),
      iptables: ipt('save-nf_tables.txt'),
      nft: nft('ruleset.txt'),
    }),
  )
  // iptables only drops 8472; the nft set overlay_ports holds 4789 too
  assert.equal(f.status, 'error')
  assert.equal(f.subject, 'udp 4789 (VXLAN)')
  assert.match(f.message, /nftables inet fw input/)
})

test('without the node list any source is assumed, and said so', () => {
  const f = only(run({netConf: netConf(), iptables: ipt('centos-reject-save.txt')}))
  assert.equal(f.status, 'error')
  assert.match(
    f.message,
    /^udp 8472 \(VXLAN\) from any address is rejected by iptables INPUT rule 5 '-A INPUT -j REJECT --reject-with icmp-host-prohibited' \(peer addresses unknown/,
  )
  assert.deepEqual(f.fix, [
    'iptables -I INPUT 5 -p udp --dport 8472 -j ACCEPT',
    '# or remove the rule: iptables -D INPUT -j REJECT --reject-with icmp-host-prohibited',
  ])
})

test('skip: host-gw needs no port; no other flannel node', () => {
  assert.equal(
    only(run({...CLUSTER, netConf: netConf('host-gw'), iptables: ipt('centos-reject-save.txt')})).status,
    'skip',
  )
  const alone = only(
    run({
      nodes: [NODES[0] as KubeNode],
      addrs: ADDRS,
      host: {nodeName: 'node-1', origin: 'test'},
      netConf: netConf(),
      iptables: ipt('centos-reject-save.txt'),
    }),
  )
  assert.equal(alone.status, 'skip')
})

test('unknown: net-conf or the rules cannot be read', () => {
  const a = only(run({...CLUSTER, iptables: ipt('centos-reject-save.txt')}))
  assert.equal(a.status, 'unknown')
  assert.match(a.message, /net-conf\.json/)
  const b = only(
    run({
      ...CLUSTER,
      netConf: netConf(),
      iptables: {
        ok: false,
        state: 'permission',
        reason: 'iptables-save needs root',
        hint: 'run flannelctl as root',
      },
      nft: {ok: false, state: 'not-installed', reason: 'nft is not installed'},
    }),
  )
  assert.equal(b.status, 'unknown')
  assert.equal(b.hint, 'run flannelctl as root')
})

test('IPv6 peers are named by their public-ipv6-overwrite address when they have one, as flannel uses it', () => {
  const v6 = (n: KubeNode, pub: string, overwrite?: string): KubeNode => ({
    ...n,
    annotations: {
      ...n.annotations,
      'flannel.alpha.coreos.com/public-ipv6': pub,
      ...(overwrite ? {'flannel.alpha.coreos.com/public-ipv6-overwrite': overwrite} : {}),
    },
  })
  const nodes = [
    v6(NODES[0] as KubeNode, 'fd00:99::11'),
    v6(NODES[1] as KubeNode, 'fd00:99::12', 'fd00:77::12'),
  ]
  const accept = parseIptables(
    '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n',
  )
  const fs = run({
    nodes,
    addrs: [
      ...ADDRS,
      {
        ifname: 'eth0',
        family: 'inet6',
        address: 'fd00:99::11',
        prefixlen: 64,
        flags: [],
        raw: 'inet6 fd00:99::11/64 scope global',
      },
    ],
    host: {nodeName: 'node-1', origin: 'test'},
    netConf: netConf('vxlan', {}, {EnableIPv6: true, IPv6Network: 'fd00:10:244::/56'}),
    iptables: ipt('save-b-healthy.txt'),
    ip6tables: accept,
    nft: nft('ruleset-iptables-nft.txt'),
  })
  const v6finding = fs.find((f) => f.message.includes('fd00:'))
  assert.ok(v6finding, JSON.stringify(fs.map((f) => f.message)))
  assert.match(v6finding.message, /from fd00:77::12 \(node node-2\)/)
  assert.doesNotMatch(v6finding.message, /fd00:99::12/)
})
