import assert from 'node:assert/strict'
import {test} from 'node:test'

import {
  contrary,
  evalIptables,
  evalNftHook,
  matchIptRule,
  onlyProtoOrPort,
  type Packet,
} from '../../../src/checks/lib/netfilter.js'
import {ipt, nft} from './helpers.js'

const POD_TO_POD: Packet = {src: '10.244.0.0/16', dst: '10.244.0.0/16', state: 'new'}
const VXLAN_FROM = (src: string): Packet => ({src, proto: 'udp', dport: 8472, state: 'new'})

test('iptables FORWARD: jumps, RETURN and the deciding rule; an interface left open is a "maybe"', () => {
  const rs = ipt('save-nf_tables.txt')
  const e = evalIptables(rs, 'filter', 'FORWARD', POD_TO_POD)
  assert.equal(e.verdict, 'accept')
  assert.equal(
    e.rule?.raw,
    '-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
  )
  assert.equal(e.rule?.chain, 'filter FLANNEL-FWD')
  assert.equal(e.entry?.index, 3)
  assert.deepEqual(
    e.path.map((r) => `${r.chain} ${r.index}`),
    ['filter FORWARD 1', 'filter DOCKER-USER 1', 'filter FORWARD 3', 'filter FLANNEL-FWD 1'],
  )
  // the REJECT for -i eth0 -o eth0 may apply: the packet description leaves the interfaces open
  assert.equal(e.maybe.length, 1)
  assert.equal(e.maybe[0]?.raw, '-A FORWARD -i eth0 -o eth0 -j REJECT --reject-with icmp-host-prohibited')
  assert.deepEqual(
    e.maybe[0]?.why.map((w) => w.kind),
    ['iface', 'iface'],
  )
  assert.equal(contrary(e).length, 1)
  // with the interfaces of VXLAN pod traffic the REJECT does not match
  const known = evalIptables(rs, 'filter', 'FORWARD', {...POD_TO_POD, inIface: 'cni0', outIface: 'flannel.1'})
  assert.equal(known.verdict, 'accept')
  assert.deepEqual(known.maybe, [])
})

test('iptables FORWARD: a catch-all REJECT before flannel, a policy DROP without the FLANNEL-FWD jump', () => {
  const centos = evalIptables(ipt('centos-reject-save.txt'), 'filter', 'FORWARD', POD_TO_POD)
  assert.equal(centos.verdict, 'reject')
  assert.equal(centos.rule?.index, 1)
  assert.equal(centos.rule?.raw, '-A FORWARD -j REJECT --reject-with icmp-host-prohibited')
  const stale = evalIptables(ipt('stale-save.txt'), 'filter', 'FORWARD', POD_TO_POD)
  assert.equal(stale.verdict, 'drop')
  assert.equal(stale.rule, undefined)
  assert.deepEqual(stale.policy, {chain: 'filter FORWARD', policy: 'DROP', raw: ':FORWARD DROP [0:0]'})
  // the same through -S and -L captures
  assert.equal(evalIptables(ipt('centos-reject-L-n-v.txt'), 'filter', 'FORWARD', POD_TO_POD).rule?.index, 1)
})

test('iptables INPUT: conntrack RELATED,ESTABLISHED does not match a new connection; ports, multiport, ESP', () => {
  const rs = ipt('save-nf_tables.txt')
  const vx = evalIptables(rs, 'filter', 'INPUT', VXLAN_FROM('10.99.0.12'))
  assert.equal(vx.verdict, 'drop')
  assert.equal(vx.rule?.raw, '-A INPUT -p udp -m udp --dport 8472 -j DROP')
  const est = evalIptables(rs, 'filter', 'INPUT', {...VXLAN_FROM('10.99.0.12'), state: 'established'})
  assert.equal(est.verdict, 'accept')
  assert.equal(est.rule?.index, 1)
  const natt = evalIptables(rs, 'filter', 'INPUT', {
    src: '10.99.0.12',
    proto: 'udp',
    dport: 4500,
    state: 'new',
  })
  assert.equal(natt.verdict, 'reject')
  assert.equal(natt.rule?.index, 3)
  const esp = evalIptables(rs, 'filter', 'INPUT', {src: '10.99.0.12', proto: 'esp', state: 'new'})
  assert.equal(esp.verdict, 'accept')
  assert.equal(esp.rule?.raw, '-A INPUT -p esp -j ACCEPT')
  const other = evalIptables(rs, 'filter', 'INPUT', {
    src: '10.99.0.12',
    proto: 'udp',
    dport: 53,
    state: 'new',
  })
  assert.equal(other.verdict, 'accept')
  assert.equal(other.policy?.policy, 'ACCEPT')
})

