import assert from 'node:assert/strict'
import {test} from 'node:test'

import {ParseError} from '../../../src/parse/errors.js'
import {ipv4ConfKey, parseSysctl, sysctlKeyFromPath} from '../../../src/parse/sysctl.js'
import {fx} from './helpers.js'

test('sysctl -a (netns A): dotted keys, interface names with a dot written with /', () => {
  const s = parseSysctl(fx('sysctl/netns-a.txt'))
  assert.equal(s.values.size, 26)
  assert.equal(s.values.get('net.ipv4.ip_forward'), '0')
  assert.equal(s.values.get('net.bridge.bridge-nf-call-iptables'), '1')
  assert.equal(s.values.get('net.ipv4.conf.flannel/1.rp_filter'), '0')
  assert.equal(s.raw.get('net.ipv4.conf.flannel/1.rp_filter'), 'net.ipv4.conf.flannel/1.rp_filter = 0')
  assert.equal(s.missing, undefined)
})

test('the same settings as /proc/sys paths (grep -H) and as named keys give the same values as sysctl -a', () => {
  const full = parseSysctl(fx('sysctl/netns-flannel1-a.txt'))
  const proc = parseSysctl(fx('sysctl/proc-grep.txt'))
  const named = parseSysctl(fx('sysctl/names.txt'))
  assert.equal(proc.values.size, 9)
  assert.equal(
    proc.raw.get('net.ipv4.conf.flannel/1.rp_filter'),
    '/proc/sys/net/ipv4/conf/flannel.1/rp_filter:0',
  )
  for (const [k, v] of proc.values) assert.equal(full.values.get(k), v, k)
  for (const [k, v] of named.values) assert.equal(full.values.get(k), v, k)
  assert.deepEqual(
    [...named.values.keys()],
    [
      'net.ipv4.ip_forward',
      'net.ipv4.conf.all.rp_filter',
      'net.ipv4.conf.flannel/1.rp_filter',
      'net.bridge.bridge-nf-call-iptables',
    ],
  )
})

test('kubespray#2067: br_netfilter loaded but bridge-nf-call-* at 0; empty grep before modprobe', () => {
  const s = parseSysctl(fx('sysctl/kubespray-2067-bridge.txt'))
  assert.equal(s.values.get('net.bridge.bridge-nf-call-iptables'), '0')
  assert.equal(s.values.size, 6)
  assert.equal(parseSysctl(fx('sysctl/kubespray-2067-before-modprobe.txt')).values.size, 0)
})

test('path forms, sysctl.conf lines, sysctl complaints', () => {
  assert.equal(
    sysctlKeyFromPath('/proc/sys/net/ipv4/conf/flannel.1/rp_filter'),
    'net.ipv4.conf.flannel/1.rp_filter',
  )
  assert.equal(sysctlKeyFromPath('net/ipv4/ip_forward'), 'net.ipv4.ip_forward')
  assert.equal(ipv4ConfKey('flannel.1', 'rp_filter'), 'net.ipv4.conf.flannel/1.rp_filter')
  // The line shapes below are those of fixtures above, recombined to exercise the other accepted forms.
  const s = parseSysctl(
    [
      '* Applying /etc/sysctl.d/99-flannel.conf ...',
      '# a comment',
      'net/ipv4/ip_forward = 1',
      'net.ipv4.conf.all.rp_filter=2',
      '/proc/sys/net/ipv4/conf/eth0/rp_filter: 1',
      'sysctl: cannot stat /proc/sys/net/bridge/bridge-nf-call-iptables: No such file or directory',
      "sysctl: permission denied on key 'fs.protected_hardlinks'",
    ].join('\n'),
  )
  assert.deepEqual(Object.fromEntries(s.values), {
    'net.ipv4.ip_forward': '1',
    'net.ipv4.conf.all.rp_filter': '2',
    'net.ipv4.conf.eth0.rp_filter': '1',
  })
  assert.deepEqual([...(s.missing?.keys() ?? [])], ['net.bridge.bridge-nf-call-iptables'])
  assert.throws(
    () => parseSysctl('net.ipv4.ip_forward = 1\nthis is not a sysctl line\n'),
    (e: unknown) => {
      assert.ok(e instanceof ParseError)
      assert.equal(e.line, 2)
      return true
    },
  )
})
