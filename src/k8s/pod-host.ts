/**
 * A node seen through its kube-flannel pod: the pod runs with hostNetwork and NET_ADMIN and mounts
 * /run/flannel, /etc/cni/net.d and the kube-flannel-cfg ConfigMap, so the probes that run on a host run
 * there too, over the exec API. This adapts a KubeClient to the Runner and HostFs ports the live source
 * already uses, so every node is captured by the same probe list and parsed by the same parsers.
 *
 * The flannel image is Alpine with busybox, iproute2 and iptables; it has no ethtool, usually no nft, and
 * busybox's sysctl has no --pattern. A missing tool is `not-installed` (the check says which, and that
 * the node itself has to be asked); a probe that has a way around it says so itself (`podFallback`).
 */
import type {HostFs, ReadOutcome} from '../host/fs.js'
import {classify, type RunResult, type Runner} from '../host/runner.js'
import {KubeError, type KubeClient} from './client.js'

export interface PodRef {
  namespace: string
  pod: string
  container?: string
}

/** Runs argv in the pod's container; ordinary failures come back as data, as with the host runner. */
export function podRunner(client: KubeClient, ref: PodRef, defaultTimeoutMs = 5000): Runner {
  const where = `${ref.namespace}/${ref.pod}`
  const once = async (argv: readonly string[], timeoutMs: number): Promise<RunResult> => {
    const start = Date.now()
    const base = {argv: [...argv], stdout: '', stderr: ''}
    try {
      const eo = ref.container !== undefined ? {container: ref.container, timeoutMs} : {timeoutMs}
      const r = await client.exec(ref.namespace, ref.pod, argv, eo)
      const res: RunResult = {
        ...base,
        stdout: r.stdout,
        stderr: r.stderr,
        exitCode: r.exitCode,
        durationMs: Date.now() - start,
        outcome: !r.started ? 'not-installed' : classify(r.exitCode, r.stderr),
      }
      return res
    } catch (e) {
      const durationMs = Date.now() - start
      if (!(e instanceof KubeError)) throw e
      const stderr = e.message
      if (e.kind === 'timeout') return {...base, stderr, durationMs, outcome: 'timeout'}
      if (e.kind === 'forbidden' || e.kind === 'unauthorized')
        return {...base, stderr, durationMs, outcome: 'permission'}
      return {...base, stderr: `exec in ${where}: ${stderr}`, durationMs, outcome: 'failed'}
    }
  }
  return {
    run: (argv, opts = {}) => once(argv, opts.timeoutMs ?? defaultTimeoutMs),
  }
}

const NO_FILE = /no such file or directory|can't open|cannot open|not found/i
const DENIED = /permission denied|operation not permitted/i

function readOutcome(r: RunResult): ReadOutcome {
  if (r.outcome === 'ok') return {ok: true, text: r.stdout}
  const first = r.stderr.trim().split('\n')[0] ?? ''
  if (r.outcome === 'permission' || DENIED.test(first))
    return {ok: false, state: 'permission', reason: first || 'permission denied'}
  if (r.outcome === 'failed' && NO_FILE.test(first))
    return {ok: false, state: 'absent', reason: 'no such file'}
  return {ok: false, state: 'error', reason: first || r.outcome}
}

/** Reads files in the container (`cat`, `ls`); writing is not something the doctor does there. */
export function podFs(runner: Runner): HostFs {
  const refuse = async (): Promise<never> => {
    throw new Error('flannelctl never writes inside a pod')
  }
  return {
    async readText(path) {
      return readOutcome(await runner.run(['cat', path]))
    },
    async list(path) {
      const r = readOutcome(await runner.run(['ls', '-1', path]))
      if (!r.ok) return r
      return {
        ok: true,
        names: r.text
          .split('\n')
          .map((l) => l.trim())
          .filter((l) => l !== '')
          .sort(),
      }
    },
    async exists(path) {
      return (await runner.run(['test', '-e', path])).outcome === 'ok'
    },
    writeAtomic: refuse,
    mkdirp: refuse,
    remove: refuse,
  }
}
