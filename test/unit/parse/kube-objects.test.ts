import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {describe, test} from 'node:test'

import {stringify} from 'yaml'

import {ParseError} from '../../../src/parse/errors.js'
import {parseDaemonSet, parseRbac} from '../../../src/parse/kube-objects.js'

const OUT = new URL('../../fixtures/outputs/kube/', import.meta.url)
const BUNDLES = new URL('../../fixtures/bundles/', import.meta.url)
const fx = (name: string): string => readFileSync(new URL(name, OUT), 'utf8')
const bundle = (path: string): string => readFileSync(new URL(path, BUNDLES), 'utf8')

describe('parseRbac', () => {
  test('kube-flannel.yml v0.20.2: the ClusterRole and its binding, other kinds ignored', () => {
    const r = parseRbac(fx('kube-flannel-v0.20.2.yml'))
    assert.equal(r.roles.length, 1)
    assert.equal(r.bindings.length, 1)
    assert.deepEqual(r.reviews, [])
    const role = r.roles[0]
    assert.equal(role?.kind, 'ClusterRole')
    assert.equal(role?.name, 'flannel')
    assert.deepEqual(
      role?.rules.map((x) => [x.apiGroups, x.resources, x.verbs]),
      [
        [[''], ['pods'], ['get']],
        [[''], ['nodes'], ['get', 'list', 'watch']],
        [[''], ['nodes/status'], ['patch']],
        [['networking.k8s.io'], ['clustercidrs'], ['list', 'watch']],
      ],
    )
    assert.deepEqual(r.bindings[0], {
      kind: 'ClusterRoleBinding',
      name: 'flannel',
      roleRef: {kind: 'ClusterRole', name: 'flannel'},
      subjects: [{kind: 'ServiceAccount', name: 'flannel', namespace: 'kube-flannel'}],
    })
  })

  test('kube-flannel.yml v0.13.0-rc2: kube-system, PSP rule with resourceNames, no `get nodes`', () => {
    const r = parseRbac(fx('kube-flannel-v0.13.0-rc2.yml'))
    const rules = r.roles[0]?.rules ?? []
    assert.deepEqual(rules[0]?.resourceNames, ['psp.flannel.unprivileged'])
    assert.deepEqual(rules[2]?.verbs, ['list', 'watch'])
    assert.equal(r.bindings[0]?.subjects[0]?.namespace, 'kube-system')
  })

  test('the JSON List of a scenario bundle (kubectl layout)', () => {
    const r = parseRbac(bundle('rbac-missing-patch-nodes-status/kubernetes/rbac.json'))
    assert.equal(r.roles[0]?.rules.length, 3)
    assert.ok(!r.roles[0]?.rules.some((x) => x.resources.includes('nodes/status')))
  })

  test('SubjectAccessReview answers in a List', () => {
    const sar = (verb: string, resource: string, subresource: string, allowed: boolean) => ({
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      metadata: {creationTimestamp: null},
      spec: {
        resourceAttributes: {verb, resource, subresource, group: ''},
        user: 'system:serviceaccount:kube-flannel:flannel',
      },
      status: allowed
        ? {
            allowed: true,
            reason:
              'RBAC: allowed by ClusterRoleBinding "flannel" of ClusterRole "flannel" to ServiceAccount "flannel/kube-flannel"',
          }
        : {allowed: false},
    })
    const text = JSON.stringify({
      kind: 'List',
      apiVersion: 'v1',
      items: [sar('get', 'pods', '', true), sar('patch', 'nodes', 'status', false)],
    })
    const r = parseRbac(text)
    assert.equal(r.reviews.length, 2)
    assert.equal(r.reviews[1]?.subresource, 'status')
    assert.equal(r.reviews[1]?.allowed, false)
    assert.equal(
      r.reviews[1]?.raw,
      'can-i patch nodes/status as system:serviceaccount:kube-flannel:flannel: no',
    )
    assert.match(r.reviews[0]?.raw ?? '', /: yes \(RBAC: allowed by ClusterRoleBinding "flannel"/)
  })

  test('no RBAC object → ParseError naming the kinds it found', () => {
    assert.throws(
      () => parseRbac(fx('nodes-list-k8s-1.22.json')),
      (e: unknown) => e instanceof ParseError && /found Node/.test(e.message),
    )
    assert.throws(() => parseRbac(''), ParseError)
    assert.throws(() => parseRbac('just some words'), ParseError)
  })

  test('broken YAML → ParseError with its line', () => {
    const text = fx('kube-flannel-v0.20.2.yml').replace('rules:\n- apiGroups:', 'rules:\n- apiGroups: [\n')
    assert.throws(
      () => parseRbac(text),
      (e: unknown) => e instanceof ParseError && typeof e.line === 'number' && e.line > 1,
    )
  })
})

describe('parseDaemonSet', () => {
  test('a manifest: DaemonSet spec without status, no pods', () => {
    const d = parseDaemonSet(fx('kube-flannel-v0.20.2.yml'))
    assert.equal(d.name, 'kube-flannel-ds')
    assert.equal(d.namespace, 'kube-flannel')
    assert.equal(d.countsFromPods, true)
    assert.equal(d.pods.length, 0)
    assert.equal(d.serviceAccount, 'flannel')
    assert.deepEqual(d.images, [
      'docker.io/flannel/flannel-cni-plugin:v1.1.2',
      'docker.io/flannel/flannel:v0.20.2',
    ])
    assert.deepEqual(d.args, ['/opt/bin/flanneld', '--ip-masq', '--kube-subnet-mgr'])
  })

  test('a real pod in Init:CrashLoopBackOff (kubectl get pod -o yaml)', () => {
    const d = parseDaemonSet(fx('pod-init-crashloop-k8s-1.26.yaml'))
    assert.equal(d.name, undefined)
    assert.equal(d.namespace, 'default')
    assert.equal(d.desired, 1)
    assert.equal(d.ready, 0)
    const p = d.pods[0]
    assert.equal(p?.name, 'orange')
    assert.equal(p?.node, 'controlplane')
    assert.equal(p?.phase, 'Pending')
    assert.equal(p?.ready, false)
    assert.equal(p?.restarts, 3)
    const init = p?.containers.find((c) => c.init)
    assert.deepEqual(
      {
        n: init?.name,
        w: init?.waitingReason,
        t: init?.lastTerminated?.exitCode,
        r: init?.lastTerminated?.reason,
      },
      {n: 'init-myservice', w: 'CrashLoopBackOff', t: 127, r: 'Error'},
    )
    assert.equal(p?.raw, 'orange node=controlplane Pending ready=0/1 Init:CrashLoopBackOff restarts=3')
  })

  test('the List of a scenario bundle: status counts and the crash-looping pod', () => {
    const d = parseDaemonSet(bundle('daemonset-crashloop-podcidr/kubernetes/daemonset.json'))
    assert.deepEqual([d.desired, d.ready, d.available, d.updated], [4, 3, 3, 4])
    assert.equal(d.countsFromPods, undefined)
    assert.equal(d.pods.length, 4)
    const bad = d.pods.filter((p) => !p.ready)
    assert.deepEqual(
      bad.map((p) => p.raw),
      ['kube-flannel-ds-q5wtl node=node-4 Running ready=0/1 CrashLoopBackOff restarts=7'],
    )
    assert.equal(d.raw, 'daemonset kube-flannel/kube-flannel-ds desired=4 ready=3 available=3 up-to-date=4')
  })

  test('the same objects as YAML documents parse alike', () => {
    const json = bundle('healthy-vxlan-cluster/kubernetes/daemonset.json')
    const fromJson = parseDaemonSet(json)
    assert.equal(fromJson.ready, 3)
    assert.ok(fromJson.pods.every((p) => p.ready))
    const items = (JSON.parse(json) as {items: unknown[]}).items
    const fromYaml = parseDaemonSet(items.map((o) => stringify(o)).join('---\n'))
    assert.deepEqual(fromYaml, fromJson)
  })

  test('nothing of the DaemonSet → ParseError', () => {
    assert.throws(
      () => parseDaemonSet(fx('nodes-list-k8s-1.33.yaml')),
      (e: unknown) => e instanceof ParseError && /found .*List|found Node/.test(e.message),
    )
    assert.throws(() => parseDaemonSet('{}'), ParseError)
    assert.throws(() => parseDaemonSet('   \n'), ParseError)
  })
})
