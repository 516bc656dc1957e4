/**
 * `doctor --all-nodes` and `collect --all-nodes` through the built CLI, against a real 3-node lab: the
 * HTTPS test API server holds the lab's nodes (their flannel annotations as setup published them), the
 * flannel DaemonSet and one kube-flannel pod per node, and its exec runs in the node's network namespace
 * with the node's files mounted where the real pod has them (test/support/pod-sim.ts). A VtepMAC that
 * changed on one node while its peers still hold the old one is found on exactly those peers; collect
 * then doctor --bundle gives the same findings as the live run.
 * Root only; the lab is flt-t<pid>f-*, removed in `after` also when a test fails.
 */
import assert from 'node:assert/strict'
import {mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, test} from 'node:test'

import type {FleetReport} from '../../src/engine/fleet.js'
import {nodeFs} from '../../src/host/fs.js'
import {execaRunner} from '../../src/host/runner.js'
import type {KubeObject} from '../../src/k8s/client.js'
import {labDown, labUp, nodeFiles, type LabDeps} from '../../src/lab/lab.js'
import type {LabTopology} from '../../src/lab/topology.js'
import {
  addFlannelRbac,
  hasOpenssl,
  KubeStore,
  startApiServer,
  type TestApiServer,
} from '../support/apiserver.js'
import {cli} from '../support/cli.js'
import {namespacesWithPrefix, netnsSupport, run} from '../support/netns.js'
import {podSimHandler, type PodSim} from '../support/pod-sim.js'
import {assertValidClusterReport} from '../support/schema.js'

const support = await netnsSupport()
const skip = !support.ok ? support.why : !hasOpenssl() ? 'openssl is not installed (test CA)' : false

const NAME = `t${process.pid}f`
const NS = 'kube-flannel'
const TOKEN = 'all-nodes-admin-token'
const deps: LabDeps = {runner: execaRunner(10_000), fs: nodeFs}
const BACKEND_DATA = 'flannel.alpha.coreos.com/backend-data'

const failingOn = (r: FleetReport): Record<string, string[]> =>
  Object.fromEntries(
    r.nodes.map((n) => [
      n.node,
      n.report.checks.filter((c) => c.status === 'error' || c.status === 'warning').map((c) => c.id),
    ]),
  )
const statuses = (r: FleetReport): Record<string, Record<string, string>> =>
  Object.fromEntries([
    ['(cluster)', Object.fromEntries((r.cluster?.checks ?? []).map((c) => [c.id, c.status]))],
    ...r.nodes.map((n) => [n.node, Object.fromEntries(n.report.checks.map((c) => [c.id, c.status]))]),
  ])

