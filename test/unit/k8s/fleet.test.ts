// The every-node doctor (doctor --all-nodes / --nodes / --sample) over the fake KubeClient, with pods whose
// nodes are scenario bundles: exec per node, API-level checks kept when a node cannot be reached, bounded
// concurrency, per-node time limits, and the cluster read once.
import assert from 'node:assert/strict'
import {join} from 'node:path'
import {describe, it} from 'node:test'

import {CHECKS} from '../../../src/checks/registry.js'
import type {CheckResult} from '../../../src/engine/doctor.js'
import {
  runFleet,
  splitClusterChecks,
  type FleetNode,
  type FleetOptions,
  type FleetReport,
} from '../../../src/engine/fleet.js'
import {liveSource} from '../../../src/facts/sources.js'
import {readBundle} from '../../../src/host/bundle-reader.js'
import {KubeError} from '../../../src/k8s/client.js'
import {sysctlFromProc} from '../../../src/facts/probes.js'
import {podFs, podRunner} from '../../../src/k8s/pod-host.js'
import {parseSysctl} from '../../../src/parse/sysctl.js'
import {renderFleet} from '../../../src/report/fleet.js'
import type {KubeStore} from '../../support/apiserver.js'
import {bundlePodHandler, storeFromBundle, type BundlePod} from '../../support/bundle-pod.js'
import {fakeKubeClient} from '../../support/fake-kube.js'
import {BUNDLES} from '../../support/scenarios.js'
import {assertValidClusterReport} from '../../support/schema.js'

const NS = 'kube-flannel'

interface Cluster {
  store: KubeStore
  pods: Record<string, BundlePod>
  podOf: Record<string, string>
}

/** The 3-node cluster of the healthy-vxlan-cluster bundle, node-1's pod serving `bundle`. */
async function cluster(
  bundle: string,
  tweak: {node3Pending?: boolean; node2NoPod?: boolean} = {},
): Promise<Cluster> {
  const files = await readBundle(join(BUNDLES, bundle))
  const base = await readBundle(join(BUNDLES, 'healthy-vxlan-cluster'))
  const {store, podOf} = storeFromBundle(base, {
    pod: (pod, node) => {
      if (node === 'node-2' && tweak.node2NoPod) return undefined
      if (node === 'node-3' && tweak.node3Pending) (pod['status'] as {phase: string}).phase = 'Pending'
      return pod
    },
  })
  const pods: Record<string, BundlePod> = {[`${NS}/${podOf['node-1']}`]: {files}}
  store.execHandler = bundlePodHandler(pods)
  return {store, pods, podOf}
}

const opts = (c: Cluster, over: Partial<FleetOptions> = {}): FleetOptions => ({
  client: fakeKubeClient(c.store),
  checks: CHECKS,
  failOn: 'error',
  version: '0.1.0',
  selection: {mode: 'all'},
  ...over,
})

const node = (r: FleetReport, name: string) => {
  const n = r.nodes.find((x) => x.node === name)
  assert.ok(n, `no node ${name} in ${r.nodes.map((x) => x.node).join(', ')}`)
  return n
}
const attention = (r: FleetReport, name: string): string[] =>
  node(r, name)
    .report.checks.filter((c) => c.status === 'error' || c.status === 'warning')
    .map((c) => c.id)

