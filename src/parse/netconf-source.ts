/**
 * Where net-conf.json comes from: a plain file, the `kube-flannel-cfg` ConfigMap (YAML or JSON, as
 * `kubectl get cm -o yaml` prints it or as written in a manifest), or a whole kube-flannel manifest
 * (several YAML documents, or a `kind: List`). flannel itself reads `data["net-conf.json"]` of that
 * ConfigMap through the volume mounted at /etc/kube-flannel/ (flannel-facts §1.1, §7.3).
 *
 * Line and column numbers of net-conf errors are mapped back into the file the user edits: a literal
 * block scalar (`|`) keeps its lines, shifted by the header line and the block indentation.
 */
import {isMap, isScalar, isSeq, parseAllDocuments, type Document, type Scalar, type YAMLMap} from 'yaml'

import type {CniConfigFile} from '../model.js'
import {ParseError} from './errors.js'
import {Positions, jsonToValue, parseGoJson, parseNetConf, type NetConfFact} from './netconf.js'

const NET_CONF_KEY = 'net-conf.json'
const CNI_CONF_KEY = 'cni-conf.json'
const FLANNEL_CM = 'kube-flannel-cfg'

type YNode = unknown

interface Found {
  name?: string
  namespace?: string
  value: Scalar
}

/** First significant character, skipping blank lines and YAML `#` comment lines. */
function firstSignificant(text: string): string {
  for (const raw of text.replace(/^\ufeff/, '').split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    return line[0] as string
  }
  return ''
}

function parseYamlDocs(text: string, fileName: string): Document.Parsed[] {
  let docs: Document.Parsed[]
  try {
    docs = parseAllDocuments(text, {uniqueKeys: false, prettyErrors: false}) as Document.Parsed[]
  } catch (e) {
    throw new ParseError(`${fileName} is not readable YAML: ${(e as Error).message}`)
  }
  if (!Array.isArray(docs)) return []
  for (const d of docs) {
    const err = d.errors[0]
    if (err) {
      const line = new Positions(text, 0, 0).at(err.pos[0]).line
      throw new ParseError(
        `${fileName} is not valid YAML: ${err.message.split('\n')[0]}`,
        line,
        'fix the YAML (kubectl would refuse it too), or pass net-conf.json itself',
      )
    }
  }
  return docs
}

const str = (n: YNode): string | undefined =>
  isScalar(n) && n.value !== null && n.value !== undefined ? String(n.value) : undefined

function getIn(map: YNode, ...path: string[]): YNode {
  let cur: YNode = map
  for (const k of path) {
    if (!isMap(cur)) return undefined
    cur = (cur as YAMLMap).get(k, true)
  }
  return cur
}

/** Every object in the documents, with `kind: List` items expanded. */
function objects(docs: Document.Parsed[]): YAMLMap[] {
  const out: YAMLMap[] = []
  const visit = (n: YNode): void => {
    if (!isMap(n)) return
    const kind = str(getIn(n, 'kind'))
    const items = getIn(n, 'items')
    if (kind !== undefined && /List$/.test(kind) && isSeq(items)) {
      for (const it of items.items) visit(it)
      return
    }
    out.push(n as YAMLMap)
  }
  for (const d of docs) {
    if (isSeq(d.contents)) for (const it of d.contents.items) visit(it)
    else visit(d.contents)
  }
  return out
}

/** The ConfigMap value `data[key]`: `kube-flannel-cfg` first, then any ConfigMap with that key; also a
 * bare `data:` map or the data content itself pasted on its own. */
function findConfigMapKey(docs: Document.Parsed[], key: string): Found | undefined {
  const candidates: Found[] = []
  for (const o of objects(docs)) {
    let v = getIn(o, 'data', key)
    if (!isScalar(v)) v = getIn(o, key)
    if (v === undefined || v === null) continue
    if (!isScalar(v))
      throw new ParseError(
        `data["${key}"] is a YAML mapping, but a ConfigMap value must be a string (write it as a block: ${key}: |)`,
      )
    const found: Found = {value: v as Scalar}
    const name = str(getIn(o, 'metadata', 'name'))
    const ns = str(getIn(o, 'metadata', 'namespace'))
    if (name !== undefined) found.name = name
    if (ns !== undefined) found.namespace = ns
    candidates.push(found)
  }
  return candidates.find((c) => c.name === FLANNEL_CM) ?? candidates[0]
}

