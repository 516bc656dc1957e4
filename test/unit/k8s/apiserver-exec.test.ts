// pods/exec of the test API server, driven with the `ws` client: the channel protocols v4 and v5 as
// kube-apiserver and the kubelet speak them, and the Status bodies of every refusal. Also its Roles.
import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {request} from 'node:https'
import {after, before, beforeEach, describe, it} from 'node:test'

import WebSocket from 'ws'

import {
  execPreflight,
  hasOpenssl,
  HttpFail,
  KubeletFail,
  startApiServer,
  type ExecRequest,
  type TestApiServer,
} from '../../support/apiserver.js'
import {podSimHandler} from '../../support/pod-sim.js'
import {
  ADMIN_TOKEN,
  DEBUGGER,
  DEBUGGER_TOKEN,
  FLANNEL_SA,
  FLANNEL_TOKEN,
  NOBODY_TOKEN,
  seedConfigReader,
  seedExec,
  seedStore,
} from './seed.js'

const V5 = 'v5.channel.k8s.io'
const V4 = 'v4.channel.k8s.io'
const NS = 'kube-flannel'
const POD = 'kube-flannel-ds-7xk2p'
const SUBNET_ENV = new URL('../../fixtures/outputs/subnet-env/flannel-1437-worker.env', import.meta.url)

interface Opened {
  protocol: string
  frames: Buffer[]
  stdout: string
  stderr: string
  status: Record<string, unknown> | undefined
  closeCode: number
}
interface Refused {
  http: number
  body: string
  contentType: string | undefined
}

/** Printable, position-dependent bytes: any lost, duplicated or reordered frame changes the text. */
function pattern(n: number, seed: number): string {
  let x = seed >>> 0
  let s = ''
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    s += i % 80 === 79 ? '\n' : String.fromCharCode(33 + ((x >>> 16) % 94))
  }
  return s
}

function execPath(pod: string, command: string[], q: Record<string, string> = {}): string {
  const p = new URLSearchParams()
  for (const c of command) p.append('command', c)
  for (const [k, v] of Object.entries({stdout: 'true', stderr: 'true', ...q})) p.set(k, v)
  return `/api/v1/namespaces/${NS}/pods/${pod}/exec?${p.toString()}`
}

