/**
 * A small Kubernetes API server for tests: HTTPS with a throwaway CA (made with the openssl binary),
 * bearer-token auth, RBAC evaluation over the (Cluster)Roles and their bindings it holds, and the real
 * wire shapes (lists with limit/continue, Status objects for 401/403/404/410, discovery that kubectl
 * accepts) for the calls flannelctl makes. `pods/exec` speaks the WebSocket channel protocols v5 and v4
 * as kube-apiserver (v5, its stream translator) and the kubelet (v4, proxied) do; the command itself is
 * run by `store.execHandler` (see pod-sim.ts). SPDY is not spoken: a SPDY upgrade gets a Status.
 */
import {execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:https'
import {STATUS_CODES, type IncomingMessage, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {Duplex} from 'node:stream'

import {WebSocketServer, type WebSocket} from 'ws'

import type {AccessAttributes, AccessReviewResult, KubeObject, KubeStatus} from '../../src/k8s/client.js'

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
const clone = <T>(v: T): T => structuredClone(v)

export interface PolicyRule {
  apiGroups?: string[]
  resources?: string[]
  verbs: string[]
  resourceNames?: string[]
  nonResourceURLs?: string[]
}
export interface ClusterRole {
  metadata: {name: string}
  rules: PolicyRule[]
}
export interface Subject {
  kind: 'User' | 'Group' | 'ServiceAccount'
  name: string
  namespace?: string
}
export interface ClusterRoleBinding {
  metadata: {name: string}
  roleRef: {kind: 'ClusterRole'; name: string}
  subjects: Subject[]
}
/** A namespaced Role: its rules count only through RoleBindings of its own namespace. */
export interface Role {
  metadata: {name: string; namespace: string}
  rules: PolicyRule[]
}
/** A RoleBinding grants its role's rules in its own namespace only (a ClusterRole, or a Role of that namespace). */
export interface RoleBinding {
  metadata: {name: string; namespace: string}
  roleRef: {kind: 'ClusterRole' | 'Role'; name: string}
  subjects: Subject[]
}
export interface UserInfo {
  username: string
  groups: string[]
}

/** One command to run in a container, as the exec subresource hands it to the container runtime. */
export interface ExecRequest {
  namespace: string
  pod: string
  container: string
  command: string[]
  /** Everything the client sent on the stdin channel (only with `stdin=true`). */
  stdin?: string
  user: string
  /** Aborted when the client goes away before the command ends (or the server closes). */
  signal?: AbortSignal
}
/** How a command ended; `notFound` names the binary the image does not have (the runtime cannot start it). */
export type ExecOutcome = {stdout: string; stderr: string; exitCode: number} | {notFound: string}
export type ExecHandler = (r: ExecRequest) => Promise<ExecOutcome>

export type RbacResource = 'clusterroles' | 'clusterrolebindings' | 'rolebindings' | 'roles'

/** Groups the API server gives a user name (service accounts get their two SA groups). */
export function groupsOf(username: string, extra: string[] = []): string[] {
  const sa = /^system:serviceaccount:([^:]+):[^:]+$/.exec(username)
  const g = sa ? ['system:serviceaccounts', `system:serviceaccounts:${sa[1]}`] : []
  return [...new Set([...extra, ...g, 'system:authenticated'])]
}

export function statusObject(
  code: number,
  reason: string,
  message: string,
  details?: KubeStatus['details'],
): KubeStatus {
  const s: KubeStatus = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
  }
  if (details !== undefined) s.details = details
  return s
}

export const notFound = (resource: string, name: string, group = ''): KubeStatus =>
  statusObject(404, 'NotFound', `${resource}${group ? '.' + group : ''} "${name}" not found`, {
    name,
    ...(group ? {group} : {}),
    kind: resource,
  })

export function forbidden(user: string, a: AccessAttributes): KubeStatus {
  const res = a.subresource ? `${a.resource}/${a.subresource}` : (a.resource ?? '')
  const grp = a.group ?? ''
  const who = `${a.resource}${grp ? '.' + grp : ''}`
  const subject = a.name !== undefined ? `${who} "${a.name}"` : who
  const scope = a.namespace !== undefined ? `in the namespace "${a.namespace}"` : 'at the cluster scope'
  const msg = `${subject} is forbidden: User "${user}" cannot ${a.verb} resource "${res}" in API group "${grp}" ${scope}`
  const details: KubeStatus['details'] = {kind: a.resource ?? ''}
  if (a.name !== undefined) details.name = a.name
  if (grp) details.group = grp
  return statusObject(403, 'Forbidden', msg, details)
}

/** Parses and matches a label selector (`a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x)`). */
export function matchLabels(selector: string, labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {}
  const terms = selector.match(/[^,(]+(\([^)]*\))?/g) ?? []
  for (const raw of terms) {
    const t = raw.trim()
    if (t === '') continue
    let m: RegExpExecArray | null
    if ((m = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(t))) {
      const vals = (m[3] ?? '').split(',').map((v) => v.trim())
      const has = Object.hasOwn(l, m[1] as string) && vals.includes(l[m[1] as string] as string)
      if (m[2] === 'in' ? !has : has) return false
    } else if ((m = /^([^!=]+)!=(.*)$/.exec(t))) {
      if (l[(m[1] as string).trim()] === (m[2] as string).trim()) return false
    } else if ((m = /^([^!=]+)==?(.*)$/.exec(t))) {
      if (l[(m[1] as string).trim()] !== (m[2] as string).trim()) return false
    } else if (t.startsWith('!')) {
      if (Object.hasOwn(l, t.slice(1).trim())) return false
    } else if (!Object.hasOwn(l, t)) return false
  }
  return true
}

const matches = (list: string[] | undefined, v: string): boolean =>
  list !== undefined && (list.includes('*') || list.includes(v))

function ruleAllows(r: PolicyRule, a: AccessAttributes): boolean {
  if (!matches(r.verbs, a.verb)) return false
  if (a.nonResourceURL !== undefined) {
    return (r.nonResourceURLs ?? []).some(
      (u) =>
        u === '*' ||
        u === a.nonResourceURL ||
        (u.endsWith('*') && a.nonResourceURL!.startsWith(u.slice(0, -1))),
    )
  }
  if (!matches(r.apiGroups, a.group ?? '')) return false
  const res = a.subresource ? `${a.resource}/${a.subresource}` : (a.resource ?? '')
  const resOk =
    matches(r.resources, res) ||
    (a.subresource !== undefined && (r.resources ?? []).includes(`*/${a.subresource}`)) ||
    (a.subresource === undefined && false)
  if (!resOk) return false
  if (r.resourceNames !== undefined && r.resourceNames.length > 0)
    return a.name !== undefined && r.resourceNames.includes(a.name)
  return true
}

/** Map-backed cluster state shared by the HTTPS server and fakeKubeClient. */
/** flannel's ClusterRole and its binding to the `flannel` ServiceAccount, as in kube-flannel.yml (flannel-facts §7.2). */
export function addFlannelRbac(s: KubeStore, namespace = 'kube-flannel'): KubeStore {
  s.addClusterRole({
    metadata: {name: 'flannel'},
    rules: [
      {apiGroups: [''], resources: ['pods'], verbs: ['get']},
      {apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch']},
      {apiGroups: [''], resources: ['nodes/status'], verbs: ['patch']},
    ],
  })
  s.addClusterRoleBinding({
    metadata: {name: 'flannel'},
    roleRef: {kind: 'ClusterRole', name: 'flannel'},
    subjects: [{kind: 'ServiceAccount', name: 'flannel', namespace}],
  })
  return s
}

export class KubeStore {
  nodes = new Map<string, KubeObject>()
  /** Keyed `namespace/name`. */
  configMaps = new Map<string, KubeObject>()
  daemonSets = new Map<string, KubeObject>()
  pods = new Map<string, KubeObject>()
  /** Keyed `namespace/pod/container`. */
  logs = new Map<string, {current: string; previous?: string}>()
  clusterRoles = new Map<string, ClusterRole>()
  clusterRoleBindings = new Map<string, ClusterRoleBinding>()
  /** Keyed `namespace/name`. */
  roleBindings = new Map<string, RoleBinding>()
  /** Keyed `namespace/name`. */
  roles = new Map<string, Role>()
  /** Runs the commands of `pods/exec` (HTTPS server and fakeKubeClient alike); unset, exec fails. */
  execHandler?: ExecHandler
  /** Bearer token → user. */
  tokens = new Map<string, UserInfo>()
  version = {
    major: '1',
    minor: '31',
    gitVersion: 'v1.31.4',
    gitCommit: 'a78aa47129b8539636eb86a9d00e31b2720fe06b',
    gitTreeState: 'clean',
    buildDate: '2024-12-10T11:37:30Z',
    goVersion: 'go1.22.10',
    compiler: 'gc',
    platform: 'linux/amd64',
  }
  private rv = 1000
  /** Continue tokens issued at or before this revision have expired. */
  compactedRv = 0

  nextRv(): string {
    this.rv += 1
    return String(this.rv)
  }
  get currentRv(): string {
    return String(this.rv)
  }
  /** Expire every continue token issued so far (as etcd compaction does). */
  compact(): void {
    this.compactedRv = this.rv
    this.rv += 1
  }

  private stamp(o: KubeObject, namespace?: string): KubeObject {
    const c = clone(o)
    const meta: Obj = isObj(c.metadata) ? c.metadata : {}
    if (namespace !== undefined) meta['namespace'] = namespace
    meta['resourceVersion'] = this.nextRv()
    meta['uid'] ??= `uid-${this.rv}`
    meta['creationTimestamp'] ??= '2025-01-01T00:00:00Z'
    c.metadata = meta
    return c
  }
  private nameOf(o: KubeObject): string {
    const n = o.metadata?.name
    if (typeof n !== 'string' || n === '') throw new Error('object without metadata.name')
    return n
  }
  addNode(o: KubeObject): void {
    this.nodes.set(this.nameOf(o), this.stamp(o))
  }
  addConfigMap(ns: string, o: KubeObject): void {
    this.configMaps.set(`${ns}/${this.nameOf(o)}`, this.stamp(o, ns))
  }
  addDaemonSet(ns: string, o: KubeObject): void {
    this.daemonSets.set(`${ns}/${this.nameOf(o)}`, this.stamp(o, ns))
  }
  addPod(ns: string, o: KubeObject): void {
    this.pods.set(`${ns}/${this.nameOf(o)}`, this.stamp(o, ns))
  }
  setLog(ns: string, pod: string, container: string, current: string, previous?: string): void {
    this.logs.set(`${ns}/${pod}/${container}`, previous !== undefined ? {current, previous} : {current})
  }
  addClusterRole(r: ClusterRole): void {
    this.clusterRoles.set(r.metadata.name, clone(r))
  }
  addClusterRoleBinding(b: ClusterRoleBinding): void {
    this.clusterRoleBindings.set(b.metadata.name, clone(b))
  }
  addRoleBinding(b: RoleBinding): void {
    this.roleBindings.set(`${b.metadata.namespace}/${b.metadata.name}`, clone(b))
  }
  addRole(r: Role): void {
    this.roles.set(`${r.metadata.namespace}/${r.metadata.name}`, clone(r))
  }
  addToken(token: string, username: string, groups: string[] = []): void {
    this.tokens.set(token, {username, groups: groupsOf(username, groups)})
  }

  /**
   * RBAC evaluation as the API server's authorizers do it: system:masters is allowed ahead of RBAC (the
   * privileged-group authorizer, which gives no reason); then ClusterRoleBindings, then the RoleBindings
   * of the request's namespace, a Role reference resolving in the binding's own namespace. The reason
   * names the binding and the subject that matched, as rbac's describers print them.
   */
  authorize(user: UserInfo, a: AccessAttributes): AccessReviewResult {
    if (user.groups.includes('system:masters')) return {allowed: true}
    const saNamespace = (s: Subject, bindingNs: string): string =>
      s.namespace !== undefined && s.namespace !== '' ? s.namespace : bindingNs
    const subjectFor = (subjects: Subject[], bindingNs: string): Subject | undefined =>
      subjects.find((s) =>
        s.kind === 'User'
          ? s.name === user.username
          : s.kind === 'Group'
            ? user.groups.includes(s.name)
            : saNamespace(s, bindingNs) !== '' &&
              user.username === `system:serviceaccount:${saNamespace(s, bindingNs)}:${s.name}`,
      )
    const describe = (s: Subject, bindingNs: string): string =>
      s.kind === 'ServiceAccount'
        ? `ServiceAccount "${s.name}/${saNamespace(s, bindingNs)}"`
        : `${s.kind} "${s.name}"`
    for (const b of this.clusterRoleBindings.values()) {
      const subject = subjectFor(b.subjects, '')
      if (subject === undefined) continue
      const role = this.clusterRoles.get(b.roleRef.name)
      if (role?.rules.some((r) => ruleAllows(r, a)))
        return {
          allowed: true,
          reason: `RBAC: allowed by ClusterRoleBinding "${b.metadata.name}" of ClusterRole "${role.metadata.name}" to ${describe(subject, '')}`,
        }
    }
    if (a.namespace !== undefined && a.nonResourceURL === undefined)
      for (const b of this.roleBindings.values()) {
        const ns = b.metadata.namespace
        if (ns !== a.namespace) continue
        const subject = subjectFor(b.subjects, ns)
        if (subject === undefined) continue
        const role =
          b.roleRef.kind === 'Role'
            ? this.roles.get(`${ns}/${b.roleRef.name}`)
            : this.clusterRoles.get(b.roleRef.name)
        if (role?.rules.some((r) => ruleAllows(r, a)))
          return {
            allowed: true,
            reason: `RBAC: allowed by RoleBinding "${b.metadata.name}/${ns}" of ${b.roleRef.kind} "${b.roleRef.name}" to ${describe(subject, ns)}`,
          }
      }
    return {allowed: false}
  }

  /** The RBAC objects as list items (name order; RoleBindings and Roles of one namespace). */
  rbacList(resource: RbacResource, ns?: string): KubeObject[] {
    const map: Map<string, object> =
      resource === 'clusterroles'
        ? this.clusterRoles
        : resource === 'clusterrolebindings'
          ? this.clusterRoleBindings
          : resource === 'rolebindings'
            ? this.roleBindings
            : this.roles
    return [...map.entries()]
      .filter(([k]) => ns === undefined || k.startsWith(ns + '/'))
      .sort(([x], [y]) => (x < y ? -1 : 1))
      .map(([, o]) => clone(o) as KubeObject)
  }

  /** Strategic-merge / JSON merge patch of a node (maps merge, null removes). */
  patchNode(name: string, patch: unknown): KubeObject | undefined {
    const cur = this.nodes.get(name)
    if (cur === undefined) return undefined
    const next = mergePatch(clone(cur), patch) as KubeObject
    if (isObj(next.metadata)) next.metadata['resourceVersion'] = this.nextRv()
    this.nodes.set(name, next)
    return clone(next)
  }

  /** One page of nodes in name order; `after` is the last name of the previous page. */
  nodePage(limit: number | undefined, after: string | undefined): {items: KubeObject[]; last?: string} {
    const names = [...this.nodes.keys()].sort()
    const start = after === undefined ? 0 : names.findIndex((n) => n > after)
    const rest = start < 0 ? [] : names.slice(start)
    const take = limit !== undefined && limit > 0 ? rest.slice(0, limit) : rest
    const page = {items: take.map((n) => clone(this.nodes.get(n) as KubeObject))}
    return take.length < rest.length ? {...page, last: take[take.length - 1] as string} : page
  }
}

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObj(patch)) return clone(patch)
  const out: Obj = isObj(target) ? target : {}
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$')) continue // strategic-merge directives ($patch, $retainKeys): not needed here
    if (v === null) delete out[k]
    else out[k] = mergePatch(out[k], v)
  }
  return out
}

