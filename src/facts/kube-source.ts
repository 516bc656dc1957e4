/**
 * The Kubernetes API as an evidence source: the cluster probes of a bundle (`nodes`, `flannel-cfg`,
 * `daemonset`, `rbac`, `logs`) captured through a KubeClient as the same JSON `kubectl ... -o json` writes,
 * so a live run and a bundle are parsed by the same parsers. flannel runs as the DaemonSet `kube-flannel-ds`
 * in `kube-flannel` (in `kube-system` up to v0.18) with pods labelled `app=flannel`; its ServiceAccount
 * `flannel` needs get pods, get/list/watch nodes and patch nodes/status (flannel-facts §7.2, §7.3). k3s and
 * RKE2 run flannel inside their own agent: no DaemonSet, no ConfigMap, but the node annotations are the same.
 * Every KubeError becomes the capture's failure with one line (a forbidden call names the verb and resource
 * the user lacks, confirmed with a SelfSubjectAccessReview); never a stack. The `rbac` capture holds the
 * SubjectAccessReviews of the flannel ServiceAccount and the bindings naming it with the ClusterRoles they
 * bind; when the reviews are forbidden to the user, the objects alone (kube.rbac evaluates their rules), and
 * when both are, a permission failure naming both verbs.
 */
import {FLANNEL_CM, FLANNEL_DS} from '../checks/lib/flannel.js'
import {KubeError, type AccessAttributes, type KubeClient, type KubeObject} from '../k8s/client.js'
import type {ProbeId} from './probes.js'
import type {EvidenceSource, RawCapture} from './sources.js'
import type {HostInfo} from './types.js'

export interface KubeSourceOptions {
  /** The flannel namespace; default detected (kube-flannel, else kube-system). */
  namespace?: string
  /** This node's name: selects the flannel pod whose log is read. */
  nodeName?: string
  /** Lines of each log to read (default 500). */
  logTail?: number
  /** Shown as the origin, e.g. the API server URL. */
  server?: string
}

/** The probes the API answers; every other probe belongs to the node. */
export const CLUSTER_PROBES: readonly ProbeId[] = ['nodes', 'flannel-cfg', 'daemonset', 'rbac', 'logs']

const NAMESPACES = ['kube-flannel', 'kube-system'] as const
const SELECTOR = 'app=flannel'
const FLANNEL_ANN = 'flannel.alpha.coreos.com/'
const DEFAULT_TAIL = 500

type Fail = Extract<RawCapture, {ok: false}>

/** The permissions flanneld needs (kube.rbac asks the same). */
const NEEDS: readonly AccessAttributes[] = [
  {verb: 'get', resource: 'pods'},
  {verb: 'get', resource: 'nodes'},
  {verb: 'list', resource: 'nodes'},
  {verb: 'watch', resource: 'nodes'},
  {verb: 'patch', resource: 'nodes', subresource: 'status'},
]

const SAR: AccessAttributes = {
  verb: 'create',
  resource: 'subjectaccessreviews',
  group: 'authorization.k8s.io',
}
const RBAC_GROUP = 'rbac.authorization.k8s.io'
const RBAC_V1 = `${RBAC_GROUP}/v1`
const RBAC_LISTS = {
  clusterroles: {verb: 'list', resource: 'clusterroles', group: RBAC_GROUP},
  clusterrolebindings: {verb: 'list', resource: 'clusterrolebindings', group: RBAC_GROUP},
  rolebindings: {verb: 'list', resource: 'rolebindings', group: RBAC_GROUP},
  roles: {verb: 'list', resource: 'roles', group: RBAC_GROUP},
} as const satisfies Record<string, AccessAttributes>
const rbacObjectsSource = (ns: string): string =>
  `kubectl get clusterroles,clusterrolebindings -o json; kubectl -n ${ns} get rolebindings,roles -o json (API)`

const resName = (a: AccessAttributes): string =>
  `${a.resource ?? ''}${a.group ? '.' + a.group : ''}${a.subresource ? '/' + a.subresource : ''}`

