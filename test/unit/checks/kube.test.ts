import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {check as annotations} from '../../../src/checks/kube/flannel-annotations.js'
import {check as overlapsHost} from '../../../src/checks/kube/network-overlaps-host.js'
import {check as assigned} from '../../../src/checks/kube/podcidr-assigned.js'
import {check as inNetwork} from '../../../src/checks/kube/podcidr-in-network.js'
import {check as overlap} from '../../../src/checks/kube/podcidr-overlap.js'
import {check as publicIp} from '../../../src/checks/kube/public-ip-unique.js'
import {freeSubnet, coveringCidr, suggestNetwork} from '../../../src/checks/lib/kube-helpers.js'
import type {Finding} from '../../../src/checks/types.js'
import type {Avail} from '../../../src/facts/types.js'
import {formatCidr, parseCidr, type Cidr} from '../../../src/lib/ip.js'
import type {Addr, KubeNode, LogFile, Route} from '../../../src/model.js'
import type {NetConf, NetConfFact} from '../../../src/parse/netconf.js'
import {
  addr,
  avail,
  decodedNetConf,
  flannelAnnotations,
  kubeNode,
  manifestNetConfText,
  missing,
  netConfFact,
  parsedNetConfFact,
  route,
  type NodeOpts,
} from '../../support/builders.js'
import {evLines, fixText, oneWithStatus as one, runCheck as run, withStatus as only} from './helpers.js'

// ---------------------------------------------------------------------------------------------------
// Builders

const P = 'flannel.alpha.coreos.com/'
const NODES = 'kubernetes/nodes.json'

/** A node as kubelet reports it (with its Hostname address). */
const node = (name: string, o: Omit<NodeOpts, 'hostname'> = {}): KubeNode =>
  kubeNode(name, {...o, hostname: true})

/** Annotations as flannel v0.28 writes them for a vxlan node. */
const vxlanAnn = (
  publicIP: string,
  mac: string,
  extra: Record<string, string> = {},
): Record<string, string> =>
  flannelAnnotations(publicIP, {vtepMac: mac, extra: {'node.alpha.kubernetes.io/ttl': '0', ...extra}})

/** A flannel-shaped vxlan cluster (addresses of the captures in test/fixtures/outputs/ip-*). */
function cluster(): KubeNode[] {
  return [
    node('node-a', {
      podCIDR: '10.244.1.0/24',
      internal: '10.99.0.11',
      annotations: vxlanAnn('10.99.0.11', '0a:58:0a:f4:01:00'),
    }),
    node('node-b', {
      podCIDR: '10.244.3.0/24',
      internal: '10.99.0.12',
      annotations: vxlanAnn('10.99.0.12', '12:c6:65:89:b4:e3'),
    }),
    node('node-c', {
      podCIDR: '10.244.2.0/24',
      internal: '10.99.0.13',
      annotations: vxlanAnn('10.99.0.13', 'aa:bb:cc:dd:ee:ff'),
    }),
  ]
}

const conf = decodedNetConf

/** net-conf.json as the kube-flannel manifest ships it, with the Network replaced. */
const netConf = (c: NetConf = conf()): NetConfFact => netConfFact(c, {text: manifestNetConfText})

/** `ip route` of node-a (test/fixtures/outputs/ip-route/iproute2-6.1.txt), without its blackhole demo line. */
const ROUTES_A: Route[] = [
  route('default', {gateway: '10.99.0.1', dev: 'eth0', onlink: true}),
  route('10.99.0.0/24', {dev: 'eth0', protocol: 'kernel', scope: 'link', src: '10.99.0.11'}),
  route('10.244.1.0/24', {dev: 'cni0', protocol: 'kernel', scope: 'link', src: '10.244.1.1'}),
  route('10.244.2.0/24', {gateway: '10.244.2.0', dev: 'flannel.1', onlink: true}),
  route('10.244.3.0/24', {gateway: '10.99.0.12', dev: 'eth0'}),
  route('10.244.7.0/24', {gateway: '10.244.7.0', dev: 'flannel.1', onlink: true}),
]

/** `ip addr` of node-a (test/fixtures/outputs/ip-addr/iproute2-6.1.txt). */
const ADDRS_A: Addr[] = [
  addr('lo', '127.0.0.1/8', {raw: 'inet 127.0.0.1/8 scope host lo'}),
  addr('eth0', '10.99.0.11/24'),
  addr('flannel.1', '10.244.1.0/32'),
  addr('cni0', '10.244.1.1/24'),
]

