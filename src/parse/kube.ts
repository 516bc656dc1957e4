/**
 * Kubernetes Node objects, reduced to what flannel and the checks use (name, podCIDR(s), addresses,
 * annotations, labels, nodeInfo). Accepts `kubectl get nodes -o json` / `-o yaml` (a `List`, a
 * `NodeList`, a single `Node`, or several YAML documents), tolerating a pasted shell prompt around it,
 * and the podCIDR-only outputs of the commands flannel's troubleshooting guide uses
 * (`kubectl get nodes -o jsonpath='{.items[*].spec.podCIDR}'`, `-o template`), plus `NAME CIDR` lines and
 * `-o custom-columns` tables.
 */
import type {KubeNode, KubeNodeAddress, KubeNodeCondition} from '../model.js'
import {parseCidr} from '../lib/ip.js'
import {ParseError} from './errors.js'
import {asStr, isObj, readJsonOrYaml, type Obj} from './kube-docs.js'

const HINT_NODES = 'capture it with kubectl get nodes -o json (or -o yaml)'
const HINT_CIDRS = `capture it with kubectl get nodes -o jsonpath='{range .items[*]}{.metadata.name}{"\\t"}{.spec.podCIDRs}{"\\n"}{end}'`

function strMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {}
  if (!isObj(v)) return out
  for (const [k, x] of Object.entries(v)) {
    const s = asStr(x)
    if (s !== undefined)
      Object.defineProperty(out, k, {value: s, enumerable: true, writable: true, configurable: true})
  }
  return out
}

