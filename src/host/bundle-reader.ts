/**
 * Reads a support bundle (a folder, or a .tar.gz of one) into memory as path → text. Paths are
 * relative to the bundle root; a single top-level folder inside an archive is stripped. Entries that
 * try to leave the bundle (absolute, `..`) are refused, and sizes are capped.
 */
import {readFile, readdir, stat} from 'node:fs/promises'
import {join, relative, sep} from 'node:path'
import {t as tarList} from 'tar'

export const MAX_FILE_BYTES = 32 * 1024 * 1024
export const MAX_BUNDLE_BYTES = 256 * 1024 * 1024

export class BundleError extends Error {
  override readonly name = 'BundleError'
}

async function walk(
  root: string,
  dir: string,
  out: Map<string, string>,
  budget: {left: number},
): Promise<void> {
  for (const e of (await readdir(dir, {withFileTypes: true})).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, e.name)
    if (e.isDirectory()) await walk(root, p, out, budget)
    else if (e.isFile()) {
      const st = await stat(p)
      if (st.size > MAX_FILE_BYTES)
        throw new BundleError(
          `${p} is ${st.size} bytes; the limit for one evidence file is ${MAX_FILE_BYTES}`,
        )
      budget.left -= st.size
      if (budget.left < 0) throw new BundleError(`the bundle is larger than ${MAX_BUNDLE_BYTES} bytes`)
      out.set(relative(root, p).split(sep).join('/'), await readFile(p, 'utf8'))
    }
  }
}

function stripTop(entries: Map<string, string>): Map<string, string> {
  const tops = new Set([...entries.keys()].map((k) => k.split('/')[0]))
  const only = [...tops][0]
  if (tops.size !== 1 || only === undefined) return entries
  const inner = [...entries.keys()].every((k) => k.includes('/'))
  if (!inner) return entries
  const known = ['manifest.json', 'commands', 'files', 'kubernetes', 'logs']
  if (known.includes(only)) return entries
  return new Map([...entries].map(([k, v]) => [k.slice(only.length + 1), v]))
}

async function readTar(file: string): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  let total = 0
  let problem: string | undefined
  await tarList({
    file,
    onReadEntry(entry) {
      const path = entry.path.replace(/^\.\//, '')
      if (entry.type !== 'File' && entry.type !== 'OldFile') {
        entry.resume()
        return
      }
      if (path.startsWith('/') || path.split('/').includes('..')) {
        problem = `archive entry ${entry.path} points outside the bundle`
        entry.resume()
        return
      }
      const chunks: Buffer[] = []
      let size = 0
      entry.on('data', (c: Buffer) => {
        size += c.length
        total += c.length
        if (size <= MAX_FILE_BYTES && total <= MAX_BUNDLE_BYTES) chunks.push(c)
      })
      entry.on('end', () => {
        if (size > MAX_FILE_BYTES) problem = `${path} is larger than ${MAX_FILE_BYTES} bytes`
        else if (total > MAX_BUNDLE_BYTES) problem = `the bundle is larger than ${MAX_BUNDLE_BYTES} bytes`
        else out.set(path, Buffer.concat(chunks).toString('utf8'))
      })
    },
  })
  if (problem) throw new BundleError(problem)
  return stripTop(out)
}

/** Read a bundle folder or archive. Throws BundleError with a sentence for a person. */
export async function readBundle(path: string): Promise<Map<string, string>> {
  let st
  try {
    st = await stat(path)
  } catch {
    throw new BundleError(
      `${path} does not exist (give a bundle folder or a .tar.gz written by flannelctl collect)`,
    )
  }
  if (st.isDirectory()) {
    const out = new Map<string, string>()
    await walk(path, path, out, {left: MAX_BUNDLE_BYTES})
    return out
  }
  try {
    return await readTar(path)
  } catch (e) {
    if (e instanceof BundleError) throw e
    throw new BundleError(
      `${path} is neither a folder nor a readable .tar.gz bundle: ${(e as Error).message}`,
    )
  }
}

/** True for a bundle written by `collect --all-nodes|--nodes|--sample` (a folder per node). */
export function isFleetBundle(files: ReadonlyMap<string, string>): boolean {
  for (const k of files.keys()) if (k.startsWith('nodes/')) return true
  return false
}
