import assert from 'node:assert/strict'
import {test} from 'node:test'

import {normalizeLogLine, parseLog} from '../../../src/parse/logs.js'
import {fx} from './helpers.js'

test('klog lines (flannel#1125): text, level, time and file:line separated; raw kept', () => {
  const l = parseLog('flannel.log', fx('logs/flannel-1125-podcidr.log'))
  assert.equal(l.lines.length, 12)
  assert.deepEqual(l.entries?.[10], {
    n: 11,
    raw: 'E0411 06:25:44.372839       1 main.go:289] Error registering network: failed to acquire lease: node "ip-172-31-23-54" pod cidr not assigned',
    text: 'Error registering network: failed to acquire lease: node "ip-172-31-23-54" pod cidr not assigned',
    level: 'E',
    time: '0411 06:25:44.372839',
    origin: 'main.go:289',
  })
})

test('journald + klog structured (kubelet#46): syslog prefix, klog prefix and err="..." unwrapped', () => {
  const l = parseLog('kubelet.log', fx('logs/kubelet-46-journal.log'))
  const [a, b] = l.entries ?? []
  assert.equal(a?.origin, 'remote_runtime.go:193')
  assert.equal(a?.level, 'E')
  assert.equal(
    a?.text,
    'RunPodSandbox from runtime service failed: rpc error: code = Unknown desc = failed to setup network for sandbox "5db402ddcda98eb797e884575883860a0211c9bf5b6b9d08562793290fd5de78": plugin type="flannel" failed (add): loadFlannelSubnetEnv failed: open /run/flannel/subnet.env: no such file or directory',
  )
  assert.match(b?.text ?? '', /^Failed to create sandbox for pod: rpc error: .*no such file or directory$/)
})

test('docker json-file, dmesg, a klog line missing its letter, kubectl describe rows', () => {
  const [d] = parseLog('x', fx('logs/flannel-676-docker-json.log')).entries ?? []
  assert.equal(d?.time, '2017-04-14T02:56:51.418396354Z')
  assert.equal(d?.level, 'E')
  assert.match(
    d?.text ?? '',
    /^Failed to create SubnetManager: error retrieving pod spec for 'default\/kube-flannel-ds-kz6jl': the server does not allow/,
  )
  const [k] = parseLog('dmesg', fx('logs/flannel-1279-dmesg.log')).entries ?? []
  assert.equal(k?.time, '1423.035722')
  assert.equal(k?.text, 'UDP: bad checksum. From 172.16.9.99:27503 to 172.16.80.252:8472 ulen 75')
  const [u] = parseLog('x', fx('logs/flannel-1797-unauthorized.log')).entries ?? []
  assert.equal(u?.level, undefined)
  assert.equal(u?.origin, 'main.go:229')
  assert.match(u?.text ?? '', /^Failed to create SubnetManager: /)
  const [ev] = parseLog('events', fx('logs/minikube-9046-cni0.txt')).entries ?? []
  assert.match(
    ev?.text ?? '',
    /^Warning {2}FailedCreatePodSandBox .*"cni0" already has an IP address different from 10\.244\.0\.1\/24$/,
  )
})

test('kubectl --timestamps, CRI log files and logrus prefixes (applied to a real flannel line)', () => {
  const line = fx('logs/flannel-1125-podcidr.log').split('\n')[10] as string
  const want = normalizeLogLine(line).text
  for (const prefixed of [
    `2019-04-11T06:25:44.372839000Z ${line}`,
    `2019-04-11T06:25:44.372839000Z stderr F ${line}`,
    `Apr 11 06:25:44 ip-172-31-23-54 k3s[752]: ${line}`,
  ]) {
    const n = normalizeLogLine(prefixed)
    assert.equal(n.text, want, prefixed)
    assert.equal(n.level, 'E')
  }
  const lr = normalizeLogLine(`time="2019-04-11T06:25:44Z" level=error msg="${want.replace(/"/g, '\\"')}"`)
  assert.equal(lr.text, want)
  assert.equal(lr.level, 'E')
  assert.equal(parseLog('empty', '').lines.length, 0)
})
