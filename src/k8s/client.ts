/**
 * The narrow port to the Kubernetes API: only the calls flannelctl makes. Objects travel as the plain
 * JSON the API server sent (parsers in src/parse/kube.ts turn them into facts), so the live source, a
 * bundle and the fake all look the same to the code above. This file holds types and errors only; the
 * one implementation over @kubernetes/client-node is ./adapter.ts, the fake is test/support/fake-kube.ts.
 */

/** Object metadata as the API sends it (only the fields we read are named). */
export interface KubeObjectMeta {
  name?: string
  namespace?: string
  resourceVersion?: string
  uid?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
  [key: string]: unknown
}

/** Any Kubernetes object as plain JSON. */
export interface KubeObject {
  apiVersion?: string
  kind?: string
  metadata?: KubeObjectMeta
  [key: string]: unknown
}

export type KubeNodeObject = KubeObject
export type KubeConfigMapObject = KubeObject & {data?: Record<string, string>}
export type KubeDaemonSetObject = KubeObject
export type KubePodObject = KubeObject
/** rbac.authorization.k8s.io/v1 objects, as list items (no kind/apiVersion, as the API sends them). */
export type KubeRbacObject = KubeObject

/** `ResourceAttributes` / `NonResourceAttributes` of an access review (authorization.k8s.io/v1). */
export interface AccessAttributes {
  verb: string
  resource?: string
  subresource?: string
  group?: string
  namespace?: string
  name?: string
  /** A non-resource URL such as `/healthz`; then only `verb` is used with it. */
  nonResourceURL?: string
}

export interface AccessReviewResult {
  allowed: boolean
  denied?: boolean
  reason?: string
  evaluationError?: string
}

/** The fields of `/version` we use (`gitVersion` is what `kubectl version` prints). */
export interface ServerVersion {
  major: string
  minor: string
  gitVersion: string
  platform?: string
  [key: string]: unknown
}

export interface ListNodesOptions {
  /** Page size (`limit`); default 500, as kubectl's `--chunk-size`. */
  limit?: number
  /** Called after each page with the number of nodes received so far. */
  onPage?: (n: number) => void
}

export interface PodLogOptions {
  container?: string
  previous?: boolean
  tailLines?: number
}

/** One command run in a container through the exec subresource (WebSocket, channel protocol v4/v5). */
export interface ExecOptions {
  /** Container name; default the pod's only (or first) container, as kubectl does. */
  container?: string
  /** Give up (closing the stream) after this long: the call rejects with a `timeout` KubeError. */
  timeoutMs?: number
}

/**
 * How an exec ended. A command that ran and exited non-zero is data here, not an error; so is a
 * command the container could not start (`started: false`, the runtime's one-line reason in `stderr`,
 * exit code 127 when the binary does not exist in the image, as a shell would say).
 */
export interface ExecResult {
  stdout: string
  stderr: string
  exitCode: number
  started: boolean
}

export interface KubeClient {
  /** All nodes, following `continue` until done; a 410 Gone mid-way restarts the list once. */
  listNodes(opts?: ListNodesOptions): Promise<KubeNodeObject[]>
  /** Strategic-merge PATCH of `nodes/NAME/status` setting (or, with null, removing) annotations. */
  patchNodeStatusAnnotations(
    name: string,
    annotations: Record<string, string | null>,
  ): Promise<KubeNodeObject>
  getConfigMap(namespace: string, name: string): Promise<KubeConfigMapObject>
  getDaemonSet(namespace: string, name: string): Promise<KubeDaemonSetObject>
  listPods(namespace: string, labelSelector: string): Promise<KubePodObject[]>
  readPodLog(namespace: string, pod: string, opts?: PodLogOptions): Promise<string>
  /** All ClusterRoles (`GET /apis/rbac.authorization.k8s.io/v1/clusterroles`). */
  listClusterRoles(): Promise<KubeRbacObject[]>
  /** All ClusterRoleBindings. */
  listClusterRoleBindings(): Promise<KubeRbacObject[]>
  /** The RoleBindings of one namespace. */
  listRoleBindings(namespace: string): Promise<KubeRbacObject[]>
  /** The Roles of one namespace. */
  listRoles(namespace: string): Promise<KubeRbacObject[]>
  /** `pods/exec`: run `command` (an argv, never a shell string) in a container of the pod. */
  exec(namespace: string, pod: string, command: readonly string[], opts?: ExecOptions): Promise<ExecResult>
  selfSubjectAccessReview(attrs: AccessAttributes): Promise<AccessReviewResult>
  subjectAccessReview(user: string, attrs: AccessAttributes): Promise<AccessReviewResult>
  serverVersion(): Promise<ServerVersion>
}

