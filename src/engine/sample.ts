/**
 * `doctor --sample N`: which nodes to look at when looking at all of them costs too much. Chosen from what
 * the API already tells, before any exec: nodes that look broken first (no podCIDR, no flannel
 * annotations, not Ready, network unavailable, flannel pod missing or unhealthy), then nodes that are odd
 * (a kernel, OS image or architecture few other nodes have), then healthy nodes for contrast, spread over
 * the name order. Every choice carries its reason. Pure and deterministic: the same cluster gives the
 * same sample.
 */
import type {KubeNode, KubePod} from '../model.js'

export interface SampleChoice {
  node: string
  reason: string
  kind: 'suspect' | 'odd' | 'contrast'
}

const ANN = 'flannel.alpha.coreos.com/'

/** What the API tells is wrong with a node, worst first (empty: nothing visible). */
export function suspicions(n: KubeNode, pod: KubePod | undefined, havePods: boolean): string[] {
  const out: string[] = []
  if (n.podCIDRs.length === 0 && n.podCIDR === undefined) out.push('no podCIDR')
  const ann = Object.keys(n.annotations).filter((k) => k.startsWith(ANN))
  if (ann.length === 0) out.push('no flannel annotations')
  else if (!ann.some((k) => k.endsWith('backend-data') || k.endsWith('backend-v6-data')))
    out.push('no flannel backend-data annotation')
  const ready = n.conditions?.find((c) => c.type === 'Ready')
  if (ready !== undefined && ready.status !== 'True') out.push(`Ready=${ready.status}`)
  const net = n.conditions?.find((c) => c.type === 'NetworkUnavailable')
  if (net !== undefined && net.status === 'True')
    out.push(`NetworkUnavailable${net.reason ? ` (${net.reason})` : ''}`)
  if (havePods) {
    if (pod === undefined) out.push('no flannel pod')
    else {
      const waiting = pod.containers.find((c) => c.waitingReason !== undefined && !c.ready)?.waitingReason
      if (pod.phase !== undefined && pod.phase !== 'Running') out.push(`flannel pod ${pod.phase}`)
      else if (!pod.ready) out.push(`flannel pod not ready${waiting ? ` (${waiting})` : ''}`)
      if (pod.restarts > 0) out.push(`flannel pod restarted ${pod.restarts}×`)
    }
  }
  return out
}

/** Values shared by at most a fifth of the nodes (and by fewer nodes than the most common value). */
function rare(nodes: readonly KubeNode[], get: (n: KubeNode) => string | undefined): Map<string, number> {
  const count = new Map<string, number>()
  for (const n of nodes) {
    const v = get(n)
    if (v !== undefined) count.set(v, (count.get(v) ?? 0) + 1)
  }
  const top = Math.max(0, ...count.values())
  const out = new Map<string, number>()
  for (const [v, c] of count) if (c < top && c <= Math.max(1, Math.floor(nodes.length / 5))) out.set(v, c)
  return out
}

/** Evenly spaced picks (first, last and between) from a list, `k` of them. */
function spread<T>(items: readonly T[], k: number): T[] {
  if (k <= 0 || items.length === 0) return []
  if (k >= items.length) return [...items]
  if (k === 1) return [items[Math.floor(items.length / 2)] as T]
  const out: T[] = []
  for (let i = 0; i < k; i++) out.push(items[Math.round((i * (items.length - 1)) / (k - 1))] as T)
  return out
}

/** The flannel pod of each node, the running one when there are several (during a rollout). */
export function podsByNode(pods: readonly KubePod[]): Map<string, KubePod> {
  const out = new Map<string, KubePod>()
  for (const p of pods) {
    if (p.node === undefined) continue
    const cur = out.get(p.node)
    if (cur === undefined || (cur.phase !== 'Running' && p.phase === 'Running')) out.set(p.node, p)
  }
  return out
}

export function selectSample(
  nodes: readonly KubeNode[],
  pods: readonly KubePod[],
  size: number,
): SampleChoice[] {
  const sorted = [...nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  // A sample as large as the cluster is every node, still with the reason each would have been chosen.
  size = Math.min(size, sorted.length)
  const podOf = podsByNode(pods)
  const havePods = pods.length > 0
  const taken = new Set<string>()
  const out: SampleChoice[] = []
  const take = (node: string, reason: string, kind: SampleChoice['kind']): void => {
    if (taken.has(node) || out.length >= size) return
    taken.add(node)
    out.push({node, reason, kind})
  }

  const suspects = sorted
    .map((n) => ({n, why: suspicions(n, podOf.get(n.name), havePods)}))
    .filter((x) => x.why.length > 0)
    .sort((a, b) => b.why.length - a.why.length)
  const healthy = sorted.filter((n) => !suspects.some((s) => s.n === n))
  // Keep room for contrast: a fifth of the sample (at least one) when healthy nodes exist.
  const contrast = size >= 2 && healthy.length > 0 ? Math.max(1, Math.floor(size / 5)) : 0
  for (const s of suspects.slice(0, Math.max(0, size - contrast)))
    take(s.n.name, `looks broken from the API: ${s.why.join(', ')}`, 'suspect')

  const traits: [string, (n: KubeNode) => string | undefined][] = [
    ['kernel', (n) => n.kernelVersion],
    ['OS image', (n) => n.osImage],
    ['architecture', (n) => n.architecture],
  ]
  for (const [label, get] of traits) {
    for (const [value, count] of rare(sorted, get)) {
      if (out.length >= size - contrast) break
      const n = sorted.find((x) => get(x) === value && !taken.has(x.name))
      if (n !== undefined) take(n.name, `odd ${label}: ${value} (${count} of ${sorted.length} nodes)`, 'odd')
    }
  }
  const rest = healthy.filter((n) => !taken.has(n.name))
  for (const n of spread(rest, size - out.length))
    take(n.name, 'healthy from the API, for contrast', 'contrast')
  // Still room (every node looked broken or odd): the remaining suspects.
  for (const s of suspects) take(s.n.name, `looks broken from the API: ${s.why.join(', ')}`, 'suspect')
  return out
}