// Log lines as pasted in public issues (test/fixtures/outputs/logs/*.log).
const LOG_1125 = [
  'I0411 06:25:43.171285       1 main.go:514] Determining IP address of default interface',
  'I0411 06:25:43.171778       1 main.go:527] Using interface with name ens5 and address 172.31.23.54',
  'I0411 06:25:44.372668       1 vxlan.go:120] VXLAN config: VNI=1 Port=0 GBP=false DirectRouting=false',
  'E0411 06:25:44.372839       1 main.go:289] Error registering network: failed to acquire lease: node "ip-172-31-23-54" pod cidr not assigned',
]
const LOG_728 = [
  'E0519 00:37:28.550351       1 network.go:102] failed to register network: failed to acquire lease: node "k8s-test-2.novalocal" pod cidr not assigned',
  'E0519 00:37:29.551107       1 network.go:102] failed to register network: failed to acquire lease: node "k8s-test-2.novalocal" pod cidr not assigned',
  'E0519 00:37:30.551851       1 network.go:102] failed to register network: failed to acquire lease: node "k8s-test-2.novalocal" pod cidr not assigned',
]
const logs = (name: string, lines: string[]): Avail<LogFile[]> => avail([{name, lines}], `logs/${name}`)

// ---------------------------------------------------------------------------------------------------

describe('kube helpers', () => {
  const c = (s: string): Cidr => parseCidr(s) as Cidr
  test('freeSubnet hands out the first unused range inside Network', () => {
    const used = [c('10.244.0.0/24'), c('10.244.1.0/24'), c('10.244.3.0/24')]
    assert.equal(formatCidr(freeSubnet(c('10.244.0.0/16'), used, 24) as Cidr), '10.244.2.0/24')
    assert.equal(freeSubnet(c('10.244.0.0/24'), [c('10.244.0.0/24')], 24), undefined)
    assert.equal(
      formatCidr(freeSubnet(c('fd00:10:244::/56'), [c('fd00:10:244::/64')], 64) as Cidr),
      'fd00:10:244:1::/64',
    )
  })
  test('coveringCidr and suggestNetwork', () => {
    assert.equal(formatCidr(coveringCidr([c('10.244.1.0/24'), c('10.244.7.0/24')]) as Cidr), '10.244.0.0/21')
    assert.equal(formatCidr(suggestNetwork(16, [c('10.244.0.0/16')]) as Cidr), '10.42.0.0/16')
  })
})

