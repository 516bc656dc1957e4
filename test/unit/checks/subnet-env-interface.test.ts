import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {check as iface} from '../../../src/checks/node/interface.js'
import {check as subnetEnv} from '../../../src/checks/node/subnet-env.js'
import type {Finding} from '../../../src/checks/types.js'
import type {StaticFactInput} from '../../../src/facts/static.js'
import type {HostInfo} from '../../../src/facts/types.js'
import type {KubeNode, Link, LogFile, Route, SubnetEnv} from '../../../src/model.js'
import type {NetConf, NetConfFact} from '../../../src/parse/netconf.js'
import {
  addr,
  avail,
  flannelAnnotations,
  kubeNode,
  link,
  manifestNetConfText,
  missing,
  netConfFact,
  route,
} from '../../support/builders.js'
import {evLines, fixText, oneWithStatus as one, runCheck as run, withStatus as only} from './helpers.js'

// ---------------------------------------------------------------------------------------------------
// Builders

const ENV_SRC = 'files/run/flannel/subnet.env'

const node = (name: string, podCIDRs: string[], internal: string, publicIP?: string): KubeNode =>
  kubeNode(name, {
    podCIDRs,
    podCIDR: podCIDRs[0],
    internal,
    hostname: true,
    annotations: publicIP === undefined ? {} : flannelAnnotations(publicIP, {vtepMac: '0a:58:0a:f4:01:00'}),
  })

const conf = (o: Partial<NetConf> = {}): NetConfFact => netConfFact(o, {text: manifestNetConfText})

/** subnet.env text → the fact, the way the CNI plugin reads lines (KEY=value, split at the first `=`). */
function env(text: string): SubnetEnv {
  const out: SubnetEnv = {entries: [], values: {}, malformed: []}
  text.split('\n').forEach((raw, i) => {
    if (raw === '') return
    const eq = raw.indexOf('=')
    const key = eq === -1 ? '' : raw.slice(0, eq)
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      out.malformed.push({line: i + 1, raw})
      return
    }
    out.entries.push({key, value: raw.slice(eq + 1), line: i + 1, raw})
    out.values[key] = raw.slice(eq + 1)
  })
  return out
}

/** What flanneld v0.28 writes for node-a (podCIDR 10.244.1.0/24, vxlan over a 1500-byte underlay). */
const GOOD_ENV =
  'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n'

const hostA: HostInfo = {origin: 'bundle b', nodeName: 'node-a'}

function cluster(): KubeNode[] {
  return [
    node('node-a', ['10.244.1.0/24'], '10.99.0.11', '10.99.0.11'),
    node('node-b', ['10.244.3.0/24'], '10.99.0.12', '10.99.0.12'),
  ]
}

/** `ip -d link show flannel.1` (test/fixtures/outputs/ip-link/iproute2-6.1-d.txt). */
const flannel1 = (local: string, dev: string): Link =>
  link(3, 'flannel.1', {
    mtu: 1450,
    kind: 'vxlan',
    mac: '0a:58:0a:f4:01:00',
    operstate: 'UNKNOWN',
    vxlan: {id: 1, local, dev, dstport: 8472, learning: false, gbp: false},
  })

const defaultVia = (gw: string, dev: string): Route =>
  route('default', {gateway: gw, dev, raw: `default via ${gw} dev ${dev} proto dhcp metric 100`})

// ---------------------------------------------------------------------------------------------------