interface Placement {
  lineOffset: number
  columnOffset: number
  positionsInValue?: true
}

/** How the lines of a scalar's value map onto the source file (`pos` is over the whole file). */
function placement(text: string, pos: Positions, sc: Scalar): Placement {
  const range = sc.range
  const value = String(sc.value)
  if (!range) return {lineOffset: 0, columnOffset: 0, positionsInValue: true}
  const start = pos.at(range[0])
  if (sc.type === 'BLOCK_LITERAL') {
    const headerEnd = text.indexOf('\n', range[0])
    const header = text.slice(range[0], headerEnd === -1 ? text.length : headerEnd)
    const explicit = /^\|(?:([1-9])[+-]?|[+-]([1-9]))?/.exec(header)
    const digit = explicit?.[1] ?? explicit?.[2]
    let indent: number
    if (digit !== undefined) {
      // The `|` is not a blank, so the header line's indentation ends before it.
      indent = (/^ */.exec(pos.lineOf(range[0]))?.[0].length ?? 0) + Number(digit)
    } else {
      indent = 0
      for (let li = start.line; li < pos.lineCount; li++) {
        const line = pos.lineText(li)
        if (line.trim() === '') continue
        indent = /^ */.exec(line)?.[0].length ?? 0
        break
      }
    }
    return {lineOffset: start.line, columnOffset: indent}
  }
  if (sc.type === 'BLOCK_FOLDED') return {lineOffset: 0, columnOffset: 0, positionsInValue: true}
  // A one-line scalar written without escapes maps column for column.
  const quoted = sc.type === 'QUOTE_DOUBLE' || sc.type === 'QUOTE_SINGLE'
  const inner = text.slice(range[0] + (quoted ? 1 : 0), range[1] - (quoted ? 1 : 0))
  if (!value.includes('\n') && inner === value)
    return {lineOffset: start.line - 1, columnOffset: start.column - 1 + (quoted ? 1 : 0)}
  return {lineOffset: 0, columnOffset: 0, positionsInValue: true}
}

function cmLabel(found: Found): string {
  const name = found.name ?? '(unnamed)'
  return found.namespace !== undefined ? `${found.namespace}/${name}` : name
}

function fileMode(fileName: string): 'kube' | undefined {
  // These paths are only read in kube mode (flannel-facts §1.1; k3s runs flannel with its kube subnet manager).
  return /kube-flannel\/net-conf\.json$|rancher\/k3s\/agent\/etc\/flannel\/net-conf\.json$/.test(
    fileName.replace(/\\/g, '/'),
  )
    ? 'kube'
    : undefined
}

/** JSON that is a Kubernetes object (ConfigMap, List, ...) rather than net-conf.json itself. */
function isKubeJson(text: string): boolean {
  const r = parseGoJson(text)
  if (r.ok) {
    if (r.value.kind !== 'object') return false
    const keys = new Set(r.value.entries.map((e) => e.key))
    return keys.has('apiVersion') || keys.has('kind') || (keys.has('data') && keys.has('metadata'))
  }
  return /"(apiVersion|kind)"\s*:\s*"/.test(text) && /"net-conf\.json"\s*:/.test(text)
}

function manifestMode(info: FlannelManifestInfo): 'kube' | 'etcd' {
  if (info.daemonSets.length === 0) return 'kube'
  return info.daemonSets.some((d) => d.args.some((a) => /^--?kube-subnet-mgr(=true)?$/.test(a)))
    ? 'kube'
    : 'etcd'
}

/**
 * Read net-conf.json from a file: net-conf.json itself, the kube-flannel-cfg ConfigMap (YAML or JSON), or
 * a whole manifest. JSON errors inside net-conf are a result, not an exception; a file that is itself
 * broken YAML, or holds no `data["net-conf.json"]`, throws ParseError.
 */