describe('pods/exec over WebSocket', {skip: hasOpenssl() ? false : 'openssl is not installed'}, () => {
  let srv: TestApiServer
  const calls: ExecRequest[] = []

  const open = (
    path: string,
    o: {token?: string; protocols?: string[]; stdin?: Buffer[]; closeStdin?: boolean} = {},
  ): Promise<Opened | Refused> =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string> = {}
      if (o.token !== '') headers['Authorization'] = `Bearer ${o.token ?? ADMIN_TOKEN}`
      const ws = new WebSocket(`wss://127.0.0.1:${srv.port}${path}`, o.protocols ?? [V5, V4], {
        ca: srv.tls.caCert,
        headers,
      })
      const frames: Buffer[] = []
      ws.on('unexpected-response', (req, res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          req.destroy()
          resolve({
            http: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            contentType: res.headers['content-type'],
          })
        })
      })
      ws.on('error', reject)
      ws.on('open', () => {
        for (const c of o.stdin ?? []) ws.send(Buffer.concat([Buffer.from([0]), c]))
        if (o.closeStdin === true) ws.send(Buffer.from([255, 0]))
      })
      ws.on('message', (d: Buffer, binary: boolean) => {
        assert.ok(binary, 'every message is binary')
        frames.push(d)
      })
      ws.on('close', (code) => {
        const text = (ch: number): string =>
          Buffer.concat(frames.filter((f) => f[0] === ch).map((f) => f.subarray(1))).toString('utf8')
        const err = text(3)
        resolve({
          protocol: ws.protocol,
          frames,
          stdout: text(1),
          stderr: text(2),
          status: err === '' ? undefined : (JSON.parse(err) as Record<string, unknown>),
          closeCode: code,
        })
      })
    })
  const opened = async (...a: Parameters<typeof open>): Promise<Opened> => {
    const r = await open(...a)
    assert.ok('frames' in r, `refused: ${JSON.stringify(r)}`)
    return r
  }
  const refused = async (...a: Parameters<typeof open>): Promise<Refused> => {
    const r = await open(...a)
    assert.ok('http' in r, `upgraded: ${JSON.stringify(r)}`)
    return r
  }

  before(async () => {
    const store = seedConfigReader(seedExec(seedStore(3)))
    // The transport is under test here: a handler whose outputs are functions of the request.
    store.execHandler = async (r) => {
      calls.push(r)
      const [cmd, arg = ''] = r.command
      if (cmd === 'gen') return {stdout: pattern(Number(arg), 7), stderr: pattern(1000, 11), exitCode: 0}
      if (cmd === 'exit') return {stdout: `out ${arg}\n`, stderr: `err ${arg}\n`, exitCode: Number(arg)}
      if (cmd === 'cat') return {stdout: r.stdin ?? '', stderr: '', exitCode: 0}
      if (cmd === 'throw') throw new Error('runtime exploded')
      return {notFound: cmd ?? ''}
    }
    srv = await startApiServer(store)
  })
  after(async () => {
    await srv.close()
    srv.tls.cleanup()
  })
  beforeEach(() => {
    calls.length = 0
  })

  it('v5: negotiates v5 whenever offered and reassembles 200 KiB of stdout from frames ≤ 32 KiB', async () => {
    const n = 200 * 1024
    for (const protocols of [[V5, V4], [V4, V5], [V5]]) {
      const r = await opened(execPath(POD, ['gen', String(n)]), {protocols})
      assert.equal(r.protocol, V5)
      assert.equal(r.stdout, pattern(n, 7))
      assert.equal(r.stderr, pattern(1000, 11))
      assert.deepEqual(r.status, {metadata: {}, status: 'Success'})
      assert.equal(r.closeCode, 1000)
      const out = r.frames.filter((f) => f[0] === 1 && f.length > 1)
      assert.ok(out.length >= 7, `${out.length} stdout frames`)
      assert.ok(
        r.frames.every((f) => f.length <= 32 * 1024),
        'no frame over 32 KiB',
      )
      // The first frame is the empty one on stdout that says the streams are up.
      assert.deepEqual([...(r.frames[0] ?? [])], [1])
    }
    assert.deepEqual(calls[0], {
      namespace: NS,
      pod: POD,
      container: 'kube-flannel',
      command: ['gen', String(n)],
      user: 'kubernetes-admin',
      signal: calls[0]?.signal,
    })
  })

  it('v4: negotiated when v5 is not offered; same data', async () => {
    const r = await opened(execPath(POD, ['gen', '70000']), {protocols: ['base64.channel.k8s.io', V4]})
    assert.equal(r.protocol, V4)
    assert.equal(r.stdout, pattern(70000, 7))
    assert.deepEqual(r.status, {metadata: {}, status: 'Success'})
  })

  it('no common subprotocol: the 403 of the WebSocket handshake, plain text', async () => {
    const r = await refused(execPath(POD, ['gen', '1']), {
      protocols: ['channel.k8s.io', 'base64.channel.k8s.io'],
    })
    assert.equal(r.http, 403)
    assert.equal(
      r.body,
      'requested protocol(s) are not supported: [channel.k8s.io base64.channel.k8s.io]; supports [v4.channel.k8s.io]',
    )
    assert.equal(calls.length, 0)
  })

  it('a non-zero exit: output, then the NonZeroExitCode Status in each protocol’s wording', async () => {
    const v4 = await opened(execPath(POD, ['exit', '3']), {protocols: [V4]})
    assert.equal(v4.stdout, 'out 3\n')
    assert.equal(v4.stderr, 'err 3\n')
    assert.deepEqual(v4.status, {
      metadata: {},
      status: 'Failure',
      message: 'command terminated with non-zero exit code: error executing command [exit 3], exit code 3',
      reason: 'NonZeroExitCode',
      details: {causes: [{reason: 'ExitCode', message: '3'}]},
    })
    const v5 = await opened(execPath(POD, ['exit', '42']))
    assert.deepEqual(v5.status, {
      metadata: {},
      status: 'Failure',
      message: 'command terminated with non-zero exit code: command terminated with exit code 42',
      reason: 'NonZeroExitCode',
      details: {causes: [{reason: 'ExitCode', message: '42'}]},
    })
  })

  it('a binary the image lacks: InternalError from the runtime (doubled by the v5 translator)', async () => {
    const shape =
      /^error executing command in container: failed to exec in container: failed to start exec "[0-9a-f]{64}": OCI runtime exec failed: exec failed: unable to start container process: exec: "ethtool": executable file not found in \$PATH: unknown$/
    const v4 = await opened(execPath(POD, ['ethtool', '-k', 'flannel.1']), {protocols: [V4]})
    assert.equal(v4.stdout, '')
    assert.equal(v4.status?.['reason'], 'InternalError')
    assert.equal(v4.status?.['code'], 500)
    const inner4 = (v4.status?.['details'] as {causes: {message: string}[]}).causes[0]?.message ?? ''
    assert.match(inner4, shape)
    assert.equal(v4.status?.['message'], `Internal error occurred: ${inner4}`)
    const v5 = await opened(execPath(POD, ['/bin/sh']))
    assert.match(
      String(v5.status?.['message']),
      /^Internal error occurred: Internal error occurred: error executing command in container: .*exec: "\/bin\/sh": stat \/bin\/sh: no such file or directory: unknown$/,
    )
  })

  it('a handler that throws, and no handler at all, give Failure Statuses', async () => {
    const t = await opened(execPath(POD, ['throw']))
    assert.equal(t.status?.['message'], 'Internal error occurred: runtime exploded')
    const saved = srv.store.execHandler
    delete srv.store.execHandler
    try {
      const r = await opened(execPath(POD, ['gen', '1']))
      assert.deepEqual(r.status, {
        metadata: {},
        status: 'Failure',
        message: 'no exec handler',
        reason: 'InternalError',
        code: 500,
      })
    } finally {
      if (saved !== undefined) srv.store.execHandler = saved
    }
  })

  it('stdin: channel 0 until the v5 close signal reaches the command', async () => {
    const parts = [Buffer.from('FLANNEL_NETWORK=10.244.0.0/16\n'), Buffer.from(pattern(40000, 3))]
    const r = await opened(execPath(POD, ['cat'], {stdin: 'true'}), {stdin: parts, closeStdin: true})
    assert.equal(r.stdout, Buffer.concat(parts).toString('utf8'))
    assert.equal(calls[0]?.stdin, Buffer.concat(parts).toString('utf8'))
    assert.deepEqual(r.status, {metadata: {}, status: 'Success'})
  })

  it('401 without a valid token (plain HTTP Status, no upgrade)', async () => {
    for (const token of ['', 'wrong-token']) {
      const r = await refused(execPath(POD, ['gen', '1']), {token})
      assert.equal(r.http, 401)
      assert.equal(r.contentType, 'application/json')
      const s = JSON.parse(r.body) as Record<string, unknown>
      assert.deepEqual(
        [s['kind'], s['status'], s['reason'], s['code'], s['message']],
        ['Status', 'Failure', 'Unauthorized', 401, 'Unauthorized'],
      )
    }
    assert.equal(calls.length, 0)
  })

  it('403: a WebSocket upgrade is a GET, authorized as `get pods/exec` (and `create` from 1.35)', async () => {
    const r = await refused(execPath(POD, ['gen', '1']), {token: FLANNEL_TOKEN})
    assert.equal(r.http, 403)
    const s = JSON.parse(r.body) as Record<string, unknown>
    assert.equal(s['reason'], 'Forbidden')
    assert.equal(s['code'], 403)
    assert.equal(
      s['message'],
      `pods "${POD}" is forbidden: User "${FLANNEL_SA}" cannot get resource "pods/exec" in API group "" in the namespace "${NS}"`,
    )
    assert.deepEqual(s['details'], {name: POD, kind: 'pods'})
    // A Role granting only `create` (enough for SPDY) does not pass the WebSocket GET before 1.35.
    const role = srv.store.roles.get(`${NS}/pod-exec`)
    assert.ok(role)
    const saved = structuredClone(role.rules)
    const version = {...srv.store.version}
    try {
      role.rules = [{apiGroups: [''], resources: ['pods/exec'], verbs: ['create']}]
      const c = await refused(execPath(POD, ['gen', '1']), {token: DEBUGGER_TOKEN})
      assert.match(JSON.parse(c.body).message as string, /User "debugger" cannot get resource "pods\/exec"/)
      role.rules = [{apiGroups: [''], resources: ['pods/exec'], verbs: ['get']}]
      const g = await opened(execPath(POD, ['gen', '5']), {token: DEBUGGER_TOKEN})
      assert.equal(g.stdout, pattern(5, 7))
      srv.store.version = {...version, minor: '35', gitVersion: 'v1.35.0'}
      const g35 = await refused(execPath(POD, ['gen', '1']), {token: DEBUGGER_TOKEN})
      assert.equal(
        JSON.parse(g35.body).message,
        `pods "${POD}" is forbidden: User "debugger" cannot create resource "pods/exec" in API group "" in the namespace "${NS}"`,
      )
    } finally {
      role.rules = saved
      srv.store.version = version
    }
  })

  it('404 for a pod that does not exist', async () => {
    const r = await refused(execPath('ghost', ['gen', '1']))
    assert.equal(r.http, 404)
    const s = JSON.parse(r.body) as Record<string, unknown>
    assert.deepEqual([s['reason'], s['code'], s['message']], ['NotFound', 404, 'pods "ghost" not found'])
  })

  it('400 for a container not in the pod, an omitted one among several, and a pod without a node', async () => {
    const bad = await refused(execPath(POD, ['gen', '1'], {container: 'istio-proxy'}))
    assert.equal(bad.http, 400)
    const b = JSON.parse(bad.body) as Record<string, unknown>
    assert.deepEqual(
      [b['reason'], b['code'], b['message']],
      ['BadRequest', 400, `container istio-proxy is not valid for pod ${POD}`],
    )
    const several = await refused(execPath('flannel-debug', ['gen', '1']))
    assert.equal(
      JSON.parse(several.body).message,
      'a container name must be specified for pod flannel-debug, choose one of: [install-cni kube-flannel debug]',
    )
    const chosen = await opened(execPath('flannel-debug', ['gen', '3'], {container: 'debug'}))
    assert.equal(chosen.stdout, pattern(3, 7))
    assert.equal(calls.at(-1)?.container, 'debug')
    const unscheduled = await refused(execPath('unrelated', ['gen', '1']))
    assert.equal(JSON.parse(unscheduled.body).message, 'pod unrelated does not have a host assigned')
    assert.equal(calls.length, 1)
  })

  it('a container that is not running: the kubelet’s 500 over v4, an InternalError Status over v5', async () => {
    const v4 = await refused(execPath('kube-flannel-ds-pending', ['gen', '1']), {protocols: [V4]})
    assert.equal(v4.http, 500)
    assert.equal(v4.body, 'container not found ("kube-flannel")')
    const v5 = await opened(execPath('kube-flannel-ds-pending', ['gen', '1']))
    assert.deepEqual(v5.status, {
      metadata: {},
      status: 'Failure',
      message: 'Internal error occurred: unable to upgrade connection: container not found ("kube-flannel")',
      reason: 'InternalError',
      details: {causes: [{message: 'unable to upgrade connection: container not found ("kube-flannel")'}]},
      code: 500,
    })
    assert.equal(calls.length, 0)
    assert.throws(
      () =>
        execPreflight(srv.store, {username: 'x', groups: ['system:masters']}, NS, 'kube-flannel-ds-pending'),
      (e: unknown) => e instanceof KubeletFail && e.status.code === 500,
    )
  })

  it('records the request; SPDY and plain requests get a Status instead of an upgrade', async () => {
    const before = srv.requests.length
    await opened(execPath(POD, ['gen', '2']))
    const rec = srv.requests.slice(before).find((q) => q.path.endsWith('/exec'))
    assert.equal(rec?.method, 'GET')
    assert.equal(rec?.path, `/api/v1/namespaces/${NS}/pods/${POD}/exec`)
    assert.deepEqual(rec?.query.getAll('command'), ['gen', '2'])
    assert.equal(rec?.user, 'kubernetes-admin')

    const plain = (
      method: string,
      headers: Record<string, string>,
      token = ADMIN_TOKEN,
    ): Promise<{code: number; body: string}> =>
      new Promise((resolve, reject) => {
        const req = request(
          `${srv.url}${execPath(POD, ['gen', '1'])}`,
          {method, ca: srv.tls.caCert, headers: {Authorization: `Bearer ${token}`, ...headers}},
          (res) => {
            const chunks: Buffer[] = []
            res.on('data', (c: Buffer) => chunks.push(c))
            res.on('end', () =>
              resolve({code: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8')}),
            )
          },
        )
        req.on('error', reject)
        req.end()
      })
    const spdy = await plain('POST', {Connection: 'Upgrade', Upgrade: 'SPDY/3.1'})
    assert.equal(spdy.code, 400)
    assert.match(JSON.parse(spdy.body).message as string, /does not speak SPDY\/3\.1/)
    const none = await plain('GET', {})
    assert.deepEqual([none.code, JSON.parse(none.body).message], [400, 'Upgrade request required'])
    // SPDY is a POST: authorized as `create`.
    const fb = await plain('POST', {Connection: 'Upgrade', Upgrade: 'SPDY/3.1'}, NOBODY_TOKEN)
    assert.equal(fb.code, 403)
    assert.match(JSON.parse(fb.body).message as string, /User "nobody" cannot create resource "pods\/exec"/)
  })

  it('runs a real command through pod-sim: cat of a mounted subnet.env', async () => {
    const saved = srv.store.execHandler
    srv.store.execHandler = podSimHandler({
      [`${NS}/${POD}`]: {mounts: {'/run/flannel/subnet.env': SUBNET_ENV.pathname}, tools: ['cat']},
    })
    try {
      const r = await opened(execPath(POD, ['cat', '/run/flannel/subnet.env']))
      assert.equal(r.stdout, readFileSync(SUBNET_ENV, 'utf8'))
      assert.deepEqual(r.status, {metadata: {}, status: 'Success'})
      const missing = await opened(execPath(POD, ['cat', '/run/flannel/nope.env']), {protocols: [V4]})
      assert.equal(missing.stderr, 'cat: /run/flannel/nope.env: No such file or directory\n')
      assert.equal(
        missing.status?.['message'],
        'command terminated with non-zero exit code: error executing command [cat /run/flannel/nope.env], exit code 1',
      )
    } finally {
      if (saved !== undefined) srv.store.execHandler = saved
    }
  })
})

