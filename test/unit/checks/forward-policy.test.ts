import assert from 'node:assert/strict'
import {test} from 'node:test'

import {check} from '../../../src/checks/node/forward-policy.js'
import type {Finding} from '../../../src/checks/types.js'
import {staticFacts, type StaticFactInput} from '../../../src/facts/static.js'
import type {NetConf, NetConfFact} from '../../../src/parse/netconf.js'
import {netConfFact, subnetEnvLines} from '../../support/builders.js'
import {ipt, nft, only} from './helpers.js'

const netConf = (o: Partial<NetConf> = {}): NetConfFact =>
  netConfFact(o, {source: '/etc/kube-flannel/net-conf.json'})

const run = (input: StaticFactInput): Finding[] => check.evaluate(staticFacts(input, 'commands/iptables.txt'))

test('pass: Docker-style FORWARD DROP, flannel FLANNEL-FWD accepts the network', () => {
  const f = only(
    run({
      netConf: netConf(),
      iptables: ipt('healthy-docker-save.txt'),
      nft: nft('healthy-docker-iptables-nft.txt'),
    }),
  )
  assert.equal(f.status, 'ok')
  assert.match(f.message, /rule 1 '-A FLANNEL-FWD -s 10\.244\.0\.0\/16 .*-j ACCEPT'/)
  assert.ok(
    f.evidence[0]?.lines.includes('-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD'),
  )
})

test('pass: nftables mode, flannel-ipv4 forward accepts and no other base chain drops', () => {
  const f = only(
    run({
      netConf: netConf({EnableNFTables: true}),
      iptables: ipt('nftonly-firewall-save.txt'),
      nft: nft('flannel-nftables.json'),
    }),
  )
  assert.equal(f.status, 'ok')
  assert.match(f.message, /ip flannel-ipv4 forward/)
})

test('fail: a catch-all REJECT before the FLANNEL-FWD jump is named, with the fix', () => {
  const f = only(run({netConf: netConf(), iptables: ipt('centos-reject-save.txt')}))
  assert.equal(f.status, 'error')
  assert.equal(
    f.message,
    "iptables filter FORWARD rule 1 '-A FORWARD -j REJECT --reject-with icmp-host-prohibited' rejects pod traffic from and to 10.244.0.0/16 " +
      "(pods here → pods on other nodes, pods on other nodes → pods here, pods → outside the pod network, outside → pods), before flannel's FLANNEL-FWD ACCEPT rules are reached.",
  )
  assert.deepEqual(f.evidence, [
    {source: 'commands/iptables.txt', lines: ['-A FORWARD -j REJECT --reject-with icmp-host-prohibited']},
  ])
  assert.deepEqual(f.fix, [
    'iptables -I FORWARD 1 -s 10.244.0.0/16 -j ACCEPT',
    'iptables -I FORWARD 1 -d 10.244.0.0/16 -j ACCEPT',
    '# or remove the rule that rejects it: iptables -D FORWARD -j REJECT --reject-with icmp-host-prohibited',
  ])
  assert.match(f.hint ?? '', /--iptables-forward-rules=true/)
})

test('fail: FORWARD policy DROP and no jump to FLANNEL-FWD', () => {
  const f = only(run({netConf: netConf(), iptables: ipt('stale-save.txt')}))
  assert.equal(f.status, 'error')
  assert.match(
    f.message,
    /^iptables FORWARD policy is DROP and no rule accepts pod traffic from and to 10\.244\.0\.0\/16 .*FORWARD has no jump to FLANNEL-FWD\.$/,
  )
  assert.deepEqual(f.evidence[0]?.lines, [':FORWARD DROP [0:0]'])
  assert.equal(f.fix?.[0], 'iptables -I FORWARD 1 -s 10.244.0.0/16 -j ACCEPT')
})

