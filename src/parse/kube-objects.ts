/**
 * Kubernetes objects around flannel other than Nodes: the DaemonSet with its pods
 * (`kubectl -n kube-flannel get ds,pods -l app=flannel -o json`) and the RBAC objects that name the flannel
 * ServiceAccount (ClusterRoles, Roles, their bindings, and SubjectAccessReview answers). Both accept JSON or
 * YAML, a `List` (or any `*List`), a single object, several YAML documents (a whole manifest such as
 * kube-flannel.yml, whose other kinds are ignored), or a JSON array of objects.
 */
import type {
  AccessReview,
  FlannelDaemonSet,
  FlannelRbac,
  KubeContainerStatus,
  KubePod,
  RbacBinding,
  RbacRole,
  RbacRule,
  RbacSubject,
} from '../model.js'
import {ParseError} from './errors.js'
import {asStr, isObj, readJsonOrYaml, type Obj} from './kube-docs.js'

export const DAEMONSET_HINT =
  'kubectl -n kube-flannel get ds,pods -l app=flannel -o json > kubernetes/daemonset.json (kube-system for flannel ≤ v0.18)'
export const RBAC_HINT =
  'kubectl get clusterroles,clusterrolebindings -o json > kubernetes/rbac.json (or add the ClusterRole flannel and its binding only)'

const obj = (v: unknown): Obj => (isObj(v) ? v : {})
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : [])
const strList = (v: unknown): string[] =>
  arr(v)
    .map(asStr)
    .filter((x): x is string => x !== undefined)

/** A non-negative integer from a number or a numeric string, else `undefined`. */
function asInt(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : NaN
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined
}

function asBool(v: unknown): boolean {
  return v === true || v === 'true' || v === 'True'
}

/** Every document of a JSON or YAML text, as plain values. */
function readDocuments(raw: string, what: string, hint: string): unknown[] {
  const text = raw.replace(/^\ufeff/, '')
  if (text.trim() === '') throw new ParseError(`the ${what} file is empty`, undefined, hint)
  return readJsonOrYaml(text, hint)
}

/** Flatten Lists and arrays into objects with a `kind` (or at least `metadata`). */
function flatten(v: unknown, out: Obj[], depth = 0): void {
  if (v === null || v === undefined || depth > 4) return
  if (Array.isArray(v)) {
    for (const x of v) flatten(x, out, depth + 1)
    return
  }
  if (!isObj(v)) return
  const kind = asStr(v['kind'])
  if (Array.isArray(v['items']) && (kind === undefined || kind.endsWith('List'))) {
    for (const x of v['items']) flatten(x, out, depth + 1)
    return
  }
  out.push(v)
}

/** The Kubernetes objects of a JSON/YAML text (Lists flattened). */
function readKubeObjects(raw: string, what: string, hint: string): Obj[] {
  const out: Obj[] = []
  for (const d of readDocuments(raw, what, hint)) flatten(d, out)
  return out
}

// ---- DaemonSet and pods ---------------------------------------------------------------------------

const isFlannelName = (s: string | undefined): boolean => s !== undefined && /flannel/.test(s)

function isFlannelObj(o: Obj): boolean {
  const meta = obj(o['metadata'])
  const labels = obj(meta['labels'])
  return labels['app'] === 'flannel' || isFlannelName(asStr(meta['name']))
}

function terminated(v: unknown): KubeContainerStatus['lastTerminated'] | undefined {
  if (!isObj(v)) return undefined
  const t: NonNullable<KubeContainerStatus['lastTerminated']> = {}
  const code = typeof v['exitCode'] === 'number' ? v['exitCode'] : Number(asStr(v['exitCode']) ?? NaN)
  if (Number.isSafeInteger(code)) t.exitCode = code
  const reason = asStr(v['reason'])
  if (reason !== undefined) t.reason = reason
  const message = asStr(v['message'])
  if (message !== undefined) t.message = message
  const finishedAt = asStr(v['finishedAt'])
  if (finishedAt !== undefined) t.finishedAt = finishedAt
  return t
}

