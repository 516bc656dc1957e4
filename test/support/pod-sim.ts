/**
 * An ExecHandler that plays kube-flannel pods for the test API server. A kube-flannel pod runs with
 * hostNetwork, so its network is the node's (here: a network namespace, or this host), and the files it
 * sees are its hostPath / ConfigMap mounts (here: host paths). A command runs on this host with its
 * arguments translated between the two views; nothing is ever run through a shell.
 */
import {execFile} from 'node:child_process'
import {accessSync, constants as fsConstants} from 'node:fs'
import {constants as osConstants} from 'node:os'
import {basename, delimiter, join} from 'node:path'

import type {ExecHandler, ExecOutcome, ExecRequest} from './apiserver.js'

export interface PodSim {
  /** The node's network namespace (`ip netns exec NETNS ...`); unset, this host's. */
  netns?: string
  /** Container path (file or directory) → host path. */
  mounts: Record<string, string>
  /** The binaries the image has (names or absolute paths); unset, all of this host's. */
  tools?: string[]
  /** Sleep this long before running anything (a slow node). */
  delayMs?: number
}

export interface PodSimOptions {
  /** Kill a command after this long (default 30 s); the client's own time limit is the real one. */
  timeoutMs?: number
}

/** Where absolute paths outside every mount go: a place that does not exist, as in a slim image. */
const ABSENT = '/nonexistent/flt-pod-sim'
/** Kernel views a hostNetwork pod shares with the node. */
const PASS_THROUGH = ['/proc', '/sys', '/dev']
const MAX_BUFFER = 64 * 1024 * 1024

const under = (p: string, dir: string): boolean =>
  dir === '/' ? p.startsWith('/') : p === dir || p.startsWith(dir + '/')
const trimSlash = (p: string): string => (p.length > 1 ? p.replace(/\/+$/, '') : p)
const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** A path as the pod's mounts map it onto this host, or undefined outside every mount. */
function toHost(arg: string, mounts: [string, string][]): string | undefined {
  for (const [inPod, onHost] of mounts)
    if (under(arg, inPod)) return onHost + arg.slice(inPod === '/' ? 0 : inPod.length)
  return undefined
}

/** The binary this host would run for `bin`, or undefined when it has none. */
function resolveBinary(bin: string): string | undefined {
  const executable = (p: string): boolean => {
    try {
      accessSync(p, fsConstants.X_OK)
      return true
    } catch {
      return false
    }
  }
  if (bin.includes('/')) return executable(bin) ? bin : undefined
  for (const dir of (process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter))
    if (dir !== '' && executable(join(dir, bin))) return join(dir, bin)
  return undefined
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms)
    signal?.addEventListener('abort', () => {
      clearTimeout(t)
      resolve()
    })
  })

/** An ExecHandler over `pods` (keyed `namespace/pod`). */
export function podSimHandler(pods: Record<string, PodSim>, opts: PodSimOptions = {}): ExecHandler {
  return async (r: ExecRequest): Promise<ExecOutcome> => {
    const sim = pods[`${r.namespace}/${r.pod}`]
    if (sim === undefined) throw new Error(`pod-sim has no pod ${r.namespace}/${r.pod}`)
    if (sim.delayMs !== undefined && sim.delayMs > 0) await sleep(sim.delayMs, r.signal)
    const [argv0, ...rest] = r.command
    if (argv0 === undefined || argv0 === '') return {notFound: ''}
    if (sim.tools !== undefined && !sim.tools.includes(argv0) && !sim.tools.includes(basename(argv0)))
      return {notFound: argv0}

    // Longest container path first: a file mounted inside a mounted directory wins.
    const mounts = Object.entries(sim.mounts)
      .map(([c, h]) => [trimSlash(c), trimSlash(h)] as [string, string])
      .sort(([a], [b]) => b.length - a.length)
    // Run by the name given (so the program's argv[0], and its messages, are the pod's).
    const bin = toHost(argv0, mounts) ?? argv0
    if (resolveBinary(bin) === undefined) return {notFound: argv0}
    const args = rest.map((a) => {
      const host = toHost(a, mounts)
      if (host !== undefined) return host
      if (a.startsWith('/') && !PASS_THROUGH.some((d) => under(a, d))) return ABSENT + a
      return a
    })

    // Host paths back to what the pod would have printed (longest host path first).
    const back = [
      [ABSENT, ''] as [string, string],
      ...[...mounts].sort(([, a], [, b]) => b.length - a.length).map(([c, h]) => [h, c] as [string, string]),
    ]
    const toPod = (text: string): string =>
      back.reduce(
        (t, [host, inPod]) =>
          host === inPod ? t : t.replace(new RegExp(escapeRe(host) + '(?![\\w.-])', 'g'), inPod),
        text,
      )

    const [file, argv] =
      sim.netns !== undefined ? ['ip', ['netns', 'exec', sim.netns, bin, ...args]] : [bin, args]
    return new Promise<ExecOutcome>((resolve, reject) => {
      const child = execFile(
        file,
        argv,
        {
          encoding: 'utf8',
          cwd: '/',
          timeout: opts.timeoutMs ?? 30_000,
          maxBuffer: MAX_BUFFER,
          env: {...process.env, LC_ALL: 'C'},
          ...(r.signal !== undefined ? {signal: r.signal} : {}),
        },
        (err, stdout, stderr) => {
          const out = {stdout: toPod(stdout), stderr: toPod(stderr)}
          if (err === null) return resolve({...out, exitCode: 0})
          if (typeof err.code === 'number') return resolve({...out, exitCode: err.code})
          if (err.code === 'ENOENT') return resolve({notFound: argv0})
          const sig = err.signal ?? (err.name === 'AbortError' ? 'SIGKILL' : undefined)
          if (sig !== undefined && sig !== null)
            return resolve({...out, exitCode: 128 + (osConstants.signals[sig] ?? 9)})
          reject(err)
        },
      )
      child.stdin?.on('error', () => undefined)
      child.stdin?.end(r.stdin ?? '')
    })
  }
}
