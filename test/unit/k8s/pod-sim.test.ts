// pod-sim: a kube-flannel pod's view of files (its mounts) and network (the node's namespace).
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'

import type {ExecOutcome, ExecRequest} from '../../support/apiserver.js'
import {podSimHandler, type PodSim} from '../../support/pod-sim.js'

const FIXTURES = new URL('../../fixtures/outputs/', import.meta.url).pathname
const SUBNET_ENV = join(FIXTURES, 'subnet-env/flannel-1437-worker.env')
const CONFLIST = join(FIXTURES, 'cni/10-flannel.conflist')

const req = (command: string[], extra: Partial<ExecRequest> = {}): ExecRequest => ({
  namespace: 'kube-flannel',
  pod: 'p',
  container: 'kube-flannel',
  command,
  user: 'test',
  ...extra,
})
const ran = (o: ExecOutcome): {stdout: string; stderr: string; exitCode: number} => {
  assert.ok(!('notFound' in o), `not found: ${JSON.stringify(o)}`)
  return o
}

describe('pod-sim', () => {
  let dir: string
  let run: (command: string[], sim?: Partial<PodSim>, extra?: Partial<ExecRequest>) => Promise<ExecOutcome>

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'flt-podsim-'))
    mkdirSync(join(dir, 'run-flannel'))
    copyFileSync(SUBNET_ENV, join(dir, 'run-flannel', 'subnet.env'))
    mkdirSync(join(dir, 'etc'))
    writeFileSync(join(dir, 'etc', 'hosts'), '127.0.0.1 from-the-etc-mount\n')
    mkdirSync(join(dir, 'cni'))
    copyFileSync(CONFLIST, join(dir, 'cni', '10-flannel.conflist'))
    run = (command, sim = {}, extra = {}) =>
      podSimHandler({
        'kube-flannel/p': {
          mounts: {
            '/run/flannel': join(dir, 'run-flannel'),
            '/etc': join(dir, 'etc'),
            // a ConfigMap mounted as a single file inside a mounted directory
            '/etc/kube-flannel/net-conf.json': CONFLIST,
            '/etc/cni/net.d/': join(dir, 'cni') + '/',
          },
          ...sim,
        },
      })(req(command, extra))
  })
  after(() => rmSync(dir, {recursive: true, force: true}))

  it('reads mounted files under their container paths', async () => {
    const r = ran(await run(['cat', '/run/flannel/subnet.env']))
    assert.deepEqual(r, {stdout: readFileSync(SUBNET_ENV, 'utf8'), stderr: '', exitCode: 0})
    assert.equal(ran(await run(['cat', '/etc/hosts'])).stdout, '127.0.0.1 from-the-etc-mount\n')
  })

  it('the longest mount wins: a file mount inside a directory mount', async () => {
    const r = ran(await run(['cat', '/etc/kube-flannel/net-conf.json']))
    assert.equal(r.stdout, readFileSync(CONFLIST, 'utf8'))
    // Trailing slashes in the mount table do not matter.
    assert.equal(ran(await run(['ls', '/etc/cni/net.d'])).stdout, '10-flannel.conflist\n')
  })

  it('prints container paths, never the host paths behind them', async () => {
    const found = ran(await run(['find', '/run/flannel', '/etc/cni/net.d', '-type', 'f']))
    assert.deepEqual(found.stdout.trimEnd().split('\n').sort(), [
      '/etc/cni/net.d/10-flannel.conflist',
      '/run/flannel/subnet.env',
    ])
    assert.ok(!found.stdout.includes(dir))
    const missing = ran(await run(['cat', '/run/flannel/nope.env']))
    assert.deepEqual(missing, {
      stdout: '',
      stderr: 'cat: /run/flannel/nope.env: No such file or directory\n',
      exitCode: 1,
    })
  })

  it('absolute paths outside the mounts do not exist; /proc, /sys and /dev are the node’s', async () => {
    const r = ran(await run(['cat', '/var/lib/kubelet/config.yaml']))
    assert.deepEqual(r, {
      stdout: '',
      stderr: 'cat: /var/lib/kubelet/config.yaml: No such file or directory\n',
      exitCode: 1,
    })
    const ls = ran(await run(['ls', '/opt/cni/bin']))
    assert.equal(ls.exitCode, 2)
    assert.equal(ls.stderr, "ls: cannot access '/opt/cni/bin': No such file or directory\n")
    const fwd = ran(await run(['cat', '/proc/sys/net/ipv4/ip_forward']))
    assert.equal(fwd.stdout, readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8'))
    // Relative arguments and options pass untouched.
    assert.equal(ran(await run(['printf', '%s|%s', '-x', 'rel/path'])).stdout, '-x|rel/path')
  })

  it('a binary outside `tools`, or absent from this host, is not found', async () => {
    assert.deepEqual(await run(['ip', '-j', 'link', 'show'], {tools: ['cat', 'ls']}), {notFound: 'ip'})
    assert.deepEqual(await run(['/usr/sbin/ethtool', '-k', 'eth0'], {tools: ['cat']}), {
      notFound: '/usr/sbin/ethtool',
    })
    assert.equal(ran(await run(['/bin/cat', '/run/flannel/subnet.env'], {tools: ['cat']})).exitCode, 0)
    assert.deepEqual(await run(['flt-no-such-binary-here']), {notFound: 'flt-no-such-binary-here'})
  })

  it('passes stdin, keeps exit codes, and sleeps delayMs first', async () => {
    const input = readFileSync(SUBNET_ENV, 'utf8')
    assert.deepEqual(ran(await run(['cat'], {}, {stdin: input})), {stdout: input, stderr: '', exitCode: 0})
    assert.equal(ran(await run(['false'])).exitCode, 1)
    const t0 = Date.now()
    ran(await run(['true'], {delayMs: 400}))
    assert.ok(Date.now() - t0 >= 390, `took ${Date.now() - t0} ms`)
  })

  it('an aborted request stops the command', async () => {
    const ac = new AbortController()
    const t0 = Date.now()
    const p = run(['sleep', '20'], {}, {signal: ac.signal})
    setTimeout(() => ac.abort(), 100)
    const r = ran(await p)
    assert.ok(r.exitCode > 128, `exit ${r.exitCode}`)
    assert.ok(Date.now() - t0 < 5000)
  })

  it('refuses a pod it does not simulate', async () => {
    await assert.rejects(podSimHandler({})(req(['true'])), /pod-sim has no pod kube-flannel\/p/)
  })
})

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0
const hasIp = ((): boolean => {
  try {
    execFileSync('ip', ['-V'], {stdio: 'ignore'})
    return true
  } catch {
    return false
  }
})()

