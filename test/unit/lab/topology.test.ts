/**
 * The lab's layout is pure: names, addresses, validation, the nodes file and net-conf it writes, the
 * `ip -batch` lines, and the aggregate of per-node doctor reports. Nothing here needs root.
 */
import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import fc from 'fast-check'

import {buildReport, type CheckResult} from '../../../src/engine/doctor.js'
import {
  aggregateDoctor,
  cniNodeLines,
  cniPodLines,
  ipsecPolicyLines,
  nodeUnderlayLines,
  routerLines,
  switchLines,
  type LabDoctorNode,
} from '../../../src/lab/lab.js'
import {
  buildTopology,
  CNI_CONFLIST,
  LabOptionsError,
  labNamespacePattern,
  labNamespaces,
  labNetConf,
  labNodesList,
  nodePairs,
  resolveTarget,
  validateLabOptions,
  type LabNode,
} from '../../../src/lab/topology.js'
import {parseNodes} from '../../../src/parse/kube.js'
import {netConfFromFile} from '../../../src/parse/netconf-source.js'
import {parseCniConfigs} from '../../../src/parse/cni.js'

const node = (t: ReturnType<typeof buildTopology>, i: number): LabNode => {
  const n = t.nodes[i - 1]
  assert.ok(n, `node ${i}`)
  return n
}

