import assert from 'node:assert/strict'
import {test} from 'node:test'

import {check, kernelRisk} from '../../../src/checks/node/checksum-offload.js'
import {staticFacts, type StaticFactInput} from '../../../src/facts/static.js'
import type {NetConfFact} from '../../../src/parse/netconf.js'
import {parseEthtoolFeatures} from '../../../src/parse/ethtool.js'
import {parseLog} from '../../../src/parse/logs.js'
import {parseUname} from '../../../src/parse/uname.js'
import {netConfFact} from '../../support/builders.js'
import {fx} from './helpers.js'

const netConf = (type: string, backend: Record<string, unknown> = {}): NetConfFact =>
  netConfFact({backendType: type, backend}, {text: '{}'})

const ON = parseEthtoolFeatures(fx('ethtool/flannel.1.txt'))
const OFF = parseEthtoolFeatures(fx('ethtool/flannel.1-tx-csum-off.txt'))
const NEW = parseUname(fx('uname/a.txt')) // 6.18.44
// Kernel releases as reported in flannel-io/flannel#1492 (CentOS 8) and kubernetes-sigs/kubespray#2067 (CentOS 7).
const EL8 = parseUname('4.18.0-305.19.1.el8_4.x86_64')
const EL7 = parseUname('3.10.0-693.5.2.el7.x86_64')
const DMESG = [parseLog('dmesg.log', fx('logs/flannel-1279-dmesg.log'))]
const run = (f: StaticFactInput) => check.evaluate(staticFacts(f, 'bundle'))

test('kernelRisk: < 5.7 and the el8/el9 vendor kernels', () => {
  assert.equal(
    kernelRisk('4.18.0-305.19.1.el8_4.x86_64'),
    '4.18.0-305.19.1.el8_4.x86_64 is a RHEL/CentOS/Rocky 8 kernel (k3s-io/k3s#5013)',
  )
  assert.match(kernelRisk('5.14.0-162.6.1.el9_1.x86_64') ?? '', /RHEL\/Rocky 9/)
  assert.equal(kernelRisk('5.4.0-42-generic'), '5.4.0-42-generic is older than 5.7')
  assert.equal(kernelRisk('5.15.0-52-generic'), undefined)
  assert.equal(kernelRisk('6.18.44-fc-v669'), undefined)
})

test('node.checksum-offload: affected kernel with tx-checksum-ip-generic on → warning with ethtool and udev fix', () => {
  const [f, ...rest] = run({kernel: EL8, ethtool: ON, netConf: netConf('vxlan')})
  assert.equal(rest.length, 0)
  assert.equal(f?.status, 'warning')
  assert.equal(
    f?.message,
    '4.18.0-305.19.1.el8_4.x86_64 is a RHEL/CentOS/Rocky 8 kernel (k3s-io/k3s#5013) and tx-checksum-ip-generic is on for flannel.1: VXLAN packets marked by kube-proxy can leave with a bad UDP checksum and be dropped by the receiver.',
  )
  assert.deepEqual(f?.evidence, [
    {source: 'bundle', lines: ['4.18.0-305.19.1.el8_4.x86_64']},
    {source: 'bundle', lines: ['Features for flannel.1:', 'tx-checksum-ip-generic: on']},
  ])
  assert.deepEqual(f?.fix, [
    'ethtool -K flannel.1 tx-checksum-ip-generic off',
    `echo 'SUBSYSTEM=="net", ACTION=="add|change|move", ENV{INTERFACE}=="flannel.1", RUN+="/usr/sbin/ethtool -K flannel.1 tx-checksum-ip-generic off"' > /etc/udev/rules.d/90-flannel.rules`,
  ])
})

test('node.checksum-offload: offload off, or a kernel not known to be affected → ok', () => {
  assert.deepEqual(
    run({kernel: EL8, ethtool: OFF}).map((f) => f.status),
    ['ok'],
  )
  const [g] = run({kernel: NEW, ethtool: ON})
  assert.equal(g?.status, 'ok')
  assert.equal(
    g?.message,
    'Kernel 6.18.44-fc-v669 is not known to corrupt VXLAN checksums (tx-checksum-ip-generic is on).',
  )
})

test('node.checksum-offload: "UDP: bad checksum" in dmesg (flannel#1279) is a warning even without the kernel', () => {
  const [f] = run({logs: DMESG, ethtool: ON})
  assert.equal(f?.status, 'warning')
  assert.match(
    f?.message ?? '',
    /^The kernel drops VXLAN packets with bad UDP checksums \(4 "UDP: bad checksum" line\(s\)\) and tx-checksum-ip-generic is on\.$/,
  )
  assert.deepEqual(f?.evidence[0], {
    source: 'dmesg.log',
    lines: [
      '[ 1423.035722] UDP: bad checksum. From 172.16.9.99:27503 to 172.16.80.252:8472 ulen 75',
      '[ 1426.036873] UDP: bad checksum. From 172.16.9.99:4894 to 172.16.80.252:8472 ulen 75',
      '[ 1427.537392] UDP: bad checksum. From 172.16.9.99:32693 to 172.16.80.252:8472 ulen 75',
    ],
  })
  // Offload already off here: the complaints come from a peer.
  const here = run({logs: DMESG, ethtool: OFF, kernel: EL7})
  assert.deepEqual(
    here.map((x) => x.status),
    ['ok', 'warning'],
  )
  // A configured VXLAN Port other than 8472 makes those lines someone else's traffic.
  assert.deepEqual(
    run({logs: DMESG, ethtool: ON, kernel: NEW, netConf: netConf('vxlan', {Port: 4789})}).map(
      (x) => x.status,
    ),
    ['ok'],
  )
})

test('node.checksum-offload: not vxlan → skip; nothing captured → unknown; kernel at risk without ethtool → unknown', () => {
  assert.deepEqual(
    run({netConf: netConf('host-gw'), kernel: EL8, ethtool: ON}).map((f) => f.status),
    ['skip'],
  )
  assert.deepEqual(
    run({}).map((f) => f.status),
    ['unknown'],
  )
  const [u] = run({kernel: EL7})
  assert.equal(u?.status, 'unknown')
  assert.match(
    u?.message ?? '',
    /is older than 5\.7 \(VXLAN checksum offload bug\), but the offload features of flannel\.1 were not captured/,
  )
  assert.equal(run({ethtool: ON})[0]?.status, 'unknown')
  // The offloads of the wrong device (eth0) say nothing about flannel.1.
  const [w] = run({kernel: EL8, ethtool: parseEthtoolFeatures(fx('ethtool/eth0-veth.txt'))})
  assert.equal(w?.status, 'unknown')
  assert.equal(w?.message, 'The ethtool capture is of eth0, not of the vxlan device flannel.1.')
})
