import assert from 'node:assert/strict'
import {test} from 'node:test'

import {check} from '../../../src/checks/node/sysctl.js'
import {staticFacts, type StaticFactInput} from '../../../src/facts/static.js'
import type {Route, Sysctls} from '../../../src/model.js'
import type {NetConf, NetConfFact} from '../../../src/parse/netconf.js'
import {parseModules} from '../../../src/parse/lsmod.js'
import {parseSysctl} from '../../../src/parse/sysctl.js'
import {netConfFact} from '../../support/builders.js'
import {fx} from './helpers.js'

const netConf = (
  type: string,
  backend: Record<string, unknown> = {},
  o: Partial<NetConf> = {},
): NetConfFact => netConfFact({backendType: type, backend, ...o}, {text: '{}'})

/** The default route of node A's capture (test/fixtures/outputs/ip-route/iproute2-6.1.txt). */
const DEFAULT: Route = {
  dst: 'default',
  gateway: '10.99.0.1',
  dev: 'eth0',
  onlink: true,
  type: 'unicast',
  raw: 'default via 10.99.0.1 dev eth0 onlink',
}

/** The captured `sysctl -a` of the netns with flannel.1, with some values changed for a case. */
function sysctl(set: Record<string, string> = {}, drop: string[] = []): Sysctls {
  const s = parseSysctl(fx('sysctl/netns-flannel1-a.txt'))
  for (const [k, v] of Object.entries(set)) {
    s.values.set(k, v)
    s.raw.set(k, `${k} = ${v}`)
  }
  for (const k of drop) {
    s.values.delete(k)
    s.raw.delete(k)
  }
  return s
}

const run = (f: StaticFactInput) => check.evaluate(staticFacts(f, 'commands/sysctl.txt'))
const statuses = (f: StaticFactInput) => run(f).map((x) => x.status)

test('node.sysctl: the captured namespace has ip_forward=0 → error with the line and a persistent fix', () => {
  const fs = run({sysctl: parseSysctl(fx('sysctl/netns-flannel1-a.txt')), netConf: netConf('vxlan')})
  assert.deepEqual(
    fs.map((f) => f.status),
    ['error', 'ok'],
  )
  assert.equal(
    fs[0]?.message,
    'net.ipv4.ip_forward is 0: the node does not forward packets, so no pod traffic leaves or enters it.',
  )
  assert.deepEqual(fs[0]?.evidence, [{source: 'commands/sysctl.txt', lines: ['net.ipv4.ip_forward = 0']}])
  assert.deepEqual(fs[0]?.fix, [
    'sysctl -w net.ipv4.ip_forward=1',
    "echo 'net.ipv4.ip_forward = 1' > /etc/sysctl.d/99-flannel.conf",
  ])
  assert.match(fs[1]?.message ?? '', /bridge-nf-call-iptables exists \(br_netfilter is loaded\) and is 1/)
})

test('node.sysctl: no bridge keys in a full capture → br_netfilter missing (error); nftables mode does not need it', () => {
  const bridge = [...parseSysctl(fx('sysctl/netns-flannel1-a.txt')).values.keys()].filter((k) =>
    k.startsWith('net.bridge.'),
  )
  const s = sysctl({'net.ipv4.ip_forward': '1'}, bridge)
  const fs = run({sysctl: s, netConf: netConf('vxlan'), modules: parseModules(fx('lsmod/k3s-703-rpi4.txt'))})
  assert.deepEqual(
    fs.map((f) => f.status),
    ['ok', 'error'],
  )
  assert.equal(
    fs[1]?.message,
    '/proc/sys/net/bridge/bridge-nf-call-iptables does not exist: br_netfilter is not loaded (lsmod does not list br_netfilter either), and flanneld in iptables mode exits with "Failed to check br_netfilter".',
  )
  assert.deepEqual(fs[1]?.fix?.slice(0, 2), [
    'modprobe br_netfilter',
    'echo br_netfilter > /etc/modules-load.d/br_netfilter.conf',
  ])
  assert.deepEqual(statuses({sysctl: s, netConf: netConf('vxlan', {}, {EnableNFTables: true})}), ['ok', 'ok'])
  // IPv6 also needs bridge-nf-call-ip6tables.
  assert.deepEqual(
    statuses({
      sysctl: sysctl({'net.ipv4.ip_forward': '1'}, ['net.bridge.bridge-nf-call-ip6tables']),
      netConf: netConf('vxlan', {}, {EnableIPv6: true}),
    }),
    ['ok', 'ok', 'error'],
  )
})