describe('lab topology', () => {
  test('defaults: lab "lab", 3 nodes on one subnet, vxlan, one pod each, FLANNEL_MTU 1450', () => {
    const t = buildTopology({})
    assert.equal(t.name, 'lab')
    assert.equal(t.prefix, 'flt-lab-')
    assert.equal(t.network, '10.244.0.0/16')
    assert.equal(t.flannelMtu, 1450)
    assert.deepEqual(
      t.nodes.map((n) => [n.name, n.ns, n.ip, n.gateway, n.podCIDR, n.cni0]),
      [
        ['node-1', 'flt-lab-node-1', '10.99.1.2', '10.99.1.1', '10.244.1.0/24', '10.244.1.1/24'],
        ['node-2', 'flt-lab-node-2', '10.99.1.3', '10.99.1.1', '10.244.2.0/24', '10.244.2.1/24'],
        ['node-3', 'flt-lab-node-3', '10.99.1.4', '10.99.1.1', '10.244.3.0/24', '10.244.3.1/24'],
      ],
    )
    assert.deepEqual(
      node(t, 2).pods.map((p) => [p.name, p.ns, p.ip, p.hostVeth]),
      [['node-2-pod0', 'flt-lab-node-2-pod0', '10.244.2.2', 'vethpod0']],
    )
    assert.deepEqual(labNamespaces(t), [
      'flt-lab-router',
      'flt-lab-sw1',
      'flt-lab-node-1',
      'flt-lab-node-2',
      'flt-lab-node-3',
      'flt-lab-node-1-pod0',
      'flt-lab-node-2-pod0',
      'flt-lab-node-3-pod0',
    ])
  })

  test('nodes go round-robin over the subnets and take the next address there', () => {
    const t = buildTopology({name: 'x', nodes: 5, subnets: 2, podsPerNode: 3})
    assert.deepEqual(
      t.switches.map((s) => [s.ns, s.cidr, s.router, s.routerLeg]),
      [
        ['flt-x-sw1', '10.99.1.0/24', '10.99.1.1', 'eth1'],
        ['flt-x-sw2', '10.99.2.0/24', '10.99.2.1', 'eth2'],
      ],
    )
    assert.deepEqual(
      t.nodes.map((n) => `${n.name}@sw${n.subnet}=${n.ip} via ${n.gateway}`),
      [
        'node-1@sw1=10.99.1.2 via 10.99.1.1',
        'node-2@sw2=10.99.2.2 via 10.99.2.1',
        'node-3@sw1=10.99.1.3 via 10.99.1.1',
        'node-4@sw2=10.99.2.3 via 10.99.2.1',
        'node-5@sw1=10.99.1.4 via 10.99.1.1',
      ],
    )
    assert.deepEqual(
      node(t, 4).pods.map((p) => p.cidr),
      ['10.244.4.2/24', '10.244.4.3/24', '10.244.4.4/24'],
    )
    assert.equal(nodePairs(t).length, 10)
  })

  test('FLANNEL_MTU per backend: vxlan −50, host-gw −0, ipsec −77', () => {
    assert.equal(buildTopology({underlayMtu: 9000}).flannelMtu, 8950)
    assert.equal(buildTopology({backend: 'host-gw', underlayMtu: 1400}).flannelMtu, 1400)
    assert.equal(buildTopology({backend: 'ipsec'}).flannelMtu, 1423)
  })

  test('every valid option set gives unique names and addresses inside their subnets', () => {
    fc.assert(
      fc.property(
        fc.integer({min: 1, max: 50}).chain((n) =>
          fc.record({
            nodes: fc.constant(n),
            subnets: fc.integer({min: 1, max: n}),
            podsPerNode: fc.integer({min: 0, max: 10}),
          }),
        ),
        (o) => {
          const t = buildTopology(o)
          const ns = labNamespaces(t)
          assert.equal(new Set(ns).size, ns.length)
          assert.equal(ns.length, 1 + o.subnets + o.nodes * (1 + o.podsPerNode))
          const re = labNamespacePattern(t.name)
          assert.ok(ns.every((x) => re.test(x) && x.startsWith('flt-lab-')))
          const ips = [...t.nodes.map((n) => n.ip), ...t.switches.map((s) => s.router)]
          assert.equal(new Set(ips).size, ips.length)
          for (const n of t.nodes) {
            assert.equal(n.ip.split('.').slice(0, 3).join('.'), `10.99.${n.subnet}`)
            assert.equal(n.gateway, `10.99.${n.subnet}.1`)
            assert.ok(n.pods.every((p) => p.ip.startsWith(`10.244.${n.index}.`)))
          }
        },
      ),
      {numRuns: 300},
    )
  })

  test('validation names the bad value and what is allowed', () => {
    const bad: [Parameters<typeof validateLabOptions>[0], RegExp][] = [
      [{nodes: 0}, /--nodes must be a whole number from 1 to 50, got 0/],
      [{nodes: 51}, /--nodes .* got 51/],
      [{nodes: 2.5}, /--nodes .* got 2.5/],
      [{nodes: 3, subnets: 4}, /--subnets must be a whole number from 1 to 3, got 4/],
      [{subnets: 0}, /--subnets .* got 0/],
      [{podsPerNode: 11}, /--pods-per-node must be a whole number from 0 to 10, got 11/],
      [{podsPerNode: -1}, /--pods-per-node .* got -1/],
      [{underlayMtu: 1279}, /--underlay-mtu must be a whole number from 1280 to 9000, got 1279/],
      [{underlayMtu: 9001}, /--underlay-mtu .* got 9001/],
      [{name: 'Lab'}, /lab name "Lab" must be/],
      [{name: 'a/b'}, /lab name "a\/b"/],
      [{name: '-x'}, /lab name "-x"/],
      [{name: 'x'.repeat(21)}, /lab name/],
      [{backend: 'udp' as never}, /--backend must be one of vxlan, host-gw, ipsec, got "udp"/],
      [{backend: 'host-gw', nodes: 4, subnets: 2}, /host-gw needs every node on one underlay subnet/],
      [{backend: 'ipsec', directRouting: true}, /--direct-routing is a vxlan option/],
    ]
    for (const [o, re] of bad)
      assert.throws(
        () => validateLabOptions(o),
        (e: Error) => e instanceof LabOptionsError && re.test(e.message),
        JSON.stringify(o),
      )
    assert.equal(validateLabOptions({nodes: 50, subnets: 50, podsPerNode: 10, underlayMtu: 9000}).nodes, 50)
    assert.equal(
      validateLabOptions({name: 't12345-a', nodes: 1, podsPerNode: 0, underlayMtu: 1280}).name,
      't12345-a',
    )
  })

  test("the namespace pattern matches only this lab's names, never another lab's or the machine's", () => {
    const re = labNamespacePattern('lab')
    for (const yes of ['flt-lab-router', 'flt-lab-sw2', 'flt-lab-node-12', 'flt-lab-node-3-pod9'])
      assert.ok(re.test(yes), yes)
    for (const no of [
      'flt-lab-2-node-1',
      'flt-lab-2-router',
      'flt-lab-node-1-pod0x',
      'flt-lab-',
      'flt-lv-node-1',
      'flt-lab-node-1 (id: 3)',
      'lab-node-1',
      'cni-1234',
      'flt-lab-sw',
    ])
      assert.ok(!re.test(no), no)
  })

  test('exec targets: node, node number, pod, switch, router, full namespace; unknown → undefined', () => {
    const t = buildTopology({nodes: 2, subnets: 2, podsPerNode: 2})
    assert.equal(resolveTarget(t, 'node-2')?.ns, 'flt-lab-node-2')
    assert.equal(resolveTarget(t, '2')?.ns, 'flt-lab-node-2')
    assert.equal(resolveTarget(t, 'node-1-pod1')?.ns, 'flt-lab-node-1-pod1')
    assert.equal(resolveTarget(t, 'sw2')?.ns, 'flt-lab-sw2')
    assert.equal(resolveTarget(t, 'router')?.ns, 'flt-lab-router')
    assert.equal(resolveTarget(t, 'flt-lab-node-1')?.kind, 'node')
    assert.equal(resolveTarget(t, 'node-3'), undefined)
    assert.equal(resolveTarget(t, 'node-1-pod2'), undefined)
    assert.equal(resolveTarget(t, 'sw3'), undefined)
    assert.equal(resolveTarget(t, 'flt-other-node-1'), undefined)
  })
})

