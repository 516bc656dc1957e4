/**
 * Host helpers only the lab needs beyond Runner and HostFs: running a command with the terminal attached
 * (`lab exec node-1 -- bash` is interactive, so its output cannot be captured and replayed), and the
 * kernel release the lab's node objects report.
 */
import {release} from 'node:os'

import {execa} from 'execa'

/**
 * Run argv with stdin/stdout/stderr inherited and return its exit code (127 when it cannot start,
 * 124 after `timeoutMs`, 128+n when killed by signal n — as a shell reports them).
 */
export async function execInteractive(
  argv: readonly string[],
  opts: {timeoutMs?: number} = {},
): Promise<number> {
  const [file, ...args] = argv
  if (file === undefined) throw new Error('empty argv')
  const r = await execa(file, args, {
    reject: false,
    stdio: 'inherit',
    ...(opts.timeoutMs !== undefined ? {timeout: opts.timeoutMs} : {}),
  })
  if (r.timedOut) return 124
  const code = (r as {code?: string}).code
  if (code === 'ENOENT') return 127
  if (typeof r.exitCode === 'number') return r.exitCode
  const sig = r.signal ? {SIGINT: 2, SIGKILL: 9, SIGTERM: 15}[r.signal as string] : undefined
  return sig !== undefined ? 128 + sig : 1
}

/** `uname -r` of this machine: every lab node runs on it. */
export function kernelRelease(): string {
  return release()
}
