/**
 * Evidence sources: the live host (or a named network namespace) and support bundles (a folder or a
 * .tar.gz). Both answer `capture(probeId)` with the raw text or the reason it is not there; neither
 * parses anything.
 */
import {hostname} from 'node:os'
import {join, posix} from 'node:path'

import type {HostFs} from '../host/fs.js'
import type {Runner} from '../host/runner.js'
import type {HostInfo, Unavailable} from './types.js'
import {probe, type LiveContext, type ProbeId} from './probes.js'

export type RawCapture =
  | {ok: true; text: string; source: string; path?: string; files?: {name: string; text: string}[]}
  | {ok: false; state: Unavailable; reason: string; hint?: string; source?: string}

export interface EvidenceSource {
  /** `live`, `live (netns NAME)`, `bundle PATH`. */
  readonly origin: string
  /** `hint` carries what earlier evidence told (the vxlan device name, from net-conf's VNI). */
  capture(id: ProbeId, hint?: CaptureHint): Promise<RawCapture>
  host(): Promise<HostInfo>
}

export interface CaptureHint {
  vxlanDevice?: string
}

const INSTALL: Record<string, string> = {
  ip: 'apt-get install iproute2 (or dnf install iproute)',
  bridge: 'apt-get install iproute2',
  'iptables-save': 'apt-get install iptables',
  'ip6tables-save': 'apt-get install iptables',
  'iptables-legacy-save': 'apt-get install iptables',
  nft: 'apt-get install nftables',
  sysctl: 'apt-get install procps',
  ethtool: 'apt-get install ethtool',
}

export interface LiveOptions extends LiveContext {
  nodeName?: string
  timeoutMs?: number
  /**
   * The runner executes inside this node's kube-flannel pod (exec API): sources, reasons and hints name
   * the pod, and a tool missing from its image points at running flannelctl on the node itself.
   */
  pod?: {label: string; node: string; permissionHint: string}
}

/** Live evidence from this host, optionally inside a named network namespace. */
export function liveSource(runner: Runner, fs: HostFs, opts: LiveOptions): EvidenceSource {
  const pod = opts.pod
  const origin = pod ? `pod ${pod.label}` : opts.netns ? `live (netns ${opts.netns})` : 'live'
  const rootHint = pod ? pod.permissionHint : 'run as root'
  return {
    origin,
    async host() {
      if (pod) return {origin, nodeName: pod.node}
      const h: HostInfo = {origin, hostname: hostname()}
      const name = opts.nodeName ?? process.env['NODE_NAME']
      if (name) h.nodeName = name
      return h
    },
    async capture(id, hint) {
      const def = probe(id)
      const live = def.live
      const ctx: LiveContext = hint?.vxlanDevice ? {...opts, vxlanDevice: hint.vxlanDevice} : opts
      switch (live.kind) {
        case 'none':
          return {ok: false, state: 'not-collected', reason: live.why, hint: live.hint}
        case 'cmd': {
          const base = live.argv(ctx)
          const argv = live.netns && opts.netns ? ['ip', 'netns', 'exec', opts.netns, ...base] : base
          const shown =
            base.join(' ') +
            (pod ? ` (in pod ${pod.label})` : live.netns && opts.netns ? ` (in netns ${opts.netns})` : '')
          const runOpts = opts.timeoutMs === undefined ? {} : {timeoutMs: opts.timeoutMs}
          const r = await runner.run(argv, runOpts)
          if (pod && live.podFallback && (r.outcome === 'not-installed' || r.outcome === 'failed')) {
            const f = await runner.run(live.podFallback.argv, runOpts)
            const text = live.podFallback.toText(f.stdout)
            if (text !== '')
              return {ok: true, text, source: `${live.podFallback.argv.join(' ')} (in pod ${pod.label})`}
          }
          const firstErr = r.stderr.trim().split('\n')[0] ?? ''
          switch (r.outcome) {
            case 'ok':
              return {ok: true, text: r.stdout, source: shown}
            case 'not-installed': {
              const bin = base[0] ?? ''
              if (pod)
                return {
                  ok: false,
                  state: 'not-installed',
                  reason: `the image of pod ${pod.label} has no ${bin}`,
                  hint: `run flannelctl doctor on node ${pod.node} itself (or flannelctl collect there, then doctor --bundle)`,
                  source: shown,
                }
              return {
                ok: false,
                state: 'not-installed',
                reason: `${bin} is not installed`,
                hint: INSTALL[bin] ?? `install ${bin}`,
                source: shown,
              }
            }
            case 'permission':
              return {
                ok: false,
                state: 'permission',
                reason: `${shown} needs more privilege (${firstErr})`,
                hint: rootHint,
                source: shown,
              }
            case 'timeout':
              return {
                ok: false,
                state: 'timeout',
                reason: `${shown} did not finish in time`,
                hint: 'retry, or raise --timeout',
                source: shown,
              }
            default:
              if (!pod && live.root && typeof process.getuid === 'function' && process.getuid() !== 0)
                return {
                  ok: false,
                  state: 'permission',
                  reason: `${shown} failed without root (${firstErr})`,
                  hint: 'run as root',
                  source: shown,
                }
              return {
                ok: false,
                state: 'error',
                reason: `${shown} exited ${r.exitCode ?? '?'}: ${firstErr}`,
                source: shown,
              }
          }
        }
        case 'file': {
          const path = live.path(opts)
          if (path === undefined) return {ok: false, state: 'not-collected', reason: 'not asked for'}
          const r = await fs.readText(path)
          if (r.ok) return {ok: true, text: r.text, source: path, path}
          if (r.state === 'absent')
            return live.explicit(opts)
              ? {ok: false, state: 'absent', reason: `${path} does not exist`, source: path}
              : {
                  ok: false,
                  state: 'not-collected',
                  reason: `${path} does not exist on this host`,
                  source: path,
                }
          if (r.state === 'permission')
            return {
              ok: false,
              state: 'permission',
              reason: `${path}: permission denied`,
              hint: 'run as root',
              source: path,
            }
          return {ok: false, state: 'error', reason: `${path}: ${r.reason}`, source: path}
        }
        case 'dir': {
          const dir = live.path(opts)
          const l = await fs.list(dir)
          if (!l.ok) {
            if (l.state === 'absent')
              return {ok: false, state: 'absent', reason: `${dir} does not exist`, source: dir}
            return {
              ok: false,
              state: l.state === 'permission' ? 'permission' : 'error',
              reason: `${dir}: ${l.reason}`,
              hint: 'run as root',
              source: dir,
            }
          }
          const files: {name: string; text: string}[] = []
          for (const name of l.names) {
            const r = await fs.readText(join(dir, name))
            if (r.ok) files.push({name, text: r.text})
          }
          return {ok: true, text: '', files, source: dir, path: dir}
        }
        case 'files': {
          const paths = live.paths(opts)
          if (paths.length === 0)
            return {
              ok: false,
              state: 'not-collected',
              reason: 'no log file given',
              hint: 'pass --log FILE (e.g. kubectl -n kube-flannel logs POD > flannel.log)',
            }
          const files: {name: string; text: string}[] = []
          for (const p of paths) {
            const r = await fs.readText(p)
            if (!r.ok)
              return {
                ok: false,
                state: r.state === 'permission' ? 'permission' : 'absent',
                reason: `${p}: ${r.reason}`,
                source: p,
              }
            files.push({name: p, text: r.text})
          }
          return {ok: true, text: '', files, source: paths.join(', ')}
        }
      }
    },
  }
}