describe('lab files', () => {
  test('nodes.json parses as kubectl output: podCIDRs, InternalIP, nodeInfo, no flannel annotations', () => {
    const t = buildTopology({nodes: 3, subnets: 2})
    const nodes = parseNodes(JSON.stringify(labNodesList(t, '6.1.0-test')))
    assert.deepEqual(
      nodes.map((n) => [
        n.name,
        n.podCIDR,
        n.podCIDRs,
        n.addresses.find((a) => a.type === 'InternalIP')?.address,
      ]),
      [
        ['node-1', '10.244.1.0/24', ['10.244.1.0/24'], '10.99.1.2'],
        ['node-2', '10.244.2.0/24', ['10.244.2.0/24'], '10.99.2.2'],
        ['node-3', '10.244.3.0/24', ['10.244.3.0/24'], '10.99.1.3'],
      ],
    )
    assert.equal(nodes[0]?.kernelVersion, '6.1.0-test')
    assert.equal(nodes[0]?.operatingSystem, 'linux')
    assert.ok(
      nodes.every((n) => Object.keys(n.annotations).every((k) => !k.startsWith('flannel.alpha.coreos.com/'))),
    )
  })

  test('net-conf.json decodes as flannel reads it, per backend', () => {
    const read = (o: Parameters<typeof buildTopology>[0], psk?: string) => {
      const f = netConfFromFile(JSON.stringify(labNetConf(buildTopology(o), psk), null, 2), 'net-conf.json')
      assert.ok(f.result.ok, 'parses')
      return f.result.conf
    }
    const v = read({directRouting: true})
    assert.equal(v.Network, '10.244.0.0/16')
    assert.equal(v.backendType, 'vxlan')
    assert.equal(v.backend['DirectRouting'], true)
    assert.equal(v.EnableNFTables, false)
    assert.equal(read({backend: 'host-gw'}).backendType, 'host-gw')
    const s = read({backend: 'ipsec'}, 'a'.repeat(96))
    assert.equal(s.backendType, 'ipsec')
    assert.equal(s.backend['PSK'], 'a'.repeat(96))
    assert.equal(s.flannelError, undefined)
  })

  test('10-flannel.conflist is the manifest one: cbr0, flannel delegate with hairpin + default gateway, portmap', () => {
    const [conf] = parseCniConfigs([
      {name: '10-flannel.conflist', text: JSON.stringify(CNI_CONFLIST, null, 2)},
    ])
    assert.ok(conf, 'loaded')
    assert.equal(conf.error, undefined)
    assert.equal(conf.ignored, undefined)
    assert.deepEqual((conf.json as {plugins: {delegate?: unknown}[]}).plugins[0]?.delegate, {
      hairpinMode: true,
      isDefaultGateway: true,
    })
    assert.equal(CNI_CONFLIST.name, 'cbr0')
    assert.deepEqual(
      CNI_CONFLIST.plugins.map((p) => p.type),
      ['flannel', 'portmap'],
    )
  })
})

