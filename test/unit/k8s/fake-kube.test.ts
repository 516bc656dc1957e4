// The hand-written fake must answer like the real adapter over the HTTPS server, on the same store.
import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'

import {kubeClientFromConfig} from '../../../src/k8s/adapter.js'
import {KubeError, type KubeClient} from '../../../src/k8s/client.js'
import {hasOpenssl, startApiServer, type TestApiServer} from '../../support/apiserver.js'
import {fakeKubeClient} from '../../support/fake-kube.js'
import {ADMIN_TOKEN, FLANNEL_SA, FLANNEL_TOKEN, seedStore} from './seed.js'

const skip = hasOpenssl() ? false : 'the openssl binary is not installed (needed for the test CA)'

async function outcome(p: Promise<unknown>): Promise<unknown> {
  try {
    return {ok: await p}
  } catch (e) {
    assert.ok(e instanceof KubeError, String(e))
    return {kind: e.kind, status: e.status, reason: e.reason, message: e.message}
  }
}

describe('fakeKubeClient agrees with the adapter over HTTPS', {skip}, () => {
  let srv: TestApiServer
  const pairs: [string, KubeClient, KubeClient][] = []

  before(async () => {
    srv = await startApiServer(seedStore(7))
    pairs.push([
      'admin',
      kubeClientFromConfig({kubeconfig: srv.writeKubeconfig(ADMIN_TOKEN)}),
      fakeKubeClient(srv.store),
    ])
    pairs.push([
      'flannel',
      kubeClientFromConfig({kubeconfig: srv.writeKubeconfig(FLANNEL_TOKEN)}),
      fakeKubeClient(srv.store, {user: FLANNEL_SA}),
    ])
  })
  after(async () => {
    await srv.close()
    srv.tls.cleanup()
  })

  const calls: [string, (c: KubeClient) => Promise<unknown>][] = [
    ['listNodes', (c) => c.listNodes({limit: 3})],
    ['getConfigMap', (c) => c.getConfigMap('kube-flannel', 'kube-flannel-cfg')],
    ['getDaemonSet missing', (c) => c.getDaemonSet('kube-flannel', 'nope')],
    ['listPods', (c) => c.listPods('kube-flannel', 'app=flannel')],
    ['readPodLog tail', (c) => c.readPodLog('kube-flannel', 'kube-flannel-ds-7xk2p', {tailLines: 2})],
    [
      'readPodLog previous missing',
      (c) => c.readPodLog('kube-flannel', 'kube-flannel-ds-q9dmw', {previous: true}),
    ],
    [
      'SSAR patch nodes/status',
      (c) => c.selfSubjectAccessReview({verb: 'patch', resource: 'nodes', subresource: 'status'}),
    ],
    ['SAR list pods', (c) => c.subjectAccessReview(FLANNEL_SA, {verb: 'list', resource: 'pods'})],
    ['listClusterRoles', (c) => c.listClusterRoles()],
    ['listClusterRoleBindings', (c) => c.listClusterRoleBindings()],
    ['listRoleBindings kube-system', (c) => c.listRoleBindings('kube-system')],
    ['listRoleBindings kube-flannel', (c) => c.listRoleBindings('kube-flannel')],
    ['patch missing node', (c) => c.patchNodeStatusAnnotations('ghost', {a: 'b'})],
    [
      'patch node',
      (c) => c.patchNodeStatusAnnotations('node-0002', {'flannel.alpha.coreos.com/public-ip': '10.1.1.1'}),
    ],
  ]

  for (const [name, call] of calls)
    it(name, async () => {
      for (const [who, real, fake] of pairs) {
        const a = await outcome(call(real))
        const b = await outcome(call(fake))
        // Each patch bumps resourceVersion, so the second of a pair differs there by design.
        const strip = (v: unknown): unknown =>
          JSON.parse(JSON.stringify(v, (k, x: unknown) => (k === 'resourceVersion' ? undefined : x)))
        assert.deepEqual(strip(b), strip(a), `${who}: ${name}`)
      }
    })

  it('records calls and can simulate an unreachable cluster', async () => {
    const f = fakeKubeClient(srv.store, {
      failWith: new KubeError('unreachable', 'cannot reach the API server'),
    })
    await assert.rejects(
      f.serverVersion(),
      (e: unknown) => e instanceof KubeError && e.kind === 'unreachable',
    )
    assert.deepEqual(f.calls, ['serverVersion'])
  })
})
