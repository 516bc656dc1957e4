// Fidelity of the test API server: the real kubectl on this machine must read it as a cluster.
import assert from 'node:assert/strict'
import {execFile, execFileSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {after, before, describe, it} from 'node:test'

import {hasOpenssl, startApiServer, type ExecRequest, type TestApiServer} from '../../support/apiserver.js'
import {podSimHandler} from '../../support/pod-sim.js'
import {ADMIN_TOKEN, FLANNEL_SA, nodeName, seedConfigReader, seedExec, seedStore} from './seed.js'

const FIXTURES = new URL('../../fixtures/outputs/', import.meta.url).pathname
const SUBNET_ENV = `${FIXTURES}subnet-env/flannel-1437-worker.env`
const CONFLIST = `${FIXTURES}cni/10-flannel.conflist`

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

  const execs: ExecRequest[] = []

  before(async () => {
    const store = seedExec(seedStore(5))
    // kube-flannel pods as the kubelet would run them: their mounts, an image with cat and ls only.
    const mounts = {'/run/flannel/subnet.env': SUBNET_ENV, '/etc/cni/net.d/10-flannel.conflist': CONFLIST}
    const sim = podSimHandler({
      'kube-flannel/kube-flannel-ds-7xk2p': {mounts, tools: ['cat', 'ls']},
      'kube-flannel/flannel-debug': {mounts, tools: ['cat', 'ls']},
    })
    store.execHandler = (r) => {
      execs.push(r)
      return sim(r)
    }
    srv = await startApiServer(store)
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

  it('kubectl exec runs the command in the pod and prints its stdout', async () => {
    const before = srv.requests.length
    const r = await kubectl([
      'exec',
      'kube-flannel-ds-7xk2p',
      '-n',
      'kube-flannel',
      '--',
      'cat',
      '/run/flannel/subnet.env',
    ])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, readFileSync(SUBNET_ENV, 'utf8'))
    assert.equal(r.stderr, '')
    // kubectl 1.32 speaks WebSocket: one GET upgrade, the container it chose, the argv as given.
    const ex = srv.requests.slice(before).filter((q) => q.path.endsWith('/exec'))
    assert.deepEqual(
      ex.map((q) => [q.method, q.query.get('container'), q.query.getAll('command')]),
      [['GET', 'kube-flannel', ['cat', '/run/flannel/subnet.env']]],
    )
    assert.equal(execs.at(-1)?.user, 'kubernetes-admin')
  })

  it('kubectl exec exits with the command’s exit code', async () => {
    const r = await kubectl([
      'exec',
      'kube-flannel-ds-7xk2p',
      '-n',
      'kube-flannel',
      '--',
      'ls',
      '/run/flannel/missing',
    ])
    assert.equal(r.code, 2)
    assert.equal(r.stdout, '')
    assert.equal(
      r.stderr,
      "ls: cannot access '/run/flannel/missing': No such file or directory\ncommand terminated with exit code 2\n",
    )
  })

  it('kubectl exec of a binary the image lacks prints the runtime error', async () => {
    const r = await kubectl([
      'exec',
      'kube-flannel-ds-7xk2p',
      '-n',
      'kube-flannel',
      '--',
      'ethtool',
      '-k',
      'flannel.1',
    ])
    assert.notEqual(r.code, 0)
    assert.match(
      r.stderr,
      /^error: Internal error occurred: Internal error occurred: error executing command in container: failed to exec in container: failed to start exec "[0-9a-f]{64}": OCI runtime exec failed: exec failed: unable to start container process: exec: "ethtool": executable file not found in \$PATH: unknown\n$/,
    )
  })

  it('kubectl exec defaults to the first container and into a pod whose container is not running fails', async () => {
    const r = await kubectl([
      'exec',
      'flannel-debug',
      '-n',
      'kube-flannel',
      '--',
      'cat',
      '/etc/cni/net.d/10-flannel.conflist',
    ])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, readFileSync(CONFLIST, 'utf8'))
    assert.match(
      r.stderr,
      /Defaulted container "kube-flannel" out of: kube-flannel, debug, install-cni \(init\)/,
    )
    assert.equal(execs.at(-1)?.container, 'kube-flannel')
    const p = await kubectl([
      'exec',
      'kube-flannel-ds-pending',
      '-n',
      'kube-flannel',
      '-c',
      'kube-flannel',
      '--',
      'ls',
    ])
    assert.notEqual(p.code, 0)
    assert.equal(
      p.stderr,
      'error: Internal error occurred: unable to upgrade connection: container not found ("kube-flannel")\n',
    )
  })

  it('kubectl exec without pods/exec prints the Forbidden Status and fails', async () => {
    const n = execs.length
    const r = await kubectl([
      `--as=${FLANNEL_SA}`,
      'exec',
      'kube-flannel-ds-7xk2p',
      '-n',
      'kube-flannel',
      '--',
      'cat',
      '/run/flannel/subnet.env',
    ])
    assert.notEqual(r.code, 0)
    assert.equal(r.stdout, '')
    // The WebSocket GET is refused (`get`), kubectl falls back to SPDY's POST, refused too (`create`).
    assert.match(
      r.stderr,
      /Error from server \(Forbidden\): pods "kube-flannel-ds-7xk2p" is forbidden: User "system:serviceaccount:kube-flannel:flannel" cannot create resource "pods\/exec" in API group "" in the namespace "kube-flannel"/,
    )
    assert.equal(execs.length, n)
  })

  it('kubectl auth can-i follows a namespaced Role and its RoleBinding', async () => {
    const args = (verb: string, ns: string): string[] => [
      'auth',
      'can-i',
      `--as=${FLANNEL_SA}`,
      verb,
      'configmaps',
      '-n',
      ns,
    ]
    const before = await kubectl(args('get', 'kube-flannel'))
    assert.deepEqual([before.stdout.trim(), before.code], ['no', 1])
    seedConfigReader(srv.store)
    try {
      const yes = await kubectl(args('get', 'kube-flannel'))
      assert.deepEqual([yes.stdout.trim(), yes.code], ['yes', 0], yes.stderr)
      // `list` is only in the kube-system Role of the same name; and the grant stops at the namespace.
      const list = await kubectl(args('list', 'kube-flannel'))
      assert.deepEqual([list.stdout.trim(), list.code], ['no', 1])
      const other = await kubectl(args('get', 'kube-system'))
      assert.deepEqual([other.stdout.trim(), other.code], ['no', 1])
    } finally {
      srv.store.roles.delete('kube-flannel/flannel-cfg-reader')
      srv.store.roles.delete('kube-system/flannel-cfg-reader')
      srv.store.roleBindings.delete('kube-flannel/flannel-cfg-reader')
    }
  })

  it('kubectl get roles -n NS -o json lists the namespace’s Roles', async () => {
    const r = await kubectl(['get', 'roles', '-n', 'kube-flannel', '-o', 'json'])
    assert.equal(r.code, 0, r.stderr)
    const out = JSON.parse(r.stdout) as {
      kind: string
      items: {kind: string; apiVersion: string; metadata: {name: string}; rules: unknown}[]
    }
    assert.equal(out.kind, 'List')
    assert.deepEqual(
      out.items.map((i) => [i.kind, i.apiVersion, i.metadata.name, i.rules]),
      [...srv.store.roles.values()]
        .filter((x) => x.metadata.namespace === 'kube-flannel')
        .map((x) => ['Role', 'rbac.authorization.k8s.io/v1', x.metadata.name, x.rules]),
    )
    assert.ok(out.items.length > 0)
  })
})
