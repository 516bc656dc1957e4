import assert from 'node:assert/strict'
import {test} from 'node:test'

import type {IptablesRuleset, IptRule} from '../../../src/model.js'
import {ParseError} from '../../../src/parse/errors.js'
import {parseIptables} from '../../../src/parse/iptables.js'
import {fx} from './helpers.js'

const ipt = (path: string): IptablesRuleset => parseIptables(fx(`iptables/${path}`))

const chain = (rs: IptablesRuleset, table: string, name: string) => {
  const c = rs.tables.find((t) => t.name === table)?.chains.find((x) => x.name === name)
  assert.ok(c, `chain ${table} ${name}`)
  return c
}

/** What a rule means, without the form-specific parts (raw text, counters, target option spelling). */
function meaning(r: IptRule): Partial<IptRule> {
  const {raw: _raw, packets: _p, bytes: _b, targetArgs: _t, ...rest} = r
  // -L prints module options without their dashes (`dst-type LOCAL` for `--dst-type LOCAL`)
  rest.matches = rest.matches.map((m) => ({
    module: m.module,
    args: m.args.replace(/^--mark /, '').replace(/(^|\s)--/g, '$1'),
  }))
  return rest
}
const tableMeaning = (rs: IptablesRuleset, table: string) =>
  rs.tables
    .find((t) => t.name === table)
    ?.chains.map((c) => ({name: c.name, policy: c.policy, rules: c.rules.map(meaning)}))

test('iptables-save (nf_tables): tables, policies, rules and the backend', () => {
  const rs = ipt('save-nf_tables.txt')
  assert.equal(rs.form, 'save')
  assert.equal(rs.backend, 'nf_tables')
  assert.equal(rs.legacyTablesPresent, undefined)
  assert.deepEqual(
    rs.tables.map((t) => t.name),
    ['filter', 'nat'],
  )
  const fwd = chain(rs, 'filter', 'FORWARD')
  assert.equal(fwd.policy, 'DROP')
  assert.equal(fwd.raw, ':FORWARD DROP [0:0]')
  assert.equal(chain(rs, 'filter', 'FLANNEL-FWD').policy, undefined)
  const input = chain(rs, 'filter', 'INPUT').rules
  assert.deepEqual(input[0]?.ctstate, {value: 'RELATED,ESTABLISHED', negated: false})
  assert.equal(input[1]?.raw, '-A INPUT -p udp -m udp --dport 8472 -j DROP')
  assert.deepEqual(input[1]?.protocol, {value: 'udp', negated: false})
  assert.deepEqual(input[1]?.dport, {value: '8472', negated: false})
  assert.equal(input[1]?.target, 'DROP')
  assert.deepEqual(input[1]?.matches, [])
  assert.deepEqual(input[2]?.dport, {value: '500,4500', negated: false})
  assert.equal(input[2]?.target, 'REJECT')
  assert.equal(input[2]?.targetArgs, '--reject-with icmp-port-unreachable')
  assert.deepEqual(input[3]?.protocol, {value: 'esp', negated: false})
  const f = fwd.rules
  assert.deepEqual(f[1]?.inInterface, {value: 'eth0', negated: false})
  assert.deepEqual(f[1]?.outInterface, {value: 'eth0', negated: false})
  assert.equal(f[2]?.comment, 'flanneld forward')
  assert.equal(f[2]?.target, 'FLANNEL-FWD')
  const masq = chain(rs, 'nat', 'FLANNEL-POSTRTG').rules
  assert.equal(masq.length, 6)
  assert.deepEqual(masq[0]?.matches, [{module: 'mark', args: '--mark 0x4000/0x4000'}])
  assert.deepEqual(masq[3]?.source, {value: '10.244.0.0/16', negated: true})
  assert.deepEqual(masq[4]?.destination, {value: '224.0.0.0/4', negated: true})
  assert.equal(masq[4]?.target, 'MASQUERADE')
  assert.equal(masq[4]?.targetArgs, '--random-fully')
})

test('iptables-save -c: counters, same rules as without', () => {
  const c = ipt('save-counters.txt')
  const plain = ipt('save-nf_tables.txt')
  const r = chain(c, 'filter', 'INPUT').rules[1]
  assert.equal(r?.packets, 0)
  assert.equal(r?.bytes, 0)
  assert.equal(r?.raw, '-A INPUT -p udp -m udp --dport 8472 -j DROP')
  assert.deepEqual(tableMeaning(c, 'filter'), tableMeaning(plain, 'filter'))
  assert.deepEqual(tableMeaning(c, 'nat'), tableMeaning(plain, 'nat'))
})

