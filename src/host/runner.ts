/**
 * The one place that runs host commands. Always an argument array (never a shell string), always
 * time-bounded, never throws for an ordinary failure: a missing binary, a permission problem or a
 * timeout comes back as data for the facts layer to turn into `unknown` with a hint.
 */
import {execa} from 'execa'

export type RunOutcome = 'ok' | 'failed' | 'not-installed' | 'permission' | 'timeout'

export interface RunResult {
  argv: string[]
  outcome: RunOutcome
  exitCode?: number
  stdout: string
  stderr: string
  durationMs: number
}

export interface RunOptions {
  timeoutMs?: number
  input?: string
  env?: Record<string, string>
}

export interface Runner {
  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult>
}

const PERMISSION =
  /permission denied|operation not permitted|you must be root|must be run as root|are you root|Could not open socket to kernel|cannot open netlink socket|RTNETLINK answers: Operation not permitted/i

export function classify(exitCode: number | undefined, stderr: string): RunOutcome {
  if (exitCode === 0) return 'ok'
  if (PERMISSION.test(stderr)) return 'permission'
  return 'failed'
}

/** The real runner over execa. */
export function execaRunner(defaultTimeoutMs = 5000): Runner {
  return {
    async run(argv, opts = {}) {
      const [file, ...args] = argv
      const start = Date.now()
      if (file === undefined) throw new Error('empty argv')
      const r = await execa(file, args, {
        reject: false,
        timeout: opts.timeoutMs ?? defaultTimeoutMs,
        input: opts.input ?? '',
        stripFinalNewline: false,
        env: {LC_ALL: 'C', ...opts.env},
        extendEnv: true,
        maxBuffer: 64 * 1024 * 1024,
      })
      const base = {
        argv: [...argv],
        stdout: typeof r.stdout === 'string' ? r.stdout : '',
        stderr: typeof r.stderr === 'string' ? r.stderr : '',
        durationMs: Date.now() - start,
      }
      if (r.timedOut) return {...base, outcome: 'timeout'}
      const code = (r as {code?: string}).code
      if (code === 'ENOENT' || r.exitCode === 127) return {...base, outcome: 'not-installed'}
      if (code === 'EACCES') return {...base, outcome: 'permission'}
      const out: RunResult = {...base, outcome: classify(r.exitCode, base.stderr)}
      if (r.exitCode !== undefined) out.exitCode = r.exitCode
      return out
    },
  }
}