test('fail: an nftables base chain with policy drop; flannel-ipv4 accept cannot override it', () => {
  const f = only(
    run({
      netConf: netConf({EnableNFTables: true}),
      iptables: ipt('nftonly-firewall-save.txt'),
      nft: nft('nftonly-firewall.json'),
    }),
  )
  assert.equal(f.status, 'error')
  assert.match(
    f.message,
    /^nftables chain inet filter forward \(hook forward, priority 0\) has policy drop and no rule accepts pod traffic/,
  )
  assert.match(
    f.message,
    /the accept in ip flannel-ipv4 forward ends only that base chain and cannot override it/,
  )
  assert.deepEqual(f.evidence[0]?.lines, [
    'type filter hook forward priority 0; policy drop;',
    'ip saddr 10.244.0.0/16 accept',
  ])
  assert.deepEqual(f.fix, [
    'nft insert rule inet filter forward ip saddr 10.244.0.0/16 accept',
    'nft insert rule inet filter forward ip daddr 10.244.0.0/16 accept',
  ])
})

test('fail: nftables mode cannot override an iptables FORWARD DROP (flannel-facts §5.2)', () => {
  const fs = run({
    netConf: netConf({EnableNFTables: true}),
    iptables: ipt('stale-save.txt'),
    nft: nft('flannel-nftables.txt'),
  })
  const f = only(fs)
  assert.equal(f.status, 'error')
  assert.match(
    f.message,
    /EnableNFTables is true and flannel's nftables forward chain accepts 10\.244\.0\.0\/16, but an nftables accept cannot override this iptables drop/,
  )
  // in nftables mode the missing FLANNEL-FWD jump is not flannel's business
  assert.doesNotMatch(f.message, /FLANNEL-FWD/)
})

test('the fixture of capture-fixtures.sh: iptables passes for VXLAN pod traffic, the inet fw forward policy drops traffic into pods', () => {
  const fs = run({netConf: netConf(), iptables: ipt('save-nf_tables.txt'), nft: nft('ruleset.txt')})
  // iptables: with VXLAN's interfaces (cni0 ↔ flannel.1) the -i eth0 -o eth0 REJECT does not apply
  assert.ok(!fs.some((f) => f.subject === 'iptables FORWARD'), JSON.stringify(fs, null, 1))
  const err = only(fs.filter((f) => f.status === 'error'))
  assert.equal(err.subject, 'nftables inet fw forward')
  assert.equal(
    err.message,
    'nftables chain inet fw forward (hook forward, priority -10) has policy drop and no rule accepts pod traffic from and to 10.244.0.0/16 (outside → pods); ' +
      'the accept in ip flannel-ipv4 forward ends only that base chain and cannot override it.',
  )
  assert.deepEqual(err.evidence[0]?.lines, [
    'type filter hook forward priority filter - 10; policy drop;',
    'ip daddr 10.244.0.0/16 accept',
  ])
  // pod to pod goes through `jump pods`, whose tcp/22 reject blocks part of it: an info note
  const info = only(fs.filter((f) => f.status === 'info'))
  assert.match(
    info.message,
    /\(pods here → pods on other nodes, pods on other nodes → pods here\) with rule 2 'accept', except what rule 1 'tcp dport 22 reject with icmp admin-prohibited' in inet fw pods/,
  )
  assert.equal(fs.length, 2)
})

test('warning: `iptables -L -n` hides interfaces, so a matching REJECT is only a warning', () => {
  const f = only(run({netConf: netConf(), iptables: ipt('L-n.txt')}))
  assert.equal(f.status, 'warning')
  assert.match(f.message, /the capture hides interface matches/)
  assert.equal(f.fix?.[2], '# or remove the rule that rejects it: iptables -D FORWARD 2')
  // the same rules captured with -v: the REJECT is for eth0 → eth0 only
  assert.equal(only(run({netConf: netConf(), iptables: ipt('L-n-v.txt')})).status, 'ok')
})