describe('every node of a real lab through the exec API', {skip}, () => {
  let stateRoot = ''
  let tmp = ''
  let topo: LabTopology
  let srv: TestApiServer | undefined
  let kc = ''

  before(async () => {
    stateRoot = await mkdtemp(join(tmpdir(), 'flt-allnodes-state-'))
    tmp = await mkdtemp(join(tmpdir(), 'flt-allnodes-'))
    const up = await labUp({name: NAME, stateRoot, nodes: 3, subnets: 1}, deps)
    topo = up.state.topology
    const dir = join(stateRoot, NAME)
    const store = new KubeStore()
    store.addToken(TOKEN, 'kubernetes-admin', ['system:masters'])
    const nodesList = JSON.parse(await readFile(nodeFiles(dir, 'x').nodesFile, 'utf8')) as {
      items: KubeObject[]
    }
    for (const n of nodesList.items) store.addNode(n)
    store.addConfigMap(NS, {
      metadata: {name: 'kube-flannel-cfg'},
      data: {'net-conf.json': await readFile(nodeFiles(dir, 'x').netConf, 'utf8')},
    })
    addFlannelRbac(store, NS)
    store.addDaemonSet(NS, {
      metadata: {name: 'kube-flannel-ds', labels: {app: 'flannel'}},
      spec: {
        selector: {matchLabels: {app: 'flannel'}},
        template: {spec: {serviceAccountName: 'flannel', containers: [{name: 'kube-flannel'}]}},
      },
      status: {desiredNumberScheduled: 3, numberReady: 3, numberAvailable: 3, updatedNumberScheduled: 3},
    })
    const sims: Record<string, PodSim> = {}
    for (const n of topo.nodes) {
      const pod = `kube-flannel-ds-${n.name}`
      const f = nodeFiles(dir, n.name)
      store.addPod(NS, {
        metadata: {name: pod, labels: {app: 'flannel'}},
        spec: {nodeName: n.name, containers: [{name: 'kube-flannel'}]},
        status: {
          phase: 'Running',
          conditions: [{type: 'Ready', status: 'True'}],
          containerStatuses: [{name: 'kube-flannel', ready: true, restartCount: 0, state: {running: {}}}],
        },
      })
      store.setLog(
        NS,
        pod,
        'kube-flannel',
        'I1125 10:00:02.000003       1 kube.go:469] Starting kube subnet manager\n',
      )
      sims[`${NS}/${pod}`] = {
        netns: n.ns,
        mounts: {
          '/run/flannel/subnet.env': f.subnetEnv,
          '/etc/cni/net.d': f.cniDir,
          '/etc/kube-flannel/net-conf.json': f.netConf,
        },
      }
    }
    store.execHandler = podSimHandler(sims)
    srv = await startApiServer(store)
    kc = srv.writeKubeconfig(TOKEN)
  })

  after(async () => {
    await srv?.close()
    srv?.tls.cleanup()
    await labDown({name: NAME, stateRoot}, deps).catch(() => undefined)
    await rm(stateRoot, {recursive: true, force: true})
    await rm(tmp, {recursive: true, force: true})
    const left = await namespacesWithPrefix(`flt-${NAME}`)
    assert.deepEqual(left, [], 'lab namespaces left behind')
  })

  test('a healthy lab: every node checked through its pod, nothing fails, exit 0', async () => {
    const r = await cli(['doctor', '--all-nodes', '--kubeconfig', kc, '--json'])
    const report = JSON.parse(r.stdout) as FleetReport
    assertValidClusterReport(report)
    assert.deepEqual(
      report.nodes.map((n) => [n.node, n.access]),
      topo.nodes.map((n) => [n.name, 'exec']),
    )
    assert.deepEqual(failingOn(report), Object.fromEntries(topo.nodes.map((n) => [n.name, []])))
    assert.equal(r.code, report.exitCode)
    assert.ok(r.code === 0 || r.code === 3, r.stderr)
    if (r.code === 3) {
      // Only "could not look" is allowed here, never a failure; say which, so it can be fixed.
      const unknown = report.nodes.flatMap((n) =>
        n.report.checks
          .filter((c) => c.status === 'unknown')
          .map((c) => `${n.node} ${c.id}: ${c.findings[0]?.message}`),
      )
      assert.fail(`unknown on a healthy lab: ${unknown.join('; ')}`)
    }
    const execs = srv?.requests.filter((q) => q.path.endsWith('/exec')) ?? []
    assert.ok(execs.length >= 3 * 10, `only ${execs.length} exec requests`)
  })

  test("a node's new VtepMAC, still old in its peers' FDB and neighbours, is found on those peers", async () => {
    const target = topo.nodes[1]
    assert.ok(target)
    const newMac = '6e:11:22:33:44:55'
    // The node re-created flannel.1 with a new MAC, programmed its own peers again (a MAC change flushes
    // the device's neighbours) and published the MAC; its peers have not caught up.
    const neigh = JSON.parse(
      await run(['ip', '-n', target.ns, '-j', 'neigh', 'show', 'dev', 'flannel.1', 'nud', 'permanent']),
    ) as {dst: string; lladdr: string}[]
    assert.ok(neigh.length >= 2, 'the lab node has no permanent neighbours on flannel.1')
    await run(['ip', '-n', target.ns, 'link', 'set', 'flannel.1', 'address', newMac])
    for (const e of neigh)
      await run([
        'ip',
        '-n',
        target.ns,
        'neigh',
        'replace',
        e.dst,
        'lladdr',
        e.lladdr,
        'dev',
        'flannel.1',
        'nud',
        'permanent',
      ])
    const node = srv?.store.nodes.get(target.name)
    assert.ok(node)
    const ann = {...(node.metadata?.annotations ?? {})}
    const data = JSON.parse(ann[BACKEND_DATA] ?? '{}') as {VNI: number; VtepMAC: string}
    ann[BACKEND_DATA] = JSON.stringify({...data, VtepMAC: newMac})
    srv?.store.patchNode(target.name, {metadata: {annotations: ann}})

    const r = await cli(['doctor', '--all-nodes', '--kubeconfig', kc, '--json'])
    const live = JSON.parse(r.stdout) as FleetReport
    assert.equal(r.code, 1, r.stderr)
    const want = Object.fromEntries(
      topo.nodes.map((n) => [n.name, n.name === target.name ? [] : ['node.peers']]),
    )
    assert.deepEqual(failingOn(live), want)
    const peer = live.nodes.find((n) => n.node !== target.name)
    const finding = peer?.report.checks
      .find((c) => c.id === 'node.peers')
      ?.findings.find((f) => f.status === 'error')
    assert.match(JSON.stringify(finding), new RegExp(newMac))

    const table = await cli(['doctor', '--all-nodes', '--kubeconfig', kc])
    assert.equal(table.code, 1)
    assert.match(table.stdout, /node\.peers \(/)
    assert.match(table.stdout, new RegExp(`3 nodes: .* FAILED`))

    // collect, then doctor --bundle: the same findings on every node.
    const bundle = join(tmp, 'cluster.tar.gz')
    const c = await cli(['collect', '--all-nodes', '--kubeconfig', kc, '-o', bundle])
    assert.equal(c.code, 0, c.stderr)
    assert.match(c.stdout, /wrote .*cluster\.tar\.gz \(\d+ files, 3 nodes\)/)
    const b = await cli(['doctor', '--bundle', bundle, '--json'])
    const offline = JSON.parse(b.stdout) as FleetReport
    assertValidClusterReport(offline)
    assert.equal(b.code, 1)
    assert.deepEqual(statuses(offline), statuses(live))
    const text = await run(['tar', '-xzOf', bundle])
    assert.doesNotMatch(text, new RegExp(TOKEN), 'the kubeconfig token reached the bundle')
  })
})
