import type {Avail, FactKey, FactTypes, Facts} from '../../facts/types.js'
import type {Evidence, Finding, Severity} from '../types.js'

export interface FindingExtra {
  subject?: string
  evidence?: Evidence[]
  fix?: string[]
  hint?: string
  location?: {file: string; line: number; column?: number}
}

function extra(x: FindingExtra | undefined): Omit<Finding, 'status' | 'message'> {
  const out: Omit<Finding, 'status' | 'message'> = {evidence: x?.evidence ?? []}
  if (x?.subject !== undefined) out.subject = x.subject
  if (x?.fix !== undefined && x.fix.length > 0) out.fix = x.fix
  if (x?.hint !== undefined) out.hint = x.hint
  if (x?.location !== undefined) out.location = x.location
  return out
}

export const ok = (message: string, x?: FindingExtra): Finding => ({status: 'ok', message, ...extra(x)})
export const fail = (severity: Severity, message: string, x?: FindingExtra): Finding => ({
  status: severity,
  message,
  ...extra(x),
})
export const skip = (message: string, x?: FindingExtra): Finding => ({status: 'skip', message, ...extra(x)})
export const unknown = (message: string, x?: FindingExtra): Finding => ({
  status: 'unknown',
  message,
  ...extra(x),
})

/** The `unknown` finding for a fact that is not available, worded for a person. */
export function unavailable(what: string, a: Extract<Avail<unknown>, {ok: false}>): Finding {
  const x: FindingExtra = {}
  if (a.hint !== undefined) x.hint = a.hint
  if (a.source !== undefined) x.evidence = [{source: a.source, lines: []}]
  return unknown(`Could not look at ${what}: ${a.reason}`, x)
}

/** Evidence from one source. */
export const ev = (source: string, lines: readonly string[]): Evidence => ({source, lines: [...lines]})

type Values<K extends readonly FactKey[]> = {[I in keyof K]: K[I] extends FactKey ? FactTypes[K[I]] : never}

/**
 * Fetch several facts; if any is unavailable, return the `unknown` finding for the first one instead.
 * `what` names each fact for the message.
 */
export function needAll<const K extends readonly FactKey[]>(
  facts: Facts,
  keys: K,
  what: {[I in keyof K]: string},
): {ok: true; values: Values<K>; sources: string[]} | {ok: false; finding: Finding} {
  const values: unknown[] = []
  const sources: string[] = []
  for (let i = 0; i < keys.length; i++) {
    const a = facts.get(keys[i] as FactKey)
    if (!a.ok) return {ok: false, finding: unavailable(String(what[i]), a)}
    values.push(a.value)
    sources.push(a.source)
  }
  return {ok: true, values: values as Values<K>, sources}
}