test('iptables INPUT: an allow-list by source, then the DROP policy', () => {
  const rs = ipt('healthy-docker-save.txt')
  const peer = evalIptables(rs, 'filter', 'INPUT', {...VXLAN_FROM('10.99.0.12'), inIfaceNot: ['lo']})
  assert.equal(peer.verdict, 'accept')
  assert.match(peer.rule?.raw ?? '', /-s 10.99.0.0\/24 .*--dport 8472/)
  assert.deepEqual(peer.maybe, [])
  const stranger = evalIptables(rs, 'filter', 'INPUT', VXLAN_FROM('192.168.7.13'))
  assert.equal(stranger.verdict, 'drop')
  assert.equal(stranger.policy?.raw, ':INPUT DROP [0:0]')
  // `-i lo -j ACCEPT` maybe matches while the input interface is open; not when it surely is not lo
  assert.deepEqual(
    stranger.maybe.map((m) => m.raw),
    ['-A INPUT -i lo -j ACCEPT'],
  )
  assert.equal(contrary(stranger).length, 1)
  assert.deepEqual(
    evalIptables(rs, 'filter', 'INPUT', {...VXLAN_FROM('192.168.7.13'), inIfaceNot: ['lo']}).maybe,
    [],
  )
  // a source partly inside the allowed network only maybe matches
  const part = evalIptables(rs, 'filter', 'INPUT', {...VXLAN_FROM('10.99.0.0/16'), inIfaceNot: ['lo']})
  assert.equal(part.verdict, 'drop')
  assert.equal(part.maybe[0]?.why[0]?.kind, 'addr')
})

test('iptables: goto returns past the calling chain; LOG does not end the walk', () => {
  const rs = ipt('goto-save.txt')
  const podToPod = evalIptables(rs, 'filter', 'FORWARD', {...POD_TO_POD, inIface: 'cni0'})
  // -g POD-OUT, RETURN there → back to FORWARD's caller → FORWARD policy ACCEPT (rule 3 DROP never runs)
  assert.equal(podToPod.verdict, 'accept')
  assert.equal(podToPod.policy?.policy, 'ACCEPT')
  assert.deepEqual(
    podToPod.path.map((r) => r.action),
    ['POD-OUT', 'RETURN'],
  )
  const out = evalIptables(rs, 'filter', 'FORWARD', {
    src: '10.244.0.0/16',
    dst: '8.8.8.8',
    inIface: 'cni0',
    state: 'new',
  })
  assert.equal(out.verdict, 'accept')
  assert.equal(out.rule?.raw, '-A POD-OUT -j ACCEPT')
  const fromEth = evalIptables(rs, 'filter', 'FORWARD', {...POD_TO_POD, inIface: 'eth0'})
  assert.equal(fromEth.verdict, 'drop')
  assert.equal(fromEth.rule?.index, 3)
  // LOG matched but does not end the walk (and is not a decision on the path)
  assert.deepEqual(
    fromEth.path.map((r) => r.action),
    ['DROP'],
  )
})

test('iptables: an unknown match module makes a rule "maybe", -m comment does not', () => {
  const kube = ipt('split-nft-save.txt')
  const chain = kube.tables[0]?.chains.find((c) => c.name === 'KUBE-FORWARD')
  assert.ok(chain)
  assert.equal(matchIptRule(chain.rules[1] as never, POD_TO_POD).match, 'maybe')
  assert.equal(matchIptRule(chain.rules[0] as never, POD_TO_POD).match, 'no') // ctstate INVALID
  const flannel = ipt('save-b-healthy.txt').tables[0]?.chains.find((c) => c.name === 'FLANNEL-FWD')
  assert.equal(matchIptRule(flannel?.rules[0] as never, POD_TO_POD).match, 'yes')
  const e = evalIptables(kube, 'filter', 'FORWARD', POD_TO_POD)
  assert.equal(e.verdict, 'drop')
  assert.deepEqual(
    contrary(e).map((m) => m.why[0]?.kind),
    ['module'],
  )
})

test('iptables: -L without -v carries the hidden-interfaces caveat', () => {
  const e = evalIptables(ipt('L-n.txt'), 'filter', 'FORWARD', {
    ...POD_TO_POD,
    inIface: 'cni0',
    outIface: 'flannel.1',
  })
  assert.equal(e.verdict, 'reject')
  assert.equal(e.caveats.length, 1)
  assert.equal(
    evalIptables(ipt('L-n-v.txt'), 'filter', 'FORWARD', {
      ...POD_TO_POD,
      inIface: 'cni0',
      outIface: 'flannel.1',
    }).verdict,
    'accept',
  )
})

