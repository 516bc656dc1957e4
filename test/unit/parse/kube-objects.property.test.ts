/**
 * The DaemonSet and RBAC parsers are total: on any input they return a value or throw ParseError, never
 * another exception. Inputs: arbitrary text of Kubernetes/YAML words, mutations of the real captures
 * (kube-flannel.yml manifests, a real Pod, the scenario bundles' kubectl Lists: truncation, line
 * deletion/duplication/swap, character edits, inserted words) and structural edits of the JSON Lists
 * (one value anywhere replaced by any JSON). 10,000 runs per parser.
 */
import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {test} from 'node:test'

import {parseDaemonSet, parseRbac} from '../../../src/parse/kube-objects.js'
import {assertTotal, fixtures, jsonMutated, runsOf, standardArms, type Arm} from '../../support/property.js'

const BUNDLES = new URL('../../fixtures/bundles/', import.meta.url)
const bundle = (p: string): string => readFileSync(new URL(p, BUNDLES), 'utf8')

const MANIFESTS = fixtures('kube', (f) => f.startsWith('kube-flannel-') || f.startsWith('pod-'))
const DS_JSON = [
  bundle('healthy-vxlan-cluster/kubernetes/daemonset.json'),
  bundle('daemonset-crashloop-podcidr/kubernetes/daemonset.json'),
]
const RBAC_JSON = [
  bundle('healthy-vxlan-cluster/kubernetes/rbac.json'),
  bundle('rbac-missing-patch-nodes-status/kubernetes/rbac.json'),
]

const VOCAB = [
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  '"',
  '- ',
  '---',
  '&a',
  '*a',
  '!!',
  'null',
  'true',
  '0',
  '-1',
  'kind:',
  'List',
  'items:',
  'DaemonSet',
  'Pod',
  'ClusterRole',
  'ClusterRoleBinding',
  'RoleBinding',
  'Role',
  'SubjectAccessReview',
  'metadata:',
  'name:',
  'namespace:',
  'rules:',
  'apiGroups:',
  'resources:',
  'verbs:',
  'resourceNames:',
  'subjects:',
  'roleRef:',
  'status:',
  'spec:',
  'containerStatuses:',
  'restartCount:',
  'waiting:',
  'terminated:',
  'exitCode:',
  'desiredNumberScheduled:',
  'numberReady:',
  'resourceAttributes:',
  'allowed:',
  '"kind": "List"',
  '"items": [',
  '"kind": "Pod"',
]

function arms(seeds: readonly string[], json: readonly string[]): Arm[] {
  return [
    ...standardArms(VOCAB, [...seeds, ...json], 3500),
    {what: 'json', arb: jsonMutated(json, 6), runs: 3000},
  ]
}

const DS_ARMS = arms(MANIFESTS, DS_JSON)
const RBAC_ARMS = arms(MANIFESTS, RBAC_JSON)

test(`parseDaemonSet is total (${runsOf(DS_ARMS)} runs)`, () => {
  assert.ok(runsOf(DS_ARMS) >= 10000)
  assertTotal('parseDaemonSet', parseDaemonSet, DS_ARMS, {
    check: (d) => {
      assert.ok(d.ready >= 0 && d.desired >= 0)
      for (const p of d.pods) assert.equal(typeof p.raw, 'string')
    },
  })
})

test(`parseRbac is total (${runsOf(RBAC_ARMS)} runs)`, () => {
  assert.ok(runsOf(RBAC_ARMS) >= 10000)
  assertTotal('parseRbac', parseRbac, RBAC_ARMS, {
    check: (r) => assert.ok(r.roles.length + r.bindings.length + r.reviews.length > 0),
  })
})
