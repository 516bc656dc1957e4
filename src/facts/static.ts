import type {Avail, FactKey, FactTypes, Facts} from './types.js'

export type StaticFactInput = {[K in FactKey]?: FactTypes[K] | Avail<FactTypes[K]>}

function isAvail(v: unknown): v is Avail<unknown> {
  return (
    typeof v === 'object' &&
    v !== null &&
    'ok' in v &&
    typeof (v as {ok: unknown}).ok === 'boolean' &&
    ('value' in v || 'state' in v)
  )
}

/**
 * Facts from values already in memory: what check tests build with, and what the engine uses once
 * evidence has been fetched and parsed. A key that is not given is `not-collected`.
 */
export function staticFacts(input: StaticFactInput, source = 'test'): Facts {
  return {
    get<K extends FactKey>(key: K): Avail<FactTypes[K]> {
      const v = input[key]
      if (v === undefined) return {ok: false, state: 'not-collected', reason: `${key} was not collected`}
      if (isAvail(v)) return v as Avail<FactTypes[K]>
      return {ok: true, value: v as FactTypes[K], source}
    },
  }
}