// ---------------------------------------------------------------------------------------------------
// TLS material

export interface TlsMaterial {
  dir: string
  caCert: string
  cert: string
  key: string
  /** A second CA that did not sign the server certificate (for TLS failure tests). */
  otherCaCert: string
  cleanup(): void
}

export function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], {stdio: 'ignore'})
    return true
  } catch {
    return false
  }
}

export function makeTls(): TlsMaterial {
  const dir = mkdtempSync(join(tmpdir(), 'flt-apiserver-'))
  const run = (args: string[]): void => {
    execFileSync('openssl', args, {cwd: dir, stdio: 'pipe'})
  }
  const ca = (name: string): void =>
    run([
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
    ])
  ca('ca')
  ca('other-ca')
  run([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=kube-apiserver',
  ])
  writeFileSync(
    join(dir, 'ext.cnf'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
  )
  run([
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '2',
    '-extfile',
    'ext.cnf',
  ])
  const read = (f: string): string => readFileSync(join(dir, f), 'utf8')
  return {
    dir,
    caCert: read('ca.crt'),
    cert: read('server.crt'),
    key: read('server.key'),
    otherCaCert: read('other-ca.crt'),
    cleanup: () => rmSync(dir, {recursive: true, force: true}),
  }
}

// ---------------------------------------------------------------------------------------------------
// HTTP server

export interface RecordedRequest {
  method: string
  path: string
  query: URLSearchParams
  contentType?: string
  accept?: string
  user?: string
}

export interface TestApiServer {
  url: string
  port: number
  store: KubeStore
  tls: TlsMaterial
  requests: RecordedRequest[]
  /** Writes a kubeconfig for `token` (CA = the server's, or `caCert`) and returns its path. */
  writeKubeconfig(token: string, opts?: {caCert?: string; server?: string; file?: string}): string
  close(): Promise<void>
}

const CORE_RESOURCES = [
  {
    name: 'nodes',
    singularName: 'node',
    namespaced: false,
    kind: 'Node',
    verbs: ['get', 'list', 'watch', 'patch'],
    shortNames: ['no'],
  },
  {name: 'nodes/status', singularName: '', namespaced: false, kind: 'Node', verbs: ['get', 'patch']},
  {
    name: 'configmaps',
    singularName: 'configmap',
    namespaced: true,
    kind: 'ConfigMap',
    verbs: ['get', 'list'],
    shortNames: ['cm'],
  },
  {
    name: 'pods',
    singularName: 'pod',
    namespaced: true,
    kind: 'Pod',
    verbs: ['get', 'list'],
    shortNames: ['po'],
  },
  {name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get']},
  {name: 'pods/exec', singularName: '', namespaced: true, kind: 'PodExecOptions', verbs: ['create', 'get']},
  {
    name: 'namespaces',
    singularName: 'namespace',
    namespaced: false,
    kind: 'Namespace',
    verbs: ['get', 'list'],
    shortNames: ['ns'],
  },
]
const GROUPS: Record<string, {version: string; resources: Obj[]}> = {
  apps: {
    version: 'v1',
    resources: [
      {
        name: 'daemonsets',
        singularName: 'daemonset',
        namespaced: true,
        kind: 'DaemonSet',
        verbs: ['get', 'list'],
        shortNames: ['ds'],
      },
    ],
  },
  'authorization.k8s.io': {
    version: 'v1',
    resources: [
      {
        name: 'selfsubjectaccessreviews',
        singularName: 'selfsubjectaccessreview',
        namespaced: false,
        kind: 'SelfSubjectAccessReview',
        verbs: ['create'],
      },
      {
        name: 'subjectaccessreviews',
        singularName: 'subjectaccessreview',
        namespaced: false,
        kind: 'SubjectAccessReview',
        verbs: ['create'],
      },
    ],
  },
  'rbac.authorization.k8s.io': {
    version: 'v1',
    resources: [
      {
        name: 'clusterroles',
        singularName: 'clusterrole',
        namespaced: false,
        kind: 'ClusterRole',
        verbs: ['get', 'list'],
      },
      {
        name: 'clusterrolebindings',
        singularName: 'clusterrolebinding',
        namespaced: false,
        kind: 'ClusterRoleBinding',
        verbs: ['get', 'list'],
      },
      {
        name: 'rolebindings',
        singularName: 'rolebinding',
        namespaced: true,
        kind: 'RoleBinding',
        verbs: ['get', 'list'],
      },
      {name: 'roles', singularName: 'role', namespaced: true, kind: 'Role', verbs: ['get', 'list']},
    ],
  },
}

const PATCH_TYPES = ['application/strategic-merge-patch+json', 'application/merge-patch+json']

/** A request the API server refuses with a Status (the fake maps `status` to a KubeError). */
export class HttpFail extends Error {
  constructor(readonly status: KubeStatus) {
    super(status.message)
  }
}

/**
 * The kubelet could not find the container running (pod not Running, container waiting or gone). Over
 * v4 the API server proxies the kubelet's plain-text 500 (`text`); over v5 its stream translator reports
 * the failed SPDY upgrade as an InternalError on the error channel (`status`).
 */
export class KubeletFail extends HttpFail {
  readonly text: string
  constructor(container: string) {
    const text = `container not found ("${container}")`
    super(
      statusObject(500, 'InternalError', `Internal error occurred: unable to upgrade connection: ${text}`),
    )
    this.text = text
  }
}

const isStr = (v: unknown): v is string => typeof v === 'string'
const namesOf = (list: unknown): string[] =>
  (Array.isArray(list) ? list : [])
    .map((c) => (isObj(c) && isStr(c['name']) ? c['name'] : ''))
    .filter((n) => n !== '')

/** The container kubectl picks when none is given: the default-container annotation, else the first one. */
export function kubectlDefaultContainer(pod: KubeObject): string | undefined {
  const spec = isObj(pod['spec']) ? pod['spec'] : {}
  const names = namesOf(spec['containers'])
  const annotated = pod.metadata?.annotations?.['kubectl.kubernetes.io/default-container']
  return annotated !== undefined && names.includes(annotated) ? annotated : names[0]
}

/**
 * The verbs RBAC must allow on `pods/exec`: the HTTP method's verb (a WebSocket upgrade is a GET, so
 * `get`; SPDY is a POST, so `create`), plus `create` for a GET from 1.35 on, where the
 * AuthorizePodWebsocketUpgradeCreatePermission gate (beta, on) adds that check.
 */
export function execVerbs(store: KubeStore, method: 'GET' | 'POST' = 'GET'): string[] {
  if (method === 'POST') return ['create']
  return Number.parseInt(store.version.minor, 10) >= 35 ? ['get', 'create'] : ['get']
}

/** The API server's checks before it proxies an exec (authz, pod, container, node), as kube-apiserver. */
function execApiserverChecks(
  store: KubeStore,
  user: UserInfo,
  ns: string,
  name: string,
  container: string | undefined,
  method: 'GET' | 'POST',
): {container: string; pod: KubeObject} {
  for (const verb of execVerbs(store, method)) {
    const a: AccessAttributes = {verb, resource: 'pods', subresource: 'exec', namespace: ns, name}
    if (!store.authorize(user, a).allowed) throw new HttpFail(forbidden(user.username, a))
  }
  const pod = store.pods.get(`${ns}/${name}`)
  if (pod === undefined) throw new HttpFail(notFound('pods', name))
  const spec = isObj(pod['spec']) ? pod['spec'] : {}
  const containers = namesOf(spec['containers'])
  // Init and ephemeral containers are valid targets too (podutil.VisitContainers order).
  const all = [...namesOf(spec['initContainers']), ...containers, ...namesOf(spec['ephemeralContainers'])]
  let c = container
  if (c === undefined || c === '') {
    if (containers.length === 1) c = containers[0] as string
    else if (containers.length === 0)
      throw new HttpFail(
        statusObject(400, 'BadRequest', `a container name must be specified for pod ${name}`),
      )
    else
      throw new HttpFail(
        statusObject(
          400,
          'BadRequest',
          `a container name must be specified for pod ${name}, choose one of: [${all.join(' ')}]`,
        ),
      )
  } else if (!all.includes(c))
    throw new HttpFail(statusObject(400, 'BadRequest', `container ${c} is not valid for pod ${name}`))
  if (!isStr(spec['nodeName']) || spec['nodeName'] === '')
    throw new HttpFail(statusObject(400, 'BadRequest', `pod ${name} does not have a host assigned`))
  return {container: c, pod}
}

/** The kubelet's check: the pod runs and so does the container. */
function kubeletCheck(pod: KubeObject, container: string): KubeletFail | undefined {
  const spec = isObj(pod['spec']) ? pod['spec'] : {}
  const st = isObj(pod['status']) ? pod['status'] : {}
  const statuses = [st['containerStatuses'], st['initContainerStatuses'], st['ephemeralContainerStatuses']]
    .flatMap((l) => (Array.isArray(l) ? l : []))
    .filter(isObj)
  const entry = statuses.find((c) => c['name'] === container)
  const running =
    entry !== undefined
      ? isObj(entry['state']) && isObj(entry['state']['running'])
      : namesOf(spec['containers']).includes(container)
  return st['phase'] === 'Running' && running ? undefined : new KubeletFail(container)
}

/**
 * Every check a `pods/exec` request passes before its command runs, in the real order: RBAC (403, see
 * execVerbs; `method` GET is a WebSocket client's), the pod (404), the container (400; omitted, the
 * pod's only container, else 400 naming them — kubectl and the adapter pick one themselves), a node
 * (400), then the kubelet's running container (KubeletFail). Throws HttpFail; returns the container.
 */
export function execPreflight(
  store: KubeStore,
  user: UserInfo,
  ns: string,
  pod: string,
  container?: string,
  method: 'GET' | 'POST' = 'GET',
): {container: string} {
  const r = execApiserverChecks(store, user, ns, pod, container, method)
  const k = kubeletCheck(r.pod, r.container)
  if (k !== undefined) throw k
  return {container: r.container}
}

function encodeContinue(rv: string, last: string): string {
  return Buffer.from(JSON.stringify({v: 'meta.k8s.io/v1', rv: Number(rv), start: last + '\u0000'})).toString(
    'base64',
  )
}
function decodeContinue(tok: string): {rv: number; last: string} {
  try {
    const o = JSON.parse(Buffer.from(tok, 'base64').toString('utf8')) as unknown
    if (isObj(o) && typeof o['rv'] === 'number' && typeof o['start'] === 'string')
      return {rv: o['rv'], last: o['start'].endsWith('\u0000') ? o['start'].slice(0, -1) : o['start']}
  } catch {
    // fall through
  }
  throw new HttpFail(
    statusObject(
      400,
      'BadRequest',
      'continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)',
    ),
  )
}

/** Starts the HTTPS API server on 127.0.0.1 (random port) over `store`. */
export async function startApiServer(
  store: KubeStore = new KubeStore(),
  tls: TlsMaterial = makeTls(),
): Promise<TestApiServer> {
  const requests: RecordedRequest[] = []
  const kubeconfigs: string[] = []

  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1')
    const rec: RecordedRequest = {method: req.method ?? 'GET', path: url.pathname, query: url.searchParams}
    const ct = req.headers['content-type']
    if (ct !== undefined) rec.contentType = ct
    if (req.headers.accept !== undefined) rec.accept = req.headers.accept
    requests.push(rec)
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const body = Buffer.concat(chunks).toString('utf8')
    const send = (code: number, obj: unknown, type = 'application/json'): void => {
      const text = typeof obj === 'string' ? obj : JSON.stringify(obj)
      res.writeHead(code, {'Content-Type': type, 'Content-Length': Buffer.byteLength(text)})
      res.end(text)
    }
    try {
      const user = authenticate(req)
      rec.user = user.username
      send(200, route(rec, body, user))
    } catch (e) {
      if (e instanceof HttpFail) send(e.status.code, e.status)
      else if (e instanceof Raw) send(e.code, e.text, e.type)
      else send(500, statusObject(500, 'InternalError', `Internal error occurred: ${String(e)}`))
    }
  }

  /** Bearer token (401), then impersonation (403 unless the caller may impersonate). */
  function authenticate(req: IncomingMessage): UserInfo {
    const auth = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')
    const authUser = auth ? store.tokens.get(auth[1] as string) : undefined
    if (authUser === undefined) throw new HttpFail(statusObject(401, 'Unauthorized', 'Unauthorized'))
    const imp = req.headers['impersonate-user']
    if (typeof imp !== 'string' || imp === '') return authUser
    const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(imp)
    const a: AccessAttributes = sa
      ? {verb: 'impersonate', resource: 'serviceaccounts', namespace: sa[1] as string, name: sa[2] as string}
      : {verb: 'impersonate', resource: 'users', name: imp}
    if (!store.authorize(authUser, a).allowed) throw new HttpFail(forbidden(authUser.username, a))
    const g = req.headers['impersonate-group']
    return {username: imp, groups: groupsOf(imp, g === undefined ? [] : Array.isArray(g) ? g : [g])}
  }

  function need(user: UserInfo, a: AccessAttributes): void {
    if (!store.authorize(user, a).allowed) throw new HttpFail(forbidden(user.username, a))
  }

  // -------------------------------------------------------------------------------------------------
  // pods/exec over WebSocket

  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    // The translator (v5) wins whenever the client offers v5; otherwise the kubelet's v4.
    handleProtocols: (offered: Set<string>) => (offered.has(V5) ? V5 : offered.has(V4) ? V4 : false),
  })
  const running = new Set<AbortController>()

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1')
    const rec: RecordedRequest = {method: req.method ?? 'GET', path: url.pathname, query: url.searchParams}
    requests.push(rec)
    try {
      const user = authenticate(req)
      rec.user = user.username
      const mm = EXEC_PATH.exec(url.pathname)
      const method = rec.method
      if (mm === null || (method !== 'GET' && method !== 'POST')) throw new HttpFail(pathNotFound())
      const ns = decodeURIComponent(mm[1] as string)
      const name = decodeURIComponent(mm[2] as string)
      const q = url.searchParams
      const {container, pod} = execApiserverChecks(
        store,
        user,
        ns,
        name,
        q.get('container') ?? undefined,
        method,
      )
      const upgrade = (req.headers.upgrade ?? '').toLowerCase()
      if (upgrade !== 'websocket')
        throw new HttpFail(
          statusObject(
            400,
            'BadRequest',
            upgrade.startsWith('spdy/')
              ? `this test API server does not speak ${req.headers.upgrade}: exec needs a WebSocket (${V5} or ${V4})`
              : 'Upgrade request required',
          ),
        )
      const offered = (req.headers['sec-websocket-protocol'] ?? '')
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== '')
      const protocol = offered.includes(V5) ? V5 : offered.includes(V4) ? V4 : undefined
      const kubelet = kubeletCheck(pod, container)
      if (protocol !== V5) {
        // Proxied to the kubelet: its container lookup answers first, then its WebSocket handshake.
        if (kubelet !== undefined) return rawReply(socket, 500, kubelet.text, 'text/plain; charset=utf-8')
        if (protocol === undefined)
          return rawReply(
            socket,
            403,
            `requested protocol(s) are not supported: [${offered.join(' ')}]; supports [${V4}]`,
          )
      }
      const flag = (k: string): boolean => q.get(k) === 'true' || q.get(k) === '1'
      const session: ExecSession = {
        protocol: protocol as string,
        request: {namespace: ns, pod: name, container, command: q.getAll('command'), user: user.username},
        stdin: flag('stdin'),
        stdout: flag('stdout'),
        stderr: flag('stderr'),
        tty: flag('tty'),
      }
      if (kubelet !== undefined) session.fail = kubelet
      wss.handleUpgrade(req, socket, head, (ws) => {
        void runSession(ws, session)
      })
    } catch (e) {
      const st =
        e instanceof HttpFail
          ? e.status
          : statusObject(500, 'InternalError', `Internal error occurred: ${String(e)}`)
      rawReply(socket, st.code, JSON.stringify(st), 'application/json')
    }
  }

  async function runSession(ws: WebSocket, x: ExecSession): Promise<void> {
    const send = (channel: number, data: Buffer): void => {
      if (ws.readyState !== ws.OPEN) return
      // Frames of at most MAX_FRAME bytes, channel byte included, so clients must reassemble.
      for (let off = 0; off < data.length; off += MAX_FRAME - 1)
        ws.send(Buffer.concat([Buffer.from([channel]), data.subarray(off, off + MAX_FRAME - 1)]), {
          binary: true,
        })
    }
    const finish = (status: ExecChannelStatus): void => {
      send(3, Buffer.from(JSON.stringify(status)))
      if (ws.readyState === ws.OPEN) ws.close(1000)
    }
    // As both servers do: an empty frame on the lowest writable channel says the streams are up.
    ws.send(Buffer.from([x.stdout ? 1 : x.stderr ? 2 : 3]), {binary: true})
    if (x.fail !== undefined) {
      const inner = x.fail.status.message.replace(/^Internal error occurred: /, '')
      return finish(internalError(inner))
    }
    const stdin: Buffer[] = []
    let closed = false
    await new Promise<void>((resolve) => {
      ws.on('close', () => {
        closed = true
        resolve()
      })
      if (!x.stdin) return resolve()
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (!isBinary || data.length === 0) return
        if (data[0] === 0) stdin.push(data.subarray(1))
        else if (data[0] === 255 && x.protocol === V5 && data[1] === 0) resolve()
      })
    })
    const handler = store.execHandler
    if (handler === undefined)
      return finish({
        metadata: {},
        status: 'Failure',
        message: 'no exec handler',
        reason: 'InternalError',
        code: 500,
      })
    const ac = new AbortController()
    running.add(ac)
    ws.on('close', () => ac.abort())
    if (closed) ac.abort()
    const req: ExecRequest = {...x.request, signal: ac.signal}
    if (x.stdin) req.stdin = Buffer.concat(stdin).toString('utf8')
    let outcome: ExecOutcome
    try {
      outcome = await handler(req)
    } catch (e) {
      return finish(internalError(e instanceof Error ? e.message : String(e)))
    } finally {
      running.delete(ac)
    }
    if ('notFound' in outcome) {
      const inner = `error executing command in container: ${runtimeStartError(outcome.notFound)}`
      return finish(
        x.protocol === V5 ? internalError(`Internal error occurred: ${inner}`) : internalError(inner),
      )
    }
    if (x.stdout) send(1, Buffer.from(outcome.stdout))
    if (x.tty && x.stdout) send(1, Buffer.from(outcome.stderr))
    else if (x.stderr) send(2, Buffer.from(outcome.stderr))
    if (outcome.exitCode === 0) return finish({metadata: {}, status: 'Success'})
    // v4 carries containerd's CodeExitError text; v5 the translator's re-wrap of client-go's.
    const why =
      x.protocol === V5
        ? `command terminated with exit code ${outcome.exitCode}`
        : `error executing command [${x.request.command.join(' ')}], exit code ${outcome.exitCode}`
    finish({
      metadata: {},
      status: 'Failure',
      message: `command terminated with non-zero exit code: ${why}`,
      reason: 'NonZeroExitCode',
      details: {causes: [{reason: 'ExitCode', message: String(outcome.exitCode)}]},
    })
  }

  function list(kind: string, apiVersion: string, items: KubeObject[], extra: Obj = {}): Obj {
    return {kind, apiVersion, metadata: {resourceVersion: store.currentRv, ...extra}, items}
  }

  function route(r: RecordedRequest, body: string, user: UserInfo): unknown {
    const p = r.path.replace(/\/+$/, '') || '/'
    const q = r.query
    const m = r.method
    if (m === 'GET' && p === '/version') return store.version
    if (m === 'GET' && p === '/api')
      return {
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [{clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1:6443'}],
      }
    if (m === 'GET' && p === '/apis')
      return {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: Object.entries(GROUPS).map(([name, g]) => ({
          name,
          versions: [{groupVersion: `${name}/${g.version}`, version: g.version}],
          preferredVersion: {groupVersion: `${name}/${g.version}`, version: g.version},
        })),
      }
    if (m === 'GET' && p === '/api/v1')
      return {kind: 'APIResourceList', groupVersion: 'v1', resources: CORE_RESOURCES}
    const gm = /^\/apis\/([^/]+)\/([^/]+)$/.exec(p)
    if (m === 'GET' && gm && GROUPS[gm[1] as string]?.version === gm[2])
      return {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: `${gm[1]}/${gm[2]}`,
        resources: GROUPS[gm[1] as string]?.resources,
      }

    // nodes
    if (m === 'GET' && p === '/api/v1/nodes') {
      need(user, {verb: 'list', resource: 'nodes'})
      const limit = q.get('limit') !== null ? Number(q.get('limit')) : undefined
      const cont = q.get('continue')
      const rvParam = q.get('resourceVersion')
      if (rvParam !== null && rvParam !== '' && rvParam !== '0' && Number(rvParam) <= store.compactedRv)
        throw new HttpFail(
          statusObject(410, 'Expired', `The resourceVersion for the provided list is too old.`),
        )
      let after: string | undefined
      let rv = store.currentRv
      if (cont !== null && cont !== '') {
        const t = decodeContinue(cont)
        if (t.rv <= store.compactedRv)
          throw new HttpFail(
            statusObject(
              410,
              'Expired',
              'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
            ),
          )
        after = t.last
        rv = String(t.rv)
      }
      const page = store.nodePage(limit, after)
      const meta: Obj = {resourceVersion: rv}
      if (page.last !== undefined) {
        meta['continue'] = encodeContinue(rv, page.last)
        meta['remainingItemCount'] =
          store.nodes.size - [...store.nodes.keys()].filter((n) => n <= page.last!).length
      }
      if (r.accept?.includes('as=Table') === true) return nodeTable(meta, page.items)
      return {kind: 'NodeList', apiVersion: 'v1', metadata: meta, items: page.items}
    }
    let mm = /^\/api\/v1\/nodes\/([^/]+)(\/status)?$/.exec(p)
    if (mm) {
      const name = decodeURIComponent(mm[1] as string)
      const status = mm[2] !== undefined
      if (m === 'GET') {
        need(user, {verb: 'get', resource: 'nodes', name, ...(status ? {subresource: 'status'} : {})})
        const n = store.nodes.get(name)
        if (n === undefined) throw new HttpFail(notFound('nodes', name))
        return {apiVersion: 'v1', kind: 'Node', ...n}
      }
      if (m === 'PATCH') {
        need(user, {verb: 'patch', resource: 'nodes', name, ...(status ? {subresource: 'status'} : {})})
        const type = (r.contentType ?? '').split(';')[0]?.trim() ?? ''
        if (!PATCH_TYPES.includes(type))
          throw new HttpFail(
            statusObject(
              415,
              'UnsupportedMediaType',
              `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`,
            ),
          )
        let patch: unknown
        try {
          patch = JSON.parse(body)
        } catch {
          throw new HttpFail(statusObject(400, 'BadRequest', 'error decoding patch: invalid JSON'))
        }
        if (!store.nodes.has(name)) throw new HttpFail(notFound('nodes', name))
        const pp = isObj(patch) ? {...patch} : {}
        if (status) delete pp['spec'] // the status subresource ignores spec, keeps metadata and status
        return {apiVersion: 'v1', kind: 'Node', ...store.patchNode(name, pp)}
      }
    }

    // namespaced objects
    mm =
      /^\/(api\/v1|apis\/apps\/v1)\/namespaces\/([^/]+)\/(configmaps|pods|daemonsets)(?:\/([^/]+))?(\/log)?$/.exec(
        p,
      )
    if (m === 'GET' && mm) {
      const [, prefix, ns, resource, rawName, log] = mm as unknown as [
        string,
        string,
        string,
        string,
        string | undefined,
        string | undefined,
      ]
      if ((resource === 'daemonsets') !== (prefix === 'apis/apps/v1')) throw new HttpFail(pathNotFound())
      const group = resource === 'daemonsets' ? 'apps' : ''
      const map =
        resource === 'configmaps' ? store.configMaps : resource === 'pods' ? store.pods : store.daemonSets
      const kind = resource === 'configmaps' ? 'ConfigMap' : resource === 'pods' ? 'Pod' : 'DaemonSet'
      const apiVersion = group ? `${group}/v1` : 'v1'
      if (rawName === undefined) {
        need(user, {verb: 'list', resource, group, namespace: ns})
        const sel = q.get('labelSelector') ?? ''
        const items = [...map.entries()]
          .filter(([k, o]) => k.startsWith(ns + '/') && matchLabels(sel, o.metadata?.labels))
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([, o]) => clone(o))
        return list(`${kind}List`, apiVersion, items)
      }
      const name = decodeURIComponent(rawName)
      if (log !== undefined) {
        need(user, {verb: 'get', resource: 'pods', subresource: 'log', namespace: ns, name})
        return podLog(ns, name, q)
      }
      need(user, {verb: 'get', resource, group, namespace: ns, name})
      const o = map.get(`${ns}/${name}`)
      if (o === undefined) throw new HttpFail(notFound(resource, name, group))
      return {apiVersion, kind, ...o}
    }

    // RBAC objects
    mm =
      /^\/apis\/rbac\.authorization\.k8s\.io\/v1\/(?:namespaces\/([^/]+)\/(rolebindings|roles)|(clusterroles|clusterrolebindings))$/.exec(
        p,
      )
    if (m === 'GET' && mm) {
      const group = 'rbac.authorization.k8s.io'
      const ns = mm[1] !== undefined ? decodeURIComponent(mm[1]) : undefined
      const resource = (mm[2] ?? mm[3]) as RbacResource
      need(user, {verb: 'list', resource, group, ...(ns !== undefined ? {namespace: ns} : {})})
      const kind = {
        clusterroles: 'ClusterRoleList',
        clusterrolebindings: 'ClusterRoleBindingList',
        rolebindings: 'RoleBindingList',
        roles: 'RoleList',
      }[resource]
      return list(kind, `${group}/v1`, store.rbacList(resource, ns))
    }

    // exec without an upgrade: the API server's checks, then the proxy's refusal
    mm = EXEC_PATH.exec(p)
    if ((m === 'GET' || m === 'POST') && mm) {
      const container = q.get('container') ?? undefined
      execApiserverChecks(
        store,
        user,
        decodeURIComponent(mm[1] as string),
        decodeURIComponent(mm[2] as string),
        container,
        m,
      )
      throw new HttpFail(statusObject(400, 'BadRequest', 'Upgrade request required'))
    }

    // access reviews
    mm = /^\/apis\/authorization\.k8s\.io\/v1\/(selfsubjectaccessreviews|subjectaccessreviews)$/.exec(p)
    if (m === 'POST' && mm) {
      const self = mm[1] === 'selfsubjectaccessreviews'
      let rev: unknown
      try {
        rev = JSON.parse(body)
      } catch {
        throw new HttpFail(statusObject(400, 'BadRequest', 'the request body is not JSON'))
      }
      const spec = isObj(rev) && isObj(rev['spec']) ? rev['spec'] : {}
      if (!self) need(user, {verb: 'create', resource: 'subjectaccessreviews', group: 'authorization.k8s.io'})
      const who: UserInfo = self
        ? user
        : {
            username: typeof spec['user'] === 'string' ? spec['user'] : '',
            groups: Array.isArray(spec['groups'])
              ? spec['groups'].filter((g): g is string => typeof g === 'string')
              : [],
          }
      const a = attrsOf(spec)
      const result = store.authorize(who, a)
      return {
        kind: self ? 'SelfSubjectAccessReview' : 'SubjectAccessReview',
        apiVersion: 'authorization.k8s.io/v1',
        metadata: {creationTimestamp: null},
        spec,
        status: result,
      }
    }
    throw new HttpFail(pathNotFound())
  }

  function podLog(ns: string, name: string, q: URLSearchParams): never {
    const pod = store.pods.get(`${ns}/${name}`)
    if (pod === undefined) throw new HttpFail(notFound('pods', name))
    const spec = isObj(pod['spec']) ? pod['spec'] : {}
    const containers = (Array.isArray(spec['containers']) ? spec['containers'] : [])
      .map((c) => (isObj(c) && typeof c['name'] === 'string' ? c['name'] : ''))
      .filter((c) => c !== '')
    let container = q.get('container')
    if (container === null || container === '') {
      if (containers.length !== 1)
        throw new HttpFail(
          statusObject(
            400,
            'BadRequest',
            `a container name must be specified for pod ${name}, choose one of: [${containers.join(' ')}]`,
          ),
        )
      container = containers[0] as string
    }
    if (!containers.includes(container))
      throw new HttpFail(
        statusObject(400, 'BadRequest', `container ${container} is not valid for pod ${name}`),
      )
    const entry = store.logs.get(`${ns}/${name}/${container}`) ?? {current: ''}
    const previous = q.get('previous') === 'true'
    let text: string
    if (previous) {
      if (entry.previous === undefined)
        throw new HttpFail(
          statusObject(
            400,
            'BadRequest',
            `previous terminated container "${container}" in pod "${name}" not found`,
          ),
        )
      text = entry.previous
    } else text = entry.current
    const tail = q.get('tailLines')
    if (tail !== null && /^\d+$/.test(tail)) {
      const lines = text.split('\n')
      const hasEnd = text.endsWith('\n')
      const body = hasEnd ? lines.slice(0, -1) : lines
      const kept = Number(tail) === 0 ? [] : body.slice(-Number(tail))
      text = kept.join('\n') + (hasEnd && kept.length > 0 ? '\n' : '')
    }
    throw new Raw(200, text, 'text/plain')
  }

  const server: Server = createServer({cert: tls.cert, key: tls.key}, (req, res) => {
    void handler(req, res)
  })
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined)
    onUpgrade(req, socket, head)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  const url = `https://127.0.0.1:${port}`

  return {
    url,
    port,
    store,
    tls,
    requests,
    writeKubeconfig(token, opts = {}) {
      const file = opts.file ?? join(tls.dir, `kubeconfig-${kubeconfigs.length}.yaml`)
      const ca = Buffer.from(opts.caCert ?? tls.caCert).toString('base64')
      writeFileSync(
        file,
        [
          'apiVersion: v1',
          'kind: Config',
          'clusters:',
          '- name: test',
          '  cluster:',
          `    server: ${opts.server ?? url}`,
          `    certificate-authority-data: ${ca}`,
          'users:',
          '- name: test',
          '  user:',
          `    token: ${token}`,
          'contexts:',
          '- name: test',
          '  context: {cluster: test, user: test}',
          'current-context: test',
          '',
        ].join('\n'),
      )
      kubeconfigs.push(file)
      return file
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const ac of running) ac.abort()
        for (const ws of wss.clients) ws.terminate()
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

class Raw extends Error {
  constructor(
    readonly code: number,
    readonly text: string,
    readonly type: string,
  ) {
    super('raw')
  }
}

/** `kubectl get nodes` asks for a server-side Table (meta.k8s.io/v1); columns as the real server's. */
function nodeTable(meta: Obj, items: KubeObject[]): Obj {
  const age = (ts: unknown): string => {
    const t = typeof ts === 'string' ? Date.parse(ts) : NaN
    if (Number.isNaN(t)) return '<unknown>'
    const s = Math.max(0, Math.floor((Date.now() - t) / 1000))
    return s >= 86400
      ? `${Math.floor(s / 86400)}d`
      : s >= 3600
        ? `${Math.floor(s / 3600)}h`
        : `${Math.floor(s / 60)}m`
  }
  const ready = (n: KubeObject): string => {
    const st = isObj(n['status']) ? n['status'] : {}
    const conds = Array.isArray(st['conditions']) ? st['conditions'] : []
    const c = conds.find((x) => isObj(x) && x['type'] === 'Ready')
    return isObj(c) ? (c['status'] === 'True' ? 'Ready' : 'NotReady') : 'Unknown'
  }
  const roles = (n: KubeObject): string => {
    const r = Object.keys(n.metadata?.labels ?? {})
      .filter((k) => k.startsWith('node-role.kubernetes.io/'))
      .map((k) => k.slice('node-role.kubernetes.io/'.length))
    return r.length > 0 ? r.sort().join(',') : '<none>'
  }
  const version = (n: KubeObject): string => {
    const st = isObj(n['status']) ? n['status'] : {}
    const ni = isObj(st['nodeInfo']) ? st['nodeInfo'] : {}
    return typeof ni['kubeletVersion'] === 'string' ? ni['kubeletVersion'] : ''
  }
  const col = (name: string, type = 'string', format = ''): Obj => ({
    name,
    type,
    format,
    description: '',
    priority: 0,
  })
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: meta,
    columnDefinitions: [
      col('Name', 'string', 'name'),
      col('Status'),
      col('Roles'),
      col('Age'),
      col('Version'),
    ],
    rows: items.map((n) => ({
      cells: [n.metadata?.name ?? '', ready(n), roles(n), age(n.metadata?.['creationTimestamp']), version(n)],
      object: {kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: n.metadata},
    })),
  }
}