test('iptables -S and -t nat -S: same rules as iptables-save, table from the built-in chains', () => {
  const s = ipt('S.txt')
  assert.equal(s.form, 'S')
  assert.deepEqual(
    s.tables.map((t) => t.name),
    ['filter'],
  )
  assert.equal(chain(s, 'filter', 'FORWARD').raw, '-P FORWARD DROP')
  const save = ipt('save-nf_tables.txt')
  assert.deepEqual(
    chain(s, 'filter', 'INPUT').rules.map((r) => r.raw),
    chain(save, 'filter', 'INPUT').rules.map((r) => r.raw),
  )
  assert.deepEqual(tableMeaning(s, 'filter'), tableMeaning(save, 'filter'))
  const nat = ipt('S-nat.txt')
  assert.deepEqual(
    nat.tables.map((t) => t.name),
    ['nat'],
  )
  assert.deepEqual(tableMeaning(nat, 'nat'), tableMeaning(save, 'nat'))
})

test('iptables -L -n -v (with and without --line-numbers, -x): same meaning as -S', () => {
  const s = tableMeaning(ipt('S.txt'), 'filter')
  for (const f of ['L-n-v.txt', 'L-n-v-line-numbers.txt']) {
    const l = ipt(f)
    assert.equal(l.form, 'L')
    assert.equal(l.ifacesHidden, undefined)
    assert.deepEqual(tableMeaning(l, 'filter'), s, f)
  }
  const l = ipt('L-n-v-line-numbers.txt')
  const rej = chain(l, 'filter', 'FORWARD').rules[1]
  assert.equal(
    rej?.raw,
    '2        0     0 REJECT     0    --  eth0   eth0    0.0.0.0/0            0.0.0.0/0            reject-with icmp-host-prohibited',
  )
  assert.equal(rej?.targetArgs, 'reject-with icmp-host-prohibited')
  assert.equal(chain(l, 'filter', 'FORWARD').raw, 'Chain FORWARD (policy DROP 0 packets, 0 bytes)')
  // -x, negated interfaces, a target name wider than its column
  const h = ipt('healthy-docker-L-n-v-x-line-numbers.txt')
  assert.deepEqual(tableMeaning(h, 'filter'), tableMeaning(ipt('healthy-docker-S.txt'), 'filter'))
  const iso = chain(h, 'filter', 'DOCKER-ISOLATION-STAGE-1').rules[0]
  assert.equal(iso?.target, 'DOCKER-ISOLATION-STAGE-2')
  assert.deepEqual(iso?.outInterface, {value: 'docker0', negated: true})
})

test('iptables -L -n without -v: interfaces are not shown and the ruleset says so', () => {
  const l = ipt('L-n.txt')
  assert.equal(l.ifacesHidden, true)
  const rej = chain(l, 'filter', 'FORWARD').rules[1]
  assert.equal(rej?.target, 'REJECT')
  assert.equal(rej?.inInterface, undefined)
  assert.equal(chain(l, 'filter', 'FORWARD').policy, 'DROP')
})

test('iptables -t nat -L -n -v: nat table, negated addresses, mark and addrtype matches, random-fully', () => {
  const l = ipt('healthy-docker-L-n-v-nat.txt')
  assert.deepEqual(
    l.tables.map((t) => t.name),
    ['nat'],
  )
  assert.deepEqual(tableMeaning(l, 'nat'), tableMeaning(ipt('healthy-docker-save.txt'), 'nat'))
  const m = chain(l, 'nat', 'FLANNEL-POSTRTG').rules
  assert.deepEqual(m[0]?.matches, [{module: 'mark', args: '0x4000/0x4000'}])
  assert.equal(m[0]?.comment, 'flanneld masq')
  assert.deepEqual(m[3]?.source, {value: '10.244.0.0/16', negated: true})
  assert.equal(m[4]?.targetArgs, 'random-fully')
  assert.deepEqual(chain(l, 'nat', 'PREROUTING').rules[0]?.matches, [
    {module: 'addrtype', args: 'dst-type LOCAL'},
  ])
})

test('older iptables -L prints protocol names: same meaning as the numbers of 1.8.9', () => {
  // The 1.8.9 capture with its protocol column rewritten the way iptables < 1.8.9 printed it.
  const names: Record<string, string> = {'0': 'all', '17': 'udp', '50': 'esp'}
  const text = fx('iptables/L-n-v.txt').replace(
    /^(\s+\d+\s+\d+\s+\S+\s+)(\d+)(\s)/gm,
    (_a, pre: string, p: string, post: string) => `${pre}${names[p] ?? p}${post}`,
  )
  assert.match(text, / all {4}-- /)
  assert.deepEqual(tableMeaning(parseIptables(text), 'filter'), tableMeaning(ipt('L-n-v.txt'), 'filter'))
})