test('node.sysctl: sysctl said "cannot stat" → error; a partial capture → unknown; bridge-nf-call at 0 (kubespray#2067) → warning', () => {
  const said = parseSysctl(
    'net.ipv4.ip_forward = 1\nsysctl: cannot stat /proc/sys/net/bridge/bridge-nf-call-iptables: No such file or directory\n',
  )
  const fs = run({sysctl: said})
  assert.deepEqual(
    fs.map((f) => f.status),
    ['ok', 'error'],
  )
  assert.deepEqual(fs[1]?.evidence[0]?.lines, [
    'sysctl: cannot stat /proc/sys/net/bridge/bridge-nf-call-iptables: No such file or directory',
  ])
  assert.deepEqual(statuses({sysctl: parseSysctl('net.ipv4.ip_forward = 1\n')}), ['ok', 'unknown'])
  const zero = parseSysctl(fx('sysctl/kubespray-2067-bridge.txt'))
  const z = run({sysctl: zero})
  assert.deepEqual(
    z.map((f) => f.status),
    ['unknown', 'warning'],
  )
  assert.match(
    z[1]?.message ?? '',
    /bridge-nf-call-iptables is 0: br_netfilter is loaded, but bridged pod traffic skips iptables/,
  )
})

test('node.sysctl: strict rp_filter on the default-route interface warns with DirectRouting / host-gw only', () => {
  const s = sysctl({'net.ipv4.ip_forward': '1', 'net.ipv4.conf.eth0.rp_filter': '1'})
  const direct = run({sysctl: s, netConf: netConf('vxlan', {DirectRouting: true}), routes: [DEFAULT]})
  assert.deepEqual(
    direct.map((f) => f.status),
    ['ok', 'ok', 'warning'],
  )
  assert.equal(direct[2]?.subject, 'eth0')
  assert.match(
    direct[2]?.message ?? '',
    /^Strict reverse-path filtering \(net\.ipv4\.conf\.eth0\.rp_filter=1\) with vxlan with DirectRouting/,
  )
  assert.deepEqual(direct[2]?.evidence, [
    {
      source: 'commands/sysctl.txt',
      lines: ['net.ipv4.conf.all.rp_filter = 0', 'net.ipv4.conf.eth0.rp_filter = 1'],
    },
    {source: 'commands/sysctl.txt', lines: ['default via 10.99.0.1 dev eth0 onlink']},
  ])
  assert.deepEqual(statuses({sysctl: s, netConf: netConf('host-gw'), routes: [DEFAULT]}), [
    'ok',
    'ok',
    'warning',
  ])
  // Plain vxlan: rp_filter is not looked at. Loose (2) on `all` wins over strict on eth0 (the kernel takes the max).
  assert.deepEqual(statuses({sysctl: s, netConf: netConf('vxlan'), routes: [DEFAULT]}), ['ok', 'ok'])
  const loose = sysctl({
    'net.ipv4.ip_forward': '1',
    'net.ipv4.conf.eth0.rp_filter': '1',
    'net.ipv4.conf.all.rp_filter': '2',
  })
  assert.deepEqual(statuses({sysctl: loose, netConf: netConf('host-gw'), routes: [DEFAULT]}), [
    'ok',
    'ok',
    'ok',
  ])
})

test('node.sysctl: no sysctl capture → unknown', () => {
  const [f] = run({netConf: netConf('vxlan')})
  assert.equal(f?.status, 'unknown')
  assert.match(f?.message ?? '', /^Could not look at the kernel settings/)
})