const V5 = 'v5.channel.k8s.io'
const V4 = 'v4.channel.k8s.io'
const MAX_FRAME = 32 * 1024
const EXEC_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/exec$/

interface ExecSession {
  protocol: string
  request: ExecRequest
  stdin: boolean
  stdout: boolean
  stderr: boolean
  tty: boolean
  fail?: KubeletFail
}

/** metav1.Status as json.Marshal writes it on the error channel (no kind/apiVersion, Go field order). */
interface ExecChannelStatus {
  metadata: Record<string, never>
  status: 'Success' | 'Failure'
  message?: string
  reason?: string
  details?: {causes: {reason?: string; message: string}[]}
  code?: number
}

/** apierrors.NewInternalError(err). */
const internalError = (err: string): ExecChannelStatus => ({
  metadata: {},
  status: 'Failure',
  message: `Internal error occurred: ${err}`,
  reason: 'InternalError',
  details: {causes: [{message: err}]},
  code: 500,
})

/** containerd + runc refusing to start a binary the image does not have. */
function runtimeStartError(bin: string): string {
  const why = bin.includes('/')
    ? `stat ${bin}: no such file or directory`
    : `executable file not found in $PATH`
  return `failed to exec in container: failed to start exec "${randomBytes(32).toString('hex')}": OCI runtime exec failed: exec failed: unable to start container process: exec: "${bin}": ${why}: unknown`
}

/** An HTTP answer on a socket that asked for an upgrade (and does not get it). */
function rawReply(socket: Duplex, code: number, body: string, type?: string): void {
  const head = [`HTTP/1.1 ${code} ${STATUS_CODES[code] ?? ''}`]
  if (type !== undefined) head.push(`Content-Type: ${type}`)
  head.push(`Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close', '', '')
  socket.end(head.join('\r\n') + body)
}

const pathNotFound = (): KubeStatus =>
  statusObject(404, 'NotFound', 'the server could not find the requested resource', {})

function attrsOf(spec: Obj): AccessAttributes {
  const nr = spec['nonResourceAttributes']
  if (isObj(nr)) return {verb: String(nr['verb'] ?? ''), nonResourceURL: String(nr['path'] ?? '')}
  const r = isObj(spec['resourceAttributes']) ? spec['resourceAttributes'] : {}
  const a: AccessAttributes = {verb: String(r['verb'] ?? ''), group: String(r['group'] ?? '')}
  for (const k of ['resource', 'subresource', 'namespace', 'name'] as const) {
    const v = r[k]
    if (typeof v === 'string' && v !== '') a[k] = v
  }
  return a
}
