/**
 * The net-conf and Kubernetes parsers are total: on any input they return a value or throw ParseError, never
 * another exception. parseNetConf never throws at all, agrees with JSON.parse on what is valid JSON, and keeps
 * its positions inside the text. Inputs: arbitrary strings (also made of JSON/YAML punctuation and the
 * parsers' own words) and mutations of the real fixtures (truncation, line deletion/duplication/swap,
 * character edits, inserted fragments). 10,000+ runs per parser.
 */
import assert from 'node:assert/strict'
import {readFileSync, readdirSync} from 'node:fs'
import {test} from 'node:test'

import fc from 'fast-check'

import {ParseError} from '../../../src/parse/errors.js'
import {parseNodes, parsePodCidrs} from '../../../src/parse/kube.js'
import {parseNetConf} from '../../../src/parse/netconf.js'
import {cniConfFromManifest, flannelManifestInfo, netConfFromFile} from '../../../src/parse/netconf-source.js'

const OUT = new URL('../../fixtures/outputs/', import.meta.url)
const read = (dir: string, filter: (f: string) => boolean = () => true): string[] =>
  readdirSync(new URL(`${dir}/`, OUT))
    .filter((f) => !f.endsWith('.note') && filter(f))
    .map((f) => readFileSync(new URL(`${dir}/${f}`, OUT), 'utf8'))

const MANIFESTS = read('netconf')
/** The net-conf.json texts inside the real ConfigMaps/manifests (as flannel receives them). */
const NETCONFS = MANIFESTS.map((m) => netConfFromFile(m, 'm.yaml').text)
const NODES = read('kube', (f) => !f.startsWith('podcidrs'))
const CIDRS = read('kube', (f) => f.startsWith('podcidrs'))

const VOCAB = [
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  '"',
  "'",
  '#',
  '//',
  '/*',
  '*/',
  '\\',
  '\\u00',
  '“',
  '”',
  '\ufeff',
  'true',
  'false',
  'null',
  'True',
  '-',
  '0',
  '1e',
  '24.5',
  '"Network"',
  '"Backend"',
  '"Type"',
  '"vxlan"',
  '"VNI"',
  '"Directrouting"',
  '"10.244.0.0/16"',
  '"2001:db8::/48"',
  'net-conf.json: |',
  'kind: ConfigMap',
  'kind: List',
  'items:',
  '- ',
  '---',
  '  ',
  '\t',
  '\n',
  '\r\n',
  '|2',
  '>',
  '&a',
  '*a',
  '!!str',
  'podCIDR: ',
  '10.244.0.0/24',
  '<none>',
  '<no value>',
  'NAME',
  'CIDR',
  'metadata:',
  'name: ',
]

function arbitrary(fixtures: readonly string[]): fc.Arbitrary<string> {
  const words = [...VOCAB, ...fixtures.flatMap((f) => f.split(/\s+/).slice(0, 60))].filter((w) => w !== '')
  return fc.oneof(
    fc.string({maxLength: 200}),
    fc.string({unit: 'binary', maxLength: 120}),
    fc.array(fc.constantFrom(...words), {maxLength: 60}).map((ws) => ws.join(' ')),
    fc.array(fc.constantFrom(...words), {maxLength: 40}).map((ws) => ws.join('\n')),
    fc.array(fc.constantFrom(...words), {maxLength: 80}).map((ws) => ws.join('')),
  )
}