test('rules split between backends: flannel accepts in iptables-legacy, the nft side drops', () => {
  const fs = run({
    netConf: netConf(),
    iptables: ipt('split-nft-save.txt'),
    iptablesLegacy: ipt('split-legacy-save.txt'),
  })
  const f = only(fs)
  assert.equal(f.status, 'warning') // the KUBE-FORWARD mark accept may still let it through
  assert.match(
    f.message,
    /there is no FLANNEL-FWD chain \(flannel's rules are in iptables-legacy instead: see node\.iptables-backends\)/,
  )
  assert.match(f.message, /unless rule 2 '-A KUBE-FORWARD .*-m mark --mark 0x4000\/0x4000 -j ACCEPT'/)
})

test('the network comes from subnet.env when net-conf.json is not readable', () => {
  const f = only(
    run({
      netConf: {ok: false, state: 'absent', reason: 'no net-conf.json'},
      subnetEnv: subnetEnvLines(['FLANNEL_NETWORK=10.200.0.0/16', 'FLANNEL_SUBNET=10.200.1.1/24']),
      iptables: ipt('centos-reject-save.txt'),
    }),
  )
  assert.equal(f.status, 'error')
  assert.match(f.message, /pod traffic from and to 10\.200\.0\.0\/16/)
})

test('IPv6: ip6tables FLANNEL-FWD for another network does not accept IPv6Network', () => {
  const v6 = {EnableIPv6: true, IPv6Network: '2001:cafe:42::/56'}
  assert.equal(
    only(
      run({
        netConf: netConf(v6),
        iptables: ipt('healthy-docker-save.txt'),
        ip6tables: ipt('ip6tables-flannel-save.txt'),
      }),
    ).status,
    'ok',
  )
  const f = only(
    run({
      netConf: netConf({EnableIPv6: true, IPv6Network: 'fd00:10:244::/56'}),
      iptables: ipt('healthy-docker-save.txt'),
      ip6tables: ipt('ip6tables-flannel-save.txt'),
    }),
  )
  assert.equal(f.status, 'error')
  assert.match(
    f.message,
    /^ip6tables FORWARD policy is DROP and no rule accepts pod traffic from and to fd00:10:244::\/56/,
  )
  assert.match(
    f.message,
    /FLANNEL-FWD has no ACCEPT for -s fd00:10:244::\/56, FLANNEL-FWD has no ACCEPT for -d fd00:10:244::\/56/,
  )
  assert.equal(f.fix?.[0], 'ip6tables -I FORWARD 1 -s fd00:10:244::/56 -j ACCEPT')
})

test('unknown: no rules readable (not root), or no network known', () => {
  const f = only(
    run({
      netConf: netConf(),
      iptables: {
        ok: false,
        state: 'permission',
        reason: 'iptables-save needs root',
        hint: 'run flannelctl as root',
      },
      nft: {ok: false, state: 'permission', reason: 'nft needs root'},
    }),
  )
  assert.equal(f.status, 'unknown')
  assert.match(f.message, /iptables-save needs root/)
  assert.equal(f.hint, 'run flannelctl as root')
  const g = only(run({iptables: ipt('centos-reject-save.txt')}))
  assert.equal(g.status, 'unknown')
  assert.match(g.message, /net-conf\.json/)
})

test('the network flannel runs with (subnet.env) is judged, not an edited net-conf.json', () => {
  const env = subnetEnvLines([
    'FLANNEL_NETWORK=10.244.0.0/16',
    'FLANNEL_SUBNET=10.244.1.1/24',
    'FLANNEL_MTU=1450',
    'FLANNEL_IPMASQ=true',
  ])
  const input = {
    netConf: netConf({Network: '10.245.0.0/16'}),
    iptables: ipt('healthy-docker-save.txt'),
    nft: nft('healthy-docker-iptables-nft.txt'),
  }
  assert.equal(only(run({...input, subnetEnv: env})).status, 'ok')
  // Without subnet.env the edited net-conf is all there is, and 10.245.0.0/16 is not accepted.
  assert.equal(only(run(input)).status, 'error')
})
