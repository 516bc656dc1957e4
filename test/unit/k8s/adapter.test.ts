import assert from 'node:assert/strict'
import {createServer, type Server} from 'node:net'
import {after, before, describe, it} from 'node:test'

import {kubeClientFromConfig} from '../../../src/k8s/adapter.js'
import {KubeError, type KubeClient} from '../../../src/k8s/client.js'
import {rejectsKube} from '../../support/kube-errors.js'
import {hasOpenssl, startApiServer, type TestApiServer} from '../../support/apiserver.js'
import {ADMIN_TOKEN, FLANNEL_SA, FLANNEL_TOKEN, NOBODY_TOKEN, nodeName, seedStore} from './seed.js'

const skip = hasOpenssl() ? false : 'the openssl binary is not installed (needed for the test CA)'

const rejects = rejectsKube

describe('kubeClientFromConfig against the HTTPS test API server', {skip}, () => {
  let srv: TestApiServer
  let admin: KubeClient
  let flannel: KubeClient

  before(async () => {
    srv = await startApiServer(seedStore(1200))
    admin = kubeClientFromConfig({kubeconfig: srv.writeKubeconfig(ADMIN_TOKEN), timeoutMs: 10_000})
    flannel = kubeClientFromConfig({kubeconfig: srv.writeKubeconfig(FLANNEL_TOKEN)})
  })
  after(async () => {
    await srv.close()
    srv.tls.cleanup()
  })

  const nodeLists = () => srv.requests.filter((r) => r.method === 'GET' && r.path === '/api/v1/nodes')

  it('pages through 1,200 nodes with limit 500 in 3 requests', async () => {
    const before = nodeLists().length
    const seen: number[] = []
    const nodes = await admin.listNodes({limit: 500, onPage: (n) => seen.push(n)})
    const reqs = nodeLists().slice(before)
    assert.equal(reqs.length, 3)
    assert.deepEqual(
      reqs.map((r) => r.query.get('limit')),
      ['500', '500', '500'],
    )
    assert.equal(reqs[0]?.query.get('continue'), null)
    assert.ok((reqs[1]?.query.get('continue') ?? '') !== '')
    assert.deepEqual(seen, [500, 1000, 1200])
    assert.equal(nodes.length, 1200)
    assert.deepEqual(
      nodes.map((n) => n.metadata?.name),
      Array.from({length: 1200}, (_, i) => nodeName(i)),
    )
    // Plain JSON as sent: timestamps stay strings, annotations intact.
    assert.equal(nodes[7]?.metadata?.['creationTimestamp'], '2025-01-01T00:00:00Z')
    assert.equal(nodes[7]?.metadata?.annotations?.['flannel.alpha.coreos.com/public-ip'], '192.168.0.8')
  })

  it('restarts the list once from scratch when a continue token expires (410 Expired)', async () => {
    const before = nodeLists().length
    let compacted = false
    const nodes = await admin.listNodes({
      limit: 500,
      onPage: () => {
        if (!compacted) {
          compacted = true
          srv.store.compact()
        }
      },
    })
    const reqs = nodeLists().slice(before)
    // page 1, continue → 410, then a fresh list of 3 pages
    assert.equal(reqs.length, 5)
    assert.equal(reqs[2]?.query.get('continue'), null)
    assert.equal(nodes.length, 1200)
    assert.equal(new Set(nodes.map((n) => n.metadata?.name)).size, 1200)
  })

  it('gives up with kind gone when the restarted list expires too', async () => {
    const e = await rejects(admin.listNodes({limit: 500, onPage: () => srv.store.compact()}))
    assert.equal(e.kind, 'gone')
    assert.equal(e.status, 410)
    assert.equal(e.reason, 'Expired')
    assert.match(e.message, /^The provided continue parameter is too old .* \(Expired, 410\)$/)
  })

  it('patches annotations on the node status subresource with a strategic-merge patch', async () => {
    const name = nodeName(3)
    const out = await flannel.patchNodeStatusAnnotations(name, {
      'flannel.alpha.coreos.com/public-ip': '10.9.8.7',
      'flannel.alpha.coreos.com/backend-type': null,
    })
    const req = srv.requests.filter((r) => r.method === 'PATCH').at(-1)
    assert.equal(req?.path, `/api/v1/nodes/${name}/status`)
    assert.equal(req?.contentType, 'application/strategic-merge-patch+json')
    assert.equal(req?.user, FLANNEL_SA)
    const stored = srv.store.nodes.get(name)?.metadata?.annotations ?? {}
    assert.equal(stored['flannel.alpha.coreos.com/public-ip'], '10.9.8.7')
    assert.equal(stored['flannel.alpha.coreos.com/backend-type'], undefined)
    assert.equal(stored['flannel.alpha.coreos.com/kube-subnet-manager'], 'true')
    assert.deepEqual(out.metadata?.annotations, stored)
  })

  it('maps 403 to forbidden with the API server message', async () => {
    const e = await rejects(flannel.getConfigMap('kube-flannel', 'kube-flannel-cfg'))
    assert.equal(e.kind, 'forbidden')
    assert.equal(e.status, 403)
    assert.equal(
      e.message,
      'configmaps "kube-flannel-cfg" is forbidden: User "system:serviceaccount:kube-flannel:flannel" cannot get resource "configmaps" in API group "" in the namespace "kube-flannel" (Forbidden, 403)',
    )
    const nobody = kubeClientFromConfig({kubeconfig: srv.writeKubeconfig(NOBODY_TOKEN)})
    const p = await rejects(nobody.patchNodeStatusAnnotations('x', {a: 'b'}))
    assert.equal(
      p.message,
      'nodes "x" is forbidden: User "nobody" cannot patch resource "nodes/status" in API group "" at the cluster scope (Forbidden, 403)',
    )
  })

  it('maps 404 to not-found and 401 to unauthorized', async () => {
    const e = await rejects(admin.patchNodeStatusAnnotations('no-such-node', {a: 'b'}))
    assert.equal(e.kind, 'not-found')
    assert.equal(e.reason, 'NotFound')
    assert.equal(e.message, 'nodes "no-such-node" not found (NotFound, 404)')
    const ds = await rejects(admin.getDaemonSet('kube-flannel', 'kube-flannel-ds-amd64'))
    assert.equal(ds.message, 'daemonsets.apps "kube-flannel-ds-amd64" not found (NotFound, 404)')
    const bad = kubeClientFromConfig({kubeconfig: srv.writeKubeconfig('wrong-token')})
    const u = await rejects(bad.listNodes())
    assert.equal(u.kind, 'unauthorized')
    assert.equal(u.status, 401)
    assert.equal(u.message, 'Unauthorized (Unauthorized, 401)')
  })

  it('reads objects, label-selected pods and logs', async () => {
    const cm = await admin.getConfigMap('kube-flannel', 'kube-flannel-cfg')
    assert.match(cm.data?.['net-conf.json'] ?? '', /"Network": "10.244.0.0\/16"/)
    const ds = await admin.getDaemonSet('kube-flannel', 'kube-flannel-ds')
    assert.equal(ds.kind, 'DaemonSet')
    const pods = await admin.listPods('kube-flannel', 'app=flannel,tier=node')
    assert.deepEqual(
      pods.map((p) => p.metadata?.name),
      ['kube-flannel-ds-7xk2p', 'kube-flannel-ds-q9dmw'],
    )
    const log = await admin.readPodLog('kube-flannel', 'kube-flannel-ds-7xk2p', {tailLines: 1})
    assert.equal(log, 'I1125 10:00:02.000003       1 kube.go:469] Starting kube subnet manager\n')
    const prev = await admin.readPodLog('kube-flannel', 'kube-flannel-ds-7xk2p', {
      container: 'kube-flannel',
      previous: true,
    })
    assert.match(prev, /pod cidr not assigned/)
    const none = await rejects(admin.readPodLog('kube-flannel', 'kube-flannel-ds-q9dmw', {previous: true}))
    assert.equal(none.kind, 'other')
    assert.equal(none.status, 400)
    const v = await admin.serverVersion()
    assert.equal(v.gitVersion, 'v1.31.4')
  })

  it('answers access reviews from the RBAC objects', async () => {
    const patch = {verb: 'patch', resource: 'nodes', subresource: 'status'}
    assert.equal((await flannel.selfSubjectAccessReview(patch)).allowed, true)
    assert.equal((await flannel.selfSubjectAccessReview({verb: 'delete', resource: 'nodes'})).allowed, false)
    assert.equal((await admin.subjectAccessReview(FLANNEL_SA, patch)).allowed, true)
    assert.equal(
      (await admin.subjectAccessReview(FLANNEL_SA, {verb: 'list', resource: 'pods'})).allowed,
      false,
    )
    assert.equal((await admin.subjectAccessReview('nobody', patch)).allowed, false)
    const e = await rejects(flannel.subjectAccessReview('nobody', patch))
    assert.equal(e.kind, 'forbidden')
  })

  it("lists ClusterRoles, ClusterRoleBindings and one namespace's RoleBindings; 403 without list", async () => {
    const roles = await admin.listClusterRoles()
    assert.deepEqual(
      roles.map((r) => r.metadata?.name),
      ['flannel'],
    )
    assert.deepEqual((roles[0]?.['rules'] as unknown[])[2], {
      apiGroups: [''],
      resources: ['nodes/status'],
      verbs: ['patch'],
    })
    const crb = await admin.listClusterRoleBindings()
    assert.deepEqual(crb[0]?.['subjects'], [
      {kind: 'ServiceAccount', name: 'flannel', namespace: 'kube-flannel'},
    ])
    assert.deepEqual(
      (await admin.listRoleBindings('kube-system')).map(
        (b) => `${b.metadata?.namespace}/${b.metadata?.name}`,
      ),
      ['kube-system/monitoring-view'],
    )
    assert.deepEqual(await admin.listRoleBindings('kube-flannel'), [])
    const paths = srv.requests.slice(-4).map((r) => r.path)
    assert.deepEqual(paths, [
      '/apis/rbac.authorization.k8s.io/v1/clusterroles',
      '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
      '/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/rolebindings',
      '/apis/rbac.authorization.k8s.io/v1/namespaces/kube-flannel/rolebindings',
    ])
    const e = await rejects(flannel.listClusterRoles())
    assert.equal(e.kind, 'forbidden')
    assert.equal(
      e.message,
      'clusterroles.rbac.authorization.k8s.io is forbidden: User "system:serviceaccount:kube-flannel:flannel" cannot list resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope (Forbidden, 403)',
    )
    const rb = await rejects(flannel.listRoleBindings('kube-flannel'))
    assert.match(
      rb.message,
      /cannot list resource "rolebindings" .* in the namespace "kube-flannel" \(Forbidden, 403\)$/,
    )
  })

  it('maps a closed port to unreachable', async () => {
    const port = await new Promise<number>((resolve) => {
      const s: Server = createServer()
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as {port: number}).port
        s.close(() => resolve(p))
      })
    })
    const c = kubeClientFromConfig({
      kubeconfig: srv.writeKubeconfig(ADMIN_TOKEN, {server: `https://127.0.0.1:${port}`}),
    })
    const e = await rejects(c.serverVersion())
    assert.equal(e.kind, 'unreachable')
    assert.equal(e.message, `cannot reach the API server at https://127.0.0.1:${port}: ECONNREFUSED`)
  })

  it('maps a server certificate from another CA to tls', async () => {
    const c = kubeClientFromConfig({
      kubeconfig: srv.writeKubeconfig(ADMIN_TOKEN, {caCert: srv.tls.otherCaCert}),
    })
    const e = await rejects(c.listNodes())
    assert.equal(e.kind, 'tls')
    assert.match(e.message, /^TLS handshake with https:\/\/127\.0\.0\.1:\d+ failed: /)
  })

  it('maps an unanswered request to timeout', async () => {
    const hang = createServer(() => {})
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r))
    const port = (hang.address() as {port: number}).port
    try {
      const c = kubeClientFromConfig({
        kubeconfig: srv.writeKubeconfig(ADMIN_TOKEN, {server: `https://127.0.0.1:${port}`}),
        timeoutMs: 300,
      })
      const e = await rejects(c.serverVersion())
      assert.equal(e.kind, 'timeout')
      assert.equal(e.message, `the API server at https://127.0.0.1:${port} did not answer within 300 ms`)
    } finally {
      hang.close()
      // sockets of the hanging server are dropped by the client's abort
    }
  })

  it('reports a missing kubeconfig or context as one line', () => {
    assert.throws(
      () => kubeClientFromConfig({kubeconfig: '/nonexistent/kubeconfig'}),
      (e: unknown) =>
        e instanceof KubeError &&
        e.kind === 'other' &&
        /^cannot load \/nonexistent\/kubeconfig: /.test(e.message),
    )
    assert.throws(
      () => kubeClientFromConfig({kubeconfig: srv.writeKubeconfig(ADMIN_TOKEN), context: 'prod'}),
      (e: unknown) => e instanceof KubeError && /^context "prod" is not in /.test(e.message),
    )
  })
})
