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
