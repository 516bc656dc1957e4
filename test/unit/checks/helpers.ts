/**
 * What the check tests share: the real captures under test/fixtures/outputs/ (as text, and iptables /
 * nftables rulesets through the real parsers), running a check over static facts, and picking
 * findings out of its result. No I/O beyond reading the fixtures.
 */
import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'

import type {CheckDef, Finding} from '../../../src/checks/types.js'
import {staticFacts, type StaticFactInput} from '../../../src/facts/static.js'
import type {IptablesRuleset, NftRuleset} from '../../../src/model.js'
import {parseIptables} from '../../../src/parse/iptables.js'
import {parseNft} from '../../../src/parse/nft.js'

const OUT = new URL('../../fixtures/outputs/', import.meta.url)

/** The text of a real capture, by its path under test/fixtures/outputs/. */
export const fx = (path: string): string => readFileSync(new URL(path, OUT), 'utf8')
/** A capture of test/fixtures/outputs/iptables/, parsed. */
export const ipt = (f: string): IptablesRuleset => parseIptables(fx(`iptables/${f}`))
/** A capture of test/fixtures/outputs/nft/, parsed. */
export const nft = (f: string): NftRuleset => parseNft(fx(`nft/${f}`))

/** Run one check over static facts (each available fact read from `source`). */
export const runCheck = (c: Pick<CheckDef, 'evaluate'>, input: StaticFactInput, source?: string): Finding[] =>
  c.evaluate(staticFacts(input, source))

/** The only finding; fails (showing them all) when there is not exactly one. */
export function only(fs: Finding[]): Finding {
  assert.equal(fs.length, 1, JSON.stringify(fs, null, 1))
  return fs[0] as Finding
}

/** The findings of one status. */
export const withStatus = (fs: Finding[], status: Finding['status']): Finding[] =>
  fs.filter((f) => f.status === status)

/** The only finding of one status; fails (showing them all) when there is not exactly one. */
export function oneWithStatus(fs: Finding[], status: Finding['status']): Finding {
  const m = withStatus(fs, status)
  assert.equal(m.length, 1, `expected one ${status} finding, got ${JSON.stringify(fs, null, 1)}`)
  return m[0] as Finding
}

/** A finding's fix lines as one text. */
export const fixText = (f: Finding): string => (f.fix ?? []).join('\n')
/** Every evidence line of a finding. */
export const evLines = (f: Finding): string[] => f.evidence.flatMap((e) => e.lines)