function containerStatus(
  v: unknown,
  init: boolean,
  images: Map<string, string>,
): KubeContainerStatus | undefined {
  if (!isObj(v)) return undefined
  const name = asStr(v['name'])
  if (name === undefined) return undefined
  const state = obj(v['state'])
  const c: KubeContainerStatus = {
    name,
    init,
    ready: asBool(v['ready']),
    restarts: asInt(v['restartCount']) ?? 0,
    state: isObj(state['running'])
      ? 'running'
      : isObj(state['waiting'])
        ? 'waiting'
        : isObj(state['terminated'])
          ? 'terminated'
          : 'unknown',
  }
  const image = asStr(v['image']) ?? images.get(name)
  if (image !== undefined) c.image = image
  const waiting = obj(state['waiting'])
  const wr = asStr(waiting['reason'])
  if (wr !== undefined) c.waitingReason = wr
  const wm = asStr(waiting['message'])
  if (wm !== undefined) c.waitingMessage = wm
  const last = terminated(obj(v['lastState'])['terminated']) ?? terminated(state['terminated'])
  if (last !== undefined) c.lastTerminated = last
  return c
}

function toPod(o: Obj): KubePod | undefined {
  const meta = obj(o['metadata'])
  const spec = obj(o['spec'])
  const status = obj(o['status'])
  const name = asStr(meta['name'])
  if (name === undefined || name === '') return undefined
  const images = new Map<string, string>()
  for (const c of [...arr(spec['initContainers']), ...arr(spec['containers'])]) {
    const n = asStr(obj(c)['name'])
    const i = asStr(obj(c)['image'])
    if (n !== undefined && i !== undefined) images.set(n, i)
  }
  const containers: KubeContainerStatus[] = []
  for (const c of arr(status['initContainerStatuses'])) {
    const s = containerStatus(c, true, images)
    if (s) containers.push(s)
  }
  for (const c of arr(status['containerStatuses'])) {
    const s = containerStatus(c, false, images)
    if (s) containers.push(s)
  }
  const phase = asStr(status['phase'])
  const main = containers.filter((c) => !c.init)
  const readyCond = arr(status['conditions']).find((c) => isObj(c) && c['type'] === 'Ready')
  const ready = isObj(readyCond)
    ? asBool(readyCond['status'])
    : phase === 'Running' && main.length > 0 && main.every((c) => c.ready)
  const pod: KubePod = {
    name,
    ready,
    restarts: containers.reduce((n, c) => n + c.restarts, 0),
    containers,
    raw: '',
  }
  const ns = asStr(meta['namespace'])
  if (ns !== undefined) pod.namespace = ns
  const node = asStr(spec['nodeName'])
  if (node !== undefined && node !== '') pod.node = node
  if (phase !== undefined) pod.phase = phase
  const reason = containers.find(
    (c) => c.waitingReason !== undefined && c.waitingReason !== 'PodInitializing',
  )
  const initWaiting = reason?.init ? 'Init:' : ''
  pod.raw = [
    name,
    pod.node ? `node=${pod.node}` : 'node=<none>',
    phase ?? 'phase=<none>',
    `ready=${main.filter((c) => c.ready).length}/${main.length}`,
    ...(reason?.waitingReason ? [`${initWaiting}${reason.waitingReason}`] : []),
    `restarts=${pod.restarts}`,
  ].join(' ')
  return pod
}

/** Images and flanneld command line of a DaemonSet's pod template. */
function template(ds: Obj): {images: string[]; args: string[]; serviceAccount?: string} {
  const spec = obj(obj(obj(ds['spec'])['template'])['spec'])
  const images: string[] = []
  for (const c of [...arr(spec['initContainers']), ...arr(spec['containers'])]) {
    const i = asStr(obj(c)['image'])
    if (i !== undefined && !images.includes(i)) images.push(i)
  }
  const containers = arr(spec['containers']).map(obj)
  const main =
    containers.find((c) => c['name'] === 'kube-flannel') ??
    containers.find((c) => strList(c['command']).some((x) => x.includes('flanneld'))) ??
    containers[0]
  const args = main ? [...strList(main['command']), ...strList(main['args'])] : []
  const out: {images: string[]; args: string[]; serviceAccount?: string} = {images, args}
  const sa = asStr(spec['serviceAccountName']) ?? asStr(spec['serviceAccount'])
  if (sa !== undefined) out.serviceAccount = sa
  return out
}

