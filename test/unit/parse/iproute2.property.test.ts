/**
 * The iproute2 / net-tools parsers are total: on any input they return entries or throw ParseError,
 * never another exception. Inputs: arbitrary strings, lines built from the tools' own vocabulary,
 * mutations of every real capture (truncation, line deletion/duplication/swap, character edits,
 * inserted keywords), and structural edits of the JSON captures. 10,500 runs per parser.
 */
import assert from 'node:assert/strict'
import {readFileSync, readdirSync} from 'node:fs'
import {test} from 'node:test'

import fc from 'fast-check'

import {isMac} from '../../../src/parse/iproute-common.js'
import {parseBridgeFdb} from '../../../src/parse/bridge-fdb.js'
import {ParseError} from '../../../src/parse/errors.js'
import {parseIpAddr} from '../../../src/parse/ip-addr.js'
import {parseIpLink} from '../../../src/parse/ip-link.js'
import {parseIpNeigh} from '../../../src/parse/ip-neigh.js'
import {parseIpRoute} from '../../../src/parse/ip-route.js'

const OUT = new URL('../../fixtures/outputs/', import.meta.url)
const read = (dir: string): string[] =>
  readdirSync(new URL(`${dir}/`, OUT))
    .filter((f) => !f.endsWith('.note'))
    .map((f) => readFileSync(new URL(`${dir}/${f}`, OUT), 'utf8'))

const OWN = ['ip-link', 'ip-addr', 'ip-route', 'ip-neigh', 'bridge-fdb'] as const
const FIXTURES = Object.fromEntries(OWN.map((d) => [d, read(d)])) as Record<(typeof OWN)[number], string[]>
const FOREIGN = [...read('iptables'), ...read('nft')].filter((s) => s !== '')
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

type Op =
  | {k: 'trunc'; at: number}
  | {k: 'del' | 'dup'; i: number}
  | {k: 'swap'; i: number; j: number}
  | {k: 'edit'; at: number; len: number; ins: string}
  | {k: 'word'; at: number; w: string}

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({k: fc.constant('trunc' as const), at: fc.nat()}),
  fc.record({k: fc.constantFrom('del' as const, 'dup' as const), i: fc.nat()}),
  fc.record({k: fc.constant('swap' as const), i: fc.nat(), j: fc.nat()}),
  fc.record({
    k: fc.constant('edit' as const),
    at: fc.nat(),
    len: fc.nat({max: 4}),
    ins: fc.string({maxLength: 4, unit: 'binary'}),
  }),
  fc.record({k: fc.constant('word' as const), at: fc.nat(), w: fc.constantFrom(...VOCAB)}),
)

function apply(s: string, op: Op): string {
  const lines = s.split('\n')
  const n = lines.length
  switch (op.k) {
    case 'trunc':
      return s.slice(0, op.at % (s.length + 1))
    case 'del':
      lines.splice(op.i % n, 1)
      return lines.join('\n')
    case 'dup': {
      const i = op.i % n
      lines.splice(i, 0, lines[i] ?? '')
      return lines.join('\n')
    }
    case 'swap': {
      const i = op.i % n
      const j = op.j % n
      ;[lines[i], lines[j]] = [lines[j] ?? '', lines[i] ?? '']
      return lines.join('\n')
    }
    case 'edit': {
      const at = op.at % (s.length + 1)
      return s.slice(0, at) + op.ins + s.slice(at + op.len)
    }
    case 'word': {
      const at = op.at % (s.length + 1)
      return `${s.slice(0, at)} ${op.w} ${s.slice(at)}`
    }
  }
}

const mutated = (seeds: string[]) =>
  fc
    .tuple(fc.constantFrom(...seeds), fc.array(opArb, {minLength: 1, maxLength: 6}))
    .map(([s, ops]) => ops.reduce(apply, s))

const vocabLines = fc
  .array(
    fc.tuple(
      fc.constantFrom('', '    ', '\t'),
      fc.array(fc.oneof(fc.constantFrom(...VOCAB), fc.string({maxLength: 6})), {maxLength: 12}),
      fc.constantFrom(' ', '  ', '\t'),
    ),
    {maxLength: 8},
  )
  .map((ls) => ls.map(([indent, words, sep]) => indent + words.join(sep)).join('\n'))

/** Structural edits of JSON captures: one value anywhere in the tree replaced by arbitrary JSON. */
function jsonMutated(seeds: string[]) {
  const parsed = seeds.map((s) => JSON.parse(s) as unknown)
  return fc
    .tuple(fc.constantFrom(...parsed), fc.array(fc.nat(), {minLength: 1, maxLength: 5}), fc.jsonValue())
    .map(([doc, path, value]) => {
      const copy = structuredClone(doc)
      let node: unknown = copy
      for (let d = 0; d < path.length; d++) {
        if (typeof node !== 'object' || node === null) break
        const keys = Object.keys(node)
        if (keys.length === 0) break
        const key = keys[(path[d] as number) % keys.length] as string
        if (d === path.length - 1 || typeof (node as Record<string, unknown>)[key] !== 'object') {
          ;(node as Record<string, unknown>)[key] = value
          break
        }
        node = (node as Record<string, unknown>)[key]
      }
      return JSON.stringify(copy)
    })
}

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

function total(s: Subject, input: string): void {
  let out: unknown[]
  try {
    out = s.parse(input)
  } catch (e) {
    if (e instanceof ParseError) {
      assert.ok(e.message.length > 0)
      if (e.line !== undefined) assert.ok(Number.isInteger(e.line) && e.line >= 1)
      return
    }
    throw e
  }
  assert.ok(Array.isArray(out))
  for (const entry of out) s.check(entry as never)
}

for (const s of SUBJECTS) {
  test(`${s.name} returns entries or throws ParseError on any input (10,500 runs)`, () => {
    const jsonSeeds = s.seeds.filter((x) => /^\s*\[\s*[{\]]/.test(x))
    assert.ok(s.seeds.length >= 5 && jsonSeeds.length >= 1)
    const prop = (arb: fc.Arbitrary<string>, numRuns: number) =>
      fc.assert(
        fc.property(arb, (input) => total(s, input)),
        {numRuns},
      )
    prop(fc.string({maxLength: 300, unit: 'binary'}), 1500)
    prop(vocabLines, 1000)
    prop(mutated(s.seeds), 5000)
    prop(mutated([...ALL, ...FOREIGN]), 1000)
    prop(jsonMutated(jsonSeeds), 2000)
  })
}
