import assert from 'node:assert/strict'
import {test} from 'node:test'

import {check} from '../../../src/checks/node/masquerade.js'
import type {Finding} from '../../../src/checks/types.js'
import {staticFacts, type StaticFactInput} from '../../../src/facts/static.js'
import type {SubnetEnv} from '../../../src/model.js'
import type {NetConf, NetConfFact} from '../../../src/parse/netconf.js'
import {netConfFact, subnetEnvLines} from '../../support/builders.js'
import {ipt, nft, only} from './helpers.js'

const netConf = (o: Partial<NetConf> = {}): NetConfFact =>
  netConfFact(o, {source: '/etc/kube-flannel/net-conf.json'})

const subnetEnv = (subnet: string, ipmasq = 'true', extra: string[] = []): SubnetEnv =>
  subnetEnvLines([
    'FLANNEL_NETWORK=10.244.0.0/16',
    `FLANNEL_SUBNET=${subnet}`,
    'FLANNEL_MTU=1450',
    `FLANNEL_IPMASQ=${ipmasq}`,
    ...extra,
  ])

const run = (input: StaticFactInput): Finding[] => check.evaluate(staticFacts(input, 'commands/iptables.txt'))

test('pass: the six FLANNEL-POSTRTG rules and the POSTROUTING jump for this subnet (save, -S, -L)', () => {
  for (const c of ['save-nf_tables.txt', 'S-nat.txt', 'save-counters.txt']) {
    const f = only(run({subnetEnv: subnetEnv('10.244.1.1/24'), netConf: netConf(), iptables: ipt(c)}))
    assert.equal(f.status, 'ok', c)
    assert.match(
      f.message,
      /iptables nat FLANNEL-POSTRTG has flannel's six rules for 10\.244\.1\.0\/24 in 10\.244\.0\.0\/16/,
    )
  }
  assert.equal(
    only(
      run({
        subnetEnv: subnetEnv('10.244.2.1/24'),
        netConf: netConf(),
        iptables: ipt('healthy-docker-L-n-v-nat.txt'),
      }),
    ).status,
    'ok',
  )
})

test('fail: rules of an old subnet (and a missing set for the current one)', () => {
  const f = only(
    run({
      subnetEnv: subnetEnv('10.244.1.1/24'),
      netConf: netConf(),
      iptables: ipt('stale-save.txt'),
      host: {nodeName: 'node-1', origin: 'test'},
    }),
  )
  assert.equal(f.status, 'warning')
  assert.match(
    f.message,
    /^Masquerading for this node's subnet 10\.244\.1\.0\/24 \(FLANNEL_SUBNET=10\.244\.1\.1\/24\) is not as flannel sets it up: FLANNEL-POSTRTG lacks 3 of flannel's 6 rules/,
  )
  assert.match(
    f.message,
    /'-A FLANNEL-POSTRTG -s 10\.244\.1\.0\/24 -d 10\.244\.0\.0\/16 -m comment --comment "flanneld masq" -j RETURN'/,
  )
  assert.match(
    f.message,
    /FLANNEL-POSTRTG holds 3 other rules for 10\.244\.5\.0\/24 \(left from an old subnet lease\?\)/,
  )
  assert.deepEqual(f.evidence[0], {
    source: 'commands/iptables.txt',
    lines: ['FLANNEL_NETWORK=10.244.0.0/16', 'FLANNEL_SUBNET=10.244.1.1/24'],
  })
  assert.ok(
    f.evidence[1]?.lines.includes(
      '-A FLANNEL-POSTRTG -s 10.244.5.0/24 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN',
    ),
  )
  assert.equal(
    f.fix?.[0],
    'kubectl -n kube-flannel delete pod --field-selector spec.nodeName=node-1 -l app=flannel   # flannel re-creates its rules at start',
  )
  assert.ok(
    f.fix?.includes(
      'iptables -t nat -A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment "flanneld masq" -j RETURN',
    ),
  )
})

test('fail: subnet.env disagrees with the podCIDR the rules were built for, and the message says which is odd', () => {
  const node = {
    name: 'node-1',
    podCIDR: '10.244.1.0/24',
    podCIDRs: ['10.244.1.0/24'],
    addresses: [{type: 'InternalIP', address: '10.99.0.11'}],
    annotations: {
      'flannel.alpha.coreos.com/kube-subnet-manager': 'true',
      'flannel.alpha.coreos.com/public-ip': '10.99.0.11',
    },
    labels: {},
  }
  const f = only(
    run({
      subnetEnv: subnetEnv('10.244.3.1/24'),
      netConf: netConf(),
      iptables: ipt('save-nf_tables.txt'),
      nodes: [node],
      host: {nodeName: 'node-1', origin: 'test'},
    }),
  )
  assert.equal(f.status, 'warning')
  assert.match(
    f.message,
    /for 10\.244\.1\.0\/24, the podCIDR of node node-1: subnet\.env is the one that disagrees \(see node\.subnet-env\)/,
  )
  // without the node list it reads as an old lease
  const g = only(
    run({subnetEnv: subnetEnv('10.244.3.1/24'), netConf: netConf(), iptables: ipt('save-nf_tables.txt')}),
  )
  assert.match(g.message, /for 10\.244\.1\.0\/24 \(left from an old subnet lease\?\)/)
})