test('ip6tables captures (save, -S, -L)', () => {
  const save = ipt('ip6tables-flannel-save.txt')
  assert.equal(save.backend, 'nf_tables')
  const fwd = chain(save, 'filter', 'FLANNEL-FWD').rules
  assert.deepEqual(fwd[0]?.source, {value: '2001:cafe:42::/56', negated: false})
  assert.deepEqual(chain(save, 'filter', 'INPUT').rules[0]?.protocol, {value: 'ipv6-icmp', negated: false})
  assert.deepEqual(tableMeaning(ipt('ip6tables-flannel-S.txt'), 'filter'), tableMeaning(save, 'filter'))
  assert.deepEqual(tableMeaning(ipt('ip6tables-flannel-L-n-v.txt'), 'filter'), tableMeaning(save, 'filter'))
  assert.deepEqual(chain(save, 'nat', 'FLANNEL-POSTRTG').rules[4]?.destination, {
    value: 'ff00::/8',
    negated: true,
  })
  assert.equal(chain(ipt('ip6tables-save.txt'), 'filter', 'OUTPUT').raw, ':OUTPUT ACCEPT [2:192]')
})

test('iptables-legacy and the iptables-nft "legacy tables present" warning', () => {
  const legacy = ipt('split-legacy-save.txt')
  assert.equal(legacy.backend, 'legacy')
  assert.equal(chain(legacy, 'filter', 'FLANNEL-FWD').rules.length, 2)
  for (const f of ['split-nft-save.txt', 'split-nft-S.txt', 'split-nft-L-n.txt']) {
    const rs = ipt(f)
    assert.equal(rs.legacyTablesPresent, true, f)
    assert.equal(chain(rs, 'filter', 'KUBE-FORWARD').rules.length, 3, f)
  }
  assert.equal(ipt('split-nft-save.txt').backend, 'nf_tables')
  assert.equal(
    ipt('split-legacy-L-n-v-line-numbers.txt').tables[0]?.chains.find((c) => c.name === 'FLANNEL-FWD')?.rules
      .length,
    2,
  )
})

test('empty captures give an empty ruleset', () => {
  for (const f of ['save-empty.txt', 'legacy-save-empty.txt', 'nftonly-firewall-save.txt']) {
    assert.deepEqual(ipt(f).tables, [], f)
  }
  assert.deepEqual(parseIptables(''), {form: 'save', tables: []})
})

test('concatenated listings: pasted command lines name the table, else the built-in chains do', () => {
  const withCmds = parseIptables(
    `# iptables -S\n${fx('iptables/S.txt')}# iptables -t nat -S\n${fx('iptables/S-nat.txt')}`,
  )
  assert.deepEqual(
    withCmds.tables.map((t) => t.name),
    ['filter', 'nat'],
  )
  assert.equal(chain(withCmds, 'nat', 'FLANNEL-POSTRTG').rules.length, 6)
  const bare = parseIptables(fx('iptables/S.txt') + fx('iptables/stale-S-nat.txt'))
  assert.deepEqual(
    bare.tables.map((t) => t.name),
    ['filter', 'nat'],
  )
  const lists = parseIptables(`${fx('iptables/L-n-v.txt')}\n${fx('iptables/healthy-docker-L-n-v-nat.txt')}`)
  assert.deepEqual(
    lists.tables.map((t) => t.name),
    ['filter', 'nat'],
  )
  assert.equal(chain(lists, 'nat', 'POSTROUTING').rules.length, 2)
  const prompt = parseIptables(`root@node-1:~# iptables-save\n${fx('iptables/save-b-healthy.txt')}`)
  assert.equal(chain(prompt, 'filter', 'FLANNEL-FWD').rules.length, 2)
})

test('goto is kept apart from jump', () => {
  const rs = ipt('goto-save.txt')
  const r = chain(rs, 'filter', 'FORWARD').rules
  assert.equal(r[0]?.target, 'POD-OUT')
  assert.equal(r[0]?.goto, true)
  assert.equal(r[1]?.target, 'LOG')
  assert.equal(r[1]?.targetArgs, '--log-prefix "fwd-drop: "')
  assert.equal(r[2]?.goto, undefined)
})

test('what is not iptables output is a ParseError', () => {
  assert.throws(
    () => ipt('save-nonroot-error.txt'),
    (e: unknown) => e instanceof ParseError && /error message/.test(e.message) && e.hint === 'run it as root',
  )
  assert.throws(() => parseIptables(fx('nft/ruleset.txt')), ParseError)
  // a line cut inside a quoted comment
  const cut = fx('iptables/save-b-healthy.txt').replace('"flanneld forward" -j FLANNEL-FWD', '"flanneld for')
  assert.throws(() => parseIptables(cut), ParseError)
  // a rule before any *table line
  const noTable = fx('iptables/save-b-healthy.txt').replace('*filter\n', '')
  assert.throws(
    () => parseIptables(noTable),
    (e: unknown) => e instanceof ParseError && e.line !== undefined,
  )
})
