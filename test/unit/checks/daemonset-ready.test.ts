import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {describe, test} from 'node:test'

import {check} from '../../../src/checks/kube/daemonset-ready.js'
import type {Finding} from '../../../src/checks/types.js'
import {staticFacts, type StaticFactInput} from '../../../src/facts/static.js'
import type {FlannelDaemonSet} from '../../../src/model.js'
import {parseDaemonSet} from '../../../src/parse/kube-objects.js'
import {parseLog} from '../../../src/parse/logs.js'
import {avail, missing} from '../../support/builders.js'

const FIX = new URL('../../fixtures/', import.meta.url)
const fx = (p: string): string => readFileSync(new URL(p, FIX), 'utf8')
const DS = 'kubernetes/daemonset.json'

const healthy = (): FlannelDaemonSet =>
  parseDaemonSet(fx('bundles/healthy-vxlan-cluster/kubernetes/daemonset.json'))
const crashing = (): FlannelDaemonSet =>
  parseDaemonSet(fx('bundles/daemonset-crashloop-podcidr/kubernetes/daemonset.json'))
const PODCIDR_LOG = fx('outputs/logs/flannel-1125-podcidr.log')
const FORBIDDEN_LOG = fx('outputs/logs/puppet-k8s-126-forbidden.log')

const run = (input: StaticFactInput): Finding[] => check.evaluate(staticFacts(input))
const errors = (fs: Finding[]): Finding[] => fs.filter((f) => f.status === 'error')
const lines = (f: Finding | undefined): string[] => (f?.evidence ?? []).flatMap((e) => e.lines)

describe('kube.daemonset-ready', () => {
  test('every pod ready → ok, naming the count and the nodes', () => {
    const fs = run({daemonset: avail(healthy(), DS)})
    assert.deepEqual(
      fs.map((f) => f.status),
      ['ok'],
    )
    assert.equal(
      fs[0]?.message,
      'DaemonSet kube-flannel/kube-flannel-ds: 3/3 pods ready (on node-1, node-2 and node-3).',
    )
  })

  test('a crash-looping pod: its node, restarts, last state, and its log line explained with the covering check', () => {
    const logs = [parseLog('kube-flannel-ds-q5wtl.log', PODCIDR_LOG.replaceAll('ip-172-31-23-54', 'node-4'))]
    const fs = run({daemonset: avail(crashing(), DS), logs: avail(logs, 'logs/kube-flannel-ds-q5wtl.log')})
    const e = errors(fs)
    assert.equal(e.length, 1)
    assert.equal(e[0]?.subject, 'pod kube-flannel-ds-q5wtl')
    assert.equal(
      e[0]?.message,
      'flannel pod kube-flannel-ds-q5wtl on node node-4 is not ready (container kube-flannel: CrashLoopBackOff, 7 restarts, last exit code 1 (Error)); its log says "Error registering network: failed to acquire lease: node "node-4" pod cidr not assigned" → kube.podcidr-assigned.',
    )
    assert.ok(
      lines(e[0]).includes('kube-flannel-ds-q5wtl node=node-4 Running ready=0/1 CrashLoopBackOff restarts=7'),
    )
    assert.ok(lines(e[0]).some((l) => l.includes('pod cidr not assigned')))
    assert.ok(e[0]?.fix?.includes("kubectl get node node-4 -o jsonpath='{.spec.podCIDR}'"))
    assert.ok(
      e[0]?.fix?.includes('kubectl -n kube-flannel logs kube-flannel-ds-q5wtl -c kube-flannel --previous'),
    )
  })

  test("a single flannel.log is the failing pod's log; a log naming another pod is not", () => {
    const generic = run({
      daemonset: avail(crashing(), DS),
      logs: avail([parseLog('flannel.log', FORBIDDEN_LOG)], 'logs/flannel.log'),
    })
    assert.match(errors(generic)[0]?.message ?? '', /→ kube\.rbac\.$/)
    const other = run({
      daemonset: avail(crashing(), DS),
      logs: avail([parseLog('kube-flannel-ds-7mxqz.log', FORBIDDEN_LOG)], 'logs/kube-flannel-ds-7mxqz.log'),
    })
    assert.match(errors(other)[0]?.message ?? '', /no log line explains it\.$/)
  })

  test('two failing pods: flannel.log belongs to the pod on this host', () => {
    const ds = crashing()
    const p1 = ds.pods.find((p) => p.node === 'node-1')
    assert.ok(p1)
    p1.ready = false
    const fs = run({
      daemonset: avail(ds, DS),
      logs: avail([parseLog('flannel.log', FORBIDDEN_LOG)], 'logs/flannel.log'),
      host: {origin: 'test', nodeName: 'node-1'},
    })
    const byPod = new Map(errors(fs).map((f) => [f.subject, f.message]))
    assert.match(byPod.get('pod kube-flannel-ds-7mxqz') ?? '', /→ kube\.rbac\.$/)
    assert.match(byPod.get('pod kube-flannel-ds-q5wtl') ?? '', /no log line explains it/)
  })

  test('a real pod whose init container crash-loops (Init:CrashLoopBackOff)', () => {
    const ds = parseDaemonSet(fx('outputs/kube/pod-init-crashloop-k8s-1.26.yaml'))
    const e = errors(run({daemonset: avail(ds, DS)}))
    assert.equal(
      e[0]?.message,
      'flannel pod orange on node controlplane is not ready (init container init-myservice: CrashLoopBackOff, 3 restarts, last exit code 127 (Error)).',
    )
    assert.ok(e[0]?.fix?.includes('kubectl -n default logs orange -c init-myservice --previous'))
  })

  test('the manifest alone (no status, no pods) → unknown', () => {
    const fs = run({daemonset: avail(parseDaemonSet(fx('outputs/kube/kube-flannel-v0.20.2.yml')), DS)})
    assert.deepEqual(
      fs.map((f) => f.status),
      ['unknown'],
    )
  })

  test('status counts that the pods do not explain, and a DaemonSet that schedules nothing', () => {
    const ds = healthy()
    ds.ready = 2
    const e = errors(run({daemonset: avail(ds, DS)}))
    assert.equal(e[0]?.message, 'DaemonSet kube-flannel/kube-flannel-ds has 2 of 3 pods ready.')
    const none = healthy()
    Object.assign(none, {desired: 0, ready: 0, available: 0, updated: 0, pods: []})
    assert.match(errors(run({daemonset: avail(none, DS)}))[0]?.message ?? '', /schedules no pod at all/)
  })

  test('not given → skip with the kubectl command; given but unreadable → unknown', () => {
    const fs = run({
      daemonset: missing(
        'the bundle has no kubernetes/daemonset.json',
        'kubectl -n kube-flannel get ds,pods ...',
      ),
    })
    assert.deepEqual(
      fs.map((f) => [f.status, f.hint]),
      [['skip', 'kubectl -n kube-flannel get ds,pods ...']],
    )
    const bad = run({
      daemonset: {
        ok: false,
        state: 'unparseable',
        reason: 'kubernetes/daemonset.json: not valid JSON or YAML',
        source: DS,
      },
    })
    assert.deepEqual(
      bad.map((f) => f.status),
      ['unknown'],
    )
  })
})