export function netConfFromFile(text: string, fileName: string): NetConfFact {
  const first = firstSignificant(text)
  if ((first === '{' || first === '[' || first === '') && !isKubeJson(text)) {
    const fact: NetConfFact = {
      source: fileName,
      file: fileName,
      text,
      lineOffset: 0,
      columnOffset: 0,
      result: parseNetConf(text),
    }
    const mode = fileMode(fileName)
    if (mode) fact.mode = mode
    return fact
  }
  const docs = parseYamlDocs(text, fileName)
  const found = findConfigMapKey(docs, NET_CONF_KEY)
  if (!found)
    throw new ParseError(
      `${fileName} holds no ConfigMap with data["${NET_CONF_KEY}"]`,
      undefined,
      `capture it with kubectl -n kube-flannel get configmap ${FLANNEL_CM} -o yaml, or pass net-conf.json itself`,
    )
  const value = String(found.value.value)
  const pos = new Positions(text, 0, 0)
  const place = placement(text, pos, found.value)
  const fact: NetConfFact = {
    source: `ConfigMap ${cmLabel(found)} in ${fileName}`,
    file: fileName,
    text: value,
    lineOffset: place.lineOffset,
    columnOffset: place.columnOffset,
    result: parseNetConf(value, {lineOffset: place.lineOffset, columnOffset: place.columnOffset}),
  }
  const info = manifestInfoFromDocs(docs)
  fact.mode = manifestMode(info)
  if (info.daemonSets.length > 0) fact.daemonSets = info.daemonSets.map((d) => d.name)
  const cm: {name: string; namespace?: string} = {name: found.name ?? FLANNEL_CM}
  if (found.namespace !== undefined) cm.namespace = found.namespace
  fact.configMap = cm
  if (place.positionsInValue) {
    fact.positionsInValue = true
    const at = found.value.range ? pos.at(found.value.range[0]).line : undefined
    if (at !== undefined) fact.source += ` (value at line ${at}; positions count inside the value)`
  }
  return fact
}

/** `data["cni-conf.json"]` of the flannel ConfigMap in a ConfigMap or manifest file, judged as Go reads JSON. */
export function cniConfFromManifest(text: string, fileName: string): CniConfigFile {
  const docs = parseYamlDocs(text, fileName)
  const found = findConfigMapKey(docs, CNI_CONF_KEY)
  if (!found)
    throw new ParseError(
      `${fileName} holds no ConfigMap with data["${CNI_CONF_KEY}"]`,
      undefined,
      `capture it with kubectl -n kube-flannel get configmap ${FLANNEL_CM} -o yaml`,
    )
  const value = String(found.value.value)
  const place = placement(text, new Positions(text, 0, 0), found.value)
  const out: CniConfigFile = {
    name: `${CNI_CONF_KEY} (ConfigMap ${cmLabel(found)} in ${fileName})`,
    text: value,
  }
  const r = parseGoJson(value, {lineOffset: place.lineOffset, columnOffset: place.columnOffset})
  if (r.ok) out.json = jsonToValue(r.value)
  else
    out.error = `line ${r.error.line}, column ${r.error.column}: ${r.error.message} (${r.error.flannelMessage})`
  return out
}

export interface FlannelDaemonSet {
  name: string
  namespace?: string
  /** Images of init containers and containers, in manifest order. */
  images: string[]
  /** The flanneld container's command followed by its args. */
  args: string[]
  /** `kubernetes.io/os` / `beta.kubernetes.io/arch` style node selection, when set. */
  nodeSelector?: Record<string, string>
}

export interface FlannelManifestInfo {
  /** Namespace of the flannel DaemonSet (else of the ConfigMap). */
  namespace?: string
  daemonSet?: string
  daemonSets: FlannelDaemonSet[]
  /** Every image of the flannel DaemonSets, without repeats. */
  images: string[]
  /** The first flannel DaemonSet's flanneld command + args. */
  args: string[]
  configMap?: {name: string; namespace?: string}
}

/** The items of a YAML sequence; none for anything else. */
const items = (n: YNode): unknown[] => (isSeq(n) ? n.items : [])

function strings(n: YNode): string[] {
  return items(n)
    .map((x) => str(x))
    .filter((x): x is string => x !== undefined)
}

