/**
 * A hand-written KubeClient over the same KubeStore the HTTPS test server uses: no network, same data,
 * same errors (KubeError with the API's Status messages). For unit tests of code that takes a KubeClient.
 */
import {
  KubeError,
  type AccessAttributes,
  type KubeClient,
  type KubeObject,
  type KubeStatus,
} from '../../src/k8s/client.js'
import {
  execPreflight,
  kubectlDefaultContainer,
  forbidden,
  groupsOf,
  KubeStore,
  matchLabels,
  notFound,
  statusObject,
  type UserInfo,
} from './apiserver.js'

export interface FakeKubeOptions {
  /** Who the client is; default a cluster admin (system:masters). */
  user?: string
  groups?: string[]
  /** Fail every call with this error kind (e.g. 'unreachable'). */
  failWith?: KubeError
}

export interface FakeKubeClient extends KubeClient {
  /** Every call made, as `method args...`. */
  calls: string[]
}

const RBAC_GROUP = 'rbac.authorization.k8s.io'

const fail = (s: KubeStatus): KubeError =>
  new KubeError(
    s.code === 401
      ? 'unauthorized'
      : s.code === 403
        ? 'forbidden'
        : s.code === 404
          ? 'not-found'
          : s.code === 410
            ? 'gone'
            : 'other',
    `${s.message} (${s.reason}, ${s.code})`,
    s.code,
    s.reason,
  )