describe(
  'pod-sim in a network namespace',
  {skip: isRoot && hasIp ? false : 'needs root and iproute2'},
  () => {
    it('runs `ip -j link show` inside the node’s namespace', async () => {
      const ns = `flt-h-podsim-${process.pid}`
      execFileSync('ip', ['netns', 'add', ns])
      try {
        execFileSync('ip', [
          '-n',
          ns,
          'link',
          'add',
          'flannel.1',
          'type',
          'vxlan',
          'id',
          '1',
          'dstport',
          '8472',
        ])
        const r = ran(
          await podSimHandler({'kube-flannel/p': {netns: ns, mounts: {}, tools: ['ip']}})(
            req(['ip', '-j', 'link', 'show']),
          ),
        )
        assert.equal(r.exitCode, 0, r.stderr)
        const links = JSON.parse(r.stdout) as {ifname: string}[]
        assert.deepEqual(links.map((l) => l.ifname).sort(), ['flannel.1', 'lo'])
        // The same command outside the namespace sees this host, not the node.
        const host = ran(
          await podSimHandler({'kube-flannel/p': {mounts: {}}})(req(['ip', '-j', 'link', 'show'])),
        )
        assert.ok(!(JSON.parse(host.stdout) as {ifname: string}[]).some((l) => l.ifname === 'flannel.1'))
      } finally {
        execFileSync('ip', ['netns', 'del', ns])
      }
    })
  },
)
