/** The one place that reads host files for evidence (and writes bundles/state files atomically). */
import {readFile, readdir, stat, mkdir, rename, rm, open} from 'node:fs/promises'
import {dirname, join} from 'node:path'

export type ReadOutcome =
  {ok: true; text: string} | {ok: false; state: 'absent' | 'permission' | 'error'; reason: string}

export interface HostFs {
  readText(path: string): Promise<ReadOutcome>
  /** Entries of a directory (file names only), or why not. */
  list(
    path: string,
  ): Promise<
    {ok: true; names: string[]} | {ok: false; state: 'absent' | 'permission' | 'error'; reason: string}
  >
  exists(path: string): Promise<boolean>
  /** Write via a temporary file and rename, so a reader never sees half a file. */
  writeAtomic(path: string, data: string | Uint8Array, mode?: number): Promise<void>
  mkdirp(path: string): Promise<void>
  remove(path: string): Promise<void>
}

function why(e: unknown): {state: 'absent' | 'permission' | 'error'; reason: string} {
  const code = (e as {code?: string}).code
  if (code === 'ENOENT' || code === 'ENOTDIR') return {state: 'absent', reason: 'no such file'}
  if (code === 'EACCES' || code === 'EPERM') return {state: 'permission', reason: 'permission denied'}
  return {state: 'error', reason: (e as Error).message}
}

export const nodeFs: HostFs = {
  async readText(path) {
    try {
      return {ok: true, text: await readFile(path, 'utf8')}
    } catch (e) {
      return {ok: false, ...why(e)}
    }
  },
  async list(path) {
    try {
      return {ok: true, names: (await readdir(path)).sort()}
    } catch (e) {
      return {ok: false, ...why(e)}
    }
  },
  async exists(path) {
    try {
      await stat(path)
      return true
    } catch {
      return false
    }
  },
  async writeAtomic(path, data, mode = 0o644) {
    await mkdir(dirname(path), {recursive: true})
    const tmp = join(
      dirname(path),
      `.${Date.now()}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`,
    )
    const fh = await open(tmp, 'w', mode)
    try {
      await fh.writeFile(data)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, path)
  },
  async mkdirp(path) {
    await mkdir(path, {recursive: true})
  },
  async remove(path) {
    await rm(path, {recursive: true, force: true})
  },
}
