import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {CHECKS} from '../../../src/checks/registry.js'
import {runDoctor, selectChecks, type DoctorReport} from '../../../src/engine/doctor.js'
import {combinedSource, kubeSource} from '../../../src/facts/kube-source.js'
import {bundleSource, type RawCapture} from '../../../src/facts/sources.js'
import {KubeError} from '../../../src/k8s/client.js'
import {parseNodes} from '../../../src/parse/kube.js'
import {parseDaemonSet, parseRbac} from '../../../src/parse/kube-objects.js'
import {KubeStore} from '../../support/apiserver.js'
import {fakeKubeClient} from '../../support/fake-kube.js'
import {nodeName, seedStore} from './seed.js'

const NET_CONF = '{\n  "Network": "10.244.0.0/16",\n  "Backend": {\n    "Type": "vxlan"\n  }\n}\n'
const nodeSide = () => bundleSource('node', new Map([['files/etc/kube-flannel/net-conf.json', NET_CONF]]))
const kubeChecks = selectChecks(CHECKS, ['kube'], [])
const result = (r: DoctorReport, id: string) => {
  const c = r.checks.find((x) => x.id === id)
  assert.ok(c, `no check ${id}`)
  return c
}
const okText = (c: RawCapture): string => {
  assert.ok(c.ok, `capture failed: ${c.ok ? '' : c.reason}`)
  return c.text
}
const failed = (c: RawCapture) => {
  assert.ok(!c.ok, 'expected the capture to fail')
  return c
}

/** A cluster whose flannel runs inside k3s: annotated nodes, no DaemonSet, no ConfigMap. */
function k3sStore(): KubeStore {
  const s = new KubeStore()
  for (let i = 0; i < 2; i++)
    s.addNode({
      metadata: {
        name: `k3s-${i}`,
        labels: {'node.kubernetes.io/instance-type': 'k3s'},
        annotations: {
          'k3s.io/hostname': `k3s-${i}`,
          'k3s.io/node-args': '["server"]',
          'flannel.alpha.coreos.com/kube-subnet-manager': 'true',
          'flannel.alpha.coreos.com/backend-type': 'vxlan',
          'flannel.alpha.coreos.com/backend-data': `{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:0${i}"}`,
          'flannel.alpha.coreos.com/public-ip': `192.168.1.${i + 10}`,
        },
      },
      spec: {podCIDR: `10.42.${i}.0/24`, podCIDRs: [`10.42.${i}.0/24`]},
      status: {addresses: [{type: 'InternalIP', address: `192.168.1.${i + 10}`}]},
    })
  return s
}

