import assert from 'node:assert/strict'
import {test} from 'node:test'

import type {NftRule, NftRuleset, NftTable} from '../../../src/model.js'
import {ParseError} from '../../../src/parse/errors.js'
import {parseNft, resolvePriority} from '../../../src/parse/nft.js'
import {fx} from './helpers.js'

const nft = (path: string): NftRuleset => parseNft(fx(`nft/${path}`))

const table = (rs: NftRuleset, family: string, name: string): NftTable => {
  const t = rs.tables.find((x) => x.family === family && x.name === name)
  assert.ok(t, `table ${family} ${name}`)
  return t
}
const rules = (rs: NftRuleset, family: string, name: string, chain: string): NftRule[] => {
  const c = table(rs, family, name).chains.find((x) => x.name === chain)
  assert.ok(c, `chain ${chain}`)
  return c.rules
}

/** The parsed matches of a rule (what an evaluator uses), independent of the form. */
function meaning(r: NftRule): Record<string, unknown> {
  const sorted = (v: {value: string[]; negated: boolean} | undefined) =>
    v ? {value: [...v.value].sort(), negated: v.negated} : undefined
  return {
    saddr: sorted(r.saddr),
    daddr: sorted(r.daddr),
    l4proto: sorted(r.l4proto),
    dport: sorted(r.dport),
    iifname: sorted(r.iifname),
    oifname: sorted(r.oifname),
    ctstate: sorted(r.ctstate),
    verdict: r.verdict,
    target: r.target,
    comment: r.comment,
  }
}

test('nft list ruleset: tables, iptables-nft ownership, base chains and named priorities', () => {
  const rs = nft('ruleset.txt')
  assert.equal(rs.form, 'text')
  assert.deepEqual(
    rs.tables.map((t) => `${t.family} ${t.name}${t.managedByIptables ? ' (iptables-nft)' : ''}`),
    [
      'ip nat (iptables-nft)',
      'ip filter (iptables-nft)',
      'ip6 filter (iptables-nft)',
      'ip flannel-ipv4',
      'ip6 flannel-ipv6',
      'inet fw',
    ],
  )
  const nat = table(rs, 'ip', 'nat').chains
  assert.deepEqual(
    nat.map((c) => [c.name, c.hook, c.priority]),
    [
      ['PREROUTING', 'prerouting', -100],
      ['INPUT', 'input', 100],
      ['OUTPUT', 'output', -100],
      ['POSTROUTING', 'postrouting', 100],
      ['FLANNEL-POSTRTG', undefined, undefined],
    ],
  )
  const fw = table(rs, 'inet', 'fw')
  const fwd = fw.chains.find((c) => c.name === 'forward')
  assert.equal(fwd?.priority, -10)
  assert.equal(fwd?.policy, 'drop')
  assert.equal(fwd?.raw, 'type filter hook forward priority filter - 10; policy drop;')
  assert.equal(table(rs, 'ip', 'flannel-ipv4').comment, 'rules for flannel-ipv4')
  assert.deepEqual(fw.sets, [{name: 'overlay_ports', type: 'inet_service', elements: ['4789', '8472']}])
})

test('nft rules: addresses, protocols, ports, interfaces, conntrack state, verdicts, named sets', () => {
  const rs = nft('ruleset.txt')
  const input = rules(rs, 'inet', 'fw', 'input')
  assert.deepEqual(input[0]?.ctstate, {value: ['established', 'related'], negated: false})
  assert.equal(input[0]?.verdict, 'accept')
  assert.deepEqual(input[1]?.iifname, {value: ['lo'], negated: false})
  const blocked = input[2] as NftRule
  assert.equal(blocked.raw, 'udp dport @overlay_ports counter packets 0 bytes 0 drop comment "block overlay"')
  assert.deepEqual(blocked.dport, {value: ['4789', '8472'], negated: false})
  assert.deepEqual(blocked.l4proto, {value: ['udp'], negated: false})
  assert.equal(blocked.verdict, 'drop')
  assert.equal(blocked.comment, 'block overlay')
  assert.deepEqual(input[3]?.l4proto, {value: ['esp'], negated: false})
  assert.deepEqual(input[4]?.dport, {value: ['500', '4500'], negated: false})
  const fwd = rules(rs, 'inet', 'fw', 'forward')
  assert.equal(fwd[0]?.verdict, 'jump')
  assert.equal(fwd[0]?.target, 'pods')
  assert.deepEqual(fwd[1]?.oifname, {value: ['cni0'], negated: true})
  assert.equal(rules(rs, 'inet', 'fw', 'pods')[0]?.verdict, 'reject')
  const post = rules(rs, 'ip', 'flannel-ipv4', 'postrtg')
  assert.deepEqual(post[0]?.other, ['meta mark 0x00004000'])
  assert.equal(post[0]?.verdict, 'return')
  assert.deepEqual(post[3]?.saddr, {value: ['10.244.1.0/24'], negated: true})
  assert.equal(post[4]?.verdict, 'masquerade')
  // iptables-nft's translation: xt comment match vanishes, the mark match stays as an expression
  const ipt = rules(rs, 'ip', 'nat', 'FLANNEL-POSTRTG')
  assert.deepEqual(ipt[0]?.other, ['meta mark & 0x00004000 == 0x00004000'])
  assert.equal(rules(rs, 'ip', 'filter', 'FORWARD')[2]?.target, 'FLANNEL-FWD')
  // statements are not matches
  const kube = rules(nft('split-ruleset.txt'), 'ip', 'nat', 'KUBE-MARK-MASQ')[0]
  assert.deepEqual(kube?.other, [])
  assert.equal(kube?.verdict, 'counter-only')
})