describe('kube.podcidr-assigned', () => {
  test('passes when every node has a podCIDR', () => {
    const fs = run(assigned, {nodes: cluster(), netConf: netConf()})
    const f = one(fs, 'ok')
    assert.equal(fs.length, 1)
    assert.match(f.message, /All 3 nodes \(node-a, node-b and node-c\) have an IPv4 podCIDR/)
  })

  test('a node without spec.podCIDR fails with a free CIDR inside Network in the fix', () => {
    const nodes = [...cluster(), node('worker-2', {internal: '10.99.0.14'})]
    const f = one(run(assigned, {nodes: avail(nodes, NODES), netConf: netConf()}), 'error')
    assert.equal(f.subject, 'node worker-2')
    assert.match(f.message, /worker-2 has no spec\.podCIDR/)
    assert.deepEqual(evLines(f), ['worker-2 spec.podCIDR=<none>'])
    assert.equal(f.evidence[0]?.source, NODES)
    const fix = fixText(f)
    assert.match(fix, /--allocate-node-cidrs=true --cluster-cidr=10\.244\.0\.0\/16/)
    assert.match(fix, /--pod-network-cidr=10\.244\.0\.0\/16/)
    // 10.244.1-3.0/24 are taken: the first free /24 is 10.244.0.0/24.
    assert.ok(
      fix.includes(
        `kubectl patch node worker-2 -p '{"spec":{"podCIDR":"10.244.0.0/24","podCIDRs":["10.244.0.0/24"]}}'`,
      ),
      fix,
    )
  })

  test('two nodes without podCIDR get different free CIDRs', () => {
    const nodes = [node('a', {podCIDR: '10.244.0.0/24'}), node('b'), node('c')]
    const fs = only(run(assigned, {nodes: avail(nodes, NODES), netConf: netConf()}), 'error')
    assert.equal(fs.length, 2)
    assert.match(fixText(fs[0] as Finding), /"podCIDR":"10\.244\.1\.0\/24"/)
    assert.match(fixText(fs[1] as Finding), /"podCIDR":"10\.244\.2\.0\/24"/)
  })

  test("flannel's log names the node even without node evidence", () => {
    const fs = run(assigned, {
      nodes: missing(
        'the bundle has no kubernetes/nodes.json',
        'kubectl get nodes -o json > kubernetes/nodes.json',
      ),
      netConf: netConf(),
      logs: logs('flannel.log', LOG_1125),
    })
    const f = one(fs, 'error')
    assert.equal(f.subject, 'node ip-172-31-23-54')
    assert.equal(f.evidence[0]?.source, 'logs/flannel.log')
    assert.deepEqual(f.evidence[0]?.lines, [LOG_1125[3]])
    assert.match(fixText(f), /kubectl patch node ip-172-31-23-54 .*"10\.244\.0\.0\/24"/)
    const u = one(fs, 'unknown')
    assert.equal(u.hint, 'kubectl get nodes -o json > kubernetes/nodes.json')
  })

  test('old wording repeated every second is quoted first and last', () => {
    const fs = run(assigned, {nodes: [node('k8s-test-2.novalocal')], logs: logs('flannel.log', LOG_728)})
    const f = one(fs, 'error')
    assert.equal(f.subject, 'node k8s-test-2.novalocal')
    assert.deepEqual(f.evidence[1]?.lines, [LOG_728[0], LOG_728[2]])
    // netConf not available: the cluster CIDR is unknown, so the fix says where it comes from.
    assert.match(fixText(f), /--cluster-cidr=<Network of net-conf\.json>/)
  })

  test('a stale log line for a node that now has a podCIDR is only info', () => {
    const nodes = [node('ip-172-31-23-54', {podCIDR: '10.244.0.0/24'})]
    const fs = run(assigned, {nodes, netConf: netConf(), logs: logs('flannel.log', LOG_1125)})
    assert.equal(only(fs, 'error').length, 0)
    assert.match(one(fs, 'info').message, /now has 10\.244\.0\.0\/24/)
    assert.equal(one(fs, 'ok').status, 'ok')
  })

  test('IPv6 enabled: a node with only an IPv4 podCIDR fails; podcidrs.txt cannot tell', () => {
    const c6 = conf({EnableIPv6: true, IPv6Network: 'fd00:10:244::/56'})
    const nodes = [
      node('dual', {podCIDR: '10.244.0.0/24', podCIDRs: ['10.244.0.0/24', 'fd00:10:244::/64']}),
      node('v4only', {podCIDR: '10.244.1.0/24'}),
    ]
    const f = one(run(assigned, {nodes, netConf: netConf(c6)}), 'error')
    assert.equal(f.subject, 'node v4only')
    assert.match(f.message, /no IPv6 podCIDR .*IPv6 is enabled but the lease has no IPv6/)
    assert.match(fixText(f), /--cluster-cidr=10\.244\.0\.0\/16,fd00:10:244::\/56/)
    assert.match(fixText(f), /kubectl delete node v4only/)

    const partial = [node('w1', {podCIDR: '10.244.1.0/24', partial: true})]
    const fs = run(assigned, {nodes: avail(partial, 'kubernetes/podcidrs.txt'), netConf: netConf(c6)})
    const u = one(fs, 'unknown')
    assert.match(
      u.message,
      /only names and podCIDRs for w1, so whether they have an IPv6 podCIDR could not be evaluated/,
    )
    assert.equal(only(fs, 'error').length, 0)
  })

  test('more than two podCIDRs is refused by flannel', () => {
    const n = node('w', {
      podCIDR: '10.244.1.0/24',
      podCIDRs: ['10.244.1.0/24', '10.244.2.0/24', '10.244.3.0/24'],
    })
    const f = one(run(assigned, {nodes: [n], netConf: netConf()}), 'error')
    assert.match(f.message, /pod cidrs should be IPv4\/IPv6 only or dualstack/)
  })

  test('unknown when the nodes are not available and no log names a node', () => {
    const fs = run(assigned, {nodes: missing('nodes were not collected', 'pass --nodes-file FILE')})
    assert.equal(fs.length, 1)
    assert.equal(fs[0]?.status, 'unknown')
    assert.equal(fs[0]?.hint, 'pass --nodes-file FILE')
    assert.match(fs[0]?.message ?? '', /nodes were not collected/)
  })
})