describe('kubeSource over the fake client', () => {
  it('lists every node across pages as one kind: List', async () => {
    const client = fakeKubeClient(seedStore(1203))
    const c = await kubeSource(client).capture('nodes')
    const text = okText(c)
    assert.equal((JSON.parse(text) as {kind: string}).kind, 'List')
    const nodes = parseNodes(text)
    assert.equal(nodes.length, 1203)
    assert.equal(nodes[0]?.name, nodeName(0))
    assert.equal(nodes[1202]?.name, nodeName(1202))
    assert.equal(nodes[5]?.annotations['flannel.alpha.coreos.com/public-ip'], '192.168.0.6')
    // One listNodes call, memoised for the later probes that need the nodes too.
    await kubeSource(client).capture('daemonset')
    assert.equal(client.calls.filter((x) => x === 'listNodes').length, 1)
  })

  it('detects kube-flannel first: DaemonSet, pods, ConfigMap and the SA reviews in that namespace', async () => {
    const client = fakeKubeClient(seedStore(3))
    const src = kubeSource(client, {nodeName: nodeName(0)})
    const ds = parseDaemonSet(okText(await src.capture('daemonset')))
    assert.equal(ds.namespace, 'kube-flannel')
    assert.equal(ds.name, 'kube-flannel-ds')
    assert.deepEqual(
      ds.pods.map((p) => p.name),
      ['kube-flannel-ds-7xk2p', 'kube-flannel-ds-q9dmw'],
    )
    const cm = JSON.parse(okText(await src.capture('flannel-cfg'))) as {data: Record<string, string>}
    assert.match(cm.data['net-conf.json'] ?? '', /"Network": "10.244.0.0\/16"/)
    const rbac = parseRbac(okText(await src.capture('rbac')))
    assert.deepEqual(
      rbac.reviews.map(
        (r) => `${r.user} ${r.verb} ${r.resource}${r.subresource ? '/' + r.subresource : ''} ${r.allowed}`,
      ),
      [
        'system:serviceaccount:kube-flannel:flannel get pods true',
        'system:serviceaccount:kube-flannel:flannel get nodes true',
        'system:serviceaccount:kube-flannel:flannel list nodes true',
        'system:serviceaccount:kube-flannel:flannel watch nodes true',
        'system:serviceaccount:kube-flannel:flannel patch nodes/status true',
      ],
    )
    const logs = await src.capture('logs')
    assert.ok(logs.ok)
    assert.deepEqual(
      logs.files?.map((f) => f.name),
      ['kube-flannel-ds-7xk2p.log', 'kube-flannel-ds-7xk2p.previous.log'],
    )
    assert.match(logs.files?.[1]?.text ?? '', /pod cidr not assigned/)
    assert.ok(client.calls.includes('readPodLog kube-flannel/kube-flannel-ds-7xk2p'))
  })

  it('falls back to kube-system (flannel ≤ v0.18), and --namespace looks only where it is told', async () => {
    const s = new KubeStore()
    s.addNode({metadata: {name: 'n1'}, spec: {podCIDR: '10.244.0.0/24'}})
    s.addDaemonSet('kube-system', {
      metadata: {name: 'kube-flannel-ds', labels: {app: 'flannel'}},
      status: {desiredNumberScheduled: 1, numberReady: 1},
    })
    s.addPod('kube-system', {
      metadata: {name: 'kube-flannel-ds-abcde', labels: {app: 'flannel'}},
      spec: {nodeName: 'n1', containers: [{name: 'kube-flannel'}]},
      status: {phase: 'Running'},
    })
    s.addConfigMap('kube-system', {metadata: {name: 'kube-flannel-cfg'}, data: {'net-conf.json': NET_CONF}})
    const client = fakeKubeClient(s)
    const src = kubeSource(client)
    const ds = parseDaemonSet(okText(await src.capture('daemonset')))
    assert.equal(ds.namespace, 'kube-system')
    assert.deepEqual(client.calls.slice(0, 4), [
      'getDaemonSet kube-flannel/kube-flannel-ds',
      'listPods kube-flannel app=flannel',
      'getDaemonSet kube-system/kube-flannel-ds',
      'listPods kube-system app=flannel',
    ])
    okText(await src.capture('flannel-cfg'))
    const rbac = parseRbac(okText(await src.capture('rbac')))
    assert.equal(rbac.reviews[0]?.user, 'system:serviceaccount:kube-system:flannel')

    const told = kubeSource(fakeKubeClient(s), {namespace: 'kube-flannel'})
    const c = failed(await told.capture('daemonset'))
    assert.equal(c.state, 'absent')
    assert.match(c.reason, /no kube-flannel-ds DaemonSet and no app=flannel pod in kube-flannel$/)
  })

  it('k3s/RKE2: DaemonSet and ConfigMap probes are not collected (embedded), annotations still checked', async () => {
    const client = fakeKubeClient(k3sStore())
    const src = kubeSource(client, {nodeName: 'k3s-0'})
    for (const id of ['daemonset', 'flannel-cfg', 'logs'] as const) {
      const c = failed(await src.capture(id))
      assert.equal(c.state, 'not-collected')
      assert.match(c.reason, /flannel is embedded in k3s\/RKE2 \(node k3s-0/)
    }
    const report = await runDoctor(combinedSource(nodeSide(), src), {
      checks: kubeChecks,
      failOn: 'error',
      version: 'test',
    })
    assert.equal(result(report, 'kube.daemonset-ready').status, 'skip')
    assert.match(result(report, 'kube.daemonset-ready').findings[0]?.message ?? '', /embedded/)
    const ann = result(report, 'kube.flannel-annotations')
    assert.equal(ann.status, 'ok', JSON.stringify(ann.findings))
    // The k3s nodes' podCIDRs (10.42/16) lie outside the given Network (10.244/16): evaluated, and failed.
    assert.equal(result(report, 'kube.podcidr-in-network').status, 'error')
  })

  it('forbidden list nodes: permission, naming the verb and the kubectl auth can-i line; checks unknown', async () => {
    const store = seedStore(2)
    const client = fakeKubeClient(store, {user: 'nobody'})
    const src = kubeSource(client)
    const c = failed(await src.capture('nodes'))
    assert.equal(c.state, 'permission')
    assert.equal(c.reason, 'your credentials may not list nodes: kubectl auth can-i list nodes')
    assert.ok(client.calls.includes('selfSubjectAccessReview'))
    const ds = failed(await src.capture('daemonset'))
    assert.equal(ds.state, 'permission')
    assert.match(ds.reason, /may not get daemonsets\.apps in namespace kube-flannel/)

    const report = await runDoctor(combinedSource(nodeSide(), src), {
      checks: kubeChecks,
      failOn: 'error',
      version: 'test',
    })
    const pc = result(report, 'kube.podcidr-assigned')
    assert.equal(pc.status, 'unknown')
    assert.match(pc.findings[0]?.message ?? '', /list nodes/)
    assert.equal(pc.findings[0]?.hint?.startsWith('kubectl auth can-i list nodes'), true)
  })

  it('API down: every cluster probe is an error with one line, the kube checks unknown, exit 3', async () => {
    const down = new KubeError(
      'unreachable',
      'cannot reach the API server at https://127.0.0.1:1: ECONNREFUSED',
    )
    const src = kubeSource(fakeKubeClient(seedStore(1), {failWith: down}), {nodeName: nodeName(0)})
    for (const id of ['nodes', 'daemonset', 'flannel-cfg', 'rbac', 'logs'] as const) {
      const c = failed(await src.capture(id))
      assert.equal(c.state, 'error', id)
      assert.equal(c.reason, 'cannot reach the API server at https://127.0.0.1:1: ECONNREFUSED', id)
    }
    const report = await runDoctor(combinedSource(nodeSide(), src), {
      checks: kubeChecks,
      failOn: 'error',
      version: 'test',
    })
    assert.equal(report.summary.error, 0)
    assert.equal(report.exitCode, 3)
    for (const id of ['kube.podcidr-assigned', 'kube.rbac', 'kube.daemonset-ready']) {
      const r = result(report, id)
      assert.equal(r.status, 'unknown', id)
      const msg = r.findings[0]?.message ?? ''
      assert.match(msg, /ECONNREFUSED/, id)
      assert.ok(!msg.includes('\n') && !/\.(js|ts):\d+/.test(msg), `${id}: ${msg}`)
    }
  })

  it('combinedSource: node probes from the node side, --log files added to the pod logs', async () => {
    const node = bundleSource(
      'n',
      new Map([
        ['files/etc/kube-flannel/net-conf.json', NET_CONF],
        ['logs/kubelet.log', 'E1125 kubelet line\n'],
      ]),
    )
    const src = combinedSource(node, kubeSource(fakeKubeClient(seedStore(2)), {nodeName: nodeName(1)}))
    assert.equal(okText(await src.capture('net-conf')), NET_CONF)
    const logs = await src.capture('logs')
    assert.ok(logs.ok)
    assert.deepEqual(
      logs.files?.map((f) => f.name),
      ['kubelet.log', 'kube-flannel-ds-q9dmw.log'],
    )
    assert.equal((await src.host()).origin, 'bundle n + kubernetes API')
  })
})

describe('kubeSource rbac: access reviews and the RBAC objects naming the flannel ServiceAccount', () => {
  const RBAC = 'rbac.authorization.k8s.io'
  /** A user who may read flannel's DaemonSet/pods and, with `rbacRead`, list the RBAC objects — no SARs. */
  function auditorStore(rbacRead: boolean): KubeStore {
    const s = seedStore(2)
    s.addClusterRole({
      metadata: {name: 'auditor'},
      rules: [
        {apiGroups: ['apps'], resources: ['daemonsets'], verbs: ['get']},
        {apiGroups: [''], resources: ['pods'], verbs: ['list']},
        ...(rbacRead
          ? [
              {
                apiGroups: [RBAC],
                resources: ['clusterroles', 'clusterrolebindings', 'rolebindings'],
                verbs: ['list'],
              },
            ]
          : []),
      ],
    })
    s.addClusterRoleBinding({
      metadata: {name: 'auditor'},
      roleRef: {kind: 'ClusterRole', name: 'auditor'},
      subjects: [{kind: 'User', name: 'auditor'}],
    })
    return s
  }
  const run = (src: ReturnType<typeof kubeSource>) =>
    runDoctor(combinedSource(nodeSide(), src), {checks: kubeChecks, failOn: 'error', version: 'test'})

  it('admin: the reviews, then the bindings naming the SA and the ClusterRoles they bind', async () => {
    const client = fakeKubeClient(seedStore(2))
    const c = await kubeSource(client).capture('rbac')
    const rbac = parseRbac(okText(c))
    assert.equal(rbac.reviews.length, 5)
    assert.deepEqual(
      rbac.bindings.map((b) => `${b.kind} ${b.name} → ${b.roleRef.name}`),
      ['ClusterRoleBinding flannel → flannel'],
    )
    assert.deepEqual(
      rbac.roles.map((r) => `${r.kind} ${r.name} ${r.rules.length}`),
      ['ClusterRole flannel 3'],
    )
    assert.ok(
      c.ok &&
        c.source.startsWith(
          'SubjectAccessReviews for system:serviceaccount:kube-flannel:flannel and kubectl get clusterroles',
        ),
    )
    assert.ok(client.calls.includes('listRoleBindings kube-flannel'))
  })

  it('reviews forbidden: falls back to the objects, and kube.rbac names the missing rule of the bound role', async () => {
    const s = auditorStore(true)
    // The flannel ClusterRole lost its nodes/status rule; get pods comes from a RoleBinding in kube-flannel.
    s.addClusterRole({
      metadata: {name: 'flannel'},
      rules: [{apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch']}],
    })
    s.addClusterRole({
      metadata: {name: 'pod-reader'},
      rules: [{apiGroups: [''], resources: ['pods'], verbs: ['get']}],
    })
    s.addRoleBinding({
      metadata: {name: 'flannel-pods', namespace: 'kube-flannel'},
      roleRef: {kind: 'ClusterRole', name: 'pod-reader'},
      subjects: [{kind: 'ServiceAccount', name: 'flannel'}],
    })
    const client = fakeKubeClient(s, {user: 'auditor'})
    const src = kubeSource(client)
    const c = await src.capture('rbac')
    const rbac = parseRbac(okText(c))
    assert.equal(rbac.reviews.length, 0)
    assert.deepEqual(
      rbac.bindings.map((b) => `${b.kind} ${b.namespace ?? ''}/${b.name}`),
      ['ClusterRoleBinding /flannel', 'RoleBinding kube-flannel/flannel-pods'],
    )
    assert.deepEqual(
      rbac.roles.map((r) => r.name),
      ['flannel', 'pod-reader'],
    )
    assert.ok(client.calls.includes('subjectAccessReview system:serviceaccount:kube-flannel:flannel'))
    const r = result(await run(src), 'kube.rbac')
    assert.equal(r.status, 'error', JSON.stringify(r.findings))
    const f = r.findings[0]
    assert.equal(f?.subject, 'patch nodes/status')
    assert.match(
      f?.message ?? '',
      /^No rule of the roles bound to the flannel ServiceAccount kube-flannel\/flannel \(ClusterRole flannel, ClusterRole pod-reader\) grants patch nodes\/status/,
    )
    assert.match(
      f?.fix?.[0] ?? '',
      /^kubectl patch clusterrole flannel --type=json -p '.*"resources":\["nodes\/status"\],"verbs":\["patch"\]/,
    )
  })

  it("a namespaced Role bound in flannel's namespace is read and evaluated (get pods through a Role)", async () => {
    const s = auditorStore(true)
    s.addClusterRole({
      metadata: {name: 'auditor-roles'},
      rules: [{apiGroups: [RBAC], resources: ['roles'], verbs: ['list']}],
    })
    s.addClusterRoleBinding({
      metadata: {name: 'auditor-roles'},
      roleRef: {kind: 'ClusterRole', name: 'auditor-roles'},
      subjects: [{kind: 'User', name: 'auditor'}],
    })
    // The ClusterRole lost get pods; a Role in kube-flannel grants it back.
    s.addClusterRole({
      metadata: {name: 'flannel'},
      rules: [
        {apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch']},
        {apiGroups: [''], resources: ['nodes/status'], verbs: ['patch']},
      ],
    })
    s.addRole({
      metadata: {name: 'flannel-pods', namespace: 'kube-flannel'},
      rules: [{apiGroups: [''], resources: ['pods'], verbs: ['get']}],
    })
    s.addRoleBinding({
      metadata: {name: 'flannel-pods', namespace: 'kube-flannel'},
      roleRef: {kind: 'Role', name: 'flannel-pods'},
      subjects: [{kind: 'ServiceAccount', name: 'flannel'}],
    })
    const client = fakeKubeClient(s, {user: 'auditor'})
    const src = kubeSource(client)
    const rbac = parseRbac(okText(await src.capture('rbac')))
    assert.deepEqual(
      rbac.roles.map((r) => `${r.kind} ${r.namespace ?? ''}/${r.name}`),
      ['ClusterRole /flannel', 'Role kube-flannel/flannel-pods'],
    )
    assert.ok(client.calls.includes('listRoles kube-flannel'))
    assert.equal(result(await run(src), 'kube.rbac').status, 'ok')
    // Without the Role the binding points at nothing: kube.rbac cannot vouch for get pods, and says why.
    s.roles.delete('kube-flannel/flannel-pods')
    const again = result(await run(kubeSource(fakeKubeClient(s, {user: 'auditor'}))), 'kube.rbac')
    assert.equal(again.status, 'unknown')
    assert.match(
      again.findings[0]?.message ?? '',
      /may get pods could not be evaluated: .* lacks the bound Role flannel-pods/,
    )
  })

  it('reviews forbidden and no binding names the SA: every binding read is the evidence; kube.rbac fails', async () => {
    const s = auditorStore(true)
    s.clusterRoleBindings.delete('flannel')
    const src = kubeSource(fakeKubeClient(s, {user: 'auditor'}))
    const rbac = parseRbac(okText(await src.capture('rbac')))
    assert.deepEqual(
      rbac.bindings.map((b) => b.name),
      // All ClusterRoleBindings; RoleBindings of kube-flannel only (monitoring-view is in kube-system).
      ['auditor'],
    )
    const r = result(await run(src), 'kube.rbac')
    assert.equal(r.status, 'error')
    assert.match(
      r.findings[0]?.message ?? '',
      /^No ClusterRoleBinding or RoleBinding in .* names the flannel ServiceAccount kube-flannel\/flannel/,
    )
  })

  it('reviews and objects both forbidden: permission naming both verbs; kube.rbac unknown', async () => {
    const src = kubeSource(fakeKubeClient(auditorStore(false), {user: 'auditor'}))
    const c = failed(await src.capture('rbac'))
    assert.equal(c.state, 'permission')
    assert.equal(
      c.reason,
      'your credentials may neither create subjectaccessreviews.authorization.k8s.io nor list clusterrolebindings.rbac.authorization.k8s.io, so what system:serviceaccount:kube-flannel:flannel may do cannot be read: kubectl auth can-i create subjectaccessreviews.authorization.k8s.io; kubectl auth can-i list clusterrolebindings.rbac.authorization.k8s.io',
    )
    const r = result(await run(src), 'kube.rbac')
    assert.equal(r.status, 'unknown')
    assert.match(r.findings[0]?.message ?? '', /create subjectaccessreviews.* list clusterrolebindings/)
    assert.match(
      r.findings[0]?.hint ?? '',
      /^kubectl auth can-i list clusterrolebindings\.rbac\.authorization\.k8s\.io /,
    )
  })
})
