/**
 * setup's own state on disk: a lock that refuses a concurrent run in the same scope, and the journal of
 * what setup created. Both live under the state folder (default /run/flannelctl), one folder per scope.
 */
import {mkdir, open, readFile, rm} from 'node:fs/promises'
import {join} from 'node:path'

import {emptyJournal, parseJournal, type Journal} from '../setup/journal.js'
import {nodeFs} from './fs.js'

export function scopeDir(stateDir: string, netns: string | undefined): string {
  return join(stateDir, netns ? `netns-${netns}` : 'host')
}

export class LockError extends Error {
  override readonly name = 'LockError'
}

/** Whether a process with this pid exists (EPERM: it does, owned by someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as {code?: string}).code === 'EPERM'
  }
}

/** Take the scope's lock or throw LockError naming the holder. A lock left by a dead process is taken over. */
export async function acquireLock(dir: string): Promise<{release(): Promise<void>; tookOver?: number}> {
  await mkdir(dir, {recursive: true})
  const path = join(dir, 'lock')
  let tookOver: number | undefined
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o644)
      await fh.writeFile(`${process.pid}\n`)
      await fh.close()
      const out: {release(): Promise<void>; tookOver?: number} = {
        async release() {
          await rm(path, {force: true})
        },
      }
      if (tookOver !== undefined) out.tookOver = tookOver
      return out
    } catch (e) {
      if ((e as {code?: string}).code !== 'EEXIST') throw e
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim())
      if (Number.isInteger(pid) && pid > 0 && processAlive(pid) && pid !== process.pid)
        throw new LockError(
          `another flannelctl setup/teardown is running in this scope (pid ${pid}, lock ${path})`,
        )
      tookOver = pid || undefined
      await rm(path, {force: true})
    }
  }
  throw new LockError(`could not take the lock ${path}`)
}

export async function loadJournal(dir: string, scope: string): Promise<Journal> {
  const path = join(dir, 'journal.json')
  const r = await nodeFs.readText(path)
  if (!r.ok) {
    if (r.state === 'absent') return emptyJournal(scope)
    throw new Error(`${path}: ${r.reason}`)
  }
  return parseJournal(r.text, path)
}

export async function saveJournal(dir: string, j: Journal): Promise<void> {
  const path = join(dir, 'journal.json')
  if (j.entries.length === 0) {
    await rm(path, {force: true})
    return
  }
  await nodeFs.writeAtomic(path, JSON.stringify(j, null, 2) + '\n', 0o644)
}
