/**
 * doctor and setup against the HTTPS test API server (test/support/apiserver.ts) through the built CLI:
 * the API gives the same kube findings as a bundle holding the same objects, a missing RBAC verb and an
 * unreachable API show as they would on a real cluster, and setup reads its peers from the API.
 */
import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'

import {CHECKS} from '../../src/checks/registry.js'
import type {DoctorReport} from '../../src/engine/doctor.js'
import type {FactKey} from '../../src/facts/types.js'
import type {KubeObject} from '../../src/k8s/client.js'
import {hasOpenssl, startApiServer, type TestApiServer} from '../support/apiserver.js'
import {cli} from '../support/cli.js'
import {assertValidReport} from '../support/schema.js'
import {ADMIN_TOKEN, nodeName, seedStore} from '../unit/k8s/seed.js'

const skip = hasOpenssl() ? false : 'the openssl binary is not installed (needed for the test CA)'
const json = (s: string) => JSON.parse(s) as DoctorReport
/** oclif wraps error lines at the terminal width: join them back. */
const flat = (s: string) => s.replace(/\s*\n\s*›\s+/g, ' ')

/** Checks that read only cluster evidence and net-conf (not this host's links, addresses or routes). */
const CLUSTER_ONLY = new Set<FactKey>(['nodes', 'netConf', 'logs', 'daemonset', 'rbac', 'host'])
const clusterChecks = CHECKS.filter(
  (c) => c.area === 'kube' && c.needs.every((k) => CLUSTER_ONLY.has(k)),
).map((c) => c.id)

const summary = (r: DoctorReport, ids: readonly string[]) =>
  ids.map((id) => {
    const c = r.checks.find((x) => x.id === id)
    return {id, status: c?.status, findings: (c?.findings ?? []).map((f) => `${f.status} ${f.subject ?? ''}`)}
  })

async function closedPort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as {port: number}).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

