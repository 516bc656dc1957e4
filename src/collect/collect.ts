/**
 * Captures every probe from a source and lays the raw evidence out as a bundle (spec/bundle.md), with a
 * manifest recording each probe's outcome. Secrets never leave: PSKs and xfrm keys are replaced by
 * sha256 digests before anything is written (redaction is pure and tested on its own).
 */
import {createHash} from 'node:crypto'

import {PROBES, type ProbeId} from '../facts/probes.js'
import type {BundleManifest, EvidenceSource, RawCapture} from '../facts/sources.js'
import {redactXfrmKeys} from '../parse/xfrm.js'
import {VERSION} from '../version.js'

/** Replace every `"PSK": "..."` value (any case, JSON or YAML-embedded JSON) by its sha256 digest. */
export function redactPsk(text: string): string {
  return text.replace(/("psk"\s*:\s*")((?:[^"\\]|\\.)*)(")/gi, (_m, a: string, v: string, b: string) =>
    v.startsWith('sha256:')
      ? `${a}${v}${b}`
      : `${a}sha256:${createHash('sha256').update(v).digest('hex')}${b}`,
  )
}

const REDACT: Partial<Record<ProbeId, (t: string) => string>> = {
  'net-conf': redactPsk,
  'net-conf-k3s': redactPsk,
  'flannel-cfg': redactPsk,
  'xfrm-state': redactXfrmKeys,
}

/** Files never written, whatever asked for them. */
export const NEVER = [/(^|\/)wgkey$/, /kubeconfig/i, /(^|\/)secrets?\//i]

export interface BundleFiles {
  files: Map<string, string>
  manifest: BundleManifest
}

function outcomeOf(c: Extract<RawCapture, {ok: false}>): string {
  return c.state === 'absent' ? 'missing' : c.state === 'not-collected' ? 'not-collected' : c.state
}

/** Capture the node probes of `source` and return the bundle's files (path → text), nothing written yet. */
export async function captureBundle(
  source: EvidenceSource,
  opts: {probes?: readonly ProbeId[]; maxLogLines?: number; now?: Date} = {},
): Promise<BundleFiles> {
  const ids = (opts.probes ?? PROBES.map((p) => p.id)).filter((id) => id !== 'manifest')
  const host = await source.host()
  const caps = await Promise.all(ids.map(async (id) => [id, await source.capture(id)] as const))
  const files = new Map<string, string>()
  const manifest: BundleManifest = {
    format: 1,
    tool: `flannelctl ${VERSION}`,
    time: (opts.now ?? new Date()).toISOString(),
    collectedBy: `${source.origin}${typeof process.getuid === 'function' ? ` uid ${process.getuid()}` : ''}`,
    probes: {},
  }
  if (host.nodeName) manifest.nodeName = host.nodeName
  const maxLines = opts.maxLogLines ?? 2000
  for (const [id, cap] of caps) {
    const def = PROBES.find((p) => p.id === id)
    if (!def) continue
    const probes = manifest.probes as NonNullable<BundleManifest['probes']>
    if (!cap.ok) {
      const rec: {outcome: string; reason?: string; path?: string} = {
        outcome: outcomeOf(cap),
        reason: cap.reason,
      }
      if (cap.source) rec.path = cap.source
      probes[id] = rec
      continue
    }
    const redact = REDACT[id] ?? ((t: string) => t)
    const target = def.bundle[0] ?? ''
    if (cap.files) {
      const dir = target.endsWith('/') ? target : target.slice(0, target.lastIndexOf('/') + 1)
      for (const f of cap.files) {
        const base = f.name.split('/').pop() ?? f.name
        if (NEVER.some((r) => r.test(f.name))) continue
        const name = id === 'logs' ? (base.endsWith('.log') ? base : `${base}.log`) : base
        const lines = f.text.split('\n')
        const text = id === 'logs' && lines.length > maxLines ? lines.slice(-maxLines).join('\n') : f.text
        files.set(dir + name, redact(text))
      }
    } else {
      files.set(target, redact(cap.text))
    }
    if (id === 'uname') manifest.uname = cap.text.trim()
    probes[id] = {outcome: 'ok', path: cap.source}
  }
  files.set('manifest.json', JSON.stringify(manifest, null, 2) + '\n')
  return {files, manifest}
}
