// The adapter's exec (client-node's Exec over our WebSocket interface) against the HTTPS test server:
// output and exit codes as data, refusals (403/404/400/500) as one-line KubeErrors, time limits.
import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'

import {kubeClientFromConfig} from '../../../src/k8s/adapter.js'
import type {KubeClient} from '../../../src/k8s/client.js'
import {rejectsKube} from '../../support/kube-errors.js'
import {hasOpenssl, startApiServer, type TestApiServer} from '../../support/apiserver.js'
import {ADMIN_TOKEN, DEBUGGER_TOKEN, NOBODY_TOKEN, seedExec, seedStore} from './seed.js'

const skip = hasOpenssl() ? false : 'the openssl binary is not installed (needed for the test CA)'
const NS = 'kube-flannel'
const POD = 'kube-flannel-ds-7xk2p'

const rejects = rejectsKube

describe('KubeClient.exec against the HTTPS test API server', {skip}, () => {
  let srv: TestApiServer
  let admin: KubeClient
  let nobody: KubeClient
  let debuggerUser: KubeClient

  before(async () => {
    const store = seedExec(seedStore(3))
    store.execHandler = async (r) => {
      const [bin, ...args] = r.command
      if (bin === 'echo') return {stdout: args.join(' ') + '\n', stderr: '', exitCode: 0}
      if (bin === 'big') return {stdout: 'x'.repeat(200 * 1024) + '\n', stderr: 'warn\n', exitCode: 0}
      if (bin === 'fail') return {stdout: '', stderr: 'it failed\n', exitCode: 3}
      if (bin === 'sleep') {
        await new Promise((res) => setTimeout(res, Number(args[0])))
        return {stdout: 'late\n', stderr: '', exitCode: 0}
      }
      if (bin === 'who') return {stdout: `${r.user} ${r.container}\n`, stderr: '', exitCode: 0}
      return {notFound: bin ?? ''}
    }
    srv = await startApiServer(store)
    admin = kubeClientFromConfig({kubeconfig: srv.writeKubeconfig(ADMIN_TOKEN), timeoutMs: 10_000})
    nobody = kubeClientFromConfig({kubeconfig: srv.writeKubeconfig(NOBODY_TOKEN), timeoutMs: 10_000})
    debuggerUser = kubeClientFromConfig({kubeconfig: srv.writeKubeconfig(DEBUGGER_TOKEN), timeoutMs: 10_000})
  })
  after(async () => {
    await srv.close()
    srv.tls.cleanup()
  })

  it('returns stdout, stderr and exit 0, with the argv passed as separate words', async () => {
    const r = await admin.exec(NS, POD, ['echo', 'a b', 'c;d'], {container: 'kube-flannel'})
    assert.deepEqual(r, {stdout: 'a b c;d\n', stderr: '', exitCode: 0, started: true})
    const req = srv.requests.filter((q) => q.path === `/api/v1/namespaces/${NS}/pods/${POD}/exec`).at(-1)
    assert.deepEqual(req?.query.getAll('command'), ['echo', 'a b', 'c;d'])
  })

  it('reassembles a large output split over many messages', async () => {
    const r = await admin.exec(NS, POD, ['big'], {container: 'kube-flannel'})
    assert.equal(r.stdout.length, 200 * 1024 + 1)
    assert.equal(r.stderr, 'warn\n')
  })

  it('a non-zero exit is data, with its code', async () => {
    const r = await admin.exec(NS, POD, ['fail'], {container: 'kube-flannel'})
    assert.equal(r.exitCode, 3)
    assert.equal(r.started, true)
    assert.equal(r.stderr, 'it failed\n')
  })

  it('a binary the image lacks: not started, 127, the runtime reason in stderr', async () => {
    const r = await admin.exec(NS, POD, ['ethtool', '-k', 'flannel.1'], {container: 'kube-flannel'})
    assert.equal(r.started, false)
    assert.equal(r.exitCode, 127)
    assert.match(r.stderr, /exec: "ethtool": executable file not found in \$PATH/)
  })

  it('exec forbidden: a forbidden KubeError with the API server message', async () => {
    const e = await rejects(nobody.exec(NS, POD, ['echo', 'x'], {container: 'kube-flannel'}))
    assert.equal(e.kind, 'forbidden')
    assert.equal(e.status, 403)
    assert.match(
      e.message,
      /pods "kube-flannel-ds-7xk2p" is forbidden: User "nobody" cannot get resource "pods\/exec"/,
    )
  })

  it('a namespaced Role that grants pods/exec is enough', async () => {
    const r = await debuggerUser.exec(NS, POD, ['who'], {container: 'kube-flannel'})
    assert.equal(r.stdout, 'debugger kube-flannel\n')
  })

  it('a pod that is gone is not-found; a container that is not there is an error', async () => {
    const gone = await rejects(admin.exec(NS, 'kube-flannel-ds-gone', ['echo'], {container: 'kube-flannel'}))
    assert.equal(gone.kind, 'not-found')
    assert.match(gone.message, /pods "kube-flannel-ds-gone" not found/)
    const bad = await rejects(admin.exec(NS, POD, ['echo'], {container: 'nope'}))
    assert.equal(bad.kind, 'other')
    assert.match(bad.message, /container nope is not valid for pod kube-flannel-ds-7xk2p/)
  })

  it('a command slower than the time limit is a timeout KubeError', async () => {
    const e = await rejects(
      admin.exec(NS, POD, ['sleep', '3000'], {container: 'kube-flannel', timeoutMs: 300}),
    )
    assert.equal(e.kind, 'timeout')
    assert.match(e.message, /did not finish within 300 ms/)
  })

  it('an unreachable server is unreachable, in one line', async () => {
    const kc = srv.writeKubeconfig(ADMIN_TOKEN)
    const {readFileSync, writeFileSync} = await import('node:fs')
    const text = readFileSync(kc, 'utf8').replace(/https:\/\/127\.0\.0\.1:\d+/, 'https://127.0.0.1:1')
    const path = `${kc}.down`
    writeFileSync(path, text)
    const down = kubeClientFromConfig({kubeconfig: path, timeoutMs: 5000})
    const e = await rejects(down.exec(NS, POD, ['echo'], {container: 'kube-flannel'}))
    assert.equal(e.kind, 'unreachable')
  })
})
