import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {describe, test} from 'node:test'

import {check} from '../../../src/checks/kube/rbac.js'
import type {Finding} from '../../../src/checks/types.js'
import {staticFacts, type StaticFactInput} from '../../../src/facts/static.js'
import type {FlannelRbac, RbacRule} from '../../../src/model.js'
import {parseDaemonSet, parseRbac} from '../../../src/parse/kube-objects.js'
import {parseLog} from '../../../src/parse/logs.js'
import {avail, missing} from '../../support/builders.js'

const OUT = new URL('../../fixtures/', import.meta.url)
const fx = (p: string): string => readFileSync(new URL(p, OUT), 'utf8')
const RBAC = 'kubernetes/rbac.json'

const v020 = (): FlannelRbac => parseRbac(fx('outputs/kube/kube-flannel-v0.20.2.yml'))
const v013 = (): FlannelRbac => parseRbac(fx('outputs/kube/kube-flannel-v0.13.0-rc2.yml'))
const noPatch = (): FlannelRbac =>
  parseRbac(fx('bundles/rbac-missing-patch-nodes-status/kubernetes/rbac.json'))

/** The real v0.20.2 ClusterRole with its rules replaced. */
function withRules(rules: Partial<RbacRule>[]): FlannelRbac {
  const r = v020()
  const role = r.roles[0]
  assert.ok(role)
  role.rules = rules.map((x) => ({
    apiGroups: [''],
    resources: [],
    verbs: [],
    resourceNames: [],
    nonResourceURLs: [],
    ...x,
  }))
  return r
}

const run = (input: StaticFactInput): Finding[] => check.evaluate(staticFacts(input))
const failing = (fs: Finding[]): Finding[] => fs.filter((f) => f.status === 'error' || f.status === 'warning')
const lines = (f: Finding | undefined): string[] => (f?.evidence ?? []).flatMap((e) => e.lines)

