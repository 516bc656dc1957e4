/**
 * A `kubectl get nodes -o json|yaml` file as the cluster's node store, until setup talks to the API.
 * flanneld publishes its lease by PATCHing only its own annotations (flannel-facts §3.5); `publish` does the
 * same to the file: only the given keys of `metadata.annotations` change, every other byte stays (YAML is
 * edited in place; JSON keeps its indentation and key order). Several `setup` runs (one per lab node) may
 * share the file, so each read-modify-write holds `<file>.lock` (created with O_EXCL, holding the pid; a
 * lock whose process is gone is taken over) and replaces the file atomically (temporary file in the same
 * folder, fsync, rename, original mode kept).
 */
import {link, open, readFile, realpath, rename, stat, unlink} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'
import {isDeepStrictEqual} from 'node:util'
import {
  isMap,
  isScalar,
  isSeq,
  parseAllDocuments,
  stringify,
  type Document,
  type Pair,
  type YAMLMap,
} from 'yaml'

import type {KubeNode} from '../model.js'
import {ParseError} from '../parse/errors.js'
import {parseNodes} from '../parse/kube.js'
import type {NodeSource} from '../setup/node-source.js'
import {processAlive} from './state.js'

export type NodesFileErrorKind = 'read' | 'parse' | 'node-not-found' | 'lock-timeout' | 'edit' | 'write'

/** Every failure of the node file: the file, what went wrong, and the 1-based line when known. */
export class NodesFileError extends Error {
  override readonly name = 'NodesFileError'
  constructor(
    message: string,
    readonly file: string,
    readonly kind: NodesFileErrorKind,
    readonly line?: number,
    options?: {cause?: unknown},
  ) {
    super(message, options)
  }
}

export interface NodesFileOptions {
  /** How long publish waits for another holder of the lock (default 10 s). */
  lockTimeoutMs?: number
  /** Pause between attempts to take the lock (default 50 ms). */
  pollMs?: number
}

/** A lock file without a pid yet is being written; only after this long is it considered abandoned. */
const EMPTY_LOCK_GRACE_MS = 2000

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
const errCode = (e: unknown): string | undefined => (e as {code?: string}).code

const HINT = 'write it with kubectl get nodes -o yaml > FILE (or -o json)'

function readFailure(file: string, e: unknown): NodesFileError {
  const code = errCode(e)
  const why =
    code === 'ENOENT'
      ? 'no such file'
      : code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : (e as Error).message
  return new NodesFileError(`${file}: cannot read the node list: ${why}`, file, 'read', undefined, {cause: e})
}

function parseFailure(
  file: string,
  message: string,
  line: number | undefined,
  cause?: unknown,
): NodesFileError {
  return new NodesFileError(
    `${file}${line !== undefined ? `:${line}` : ''}: ${message} (${HINT})`,
    file,
    'parse',
    line,
    {cause},
  )
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8')
  } catch (e) {
    throw readFailure(file, e)
  }
}

// ---------------------------------------------------------------------------------------------------
// Editing the text (pure)

/** Object with `updates` applied: existing keys keep their place; new ones go in sorted position when the
 * keys are sorted (as kubectl prints them), else at the end. */
function withKeys(obj: Obj, updates: readonly (readonly [string, unknown])[]): Obj {
  const keys = Object.keys(obj)
  const sorted = keys.every((k, i) => i === 0 || (keys[i - 1] as string) <= k)
  const upd = new Map(updates)
  const fresh = updates.map(([k]) => k).filter((k) => !Object.hasOwn(obj, k))
  if (sorted) fresh.sort()
  const out: Obj = {}
  const put = (k: string, v: unknown): void => {
    Object.defineProperty(out, k, {value: v, enumerable: true, writable: true, configurable: true})
  }
  let f = 0
  for (const k of keys) {
    while (sorted && f < fresh.length && (fresh[f] as string) < k) {
      const nk = fresh[f++] as string
      put(nk, upd.get(nk))
    }
    put(k, upd.has(k) ? upd.get(k) : obj[k])
  }
  for (; f < fresh.length; f++) put(fresh[f] as string, upd.get(fresh[f] as string))
  return out
}