describe('kube.podcidr-in-network', () => {
  test('passes when every podCIDR is inside Network', () => {
    const f = one(run(inNetwork, {nodes: cluster(), netConf: netConf()}), 'ok')
    assert.match(f.message, /All 3 IPv4 podCIDRs lie inside Network 10\.244\.0\.0\/16/)
    assert.deepEqual(f.evidence[0]?.lines, ['"Network": "10.244.0.0/16",'])
    assert.equal(f.evidence[0]?.source, 'files/etc/kube-flannel/net-conf.json:2')
  })

  test('Network differs from the cluster CIDR: quotes flannel and blames net-conf', () => {
    const nodes = [node('worker-1', {podCIDR: '10.244.1.0/24'}), node('worker-2', {podCIDR: '10.244.2.0/24'})]
    const fs = run(inNetwork, {nodes, netConf: netConf(conf({Network: '10.245.0.0/16'}))})
    const errs = only(fs, 'error')
    assert.equal(errs.length, 2)
    const f = errs[0] as Finding
    assert.equal(f.subject, 'node worker-1')
    assert.ok(
      f.message.includes(
        `subnet "10.245.0.0/16" specified in the flannel net config doesn't contain "10.244.1.0/24" PodCIDR of the "worker-1" node`,
      ),
      f.message,
    )
    assert.deepEqual(evLines(f), ['"Network": "10.245.0.0/16",', 'worker-1 spec.podCIDR=10.244.1.0/24'])
    const fix = fixText(f)
    assert.match(fix, /net-conf's Network is the side to change/)
    assert.match(
      fix,
      /kubectl -n kube-flannel edit cm kube-flannel-cfg {3}# in net-conf\.json set "Network": "10\.244\.0\.0\/16"/,
    )
    assert.match(fix, /kubectl -n kube-flannel rollout restart ds kube-flannel-ds/)
  })

  test('one odd node among many: the node is the side to change', () => {
    const nodes = [...cluster(), node('odd', {podCIDR: '10.250.3.0/24'})]
    const fs = run(inNetwork, {nodes, netConf: netConf()})
    const f = one(fs, 'error')
    assert.equal(f.subject, 'node odd')
    assert.match(fixText(f), /odd's podCIDR is the odd one/)
    assert.match(fixText(f), /kubectl delete node odd/)
    assert.match(one(fs, 'ok').message, /node-a, node-b and node-c lie inside Network/)
  })

  test('a podCIDR wider than Network is not contained (mask length first)', () => {
    const nodes = [node('w', {podCIDR: '10.244.0.0/15'})]
    const f = one(run(inNetwork, {nodes, netConf: netConf()}), 'error')
    assert.match(f.message, /"10\.244\.0\.0\/15" PodCIDR of the "w" node/)
  })

  test('unknown when net-conf is unavailable or does not parse', () => {
    const u = run(inNetwork, {nodes: cluster(), netConf: missing('no net-conf.json', 'pass --net-conf FILE')})
    assert.equal(u.length, 1)
    assert.equal(u[0]?.status, 'unknown')
    assert.equal(u[0]?.hint, 'pass --net-conf FILE')
    const bad = parsedNetConfFact('{\n  # pods\n  "Network": "10.244.0.0/16"\n}\n')
    const v = run(inNetwork, {nodes: cluster(), netConf: bad})
    assert.equal(v[0]?.status, 'unknown')
    assert.match(v[0]?.message ?? '', /line 2, column 3: a '#' comment/)
    assert.match(v[0]?.hint ?? '', /netconf\.json-syntax/)
  })
})

describe('kube.podcidr-overlap', () => {
  test('passes for disjoint podCIDRs', () => {
    const f = one(run(overlap, {nodes: cluster()}), 'ok')
    assert.match(
      f.message,
      /The 3 podCIDRs of 3 nodes overlap none of the others and contain no node address/,
    )
  })

  test('two nodes with the same podCIDR fail, naming both', () => {
    const nodes = [...cluster(), node('node-d', {podCIDR: '10.244.3.0/24', internal: '10.99.0.14'})]
    const f = one(run(overlap, {nodes, netConf: netConf()}), 'error')
    assert.equal(f.subject, 'nodes node-b and node-d')
    assert.match(f.message, /both have podCIDR 10\.244\.3\.0\/24/)
    assert.deepEqual(evLines(f), ['node-b spec.podCIDR=10.244.3.0/24', 'node-d spec.podCIDR=10.244.3.0/24'])
    assert.match(fixText(f), /kubectl delete node node-d/)
    assert.match(fixText(f), /"podCIDR":"10\.244\.0\.0\/24"/)
  })

  test('a podCIDR that contains a node address fails', () => {
    const nodes = [
      node('m', {podCIDR: '192.168.1.0/24', internal: '192.168.1.10'}),
      node('w', {podCIDR: '192.168.2.0/24', internal: '192.168.1.11'}),
    ]
    const errs = only(run(overlap, {nodes}), 'error')
    assert.equal(errs.length, 2)
    assert.equal(errs[0]?.subject, 'node m')
    assert.match(errs[0]?.message ?? '', /contains its own InternalIP 192\.168\.1\.10/)
    assert.match(errs[1]?.message ?? '', /contains node w's InternalIP 192\.168\.1\.11/)
  })

  test('podcidrs.txt: podCIDRs compared, addresses unknown', () => {
    const nodes = [
      node('a', {podCIDR: '10.244.0.0/24', partial: true}),
      node('b', {podCIDR: '10.244.1.0/24', partial: true}),
    ]
    const fs = run(overlap, {nodes: avail(nodes, 'kubernetes/podcidrs.txt')})
    assert.match(
      one(fs, 'unknown').message,
      /a and b, so whether a podCIDR contains a node address could not be evaluated/,
    )
    assert.match(one(fs, 'ok').message, /overlap none of the others\.$/)
  })

  test('unknown without nodes', () => {
    const fs = run(overlap, {nodes: missing('nodes were not collected', 'pass --nodes-file FILE')})
    assert.equal(fs[0]?.status, 'unknown')
    assert.equal(fs[0]?.hint, 'pass --nodes-file FILE')
  })
})

describe('kube.network-overlaps-host', () => {
  const linksA = avail([], 'ip -d -j link show')
  test("passes on a flannel node: flannel's routes, cni0 and DirectRouting are its own", () => {
    const nodes = [
      ...cluster(),
      node('node-d', {
        podCIDR: '10.244.7.0/24',
        internal: '10.99.0.14',
        annotations: vxlanAnn('10.99.0.14', '02:00:00:00:00:07'),
      }),
    ]
    const fs = run(overlapsHost, {
      netConf: netConf(),
      nodes,
      routes: avail(ROUTES_A, 'ip -j route show'),
      addrs: avail(ADDRS_A, 'ip -j addr show'),
      links: linksA,
      host: {origin: 'live', nodeName: 'node-a'},
    })
    const f = one(fs, 'ok')
    assert.equal(fs.length, 1)
    assert.match(f.message, /Network 10\.244\.0\.0\/16 overlaps no node addresses, docker0, host routes/)
  })

  test('a node address inside Network fails and suggests a free range', () => {
    const fs = run(overlapsHost, {
      netConf: netConf(conf({Network: '10.0.0.0/8'})),
      nodes: [node('node-a', {podCIDR: '10.244.1.0/24', internal: '10.99.0.11'})],
      routes: avail([], 'ip -j route show'),
      addrs: avail([], 'ip -j addr show'),
    })
    const f = one(fs, 'error')
    assert.equal(f.subject, 'node node-a')
    assert.match(f.message, /InternalIP 10\.99\.0\.11 lies inside Network 10\.0\.0\.0\/8/)
    assert.deepEqual(evLines(f), [
      '"Network": "10.0.0.0/8",',
      'node-a status.addresses InternalIP=10.99.0.11',
    ])
    assert.match(fixText(f), /in net-conf\.json set "Network": "10\.244\.0\.0\/16"/)
  })

  test("docker0's bip inside Network fails with a bip outside it", () => {
    const docker = addr('docker0', '172.17.0.1/16', {
      raw: 'inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0',
    })
    const dockerRoute = route('172.17.0.0/16', {
      dev: 'docker0',
      protocol: 'kernel',
      raw: '172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1',
    })
    const fs = run(overlapsHost, {
      netConf: netConf(conf({Network: '172.16.0.0/12'})),
      nodes: [node('n1', {podCIDR: '172.16.1.0/24', internal: '192.168.56.74'})],
      routes: avail([dockerRoute], 'ip -j route show'),
      addrs: avail([docker], 'ip -j addr show'),
    })
    const f = one(fs, 'error')
    assert.equal(f.subject, 'docker0')
    assert.match(f.message, /docker0 has 172\.17\.0\.1\/16, which overlaps Network 172\.16\.0\.0\/12/)
    assert.ok(evLines(f).includes(docker.raw))
    assert.match(fixText(f), /"bip": "192\.168\.250\.1\/24"/)
  })

  test('a foreign route inside Network is an error, a covering route a warning', () => {
    const vpn = route('10.244.5.0/24', {gateway: '192.168.1.1', dev: 'tun0'})
    const wide = route('10.0.0.0/8', {gateway: '10.99.0.1', dev: 'eth0'})
    const fs = run(overlapsHost, {
      netConf: netConf(),
      nodes: cluster(),
      routes: avail([...ROUTES_A.slice(0, 5), vpn, wide], 'ip -j route show'),
      addrs: avail(ADDRS_A, 'ip -j addr show'),
      host: {origin: 'live', nodeName: 'node-a'},
    })
    const e = one(fs, 'error')
    assert.equal(e.subject, 'route 10.244.5.0/24')
    assert.deepEqual(e.evidence[1]?.lines, [vpn.raw])
    assert.match(fixText(e), /^ip route del 10\.244\.5\.0\/24 via 192\.168\.1\.1 dev tun0$/m)
    const w = one(fs, 'warning')
    assert.equal(w.subject, 'route 10.0.0.0/8')
    assert.match(w.message, /covers all of Network 10\.244\.0\.0\/16/)
  })

  test('a blackhole of a subnet that is not this node is foreign; the own one is not', () => {
    const own = route('10.244.1.0/24', {type: 'blackhole'})
    const other = route('10.244.9.0/24', {type: 'blackhole'})
    const fs = run(overlapsHost, {
      netConf: netConf(),
      nodes: cluster(),
      routes: avail([own, other], 'ip -j route show'),
      addrs: avail(ADDRS_A, 'ip -j addr show'),
      host: {origin: 'live', nodeName: 'node-a'},
    })
    const e = one(fs, 'error')
    assert.equal(e.subject, 'route 10.244.9.0/24')
    assert.match(fixText(e), /ip route del blackhole 10\.244\.9\.0\/24/)
  })

  test('unknown parts are reported; net-conf unavailable is unknown', () => {
    const fs = run(overlapsHost, {
      netConf: netConf(),
      nodes: cluster(),
      routes: {
        ok: false,
        state: 'not-installed',
        reason: 'ip is not installed',
        hint: 'apt-get install iproute2',
      },
      addrs: avail(ADDRS_A, 'ip -j addr show'),
    })
    const u = one(fs, 'unknown')
    assert.equal(u.hint, 'apt-get install iproute2')
    assert.match(one(fs, 'ok').message, /overlaps no node addresses, docker0 other/)
    const v = run(overlapsHost, {netConf: missing('no net-conf.json', 'pass --net-conf FILE')})
    assert.equal(v.length, 1)
    assert.equal(v[0]?.status, 'unknown')
    assert.equal(v[0]?.hint, 'pass --net-conf FILE')
  })
})

describe('kube.public-ip-unique', () => {
  test('passes when public IPs are distinct node addresses', () => {
    const f = one(run(publicIp, {nodes: cluster()}), 'ok')
    assert.match(f.message, /The 3 flannel public IPs are distinct/)
  })

  test('Vagrant: every node advertises 10.0.2.15', () => {
    const nodes = [
      node('master', {
        podCIDR: '10.244.0.0/24',
        internal: '192.168.56.10',
        annotations: vxlanAnn('10.0.2.15', '2a:51:0c:8b:05:a6'),
      }),
      node('worker-1', {
        podCIDR: '10.244.1.0/24',
        internal: '192.168.56.11',
        annotations: vxlanAnn('10.0.2.15', '9e:d6:2b:ad:72:25'),
      }),
      node('worker-2', {
        podCIDR: '10.244.2.0/24',
        internal: '192.168.56.12',
        annotations: vxlanAnn('10.0.2.15', 'f2:93:5a:1b:3c:0e'),
      }),
    ]
    const fs = run(publicIp, {nodes})
    const f = one(fs, 'error')
    assert.equal(only(fs, 'warning').length, 0)
    assert.equal(f.subject, 'nodes master, worker-1 and worker-2')
    assert.match(f.message, /all advertise IPv4 public IP 10\.0\.2\.15 \(VirtualBox\/Vagrant's NAT address\)/)
    assert.deepEqual(evLines(f), [
      'master flannel.alpha.coreos.com/public-ip: 10.0.2.15',
      'worker-1 flannel.alpha.coreos.com/public-ip: 10.0.2.15',
      'worker-2 flannel.alpha.coreos.com/public-ip: 10.0.2.15',
    ])
    const fix = fixText(f)
    assert.match(fix, /FLANNELD_IFACE=eth1/)
    assert.match(fix, /FLANNELD_IFACE_CAN_REACH=192\.168\.56\.10/)
    assert.match(
      fix,
      /kubectl annotate node worker-1 flannel\.alpha\.coreos\.com\/public-ip-overwrite=192\.168\.56\.11 --overwrite/,
    )
  })

  test('this node advertising an address it does not hold is an error; other nodes only warn', () => {
    const nodes = [
      node('node-a', {
        podCIDR: '10.244.1.0/24',
        internal: '10.99.0.11',
        annotations: vxlanAnn('203.0.113.7', '0a:58:0a:f4:01:00'),
      }),
      node('node-b', {
        podCIDR: '10.244.3.0/24',
        internal: '10.99.0.12',
        annotations: vxlanAnn('198.51.100.4', '12:c6:65:89:b4:e3'),
      }),
      node('node-c', {
        podCIDR: '10.244.2.0/24',
        internal: '10.99.0.13',
        annotations: vxlanAnn('198.51.100.5', 'aa:bb:cc:dd:ee:ff', {
          [`${P}public-ip-overwrite`]: '198.51.100.5',
        }),
      }),
    ]
    const fs = run(publicIp, {
      nodes,
      host: {origin: 'live', nodeName: 'node-a'},
      addrs: avail(ADDRS_A, 'ip -j addr show'),
    })
    const e = one(fs, 'error')
    assert.equal(e.subject, 'node node-a')
    assert.match(
      e.message,
      /advertises public IP 203\.0\.113\.7, which is neither one of its node addresses nor an address of this host/,
    )
    const w = one(fs, 'warning')
    assert.equal(w.subject, 'node node-b')
    assert.match(w.message, /not among its node addresses \(10\.99\.0\.12\)/)
  })

  test('podcidrs.txt has no annotations: unknown; no nodes: unknown', () => {
    const nodes = [node('a', {podCIDR: '10.244.0.0/24', partial: true})]
    const fs = run(publicIp, {nodes: avail(nodes, 'kubernetes/podcidrs.txt')})
    assert.equal(fs.length, 1)
    assert.equal(fs[0]?.status, 'unknown')
    assert.match(fs[0]?.hint ?? '', /nodes\.json/)
    const v = run(publicIp, {nodes: missing('nodes were not collected', 'pass --nodes-file FILE')})
    assert.equal(v[0]?.status, 'unknown')
    assert.equal(v[0]?.hint, 'pass --nodes-file FILE')
  })
})

describe('kube.flannel-annotations', () => {
  test('passes for a healthy vxlan cluster', () => {
    const f = one(run(annotations, {nodes: cluster(), netConf: netConf()}), 'ok')
    assert.match(
      f.message,
      /All 3 nodes .* carry flannel\.alpha\.coreos\.com\/kube-subnet-manager=true, backend-type "vxlan"/,
    )
  })

  test('a node without flannel annotations, another with a different backend, a third without VtepMAC', () => {
    const nodes = [
      ...cluster(),
      node('worker-3', {podCIDR: '10.244.4.0/24', internal: '10.99.0.15'}),
      node('worker-4', {
        podCIDR: '10.244.5.0/24',
        internal: '10.99.0.16',
        annotations: {
          ...vxlanAnn('10.99.0.16', 'x'),
          [`${P}backend-type`]: 'host-gw',
          [`${P}backend-data`]: 'null',
        },
      }),
      node('worker-5', {
        podCIDR: '10.244.6.0/24',
        internal: '10.99.0.17',
        annotations: vxlanAnn('10.99.0.17', 'not-a-mac'),
      }),
    ]
    const fs = only(run(annotations, {nodes, netConf: netConf()}), 'warning')
    const by = (s: string): Finding => fs.find((f) => f.subject === `node ${s}`) as Finding
    assert.equal(fs.length, 3)
    assert.match(by('worker-3').message, /carries no flannel\.alpha\.coreos\.com\/kube-subnet-manager=true/)
    assert.match(
      fixText(by('worker-3')),
      /kubectl -n kube-flannel get pod -l app=flannel --field-selector spec\.nodeName=worker-3 -o wide/,
    )
    assert.match(
      by('worker-4').message,
      /backend-type is "host-gw" but net-conf Backend\.Type "vxlan" means "vxlan"/,
    )
    assert.deepEqual(evLines(by('worker-4')), [
      'worker-4 flannel.alpha.coreos.com/backend-type: host-gw',
      '"Type": "vxlan"',
    ])
    assert.match(by('worker-5').message, /backend-data has no valid VtepMAC/)
    assert.match(
      fixText(by('worker-5')),
      /delete pod -l app=flannel --field-selector spec\.nodeName=worker-5/,
    )
  })

  test('a node whose flannel uses another --kube-annotation-prefix is ignored by the others', () => {
    const custom = Object.fromEntries(
      Object.entries(vxlanAnn('10.99.0.20', '0e:2a:00:00:00:20')).map(([k, v]) => [
        k.replace(P, 'example.com/flannel-'),
        v,
      ]),
    )
    const nodes = [
      ...cluster(),
      node('odd', {podCIDR: '10.244.9.0/24', internal: '10.99.0.20', annotations: custom}),
    ]
    const f = one(run(annotations, {nodes, netConf: netConf()}), 'warning')
    assert.equal(f.subject, 'node odd')
    assert.match(
      f.message,
      /under prefix example\.com\/flannel-, the others under flannel\.alpha\.coreos\.com\//,
    )
    assert.deepEqual(evLines(f), ['odd example.com/flannel-kube-subnet-manager: true'])
  })

  test('udp writes an empty backend-type', () => {
    const udpNode = node('u', {
      podCIDR: '10.244.0.0/24',
      annotations: {
        [`${P}kube-subnet-manager`]: 'true',
        [`${P}backend-type`]: '',
        [`${P}backend-data`]: 'null',
        [`${P}public-ip`]: '10.0.0.5',
      },
    })
    const fs = run(annotations, {nodes: [udpNode], netConf: netConf(conf({backendType: 'udp'}))})
    assert.equal(one(fs, 'ok').status, 'ok')
    const vx = run(annotations, {nodes: [udpNode], netConf: netConf()})
    assert.match(one(vx, 'warning').message, /backend-type is "" but net-conf Backend\.Type "vxlan"/)
  })

  test('unknown without nodes; net-conf missing still checks the nodes', () => {
    const v = run(annotations, {nodes: missing('nodes were not collected', 'pass --nodes-file FILE')})
    assert.equal(v.length, 1)
    assert.equal(v[0]?.hint, 'pass --nodes-file FILE')
    const fs = run(annotations, {
      nodes: cluster(),
      netConf: missing('no net-conf.json', 'pass --net-conf FILE'),
    })
    assert.equal(one(fs, 'unknown').hint, 'pass --net-conf FILE')
    assert.equal(one(fs, 'ok').status, 'ok')
  })
})

test('kube.podcidr-overlap finds exactly the overlapping pairs and the addresses inside podCIDRs (sweep = brute force)', () => {
  // A deterministic mix of /22, /23 and /24 podCIDRs with collisions, and node addresses some of which
  // fall inside podCIDRs; the sweep must agree with the brute-force answer.
  let seed = 7
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n)
  const nodes: KubeNode[] = []
  for (let i = 0; i < 60; i++) {
    const prefix = 22 + rnd(3)
    const c = parseCidr(`10.${rnd(4)}.${rnd(256)}.0/${prefix}`) as Cidr
    nodes.push(
      node(`n${i}`, {
        podCIDR: formatCidr(c),
        internal: rnd(10) === 0 ? `10.${rnd(4)}.${rnd(256)}.9` : `192.168.${i >> 8}.${i & 255}`,
      }),
    )
  }
  let pairs = 0
  let inside = 0
  const cidrs = nodes.map((n) => parseCidr(n.podCIDR as string) as Cidr)
  for (let i = 0; i < nodes.length; i++)
    for (let j = i + 1; j < nodes.length; j++) {
      const a = cidrs[i] as Cidr
      const b = cidrs[j] as Cidr
      const p = Math.min(a.prefix, b.prefix)
      const m = ((1n << BigInt(p)) - 1n) << BigInt(32 - p)
      if ((a.base & m) === (b.base & m)) pairs++
    }
  for (const c of cidrs)
    for (const n of nodes)
      for (const ad of n.addresses.filter((x) => x.type === 'InternalIP')) {
        const ip = parseCidr(ad.address) as Cidr
        const m = ((1n << BigInt(c.prefix)) - 1n) << BigInt(32 - c.prefix)
        if ((ip.base & m) === c.base) inside++
      }
  assert.ok(pairs > 10 && inside > 0, `the data has overlaps (${pairs}) and addresses inside (${inside})`)
  const errors = only(run(overlap, {nodes}), 'error')
  assert.equal(errors.filter((f) => /overlaps|both have/.test(f.message)).length, pairs)
  assert.equal(errors.filter((f) => /contains/.test(f.message)).length, inside)
})