describe('kube.rbac from the bound roles', () => {
  test('the ClusterRole of kube-flannel.yml grants everything flanneld needs', () => {
    const fs = run({rbac: avail(v020(), RBAC)})
    assert.deepEqual(
      fs.map((f) => f.status),
      ['ok'],
    )
    assert.match(
      fs[0]?.message ?? '',
      /kube-flannel\/flannel may get pods, get nodes, list nodes, watch nodes, patch nodes\/status/,
    )
    assert.ok(
      lines(fs[0]).includes('ClusterRole flannel: apiGroups [""] resources [nodes/status] verbs [patch]'),
    )
  })

  test('without the nodes/status rule: names `patch nodes/status` and gives the rule to add', () => {
    const fs = run({rbac: avail(noPatch(), RBAC)})
    const f = failing(fs)
    assert.equal(f.length, 1)
    assert.equal(f[0]?.status, 'error')
    assert.equal(f[0]?.subject, 'patch nodes/status')
    assert.match(f[0]?.message ?? '', /\(ClusterRole flannel\) grants patch nodes\/status/)
    assert.ok(
      f[0]?.fix?.includes(
        `kubectl patch clusterrole flannel --type=json -p '[{"op":"add","path":"/rules/-","value":{"apiGroups":[""],"resources":["nodes/status"],"verbs":["patch"]}}]'`,
      ),
    )
    assert.ok(
      f[0]?.fix?.includes(
        'kubectl auth can-i patch nodes --subresource=status --as=system:serviceaccount:kube-flannel:flannel',
      ),
    )
    assert.ok(f[0]?.fix?.some((l) => l.includes('releases/latest/download/kube-flannel.yml')))
    assert.ok(f[0]?.fix?.some((l) => l.includes('k8s-old-manifests') && l.includes('no longer exists')))
  })

  test('v0.13 manifest: ServiceAccount kube-system/flannel, and `get nodes` is missing', () => {
    const f = failing(run({rbac: avail(v013(), RBAC)}))
    assert.equal(f.length, 1)
    assert.equal(f[0]?.subject, 'get nodes')
    assert.match(f[0]?.message ?? '', /kube-system\/flannel/)
    assert.ok(
      f[0]?.fix?.includes('kubectl auth can-i get nodes --as=system:serviceaccount:kube-system:flannel'),
    )
  })

  test('wildcards: resources `*` and verbs `*` grant all; `*/status` grants the subresource', () => {
    assert.deepEqual(
      run({rbac: avail(withRules([{resources: ['*'], verbs: ['*']}]), RBAC)}).map((f) => f.status),
      ['ok'],
    )
    const sub = withRules([
      {resources: ['pods', 'nodes'], verbs: ['get', 'list', 'watch']},
      {resources: ['*/status'], verbs: ['patch']},
    ])
    assert.deepEqual(
      run({rbac: avail(sub, RBAC)}).map((f) => f.status),
      ['ok'],
    )
    const wrongGroup = withRules([{apiGroups: ['apps'], resources: ['*'], verbs: ['*']}])
    assert.equal(
      failing(run({rbac: avail(wrongGroup, RBAC)}))[0]?.subject,
      'get pods, get nodes, list nodes, watch nodes, patch nodes/status',
    )
  })

  test('a rule limited by resourceNames does not grant it for every node', () => {
    const r = withRules([
      {resources: ['pods'], verbs: ['get']},
      {resources: ['nodes'], verbs: ['get', 'list', 'watch']},
      {resources: ['nodes/status'], verbs: ['patch'], resourceNames: ['node-1']},
    ])
    const f = failing(run({rbac: avail(r, RBAC)}))
    assert.equal(f[0]?.subject, 'patch nodes/status')
    assert.match(f[0]?.message ?? '', /granted only for resourceNames node-1/)
  })

  test('a RoleBinding in the flannel namespace grants pods, never nodes', () => {
    const r = withRules([
      {resources: ['pods', 'nodes', 'nodes/status'], verbs: ['get', 'list', 'watch', 'patch']},
    ])
    const b = r.bindings[0]
    assert.ok(b)
    b.kind = 'RoleBinding'
    b.namespace = 'kube-flannel'
    const f = failing(run({rbac: avail(r, RBAC)}))
    assert.equal(f[0]?.subject, 'get nodes, list nodes, watch nodes, patch nodes/status')
  })

  test('the evidence of a failing RoleBinding quotes the Role of its own namespace, not a namesake elsewhere', () => {
    const r = v020()
    const cr = r.roles[0]
    const b = r.bindings[0]
    assert.ok(cr && b)
    b.kind = 'RoleBinding'
    b.namespace = 'kube-flannel'
    b.roleRef = {kind: 'Role', name: 'flannel-pods'}
    const rule = (verbs: string[]): RbacRule => ({
      apiGroups: [''],
      resources: ['pods'],
      verbs,
      resourceNames: [],
      nonResourceURLs: [],
    })
    r.roles = [
      {kind: 'Role', name: 'flannel-pods', namespace: 'monitoring', rules: [rule(['delete'])]},
      {kind: 'Role', name: 'flannel-pods', namespace: 'kube-flannel', rules: [rule(['get'])]},
    ]
    const f = failing(run({rbac: avail(r, RBAC)}))[0]
    assert.ok(f, 'no failure: the RoleBinding cannot grant the node verbs')
    const ev = lines(f)
    assert.ok(
      ev.includes('Role kube-flannel/flannel-pods: apiGroups [""] resources [pods] verbs [get]'),
      ev.join('\n'),
    )
    assert.ok(!ev.some((l) => l.startsWith('Role monitoring/')), ev.join('\n'))
  })

  test('a binding to a ClusterRole the evidence lacks → unknown, not a failure', () => {
    const r = v020()
    r.roles = []
    const fs = run({rbac: avail(r, RBAC)})
    assert.deepEqual(
      fs.map((f) => f.status),
      ['unknown'],
    )
    assert.match(fs[0]?.message ?? '', /lacks the bound ClusterRole flannel/)
  })

  test('no binding names the ServiceAccount → error with the binding to create', () => {
    const r = v020()
    const b = r.bindings[0]
    assert.ok(b)
    b.subjects = [{kind: 'ServiceAccount', name: 'default', namespace: 'kube-flannel'}]
    const f = failing(run({rbac: avail(r, RBAC)}))
    assert.match(
      f[0]?.message ?? '',
      /No ClusterRoleBinding or RoleBinding in kubernetes\/rbac.json names the flannel ServiceAccount kube-flannel\/flannel/,
    )
    assert.ok(
      f[0]?.fix?.includes(
        'kubectl create clusterrolebinding flannel --clusterrole=flannel --serviceaccount=kube-flannel:flannel',
      ),
    )
  })

  test('the DaemonSet evidence decides the namespace (kube-system for ≤ v0.18)', () => {
    const ds = parseDaemonSet(fx('outputs/kube/kube-flannel-v0.13.0-rc2.yml'))
    // v0.20.2's role is bound to kube-flannel/flannel, but the DaemonSet runs in kube-system.
    const f = failing(run({rbac: avail(v020(), RBAC), daemonset: avail(ds, 'kubernetes/daemonset.json')}))
    assert.match(f[0]?.message ?? '', /kube-system\/flannel/)
  })
})