test('nft -j list ruleset: the same ruleset as the text form, raw rendered in nft syntax', () => {
  for (const [t, j] of [
    ['ruleset.txt', 'ruleset.json'],
    ['nftonly-firewall.txt', 'nftonly-firewall.json'],
    ['flannel-nftables.txt', 'flannel-nftables.json'],
    ['healthy-docker-iptables-nft.txt', 'healthy-docker-iptables-nft.json'],
    ['goto-ruleset.txt', 'goto-ruleset.json'],
  ]) {
    const text = nft(t as string)
    const json = nft(j as string)
    assert.equal(json.form, 'json')
    assert.deepEqual(
      json.tables.map((x) => [x.family, x.name, x.managedByIptables === true]),
      text.tables.map((x) => [x.family, x.name, x.managedByIptables === true]),
      j,
    )
    for (const tt of text.tables) {
      const jt = table(json, tt.family, tt.name)
      assert.deepEqual(
        jt.chains.map((c) => [c.name, c.type, c.hook, c.priority, c.policy, c.rules.length]),
        tt.chains.map((c) => [c.name, c.type, c.hook, c.priority, c.policy, c.rules.length]),
        `${j} ${tt.name}`,
      )
      if (tt.managedByIptables) continue // JSON shows untranslated xt matches where text shows nft expressions
      for (const c of tt.chains) {
        const jr = jt.chains.find((x) => x.name === c.name)?.rules ?? []
        assert.deepEqual(jr.map(meaning), c.rules.map(meaning), `${j} ${tt.name} ${c.name}`)
        assert.deepEqual(
          jr.map((r) => r.raw),
          c.rules.map((r) => r.raw),
        )
      }
    }
  }
  const j = nft('ruleset.json')
  // iptables-nft's tables in JSON: the xt expressions are kept as unparsed matches
  assert.deepEqual(rules(j, 'ip', 'filter', 'INPUT')[0]?.other, ['xt match "conntrack"'])
  assert.equal(rules(j, 'ip', 'filter', 'FORWARD')[1]?.verdict, 'reject')
  assert.equal(
    rules(j, 'ip', 'nat', 'FLANNEL-POSTRTG')[0]?.raw,
    'meta mark & 0x00004000 == 0x00004000 xt match "comment" counter packets 0 bytes 0 return',
  )
})

test('nft -a list ruleset: handles, raw without them', () => {
  const a = nft('ruleset-handles.txt')
  const j = nft('ruleset.json')
  const plain = nft('ruleset.txt')
  for (const t of a.tables) {
    for (const c of t.chains) {
      const jr = table(j, t.family, t.name).chains.find((x) => x.name === c.name)?.rules ?? []
      const pr = table(plain, t.family, t.name).chains.find((x) => x.name === c.name)?.rules ?? []
      assert.deepEqual(
        c.rules.map((r) => r.handle),
        jr.map((r) => r.handle),
      )
      assert.deepEqual(
        c.rules.map((r) => r.raw),
        pr.map((r) => r.raw),
      )
    }
  }
  assert.equal(rules(a, 'inet', 'fw', 'input')[2]?.handle, 7)
})

test('a named set of peer addresses is resolved', () => {
  for (const f of ['nftonly-firewall.txt', 'nftonly-firewall.json', 'nftonly-firewall-handles.txt']) {
    const r = rules(nft(f), 'inet', 'filter', 'input')[4]
    assert.deepEqual(r?.saddr, {value: ['10.99.0.11', '10.99.0.12'], negated: false}, f)
    assert.deepEqual(r?.dport, {value: ['8472'], negated: false}, f)
    assert.equal(r?.comment, 'flannel vxlan', f)
  }
})

test('tables iptables-nft writes are marked, with or without the warning line', () => {
  for (const f of ['ruleset-iptables-nft.txt', 'ruleset-iptables-nft.json', 'ruleset-empty.txt']) {
    assert.equal(table(nft(f), 'ip', 'filter').managedByIptables, true, f)
  }
  // no xt expressions (so no warning), but iptables' own layout
  assert.equal(table(nft('ruleset.txt'), 'ip6', 'filter').managedByIptables, true)
  assert.equal(table(nft('goto-ruleset.txt'), 'inet', 'gototest').managedByIptables, undefined)
})

test('named priorities', () => {
  assert.equal(resolvePriority('filter - 10'), -10)
  assert.equal(resolvePriority('srcnat + 1'), 101)
  assert.equal(resolvePriority('dstnat'), -100)
  assert.equal(resolvePriority('dstnat', 'bridge'), -300)
  assert.equal(resolvePriority('mangle'), -150)
  assert.equal(resolvePriority('raw'), -300)
  assert.equal(resolvePriority('security'), 50)
  assert.equal(resolvePriority('-5'), -5)
  assert.equal(resolvePriority('nonsense'), undefined)
  assert.equal(table(nft('goto-ruleset.txt'), 'inet', 'gototest').chains[0]?.priority, 10)
})

test('empty input gives an empty ruleset; errors and cut captures are ParseErrors', () => {
  assert.deepEqual(parseNft(''), {form: 'text', tables: []})
  assert.throws(
    () => nft('ruleset-nonroot-error.txt'),
    (e: unknown) => e instanceof ParseError && e.hint === 'run it as root',
  )
  assert.throws(() => parseNft(fx('iptables/save-nf_tables.txt')), ParseError)
  const text = fx('nft/ruleset.txt')
  assert.throws(() => parseNft(text.slice(0, text.indexOf('chain postrtg'))), ParseError)
  assert.throws(() => parseNft(fx('nft/ruleset.json').slice(0, 500)), ParseError)
  assert.throws(() => parseNft('{"not": "nft"}'), ParseError)
})