/** `kubectl auth can-i VERB RESOURCE [--subresource=S] [-n NS]` for one set of attributes. */
export function canIHint(a: AccessAttributes): string {
  const res = `${a.resource ?? ''}${a.group ? '.' + a.group : ''}`
  return (
    `kubectl auth can-i ${a.verb} ${res}${a.name !== undefined ? '/' + a.name : ''}` +
    (a.subresource ? ` --subresource=${a.subresource}` : '') +
    (a.namespace ? ` -n ${a.namespace}` : '')
  )
}

/**
 * The capture failure for a failed API call. Forbidden: the verb/resource the user lacks (asked again with
 * a SelfSubjectAccessReview, which a user may always create); not-found: absent; anything else: error or
 * timeout with the one-line reason.
 */
export async function kubeFailure(
  client: KubeClient,
  e: unknown,
  attrs: AccessAttributes,
  source: string,
): Promise<Fail> {
  if (!(e instanceof KubeError)) {
    const first = (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? ''
    return {ok: false, state: 'error', reason: `${source}: ${first}`, source}
  }
  switch (e.kind) {
    case 'forbidden': {
      let confirmed = true
      try {
        confirmed = !(await client.selfSubjectAccessReview(attrs)).allowed
      } catch {
        // The review itself failed: the call's own attributes are still what was denied.
      }
      const what = `${attrs.verb} ${resName(attrs)}${attrs.namespace ? ` in namespace ${attrs.namespace}` : ''}`
      return {
        ok: false,
        state: 'permission',
        reason: confirmed
          ? `your credentials may not ${what}: ${canIHint(attrs)}`
          : `the API server refused to ${what}: ${e.message}`,
        hint: `${canIHint(attrs)}   # ask the cluster admin for this permission, or use another --context`,
        source,
      }
    }
    case 'not-found':
      return {ok: false, state: 'absent', reason: `${source}: ${e.message}`, source}
    case 'timeout':
      return {ok: false, state: 'timeout', reason: e.message, hint: 'retry, or check the API server', source}
    default:
      return {
        ok: false,
        state: 'error',
        reason: e.message,
        hint:
          e.kind === 'unauthorized'
            ? 'the credentials of the kubeconfig were refused: renew them (kubectl get nodes must work)'
            : e.kind === 'tls'
              ? 'check the certificate-authority of the kubeconfig'
              : 'check --kubeconfig/--context and that the API server is reachable (kubectl get nodes)',
        source,
      }
  }
}

const listJson = (items: readonly KubeObject[]): string =>
  JSON.stringify({apiVersion: 'v1', kind: 'List', metadata: {resourceVersion: ''}, items}) + '\n'

interface NodeList {
  text: string
  /** The first node that carries k3s/RKE2 labels or annotations. */
  k3s?: string
  /** Some node carries flannel's annotations. */
  annotated: boolean
}

interface Detected {
  namespace: string
  /** How the namespace was chosen, for messages. */
  how: string
  ds?: KubeObject
  pods?: KubeObject[]
  /** flannel runs inside k3s/RKE2 (no DaemonSet, annotated nodes). */
  embedded?: string
  /** The first failure other than not-found while looking. */
  failure?: Fail
}

const isK3s = (o: KubeObject): boolean => {
  const keys = [...Object.keys(o.metadata?.annotations ?? {}), ...Object.keys(o.metadata?.labels ?? {})]
  return keys.some((k) => k.startsWith('k3s.io/') || k.startsWith('rke2.io/'))
}
const hasFlannelAnn = (o: KubeObject): boolean =>
  Object.keys(o.metadata?.annotations ?? {}).some((k) => k.startsWith(FLANNEL_ANN))

/** Kubernetes objects from the API, as cluster evidence. */
export function kubeSource(
  client: KubeClient,
  opts: KubeSourceOptions = {},
  /**
   * Answers already fetched, shared between the sources of several nodes of one cluster (--all-nodes):
   * everything but the node's own pod log is asked once.
   */
  memo: Map<string, Promise<unknown>> = new Map(),
): EvidenceSource {
  const origin = `kubernetes API${opts.server ? ' ' + opts.server : ''}`
  const tail = opts.logTail ?? DEFAULT_TAIL
  const once = <T>(key: string, f: () => Promise<T>): Promise<T> => {
    let p = memo.get(key) as Promise<T> | undefined
    if (p === undefined) {
      p = f()
      memo.set(key, p)
    }
    return p
  }

  /**
   * The node list as the JSON text the parsers read, and what detection needs from it. The objects
   * themselves are not kept: at 5,000 nodes they are most of the memory, and nothing reads them again.
   */
  const nodes = (): Promise<NodeList | Fail> =>
    once('nodes', async () => {
      let items: KubeObject[]
      try {
        items = await client.listNodes()
      } catch (e) {
        return kubeFailure(client, e, {verb: 'list', resource: 'nodes'}, 'kubectl get nodes')
      }
      const k3s = items.find(isK3s)?.metadata?.name
      const out: NodeList = {text: listJson(items), annotated: items.some(hasFlannelAnn)}
      if (k3s !== undefined) out.k3s = k3s
      return out
    })

  /** The DaemonSet and pods in one namespace: undefined when neither is there. */
  async function lookIn(ns: string): Promise<{ds?: KubeObject; pods: KubeObject[]} | Fail | undefined> {
    let ds: KubeObject | undefined
    try {
      ds = await client.getDaemonSet(ns, FLANNEL_DS)
    } catch (e) {
      if (!(e instanceof KubeError && e.kind === 'not-found'))
        return kubeFailure(
          client,
          e,
          {verb: 'get', resource: 'daemonsets', group: 'apps', namespace: ns, name: FLANNEL_DS},
          `kubectl -n ${ns} get ds ${FLANNEL_DS}`,
        )
    }
    let pods: KubeObject[]
    try {
      pods = await client.listPods(ns, SELECTOR)
    } catch (e) {
      return kubeFailure(
        client,
        e,
        {verb: 'list', resource: 'pods', namespace: ns},
        `kubectl -n ${ns} get pods -l ${SELECTOR}`,
      )
    }
    if (ds === undefined && pods.length === 0) return undefined
    const out: {ds?: KubeObject; pods: KubeObject[]} = {pods}
    if (ds !== undefined) out.ds = ds
    return out
  }

  const detect = (): Promise<Detected> =>
    once('detect', async () => {
      const candidates = opts.namespace !== undefined ? [opts.namespace] : [...NAMESPACES]
      let failure: Fail | undefined
      for (const ns of candidates) {
        const r = await lookIn(ns)
        if (r === undefined) continue
        if ('ok' in r) {
          failure ??= r
          continue
        }
        const d: Detected = {
          namespace: ns,
          how: opts.namespace !== undefined ? '--namespace' : `found the flannel pods in ${ns}`,
          pods: r.pods,
        }
        if (r.ds !== undefined) d.ds = r.ds
        return d
      }
      const fallback = opts.namespace ?? 'kube-flannel'
      if (failure !== undefined) return {namespace: fallback, how: 'default', failure}
      // No DaemonSet and no flannel pod: k3s/RKE2 run flannel inside their agent.
      const ns = await nodes()
      if ('text' in ns) {
        if (ns.k3s !== undefined || ns.annotated) {
          const why =
            ns.k3s !== undefined
              ? `flannel is embedded in k3s/RKE2 (node ${ns.k3s} carries k3s.io/rke2.io labels or annotations) and runs without a DaemonSet`
              : `flannel is embedded (nodes carry flannel annotations, but there is no ${FLANNEL_DS} DaemonSet or app=flannel pod in ${candidates.join(' or ')})`
          return {namespace: fallback, how: 'default', embedded: why}
        }
      }
      return {namespace: fallback, how: 'default'}
    })

  async function captureNodes(): Promise<RawCapture> {
    const r = await nodes()
    if (!('text' in r)) return r
    return {ok: true, text: r.text, source: 'kubectl get nodes -o json (API)'}
  }

  async function captureConfigMap(): Promise<RawCapture> {
    const d = await detect()
    if (d.embedded !== undefined)
      return {
        ok: false,
        state: 'not-collected',
        reason: `${d.embedded}: there is no ${FLANNEL_CM} ConfigMap`,
        hint: 'pass --net-conf FILE (k3s: /var/lib/rancher/k3s/agent/etc/flannel/net-conf.json)',
      }
    const source = `kubectl -n ${d.namespace} get cm ${FLANNEL_CM} -o json (API)`
    try {
      const cm = await client.getConfigMap(d.namespace, FLANNEL_CM)
      return {ok: true, text: JSON.stringify(cm, null, 2) + '\n', source}
    } catch (e) {
      return kubeFailure(
        client,
        e,
        {verb: 'get', resource: 'configmaps', namespace: d.namespace, name: FLANNEL_CM},
        source,
      )
    }
  }

  async function captureDaemonSet(): Promise<RawCapture> {
    const d = await detect()
    if (d.embedded !== undefined)
      return {
        ok: false,
        state: 'not-collected',
        reason: `${d.embedded}: no DaemonSet to check`,
        hint: 'check the k3s/RKE2 agent instead: journalctl -u k3s (or k3s-agent, rke2-agent)',
      }
    if (d.failure !== undefined) return d.failure
    const source = `kubectl -n ${d.namespace} get ds,pods -l ${SELECTOR} -o json (API)`
    if (d.ds === undefined && (d.pods ?? []).length === 0)
      return {
        ok: false,
        state: 'absent',
        reason: `no ${FLANNEL_DS} DaemonSet and no ${SELECTOR} pod in ${opts.namespace ?? NAMESPACES.join(' or ')}`,
        hint: 'kubectl get ds -A | grep flannel   # then pass --namespace NS',
        source,
      }
    const items = [
      ...(d.ds ? [d.ds] : []),
      ...(d.pods ?? []).map((p) => ({apiVersion: 'v1', kind: 'Pod', ...p})),
    ]
    return {ok: true, text: listJson(items), source}
  }

  /** SubjectAccessReviews of the flannel ServiceAccount for NEEDS; a Fail when a review cannot be made. */
  async function reviewsOf(user: string, ns: string): Promise<KubeObject[] | Fail> {
    const reviews: KubeObject[] = []
    for (const need of NEEDS) {
      const a: AccessAttributes = need.resource === 'pods' ? {...need, namespace: ns} : need
      try {
        const r = await client.subjectAccessReview(user, a)
        const ra: Record<string, string> = {verb: a.verb, group: '', resource: a.resource ?? ''}
        if (a.subresource !== undefined) ra['subresource'] = a.subresource
        if (a.namespace !== undefined) ra['namespace'] = a.namespace
        reviews.push({
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {user, resourceAttributes: ra},
          status: r,
        })
      } catch (e) {
        return kubeFailure(client, e, SAR, `SubjectAccessReviews for ${user} (API)`)
      }
    }
    return reviews
  }

  /**
   * The ClusterRoleBindings and the flannel namespace's RoleBindings that name the ServiceAccount, and
   * the ClusterRoles they bind. When none names it, every binding read is kept: the evidence that none does.
   */
  async function objectsOf(
    sa: string,
    ns: string,
  ): Promise<KubeObject[] | {fail: Fail; attrs: AccessAttributes}> {
    const source = rbacObjectsSource(ns)
    const step = async (attrs: AccessAttributes, f: () => Promise<KubeObject[]>) => {
      try {
        return await f()
      } catch (e) {
        return {fail: await kubeFailure(client, e, attrs, source), attrs}
      }
    }
    const crb = await step(RBAC_LISTS.clusterrolebindings, () => client.listClusterRoleBindings())
    if (!Array.isArray(crb)) return crb
    const rb = await step({...RBAC_LISTS.rolebindings, namespace: ns}, () => client.listRoleBindings(ns))
    if (!Array.isArray(rb)) return rb
    const cr = await step(RBAC_LISTS.clusterroles, () => client.listClusterRoles())
    if (!Array.isArray(cr)) return cr
    // Roles only matter when a RoleBinding in flannel's namespace points at one.
    const wantsRoles = rb.some((b) => (b['roleRef'] as {kind?: unknown} | undefined)?.kind === 'Role')
    const ro = wantsRoles ? await step({...RBAC_LISTS.roles, namespace: ns}, () => client.listRoles(ns)) : []
    if (!Array.isArray(ro)) return ro
    const user = `system:serviceaccount:${ns}:${sa}`
    const groups = ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated']
    const names = (b: KubeObject): boolean => {
      const subjects = Array.isArray(b['subjects']) ? (b['subjects'] as unknown[]) : []
      return subjects.some((x) => {
        if (typeof x !== 'object' || x === null) return false
        const s = x as {kind?: unknown; name?: unknown; namespace?: unknown}
        if (s.kind === 'ServiceAccount') return s.name === sa && (s.namespace ?? b.metadata?.namespace) === ns
        if (s.kind === 'User') return s.name === user
        return s.kind === 'Group' && typeof s.name === 'string' && groups.includes(s.name)
      })
    }
    const tag =
      (kind: string) =>
      (o: KubeObject): KubeObject => ({apiVersion: RBAC_V1, kind, ...o})
    const allBindings = [...crb.map(tag('ClusterRoleBinding')), ...rb.map(tag('RoleBinding'))]
    const bound = allBindings.filter(names)
    const refs = new Set(
      bound
        .map((b) => b['roleRef'] as {kind?: unknown; name?: unknown} | undefined)
        .filter((r) => r?.kind === 'ClusterRole' && typeof r.name === 'string')
        .map((r) => r?.name as string),
    )
    const roleRefs = new Set(
      bound
        .filter((b) => b.kind === 'RoleBinding')
        .map((b) => b['roleRef'] as {kind?: unknown; name?: unknown} | undefined)
        .filter((r) => r?.kind === 'Role' && typeof r.name === 'string')
        .map((r) => r?.name as string),
    )
    const roles = [
      ...cr.filter((r) => refs.has(r.metadata?.name ?? '')).map(tag('ClusterRole')),
      ...ro.filter((r) => roleRefs.has(r.metadata?.name ?? '')).map(tag('Role')),
    ]
    return bound.length > 0 ? [...bound, ...roles] : allBindings
  }

  async function captureRbac(): Promise<RawCapture> {
    const d = await detect()
    const spec = d.ds?.['spec'] as {template?: {spec?: {serviceAccountName?: string}}} | undefined
    const sa = spec?.template?.spec?.serviceAccountName ?? 'flannel'
    const user = `system:serviceaccount:${d.namespace}:${sa}`
    const reviews = await reviewsOf(user, d.namespace)
    // Anything but a forbidden review (API down, timeout): the objects would fail alike.
    if (!Array.isArray(reviews) && reviews.state !== 'permission') return reviews
    const objects = await objectsOf(sa, d.namespace)
    const objSource = rbacObjectsSource(d.namespace)
    if (Array.isArray(reviews)) {
      // The reviews decide; the objects (when readable) name the bindings and rules behind them.
      if (!Array.isArray(objects) || objects.length === 0)
        return {ok: true, text: listJson(reviews), source: `SubjectAccessReviews for ${user} (API)`}
      return {
        ok: true,
        text: listJson([...reviews, ...objects]),
        source: `SubjectAccessReviews for ${user} and ${objSource}`,
      }
    }
    if (Array.isArray(objects)) {
      if (objects.length > 0) return {ok: true, text: listJson(objects), source: objSource}
      return {
        ok: false,
        state: 'absent',
        reason: `no ClusterRoleBinding, and no RoleBinding in ${d.namespace}, exists to show what ${user} may do (SubjectAccessReviews are forbidden to you)`,
        hint: `kubectl create clusterrolebinding flannel --clusterrole=flannel --serviceaccount=${d.namespace}:${sa}`,
        source: objSource,
      }
    }
    if (objects.fail.state !== 'permission') return objects.fail
    const what = (a: AccessAttributes): string =>
      `${a.verb} ${resName(a)}${a.namespace ? ` in namespace ${a.namespace}` : ''}`
    return {
      ok: false,
      state: 'permission',
      reason: `your credentials may neither ${what(SAR)} nor ${what(objects.attrs)}, so what ${user} may do cannot be read: ${canIHint(SAR)}; ${canIHint(objects.attrs)}`,
      hint: `${canIHint(objects.attrs)}   # either permission is enough; ask the cluster admin, or use another --context`,
      source: `SubjectAccessReviews and RBAC objects for ${user} (API)`,
    }
  }

  async function captureLogs(): Promise<RawCapture> {
    const d = await detect()
    if (d.embedded !== undefined)
      return {
        ok: false,
        state: 'not-collected',
        reason: `${d.embedded}: its log is the agent's journal`,
        hint: 'journalctl -u k3s > k3s.log, then pass --log k3s.log',
      }
    if (d.failure !== undefined) return d.failure
    if (opts.nodeName === undefined)
      return {
        ok: false,
        state: 'not-collected',
        reason: 'no node name to pick the flannel pod of this node',
        hint: 'pass --node-name NAME',
      }
    const pod = (d.pods ?? []).find(
      (p) => (p['spec'] as {nodeName?: string} | undefined)?.nodeName === opts.nodeName,
    )
    const name = pod?.metadata?.name
    if (name === undefined)
      return {
        ok: false,
        state: 'not-collected',
        reason: `no ${SELECTOR} pod in ${d.namespace} runs on node ${opts.nodeName}`,
        hint: `kubectl -n ${d.namespace} get pods -l ${SELECTOR} -o wide`,
      }
    const containers = ((pod?.['spec'] as {containers?: {name?: string}[]} | undefined)?.containers ?? [])
      .map((c) => c.name)
      .filter((c): c is string => typeof c === 'string')
    const container = containers.includes('kube-flannel') ? 'kube-flannel' : containers[0]
    const base = container !== undefined ? {container, tailLines: tail} : {tailLines: tail}
    const source = `kubectl -n ${d.namespace} logs ${name} --tail=${tail} (API)`
    const files: {name: string; text: string}[] = []
    try {
      files.push({name: `${name}.log`, text: await client.readPodLog(d.namespace, name, base)})
    } catch (e) {
      return kubeFailure(
        client,
        e,
        {verb: 'get', resource: 'pods', subresource: 'log', namespace: d.namespace, name},
        source,
      )
    }
    try {
      const prev = await client.readPodLog(d.namespace, name, {...base, previous: true})
      if (prev !== '') files.push({name: `${name}.previous.log`, text: prev})
    } catch {
      // No previous container (it never restarted): nothing to add.
    }
    return {ok: true, text: '', files, source}
  }

  return {
    origin,
    async host() {
      const h: HostInfo = {origin}
      if (opts.nodeName !== undefined) h.nodeName = opts.nodeName
      return h
    },
    async capture(id) {
      switch (id) {
        case 'nodes':
          return once('cap:nodes', captureNodes)
        case 'flannel-cfg':
          return once('cap:flannel-cfg', captureConfigMap)
        case 'daemonset':
          return once('cap:daemonset', captureDaemonSet)
        case 'rbac':
          return once('cap:rbac', captureRbac)
        case 'logs':
          return captureLogs()
        default:
          return {ok: false, state: 'not-collected', reason: `${id} is not read from the Kubernetes API`}
      }
    },
  }
}

/**
 * Cluster probes from `cluster` (the API), node probes from `node` (the host, a netns or a bundle). Logs
 * given on the node side (--log, a bundle's logs/) are added to the pod logs from the API.
 */
export function combinedSource(node: EvidenceSource, cluster: EvidenceSource): EvidenceSource {
  return {
    origin: `${node.origin} + ${cluster.origin}`,
    async host() {
      // Who this node is comes from the node side only (the API side's name just picks a pod log).
      const n = await node.host()
      return {...n, origin: `${n.origin} + ${cluster.origin}`}
    },
    async capture(id, hint) {
      if (!CLUSTER_PROBES.includes(id)) return node.capture(id, hint)
      if (id !== 'logs') {
        const c = await cluster.capture(id, hint)
        if (c.ok) return c
        // The node side may hold it (a bundle's kubernetes/ folder, --nodes-file): use it then.
        const n = await node.capture(id, hint)
        return n.ok ? n : c
      }
      const [n, c] = await Promise.all([node.capture(id, hint), cluster.capture(id, hint)])
      if (n.ok && c.ok)
        return {
          ok: true,
          text: '',
          files: [...(n.files ?? []), ...(c.files ?? [])],
          source: `${n.source}, ${c.source}`,
        }
      if (c.ok) return c
      if (n.ok) return n
      return c.state === 'not-collected' ? n : c
    },
  }
}