describe('kube.rbac from access reviews', () => {
  const sar = (verb: string, resource: string, allowed: boolean, subresource = '') => ({
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SubjectAccessReview',
    spec: {
      resourceAttributes: {verb, resource, subresource, group: ''},
      user: 'system:serviceaccount:kube-flannel:flannel',
    },
    status: {allowed},
  })
  const reviews = (patchAllowed: boolean): FlannelRbac =>
    parseRbac(
      JSON.stringify({
        kind: 'List',
        items: [
          sar('get', 'pods', true),
          sar('get', 'nodes', true),
          sar('list', 'nodes', true),
          sar('watch', 'nodes', true),
          sar('patch', 'nodes', patchAllowed, 'status'),
        ],
      }),
    )

  test('a denied review fails even when no role is in the evidence', () => {
    const f = failing(run({rbac: avail(reviews(false), RBAC)}))
    assert.equal(f[0]?.subject, 'patch nodes/status')
    assert.match(f[0]?.message ?? '', /The access review says/)
    assert.ok(
      lines(f[0]).includes('can-i patch nodes/status as system:serviceaccount:kube-flannel:flannel: no'),
    )
  })

  test('reviews win over the rules: all allowed → ok even with the rule missing', () => {
    const r = noPatch()
    r.reviews = reviews(true).reviews
    const fs = run({rbac: avail(r, RBAC)})
    assert.deepEqual(
      fs.map((f) => f.status),
      ['ok'],
    )
    assert.match(fs[0]?.message ?? '', /by its access reviews/)
  })
})

describe('kube.rbac and the logs', () => {
  const FORBIDDEN = 'outputs/logs/puppet-k8s-126-forbidden.log'

  test('a real `forbidden` line with no RBAC evidence: the denied verb, from the log', () => {
    const logs = [parseLog('flannel.log', fx(FORBIDDEN))]
    const fs = run({
      rbac: missing('the bundle has no kubernetes/rbac.json', 'kubectl get ...'),
      logs: avail(logs, 'logs/flannel.log'),
    })
    const f = failing(fs)
    assert.equal(f.length, 1)
    assert.equal(f[0]?.subject, 'get pods')
    assert.match(
      f[0]?.message ?? '',
      /denied flanneld \(system:serviceaccount:kube-system:flannel\) "get pods"/,
    )
    assert.ok(
      f[0]?.fix?.includes(
        'kubectl auth can-i get pods --as=system:serviceaccount:kube-system:flannel -n kube-system',
      ),
    )
    // RBAC evidence was simply not given: the log's failure stands alone.
    assert.deepEqual(
      fs.map((x) => x.status),
      ['error'],
    )
  })

  test('`does not allow access` (old API servers) maps to get pods through the pod-spec context', () => {
    const text =
      "E0301 10:00:00.000000       1 main.go:289] Failed to create SubnetManager: error retrieving pod spec for 'kube-system/kube-flannel-ds-abc123': the server does not allow access to the requested resource\n"
    const logs = [parseLog('flannel.log', text)]
    const f = failing(run({rbac: missing('not collected', 'x'), logs: avail(logs, 'logs/flannel.log')}))
    assert.equal(f[0]?.subject, 'get pods')
  })

  test('the -v=2 patch denial and the timeout line are quoted with the missing rule', () => {
    const text = [
      'I0101 00:00:03.000000       1 kube.go:545] Failed to patch node "node-1": nodes "node-1" is forbidden: User "system:serviceaccount:kube-flannel:flannel" cannot patch resource "nodes/status" in API group "" at the cluster scope',
      'E0101 00:00:30.000000       1 main.go:359] Error registering network: failed to acquire lease: timeout contacting kube-api, failed to patch node "node-1". Error: context deadline exceeded',
    ].join('\n')
    const logs = [parseLog('kube-flannel-ds-7mxqz.log', text)]
    const f = failing(
      run({rbac: avail(noPatch(), RBAC), logs: avail(logs, 'logs/kube-flannel-ds-7mxqz.log')}),
    )
    assert.equal(f.length, 1)
    const quoted = lines(f[0])
    assert.ok(quoted.some((l) => l.includes('cannot patch resource "nodes/status"')))
    assert.ok(quoted.some((l) => l.includes('timeout contacting kube-api, failed to patch node "node-1"')))
    assert.match(f[0]?.message ?? '', /log shows the API server denying it/)
  })

  test('a denial the RBAC evidence now grants: info, the log predates the fix', () => {
    const text = fx(FORBIDDEN).replaceAll('kube-system', 'kube-flannel')
    const logs = [parseLog('flannel.log', text)]
    const fs = run({rbac: avail(v020(), RBAC), logs: avail(logs, 'logs/flannel.log')})
    assert.deepEqual(fs.map((f) => f.status).sort(), ['info', 'ok'])
  })

  test('no RBAC evidence and no denial → skip; unreadable RBAC evidence → unknown', () => {
    const fs = run({rbac: missing('the bundle has no kubernetes/rbac.json', 'kubectl get clusterroles ...')})
    assert.deepEqual(
      fs.map((f) => [f.status, f.hint]),
      [['skip', 'kubectl get clusterroles ...']],
    )
    const bad = run({
      rbac: {
        ok: false,
        state: 'unparseable',
        reason: 'kubernetes/rbac.json: not valid JSON or YAML',
        source: RBAC,
      },
    })
    assert.deepEqual(
      bad.map((f) => f.status),
      ['unknown'],
    )
  })
})