describe('lab batch lines', () => {
  const t = buildTopology({name: 'b', nodes: 3, subnets: 2, podsPerNode: 2, underlayMtu: 1400})

  test('a switch: bridge, a port for the router leg and one per node of its subnet, all with the underlay MTU', () => {
    assert.deepEqual(switchLines(t, 2), [
      'link set lo up',
      'link add br0 mtu 1400 type bridge',
      'link set br0 up',
      'link add rtr mtu 1400 type veth peer name eth2 mtu 1400 netns flt-b-router',
      'link set rtr master br0',
      'link set rtr up',
      'link add n2 mtu 1400 type veth peer name eth0 mtu 1400 netns flt-b-node-2',
      'link set n2 master br0',
      'link set n2 up',
    ])
    assert.deepEqual(switchLines(t, 3), [])
  })

  test('router and node underlay', () => {
    assert.deepEqual(routerLines(t), [
      'link set lo up',
      'addr add 10.99.1.1/24 dev eth1',
      'link set eth1 up',
      'addr add 10.99.2.1/24 dev eth2',
      'link set eth2 up',
    ])
    assert.deepEqual(nodeUnderlayLines(node(t, 3)), [
      'link set lo up',
      'addr add 10.99.1.3/24 dev eth0',
      'link set eth0 up',
      'route add default via 10.99.1.1 dev eth0',
    ])
  })

  test('pods as the bridge plugin wires them: cni0 with the gateway, hairpin veths with FLANNEL_MTU', () => {
    const n = node(t, 2)
    const lines = cniNodeLines(n, {subnet: '10.244.2.1/24', mtu: 1350})
    assert.deepEqual(lines.slice(0, 7), [
      'link add cni0 mtu 1350 type bridge',
      'addr add 10.244.2.1/24 dev cni0',
      'link set cni0 up',
      'link add vethpod0 mtu 1350 type veth peer name eth0 mtu 1350 netns flt-b-node-2-pod0',
      'link set vethpod0 master cni0',
      'link set vethpod0 type bridge_slave hairpin on',
      'link set vethpod0 up',
    ])
    assert.equal(lines.length, 3 + 4 * 2)
    assert.deepEqual(
      cniNodeLines(buildTopology({podsPerNode: 0}).nodes[0] as LabNode, {subnet: 'x', mtu: 1}),
      [],
    )
    assert.deepEqual(
      cniPodLines(n.pods[1] as never, {gateway: '10.244.2.1', prefix: 24, network: '10.244.0.0/16'}),
      [
        'link set lo up',
        'addr add 10.244.2.3/24 dev eth0',
        'link set eth0 up',
        'route add default via 10.244.2.1 dev eth0',
        'route add 10.244.0.0/16 via 10.244.2.1 dev eth0',
      ],
    )
  })

  test("ipsec: three reqid-11 tunnel policies per peer, flannel's directions", () => {
    const [a, b, c] = [node(t, 1), node(t, 2), node(t, 3)]
    const lines = ipsecPolicyLines(a, [b, c])
    assert.equal(lines.length, 6)
    assert.deepEqual(lines.slice(0, 3), [
      'xfrm policy add src 10.244.1.0/24 dst 10.244.2.0/24 dir out tmpl src 10.99.1.2 dst 10.99.2.2 proto esp reqid 11 mode tunnel',
      'xfrm policy add src 10.244.2.0/24 dst 10.244.1.0/24 dir in tmpl src 10.99.2.2 dst 10.99.1.2 proto esp reqid 11 mode tunnel',
      'xfrm policy add src 10.244.2.0/24 dst 10.244.1.0/24 dir fwd tmpl src 10.99.2.2 dst 10.99.1.2 proto esp reqid 11 mode tunnel',
    ])
  })
})

describe('lab doctor aggregate', () => {
  const check = (id: string, status: CheckResult['status']): CheckResult => ({
    id,
    area: 'node',
    title: id,
    severity: 'error',
    status,
    findings: [{status, message: `${id} is ${status}`, evidence: []}],
  })
  const rep = (node: string, checks: CheckResult[]): LabDoctorNode => ({
    node,
    ns: `flt-lab-${node}`,
    report: buildReport(checks, {origin: 'test', failOn: 'error', version: '0', now: new Date(0), node}),
  })

  test('failed if any node failed; failing ids in catalogue order; summaries add up', () => {
    const r = aggregateDoctor('lab', 'error', [
      rep('node-1', [check('node.mtu', 'ok'), check('node.peers', 'ok'), check('node.sysctl', 'unknown')]),
      rep('node-2', [check('node.mtu', 'ok'), check('node.peers', 'error'), check('node.sysctl', 'ok')]),
    ])
    assert.equal(r.result, 'failed')
    assert.equal(r.exitCode, 1)
    assert.deepEqual(r.failing, ['node.peers', 'node.sysctl'])
    assert.deepEqual(r.summary, {ok: 4, error: 1, warning: 0, info: 0, unknown: 1, skip: 0})
  })

  test('incomplete when nothing failed but something was unknown; healthy otherwise', () => {
    const inc = aggregateDoctor('lab', 'error', [
      rep('node-1', [check('node.mtu', 'ok')]),
      rep('node-2', [check('node.mtu', 'unknown')]),
    ])
    assert.equal(inc.result, 'incomplete')
    assert.equal(inc.exitCode, 3)
    const ok = aggregateDoctor('lab', 'error', [
      rep('node-1', [check('node.mtu', 'ok'), check('node.x', 'skip')]),
    ])
    assert.equal(ok.result, 'healthy')
    assert.equal(ok.exitCode, 0)
    assert.deepEqual(ok.failing, [])
  })
})