describe('doctor over every node', () => {
  it('a named healthy node is checked through its pod and comes out healthy', async () => {
    const c = await cluster('healthy-vxlan-cluster')
    const client = fakeKubeClient(c.store)
    const r = await runFleet({...opts(c), client, selection: {mode: 'names', names: ['node-1']}})
    const n = node(r, 'node-1')
    assert.equal(n.access, 'exec')
    assert.equal(n.pod, `${NS}/${c.podOf['node-1']}`)
    assert.equal(n.report.node, 'node-1')
    assert.deepEqual(attention(r, 'node-1'), [])
    // The node evidence really came through exec: links, routes, FDB, iptables, subnet.env.
    const execs = client.calls.filter((x) => x.startsWith('exec '))
    for (const want of [
      'ip -d -j link show',
      'bridge -j fdb show',
      'iptables-save',
      'cat /run/flannel/subnet.env',
    ])
      assert.ok(
        execs.some((x) => x.endsWith(want)),
        `no exec of ${want}: ${execs.join('; ')}`,
      )
    assert.equal(r.selection.clusterNodes, 3)
    assert.equal(r.selection.chosen, 1)
  })

  it('a stale FDB entry on one node fails that node only, and the exit code says so', async () => {
    const c = await cluster('stale-fdb', {node2NoPod: true, node3Pending: true})
    const r = await runFleet(opts(c))
    assert.deepEqual(attention(r, 'node-1'), ['node.peers'])
    assert.equal(r.exitCode, 1)
    assert.equal(r.result, 'failed')
    assert.ok(r.failing.includes('node.peers'))
    const text = renderFleet(r, {stream: {isTTY: false}})
    assert.match(text, /node\.peers \(node-1\)/)
    assertValidClusterReport(JSON.parse(JSON.stringify(r)))
    // The API-level checks are reported once, not in each node's report.
    assert.equal(r.cluster?.checks.find((c) => c.id === 'kube.podcidr-overlap')?.status, 'ok')
    assert.ok(r.nodes.every((n) => !n.report.checks.some((c) => c.id === 'kube.podcidr-overlap')))
  })

  it('nodes without a running flannel pod keep their API-level checks and say why', async () => {
    const c = await cluster('healthy-vxlan-cluster', {node2NoPod: true, node3Pending: true})
    const r = await runFleet(opts(c))
    const n2 = node(r, 'node-2')
    const n3 = node(r, 'node-3')
    assert.equal(n2.access, 'api-only')
    assert.match(n2.note ?? '', /no app=flannel pod runs on node node-2/)
    assert.equal(n3.access, 'api-only')
    assert.match(n3.note ?? '', /is Pending: nothing to exec into/)
    // API-level checks ran; node checks are unknown with the reason.
    assert.equal(n2.report.checks.find((x) => x.id === 'kube.podcidr-assigned')?.status, 'ok')
    const vx = n2.report.checks.find((x) => x.id === 'node.vxlan-device')
    assert.equal(vx?.status, 'unknown')
    assert.match(vx?.findings[0]?.message ?? '', /no app=flannel pod runs on node node-2/)
    assert.equal(node(r, 'node-1').access, 'exec')
    assert.equal(r.exitCode, 3)
    const text = renderFleet(r, {stream: {isTTY: false}})
    assert.match(text, /node checks not run:\n {2}node-2: no app=flannel pod/)
    // Said once there, not again for each node check it left unknown.
    assert.doesNotMatch(text, /\? node\.vxlan-device \(node-2/)
  })

  it('exec forbidden: said once, API-level checks kept, exit 3 when nothing failed', async () => {
    const c = await cluster('healthy-vxlan-cluster')
    c.store.addClusterRole({
      metadata: {name: 'viewer'},
      rules: [
        {apiGroups: [''], resources: ['nodes', 'pods', 'configmaps', 'pods/log'], verbs: ['get', 'list']},
        {apiGroups: ['apps'], resources: ['daemonsets'], verbs: ['get', 'list']},
        {apiGroups: ['rbac.authorization.k8s.io'], resources: ['*'], verbs: ['get', 'list']},
      ],
    })
    c.store.addClusterRoleBinding({
      metadata: {name: 'viewer'},
      roleRef: {kind: 'ClusterRole', name: 'viewer'},
      subjects: [{kind: 'User', name: 'viewer'}],
    })
    const client = fakeKubeClient(c.store, {user: 'viewer'})
    const r = await runFleet({...opts(c), client})
    assert.equal(r.notes.length, 1)
    assert.match(
      r.notes[0] ?? '',
      /may not get and create pods\/exec in kube-flannel: kubectl auth can-i get pods --subresource=exec -n kube-flannel; kubectl auth can-i create pods --subresource=exec -n kube-flannel/,
    )
    assert.ok(r.nodes.every((n) => n.access === 'api-only'))
    assert.equal(client.calls.filter((x) => x.startsWith('exec ')).length, 0)
    // The API-level checks ran once for the cluster (the same on every node), the node checks per node.
    assert.equal(r.cluster?.checks.find((x) => x.id === 'kube.podcidr-overlap')?.status, 'ok')
    for (const n of r.nodes) {
      assert.equal(
        n.report.checks.find((x) => x.id === 'kube.podcidr-overlap'),
        undefined,
      )
      assert.equal(n.report.checks.find((x) => x.id === 'node.mtu')?.status, 'unknown')
    }
    assert.equal(r.exitCode, 3)
    // The refusal is said once for the cluster, not once per node.
    const text = renderFleet(r, {stream: {isTTY: false}})
    assert.equal(text.split('may not get and create pods/exec').length - 1, 1, text)
  })

  it('API down: one line, no stack, exit 3', async () => {
    const c = await cluster('healthy-vxlan-cluster')
    const down = new KubeError(
      'unreachable',
      'cannot reach the API server at https://10.0.0.1:6443: ECONNREFUSED',
    )
    const r = await runFleet({...opts(c), client: fakeKubeClient(c.store, {failWith: down})})
    assert.equal(r.nodes.length, 1)
    assert.equal(r.nodes[0]?.node, '(cluster)')
    assert.match(r.notes[0] ?? '', /cannot list the nodes: .*ECONNREFUSED/)
    assert.equal(r.exitCode, 3)
    assert.doesNotMatch(JSON.stringify(r), /\n\s+at /)
    assertValidClusterReport(JSON.parse(JSON.stringify(r)))
  })

  it('a node slower than the per-node limit is reported as such; the others finish', async () => {
    const c = await cluster('healthy-vxlan-cluster')
    const pod = c.pods[`${NS}/${c.podOf['node-1']}`] as BundlePod
    pod.delayMs = 400
    const r = await runFleet({...opts(c), nodeTimeoutMs: 150})
    const n1 = node(r, 'node-1')
    assert.equal(n1.access, 'timeout')
    assert.match(n1.note ?? '', /did not answer within/)
    assert.equal(r.nodes.length, 3)
  })

  it('k3s-style (flannel inside the agent, no DaemonSet, no pods): said once, API-level checks on every node', async () => {
    const c = await cluster('healthy-vxlan-cluster')
    c.store.daemonSets.clear()
    c.store.pods.clear()
    for (const [name, n] of c.store.nodes)
      c.store.patchNode(name, {
        metadata: {
          labels: {...(n.metadata?.labels ?? {}), 'node.kubernetes.io/instance-type': 'k3s'},
          annotations: {...(n.metadata?.annotations ?? {}), 'k3s.io/node-args': '["server"]'},
        },
      })
    const client = fakeKubeClient(c.store)
    const r = await runFleet({...opts(c), client})
    assert.equal(r.notes.length, 1)
    assert.match(
      r.notes[0] ?? '',
      /flannel is embedded in k3s\/RKE2 .*node checks need flannelctl on each node/,
    )
    assert.ok(r.nodes.every((n) => n.access === 'api-only'))
    assert.equal(client.calls.filter((x) => x.startsWith('exec ')).length, 0)
    // No ConfigMap on k3s: the checks that need net-conf say where it is instead of failing.
    const ann = r.cluster?.checks.find((x) => x.id === 'kube.flannel-annotations')
    assert.equal(ann?.status, 'unknown')
    assert.match(
      ann?.findings[0]?.message ?? '',
      /no net-conf.json was found \(looked at .* and the k3s path\)/,
    )
    assert.match(ann?.findings[1]?.message ?? '', /^All 3 nodes .* carry .*valid backend-data/)
    assert.equal(r.exitCode, 3)
  })

  it('unknown node names are a usage error naming the closest', async () => {
    const c = await cluster('healthy-vxlan-cluster')
    await assert.rejects(
      runFleet({...opts(c), selection: {mode: 'names', names: ['node-9', 'node-1']}}),
      /no node named node-9 in the cluster/,
    )
  })

  it('the cluster is read once however many nodes, and concurrency stays bounded', async () => {
    const c = await cluster('healthy-vxlan-cluster')
    // 24 more nodes, each with a pod serving the same bundle.
    const files = await readBundle(join(BUNDLES, 'healthy-vxlan-cluster'))
    let inFlight = 0
    let peak = 0
    const active = new Map<string, number>()
    const onExec: BundlePod['onExec'] = (req, phase) => {
      const k = req.pod
      const before = active.get(k) ?? 0
      const now = phase === 'start' ? before + 1 : before - 1
      if (now === 0) active.delete(k)
      else active.set(k, now)
      inFlight = active.size
      peak = Math.max(peak, inFlight)
    }
    for (let i = 10; i < 34; i++) {
      c.store.addNode({metadata: {name: `node-${i}`, annotations: {}}, spec: {podCIDR: `10.244.${i}.0/24`}})
      c.store.addPod(NS, {
        metadata: {name: `kube-flannel-ds-n${i}`, labels: {app: 'flannel'}},
        spec: {nodeName: `node-${i}`, containers: [{name: 'kube-flannel'}]},
        status: {
          phase: 'Running',
          containerStatuses: [{name: 'kube-flannel', ready: true, restartCount: 0, state: {running: {}}}],
        },
      })
      c.pods[`${NS}/kube-flannel-ds-n${i}`] = {files, delayMs: 5, onExec}
    }
    ;(c.pods[`${NS}/${c.podOf['node-1']}`] as BundlePod).onExec = onExec
    const client = fakeKubeClient(c.store)
    const r = await runFleet({...opts(c), client, concurrency: 4})
    assert.equal(r.nodes.length, 27)
    assert.ok(peak <= 4, `peak ${peak} pods at once`)
    assert.ok(peak >= 2, `peak ${peak}: nothing ran in parallel`)
    assert.equal(client.calls.filter((x) => x === 'listNodes').length, 1)
    assert.equal(client.calls.filter((x) => x.startsWith('getConfigMap')).length, 1)
    assert.equal(client.calls.filter((x) => x.startsWith('getDaemonSet')).length, 1)
  })
})

describe('a node seen through its pod', () => {
  it('a tool missing from the image is not-installed, naming the pod and pointing at the node', async () => {
    const c = await cluster('healthy-vxlan-cluster')
    const runner = podRunner(fakeKubeClient(c.store), {namespace: NS, pod: c.podOf['node-1'] as string})
    const src = liveSource(runner, podFs(runner), {
      nodeName: 'node-1',
      pod: {label: `${NS}/x`, node: 'node-1', permissionHint: 'h'},
    })
    const cap = await src.capture('ethtool', {vxlanDevice: 'flannel.1'})
    assert.ok(!cap.ok)
    assert.equal(cap.state, 'not-installed')
    assert.equal(cap.reason, `the image of pod ${NS}/x has no ethtool`)
    assert.match(cap.hint ?? '', /run flannelctl doctor on node node-1 itself/)
  })

  it('busybox sysctl: the values come from /proc/sys, in sysctl format', async () => {
    const c = await cluster('healthy-vxlan-cluster')
    const runner = podRunner(fakeKubeClient(c.store), {namespace: NS, pod: c.podOf['node-1'] as string})
    const src = liveSource(runner, podFs(runner), {
      nodeName: 'node-1',
      pod: {label: `${NS}/x`, node: 'node-1', permissionHint: 'h'},
    })
    const cap = await src.capture('sysctl')
    assert.ok(cap.ok, cap.ok ? '' : cap.reason)
    const got = parseSysctl(cap.text)
    const files = await readBundle(join(BUNDLES, 'healthy-vxlan-cluster'))
    const want = parseSysctl(files.get('commands/sysctl.txt') as string)
    assert.equal(got.values.get('net.ipv4.ip_forward'), want.values.get('net.ipv4.ip_forward'))
    assert.ok(got.values.size > 3)
  })

  it('sysctlFromProc turns grep -r lines into sysctl lines, dots in names as slashes', () => {
    const text = sysctlFromProc(
      [
        '/proc/sys/net/ipv4/ip_forward:1',
        '/proc/sys/net/ipv4/conf/eth0.100/rp_filter:2',
        '/proc/sys/net/ipv4/conf/all/accept_redirects:1',
        'grep: /proc/sys/net/bridge: No such file or directory',
      ].join('\n'),
    )
    assert.equal(text, 'net.ipv4.ip_forward = 1\nnet.ipv4.conf.eth0/100.rp_filter = 2\n')
  })

  it('a file that is not there is absent; a directory is listed and read', async () => {
    const c = await cluster('healthy-vxlan-cluster')
    const runner = podRunner(fakeKubeClient(c.store), {namespace: NS, pod: c.podOf['node-1'] as string})
    const fs = podFs(runner)
    const gone = await fs.readText('/run/flannel/nothing.env')
    assert.deepEqual(gone, {ok: false, state: 'absent', reason: 'no such file'})
    const l = await fs.list('/etc/cni/net.d')
    assert.deepEqual(l, {ok: true, names: ['10-flannel.conflist']})
    await assert.rejects(fs.writeAtomic('/x', 'y'), /never writes inside a pod/)
  })
})

describe('cluster checks reported once', () => {
  const result = (id: string, status: CheckResult['status'], message: string): CheckResult => ({
    id,
    area: id.split('.')[0] as string,
    title: id,
    severity: 'error',
    status,
    findings: [{status, message, evidence: []}],
  })
  const fleetNode = (node: string, checks: CheckResult[]): FleetNode => ({
    node,
    access: 'exec',
    durationMs: 1,
    report: {
      schema: 'flannelctl/doctor-report',
      schemaVersion: 1,
      tool: {name: 'flannelctl', version: '0.1.0'},
      generatedAt: '2026-11-25T12:00:00.000Z',
      origin: 'test',
      node,
      failOn: 'error',
      result: 'failed',
      exitCode: 1,
      summary: {ok: 0, error: 0, warning: 0, info: 0, unknown: 0, skip: 0},
      checks,
    },
  })

  it('a cluster check with the same result on every node moves to the cluster part; node verdicts are recomputed', () => {
    const overlap = result('kube.podcidr-overlap', 'error', 'node-1 and node-2 overlap')
    const a = fleetNode('a', [overlap, result('node.mtu', 'ok', 'fine')])
    const b = fleetNode('b', [structuredClone(overlap), result('node.mtu', 'warning', 'veth too big')])
    const {cluster, nodes} = splitClusterChecks([a, b], CHECKS, 'error')
    assert.deepEqual(
      cluster?.checks.map((c) => c.id),
      ['kube.podcidr-overlap'],
    )
    assert.equal(cluster?.exitCode, 1)
    assert.deepEqual(
      nodes.map((n) => [n.node, n.report.checks.map((c) => c.id), n.report.result, n.report.exitCode]),
      [
        ['a', ['node.mtu'], 'healthy', 0],
        ['b', ['node.mtu'], 'healthy', 0],
      ],
    )
    assert.equal(nodes[1]?.report.summary.warning, 1)
  })

  it('a cluster check that differs between nodes stays with each node; node checks never move', () => {
    const a = fleetNode('a', [result('kube.podcidr-overlap', 'ok', 'none'), result('node.mtu', 'ok', 'fine')])
    const b = fleetNode('b', [
      result('kube.podcidr-overlap', 'error', 'overlap'),
      result('node.mtu', 'ok', 'fine'),
    ])
    const {cluster, nodes} = splitClusterChecks([a, b], CHECKS, 'error')
    assert.equal(cluster, undefined)
    assert.deepEqual(
      nodes.map((n) => n.report.checks.map((c) => c.id)),
      [
        ['kube.podcidr-overlap', 'node.mtu'],
        ['kube.podcidr-overlap', 'node.mtu'],
      ],
    )
  })
})
