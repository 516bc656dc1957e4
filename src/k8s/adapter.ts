/**
 * KubeClient over @kubernetes/client-node (the only importer of it, enforced by lint). The typed APIs
 * build the requests (paths, query, auth, TLS from the kubeconfig); a per-call middleware keeps the raw
 * response text, so callers get the JSON exactly as the API server sent it — the generated models turn
 * timestamps into Date objects and drop fields they do not know, which would make live data differ
 * from a bundle. Every failure becomes a KubeError with a one-line message.
 */
import {
  ApiException,
  AppsV1Api,
  Exec,
  AuthorizationV1Api,
  CoreV1Api,
  KubeConfig,
  Observable,
  RbacAuthorizationV1Api,
  VersionApi,
  type ConfigurationOptions,
  type ObservableMiddleware,
  type RequestContext,
  type ResponseContext,
} from '@kubernetes/client-node'
import https from 'node:https'
import {Writable} from 'node:stream'
import tls from 'node:tls'
import WebSocket from 'ws'

import {
  KubeError,
  kubeErrorFromResponse,
  type AccessAttributes,
  type AccessReviewResult,
  type ExecOptions,
  type ExecResult,
  type KubeClient,
  type KubeConfigMapObject,
  type KubeDaemonSetObject,
  type KubeNodeObject,
  type KubeObject,
  type KubePodObject,
  type KubeRbacObject,
  type ListNodesOptions,
  type PodLogOptions,
  type ServerVersion,
} from './client.js'

export interface KubeClientConfigOptions {
  /** Path of a kubeconfig file; default: $KUBECONFIG, ~/.kube/config, then the in-cluster service account. */
  kubeconfig?: string
  /** Context to use instead of the file's current-context. */
  context?: string
  /** Per-request time limit (connect + answer); default 30 s. */
  timeoutMs?: number
}

const STRATEGIC_MERGE = 'application/strategic-merge-patch+json'
const DEFAULT_TIMEOUT_MS = 30_000
const DEFAULT_PAGE = 500

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ECONNRESET',
  'EPIPE',
  'EADDRNOTAVAIL',
])
const TLS_CODE = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|TLS|SSL|ERR_OSSL|HOSTNAME_MISMATCH/

function errorCode(e: unknown): string | undefined {
  for (let cur: unknown = e, depth = 0; isObj(cur) && depth < 4; cur = cur['cause'], depth++) {
    const c = cur['code']
    if (typeof c === 'string' && c !== '') return c
  }
  return undefined
}

function errorText(e: unknown): string {
  if (e instanceof Error) return e.message
  return String(e)
}

/** A KubeError for anything a client-node call can throw (network, TLS, timeout, loader errors). */
export function toKubeError(e: unknown, server: string, timeoutMs: number): KubeError {
  if (e instanceof KubeError) return e
  if (e instanceof ApiException) {
    const body = typeof e.body === 'string' ? e.body : undefined
    return kubeErrorFromResponse(e.code, body)
  }
  const code = errorCode(e)
  const name = e instanceof Error ? e.name : ''
  const first = errorText(e).split('\n')[0] ?? ''
  if (name === 'AbortError' || name === 'TimeoutError' || code === 'ETIMEDOUT' || code === 'ABORT_ERR')
    return new KubeError('timeout', `the API server at ${server} did not answer within ${timeoutMs} ms`)
  if (code !== undefined && UNREACHABLE.has(code))
    return new KubeError('unreachable', `cannot reach the API server at ${server}: ${code}`)
  if ((code !== undefined && TLS_CODE.test(code)) || /certificate|self[- ]signed|tls|ssl/i.test(first))
    return new KubeError(
      'tls',
      `TLS handshake with ${server} failed: ${code !== undefined ? code + ' ' : ''}${first}`,
    )
  return new KubeError('other', `request to ${server} failed: ${first}`)
}

interface Captured {
  status: number
  body: string | undefined
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    throw new KubeError('other', `the API server answered ${what} with something that is not JSON`)
  }
}