function manifestInfoFromDocs(docs: Document.Parsed[]): FlannelManifestInfo {
  const info: FlannelManifestInfo = {daemonSets: [], images: [], args: []}
  for (const o of objects(docs)) {
    const kind = str(getIn(o, 'kind'))
    const name = str(getIn(o, 'metadata', 'name'))
    const ns = str(getIn(o, 'metadata', 'namespace'))
    if (kind === 'ConfigMap' && getIn(o, 'data', NET_CONF_KEY) !== undefined && !info.configMap) {
      info.configMap = {name: name ?? FLANNEL_CM}
      if (ns !== undefined) info.configMap.namespace = ns
    }
    if (kind !== 'DaemonSet' || name === undefined) continue
    const podSpec = getIn(o, 'spec', 'template', 'spec')
    const containers = items(getIn(podSpec, 'containers'))
    const images = [...items(getIn(podSpec, 'initContainers')), ...containers]
      .map((c) => str(getIn(c, 'image')))
      .filter((x): x is string => x !== undefined)
    const main = containers.find((c) =>
      [...strings(getIn(c, 'command')), ...strings(getIn(c, 'args'))].some((a) => /flanneld/.test(a)),
    )
    const isFlannel = main !== undefined || images.some((i) => /flannel/.test(i))
    if (!isFlannel) continue
    const ds: FlannelDaemonSet = {
      name,
      images,
      args: main ? [...strings(getIn(main, 'command')), ...strings(getIn(main, 'args'))] : [],
    }
    if (ns !== undefined) ds.namespace = ns
    const sel = getIn(podSpec, 'nodeSelector')
    if (isMap(sel)) {
      const m: Record<string, string> = {}
      for (const p of (sel as YAMLMap).items) {
        const k = str(p.key)
        const v = str(p.value)
        if (k !== undefined && v !== undefined) m[k] = v
      }
      ds.nodeSelector = m
    }
    info.daemonSets.push(ds)
  }
  const firstDs = info.daemonSets[0]
  if (firstDs) {
    info.daemonSet = firstDs.name
    if (firstDs.namespace !== undefined) info.namespace = firstDs.namespace
    info.args = firstDs.args
  } else if (info.configMap?.namespace !== undefined) info.namespace = info.configMap.namespace
  info.images = [...new Set(info.daemonSets.flatMap((d) => d.images))]
  return info
}

/** Namespace, DaemonSet(s), images and flanneld args of a kube-flannel manifest (YAML or JSON). */
export function flannelManifestInfo(text: string, fileName = 'manifest'): FlannelManifestInfo {
  return manifestInfoFromDocs(parseYamlDocs(text, fileName))
}

// ---------------------------------------------------------------------------------------------------
// Helpers the netconf checks share: quoting lines as written, and how to change the config

/** The text of a source-file line of the net-conf (as written: a YAML block's indentation put back). */
export function netConfSourceLine(fact: NetConfFact, line: number): string | undefined {
  const li = line - fact.lineOffset - 1
  const lines = fact.text.split('\n')
  const s = lines[li]
  if (s === undefined) return undefined
  return ' '.repeat(fact.columnOffset) + s.replace(/\r$/, '')
}

/** `N: text` evidence lines for the given source-file lines (unknown lines are skipped). */
export function quoteLines(fact: NetConfFact, lines: readonly number[]): string[] {
  const out: string[] = []
  for (const l of [...new Set(lines)].sort((a, b) => a - b)) {
    const s = netConfSourceLine(fact, l)
    if (s !== undefined) out.push(`${l}: ${s}`)
  }
  return out
}

/** Commands that edit the config where it lives and make flannel read it again (it reads it once at start). */
export function applyCommands(fact: NetConfFact): string[] {
  if (fact.configMap) {
    const ns = fact.configMap.namespace ?? 'kube-flannel'
    const edit =
      fact.file && !fact.file.includes('kubernetes/kube-flannel-cfg')
        ? `kubectl apply -f ${fact.file}`
        : `kubectl -n ${ns} edit configmap ${fact.configMap.name}`
    // Several per-architecture DaemonSets (flannel <= v0.12): their pods share the label app=flannel.
    const ds = fact.daemonSets ?? []
    const restart =
      ds.length > 1
        ? `kubectl -n ${ns} delete pod -l app=flannel`
        : `kubectl -n ${ns} rollout restart daemonset ${ds[0] ?? 'kube-flannel-ds'}`
    return [edit, restart]
  }
  if (/rancher\/k3s/.test(fact.source))
    return [
      '# k3s writes this file from its --flannel-backend / --flannel-conf options: change them in /etc/rancher/k3s/config.yaml',
      'systemctl restart k3s',
    ]
  return [
    `# edit ${fact.file ?? fact.source} (in a cluster: kubectl -n kube-flannel edit configmap kube-flannel-cfg)`,
    'kubectl -n kube-flannel rollout restart daemonset kube-flannel-ds',
  ]
}
