/**
 * Reading Kubernetes objects as kubectl prints them (`-o json` or `-o yaml`, one or several documents), for
 * the Node parser (kube.ts) and the DaemonSet/RBAC parsers (kube-objects.ts): JSON first, then YAML, which
 * reads JSON too and says on which line it stopped. Pure: YAML warnings are not logged.
 */
import {parseAllDocuments} from 'yaml'

import {ParseError} from './errors.js'

export type Obj = Record<string, unknown>

export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

/** A scalar as text (YAML may read `"0"` as a number, `true` as a boolean). */
export const asStr = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined

/**
 * Every document of a JSON or YAML text, as plain values. `firstLine` is the line of `text` in the capture
 * it was cut from (error lines are reported in the capture). Empty input is the caller's to reject.
 */
export function readJsonOrYaml(text: string, hint: string, firstLine = 1): unknown[] {
  const first = text.trimStart()[0]
  if (first === '{' || first === '[') {
    try {
      return [JSON.parse(text) as unknown]
    } catch {
      // YAML reads JSON too, and says on which line it stopped.
    }
  }
  let docs: ReturnType<typeof parseAllDocuments>
  try {
    docs = parseAllDocuments(text, {uniqueKeys: false, prettyErrors: false, logLevel: 'error'})
  } catch (e) {
    throw new ParseError(`not readable as JSON or YAML: ${(e as Error).message}`, undefined, hint)
  }
  if (!Array.isArray(docs)) return []
  const out: unknown[] = []
  for (const d of docs) {
    const err = d.errors[0]
    if (err) {
      const line = text.slice(0, err.pos[0]).split('\n').length + firstLine - 1
      throw new ParseError(`not valid JSON or YAML: ${err.message.split('\n')[0] ?? ''}`, line, hint)
    }
    try {
      out.push(d.toJS({maxAliasCount: 100}))
    } catch (e) {
      throw new ParseError(`YAML could not be read: ${(e as Error).message}`, undefined, hint)
    }
  }
  return out
}
