/**
 * The xfrm, sysctl, ethtool, subnet.env, CNI, uname, lsmod and log parsers are total: on any input they return a
 * value or throw ParseError, never another exception. Inputs: arbitrary strings (with and without a tool's own
 * words), and mutations of every real capture of the probe (truncation, line deletion/duplication/swap,
 * character edits, inserted keywords). 10,000+ runs per parser.
 */
import assert from 'node:assert/strict'
import {readFileSync, readdirSync} from 'node:fs'
import {test} from 'node:test'

import fc from 'fast-check'

import {ParseError} from '../../../src/parse/errors.js'
import {jsonSyntaxError, parseCniConfigs} from '../../../src/parse/cni.js'
import {parseEthtoolFeatures} from '../../../src/parse/ethtool.js'
import {normalizeLogLine, parseLog} from '../../../src/parse/logs.js'
import {parseModules} from '../../../src/parse/lsmod.js'
import {parseSubnetEnv} from '../../../src/parse/subnet-env.js'
import {parseSysctl} from '../../../src/parse/sysctl.js'
import {parseUname} from '../../../src/parse/uname.js'
import {parseXfrmPolicy, parseXfrmState, redactXfrmKeys} from '../../../src/parse/xfrm.js'
import {explain} from '../../../src/checks/lib/messages.js'

const OUT = new URL('../../fixtures/outputs/', import.meta.url)
const read = (dir: string): string[] =>
  readdirSync(new URL(`${dir}/`, OUT))
    .filter((f) => !f.endsWith('.note'))
    .map((f) => readFileSync(new URL(`${dir}/${f}`, OUT), 'utf8'))
    .filter((s) => s !== '')

const VOCAB = [
  'src',
  'dst',
  'proto',
  'esp',
  'spi',
  'reqid',
  'mode',
  'tunnel',
  'dir',
  'socket',
  'tmpl',
  'sel',
  'aead',
  'enc',
  'auth-trunc',
  'priority',
  'ptype',
  ' = ',
  '=',
  ':',
  ': on',
  ': off [fixed]',
  'Features for ',
  'Actual changes:',
  'export ',
  '"',
  "'",
  '#',
  'FLANNEL_MTU=',
  '/proc/sys/',
  'sysctl: cannot stat ',
  'Linux',
  'Module                  Size  Used by',
  'E0529 10:32:01.123456       1 main.go:330] ',
  '2024-05-29T10:32:01.123Z stderr F ',
  '{"log":"',
  '[ 1423.035722] ',
  'level=error msg="',
  '\\"',
  '\t',
  '\n',
  '\r\n',
  ' ',
  '0x',
  '(',
  '\u0000',
]

/** An arbitrary string, or one made of the parsers' own words and fragments of the captures. */
function arbitrary(fixtures: readonly string[]): fc.Arbitrary<string> {
  const words = [...VOCAB, ...fixtures.flatMap((f) => f.split(/\s+/).slice(0, 40))].filter((w) => w !== '')
  return fc.oneof(
    fc.string({maxLength: 200}),
    fc.string({unit: 'binary', maxLength: 120}),
    fc.array(fc.constantFrom(...words), {maxLength: 60}).map((ws) => ws.join(' ')),
    fc.array(fc.constantFrom(...words), {maxLength: 40}).map((ws) => ws.join('\n')),
  )
}

/** A real capture, mutated. */
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
  const keyword = fc.tuple(fixture, fc.nat(), fc.constantFrom(...VOCAB)).map(([s, n, w]) => {
    const i = n % (s.length + 1)
    return s.slice(0, i) + w + s.slice(i)
  })
  return fc.oneof(truncate, lineOp, charOps, keyword)
}

function total(name: string, parse: (s: string) => unknown, fixtures: readonly string[], runs = 5000): void {
  for (const [what, arb] of [
    ['arbitrary', arbitrary(fixtures)],
    ['mutated capture', mutated(fixtures)],
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
      {numRuns: runs, seed: 20261125 + name.length + what.length},
    )
  }
}

const XS = read('ip-xfrm-state')
const XP = read('ip-xfrm-policy')
const SY = read('sysctl')
const ET = read('ethtool')
const SE = read('subnet-env')
const CN = read('cni')
const UN = read('uname')
const LM = read('lsmod')
const LG = read('logs')

test('parseXfrmState is total (10,000 runs) and redactXfrmKeys never changes the line count', () => {
  total('parseXfrmState', parseXfrmState, [...XS, ...XP])
  fc.assert(
    fc.property(mutated(XS), (s) => {
      assert.equal(redactXfrmKeys(s).split('\n').length, s.split('\n').length)
    }),
    {numRuns: 2000, seed: 7},
  )
})

test('parseXfrmPolicy is total (10,000 runs)', () =>
  total('parseXfrmPolicy', parseXfrmPolicy, [...XP, ...XS]))
test('parseSysctl is total (10,000 runs)', () => total('parseSysctl', parseSysctl, SY))
test('parseEthtoolFeatures is total (10,000 runs)', () =>
  total('parseEthtoolFeatures', parseEthtoolFeatures, ET))
test('parseSubnetEnv is total (10,000 runs)', () => total('parseSubnetEnv', parseSubnetEnv, SE))
test('parseUname is total (10,000 runs)', () => total('parseUname', parseUname, UN))
test('parseModules is total (10,000 runs)', () => total('parseModules', parseModules, LM))

test('parseLog and explain are total and keep every line (10,000 runs each)', () => {
  total(
    'parseLog',
    (s) => {
      const l = parseLog('x.log', s)
      assert.equal(l.entries?.length, l.lines.length)
      return l
    },
    LG,
  )
  total('explain', explain, LG)
  fc.assert(
    fc.property(fc.string({maxLength: 300}), (s) => typeof normalizeLogLine(s).text === 'string'),
    {numRuns: 2000, seed: 3},
  )
})

test('parseCniConfigs never throws, and its JSON scanner agrees with JSON.parse (10,000 runs)', () => {
  total(
    'parseCniConfigs',
    (s) => {
      const [c] = parseCniConfigs([{name: '10-flannel.conflist', text: s}])
      assert.ok(c !== undefined)
      let valid = true
      try {
        JSON.parse(s)
      } catch {
        valid = false
      }
      assert.equal(
        c.error === undefined,
        valid,
        `scanner and JSON.parse disagree on ${JSON.stringify(s.slice(0, 120))}`,
      )
      assert.equal(jsonSyntaxError(s) === undefined, valid)
      return c
    },
    CN,
  )
})