/**
 * The flannel DaemonSet and its pods. Several flannel DaemonSets (the per-architecture ones before v0.13)
 * are added up; pods are those labelled `app=flannel` (or named `*flannel*`), or every pod when none is.
 */
export function parseDaemonSet(raw: string): FlannelDaemonSet {
  const objs = readKubeObjects(raw, 'DaemonSet', DAEMONSET_HINT)
  const allDs = objs.filter((o) => o['kind'] === 'DaemonSet')
  const flannelDs = allDs.filter(isFlannelObj)
  const dss = flannelDs.length > 0 ? flannelDs : allDs
  const allPods = objs.filter((o) => o['kind'] === 'Pod')
  const flannelPods = allPods.filter(isFlannelObj)
  const podObjs = flannelPods.length > 0 ? flannelPods : allPods
  if (dss.length === 0 && podObjs.length === 0) {
    const kinds = [...new Set(objs.map((o) => asStr(o['kind']) ?? '(no kind)'))]
    throw new ParseError(
      `expected the flannel DaemonSet or its pods, found ${kinds.length > 0 ? kinds.join(', ') : 'no Kubernetes objects'}`,
      undefined,
      DAEMONSET_HINT,
    )
  }
  const pods = podObjs.map(toPod).filter((p): p is KubePod => p !== undefined)
  const out: FlannelDaemonSet = {desired: 0, ready: 0, available: 0, updated: 0, pods, images: [], args: []}
  const withStatus = dss.filter((d) => asInt(obj(d['status'])['desiredNumberScheduled']) !== undefined)
  if (withStatus.length > 0) {
    for (const d of withStatus) {
      const s = obj(d['status'])
      out.desired += asInt(s['desiredNumberScheduled']) ?? 0
      out.ready += asInt(s['numberReady']) ?? 0
      out.available += asInt(s['numberAvailable']) ?? 0
      out.updated += asInt(s['updatedNumberScheduled']) ?? 0
    }
  } else {
    out.countsFromPods = true
    out.desired = pods.length
    out.ready = pods.filter((p) => p.ready).length
    out.available = out.ready
    out.updated = pods.length
  }
  const first = dss[0]
  if (first) {
    const meta = obj(first['metadata'])
    const name = asStr(meta['name'])
    if (name !== undefined)
      out.name = dss.length > 1 ? dss.map((d) => asStr(obj(d['metadata'])['name'])).join(',') : name
    const ns = asStr(meta['namespace'])
    if (ns !== undefined) out.namespace = ns
    for (const d of dss) {
      const t = template(d)
      for (const i of t.images) if (!out.images.includes(i)) out.images.push(i)
      if (out.args.length === 0) out.args = t.args
      if (out.serviceAccount === undefined && t.serviceAccount !== undefined)
        out.serviceAccount = t.serviceAccount
    }
    const where = `${out.namespace ?? '<namespace>'}/${out.name ?? '<name>'}`
    out.raw = out.countsFromPods
      ? `daemonset ${where} (no status in the evidence)`
      : `daemonset ${where} desired=${out.desired} ready=${out.ready} available=${out.available} up-to-date=${out.updated}`
  } else {
    const ns = pods.find((p) => p.namespace !== undefined)?.namespace
    if (ns !== undefined) out.namespace = ns
  }
  return out
}

// ---- RBAC -----------------------------------------------------------------------------------------

function toRule(v: unknown): RbacRule {
  const r = obj(v)
  return {
    apiGroups: strList(r['apiGroups']),
    resources: strList(r['resources']),
    verbs: strList(r['verbs']),
    resourceNames: strList(r['resourceNames']),
    nonResourceURLs: strList(r['nonResourceURLs']),
  }
}