function asObject(v: unknown, what: string): KubeObject {
  if (!isObj(v))
    throw new KubeError('other', `the API server answered ${what} with something that is not an object`)
  return v as KubeObject
}

function items(v: unknown, what: string): KubeObject[] {
  const o = asObject(v, what)
  const list = o['items']
  if (list === null || list === undefined) return []
  if (!Array.isArray(list)) throw new KubeError('other', `the ${what} list has no items array`)
  return list.filter(isObj) as KubeObject[]
}

function reviewSpec(attrs: AccessAttributes): Obj {
  if (attrs.nonResourceURL !== undefined)
    return {nonResourceAttributes: {path: attrs.nonResourceURL, verb: attrs.verb}}
  const r: Obj = {verb: attrs.verb, group: attrs.group ?? ''}
  if (attrs.resource !== undefined) r['resource'] = attrs.resource
  if (attrs.subresource !== undefined) r['subresource'] = attrs.subresource
  if (attrs.namespace !== undefined) r['namespace'] = attrs.namespace
  if (attrs.name !== undefined) r['name'] = attrs.name
  return {resourceAttributes: r}
}

function reviewResult(v: unknown): AccessReviewResult {
  const status = isObj(v) && isObj(v['status']) ? v['status'] : {}
  const out: AccessReviewResult = {allowed: status['allowed'] === true}
  if (status['denied'] === true) out.denied = true
  if (typeof status['reason'] === 'string' && status['reason'] !== '') out.reason = status['reason']
  if (typeof status['evaluationError'] === 'string' && status['evaluationError'] !== '')
    out.evaluationError = status['evaluationError']
  return out
}

/** The exit code a `metav1.Status` on the exec error channel carries (0 for Success). */
export function execStatusResult(status: unknown): {exitCode: number; started: boolean; message?: string} {
  if (!isObj(status) || status['status'] === 'Success') return {exitCode: 0, started: true}
  const message = typeof status['message'] === 'string' ? status['message'] : ''
  const details = isObj(status['details']) ? status['details'] : {}
  const causes = Array.isArray(details['causes']) ? details['causes'] : []
  for (const c of causes)
    if (isObj(c) && c['reason'] === 'ExitCode' && typeof c['message'] === 'string') {
      const n = Number.parseInt(c['message'], 10)
      if (Number.isInteger(n)) return {exitCode: n, started: true, message}
    }
  // The runtime could not start the command: `exec: "ethtool": executable file not found in $PATH`.
  if (/executable file not found|no such file or directory/i.test(message))
    return {exitCode: 127, started: false, message}
  return {exitCode: 126, started: false, message}
}

const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'] as const

/**
 * The WebSocket options of each exec: credentials asked of the kubeconfig every time (a token may be
 * refreshed), but one TLS agent for the whole client. client-node makes a new agent per call, so each
 * of an --all-nodes run's thousands of execs would parse the CA and key again and do a full handshake;
 * one agent with one secure context parses them once and resumes TLS sessions. A proxy agent is kept
 * as client-node made it.
 */
function execConnectOptions(kc: KubeConfig): () => Promise<WebSocket.ClientOptions> {
  let agent: https.Agent | undefined
  return async () => {
    const o = {} as WebSocket.ClientOptions & Record<string, unknown>
    await kc.applyToHTTPSOptions(o as never)
    if (kc.getCurrentCluster()?.proxyUrl === undefined && o.agent instanceof https.Agent) {
      if (agent === undefined) {
        const tlsOpts: tls.SecureContextOptions = {}
        for (const k of ['ca', 'cert', 'key', 'pfx', 'passphrase'] as const)
          if (o[k] !== undefined) (tlsOpts as Record<string, unknown>)[k] = o[k]
        const agentOpts: https.AgentOptions = {secureContext: tls.createSecureContext(tlsOpts)}
        if (typeof o['rejectUnauthorized'] === 'boolean')
          agentOpts.rejectUnauthorized = o['rejectUnauthorized']
        if (typeof o['servername'] === 'string') agentOpts.servername = o['servername']
        agent = new https.Agent(agentOpts)
      }
      o.agent = agent
    }
    return o
  }
}

