/**
 * The net-conf and Kubernetes parsers are total: on any input they return a value or throw ParseError, never
 * another exception. parseNetConf never throws at all, agrees with JSON.parse on what is valid JSON, and keeps
 * its positions inside the text. Inputs: arbitrary strings (also made of JSON/YAML punctuation and the
 * parsers' own words) and mutations of the real fixtures (truncation, line deletion/duplication/swap,
 * character edits, inserted fragments). 10,000+ runs per parser.
 */
import assert from 'node:assert/strict'
import {test} from 'node:test'

import fc from 'fast-check'

import {ParseError} from '../../../src/parse/errors.js'
import {parseNodes, parsePodCidrs} from '../../../src/parse/kube.js'
import {parseNetConf} from '../../../src/parse/netconf.js'
import {cniConfFromManifest, flannelManifestInfo, netConfFromFile} from '../../../src/parse/netconf-source.js'
import {arbitraryText, assertTotal, fixtures, mutated, standardArms} from '../../support/property.js'

const MANIFESTS = fixtures('netconf')
/** The net-conf.json texts inside the real ConfigMaps/manifests (as flannel receives them). */
const NETCONFS = MANIFESTS.map((m) => netConfFromFile(m, 'm.yaml').text)
const NODES = fixtures('kube', (f) => !f.startsWith('podcidrs'))
const CIDRS = fixtures('kube', (f) => f.startsWith('podcidrs'))

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

/** `runs` runs of arbitrary text and as many of mutated fixtures. */
const total = (name: string, parse: (s: string) => unknown, seeds: readonly string[], runs: number): void =>
  assertTotal(name, parse, standardArms(VOCAB, seeds, runs), {seed: 4242})

function jsonParses(s: string): boolean {
  try {
    JSON.parse(s)
    return true
  } catch {
    return false
  }
}

test('parseNetConf never throws, agrees with JSON.parse, and keeps positions in range (12,000 runs)', () => {
  for (const arb of [arbitraryText(VOCAB, NETCONFS), mutated(NETCONFS, VOCAB)])
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
