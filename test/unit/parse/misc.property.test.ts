/**
 * The xfrm, sysctl, ethtool, subnet.env, CNI, uname, lsmod and log parsers are total: on any input they return a
 * value or throw ParseError, never another exception. Inputs: arbitrary strings (with and without a tool's own
 * words), and mutations of every real capture of the probe (truncation, line deletion/duplication/swap,
 * character edits, inserted keywords). 10,000+ runs per parser.
 */
import assert from 'node:assert/strict'
import {test} from 'node:test'

import fc from 'fast-check'

import {jsonSyntaxError, parseCniConfigs} from '../../../src/parse/cni.js'
import {parseEthtoolFeatures} from '../../../src/parse/ethtool.js'
import {normalizeLogLine, parseLog} from '../../../src/parse/logs.js'
import {parseModules} from '../../../src/parse/lsmod.js'
import {parseSubnetEnv} from '../../../src/parse/subnet-env.js'
import {parseSysctl} from '../../../src/parse/sysctl.js'
import {parseUname} from '../../../src/parse/uname.js'
import {parseXfrmPolicy, parseXfrmState, redactXfrmKeys} from '../../../src/parse/xfrm.js'
import {explain} from '../../../src/checks/lib/messages.js'
import {assertTotal, fixtures, mutated, standardArms} from '../../support/property.js'

const read = (dir: string): string[] => fixtures(dir).filter((s) => s !== '')

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

/** 5,000 runs of arbitrary text and 5,000 of mutated captures. */
const total = (name: string, parse: (s: string) => unknown, seeds: readonly string[]): void =>
  assertTotal(name, parse, standardArms(VOCAB, seeds, 5000), {seed: 20261125})

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
    fc.property(mutated(XS, VOCAB), (s) => {
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