/** Collects a stream's bytes (exec output) into one string. */
class Sink extends Writable {
  private chunks: Buffer[] = []
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.chunks.push(chunk)
    cb()
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8')
  }
}

function loadConfig(opts: KubeClientConfigOptions): KubeConfig {
  const kc = new KubeConfig()
  const where = opts.kubeconfig ?? 'the default kubeconfig'
  try {
    if (opts.kubeconfig !== undefined) kc.loadFromFile(opts.kubeconfig)
    else kc.loadFromDefault()
  } catch (e) {
    throw new KubeError('other', `cannot load ${where}: ${errorText(e).split('\n')[0] ?? ''}`)
  }
  if (opts.context !== undefined) {
    if (kc.getContextObject(opts.context) === null)
      throw new KubeError('other', `context "${opts.context}" is not in ${where}`)
    kc.setCurrentContext(opts.context)
  }
  if (kc.getCurrentCluster() === null)
    throw new KubeError('other', `${where} names no cluster for its current context`)
  return kc
}

/** A KubeClient for the cluster a kubeconfig (or the in-cluster service account) points at. */
export function kubeClientFromConfig(opts: KubeClientConfigOptions = {}): KubeClient {
  const kc = loadConfig(opts)
  const server = kc.getCurrentCluster()?.server ?? '(no server)'
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const wsOptions = execConnectOptions(kc)
  let core: CoreV1Api, apps: AppsV1Api, authz: AuthorizationV1Api, rbac: RbacAuthorizationV1Api
  let version: VersionApi
  try {
    core = kc.makeApiClient(CoreV1Api)
    apps = kc.makeApiClient(AppsV1Api)
    authz = kc.makeApiClient(AuthorizationV1Api)
    rbac = kc.makeApiClient(RbacAuthorizationV1Api)
    version = kc.makeApiClient(VersionApi)
  } catch (e) {
    throw new KubeError('other', `cannot use ${opts.kubeconfig ?? 'the default kubeconfig'}: ${errorText(e)}`)
  }

  /** Runs one typed call and returns the raw body of its (2xx) response. */
  async function call(
    what: string,
    fn: (o: ConfigurationOptions) => Promise<unknown>,
    contentType?: string,
  ): Promise<string> {
    const cap: Captured = {status: 0, body: undefined}
    // The object-parameter APIs take Observable middleware (client-node's own Observable stub).
    const mw: ObservableMiddleware = {
      pre: (ctx: RequestContext) => {
        ctx.setSignal(AbortSignal.timeout(timeoutMs))
        if (contentType !== undefined) ctx.setHeaderParam('Content-Type', contentType)
        return new Observable(Promise.resolve(ctx))
      },
      post: (rsp: ResponseContext) =>
        new Observable(
          rsp.body.text().then((text) => {
            cap.status = rsp.httpStatusCode
            cap.body = text
            // A success is read from the raw text only: hand the generated models an empty object, so
            // they do not build a second copy of every page (at 5,000 nodes, a large part of the memory).
            const given = rsp.httpStatusCode >= 200 && rsp.httpStatusCode < 300 ? '{}' : text
            rsp.body = {text: () => Promise.resolve(given), binary: () => Promise.resolve(Buffer.from(given))}
            return rsp
          }),
        ),
    }
    try {
      await fn({middleware: [mw], middlewareMergeStrategy: 'append'})
    } catch (e) {
      if (cap.status >= 400) throw kubeErrorFromResponse(cap.status, cap.body)
      // The generated models may fail on a response they do not expect; the raw answer is what we want.
      if (!(cap.status >= 200 && cap.status < 300 && cap.body !== undefined))
        throw toKubeError(e, server, timeoutMs)
    }
    if (cap.body === undefined) throw new KubeError('other', `the API server sent no body for ${what}`)
    return cap.body
  }

  const json = async (what: string, fn: (o: ConfigurationOptions) => Promise<unknown>): Promise<unknown> =>
    parseJson(await call(what, fn), what)

  async function listNodesOnce(limit: number, onPage?: (n: number) => void): Promise<KubeNodeObject[]> {
    const all: KubeNodeObject[] = []
    let cont: string | undefined
    do {
      const token = cont
      const page = await json('the node list', (o) =>
        core.listNode(token !== undefined ? {limit, _continue: token} : {limit}, o),
      )
      all.push(...items(page, 'node'))
      const meta = asObject(page, 'the node list')['metadata']
      const next = isObj(meta) ? meta['continue'] : undefined
      cont = typeof next === 'string' && next !== '' ? next : undefined
      onPage?.(all.length)
    } while (cont !== undefined)
    return all
  }

  return {
    async listNodes(o: ListNodesOptions = {}) {
      const limit = o.limit ?? DEFAULT_PAGE
      try {
        return await listNodesOnce(limit, o.onPage)
      } catch (e) {
        // An expired continue token: the API asks for a fresh list (consistent snapshot); try once more.
        if (e instanceof KubeError && e.kind === 'gone') return listNodesOnce(limit, o.onPage)
        throw e
      }
    },
    async patchNodeStatusAnnotations(name, annotations) {
      const body = {metadata: {annotations}}
      const text = await call(
        `the status patch of node ${name}`,
        (o) => core.patchNodeStatus({name, body}, o),
        STRATEGIC_MERGE,
      )
      return asObject(parseJson(text, `the status patch of node ${name}`), `the status patch of node ${name}`)
    },
    async getConfigMap(namespace, name) {
      const what = `configmap ${namespace}/${name}`
      return asObject(
        await json(what, (o) => core.readNamespacedConfigMap({name, namespace}, o)),
        what,
      ) as KubeConfigMapObject
    },
    async getDaemonSet(namespace, name) {
      const what = `daemonset ${namespace}/${name}`
      return asObject(
        await json(what, (o) => apps.readNamespacedDaemonSet({name, namespace}, o)),
        what,
      ) as KubeDaemonSetObject
    },
    async listPods(namespace, labelSelector) {
      const v = await json(`the pod list of ${namespace}`, (o) =>
        core.listNamespacedPod({namespace, labelSelector}, o),
      )
      return items(v, 'pod') as KubePodObject[]
    },
    async readPodLog(namespace, pod, lo: PodLogOptions = {}) {
      const req: {
        name: string
        namespace: string
        container?: string
        previous?: boolean
        tailLines?: number
      } = {
        name: pod,
        namespace,
      }
      if (lo.container !== undefined) req.container = lo.container
      if (lo.previous !== undefined) req.previous = lo.previous
      if (lo.tailLines !== undefined) req.tailLines = lo.tailLines
      return call(`the log of pod ${namespace}/${pod}`, (o) => core.readNamespacedPodLog(req, o))
    },
    async listClusterRoles() {
      const v = await json('the clusterrole list', (o) => rbac.listClusterRole({}, o))
      return items(v, 'clusterrole') as KubeRbacObject[]
    },
    async listClusterRoleBindings() {
      const v = await json('the clusterrolebinding list', (o) => rbac.listClusterRoleBinding({}, o))
      return items(v, 'clusterrolebinding') as KubeRbacObject[]
    },
    async listRoleBindings(namespace) {
      const v = await json(`the rolebinding list of ${namespace}`, (o) =>
        rbac.listNamespacedRoleBinding({namespace}, o),
      )
      return items(v, 'rolebinding') as KubeRbacObject[]
    },
    async listRoles(namespace) {
      const v = await json(`the role list of ${namespace}`, (o) => rbac.listNamespacedRole({namespace}, o))
      return items(v, 'role') as KubeRbacObject[]
    },
    async exec(namespace, pod, command, eo: ExecOptions = {}) {
      return execInPod(kc, server, wsOptions, namespace, pod, command, eo, eo.timeoutMs ?? timeoutMs)
    },
    async selfSubjectAccessReview(attrs) {
      const body = {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: reviewSpec(attrs),
      }
      return reviewResult(
        await json('a SelfSubjectAccessReview', (o) => authz.createSelfSubjectAccessReview({body}, o)),
      )
    },
    async subjectAccessReview(user, attrs) {
      const spec: Obj = {...reviewSpec(attrs), user}
      const sa = /^system:serviceaccount:([^:]+):[^:]+$/.exec(user)
      // The API server adds a service account's groups itself for tokens, but not for a SAR: name them.
      if (sa)
        spec['groups'] = ['system:serviceaccounts', `system:serviceaccounts:${sa[1]}`, 'system:authenticated']
      const body = {apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec}
      return reviewResult(
        await json('a SubjectAccessReview', (o) => authz.createSubjectAccessReview({body}, o)),
      )
    },
    async serverVersion() {
      const v = asObject(await json('/version', (o) => version.getCode({}, o)), '/version')
      const str = (k: string): string => (typeof v[k] === 'string' ? (v[k] as string) : '')
      const out: ServerVersion = {
        ...v,
        major: str('major'),
        minor: str('minor'),
        gitVersion: str('gitVersion'),
      }
      return out
    },
  }
}

