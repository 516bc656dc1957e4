/**
 * The iproute2 / net-tools parsers are total: on any input they return entries or throw ParseError,
 * never another exception. Inputs: arbitrary strings, lines built from the tools' own vocabulary,
 * mutations of every real capture (truncation, line deletion/duplication/swap, character edits,
 * inserted keywords), and structural edits of the JSON captures. 10,500 runs per parser.
 */
import assert from 'node:assert/strict'
import {test} from 'node:test'

import {isMac} from '../../../src/parse/iproute-common.js'
import {parseBridgeFdb} from '../../../src/parse/bridge-fdb.js'
import {parseIpAddr} from '../../../src/parse/ip-addr.js'
import {parseIpLink} from '../../../src/parse/ip-link.js'
import {parseIpNeigh} from '../../../src/parse/ip-neigh.js'
import {parseIpRoute} from '../../../src/parse/ip-route.js'
import {
  anyString,
  assertTotal,
  fixtures,
  jsonMutated,
  mutated,
  runsOf,
  vocabLines,
  type Arm,
} from '../../support/property.js'

const OWN = ['ip-link', 'ip-addr', 'ip-route', 'ip-neigh', 'bridge-fdb'] as const
const FIXTURES = Object.fromEntries(OWN.map((d) => [d, fixtures(d)])) as Record<
  (typeof OWN)[number],
  string[]
>
const FOREIGN = [...fixtures('iptables'), ...fixtures('nft')].filter((s) => s !== '')
const ALL = Object.values(FIXTURES).flat()

/** Words and punctuation the parsers branch on. */
const VOCAB = [
  'dev',
  'via',
  'inet',
  'inet6',
  'peer',
  'brd',
  'scope',
  'mtu',
  'master',
  'state',
  'lladdr',
  'nexthop',
  'onlink',
  'dst',
  'vlan',
  'self',
  'permanent',
  'static',
  'proxy',
  'router',
  'default',
  'blackhole',
  'unreachable',
  'local',
  'table',
  'metric',
  'proto',
  'src',
  'lock',
  'weight',
  'vxlan',
  'id',
  'dstport',
  'nolearning',
  'gbp',
  'group',
  'link/ether',
  'bridge_slave',
  'veth',
  'PERMANENT',
  'FAILED',
  'netmask',
  'prefixlen',
  'scopeid',
  'addr:',
  'Mask:',
  'Scope:Link',
  'Link encap:Ethernet',
  'flags=4163<UP>',
  'Kernel IP routing table',
  'Destination',
  'Gateway',
  'Genmask',
  'Flags',
  'Iface',
  'Next Hop',
  'UG',
  '!',
  '*',
  '-',
  '0.0.0.0',
  '255.255.255.0',
  '0xffffff00',
  '10.244.2.0/24',
  '10.244.2.0',
  'fd00::1/64',
  'fe80::1%eth0',
  '::/0',
  '0a:58:0a:f4:02:00',
  '0A:58:0A:F4:02:00',
  '3: flannel.1: <BROADCAST,UP> mtu 1450',
  '5: veth@if2: <UP>',
  '@NONE',
  '<',
  '>',
  ':',
  '/',
  '@',
  '[',
  ']',
  '{',
  '}',
  '"',
  ',',
  '#',
  '$ ip route',
  '[root@node ~]# bridge fdb show dev flannel.1',
  '  ',
  '\t',
  '\n',
  '\r\n',
  '',
]

interface Subject {
  name: string
  parse: (raw: string) => unknown[]
  seeds: string[]
  /** Invariants of every returned entry. */
  check: (entry: never) => void
}

const str = (v: unknown): string => (typeof v === 'string' ? v : assert.fail(`not a string: ${String(v)}`))

const SUBJECTS: Subject[] = [
  {
    name: 'parseIpLink',
    parse: parseIpLink,
    seeds: FIXTURES['ip-link'],
    check: (l: {name: unknown; mtu: number; mac?: string; raw: unknown; flags: unknown[]; up: boolean}) => {
      str(l.name)
      str(l.raw)
      assert.ok(Number.isInteger(l.mtu) && l.mtu >= 0)
      if (l.mac !== undefined) assert.equal(l.mac, l.mac.toLowerCase())
      assert.equal(l.up, l.flags.includes('UP'))
    },
  },
  {
    name: 'parseIpAddr',
    parse: parseIpAddr,
    seeds: FIXTURES['ip-addr'],
    check: (a: {family: string; prefixlen: number; raw: unknown; address: unknown}) => {
      str(a.raw)
      str(a.address)
      assert.ok(a.family === 'inet' || a.family === 'inet6')
      assert.ok(
        Number.isInteger(a.prefixlen) && a.prefixlen >= 0 && a.prefixlen <= (a.family === 'inet' ? 32 : 128),
      )
    },
  },
  {
    name: 'parseIpRoute',
    parse: parseIpRoute,
    seeds: FIXTURES['ip-route'],
    check: (r: {dst: string; type: unknown; raw: unknown; onlink: unknown}) => {
      str(r.raw)
      str(r.type)
      assert.equal(typeof r.onlink, 'boolean')
      assert.ok(r.dst === 'default' || r.dst.includes('/'), r.dst)
    },
  },
  {
    name: 'parseIpNeigh',
    parse: parseIpNeigh,
    seeds: FIXTURES['ip-neigh'],
    check: (n: {dst: unknown; dev: unknown; state: unknown[]; lladdr?: string; raw: unknown}) => {
      str(n.dst)
      str(n.dev)
      str(n.raw)
      assert.ok(Array.isArray(n.state))
      if (n.lladdr !== undefined) assert.equal(n.lladdr, n.lladdr.toLowerCase())
    },
  },
  {
    name: 'parseBridgeFdb',
    parse: parseBridgeFdb,
    seeds: FIXTURES['bridge-fdb'],
    check: (e: {mac: string; dev: unknown; raw: unknown; self: unknown; permanent: unknown}) => {
      assert.ok(isMac(e.mac) && e.mac === e.mac.toLowerCase(), e.mac)
      str(e.dev)
      str(e.raw)
      assert.equal(typeof e.self, 'boolean')
      assert.equal(typeof e.permanent, 'boolean')
    },
  },
]

for (const s of SUBJECTS) {
  test(`${s.name} returns entries or throws ParseError on any input (10,500 runs)`, () => {
    const jsonSeeds = s.seeds.filter((x) => /^\s*\[\s*[{\]]/.test(x))
    assert.ok(s.seeds.length >= 5 && jsonSeeds.length >= 1)
    const arms: Arm[] = [
      {what: 'arbitrary', arb: anyString, runs: 1500},
      {what: 'vocabulary', arb: vocabLines(VOCAB), runs: 1000},
      {what: 'mutated', arb: mutated(s.seeds, VOCAB), runs: 5000},
      {what: 'mutated other', arb: mutated([...ALL, ...FOREIGN], VOCAB), runs: 1000},
      {what: 'json', arb: jsonMutated(jsonSeeds, 5), runs: 2000},
    ]
    assert.equal(runsOf(arms), 10_500)
    assertTotal(s.name, s.parse, arms, {
      check: (out) => {
        assert.ok(Array.isArray(out))
        for (const entry of out) s.check(entry as never)
      },
    })
  })
}
