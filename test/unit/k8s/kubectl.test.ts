// Fidelity of the test API server: the real kubectl on this machine must read it as a cluster.
import assert from 'node:assert/strict'
import {execFile, execFileSync} from 'node:child_process'
import {after, before, describe, it} from 'node:test'

import {hasOpenssl, startApiServer, type TestApiServer} from '../../support/apiserver.js'
import {ADMIN_TOKEN, FLANNEL_SA, nodeName, seedStore} from './seed.js'

function hasKubectl(): boolean {
  try {
    execFileSync('kubectl', ['version', '--client'], {stdio: 'ignore', timeout: 20_000})
    return true
  } catch {
    return false
  }
}

const skip = !hasOpenssl()
  ? 'the openssl binary is not installed (needed for the test CA)'
  : !hasKubectl()
    ? 'kubectl is not installed'
    : false

interface Run {
  code: number
  stdout: string
  stderr: string
}

describe('kubectl against the test API server', {skip}, () => {
  let srv: TestApiServer
  let kubeconfig: string

  // Asynchronous on purpose: the server answers from this same process.
  const kubectl = (args: string[]): Promise<Run> =>
    new Promise((resolve) => {
      execFile(
        'kubectl',
        ['--kubeconfig', kubeconfig, '--request-timeout=10s', ...args],
        {encoding: 'utf8', timeout: 30_000, env: {...process.env, HOME: srv.tls.dir, KUBECONFIG: kubeconfig}},
        (err, stdout, stderr) => {
          const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
          resolve({code, stdout, stderr})
        },
      )
    })

  before(async () => {
    srv = await startApiServer(seedStore(5))
    kubeconfig = srv.writeKubeconfig(ADMIN_TOKEN)
  })
  after(async () => {
    await srv.close()
    srv.tls.cleanup()
  })

  it('kubectl get nodes -o json returns the stored nodes', async () => {
    const r = await kubectl(['get', 'nodes', '-o', 'json'])
    assert.equal(r.code, 0, r.stderr)
    const out = JSON.parse(r.stdout) as {
      kind: string
      items: {kind: string; metadata: {name: string; annotations: Record<string, string>}}[]
    }
    assert.equal(out.kind, 'List')
    assert.deepEqual(
      out.items.map((n) => n.metadata.name),
      [...srv.store.nodes.keys()].sort(),
    )
    for (const n of out.items) {
      assert.equal(n.kind, 'Node')
      assert.deepEqual(n.metadata, srv.store.nodes.get(n.metadata.name)?.metadata)
    }
  })

  it('kubectl get nodes --chunk-size=2 pages through the list', async () => {
    const before = srv.requests.length
    const r = await kubectl(['get', 'nodes', '--chunk-size=2'])
    assert.equal(r.code, 0, r.stderr)
    const lists = srv.requests.slice(before).filter((q) => q.path === '/api/v1/nodes')
    assert.equal(lists.length, 3)
    assert.deepEqual(
      lists.map((q) => q.query.get('limit')),
      ['2', '2', '2'],
    )
    assert.equal(lists[0]?.query.get('continue'), null)
    const lines = r.stdout.trimEnd().split('\n')
    assert.match(lines[0] ?? '', /^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION$/)
    assert.deepEqual(
      lines.slice(1).map((l) => l.split(/\s+/).slice(0, 2)),
      [0, 1, 2, 3, 4].map((i) => [nodeName(i), i === 1 ? 'NotReady' : 'Ready']),
    )
  })

  it('kubectl auth can-i follows the flannel ClusterRole', async () => {
    const args = ['auth', 'can-i', `--as=${FLANNEL_SA}`, 'patch', 'nodes', '--subresource=status']
    const yes = await kubectl(args)
    assert.equal(yes.stdout.trim(), 'yes', yes.stderr)
    assert.equal(yes.code, 0)
    // `patch nodes/status` asks about a node *named* status: flannel may not patch nodes themselves.
    const named = await kubectl(['auth', 'can-i', `--as=${FLANNEL_SA}`, 'patch', 'nodes/status'])
    assert.equal(named.stdout.trim(), 'no')
    const role = srv.store.clusterRoles.get('flannel')
    assert.ok(role)
    const saved = structuredClone(role.rules)
    role.rules = role.rules.filter((r) => !(r.resources ?? []).includes('nodes/status'))
    try {
      const no = await kubectl(args)
      assert.equal(no.stdout.trim(), 'no')
      assert.equal(no.code, 1)
    } finally {
      role.rules = saved
    }
  })

  it('kubectl logs reads the current and the previous container log', async () => {
    const cur = await kubectl(['-n', 'kube-flannel', 'logs', 'kube-flannel-ds-7xk2p'])
    assert.equal(cur.code, 0, cur.stderr)
    assert.equal(cur.stdout, srv.store.logs.get('kube-flannel/kube-flannel-ds-7xk2p/kube-flannel')?.current)
    const prev = await kubectl(['-n', 'kube-flannel', 'logs', 'kube-flannel-ds-7xk2p', '--previous'])
    assert.equal(prev.code, 0, prev.stderr)
    assert.match(
      prev.stdout,
      /Error registering network: failed to acquire lease: node "node-0000" pod cidr not assigned/,
    )
    const tail = await kubectl(['-n', 'kube-flannel', 'logs', 'kube-flannel-ds-7xk2p', '--tail=1'])
    assert.equal(tail.stdout, 'I1125 10:00:02.000003       1 kube.go:469] Starting kube subnet manager\n')
    const none = await kubectl(['-n', 'kube-flannel', 'logs', 'kube-flannel-ds-q9dmw', '--previous'])
    assert.notEqual(none.code, 0)
    assert.match(
      none.stderr,
      /previous terminated container "kube-flannel" in pod "kube-flannel-ds-q9dmw" not found/,
    )
  })

  it('kubectl shows the API server Status messages for 404 and 403', async () => {
    const nf = await kubectl(['get', 'node', 'ghost'])
    assert.notEqual(nf.code, 0)
    assert.match(nf.stderr, /Error from server \(NotFound\): nodes "ghost" not found/)
    const fb = await kubectl([
      `--as=${FLANNEL_SA}`,
      '-n',
      'kube-flannel',
      'get',
      'configmap',
      'kube-flannel-cfg',
    ])
    assert.notEqual(fb.code, 0)
    assert.match(
      fb.stderr,
      /Error from server \(Forbidden\): configmaps "kube-flannel-cfg" is forbidden: User "system:serviceaccount:kube-flannel:flannel" cannot get resource "configmaps" in API group "" in the namespace "kube-flannel"/,
    )
  })
})
