/**
 * Captures every probe from a source and lays the raw evidence out as a bundle (spec/bundle.md), with a
 * manifest recording each probe's outcome. Secrets never leave: PSKs and xfrm keys are replaced by
 * sha256 digests before anything is written (redaction is pure and tested on its own).
 */
import {createHash} from 'node:crypto'

import {PROBES, type ProbeId} from '../facts/probes.js'
import type {BundleManifest, EvidenceSource, RawCapture} from '../facts/sources.js'
import type {FleetNode, FleetPlan} from '../engine/fleet.js'
import {mapLimit, withTimeout} from '../lib/concurrency.js'
import {redactXfrmKeys} from '../parse/xfrm.js'
import {VERSION} from '../version.js'

/**
 * Replace every `"PSK": "..."` value (any case) by its sha256 digest: in net-conf.json, in YAML that embeds
 * it, and in JSON that embeds it as an escaped string (`\\"PSK\\": \\"...\\"`, a ConfigMap from the API).
 */
export function redactPsk(text: string): string {
  const sub = (a: string, v: string, b: string): string =>
    v.startsWith('sha256:')
      ? `${a}${v}${b}`
      : `${a}sha256:${createHash('sha256').update(v).digest('hex')}${b}`
  return text
    .replace(/("psk"\s*:\s*")((?:[^"\\]|\\.)*)(")/gi, (_m, a: string, v: string, b: string) => sub(a, v, b))
    .replace(/(\\"psk\\"\s*:\s*\\")((?:[^"\\]|\\[^"])*)(\\")/gi, (_m, a: string, v: string, b: string) =>
      sub(a, v, b),
    )
}

const digest = (v: string): string => `sha256:${createHash('sha256').update(v).digest('hex')}`

/**
 * Credentials a log line can carry (an Authorization header, a `token:` field, a kubeconfig's
 * client-key-data) replaced by digests: a log is evidence, a credential in it is not.
 */
export function redactTokens(text: string): string {
  return text
    .replace(/(\bBearer\s+)([A-Za-z0-9._~+/=-]{8,})/g, (_m, a: string, v: string) => a + digest(v))
    .replace(
      /(\b(?:token|client-key-data|client-certificate-data|password)["']?\s*[:=]\s*["']?)([A-Za-z0-9._~+/=-]{8,})/gi,
      (_m, a: string, v: string) => (v.startsWith('sha256:') ? a + v : a + digest(v)),
    )
}

const REDACT: Partial<Record<ProbeId, (t: string) => string>> = {
  logs: redactTokens,
  'net-conf': redactPsk,
  'net-conf-k3s': redactPsk,
  'flannel-cfg': redactPsk,
  'xfrm-state': redactXfrmKeys,
}

/** JSON from the API travels compact (it can be large); a bundle is for people too: indent it. */
function readable(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2) + '\n'
  } catch {
    return text
  }
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
      files.set(
        target,
        redact(cap.source.endsWith('(API)') && target.endsWith('.json') ? readable(cap.text) : cap.text),
      )
    }
    if (id === 'uname') manifest.uname = cap.text.trim()
    probes[id] = {outcome: 'ok', path: cap.source}
  }
  files.set('manifest.json', JSON.stringify(manifest, null, 2) + '\n')
  return {files, manifest}
}

/** A node's folder name in a multi-node bundle (node names are DNS names; anything else is replaced). */
export const nodeFolder = (node: string): string => `nodes/${node.replace(/[^A-Za-z0-9._-]/g, '_')}/`

/** The manifest of a multi-node bundle lists its nodes and how each was reached. */
export interface FleetManifestNode {
  name: string
  access: FleetNode['access']
  pod?: string
  note?: string
  chosen?: string
}

/** The probes answered by the API once for the whole cluster (a multi-node bundle keeps them at the top). */
export const CLUSTER_ONCE: readonly ProbeId[] = ['nodes', 'flannel-cfg', 'daemonset', 'rbac']

export interface FleetCollectOptions {
  concurrency?: number
  nodeTimeoutMs?: number
  maxLogLines?: number
  now?: Date
  progress?: (done: number, total: number, node: string) => void
}

/**
 * `collect --all-nodes|--nodes|--sample`: the cluster's files once at the top, and a folder per node
 * (nodes/NAME/) holding what a single-node bundle holds, each with its own manifest. The top manifest
 * lists the nodes and how each was reached, so `doctor --bundle` reports them as the live run did.
 */
export async function captureFleetBundle(plan: FleetPlan, o: FleetCollectOptions = {}): Promise<BundleFiles> {
  const now = o.now ?? new Date()
  const clusterPart = await captureBundle(plan.cluster, {probes: CLUSTER_ONCE, now})
  const files = new Map<string, string>()
  for (const [k, v] of clusterPart.files) if (k !== 'manifest.json') files.set(k, v)
  const nodeProbes = PROBES.map((p) => p.id).filter((id) => id !== 'manifest' && !CLUSTER_ONCE.includes(id))
  const entries: FleetManifestNode[] = []
  const total = plan.targets.length
  let done = 0
  const timeout = o.nodeTimeoutMs ?? 120_000
  const parts = await mapLimit(plan.targets, o.concurrency ?? 10, async (t) => {
    const entry: FleetManifestNode = {name: t.node, access: t.access}
    if (t.pod !== undefined) entry.pod = t.pod
    if (t.note !== undefined) entry.note = t.note
    if (t.chosen !== undefined) entry.chosen = t.chosen
    const opts: {probes: readonly ProbeId[]; now: Date; maxLogLines?: number} = {probes: nodeProbes, now}
    if (o.maxLogLines !== undefined) opts.maxLogLines = o.maxLogLines
    const part = await withTimeout(captureBundle(t.source, opts), timeout)
    done++
    o.progress?.(done, total, t.node)
    if (part !== 'timeout') return {entry, part}
    entry.access = 'timeout'
    entry.note = `node ${t.node} did not answer within ${Math.round(timeout / 1000)} s`
    return {entry, part: undefined}
  })
  for (const {entry, part} of parts) {
    entries.push(entry)
    if (part === undefined) continue
    const dir = nodeFolder(entry.name)
    for (const [k, v] of part.files) files.set(dir + k, v)
  }
  const manifest: BundleManifest & Record<string, unknown> = {
    format: 1,
    tool: `flannelctl ${VERSION}`,
    time: now.toISOString(),
    collectedBy: `${plan.origin}${typeof process.getuid === 'function' ? ` uid ${process.getuid()}` : ''}`,
    clusterNodes: plan.clusterNodes,
    notes: plan.notes,
    nodes: entries,
  }
  if (plan.namespace !== undefined) manifest['namespace'] = plan.namespace
  if (clusterPart.manifest.probes !== undefined) manifest.probes = clusterPart.manifest.probes
  files.set('manifest.json', JSON.stringify(manifest, null, 2) + '\n')
  return {files, manifest}
}
