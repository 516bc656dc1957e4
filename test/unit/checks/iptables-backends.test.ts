import assert from 'node:assert/strict'
import {test} from 'node:test'

import {check} from '../../../src/checks/node/iptables-backends.js'
import type {Finding} from '../../../src/checks/types.js'
import {staticFacts, type StaticFactInput} from '../../../src/facts/static.js'
import {ipt, nft, only} from './helpers.js'

const run = (input: StaticFactInput): Finding[] => check.evaluate(staticFacts(input, 'commands/iptables.txt'))

test('pass: every rule in iptables-nft, iptables-legacy empty', () => {
  const f = only(run({iptables: ipt('save-nf_tables.txt'), iptablesLegacy: ipt('legacy-save-empty.txt')}))
  assert.equal(f.status, 'ok')
  assert.equal(f.message, 'All iptables rules are in iptables-nft; iptables-legacy holds none.')
  // legacy not installed and no warning from iptables-nft
  const g = only(
    run({
      iptables: ipt('healthy-docker-save.txt'),
      iptablesLegacy: {ok: false, state: 'not-installed', reason: 'iptables-legacy-save is not installed'},
    }),
  )
  assert.equal(g.status, 'ok')
})

test('fail: flannel in iptables-legacy, kube-proxy in iptables-nft', () => {
  const f = only(
    run({
      iptables: ipt('split-nft-save.txt'),
      iptablesLegacy: ipt('split-legacy-save.txt'),
      host: {nodeName: 'node-1', origin: 'test'},
    }),
  )
  assert.equal(f.status, 'warning')
  assert.match(
    f.message,
    /^iptables rules are split between backends: iptables-legacy holds flannel \(FORWARD, FLANNEL-FWD, POSTROUTING, FLANNEL-POSTRTG\) and iptables-nft holds kube-proxy\/kubelet \(FORWARD, KUBE-FORWARD/,
  )
  assert.match(f.message, /iptables-nft itself warns/)
  assert.ok(
    f.evidence[0]?.lines.includes('-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD'),
  )
  assert.ok(
    f.evidence[1]?.lines.includes(
      '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
    ),
  )
  assert.ok(f.fix?.some((l) => l.startsWith('update-alternatives --set iptables /usr/sbin/iptables-nft')))
  assert.ok(f.fix?.some((l) => l.includes('spec.nodeName=node-1')))
  assert.match(
    f.hint ?? '',
    /^flannel's rules are in iptables-legacy while the rest of the host uses iptables-nft/,
  )
  // the same from -S and -L captures of the nft side
  for (const c of ['split-nft-S.txt', 'split-nft-L-n.txt']) {
    assert.equal(
      only(run({iptables: ipt(c), iptablesLegacy: ipt('split-legacy-save.txt')})).status,
      'warning',
      c,
    )
  }
})

test('fail: the iptables capture is legacy, nft shows iptables-nft tables with rules', () => {
  const f = only(run({iptables: ipt('split-legacy-save.txt'), nft: nft('split-ruleset.txt')}))
  assert.equal(f.status, 'warning')
  assert.match(f.message, /iptables-nft \(seen through nft\) holds kube-proxy\/kubelet/)
})

test('unknown: iptables-nft warns about legacy tables that could not be read', () => {
  const f = only(
    run({
      iptables: ipt('split-nft-S.txt'),
      iptablesLegacy: {
        ok: false,
        state: 'permission',
        reason: 'iptables-legacy-save needs root',
        hint: 'run as root',
      },
    }),
  )
  assert.equal(f.status, 'unknown')
  assert.match(f.message, /iptables-nft reports iptables-legacy tables on this host/)
  assert.equal(f.hint, 'run as root')
  const g = only(run({iptables: {ok: false, state: 'permission', reason: 'iptables-save needs root'}}))
  assert.equal(g.status, 'unknown')
  assert.match(g.message, /iptables-save needs root/)
})