/**
 * One exec over WebSocket with client-node's Exec (channel protocol v5/v4). The socket factory is ours
 * only to keep the API server's answer when it refuses the upgrade (a JSON Status: 403 when pods/exec is
 * not allowed, 404 for a pod that is gone), which the stock factory reduces to "Unexpected server response".
 */
async function execInPod(
  kc: KubeConfig,
  server: string,
  wsOptions: () => Promise<WebSocket.ClientOptions>,
  namespace: string,
  pod: string,
  command: readonly string[],
  eo: ExecOptions,
  timeoutMs: number,
): Promise<ExecResult> {
  const what = `exec in pod ${namespace}/${pod}`
  let refused: KubeError | undefined
  // client-node's WebSocketInterface, with the TLS and credentials of the kubeconfig.
  const handler = {
    async connect(
      path: string,
      _text: unknown,
      binary: ((stream: number, buff: Buffer) => boolean) | null,
    ): Promise<WebSocket> {
      const opts = await wsOptions()
      const uri = server.replace(/^http/, 'ws').replace(/\/+$/, '') + path
      return new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(uri, [...EXEC_PROTOCOLS], opts)
        let open = false
        ws.on('unexpected-response', (req, res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () => {
            refused = kubeErrorFromResponse(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'), what)
            req.destroy()
            reject(refused)
          })
        })
        ws.on('open', () => {
          open = true
          resolve(ws)
        })
        ws.on('error', (e) => {
          if (!open) reject(refused ?? e)
        })
        ws.on('message', (data: Buffer, isBinary) => {
          if (!isBinary || data.length === 0 || binary === null) return
          const channel = data.readUInt8(0)
          // v5's close signal (255) only half-closes a stream; the status on channel 3 ends the call.
          if (channel === 255) return
          if (!binary(channel, data.subarray(1))) ws.close()
        })
      })
    },
  }
  const out = new Sink()
  const err = new Sink()
  const exec = new Exec(kc, handler as never)
  let socket: WebSocket | undefined
  let timer: NodeJS.Timeout | undefined
  try {
    return await new Promise<ExecResult>((resolve, reject) => {
      let status: unknown
      timer = setTimeout(() => {
        socket?.terminate()
        reject(
          new KubeError('timeout', `${what}: ${command.join(' ')} did not finish within ${timeoutMs} ms`),
        )
      }, timeoutMs)
      exec
        .exec(namespace, pod, eo.container ?? '', [...command], out, err, null, false, (s) => {
          status = s
        })
        .then((ws) => {
          socket = ws as unknown as WebSocket
          socket.on('close', () => {
            if (status === undefined) {
              reject(new KubeError('other', `${what}: the stream closed before the command's status arrived`))
              return
            }
            const r = execStatusResult(status)
            const stderr = err.text()
            resolve({
              stdout: out.text(),
              stderr: r.started ? stderr : `${stderr}${r.message ?? ''}`,
              exitCode: r.exitCode,
              started: r.started,
            })
          })
        })
        .catch((e: unknown) => reject(refused ?? toKubeError(e, server, timeoutMs)))
    })
  } finally {
    if (timer !== undefined) clearTimeout(timer)
  }
}