test('fail: the chain exists with no rules and no jump (flushed)', () => {
  const f = only(
    run({subnetEnv: subnetEnv('10.244.1.1/24'), netConf: netConf(), iptables: ipt('save-b-healthy.txt')}),
  )
  assert.equal(f.status, 'warning')
  assert.match(
    f.message,
    /the nat table has no FLANNEL-POSTRTG chain; POSTROUTING has no jump to FLANNEL-POSTRTG/,
  )
})

test('rules in iptables-legacy count, with a pointer to node.iptables-backends', () => {
  const f = only(
    run({
      subnetEnv: subnetEnv('10.244.1.1/24'),
      netConf: netConf(),
      iptables: ipt('split-nft-save.txt'),
      iptablesLegacy: ipt('split-legacy-save.txt'),
    }),
  )
  assert.equal(f.status, 'ok')
  assert.match(f.message, /in iptables-legacy, not in the iptables-nft rules: see node\.iptables-backends/)
})

test('nftables mode: table ip flannel-ipv4 chain postrtg', () => {
  const ok = only(
    run({
      subnetEnv: subnetEnv('10.244.4.1/24'),
      netConf: netConf({EnableNFTables: true}),
      nft: nft('flannel-nftables.json'),
    }),
  )
  assert.equal(ok.status, 'ok')
  assert.match(ok.message, /ip flannel-ipv4 postrtg has flannel's six rules for 10\.244\.4\.0\/24/)
  const bad = only(
    run({
      subnetEnv: subnetEnv('10.244.4.1/24'),
      netConf: netConf({EnableNFTables: true}),
      nft: nft('nftonly-firewall.txt'),
    }),
  )
  assert.equal(bad.status, 'warning')
  assert.match(
    bad.message,
    /in nftables mode: ip flannel-ipv4 postrtg lacks 3 of flannel's 6 rules \('ip saddr 10\.244\.4\.0\/24 ip daddr 10\.244\.0\.0\/16 return'/,
  )
  assert.match(bad.message, /holds 3 other rules for 10\.244\.3\.0\/24/)
  assert.ok(
    bad.fix?.includes(
      'nft add rule ip flannel-ipv4 postrtg ip saddr != 10.244.4.0/24 ip daddr 10.244.0.0/16 return',
    ),
  )
  const none = only(
    run({
      subnetEnv: subnetEnv('10.244.4.1/24'),
      netConf: netConf({EnableNFTables: true}),
      nft: nft('ruleset-iptables-nft.txt'),
    }),
  )
  assert.match(none.message, /there is no table ip flannel-ipv4/)
})

test('IPv6: ip6tables FLANNEL-POSTRTG for FLANNEL_IPV6_SUBNET', () => {
  const v6 = ['FLANNEL_IPV6_NETWORK=2001:cafe:42::/56', 'FLANNEL_IPV6_SUBNET=2001:cafe:42:1::1/64']
  const f = only(
    run({
      subnetEnv: subnetEnv('10.244.1.1/24', 'true', v6),
      netConf: netConf(),
      iptables: ipt('save-nf_tables.txt'),
      ip6tables: ipt('ip6tables-flannel-save.txt'),
    }),
  )
  assert.equal(f.status, 'ok')
  assert.match(f.message, /ip6tables nat FLANNEL-POSTRTG has flannel's six rules for 2001:cafe:42:1::\/64/)
  const g = only(
    run({
      subnetEnv: subnetEnv('10.244.1.1/24', 'true', [
        'FLANNEL_IPV6_NETWORK=2001:cafe:42::/56',
        'FLANNEL_IPV6_SUBNET=2001:cafe:42:9::1/64',
      ]),
      netConf: netConf(),
      iptables: ipt('save-nf_tables.txt'),
      ip6tables: ipt('ip6tables-flannel-save.txt'),
    }),
  )
  assert.equal(g.status, 'warning')
  assert.match(g.message, /2001:cafe:42:1::\/64 \(left from an old subnet lease\?\)/)
})

test('skip when FLANNEL_IPMASQ=false; unknown when the evidence is missing', () => {
  const s = only(run({subnetEnv: subnetEnv('10.244.1.1/24', 'false'), iptables: ipt('save-b-healthy.txt')}))
  assert.equal(s.status, 'skip')
  assert.deepEqual(s.evidence[0]?.lines, ['FLANNEL_IPMASQ=false'])
  const u = only(
    run({subnetEnv: {ok: false, state: 'absent', reason: '/run/flannel/subnet.env does not exist'}}),
  )
  assert.equal(u.status, 'unknown')
  const filterOnly = only(
    run({subnetEnv: subnetEnv('10.244.1.1/24'), netConf: netConf(), iptables: ipt('S.txt')}),
  )
  assert.equal(filterOnly.status, 'unknown')
  assert.equal(filterOnly.hint, 'capture `iptables-save` or `iptables -t nat -S`')
  const perm = only(
    run({
      subnetEnv: subnetEnv('10.244.1.1/24'),
      netConf: netConf(),
      iptables: {ok: false, state: 'permission', reason: 'iptables-save needs root', hint: 'run as root'},
    }),
  )
  assert.equal(perm.status, 'unknown')
  assert.equal(perm.hint, 'run as root')
})
