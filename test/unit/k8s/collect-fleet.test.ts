// collect --all-nodes over the fake KubeClient and bundle-backed pods: the layout (cluster files once,
// a folder per node, a manifest naming how each node was reached), planted secrets never written, and
// doctor --bundle on the result gives what the live run gave.
import assert from 'node:assert/strict'
import {join} from 'node:path'
import {describe, it} from 'node:test'

import {captureFleetBundle, redactTokens} from '../../../src/collect/collect.js'
import {CHECKS} from '../../../src/checks/registry.js'
import {bundleFleet, planFleet, runFleet} from '../../../src/engine/fleet.js'
import {readBundle} from '../../../src/host/bundle-reader.js'
import type {KubeStore} from '../../support/apiserver.js'
import {bundlePodHandler, storeFromBundle} from '../../support/bundle-pod.js'
import {fakeKubeClient} from '../../support/fake-kube.js'
import {BUNDLES} from '../../support/scenarios.js'

const NS = 'kube-flannel'
const PSK = 'planted-psk-' + 'k'.repeat(40)
const WGKEY = 'cGxhbnRlZC13aXJlZ3VhcmQta2V5LW5ldmVyLXdyaXR0ZW4tMDAwMDA='
const XFRM_KEY = '0x' + 'ab'.repeat(32)
const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.planted-service-account-token.signature'

async function store(): Promise<KubeStore> {
  const base = await readBundle(join(BUNDLES, 'healthy-vxlan-cluster'))
  const {store: s, podOf} = storeFromBundle(base, {
    netConf: JSON.stringify({Network: '10.244.0.0/16', Backend: {Type: 'vxlan'}, PSK}, null, 2),
  })
  s.addToken(TOKEN, 'kubernetes-admin', ['system:masters'])
  const pods: Record<string, {files: Map<string, string>}> = {}
  for (const name of Object.values(podOf)) {
    const files = new Map(base)
    files.set('files/run/flannel/wgkey', WGKEY + '\n')
    files.set(
      'commands/ip-xfrm-state.txt',
      `src 10.99.1.2 dst 10.99.1.3\n\tproto esp spi 0x00000001 reqid 11 mode tunnel\n\tenc cbc(aes) ${XFRM_KEY}\n\tauth-trunc hmac(sha256) ${XFRM_KEY} 128\n`,
    )
    pods[`${NS}/${name}`] = {files}
    s.setLog(
      NS,
      name,
      'kube-flannel',
      `I1125 10:00:00.000001       1 main.go:211] using token: ${TOKEN}\nE1125 10:00:01.000001       1 kube.go:1] GET /api/v1/nodes Authorization: Bearer ${TOKEN}\n`,
    )
  }
  s.execHandler = bundlePodHandler(pods)
  return s
}

describe('collect over every node', () => {
  it('writes cluster files once, a folder per node, and a manifest of how each node was reached', async () => {
    const s = await store()
    const plan = await planFleet({client: fakeKubeClient(s), selection: {mode: 'all'}})
    const {files} = await captureFleetBundle(plan, {now: new Date('2026-11-25T12:00:00Z')})
    for (const k of [
      'kubernetes/nodes.json',
      'kubernetes/kube-flannel-cfg.yaml',
      'kubernetes/daemonset.json',
      'kubernetes/rbac.json',
    ])
      assert.ok(files.has(k) || files.has(k.replace('.yaml', '.json')), `no ${k}`)
    // The API's JSON travels compact; the bundle indents it for people.
    assert.match(files.get('kubernetes/nodes.json') ?? '', /^\{\n {2}"apiVersion": "v1",\n/)
    for (const n of ['node-1', 'node-2', 'node-3']) {
      assert.ok(files.has(`nodes/${n}/commands/ip-link.txt`), `no ip-link of ${n}`)
      assert.ok(files.has(`nodes/${n}/files/run/flannel/subnet.env`), `no subnet.env of ${n}`)
      assert.ok(files.has(`nodes/${n}/manifest.json`))
      assert.ok(!files.has(`nodes/${n}/kubernetes/nodes.json`), 'the node list is repeated per node')
    }
    const m = JSON.parse(files.get('manifest.json') as string) as {
      nodes: {name: string; access: string; pod?: string}[]
      clusterNodes: number
    }
    assert.equal(m.clusterNodes, 3)
    assert.deepEqual(
      m.nodes.map((n) => [n.name, n.access]),
      [
        ['node-1', 'exec'],
        ['node-2', 'exec'],
        ['node-3', 'exec'],
      ],
    )
  })

  it('never writes a planted secret: token, PSK, wgkey, xfrm keys', async () => {
    const s = await store()
    const plan = await planFleet({client: fakeKubeClient(s), selection: {mode: 'all'}})
    const {files} = await captureFleetBundle(plan)
    const all = [...files.entries()].map(([k, v]) => `${k}\n${v}`).join('\n')
    for (const [what, secret] of [
      ['token', TOKEN],
      ['PSK', PSK],
      ['wgkey', WGKEY],
      ['xfrm key', XFRM_KEY.slice(2)],
    ] as const)
      assert.ok(!all.includes(secret), `the ${what} reached the bundle`)
    // They were there to be found: the digests stand in for them.
    assert.match(all, /\\"PSK\\": \\"sha256:[0-9a-f]{64}\\"/)
    assert.match(all, /enc cbc\(aes\) sha256:[0-9a-f]{64}/)
    assert.match(all, /Authorization: Bearer sha256:[0-9a-f]{64}/)
    assert.ok(![...files.keys()].some((k) => k.endsWith('wgkey')))
  })

  it('doctor --bundle of what collect wrote gives the live findings', async () => {
    const s = await store()
    const live = await runFleet({
      client: fakeKubeClient(s),
      selection: {mode: 'all'},
      checks: CHECKS,
      failOn: 'error',
      version: '0.1.0',
    })
    const plan = await planFleet({client: fakeKubeClient(s), selection: {mode: 'all'}})
    const {files} = await captureFleetBundle(plan)
    const offline = await bundleFleet('b', files, {checks: CHECKS, failOn: 'error', version: '0.1.0'})
    const view = (r: typeof live) =>
      r.nodes.map((n) => [n.node, n.access, n.report.checks.map((c) => `${c.id}=${c.status}`)])
    assert.deepEqual(view(offline), view(live))
    assert.deepEqual(
      offline.cluster?.checks.map((c) => `${c.id}=${c.status}`),
      live.cluster?.checks.map((c) => `${c.id}=${c.status}`),
    )
    assert.ok((live.cluster?.checks.length ?? 0) > 0, 'no check was reported once for the cluster')
    assert.equal(offline.exitCode, live.exitCode)
  })

  it('redactTokens keeps the shape and replaces the credential', () => {
    assert.match(
      redactTokens('Authorization: Bearer abcdefgh12345678 done'),
      /^Authorization: Bearer sha256:[0-9a-f]{64} done$/,
    )
    assert.match(redactTokens('token: "abcdefgh12345678"'), /^token: "sha256:[0-9a-f]{64}"$/)
    assert.equal(redactTokens('no secrets here: 10.244.0.0/16'), 'no secrets here: 10.244.0.0/16')
  })
})