describe('KubeStore Roles', () => {
  const store = seedConfigReader(seedExec(seedStore(1)))
  const sa = {username: FLANNEL_SA, groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-flannel']}

  it('a RoleBinding to a Role grants in its own namespace, with the real reason text', () => {
    assert.deepEqual(store.authorize(sa, {verb: 'get', resource: 'configmaps', namespace: NS}), {
      allowed: true,
      reason:
        'RBAC: allowed by RoleBinding "flannel-cfg-reader/kube-flannel" of Role "flannel-cfg-reader" to ServiceAccount "flannel/kube-flannel"',
    })
    // The kube-system Role of the same name (which grants list) is not the one the binding means.
    assert.deepEqual(store.authorize(sa, {verb: 'list', resource: 'configmaps', namespace: NS}), {
      allowed: false,
    })
    assert.deepEqual(store.authorize(sa, {verb: 'get', resource: 'configmaps', namespace: 'kube-system'}), {
      allowed: false,
    })
    assert.deepEqual(store.authorize(sa, {verb: 'get', resource: 'configmaps'}), {allowed: false})
  })

  it('names the subject that matched: ServiceAccount "name/ns", User, Group', () => {
    assert.equal(
      store.authorize(sa, {verb: 'patch', resource: 'nodes', subresource: 'status', name: 'node-0000'})
        .reason,
      'RBAC: allowed by ClusterRoleBinding "flannel" of ClusterRole "flannel" to ServiceAccount "flannel/kube-flannel"',
    )
    assert.equal(
      store.authorize(
        {username: DEBUGGER, groups: []},
        {verb: 'create', resource: 'pods', subresource: 'exec', namespace: NS, name: POD},
      ).reason,
      'RBAC: allowed by RoleBinding "debugger-exec/kube-flannel" of Role "pod-exec" to User "debugger"',
    )
    store.addClusterRoleBinding({
      metadata: {name: 'nodes-readers'},
      roleRef: {kind: 'ClusterRole', name: 'flannel'},
      subjects: [{kind: 'Group', name: 'readers'}],
    })
    assert.equal(
      store.authorize({username: 'someone', groups: ['readers']}, {verb: 'list', resource: 'nodes'}).reason,
      'RBAC: allowed by ClusterRoleBinding "nodes-readers" of ClusterRole "flannel" to Group "readers"',
    )
  })

  it('rbacList("roles") lists one namespace in name order', () => {
    assert.deepEqual(
      store.rbacList('roles', NS).map((r) => r.metadata?.name),
      ['flannel-cfg-reader', 'pod-exec'],
    )
    assert.deepEqual(
      store.rbacList('roles', 'kube-system').map((r) => r['rules']),
      [[{apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list']}]],
    )
  })

  it('execPreflight throws HttpFail with the Status the server sends', () => {
    assert.throws(
      () => execPreflight(store, {username: 'nobody', groups: []}, NS, POD),
      (e: unknown) => e instanceof HttpFail && e.status.code === 403 && e.status.reason === 'Forbidden',
    )
    assert.throws(
      () => execPreflight(store, {username: DEBUGGER, groups: []}, 'kube-system', 'x'),
      (e: unknown) => e instanceof HttpFail && /in the namespace "kube-system"/.test(e.status.message),
    )
  })
})
