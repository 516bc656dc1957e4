// What the parser unit tests share: reading the real captures in test/fixtures/outputs/, the text-vs-JSON
// agreement of iproute2 captures, and the table of inputs a parser must reject with ParseError.
import assert from 'node:assert/strict'
import {readFileSync, readdirSync} from 'node:fs'
import {test} from 'node:test'

import {ParseError} from '../../../src/parse/errors.js'

const OUT = new URL('../../fixtures/outputs/', import.meta.url)

/** A capture by its path under test/fixtures/outputs/ (`ip-route/iproute2-6.1.txt`). */
export const fx = (path: string): string => readFileSync(new URL(path, OUT), 'utf8')

/** Every capture of one probe directory (its `.note` files left out), with its file name. */
export function captures(dir: string): {file: string; text: string}[] {
  return readdirSync(new URL(`${dir}/`, OUT))
    .filter((f) => !f.endsWith('.note'))
    .map((file) => ({file, text: fx(`${dir}/${file}`)}))
}

/**
 * One test per `[text, json]` pair of captures of the same state: the text has at least `min` entries, and
 * the JSON capture parses to exactly the same entries, `raw` evidence lines included.
 */
export function textAndJsonAgree<T>(
  parse: (raw: string) => T[],
  pairs: readonly (readonly [string, string])[],
  min: number,
): void {
  for (const [text, json] of pairs) {
    test(`text and JSON captures agree, raw lines included: ${text} ~ ${json}`, () => {
      const a = parse(fx(text))
      assert.ok(a.length >= min)
      assert.deepEqual(parse(fx(json)), a)
    })
  }
}

/** Each input is rejected with a ParseError naming that line (or none), a matching message and hint. */
export function assertParseErrors(
  parse: (raw: string) => unknown,
  cases: readonly (readonly [input: string, line: number | undefined, message: RegExp])[],
  hint: RegExp,
): void {
  for (const [input, line, msg] of cases) {
    assert.throws(
      () => parse(input),
      (e: unknown) => {
        assert.ok(e instanceof ParseError, String(e))
        assert.equal(e.line, line)
        assert.match(e.message, msg)
        assert.match(e.hint ?? '', hint)
        return true
      },
    )
  }
}
