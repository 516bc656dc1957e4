import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {test} from 'node:test'

import {check} from '../../../src/checks/logs/known-errors.js'
import {staticFacts} from '../../../src/facts/static.js'
import {parseLog} from '../../../src/parse/logs.js'

const OUT = new URL('../../fixtures/outputs/', import.meta.url)
const log = (file: string, as: string) => parseLog(as, readFileSync(new URL(`logs/${file}`, OUT), 'utf8'))
const run = (logs: ReturnType<typeof parseLog>[]) =>
  check.evaluate(staticFacts({logs}, 'logs/flannel.log, logs/kubelet.log, logs/dmesg.log'))

test('logs.known-errors: flannel#1125 → pod cidr not assigned, pointing at kube.podcidr-assigned', () => {
  const fs = run([log('flannel-1125-podcidr.log', 'flannel.log')])
  assert.equal(fs.length, 1)
  const [f] = fs
  assert.equal(f?.status, 'error')
  assert.equal(f?.subject, 'kube.podcidr-assigned')
  assert.equal(
    f?.message,
    'logs/flannel.log line 11: the node has no spec.podCIDR: the controller-manager does not allocate node CIDRs (kubeadm init without --pod-network-cidr) — see kube.podcidr-assigned.',
  )
  assert.deepEqual(f?.evidence, [
    {
      source: 'logs/flannel.log:11',
      lines: [
        'E0411 06:25:44.372839       1 main.go:289] Error registering network: failed to acquire lease: node "ip-172-31-23-54" pod cidr not assigned',
      ],
    },
  ])
  assert.equal(f?.fix?.[0], "kubectl get node ip-172-31-23-54 -o jsonpath='{.spec.podCIDR}'")
})

test('logs.known-errors: several files, repeated lines counted once, warning level kept', () => {
  const fs = run([
    log('flannel-728-podcidr-old.log', 'flannel.log'),
    log('kubelet-46-journal.log', 'kubelet.log'),
    log('flannel-1279-dmesg.log', 'dmesg.log'),
  ])
  assert.deepEqual(
    fs.map((f) => [f.status, f.subject]),
    [
      ['error', 'kube.podcidr-assigned'],
      ['error', 'node.subnet-env'],
      ['warning', 'node.checksum-offload'],
    ],
  )
  assert.match(fs[0]?.message ?? '', /^logs\/flannel\.log line 1 \(6 times\): /)
  assert.equal(fs[0]?.evidence[0]?.lines.length, 3)
  assert.match(
    fs[2]?.message ?? '',
    /^logs\/dmesg\.log line 1 \(4 times\): .* — see node\.checksum-offload\.$/,
  )
  assert.deepEqual(fs[2]?.fix?.[0], 'ethtool -K flannel.1 tx-checksum-ip-generic off')
})

test('logs.known-errors: a log with only info messages or nothing known → ok; no log given → skip; unreadable → unknown', () => {
  const healthy = parseLog(
    'flannel.log',
    'I0529 10:32:01.123456       1 main.go:436] Wrote subnet file to /run/flannel/subnet.env\nI0529 10:32:01.123500       1 main.go:440] flannel is ready\n',
  )
  const [f] = run([healthy])
  assert.equal(f?.status, 'ok')
  assert.equal(f?.message, 'No known error message in 2 log lines (1 file); healthy messages seen: 2.')
  const quiet = run(
    [log('flannel-1125-podcidr.log', 'flannel.log')].map((l) => ({
      ...l,
      lines: l.lines.slice(0, 8),
      entries: l.entries?.slice(0, 8) ?? [],
    })),
  )
  assert.deepEqual(
    quiet.map((x) => x.status),
    ['ok'],
  )
  const [s] = check.evaluate(staticFacts({}))
  assert.equal(s?.status, 'skip')
  const [u] = check.evaluate(
    staticFacts({
      logs: {ok: false, state: 'permission', reason: '/var/log/x: permission denied', hint: 'run as root'},
    }),
  )
  assert.equal(u?.status, 'unknown')
  assert.equal(u?.hint, 'run as root')
})