export function fakeKubeClient(store: KubeStore, opts: FakeKubeOptions = {}): FakeKubeClient {
  const user: UserInfo =
    opts.user !== undefined
      ? {username: opts.user, groups: groupsOf(opts.user, opts.groups ?? [])}
      : {
          username: 'kubernetes-admin',
          groups: groupsOf('kubernetes-admin', ['system:masters', ...(opts.groups ?? [])]),
        }
  const calls: string[] = []
  const enter = (c: string, a: AccessAttributes | undefined): void => {
    calls.push(c)
    if (opts.failWith !== undefined) throw opts.failWith
    if (a !== undefined && !store.authorize(user, a).allowed) throw fail(forbidden(user.username, a))
  }
  const get = (map: Map<string, KubeObject>, resource: string, ns: string, name: string): KubeObject => {
    const o = map.get(`${ns}/${name}`)
    if (o === undefined) throw fail(notFound(resource, name, resource === 'daemonsets' ? 'apps' : ''))
    // A GET of one object carries apiVersion/kind (list items do not), as from the API server.
    const kind = resource === 'configmaps' ? 'ConfigMap' : resource === 'pods' ? 'Pod' : 'DaemonSet'
    return {apiVersion: resource === 'daemonsets' ? 'apps/v1' : 'v1', kind, ...structuredClone(o)}
  }
  return {
    calls,
    async listNodes(o = {}) {
      enter('listNodes', {verb: 'list', resource: 'nodes'})
      const out: KubeObject[] = []
      let after: string | undefined
      for (;;) {
        const page = store.nodePage(o.limit ?? 500, after)
        out.push(...page.items)
        o.onPage?.(out.length)
        if (page.last === undefined) return out
        after = page.last
      }
    },
    async patchNodeStatusAnnotations(name, annotations) {
      enter(`patchNodeStatusAnnotations ${name}`, {
        verb: 'patch',
        resource: 'nodes',
        subresource: 'status',
        name,
      })
      const n = store.patchNode(name, {metadata: {annotations}})
      if (n === undefined) throw fail(notFound('nodes', name))
      return {apiVersion: 'v1', kind: 'Node', ...n}
    },
    async getConfigMap(ns, name) {
      enter(`getConfigMap ${ns}/${name}`, {verb: 'get', resource: 'configmaps', namespace: ns, name})
      return get(store.configMaps, 'configmaps', ns, name)
    },
    async getDaemonSet(ns, name) {
      enter(`getDaemonSet ${ns}/${name}`, {
        verb: 'get',
        resource: 'daemonsets',
        group: 'apps',
        namespace: ns,
        name,
      })
      return get(store.daemonSets, 'daemonsets', ns, name)
    },
    async listPods(ns, selector) {
      enter(`listPods ${ns} ${selector}`, {verb: 'list', resource: 'pods', namespace: ns})
      return [...store.pods.entries()]
        .filter(([k, p]) => k.startsWith(ns + '/') && matchLabels(selector, p.metadata?.labels))
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([, p]) => structuredClone(p))
    },
    async readPodLog(ns, pod, lo = {}) {
      enter(`readPodLog ${ns}/${pod}`, {
        verb: 'get',
        resource: 'pods',
        subresource: 'log',
        namespace: ns,
        name: pod,
      })
      const p = get(store.pods, 'pods', ns, pod)
      const spec = p['spec'] as {containers?: {name: string}[]} | undefined
      const names = (spec?.containers ?? []).map((c) => c.name)
      const container = lo.container ?? (names.length === 1 ? names[0] : undefined)
      if (container === undefined)
        throw fail(
          statusObject(
            400,
            'BadRequest',
            `a container name must be specified for pod ${pod}, choose one of: [${names.join(' ')}]`,
          ),
        )
      const entry = store.logs.get(`${ns}/${pod}/${container}`) ?? {current: ''}
      if (lo.previous === true && entry.previous === undefined)
        throw fail(
          statusObject(
            400,
            'BadRequest',
            `previous terminated container "${container}" in pod "${pod}" not found`,
          ),
        )
      const text = lo.previous === true ? (entry.previous as string) : entry.current
      if (lo.tailLines === undefined) return text
      const lines = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n')
      const kept = lo.tailLines === 0 ? [] : lines.slice(-lo.tailLines)
      return kept.length === 0 ? '' : kept.join('\n') + (text.endsWith('\n') ? '\n' : '')
    },
    async listClusterRoles() {
      enter('listClusterRoles', {verb: 'list', resource: 'clusterroles', group: RBAC_GROUP})
      return store.rbacList('clusterroles')
    },
    async listClusterRoleBindings() {
      enter('listClusterRoleBindings', {verb: 'list', resource: 'clusterrolebindings', group: RBAC_GROUP})
      return store.rbacList('clusterrolebindings')
    },
    async listRoleBindings(ns) {
      enter(`listRoleBindings ${ns}`, {
        verb: 'list',
        resource: 'rolebindings',
        group: RBAC_GROUP,
        namespace: ns,
      })
      return store.rbacList('rolebindings', ns)
    },
    async listRoles(ns) {
      enter(`listRoles ${ns}`, {verb: 'list', resource: 'roles', group: RBAC_GROUP, namespace: ns})
      return store.rbacList('roles', ns)
    },
    async exec(ns, pod, command, eo = {}) {
      enter(`exec ${ns}/${pod} ${command.join(' ')}`, undefined)
      let container: string
      try {
        const p = store.pods.get(`${ns}/${pod}`)
        const want = eo.container ?? (p === undefined ? undefined : kubectlDefaultContainer(p))
        container = execPreflight(store, user, ns, pod, want).container
      } catch (e) {
        const st = (e as {status?: KubeStatus}).status
        if (st !== undefined) throw fail(st)
        throw e
      }
      const handler = store.execHandler
      if (handler === undefined) throw new Error('the test store has no execHandler')
      const run = handler({namespace: ns, pod, container, command: [...command], user: user.username})
      const r =
        eo.timeoutMs === undefined
          ? await run
          : await Promise.race([
              run,
              new Promise<never>((_, reject) =>
                setTimeout(
                  () =>
                    reject(
                      new KubeError(
                        'timeout',
                        `exec in pod ${ns}/${pod}: ${command.join(' ')} did not finish within ${eo.timeoutMs} ms`,
                      ),
                    ),
                  eo.timeoutMs,
                ).unref(),
              ),
            ])
      if ('notFound' in r)
        return {
          stdout: '',
          stderr: `Internal error occurred: error executing command in container: failed to exec in container: OCI runtime exec failed: exec failed: unable to start container process: exec: "${r.notFound}": executable file not found in $PATH: unknown`,
          exitCode: 127,
          started: false,
        }
      return {...r, started: true}
    },
    async selfSubjectAccessReview(attrs) {
      enter('selfSubjectAccessReview', undefined)
      return store.authorize(user, attrs)
    },
    async subjectAccessReview(who, attrs) {
      enter(`subjectAccessReview ${who}`, {
        verb: 'create',
        resource: 'subjectaccessreviews',
        group: 'authorization.k8s.io',
      })
      return store.authorize({username: who, groups: groupsOf(who)}, attrs)
    },
    async serverVersion() {
      enter('serverVersion', undefined)
      return {...store.version}
    },
  }
}