function toReview(o: Obj): AccessReview | undefined {
  const spec = obj(o['spec'])
  const ra = obj(spec['resourceAttributes'])
  const verb = asStr(ra['verb'])
  const resource = asStr(ra['resource'])
  if (verb === undefined || resource === undefined) return undefined
  const status = obj(o['status'])
  const r: AccessReview = {
    verb,
    resource,
    group: asStr(ra['group']) ?? '',
    allowed: asBool(status['allowed']),
    raw: '',
  }
  const user = asStr(spec['user'])
  if (user !== undefined) r.user = user
  const sub = asStr(ra['subresource'])
  if (sub !== undefined && sub !== '') r.subresource = sub
  const ns = asStr(ra['namespace']) ?? asStr(obj(o['metadata'])['namespace'])
  if (ns !== undefined && ns !== '') r.namespace = ns
  const name = asStr(ra['name'])
  if (name !== undefined && name !== '') r.name = name
  if (asBool(status['denied'])) r.denied = true
  const reason = asStr(status['reason']) ?? asStr(status['evaluationError'])
  if (reason !== undefined && reason !== '') r.reason = reason
  const res = r.subresource ? `${resource}/${r.subresource}` : resource
  r.raw =
    `can-i ${verb} ${res}${r.namespace ? ` -n ${r.namespace}` : ''} as ${user ?? '<self>'}: ${r.allowed ? 'yes' : 'no'}` +
    (r.reason ? ` (${r.reason})` : '')
  return r
}

/** ClusterRoles/Roles, their bindings and SubjectAccessReviews; any other kind is ignored. */
export function parseRbac(raw: string): FlannelRbac {
  const objs = readKubeObjects(raw, 'RBAC', RBAC_HINT)
  const out: FlannelRbac = {roles: [], bindings: [], reviews: []}
  for (const o of objs) {
    const kind = asStr(o['kind'])
    const meta = obj(o['metadata'])
    const name = asStr(meta['name'])
    const ns = asStr(meta['namespace'])
    if ((kind === 'ClusterRole' || kind === 'Role') && name !== undefined) {
      const role: RbacRole = {kind, name, rules: arr(o['rules']).map(toRule)}
      if (kind === 'Role' && ns !== undefined) role.namespace = ns
      if (isObj(o['aggregationRule'])) role.aggregated = true
      out.roles.push(role)
    } else if ((kind === 'ClusterRoleBinding' || kind === 'RoleBinding') && name !== undefined) {
      const ref = obj(o['roleRef'])
      const subjects: RbacSubject[] = []
      for (const s of arr(o['subjects'])) {
        if (!isObj(s)) continue
        const sk = asStr(s['kind'])
        const sn = asStr(s['name'])
        if (sk === undefined || sn === undefined) continue
        const subj: RbacSubject = {kind: sk, name: sn}
        const sns = asStr(s['namespace'])
        if (sns !== undefined) subj.namespace = sns
        subjects.push(subj)
      }
      const b: RbacBinding = {
        kind,
        name,
        roleRef: {kind: asStr(ref['kind']) ?? 'ClusterRole', name: asStr(ref['name']) ?? ''},
        subjects,
      }
      if (kind === 'RoleBinding' && ns !== undefined) b.namespace = ns
      out.bindings.push(b)
    } else if (kind !== undefined && /SubjectAccessReview$/.test(kind)) {
      const r = toReview(o)
      if (r) out.reviews.push(r)
    }
  }
  if (out.roles.length === 0 && out.bindings.length === 0 && out.reviews.length === 0) {
    const kinds = [...new Set(objs.map((o) => asStr(o['kind']) ?? '(no kind)'))]
    throw new ParseError(
      `expected ClusterRoles, bindings or SubjectAccessReviews, found ${kinds.length > 0 ? kinds.join(', ') : 'no Kubernetes objects'}`,
      undefined,
      RBAC_HINT,
    )
  }
  return out
}
