/**
 * Helpers shared by the Kubernetes-side checks (kube.*) and the node checks that compare this host with
 * its Node object: which podCIDRs and addresses a node has, free-subnet arithmetic for fixes, and
 * reading flannel's logs for a node. How a node's fields are quoted as evidence, and the kubectl lines
 * that reach its flannel pod, are in `wording.ts`; which node is this host is `selfOf` in `flannel.ts`.
 */
import type {KubeNode, LogFile} from '../../model.js'
import {
  cidrsOverlap,
  formatCidr,
  maskOf,
  normalizeIP,
  parseCidr,
  type Cidr,
  type Family,
} from '../../lib/ip.js'
import type {Finding} from '../types.js'
import {ev, unknown} from './result.js'
import {listNames} from './wording.js'

export const NODES_HINT = 'kubectl get nodes -o json > kubernetes/nodes.json (or pass --nodes-file)'

/** The node name to put in a command (podcidrs.txt may print CIDRs without names). */
export const cmdName = (n: KubeNode): string => (n.nameUnknown ? 'NODE' : n.name)

export interface NodeIP {
  type: string
  address: string
  /** Canonical form. */
  ip: string
  family: Family
}

/** The node's InternalIP/ExternalIP addresses (the ones flannel and kubelet route with). */
export function nodeIPs(n: KubeNode): NodeIP[] {
  const out: NodeIP[] = []
  for (const a of n.addresses) {
    if (a.type !== 'InternalIP' && a.type !== 'ExternalIP') continue
    const c = parseCidr(a.address.trim())
    const ip = normalizeIP(a.address.trim())
    if (!c || !ip || c.prefix !== (c.family === 4 ? 32 : 128)) continue
    if (out.some((o) => o.ip === ip)) continue
    out.push({type: a.type, address: a.address, ip, family: c.family})
  }
  return out
}

export interface PodCidr {
  raw: string
  cidr?: Cidr
}

/** Every podCIDR of the node (`spec.podCIDRs`, plus `spec.podCIDR` if it is not among them), parsed. */
export function podCidrsOf(n: KubeNode): PodCidr[] {
  const out: PodCidr[] = []
  const seen = new Set<string>()
  for (const raw of [...n.podCIDRs, ...(n.podCIDR ? [n.podCIDR] : [])]) {
    const c = parseCidr(raw.trim())
    const key = c ? formatCidr(c) : raw
    if (seen.has(key)) continue
    seen.add(key)
    out.push(c ? {raw, cidr: c} : {raw})
  }
  return out
}

/** The most common prefix length among the given subnets of one family (else the controller default). */
export function typicalPrefix(cidrs: readonly Cidr[], family: Family): number {
  const counts = new Map<number, number>()
  for (const c of cidrs) if (c.family === family) counts.set(c.prefix, (counts.get(c.prefix) ?? 0) + 1)
  let best = family === 4 ? 24 : 64
  let n = 0
  for (const [p, k] of counts) if (k > n || (k === n && p > best)) [best, n] = [p, k]
  return best
}

/**
 * The first subnet of length `prefix` inside `network` that overlaps none of `used` (what
 * kube-controller-manager's range allocator would hand out next). Looks at most 65,536 candidates.
 */
export function freeSubnet(network: Cidr, used: readonly Cidr[], prefix: number): Cidr | undefined {
  const total = network.family === 4 ? 32 : 128
  if (prefix < network.prefix || prefix > total) return undefined
  const step = 1n << BigInt(total - prefix)
  const count = 1n << BigInt(prefix - network.prefix)
  const limit = count < 65536n ? count : 65536n
  for (let i = 0n; i < limit; i++) {
    const base = network.base + i * step
    const c: Cidr = {family: network.family, addr: base, prefix, base}
    if (!used.some((u) => cidrsOverlap(u, c))) return c
  }
  return undefined
}

/** The smallest CIDR that covers all of `cs` (one family), e.g. 10.244.1.0/24 + 10.244.7.0/24 → 10.244.0.0/21. */
export function coveringCidr(cs: readonly Cidr[]): Cidr | undefined {
  const first = cs[0]
  if (!first || cs.some((c) => c.family !== first.family)) return undefined
  let prefix = Math.min(...cs.map((c) => c.prefix))
  while (prefix > 0) {
    const m = maskOf(first.family, prefix)
    if (cs.every((c) => (c.base & m) === (first.base & m))) break
    prefix--
  }
  const base = first.base & maskOf(first.family, prefix)
  return {family: first.family, addr: base, prefix, base}
}

/** `c` widened (never narrowed) to `prefix`. */
export function widen(c: Cidr, prefix: number): Cidr {
  const p = Math.min(c.prefix, prefix)
  const base = c.base & maskOf(c.family, p)
  return {family: c.family, addr: base, prefix: p, base}
}

/**
 * A private range of the given size that overlaps none of `avoid` (for "choose another Network" fixes).
 * Candidates are the usual pod ranges; kubeadm's default service range 10.96.0.0/12 is always avoided.
 */
export function suggestNetwork(prefix: number, avoid: readonly Cidr[]): Cidr | undefined {
  const services = parseCidr('10.96.0.0/12') as Cidr
  const bases = [
    '10.244.0.0',
    '10.42.0.0',
    '10.200.0.0',
    '172.30.0.0',
    '192.168.0.0',
    '100.64.0.0',
    '10.128.0.0',
  ]
  // A Network as wide as /8 rarely has a twin; fall back to the usual /16.
  for (const p of prefix < 16 ? [prefix, 16] : [prefix]) {
    for (const b of bases) {
      const c = parseCidr(`${b}/${p}`)
      if (!c || c.addr !== c.base) continue
      if ([services, ...avoid].some((a) => cidrsOverlap(a, c))) continue
      return c
    }
  }
  return undefined
}

/** Where a log file came from, for evidence: the matching entry of the fact's source list, else its name. */
export function logSource(factSource: string, file: LogFile): string {
  const parts = factSource.split(', ')
  return parts.find((p) => p === file.name || p.endsWith('/' + file.name)) ?? (file.name || factSource)
}

export interface LogHit {
  source: string
  line: string
  match: RegExpExecArray
}

/** Every log line matching `re` (not global), in file order. */
export function grepLogs(factSource: string, logs: readonly LogFile[], re: RegExp): LogHit[] {
  const out: LogHit[] = []
  for (const f of logs) {
    for (const line of f.lines) {
      const m = re.exec(line)
      if (m) out.push({source: logSource(factSource, f), line: line.trim(), match: m})
    }
  }
  return out
}

/** The finding for evidence that came from podcidrs.txt (names and podCIDRs only). */
export function partialFinding(source: string, what: string, names: readonly string[]): Finding {
  return unknown(
    `The node evidence has only names and podCIDRs for ${listNames(names)}, so ${what} could not be evaluated.`,
    {evidence: [ev(source, [])], hint: NODES_HINT},
  )
}