/** Node objects in a parsed document: a List/NodeList's items, a single Node, or an array of them. */
function jsNodes(v: unknown, out: Obj[]): void {
  if (Array.isArray(v)) {
    for (const x of v) jsNodes(x, out)
    return
  }
  if (!isObj(v)) return
  if (Array.isArray(v['items'])) {
    for (const x of v['items']) if (isObj(x)) out.push(x)
    return
  }
  if (isObj(v['metadata'])) out.push(v)
}

const jsName = (n: Obj): string | undefined => {
  const m = n['metadata']
  return isObj(m) && typeof m['name'] === 'string' ? m['name'] : undefined
}

function notFound(file: string, nodeName: string, names: readonly string[]): NodesFileError {
  const there = names.length > 0 ? `it lists ${names.join(', ')}` : 'it lists no nodes'
  return new NodesFileError(`node "${nodeName}" is not in ${file} (${there})`, file, 'node-not-found')
}

/** Whether every update is already in place. */
function inPlace(current: unknown, updates: readonly (readonly [string, string])[]): boolean {
  return isObj(current) && updates.every(([k, v]) => Object.hasOwn(current, k) && current[k] === v)
}

function lineAt(text: string, pos: number): number {
  return text.slice(0, pos).split('\n').length
}

function editJson(
  body: string,
  file: string,
  nodeName: string,
  updates: readonly (readonly [string, string])[],
): string | undefined {
  let root: unknown
  try {
    root = JSON.parse(body)
  } catch (e) {
    const msg = (e as Error).message
    const pos = /position (\d+)/.exec(msg)
    const line = pos ? lineAt(body, Number(pos[1])) : Number(/line (\d+)/.exec(msg)?.[1] ?? NaN)
    throw parseFailure(file, `not valid JSON: ${msg}`, Number.isNaN(line) ? undefined : line, e)
  }
  const nodes: Obj[] = []
  jsNodes(root, nodes)
  const node = nodes.find((n) => jsName(n) === nodeName)
  if (!node)
    throw notFound(
      file,
      nodeName,
      nodes.map(jsName).filter((x): x is string => x !== undefined),
    )
  const meta = node['metadata'] as Obj
  if (inPlace(meta['annotations'], updates)) return undefined
  const current = isObj(meta['annotations']) ? meta['annotations'] : {}
  node['metadata'] = withKeys(meta, [['annotations', withKeys(current, updates)]])

  const indent = /^[{[][ \t]*\r?\n([ \t]+)\S/.exec(body)?.[1] ?? '  '
  let out = JSON.stringify(root, null, indent)
  // kubectl (Go's encoding/json) escapes <, > and & inside strings and always U+2028/U+2029.
  if (/\\u00(3c|3e|26)/i.test(body))
    out = out.replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
  out = out.replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`)
  if (body.includes('\r\n')) out = out.replace(/\n/g, '\r\n')
  const tail = /\s*$/.exec(body)?.[0] ?? ''
  return out + tail
}

/** A YAML scalar as kubectl's YAML would print it on one line (plain or quoted). */
function yamlScalar(s: string): string {
  const out = stringify(s, {lineWidth: 0}).replace(/\n$/, '')
  return out.includes('\n') ? JSON.stringify(s) : out
}

interface Edit {
  start: number
  end: number
  text: string
}

const keyOf = (p: Pair): unknown => (isScalar(p.key) ? p.key.value : p.key)

function yamlNodes(doc: Document): YAMLMap[] {
  const out: YAMLMap[] = []
  const c = doc.contents
  const fromSeq = (s: unknown): void => {
    if (isSeq(s)) for (const x of s.items) if (isMap(x)) out.push(x)
  }
  if (isSeq(c)) fromSeq(c)
  else if (isMap(c)) {
    const items = c.get('items', true)
    if (isSeq(items)) fromSeq(items)
    else if (isMap(c.get('metadata', true))) out.push(c)
  }
  return out
}

/** The metadata map of a node that `yamlNodes` returned (it has one). */
function metaOf(node: YAMLMap): YAMLMap {
  const m: unknown = node.get('metadata', true)
  if (!isMap(m)) throw new Error('a node without metadata')
  return m
}

const yamlName = (n: YAMLMap): string | undefined => {
  const m = n.get('metadata', true)
  if (!isMap(m)) return undefined
  const name = m.get('name')
  return typeof name === 'string' ? name : undefined
}

const lineStartOf = (text: string, pos: number): number => text.lastIndexOf('\n', pos - 1) + 1
const columnOf = (text: string, pos: number): number => pos - lineStartOf(text, pos)
/** The position just after the line that contains `pos - 1` (so a block scalar's own newline counts). */
function afterLine(text: string, pos: number): {pos: number; needsEol: boolean} {
  if (pos > 0 && text[pos - 1] === '\n') return {pos, needsEol: false}
  const nl = text.indexOf('\n', pos)
  return nl === -1 ? {pos: text.length, needsEol: true} : {pos: nl + 1, needsEol: false}
}

/** Edits that set `updates` in one node's metadata, touching only those lines. */
function yamlEdits(
  body: string,
  file: string,
  nodeName: string,
  node: YAMLMap,
  updates: readonly (readonly [string, string])[],
  eol: string,
): Edit[] {
  const meta = metaOf(node)
  const annPair = meta.items.find((p) => keyOf(p) === 'annotations')
  const ann = annPair?.value
  const edits: Edit[] = []
  const cannot = (why: string): NodesFileError =>
    new NodesFileError(`${file}: cannot update node "${nodeName}": ${why}`, file, 'edit')

  if (isMap(ann) && !ann.flow && ann.items.length > 0) {
    const first = ann.items[0]?.key
    const firstStart = isScalar(first) ? first.range?.[0] : undefined
    if (firstStart === undefined) throw cannot('its annotations have an unexpected layout')
    const col = columnOf(body, firstStart)
    const keys = ann.items.map(keyOf)
    const sorted = keys.every((k, i) => i === 0 || String(keys[i - 1]) <= String(k))
    const inserts = new Map<number, string[]>()
    for (const [k, v] of updates) {
      const pair = ann.items.find((p) => keyOf(p) === k)
      if (pair) {
        const val = pair.value
        if (isScalar(val) && typeof val.value === 'string' && val.value === v) continue
        if (isScalar(val) && val.range && val.range[1] > val.range[0]) {
          // A block scalar (`|`, `>`) owns the line break after its last line; keep one.
          const brk = body.slice(val.range[0], val.range[1]).endsWith('\n') ? eol : ''
          edits.push({start: val.range[0], end: val.range[1], text: yamlScalar(v) + brk})
          continue
        }
        const keyRange = isScalar(pair.key) ? pair.key.range : undefined
        if (val !== null && !(isScalar(val) && val.value === null) && !isScalar(val))
          throw cannot(`annotation ${k} is not a string`)
        if (!keyRange) throw cannot(`annotation ${k} has an unexpected layout`)
        const end = body.indexOf('\n', keyRange[1])
        edits.push({
          start: keyRange[0],
          end: end === -1 ? body.length : end > 0 && body[end - 1] === '\r' ? end - 1 : end,
          text: `${yamlScalar(k)}: ${yamlScalar(v)}`,
        })
        continue
      }
      // A new key: before the first greater key when the map is sorted, else after the last pair.
      let at: number | undefined
      let lead = ''
      const next = sorted ? ann.items.find((p) => String(keyOf(p)) > k) : undefined
      const nextStart = next && isScalar(next.key) ? next.key.range?.[0] : undefined
      if (nextStart !== undefined && body.slice(lineStartOf(body, nextStart), nextStart).trim() === '')
        at = lineStartOf(body, nextStart)
      else {
        const last = ann.items[ann.items.length - 1] as Pair
        const lastEnd =
          (isScalar(last.value) || isMap(last.value) || isSeq(last.value)
            ? last.value.range?.[1]
            : undefined) ?? (isScalar(last.key) ? last.key.range?.[1] : undefined)
        if (lastEnd === undefined) throw cannot('its annotations have an unexpected layout')
        const a = afterLine(body, lastEnd)
        at = a.pos
        if (a.needsEol) lead = eol
      }
      const list = inserts.get(at) ?? []
      list.push(`${lead}${' '.repeat(col)}${yamlScalar(k)}: ${yamlScalar(v)}${eol}`)
      inserts.set(at, list)
    }
    for (const [at, lines] of inserts) edits.push({start: at, end: at, text: lines.join('')})
    return edits
  }

  // No (or an empty, null or flow) annotations map.
  const current: Obj = isMap(ann) ? (ann.toJSON() as Obj) : {}
  const merged = Object.entries(withKeys(current, updates)) as [string, string][]
  const flow = `{${merged.map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(', ')}}`
  if (meta.flow) {
    if (annPair) {
      const r = isMap(ann) || isScalar(ann) ? ann.range : undefined
      if (!r || r[1] <= r[0]) throw cannot('its annotations have an unexpected layout')
      return [{start: r[0], end: r[1], text: flow}]
    }
    const r = meta.range
    if (!r) throw cannot('its metadata has an unexpected layout')
    const comma = meta.items.length > 0 ? ', ' : ''
    return [{start: r[0] + 1, end: r[0] + 1, text: ` "annotations": ${flow}${comma}`}]
  }
  const metaKeys = meta.items.map((p) => ({p, start: isScalar(p.key) ? p.key.range?.[0] : undefined}))
  const firstMeta = metaKeys[0]?.start
  if (firstMeta === undefined) throw cannot('its metadata has an unexpected layout')
  const col = columnOf(body, firstMeta)
  const parentPair = node.items.find((p) => keyOf(p) === 'metadata')
  const parentStart = parentPair && isScalar(parentPair.key) ? parentPair.key.range?.[0] : undefined
  const step =
    parentStart !== undefined && col > columnOf(body, parentStart) ? col - columnOf(body, parentStart) : 2
  const block = merged
    .map(([k, v]) => `${' '.repeat(col + step)}${yamlScalar(k)}: ${yamlScalar(v)}`)
    .join(eol)
  if (annPair) {
    // `annotations:`, `annotations: null` or `annotations: {}` → a block map under the key.
    const keyRange = isScalar(annPair.key) ? annPair.key.range : undefined
    if (!keyRange) throw cannot('its annotations have an unexpected layout')
    const r = isMap(ann) || isScalar(ann) ? ann.range : undefined
    let end = r && r[1] > r[0] ? r[1] : keyRange[1]
    if (end === keyRange[1]) {
      const nl = body.indexOf('\n', end)
      const lineEnd = nl === -1 ? body.length : nl > 0 && body[nl - 1] === '\r' ? nl - 1 : nl
      if (!/^\s*:\s*(#.*)?$/.test(body.slice(end, lineEnd)))
        throw cannot('its annotations have an unexpected layout')
      end = lineEnd
    }
    return [{start: keyRange[1], end, text: `:${eol}${block}`}]
  }
  const metaSorted = metaKeys.every(
    (m, i) => i === 0 || String(keyOf(metaKeys[i - 1]?.p as Pair)) <= String(keyOf(m.p)),
  )
  const next = metaSorted ? metaKeys.find((m) => String(keyOf(m.p)) > 'annotations') : metaKeys[0]
  const text = `${' '.repeat(col)}annotations:${eol}${block}${eol}`
  if (next?.start !== undefined && body.slice(lineStartOf(body, next.start), next.start).trim() === '')
    return [{start: lineStartOf(body, next.start), end: lineStartOf(body, next.start), text}]
  const last = meta.items[meta.items.length - 1] as Pair
  const lastEnd =
    (isScalar(last.value) || isMap(last.value) || isSeq(last.value) ? last.value.range?.[1] : undefined) ??
    (isScalar(last.key) ? last.key.range?.[1] : undefined)
  if (lastEnd === undefined) throw cannot('its metadata has an unexpected layout')
  const a = afterLine(body, lastEnd)
  return [{start: a.pos, end: a.pos, text: (a.needsEol ? eol : '') + text}]
}

function editYaml(
  body: string,
  file: string,
  nodeName: string,
  updates: readonly (readonly [string, string])[],
): string | undefined {
  const docs = parseAllDocuments(body, {uniqueKeys: false, prettyErrors: true})
  const list: Document[] = Array.isArray(docs) ? docs : []
  for (const d of list) {
    const err = d.errors[0]
    if (err) {
      const line = err.linePos?.[0].line
      throw parseFailure(file, `not valid YAML: ${err.message.split('\n')[0]}`, line, err)
    }
  }
  let found: {doc: Document; node: YAMLMap} | undefined
  const names: string[] = []
  for (const doc of list)
    for (const node of yamlNodes(doc)) {
      const n = yamlName(node)
      if (n !== undefined) names.push(n)
      if (!found && n === nodeName) found = {doc, node}
    }
  if (!found) throw notFound(file, nodeName, names)
  const meta = metaOf(found.node)
  const annNode = meta.get('annotations', true)
  const current: unknown = isMap(annNode) ? annNode.toJSON() : undefined
  if (inPlace(current, updates)) return undefined

  const eol = body.includes('\r\n') ? '\r\n' : '\n'
  const edits = yamlEdits(body, file, nodeName, found.node, updates, eol).sort((a, b) => b.start - a.start)
  let out = body
  for (const e of edits) out = out.slice(0, e.start) + e.text + out.slice(e.end)

  // The edit must change exactly these annotations and nothing else; otherwise refuse to write.
  const want = list.map((d) => d.toJS({maxAliasCount: 100}) as unknown)
  const wantNodes: Obj[] = []
  for (const w of want) jsNodes(w, wantNodes)
  const target = wantNodes.find((n) => jsName(n) === nodeName)
  if (target) {
    const m = target['metadata'] as Obj
    m['annotations'] = withKeys(isObj(m['annotations']) ? m['annotations'] : {}, updates)
  }
  const again = parseAllDocuments(out, {uniqueKeys: false})
  const got = Array.isArray(again)
    ? again.map((d) => (d.errors.length > 0 ? d.errors : d.toJS({maxAliasCount: 100})))
    : []
  if (!isDeepStrictEqual(got, want))
    throw new NodesFileError(
      `${file}: cannot update node "${nodeName}" in place without changing other content; convert it with kubectl get nodes -o yaml`,
      file,
      'edit',
    )
  return out
}

/**
 * The text of a node file with `annotations` set on `nodeName` (only those keys; JSON keeps its indentation,
 * YAML is edited line by line), or `undefined` when every value is already in place. Pure.
 */
export function setNodeAnnotationsInText(
  text: string,
  file: string,
  nodeName: string,
  annotations: Record<string, string>,
): string | undefined {
  const bom = text.startsWith('\ufeff') ? '\ufeff' : ''
  const body = text.slice(bom.length)
  const updates = Object.entries(annotations)
  for (const [k, v] of updates)
    if (typeof v !== 'string')
      throw new NodesFileError(`annotation ${k} must be a string, got ${typeof v}`, file, 'edit')
  const first = body.trimStart()[0]
  if (first === undefined) throw parseFailure(file, 'the node list is empty', undefined)
  const out =
    first === '{' || first === '['
      ? editJson(body, file, nodeName, updates)
      : editYaml(body, file, nodeName, updates)
  return out === undefined ? undefined : bom + out
}

// ---------------------------------------------------------------------------------------------------
// Lock and atomic write

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
const rand = (): string => Math.random().toString(36).slice(2, 10)

interface LockHolder {
  pid?: number
  ino: number
  mtimeMs: number
}

async function readLock(lockPath: string): Promise<LockHolder | undefined> {
  let fh
  try {
    fh = await open(lockPath, 'r')
  } catch (e) {
    if (errCode(e) === 'ENOENT') return undefined
    throw e
  }
  try {
    const st = await fh.stat()
    const text = (await fh.readFile('utf8')).trim()
    const holder: LockHolder = {ino: st.ino, mtimeMs: st.mtimeMs}
    if (/^\d{1,10}$/.test(text) && Number(text) > 0) holder.pid = Number(text)
    return holder
  } finally {
    await fh.close()
  }
}

/** Move a stale lock aside; if it turns out to be a fresh one (another waiter was quicker), put it back. */
async function takeOver(lockPath: string, seen: LockHolder): Promise<void> {
  const aside = `${lockPath}.stale.${process.pid}.${rand()}`
  try {
    await rename(lockPath, aside)
  } catch (e) {
    if (errCode(e) === 'ENOENT') return
    throw e
  }
  try {
    if ((await stat(aside)).ino !== seen.ino) await link(aside, lockPath).catch(() => undefined)
  } finally {
    await unlink(aside).catch(() => undefined)
  }
}

async function acquireLock(
  file: string,
  lockPath: string,
  timeoutMs: number,
  pollMs: number,
): Promise<() => Promise<void>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    let fh
    try {
      fh = await open(lockPath, 'wx', 0o644)
    } catch (e) {
      if (errCode(e) !== 'EEXIST')
        throw new NodesFileError(
          `${file}: cannot create the lock file ${lockPath}: ${(e as Error).message}`,
          file,
          'write',
          undefined,
          {cause: e},
        )
    }
    if (fh) {
      let ino: number
      try {
        await fh.writeFile(`${process.pid}\n`)
        ino = (await fh.stat()).ino
      } finally {
        await fh.close()
      }
      return async () => {
        const now = await readLock(lockPath).catch(() => undefined)
        if (now?.ino === ino) await unlink(lockPath).catch(() => undefined)
      }
    }
    const holder = await readLock(lockPath)
    if (!holder) continue
    const stale =
      holder.pid !== undefined ? !processAlive(holder.pid) : Date.now() - holder.mtimeMs > EMPTY_LOCK_GRACE_MS
    if (stale) {
      await takeOver(lockPath, holder)
      continue
    }
    const left = deadline - Date.now()
    if (left <= 0)
      throw new NodesFileError(
        `${file}: gave up after ${timeoutMs / 1000} s waiting for ${lockPath}, held by ${holder.pid !== undefined ? `process ${holder.pid}` : 'another process'}; if no flannelctl setup is running, remove that file`,
        file,
        'lock-timeout',
      )
    await sleep(Math.min(pollMs, left))
  }
}

async function writeAtomic(file: string, data: string): Promise<void> {
  const real = await realpath(file)
  const st = await stat(real)
  const mode = st.mode & 0o7777
  const dir = dirname(real)
  const tmp = join(dir, `.${basename(real)}.${process.pid}.${rand()}.tmp`)
  const fh = await open(tmp, 'wx', mode)
  try {
    await fh.writeFile(data, 'utf8')
    await fh.chmod(mode) // the umask applied at open
    if (typeof process.getuid === 'function' && process.getuid() === 0 && (st.uid !== 0 || st.gid !== 0))
      await fh.chown(st.uid, st.gid)
    await fh.sync()
  } catch (e) {
    await fh.close()
    await unlink(tmp).catch(() => undefined)
    throw e
  }
  await fh.close()
  try {
    await rename(tmp, real)
  } catch (e) {
    await unlink(tmp).catch(() => undefined)
    throw e
  }
  // Make the rename itself durable; not every file system lets a directory be fsynced.
  try {
    const d = await open(dir, 'r')
    try {
      await d.sync()
    } finally {
      await d.close()
    }
  } catch {
    // best effort
  }
}

// ---------------------------------------------------------------------------------------------------

/** The node list in `path` (a `kubectl get nodes -o json|yaml` file, a List or a single Node). */
export function fileNodeSource(path: string, options: NodesFileOptions = {}): NodeSource {
  const lockPath = `${path}.lock`
  const timeoutMs = options.lockTimeoutMs ?? 10_000
  const pollMs = options.pollMs ?? 50
  return {
    describe: `node file ${path}`,
    async list(): Promise<KubeNode[]> {
      const text = await readText(path)
      try {
        return parseNodes(text)
      } catch (e) {
        if (e instanceof ParseError) {
          const msg = e.message.replace(/^line \d+: /, '')
          throw parseFailure(path, msg, e.line, e)
        }
        throw e
      }
    },
    async publish(nodeName: string, annotations: Record<string, string>): Promise<{changed: boolean}> {
      const release = await acquireLock(path, lockPath, timeoutMs, pollMs)
      try {
        const text = await readText(path)
        const out = setNodeAnnotationsInText(text, path, nodeName, annotations)
        if (out === undefined) return {changed: false}
        try {
          await writeAtomic(path, out)
        } catch (e) {
          throw new NodesFileError(
            `${path}: cannot write: ${(e as Error).message}`,
            path,
            'write',
            undefined,
            {
              cause: e,
            },
          )
        }
        return {changed: true}
      } finally {
        await release()
      }
    },
  }
}