/** Drop a pasted shell prompt/command line before the object and a prompt after it. */
function trimToDocument(text: string): {text: string; firstLine: number} {
  const lines = text.split('\n')
  const start = lines.findIndex((l) => /^(\s*[{[]|apiVersion:|kind:|items:|metadata:|---)/.test(l))
  if (start <= 0) return {text, firstLine: 1}
  let end = lines.length
  if (/^\s*[{[]/.test(lines[start] as string)) {
    for (let i = lines.length - 1; i > start; i--)
      if (/^\s*[}\]]\s*$/.test(lines[i] as string)) {
        end = i + 1
        break
      }
  }
  return {text: lines.slice(start, end).join('\n'), firstLine: start + 1}
}

function readDocuments(raw: string): unknown[] {
  const text = raw.replace(/^\ufeff/, '')
  if (text.trim() === '') throw new ParseError('the node list is empty', undefined, HINT_NODES)
  const first = text.trimStart()[0]
  if (first === '{' || first === '[') {
    try {
      return [JSON.parse(text) as unknown]
    } catch {
      // fall through: YAML reads JSON too and reports a line
    }
  }
  if (/^NAME\s+STATUS\s+ROLES/m.test(text))
    throw new ParseError(
      'this is the kubectl get nodes table, which has no podCIDRs or annotations',
      undefined,
      HINT_NODES,
    )
  const {text: doc, firstLine} = trimToDocument(text)
  return readJsonOrYaml(doc, HINT_NODES, firstLine)
}

function nodeItems(v: unknown, out: Obj[]): void {
  if (v === null || v === undefined) return
  if (Array.isArray(v)) {
    for (const x of v) nodeItems(x, out)
    return
  }
  if (!isObj(v)) throw new ParseError('expected a Node, a NodeList or a List of Nodes', undefined, HINT_NODES)
  const kind = asStr(v['kind'])
  if (Array.isArray(v['items']) && (kind === undefined || /List$/.test(kind))) {
    for (const x of v['items']) if (isObj(x) && (x['kind'] === undefined || x['kind'] === 'Node')) out.push(x)
    return
  }
  if (kind === 'Node' || (kind === undefined && isObj(v['metadata']))) {
    out.push(v)
    return
  }
  throw new ParseError(`expected Node objects, found kind ${kind ?? '(none)'}`, undefined, HINT_NODES)
}

function toNode(o: Obj): KubeNode {
  const meta = isObj(o['metadata']) ? o['metadata'] : {}
  const spec = isObj(o['spec']) ? o['spec'] : {}
  const status = isObj(o['status']) ? o['status'] : {}
  const name = asStr(meta['name'])
  if (name === undefined || name === '')
    throw new ParseError('a Node without metadata.name', undefined, HINT_NODES)
  const node: KubeNode = {
    name,
    podCIDRs: Array.isArray(spec['podCIDRs'])
      ? spec['podCIDRs'].map(asStr).filter((x): x is string => x !== undefined)
      : [],
    addresses: [],
    annotations: strMap(meta['annotations']),
    labels: strMap(meta['labels']),
  }
  const podCIDR = asStr(spec['podCIDR'])
  if (podCIDR !== undefined && podCIDR !== '') node.podCIDR = podCIDR
  if (Array.isArray(status['addresses']))
    for (const a of status['addresses']) {
      if (!isObj(a)) continue
      const type = asStr(a['type'])
      const address = asStr(a['address'])
      if (type !== undefined && address !== undefined)
        node.addresses.push({type, address} satisfies KubeNodeAddress)
    }
  const info = isObj(status['nodeInfo']) ? status['nodeInfo'] : {}
  const set = (k: 'kernelVersion' | 'osImage' | 'operatingSystem' | 'architecture'): void => {
    const v = asStr(info[k])
    if (v !== undefined && v !== '') node[k] = v
  }
  set('kernelVersion')
  set('osImage')
  set('operatingSystem')
  set('architecture')
  if (Array.isArray(status['conditions'])) {
    const conds: KubeNodeCondition[] = []
    for (const c of status['conditions']) {
      if (!isObj(c)) continue
      const type = asStr(c['type'])
      const st = asStr(c['status'])
      if (type === undefined || st === undefined) continue
      const cond: KubeNodeCondition = {type, status: st}
      const reason = asStr(c['reason'])
      const message = asStr(c['message'])
      if (reason !== undefined) cond.reason = reason
      if (message !== undefined) cond.message = message
      conds.push(cond)
    }
    node.conditions = conds
  }
  return node
}

/**
 * Nodes from `kubectl get nodes -o json` or `-o yaml` (a List, a NodeList, a single Node, or several
 * YAML documents). Throws ParseError for anything else (the `kubectl get nodes` table included).
 */
export function parseNodes(raw: string): KubeNode[] {
  const items: Obj[] = []
  for (const d of readDocuments(raw)) nodeItems(d, items)
  return items.map(toNode)
}

// ---------------------------------------------------------------------------------------------------
// podcidrs.txt

const NAME_RE = /^[A-Za-z0-9]([-A-Za-z0-9._]*[A-Za-z0-9])?$/
const NONE = new Set(['<none>', '<no value>', '', '[]', 'null'])

const isCidr = (s: string): boolean => s.includes('/') && parseCidr(s) !== undefined

/** IPv4 CIDRs printed back to back without a separator (`-o template` of old kubectl). */
function splitConcatenated(s: string): string[] | undefined {
  if (s === '') return []
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\//.exec(s)
  if (!m) return undefined
  const rest = s.slice(m[0].length)
  for (const len of [2, 1]) {
    const p = rest.slice(0, len)
    if (p.length !== len || !/^\d+$/.test(p) || Number(p) > 32) continue
    const cidr = `${m[1]}/${p}`
    if (!isCidr(cidr)) continue
    const tail = splitConcatenated(rest.slice(len))
    if (tail) return [cidr, ...tail]
  }
  return undefined
}

/** The CIDRs of one token: `a/b`, `a/b,c/d`, `["a/b","c/d"]`, `[a/b`; undefined if it is not CIDRs. */
function cidrsOf(token: string): string[] | undefined {
  const t = token.replace(/^\[|\]$/g, '')
  if (NONE.has(t)) return []
  const parts = t
    .split(',')
    .map((p) => p.replace(/^"|"$/g, '').trim())
    .filter((p) => p !== '')
  if (parts.length > 0 && parts.every(isCidr)) return parts
  if (parts.length === 1) return splitConcatenated(parts[0] as string)
  return undefined
}

/**
 * Node podCIDRs from the outputs of `kubectl get nodes -o jsonpath='{.items[*].spec.podCIDR}'`,
 * `-o jsonpath='{range .items[*]}{.metadata.name}{"\t"}{.spec.podCIDR}{"\n"}{end}'`, `-o template`,
 * `-o custom-columns=NAME:.metadata.name,CIDR:.spec.podCIDR` and plain `NAME CIDR` lines. Every node is
 * `partial`; nodes the output does not name get `(unnamed node N)` and `nameUnknown`.
 */
export function parsePodCidrs(raw: string): KubeNode[] {
  const lines = raw.replace(/^\ufeff/, '').split('\n')
  const nodes: KubeNode[] = []
  let unnamed = 0
  const add = (name: string | undefined, cidrs: string[]): void => {
    const n: KubeNode = {
      name: name ?? `(unnamed node ${++unnamed})`,
      podCIDRs: cidrs,
      addresses: [],
      annotations: {},
      labels: {},
      partial: true,
    }
    if (cidrs[0] !== undefined) n.podCIDR = cidrs[0]
    if (name === undefined) n.nameUnknown = true
    nodes.push(n)
  }
  let header: {name?: number; cidr: number[]} | undefined
  let sawNoValue = false
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).replace(/\r$/, '')
    const tokens = line
      .trim()
      .split(/\s+/)
      .filter((t) => t !== '')
    if (tokens.length === 0) continue
    if (line.trim() === '<no value>') {
      sawNoValue = true
      continue
    }
    if (
      nodes.length === 0 &&
      header === undefined &&
      tokens.some((t) => /cidr/i.test(t)) &&
      !tokens.some((t) => cidrsOf(t)?.length)
    ) {
      const name = tokens.findIndex((t) => /^(name|node|nodename)$/i.test(t))
      header = {cidr: tokens.flatMap((t, k) => (/cidr/i.test(t) ? [k] : []))}
      if (name !== -1) header.name = name
      continue
    }
    if (header) {
      const cidrs: string[] = []
      for (const k of header.cidr) {
        const c = cidrsOf(tokens[k] ?? '<none>')
        if (c === undefined) throw new ParseError(`"${tokens[k]}" is not a CIDR`, i + 1, HINT_CIDRS)
        cidrs.push(...c)
      }
      add(header.name !== undefined ? tokens[header.name] : undefined, cidrs)
      continue
    }
    const parsed = tokens.map(cidrsOf)
    if (parsed.every((c) => c !== undefined)) {
      // Only CIDRs on the line: one node per token (jsonpath `{.items[*].spec.podCIDR}` prints them space-separated).
      tokens.forEach((t, k) => {
        const c = parsed[k] as string[]
        // Back-to-back CIDRs (old `-o template`) are one node each; a list (`a,b` / `["a","b"]`) is one node.
        if (c.length > 1 && !/[,[\]]/.test(t)) for (const one of c) add(undefined, [one])
        else if (c.length > 0) add(undefined, c)
      })
      continue
    }
    const [first, ...rest] = tokens as [string, ...string[]]
    const restCidrs = rest.map(cidrsOf)
    if (NAME_RE.test(first) && cidrsOf(first) === undefined && restCidrs.every((c) => c !== undefined)) {
      add(first, restCidrs.flat())
      continue
    }
    if (line.includes('<no value>')) {
      sawNoValue = true
      continue
    }
    throw new ParseError(
      `cannot read "${line.trim().slice(0, 80)}" as node name and podCIDR`,
      i + 1,
      HINT_CIDRS,
    )
  }
  if (nodes.length === 0 && sawNoValue)
    throw new ParseError(
      'the template printed <no value>: newer kubectl applies -o template to the whole list, not to each node',
      undefined,
      HINT_CIDRS,
    )
  return nodes
}
