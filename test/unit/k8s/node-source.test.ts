import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'

import {kubeClientFromConfig} from '../../../src/k8s/adapter.js'
import {kubeNodeSource} from '../../../src/k8s/node-source.js'
import {hasOpenssl, startApiServer, type TestApiServer} from '../../support/apiserver.js'
import {fakeKubeClient} from '../../support/fake-kube.js'
import {ADMIN_TOKEN, FLANNEL_TOKEN, NOBODY_TOKEN, nodeName, seedStore} from './seed.js'

const skip = hasOpenssl() ? false : 'the openssl binary is not installed (needed for the test CA)'
const PUBLIC_IP = 'flannel.alpha.coreos.com/public-ip'
const MAC = 'flannel.alpha.coreos.com/backend-data'

describe('kubeNodeSource against the HTTPS test API server', {skip}, () => {
  let srv: TestApiServer
  before(async () => {
    srv = await startApiServer(seedStore(620))
  })
  after(async () => {
    await srv.close()
    srv.tls.cleanup()
  })
  const client = (token: string) =>
    kubeClientFromConfig({kubeconfig: srv.writeKubeconfig(token), timeoutMs: 10_000})

  it('list() reads every node through the paginated list', async () => {
    const before = srv.requests.length
    const nodes = await kubeNodeSource(client(ADMIN_TOKEN)).list()
    assert.equal(nodes.length, 620)
    assert.equal(nodes[3]?.name, nodeName(3))
    assert.deepEqual(nodes[3]?.podCIDRs, ['10.244.3.0/24'])
    const lists = srv.requests.slice(before).filter((r) => r.path === '/api/v1/nodes')
    assert.equal(lists.length, 2)
    assert.ok(lists[1]?.query.get('continue'))
  })

  it('publish() PATCHes the status subresource (strategic merge) and the node carries the annotations', async () => {
    // flanneld's own credentials suffice: its ClusterRole grants patch nodes/status.
    const src = kubeNodeSource(client(FLANNEL_TOKEN))
    const before = srv.requests.length
    const ann = {[PUBLIC_IP]: '192.168.50.7', [MAC]: '{"VNI":1,"VtepMAC":"02:00:00:00:00:07"}'}
    assert.deepEqual(await src.publish(nodeName(7), ann), {changed: true})
    const patches = srv.requests.slice(before).filter((r) => r.method === 'PATCH')
    assert.equal(patches.length, 1)
    assert.equal(patches[0]?.path, `/api/v1/nodes/${nodeName(7)}/status`)
    assert.equal(patches[0]?.contentType?.split(';')[0], 'application/strategic-merge-patch+json')
    const stored = srv.store.nodes.get(nodeName(7))?.metadata?.annotations ?? {}
    assert.equal(stored[PUBLIC_IP], '192.168.50.7')
    assert.equal(stored[MAC], ann[MAC])
    assert.equal(stored['flannel.alpha.coreos.com/backend-type'], 'vxlan', 'other annotations stay')
    // Same values again: nothing to send.
    const n = srv.requests.length
    assert.deepEqual(await src.publish(nodeName(7), ann), {changed: false})
    assert.equal(srv.requests.slice(n).filter((r) => r.method === 'PATCH').length, 0)
  })

  it('a user without list nodes gets one line naming it', async () => {
    await assert.rejects(kubeNodeSource(client(NOBODY_TOKEN)).list(), (e: Error) => {
      assert.equal(e.name, 'KubeNodeSourceError')
      assert.match(
        e.message,
        /cannot list nodes: nodes is forbidden: User "nobody" cannot list resource "nodes"/,
      )
      assert.match(e.message, /kubectl auth can-i list nodes\)$/)
      assert.ok(!e.message.includes('\n'))
      return true
    })
  })
})

describe('kubeNodeSource over the fake client', () => {
  it('an unknown node is named; a forbidden patch names patch nodes/status', async () => {
    const store = seedStore(2)
    await assert.rejects(kubeNodeSource(fakeKubeClient(store)).publish('ghost', {[PUBLIC_IP]: '1.2.3.4'}), {
      message: 'the Kubernetes API: node ghost does not exist (kubectl get node ghost)',
    })
    store.addClusterRole({
      metadata: {name: 'reader'},
      rules: [{apiGroups: [''], resources: ['nodes'], verbs: ['list']}],
    })
    store.addClusterRoleBinding({
      metadata: {name: 'reader'},
      roleRef: {kind: 'ClusterRole', name: 'reader'},
      subjects: [{kind: 'User', name: 'reader'}],
    })
    const src = kubeNodeSource(fakeKubeClient(store, {user: 'reader'}))
    await assert.rejects(src.publish(nodeName(0), {[PUBLIC_IP]: '1.2.3.4'}), (e: Error) => {
      assert.match(
        e.message,
        /cannot patch nodes\/node-0000\/status: .*cannot patch resource "nodes\/status"/,
      )
      assert.match(e.message, /kubectl auth can-i patch nodes --subresource=status\)$/)
      return true
    })
    assert.equal(store.nodes.get(nodeName(0))?.metadata?.annotations?.[PUBLIC_IP], '192.168.0.1')
  })
})