test('nftables forward hook: base chains by priority, an accept ends only its own chain, a drop is final', () => {
  const rs = nft('ruleset.txt')
  const flow: Packet = {
    dst: '10.244.0.0/16',
    state: 'new',
    inIfaceNot: ['cni0', 'flannel.1'],
    outIface: 'cni0',
  }
  const h = evalNftHook(rs, 'forward', flow)
  assert.deepEqual(
    h.chains.map((c) => c.id),
    ['inet fw forward', 'ip flannel-ipv4 forward'],
  )
  assert.equal(h.verdict, 'drop')
  assert.equal(h.decidedBy?.id, 'inet fw forward')
  assert.equal(h.decidedBy?.evaluation.policy?.policy, 'drop')
  assert.equal(h.chains[1]?.evaluation.verdict, 'accept')
  assert.equal(h.chains[1]?.evaluation.rule?.raw, 'ip daddr 10.244.0.0/16 accept')
  // the jump to pods only maybe matches (source open): its accept is reported, explored through the jump
  const against = contrary(h.decidedBy!.evaluation)
  assert.deepEqual(
    against.map((m) => [m.raw, m.via.map((v) => v.raw)]),
    [['accept', ['ip saddr 10.244.0.0/16 ip daddr 10.244.0.0/16 jump pods']]],
  )
  // pod to pod across nodes: jump pods → accept; the tcp/22 reject is a partial block
  const p2p = evalNftHook(rs, 'forward', {...POD_TO_POD, inIface: 'cni0', outIface: 'flannel.1'})
  assert.equal(p2p.verdict, 'accept')
  const fw = p2p.chains[0]?.evaluation
  assert.equal(fw?.rule?.chain, 'inet fw pods')
  assert.equal(contrary(fw!).length, 1)
  assert.ok(onlyProtoOrPort(contrary(fw!)[0]!))
  // iptables-nft's tables are left to the iptables evidence unless asked for
  assert.equal(evalNftHook(rs, 'forward', POD_TO_POD, {includeIptablesManaged: true}).chains.length, 3)
})

test('nftables input hook: named set of ports, peer set, policy drop (text and JSON alike)', () => {
  for (const f of ['ruleset.txt', 'ruleset.json']) {
    const h = evalNftHook(nft(f), 'input', {...VXLAN_FROM('10.99.0.12'), inIfaceNot: ['lo']})
    assert.equal(h.verdict, 'drop', f)
    assert.equal(
      h.decidedBy?.evaluation.rule?.raw,
      'udp dport @overlay_ports counter packets 0 bytes 0 drop comment "block overlay"',
    )
    assert.equal(h.decidedBy?.evaluation.rule?.handle, f.endsWith('.json') ? 7 : undefined)
  }
  for (const f of ['nftonly-firewall.txt', 'nftonly-firewall.json']) {
    const rs = nft(f)
    const peer = evalNftHook(rs, 'input', {...VXLAN_FROM('10.99.0.12'), inIfaceNot: ['lo']})
    assert.equal(peer.verdict, 'accept', f)
    assert.equal(
      peer.chains[0]?.evaluation.rule?.raw,
      'ip saddr @flannel_peers udp dport 8472 accept comment "flannel vxlan"',
    )
    assert.equal(peer.chains[0]?.evaluation.rule?.index, 5)
    const stranger = evalNftHook(rs, 'input', {...VXLAN_FROM('192.168.7.13'), inIfaceNot: ['lo']})
    assert.equal(stranger.verdict, 'drop', f)
    assert.equal(stranger.decidedBy?.evaluation.policy?.policy, 'drop')
    // IPv6 packets skip `ip` tables and never match `ip saddr`
    const v6 = evalNftHook(rs, 'input', {...VXLAN_FROM('fd00:99::12'), inIfaceNot: ['lo']})
    assert.equal(v6.verdict, 'drop')
    assert.deepEqual(
      v6.chains.map((c) => c.id),
      ['inet filter input'],
    )
  }
})

test('nftables: goto + return ends the base chain at its policy', () => {
  for (const f of ['goto-ruleset.txt', 'goto-ruleset.json']) {
    const rs = nft(f)
    const p2p = evalNftHook(rs, 'forward', {...POD_TO_POD, inIface: 'cni0'})
    assert.equal(p2p.verdict, 'accept', f)
    assert.equal(p2p.chains[0]?.evaluation.policy?.policy, 'accept')
    const eth = evalNftHook(rs, 'forward', {...POD_TO_POD, inIface: 'eth0'})
    assert.equal(eth.verdict, 'drop')
    assert.equal(eth.decidedBy?.evaluation.rule?.raw, 'log prefix "fwd-drop: " drop')
    // iptables-nft's own copy (ip filter) agrees when included
    const withIpt = evalNftHook(
      rs,
      'forward',
      {...POD_TO_POD, inIface: 'eth0'},
      {includeIptablesManaged: true},
    )
    assert.equal(withIpt.chains.length, 2)
  }
})