describe('node.subnet-env', () => {
  const base = (text: string, extra: StaticFactInput = {}): StaticFactInput => ({
    subnetEnv: avail(env(text), ENV_SRC),
    netConf: conf(),
    nodes: cluster(),
    host: hostA,
    ...extra,
  })

  test("passes when the file matches net-conf and node-a's podCIDR", () => {
    const fs = run(subnetEnv, base(GOOD_ENV))
    assert.equal(fs.length, 1)
    const f = one(fs, 'ok')
    assert.match(f.message, /FLANNEL_SUBNET = first host of node-a's podCIDR 10\.244\.1\.0\/24/)
    assert.match(f.message, /FLANNEL_NETWORK equal to net-conf Network/)
  })

  test('absent file: the CNI error and where to look', () => {
    const fs = run(subnetEnv, {
      subnetEnv: {
        ok: false,
        state: 'absent',
        reason: '/run/flannel/subnet.env does not exist',
        source: '/run/flannel/subnet.env',
      },
      nodes: cluster(),
      host: hostA,
    })
    const f = one(fs, 'error')
    assert.equal(f.subject, 'node node-a')
    assert.ok(
      f.message.includes(
        "failed to load flannel 'subnet.env' file: open /run/flannel/subnet.env: no such file or directory",
      ),
    )
    assert.match(
      fixText(f),
      /kubectl -n kube-flannel get pod -l app=flannel --field-selector spec\.nodeName=node-a -o wide/,
    )
    assert.match(fixText(f), /kubectl -n kube-flannel logs -c kube-flannel/)
  })

  test('could not read the file: unknown with the hint', () => {
    const fs = run(subnetEnv, {
      subnetEnv: {
        ok: false,
        state: 'permission',
        reason: '/run/flannel/subnet.env: permission denied',
        hint: 'run as root',
      },
    })
    assert.equal(fs.length, 1)
    assert.equal(fs[0]?.status, 'unknown')
    assert.equal(fs[0]?.hint, 'run as root')
    assert.match(fs[0]?.message ?? '', /permission denied/)
  })

  test('stale FLANNEL_SUBNET after the node got another podCIDR', () => {
    const text = GOOD_ENV.replace('10.244.1.1/24', '10.244.5.1/24')
    const f = one(run(subnetEnv, base(text)), 'error')
    assert.equal(f.subject, 'node node-a')
    assert.match(
      f.message,
      /FLANNEL_SUBNET is 10\.244\.5\.1\/24 but node node-a's podCIDR 10\.244\.1\.0\/24 makes it 10\.244\.1\.1\/24/,
    )
    assert.deepEqual(evLines(f), ['FLANNEL_SUBNET=10.244.5.1/24', 'node-a spec.podCIDR=10.244.1.0/24'])
    assert.match(fixText(f), /delete pod -l app=flannel --field-selector spec\.nodeName=node-a/)
    assert.match(fixText(f), /ip link delete cni0/)
  })

  test('FLANNEL_NETWORK differs from net-conf Network', () => {
    const fs = run(subnetEnv, base(GOOD_ENV, {netConf: conf({Network: '10.0.0.0/8'})}))
    const f = one(fs, 'error')
    assert.match(f.message, /FLANNEL_NETWORK is 10\.244\.0\.0\/16 but net-conf's Network is 10\.0\.0\.0\/8/)
    assert.deepEqual(evLines(f), ['FLANNEL_NETWORK=10.244.0.0/16', '"Network": "10.0.0.0/8",'])
  })

  test('FLANNEL_SUBNET outside FLANNEL_NETWORK, bad MTU, bad IPMASQ, export line', () => {
    const text =
      'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.245.1.1/24\nFLANNEL_MTU=1450.0\nFLANNEL_IPMASQ=yes\nexport FLANNEL_MTU=1450\n'
    const fs = run(subnetEnv, base(text, {nodes: [node('node-a', ['10.245.1.0/24'], '10.99.0.11')]}))
    const errs = only(fs, 'error')
    assert.ok(
      errs.some((f) =>
        /FLANNEL_SUBNET 10\.245\.1\.1\/24 lies outside FLANNEL_NETWORK 10\.244\.0\.0\/16/.test(f.message),
      ),
    )
    assert.ok(errs.some((f) => /FLANNEL_MTU="1450\.0" is not a usable MTU/.test(f.message)))
    const warns = only(fs, 'warning')
    assert.ok(warns.some((f) => /FLANNEL_IPMASQ="yes" is neither true nor false/.test(f.message)))
    const mal = warns.find((f) => /line 5 is not a plain KEY=value line/.test(f.message))
    assert.ok(mal)
    assert.deepEqual(evLines(mal), ['export FLANNEL_MTU=1450'])
  })

  test('missing keys are named with the CNI wording; IPv6 keys are required when IPv6 is on', () => {
    const f = one(
      run(
        subnetEnv,
        base('FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_IPMASQ=true\n'),
      ),
      'error',
    )
    assert.match(f.message, /"\/run\/flannel\/subnet\.env is missing FLANNEL_MTU"/)
    const v6 = run(
      subnetEnv,
      base(GOOD_ENV, {netConf: conf({EnableIPv6: true, IPv6Network: 'fd00:10:244::/56'})}),
    )
    assert.match(
      one(v6, 'error').message,
      /has no FLANNEL_IPV6_NETWORK, FLANNEL_IPV6_SUBNET, so the flannel CNI plugin gives pods no IPv6 address/,
    )
  })

  test('this host matches no node: the podCIDR comparison is unknown', () => {
    const fs = run(subnetEnv, base(GOOD_ENV, {host: {origin: 'bundle b'}}))
    const u = one(fs, 'unknown')
    assert.match(u.hint ?? '', /--node-name/)
    assert.equal(only(fs, 'error').length, 0)
  })
})

describe('node.interface', () => {
  const addrsA = [addr('eth0', '10.99.0.11/24'), addr('cni0', '10.244.1.1/24')]

  test('passes when the public IP is on the underlay of flannel.1 and the default route', () => {
    const fs = run(iface, {
      nodes: cluster(),
      host: hostA,
      addrs: avail(addrsA, 'commands/ip-addr.txt'),
      links: avail([flannel1('10.99.0.11', 'eth0')], 'commands/ip-link.txt'),
      routes: avail([defaultVia('10.99.0.1', 'eth0')], 'commands/ip-route.txt'),
      logs: avail([], 'logs/flannel.log'),
    })
    assert.equal(fs.length, 1)
    const f = one(fs, 'ok')
    assert.match(
      f.message,
      /flannel tunnels from 10\.99\.0\.11 on eth0 \(from node node-a's public-ip annotation\)/,
    )
    assert.match(f.message, /flannel\.1 uses it as local address over eth0/)
  })

  test('Vagrant: 10.0.2.15 on the NAT NIC, shared with another node, InternalIP on eth1', () => {
    const nodes = [
      node('worker-1', ['10.244.1.0/24'], '192.168.56.11', '10.0.2.15'),
      node('worker-2', ['10.244.2.0/24'], '192.168.56.12', '10.0.2.15'),
    ]
    const addrs = [
      addr('eth0', '10.0.2.15/24', {
        raw: 'inet 10.0.2.15/24 metric 100 brd 10.0.2.255 scope global dynamic eth0',
      }),
      addr('eth1', '192.168.56.11/24', {raw: 'inet 192.168.56.11/24 brd 192.168.56.255 scope global eth1'}),
    ]
    const fs = run(iface, {
      nodes,
      host: {origin: 'live', nodeName: 'worker-1'},
      addrs: avail(addrs, 'ip -j addr show'),
      links: avail([flannel1('10.0.2.15', 'eth0')], 'ip -d -j link show'),
      routes: avail([defaultVia('10.0.2.2', 'eth0')], 'ip -j route show'),
    })
    const warns = only(fs, 'warning')
    assert.equal(warns.length, 2)
    const nat = warns[0] as Finding
    assert.equal(nat.subject, 'node worker-1')
    assert.match(
      nat.message,
      /tunnels from 10\.0\.2\.15 .*VirtualBox\/Vagrant's NAT address that nodes worker-2 also advertise/,
    )
    assert.ok(evLines(nat).includes('worker-2 flannel.alpha.coreos.com/public-ip: 10.0.2.15'))
    assert.match(fixText(nat), /FLANNELD_IFACE=eth1/)
    assert.match(fixText(nat), /FLANNELD_IFACE_CAN_REACH=192\.168\.56\.12/)
    const nic = warns[1] as Finding
    assert.match(
      nic.message,
      /from 10\.0\.2\.15 on eth0 while node worker-1's InternalIP 192\.168\.56\.11 is on eth1/,
    )
  })

  test("from flanneld's log: --iface in effect on another NIC than the default route is info", () => {
    const log: LogFile = {
      name: 'flannel.log',
      lines: [
        'I0411 06:25:43.171778       1 main.go:527] Using interface with name eth1 and address 192.168.56.11',
        'I0411 06:25:43.171793       1 main.go:544] Defaulting external address to interface address (192.168.56.11)',
      ],
    }
    const addrs = [
      addr('eth0', '10.0.2.15/24', {raw: 'inet 10.0.2.15/24 scope global dynamic eth0'}),
      addr('eth1', '192.168.56.11/24'),
    ]
    const fs = run(iface, {
      nodes: missing('nodes were not collected', 'pass --nodes-file FILE'),
      addrs: avail(addrs, 'ip -j addr show'),
      links: avail([flannel1('192.168.56.11', 'eth1')], 'ip -d -j link show'),
      routes: avail([defaultVia('10.0.2.2', 'eth0')], 'ip -j route show'),
      logs: avail([log], 'logs/flannel.log'),
    })
    assert.equal(only(fs, 'warning').length, 0)
    const f = one(fs, 'info')
    assert.match(f.message, /flannel uses eth1 \(192\.168\.56\.11\) although the default route is on eth0/)
    assert.deepEqual(f.evidence[0]?.lines, log.lines)
    assert.equal(f.evidence[0]?.source, 'logs/flannel.log')
    assert.ok(evLines(f).includes('default via 10.0.2.2 dev eth0 proto dhcp metric 100'))
  })

  test('flannel.1 uses another underlay than the NIC of the public IP', () => {
    const addrs = [
      addr('eth0', '10.99.0.11/24'),
      addr('eth1', '192.168.77.1/24', {raw: 'inet 192.168.77.1/24 scope global noprefixroute eth1'}),
    ]
    const nodes = [
      node('node-a', ['10.244.1.0/24'], '192.168.77.1', '192.168.77.1'),
      node('node-b', ['10.244.3.0/24'], '192.168.77.2', '192.168.77.2'),
    ]
    const fs = run(iface, {
      nodes,
      host: hostA,
      addrs: avail(addrs, 'ip -j addr show'),
      links: avail([flannel1('192.168.77.1', 'eth0')], 'ip -d -j link show'),
      routes: avail([defaultVia('10.99.0.1', 'eth0')], 'ip -j route show'),
    })
    const f = one(fs, 'warning')
    assert.match(f.message, /flannel\.1 uses eth0 as underlay but the public IP 192\.168\.77\.1 is on eth1/)
    assert.ok(evLines(f).some((l) => l.startsWith('vxlan id 1 local 192.168.77.1 dev eth0')))
    assert.match(fixText(f), /FLANNELD_IFACE=eth1/)
  })

  test('unknown when neither the node annotation nor the log tells the address', () => {
    const fs = run(iface, {
      nodes: missing('nodes were not collected', 'pass --nodes-file FILE'),
      logs: missing('no log file given', 'pass --log FILE'),
    })
    assert.equal(fs.length, 1)
    assert.equal(fs[0]?.status, 'unknown')
    assert.match(fs[0]?.message ?? '', /nodes: nodes were not collected; logs: no log file given/)
    assert.match(fs[0]?.hint ?? '', /--node-name/)
  })
})