/** The manifest `collect` writes (format 1). */
export interface BundleManifest {
  format: number
  tool?: string
  nodeName?: string
  time?: string
  uname?: string
  collectedBy?: string
  probes?: Record<
    string,
    {outcome: string; argv?: string[]; path?: string; exitCode?: number; reason?: string}
  >
}

const MANIFEST_STATE: Record<string, Unavailable> = {
  missing: 'absent',
  absent: 'absent',
  permission: 'permission',
  'not-installed': 'not-installed',
  timeout: 'timeout',
  error: 'error',
}

/** Evidence from a bundle already read into memory (path → text), whatever it was stored as. */
export function bundleSource(label: string, files: ReadonlyMap<string, string>): EvidenceSource {
  const origin = `bundle ${label}`
  let manifest: BundleManifest | undefined
  const m = files.get('manifest.json')
  if (m !== undefined) {
    try {
      manifest = JSON.parse(m) as BundleManifest
    } catch {
      manifest = undefined
    }
  }
  const paths = [...files.keys()].sort()
  return {
    origin,
    async host() {
      const h: HostInfo = {origin}
      if (manifest?.nodeName) h.nodeName = manifest.nodeName
      return h
    },
    async capture(id) {
      const def = probe(id)
      for (const bp of def.bundle) {
        if (bp.endsWith('/') || bp.includes('*')) {
          const dir = bp.endsWith('/') ? bp : posix.dirname(bp) + '/'
          const suffix = bp.includes('*') ? bp.slice(bp.indexOf('*') + 1) : ''
          const hits = paths.filter(
            (p) => p.startsWith(dir) && !p.slice(dir.length).includes('/') && p.endsWith(suffix),
          )
          if (hits.length === 0) continue
          return {
            ok: true,
            text: '',
            files: hits.map((p) => ({name: p.slice(dir.length), text: files.get(p) ?? ''})),
            source: bp.endsWith('/') ? bp : hits.join(', '),
            path: dir,
          }
        }
        const text = files.get(bp)
        if (text !== undefined) return {ok: true, text, source: bp, path: bp}
      }
      const rec = manifest?.probes?.[id]
      const where = def.bundle[0] ?? id
      if (rec && rec.outcome !== 'ok' && rec.outcome !== 'not-collected') {
        const state = MANIFEST_STATE[rec.outcome] ?? 'error'
        const what = rec.path ?? rec.argv?.join(' ') ?? where
        const reason =
          state === 'absent'
            ? `${what} did not exist when the bundle was collected`
            : `${what}: ${rec.reason ?? rec.outcome} when the bundle was collected`
        const out: RawCapture = {ok: false, state, reason, source: where}
        if (state === 'permission') out.hint = 'collect the bundle as root'
        return out
      }
      return {ok: false, state: 'not-collected', reason: `the bundle has no ${where}`, hint: def.pasteHint}
    },
  }
}