describe('doctor and setup with --kubeconfig', {skip}, () => {
  let srv: TestApiServer
  let kc: string
  let tmp: string
  let netConf: string

  before(async () => {
    srv = await startApiServer(seedStore(3))
    kc = srv.writeKubeconfig(ADMIN_TOKEN)
    tmp = mkdtempSync(join(tmpdir(), 'flannelctl-kube-'))
    netConf = join(tmp, 'net-conf.json')
    const cm = srv.store.configMaps.get('kube-flannel/kube-flannel-cfg') as {data: Record<string, string>}
    writeFileSync(netConf, cm.data['net-conf.json'] as string)
  })
  after(async () => {
    await srv.close()
    srv.tls.cleanup()
    rmSync(tmp, {recursive: true, force: true})
  })

  /** A bundle holding the objects of the server's store, as kubectl would have written them. */
  function bundleOfStore(): string {
    const dir = join(tmp, 'bundle')
    for (const d of ['kubernetes', 'logs', 'files/etc/kube-flannel'])
      mkdirSync(join(dir, d), {recursive: true})
    const s = srv.store
    const list = (items: unknown[]) => JSON.stringify({apiVersion: 'v1', kind: 'List', items}, null, 2)
    const objs = (m: Map<string, KubeObject>, kind: string, apiVersion: string) =>
      [...m.values()].map((o) => ({apiVersion, kind, ...o}))
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({format: 1, nodeName: nodeName(0)}))
    writeFileSync(
      join(dir, 'files/etc/kube-flannel/net-conf.json'),
      (s.configMaps.get('kube-flannel/kube-flannel-cfg') as {data: Record<string, string>}).data[
        'net-conf.json'
      ] as string,
    )
    writeFileSync(join(dir, 'kubernetes/nodes.json'), list(objs(s.nodes, 'Node', 'v1')))
    const pods = objs(s.pods, 'Pod', 'v1').filter((p) => p.metadata?.labels?.['app'] === 'flannel')
    writeFileSync(
      join(dir, 'kubernetes/daemonset.json'),
      list([...objs(s.daemonSets, 'DaemonSet', 'apps/v1'), ...pods]),
    )
    const rbacV = 'rbac.authorization.k8s.io/v1'
    writeFileSync(
      join(dir, 'kubernetes/rbac.json'),
      list([
        ...[...s.clusterRoles.values()].map((r) => ({apiVersion: rbacV, kind: 'ClusterRole', ...r})),
        ...[...s.clusterRoleBindings.values()].map((b) => ({
          apiVersion: rbacV,
          kind: 'ClusterRoleBinding',
          ...b,
        })),
      ]),
    )
    const log = s.logs.get('kube-flannel/kube-flannel-ds-7xk2p/kube-flannel')
    writeFileSync(join(dir, 'logs/kube-flannel-ds-7xk2p.log'), log?.current ?? '')
    writeFileSync(join(dir, 'logs/kube-flannel-ds-7xk2p.previous.log'), log?.previous ?? '')
    return dir
  }

  it('doctor --kubeconfig gives the same kube findings as a bundle of the same objects', async () => {
    assert.ok(clusterChecks.includes('kube.rbac') && clusterChecks.includes('kube.daemonset-ready'))
    const before = srv.requests.length
    const live = await cli([
      'doctor',
      '--kubeconfig',
      kc,
      '--net-conf',
      netConf,
      '--node-name',
      nodeName(0),
      '--only',
      'kube',
      '--json',
    ])
    const bundle = await cli(['doctor', '--bundle', bundleOfStore(), '--only', 'kube', '--json'])
    const a = json(live.stdout)
    const b = json(bundle.stdout)
    assertValidReport(a)
    assert.equal(a.origin, 'live + kubernetes API')
    assert.deepEqual(summary(a, clusterChecks), summary(b, clusterChecks))
    // Real findings, not all-unknown: the seeded crash log and the unready pod of node-0001.
    assert.equal(a.checks.find((c) => c.id === 'kube.rbac')?.status, 'ok')
    assert.equal(a.checks.find((c) => c.id === 'kube.daemonset-ready')?.status, 'error')
    assert.equal(a.checks.find((c) => c.id === 'kube.flannel-annotations')?.status, 'ok')
    assert.equal(live.code, 1)
    const reqs = srv.requests.slice(before).map((r) => `${r.method} ${r.path}`)
    assert.ok(reqs.includes('GET /apis/apps/v1/namespaces/kube-flannel/daemonsets/kube-flannel-ds'))
    assert.ok(reqs.includes('GET /api/v1/namespaces/kube-flannel/pods/kube-flannel-ds-7xk2p/log'))
    assert.equal(
      reqs.filter((r) => r === 'POST /apis/authorization.k8s.io/v1/subjectaccessreviews').length,
      5,
    )
  })

  it('a ClusterRole without patch nodes/status on the server → kube.rbac error naming it', async () => {
    const role = srv.store.clusterRoles.get('flannel')
    assert.ok(role)
    const saved = structuredClone(role)
    role.rules = role.rules.filter((r) => !(r.resources ?? []).includes('nodes/status'))
    try {
      const r = await cli([
        'doctor',
        '--kubeconfig',
        kc,
        '--net-conf',
        netConf,
        '--only',
        'kube.rbac',
        '--json',
      ])
      assert.equal(r.code, 1, r.stderr)
      const c = json(r.stdout).checks.find((x) => x.id === 'kube.rbac')
      assert.equal(c?.status, 'error')
      const f = c?.findings[0]
      assert.match(f?.message ?? '', /may not patch nodes\/status/)
      assert.match(
        f?.evidence[0]?.lines.join('\n') ?? '',
        /can-i patch nodes\/status as system:serviceaccount:kube-flannel:flannel: no/,
      )
    } finally {
      srv.store.addClusterRole(saved)
    }
  })

  it('API down (closed port) → the kube checks unknown with the one-line reason, exit 3', async () => {
    const down = srv.writeKubeconfig(ADMIN_TOKEN, {server: `https://127.0.0.1:${await closedPort()}`})
    const r = await cli([
      'doctor',
      '--kubeconfig',
      down,
      '--net-conf',
      netConf,
      '--only',
      'kube.rbac,kube.daemonset-ready,kube.podcidr-assigned,kube.flannel-annotations',
      '--json',
    ])
    assert.equal(r.code, 3, r.stderr)
    const report = json(r.stdout)
    assert.equal(report.result, 'incomplete')
    for (const c of report.checks) {
      assert.equal(c.status, 'unknown', c.id)
      const m = c.findings[0]?.message ?? ''
      assert.match(m, /cannot reach the API server at https:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/, c.id)
      assert.ok(!m.includes('\n'), m)
    }
  })

  it('an unreadable kubeconfig is a usage error (exit 2)', async () => {
    const r = await cli(['doctor', '--kubeconfig', join(tmp, 'nope.yaml'), '--only', 'kube'])
    assert.equal(r.code, 2)
    assert.match(flat(r.stderr), /cannot load .*nope\.yaml: ENOENT/)
  })

  it('setup --kubeconfig --dry-run plans the peers listed by the API', async () => {
    const r = await cli([
      'setup',
      '--kubeconfig',
      kc,
      '--net-conf',
      netConf,
      '--node-name',
      nodeName(0),
      '--dry-run',
    ])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /node node-0000, interface \S+, subnet 10\.244\.0\.0\/24/)
    for (const i of [1, 2])
      assert.match(
        r.stdout,
        new RegExp(`ip route replace 10\\.244\\.${i}\\.0/24 via 10\\.244\\.${i}\\.0 dev flannel\\.1 onlink`),
      )
    // A dry run publishes nothing.
    assert.equal(srv.requests.filter((x) => x.method === 'PATCH').length, 0)
  })

  it('setup wants exactly one node source', async () => {
    const none = await cli(['setup', '--net-conf', netConf, '--dry-run'])
    assert.equal(none.code, 2)
    assert.match(flat(none.stderr), /give --nodes-file FILE .* or --kubeconfig FILE/)
    const both = await cli([
      'setup',
      '--net-conf',
      netConf,
      '--nodes-file',
      'x.json',
      '--kubeconfig',
      kc,
      '--dry-run',
    ])
    assert.equal(both.code, 2)
    assert.match(flat(both.stderr), /--nodes-file and --kube\/--kubeconfig\/--context exclude each other/)
  })
})
