/**
 * What setup created, so teardown removes exactly that and nothing else. Entries are written *before*
 * the change that creates them (write-ahead), so a setup killed half-way leaves a journal that covers
 * everything it may have created; teardown skips entries that do not exist.
 */

export type JournalEntry =
  | {kind: 'link'; name: string}
  | {kind: 'addr'; dev: string; cidr: string}
  | {kind: 'neigh'; dev: string; dst: string}
  | {kind: 'fdb'; dev: string; mac: string}
  | {kind: 'route'; dst: string}
  | {kind: 'ipt-chain'; table: string; chain: string}
  | {kind: 'ipt-rule'; table: string; rule: string}
  | {kind: 'nft-table'; family: string; name: string}
  | {kind: 'file'; path: string}

export interface Journal {
  version: 1
  /** Where the entries live: `netns NAME` or `host`. */
  scope: string
  entries: JournalEntry[]
}

export function entryKey(e: JournalEntry): string {
  switch (e.kind) {
    case 'link':
      return `link ${e.name}`
    case 'addr':
      return `addr ${e.dev} ${e.cidr}`
    case 'neigh':
      return `neigh ${e.dev} ${e.dst}`
    case 'fdb':
      return `fdb ${e.dev} ${e.mac.toLowerCase()}`
    case 'route':
      return `route ${e.dst}`
    case 'ipt-chain':
      return `ipt-chain ${e.table} ${e.chain}`
    case 'ipt-rule':
      return `ipt-rule ${e.table} ${e.rule}`
    case 'nft-table':
      return `nft-table ${e.family} ${e.name}`
    case 'file':
      return `file ${e.path}`
  }
}

export const emptyJournal = (scope: string): Journal => ({version: 1, scope, entries: []})

export function withEntries(j: Journal, add: readonly JournalEntry[]): Journal {
  const seen = new Set(j.entries.map(entryKey))
  const entries = [...j.entries]
  for (const e of add) {
    const k = entryKey(e)
    if (!seen.has(k)) {
      seen.add(k)
      entries.push(e)
    }
  }
  return {...j, entries}
}

export function withoutEntries(j: Journal, drop: readonly JournalEntry[]): Journal {
  const gone = new Set(drop.map(entryKey))
  return {...j, entries: j.entries.filter((e) => !gone.has(entryKey(e)))}
}

/** Parse a journal file; a damaged journal is an error (teardown must not guess). */
export function parseJournal(text: string, path: string): Journal {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch (e) {
    throw new Error(
      `${path} is not a flannelctl journal (${(e as Error).message}); remove it only if you know nothing was set up`,
    )
  }
  const j = v as Partial<Journal>
  if (j.version !== 1 || !Array.isArray(j.entries) || typeof j.scope !== 'string')
    throw new Error(`${path} is not a flannelctl journal (version 1)`)
  return j as Journal
}
