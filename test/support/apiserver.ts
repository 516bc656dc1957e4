/**
 * A small Kubernetes API server for tests: HTTPS with a throwaway CA (made with the openssl binary),
 * bearer-token auth, RBAC evaluation over the ClusterRoles/ClusterRoleBindings it holds, and the real
 * wire shapes (lists with limit/continue, Status objects for 401/403/404/410, discovery that kubectl
 * accepts) for the calls flannelctl makes. Exec over WebSocket is not implemented.
 */
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:https'
import type {IncomingMessage, ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

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
/** A RoleBinding grants its role's rules in its own namespace only (roleRef a ClusterRole here). */
export interface RoleBinding {
  metadata: {name: string; namespace: string}
  roleRef: {kind: 'ClusterRole' | 'Role'; name: string}
  subjects: Subject[]
}
export interface UserInfo {
  username: string
  groups: string[]
}

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
  addToken(token: string, username: string, groups: string[] = []): void {
    this.tokens.set(token, {username, groups: groupsOf(username, groups)})
  }

  /** RBAC evaluation as the API server's authorizer does it (system:masters may do anything). */
  authorize(user: UserInfo, a: AccessAttributes): AccessReviewResult {
    if (user.groups.includes('system:masters')) return {allowed: true}
    const binds = (subjects: Subject[], bindingNs?: string): boolean =>
      subjects.some((s) =>
        s.kind === 'User'
          ? s.name === user.username
          : s.kind === 'Group'
            ? user.groups.includes(s.name)
            : user.username === `system:serviceaccount:${s.namespace ?? bindingNs ?? ''}:${s.name}`,
      )
    for (const b of this.clusterRoleBindings.values()) {
      if (!binds(b.subjects)) continue
      const role = this.clusterRoles.get(b.roleRef.name)
      if (role?.rules.some((r) => ruleAllows(r, a)))
        return {
          allowed: true,
          reason: `RBAC: allowed by ClusterRoleBinding "${b.metadata.name}" of ClusterRole "${role.metadata.name}" to User "${user.username}"`,
        }
    }
    // RoleBindings grant in their namespace only (Roles are not held: only ClusterRole references count).
    if (a.namespace !== undefined && a.nonResourceURL === undefined)
      for (const b of this.roleBindings.values()) {
        if (b.metadata.namespace !== a.namespace || b.roleRef.kind !== 'ClusterRole') continue
        if (!binds(b.subjects, b.metadata.namespace)) continue
        const role = this.clusterRoles.get(b.roleRef.name)
        if (role?.rules.some((r) => ruleAllows(r, a)))
          return {
            allowed: true,
            reason: `RBAC: allowed by RoleBinding "${b.metadata.name}/${b.metadata.namespace}" of ClusterRole "${role.metadata.name}" to User "${user.username}"`,
          }
      }
    return {allowed: false}
  }

  /** The RBAC objects as list items (name order; RoleBindings of one namespace). */
  rbacList(resource: 'clusterroles' | 'clusterrolebindings' | 'rolebindings', ns?: string): KubeObject[] {
    const map: Map<string, object> =
      resource === 'clusterroles'
        ? this.clusterRoles
        : resource === 'clusterrolebindings'
          ? this.clusterRoleBindings
          : this.roleBindings
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
    ],
  },
}

const PATCH_TYPES = ['application/strategic-merge-patch+json', 'application/merge-patch+json']

class HttpFail extends Error {
  constructor(readonly status: KubeStatus) {
    super(status.message)
  }
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
      const auth = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')
      const authUser = auth ? store.tokens.get(auth[1] as string) : undefined
      if (authUser === undefined) throw new HttpFail(statusObject(401, 'Unauthorized', 'Unauthorized'))
      let user = authUser
      const imp = req.headers['impersonate-user']
      if (typeof imp === 'string' && imp !== '') {
        const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(imp)
        const a: AccessAttributes = sa
          ? {
              verb: 'impersonate',
              resource: 'serviceaccounts',
              namespace: sa[1] as string,
              name: sa[2] as string,
            }
          : {verb: 'impersonate', resource: 'users', name: imp}
        if (!store.authorize(authUser, a).allowed) throw new HttpFail(forbidden(authUser.username, a))
        const g = req.headers['impersonate-group']
        user = {username: imp, groups: groupsOf(imp, g === undefined ? [] : Array.isArray(g) ? g : [g])}
      }
      rec.user = user.username
      send(200, route(rec, body, user))
    } catch (e) {
      if (e instanceof HttpFail) send(e.status.code, e.status)
      else if (e instanceof Raw) send(e.code, e.text, e.type)
      else send(500, statusObject(500, 'InternalError', `Internal error occurred: ${String(e)}`))
    }
  }

  function need(user: UserInfo, a: AccessAttributes): void {
    if (!store.authorize(user, a).allowed) throw new HttpFail(forbidden(user.username, a))
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
      /^\/apis\/rbac\.authorization\.k8s\.io\/v1\/(?:namespaces\/([^/]+)\/(rolebindings)|(clusterroles|clusterrolebindings))$/.exec(
        p,
      )
    if (m === 'GET' && mm) {
      const group = 'rbac.authorization.k8s.io'
      const ns = mm[1] !== undefined ? decodeURIComponent(mm[1]) : undefined
      const resource = (mm[2] ?? mm[3]) as 'clusterroles' | 'clusterrolebindings' | 'rolebindings'
      need(user, {verb: 'list', resource, group, ...(ns !== undefined ? {namespace: ns} : {})})
      const kind =
        resource === 'clusterroles'
          ? 'ClusterRoleList'
          : resource === 'clusterrolebindings'
            ? 'ClusterRoleBindingList'
            : 'RoleBindingList'
      return list(kind, `${group}/v1`, store.rbacList(resource, ns))
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
