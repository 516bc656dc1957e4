/**
 * The harness of the parser property tests (test/unit/parse/*.property.test.ts): the inputs — arbitrary
 * text, lines made of a tool's own words, and mutations of the real captures in test/fixtures/outputs/
 * (truncation, line deletion/duplication/swap/indentation, character edits, inserted words, structural
 * edits of JSON) — and the one property every parser has: on any input it returns a value or throws
 * ParseError, never another exception.
 */
import assert from 'node:assert/strict'
import {readFileSync, readdirSync} from 'node:fs'

import fc from 'fast-check'

import {ParseError} from '../../src/parse/errors.js'

const OUT = new URL('../fixtures/outputs/', import.meta.url)

/** The captures of one probe (`test/fixtures/outputs/<dir>/`), without their `.note` files. */
export function fixtures(dir: string, filter: (file: string) => boolean = () => true): string[] {
  return readdirSync(new URL(`${dir}/`, OUT))
    .filter((f) => !f.endsWith('.note') && filter(f))
    .map((f) => readFileSync(new URL(`${dir}/${f}`, OUT), 'utf8'))
}

// ---- inputs -------------------------------------------------------------------------------------

/** Any string, including control characters and lone surrogates. */
export const anyString: fc.Arbitrary<string> = fc.string({maxLength: 300, unit: 'binary'})

/** Up to 8 lines of the given words (and short random strings), indented or not, in any spacing. */
export function vocabLines(words: readonly string[]): fc.Arbitrary<string> {
  return fc
    .array(
      fc.tuple(
        fc.constantFrom('', '    ', '\t'),
        fc.array(fc.oneof(fc.constantFrom(...words), fc.string({maxLength: 6})), {maxLength: 12}),
        fc.constantFrom(' ', '  ', '\t', ''),
      ),
      {maxLength: 8},
    )
    .map((ls) => ls.map(([indent, words, sep]) => indent + words.join(sep)).join('\n'))
}

/** Arbitrary text: any string, or lines of the tool's words and of words taken from its captures. */
export function arbitraryText(vocab: readonly string[], seeds: readonly string[] = []): fc.Arbitrary<string> {
  const words = [...vocab, ...seeds.flatMap((f) => f.split(/\s+/).slice(0, 60))].filter((w) => w !== '')
  return fc.oneof(anyString, fc.string({maxLength: 200}), vocabLines(words))
}

type Op =
  | {k: 'trunc'; at: number}
  | {k: 'del' | 'dup' | 'dedent' | 'indent'; i: number}
  | {k: 'swap'; i: number; j: number}
  | {k: 'edit'; at: number; len: number; ins: string}
  | {k: 'word'; at: number; w: string; spaced: boolean}

function opArb(vocab: readonly string[]): fc.Arbitrary<Op> {
  return fc.oneof(
    fc.record({k: fc.constant('trunc' as const), at: fc.nat()}),
    fc.record({
      k: fc.constantFrom('del' as const, 'dup' as const, 'dedent' as const, 'indent' as const),
      i: fc.nat(),
    }),
    fc.record({k: fc.constant('swap' as const), i: fc.nat(), j: fc.nat()}),
    fc.record({
      k: fc.constant('edit' as const),
      at: fc.nat(),
      len: fc.nat({max: 4}),
      ins: fc.string({maxLength: 4, unit: 'binary'}),
    }),
    fc.record({
      k: fc.constant('word' as const),
      at: fc.nat(),
      w: fc.constantFrom(...vocab),
      spaced: fc.boolean(),
    }),
  )
}

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
    case 'dedent':
    case 'indent': {
      const i = op.i % n
      const l = lines[i] ?? ''
      lines[i] = op.k === 'dedent' ? l.trimStart() : `\t${l}`
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
      return op.spaced ? `${s.slice(0, at)} ${op.w} ${s.slice(at)}` : s.slice(0, at) + op.w + s.slice(at)
    }
  }
}

/** A real capture after one to six mutations (words inserted from `vocab`). */
export function mutated(seeds: readonly string[], vocab: readonly string[]): fc.Arbitrary<string> {
  return fc
    .tuple(fc.constantFrom(...seeds), fc.array(opArb(vocab), {minLength: 1, maxLength: 6}))
    .map(([s, ops]) => ops.reduce(apply, s))
}

/** Two or three captures one after the other (as when several listings are pasted into one file). */
export function concatenated(seeds: readonly string[]): fc.Arbitrary<string> {
  return fc.array(fc.constantFrom(...seeds), {minLength: 2, maxLength: 3}).map((parts) => parts.join('\n'))
}

/** Structural edits of JSON captures: one value anywhere in the tree (up to `depth` deep) replaced by any JSON. */
export function jsonMutated(seeds: readonly string[], depth: number): fc.Arbitrary<string> {
  const parsed = seeds.map((s) => JSON.parse(s) as unknown)
  return fc
    .tuple(fc.constantFrom(...parsed), fc.array(fc.nat(), {minLength: 1, maxLength: depth}), fc.jsonValue())
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

// ---- the property -------------------------------------------------------------------------------

/**
 * The property: `parse(raw)` returns a value (that passes `check`, if given) or throws a ParseError with a
 * message and, if it names a line, a line number ≥ 1. Any other exception fails, naming the input.
 */
export function returnsOrParseError<T>(
  name: string,
  parse: (raw: string) => T,
  check?: (value: T) => void,
): (raw: string) => void {
  return (raw) => {
    let value: T
    try {
      value = parse(raw)
    } catch (e) {
      if (!(e instanceof ParseError))
        throw new Error(`${name} threw ${String(e)} on ${JSON.stringify(raw.slice(0, 200))}`, {cause: e})
      assert.ok(e.message.length > 0, `${name}: ParseError without a message`)
      if (e.line !== undefined) assert.ok(Number.isInteger(e.line) && e.line >= 1, `${name}: line ${e.line}`)
      return
    }
    check?.(value)
  }
}

/** One kind of input with its number of runs; `what` also varies the seed. */
export interface Arm {
  what: string
  arb: fc.Arbitrary<string>
  runs: number
}

/** The usual two arms: arbitrary text of the tool's words, and mutated captures, `runs` each. */
export function standardArms(vocab: readonly string[], seeds: readonly string[], runs: number): Arm[] {
  return [
    {what: 'arbitrary', arb: arbitraryText(vocab, seeds), runs},
    {what: 'mutated', arb: mutated(seeds, vocab), runs},
  ]
}

/**
 * Check `returnsOrParseError` on every arm. With `seed`, each arm runs with a fixed seed (derived from
 * `seed`, the name and the arm) so a failure reproduces; without it fast-check picks one per run.
 */
export function assertTotal<T>(
  name: string,
  parse: (raw: string) => T,
  arms: readonly Arm[],
  o: {check?: (value: T) => void; seed?: number} = {},
): void {
  const prop = returnsOrParseError(name, parse, o.check)
  for (const a of arms) {
    const params: fc.Parameters<[string]> = {numRuns: a.runs}
    if (o.seed !== undefined) params.seed = o.seed + name.length + a.what.length
    fc.assert(fc.property(a.arb, prop), params)
  }
}

/** The total number of runs of some arms (for test names that state it). */
export const runsOf = (arms: readonly Arm[]): number => arms.reduce((n, a) => n + a.runs, 0)