function mutated(fixtures: readonly string[]): fc.Arbitrary<string> {
  const fixture = fc.constantFrom(...fixtures)
  const truncate = fc.tuple(fixture, fc.nat()).map(([s, n]) => s.slice(0, n % (s.length + 1)))
  const lineOp = fc
    .tuple(fixture, fc.nat(), fc.constantFrom('delete', 'duplicate', 'swap', 'dedent', 'indent'))
    .map(([s, n, op]) => {
      const ls = s.split('\n')
      const i = n % ls.length
      const l = ls[i] as string
      if (op === 'delete') ls.splice(i, 1)
      else if (op === 'duplicate') ls.splice(i, 0, l)
      else if (op === 'swap' && i + 1 < ls.length) [ls[i], ls[i + 1]] = [ls[i + 1] as string, l]
      else if (op === 'dedent') ls[i] = l.trimStart()
      else ls[i] = `\t${l}`
      return ls.join('\n')
    })
  const charOps = fc
    .tuple(
      fixture,
      fc.array(fc.tuple(fc.nat(), fc.constantFrom('ins', 'del', 'rep'), fc.string({maxLength: 3})), {
        minLength: 1,
        maxLength: 6,
      }),
    )
    .map(([s, ops]) => {
      let t = s
      for (const [n, op, x] of ops) {
        const i = n % (t.length + 1)
        if (op === 'ins') t = t.slice(0, i) + x + t.slice(i)
        else if (op === 'del') t = t.slice(0, i) + t.slice(i + 1)
        else t = t.slice(0, i) + x + t.slice(i + x.length)
      }
      return t
    })
  const fragment = fc.tuple(fixture, fc.nat(), fc.constantFrom(...VOCAB)).map(([s, n, w]) => {
    const i = n % (s.length + 1)
    return s.slice(0, i) + w + s.slice(i)
  })
  return fc.oneof(truncate, lineOp, charOps, fragment)
}

function total(name: string, parse: (s: string) => unknown, fixtures: readonly string[], runs: number): void {
  for (const [what, arb] of [
    ['arbitrary', arbitrary(fixtures)],
    ['mutated', mutated(fixtures)],
  ] as const) {
    fc.assert(
      fc.property(arb, (s) => {
        try {
          parse(s)
        } catch (e) {
          if (!(e instanceof ParseError))
            throw new Error(`${name} threw ${String(e)} on ${JSON.stringify(s.slice(0, 200))}`)
        }
      }),
      {numRuns: runs, seed: 4242 + name.length + what.length},
    )
  }
}

function jsonParses(s: string): boolean {
  try {
    JSON.parse(s)
    return true
  } catch {
    return false
  }
}

test('parseNetConf never throws, agrees with JSON.parse, and keeps positions in range (12,000 runs)', () => {
  for (const arb of [arbitrary(NETCONFS), mutated(NETCONFS)])
    fc.assert(
      fc.property(arb, (s) => {
        const r = parseNetConf(s)
        // Go and JSON.parse accept the same texts (no invalid UTF-8 can exist in a JS string).
        assert.equal(
          r.ok,
          jsonParses(s),
          `validity differs from JSON.parse for ${JSON.stringify(s.slice(0, 120))}`,
        )
        if (!r.ok) {
          const lines = s.split('\n').length
          assert.ok(r.error.line >= 1 && r.error.line <= lines, `line ${r.error.line} of ${lines}`)
          assert.ok(r.error.column >= 1)
          assert.equal(Array.from(r.error.caret).length, r.error.column)
          assert.match(
            r.error.flannelMessage,
            /^error parsing subnet config: (invalid character '.+' |unexpected end of JSON input$)/,
          )
        } else {
          for (const k of r.conf.keys) assert.ok(k.line >= 1 && k.column >= 1)
          assert.equal(typeof r.conf.backendType, 'string')
        }
      }),
      {numRuns: 6000, seed: 99},
    )
})

test('netConfFromFile, cniConfFromManifest and flannelManifestInfo are total (10,000 runs each)', () =>
  total(
    'netConfFromFile+cniConfFromManifest+flannelManifestInfo',
    (s) => {
      // Each one separately: a ParseError of one must not hide another's exception.
      const errors: unknown[] = []
      for (const parse of [
        () => netConfFromFile(s, 'f.yaml'),
        () => cniConfFromManifest(s, 'f.yaml'),
        () => flannelManifestInfo(s),
      ])
        try {
          parse()
        } catch (e) {
          errors.push(e)
        }
      const other = errors.find((e) => !(e instanceof ParseError))
      if (other) throw other
      if (errors[0]) throw errors[0]
    },
    [...MANIFESTS, ...NETCONFS],
    5000,
  ))

test('parseNodes is total (10,000 runs)', () => total('parseNodes', parseNodes, NODES, 5000))

test('parsePodCidrs is total, and every node it returns is partial (10,000 runs)', () =>
  total(
    'parsePodCidrs',
    (s) => {
      const nodes = parsePodCidrs(s)
      for (const n of nodes) assert.equal(n.partial, true)
      return nodes
    },
    [...CIDRS, ...NODES.slice(0, 1)],
    5000,
  ))