export type KubeErrorKind =
  'unreachable' | 'tls' | 'unauthorized' | 'forbidden' | 'not-found' | 'gone' | 'timeout' | 'other'

/** Every failure of a KubeClient call. The message is one line meant for people, never a stack. */
export class KubeError extends Error {
  readonly kind: KubeErrorKind
  readonly status?: number
  readonly reason?: string

  constructor(kind: KubeErrorKind, message: string, status?: number, reason?: string) {
    super(oneLine(message))
    this.name = 'KubeError'
    this.kind = kind
    if (status !== undefined) this.status = status
    if (reason !== undefined) this.reason = reason
  }
}

function oneLine(s: string): string {
  const t = s.replace(/\s*[\r\n]+\s*/g, ' ').trim()
  return t.length > 500 ? t.slice(0, 497) + '...' : t
}

/** The error kind an HTTP status (and the Status `reason`) stands for. */
export function kindForStatus(code: number, reason?: string): KubeErrorKind {
  if (code === 401) return 'unauthorized'
  if (code === 403) return 'forbidden'
  if (code === 404) return 'not-found'
  if (code === 410) return 'gone'
  if (code === 504 || code === 408 || reason === 'Timeout' || reason === 'ServerTimeout') return 'timeout'
  return 'other'
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  410: 'Gone',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
}

/**
 * A KubeError from an HTTP error response. `body` is the raw response text: a `Status` object gives
 * `message (reason, code)`; anything else gives the status line and the start of the body.
 */
export function kubeErrorFromResponse(code: number, body: string | undefined, context?: string): KubeError {
  let message: string | undefined
  let reason: string | undefined
  let statusCode = code
  if (body !== undefined && body.trim() !== '') {
    try {
      const s = JSON.parse(body) as unknown
      if (typeof s === 'object' && s !== null && !Array.isArray(s)) {
        const o = s as Record<string, unknown>
        if (typeof o['message'] === 'string' && o['message'] !== '') message = o['message']
        if (typeof o['reason'] === 'string' && o['reason'] !== '') reason = o['reason']
        if (typeof o['code'] === 'number' && o['code'] >= 400) statusCode = o['code']
      }
    } catch {
      message = body.trim().slice(0, 200)
    }
  }
  let text = (message ?? STATUS_TEXT[code] ?? 'request failed').replace(/\s*[\r\n]+\s*/g, ' ')
  if (text.length > 300) text = text.slice(0, 297) + '...'
  const tail = reason !== undefined ? `(${reason}, ${statusCode})` : `(HTTP ${statusCode})`
  const prefix = context !== undefined ? `${context}: ` : ''
  return new KubeError(kindForStatus(code, reason), `${prefix}${text} ${tail}`, code, reason)
}

/** A Kubernetes `Status` object as the API server sends it for a failure. */
export interface KubeStatus {
  kind: 'Status'
  apiVersion: 'v1'
  metadata: Record<string, unknown>
  status: 'Failure'
  message: string
  reason: string
  code: number
  details?: {name?: string; group?: string; kind?: string}
}
