import {execFile} from 'node:child_process'
import {existsSync} from 'node:fs'

const BIN = new URL('../../bin/run.js', import.meta.url).pathname
const DIST = new URL('../../dist/commands/index.js', import.meta.url).pathname

export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

/** Run the built CLI (bin/run.js → dist/), as a user would. `wrap` prefixes the command (e.g. a netns exec). */
export function cli(
  args: string[],
  opts: {wrap?: string[]; env?: Record<string, string>; input?: string} = {},
): Promise<CliResult> {
  if (!existsSync(DIST)) throw new Error('dist/ is missing: run `npm run build` first (npm test does)')
  const argv = [...(opts.wrap ?? []), process.execPath, BIN, ...args]
  const [file, ...rest] = argv
  return new Promise((resolve) => {
    const child = execFile(
      file as string,
      rest,
      {timeout: 60_000, maxBuffer: 32 * 1024 * 1024, env: {...process.env, NO_COLOR: '1', ...opts.env}},
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as {code?: unknown}).code === 'number'
            ? (err as {code: number}).code
            : 1
          : 0
        resolve({code, stdout, stderr})
      },
    )
    child.stdin?.end(opts.input ?? '')
  })
}
