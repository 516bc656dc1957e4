/**
 * Faults injected into a healthy namespace cluster (test/support/netns.ts), each with the exact set of
 * check ids doctor must report as failing (error or warning) on node-1 afterwards. Used by the live
 * doctor test and by scripts/make-bundles.mts, which turns each into a scenario bundle.
 */
import {readFile, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {inNs, run, type Cluster} from './netns.js'

export interface Fault {
  name: string
  /** Exact set of failing check ids on node-1. */
  expect: string[]
  backend?: 'vxlan' | 'ipsec'
  /** What the fault does, in one line (goes into the scenario bundle's expect.json). */
  what: string
  apply(c: Cluster): Promise<void>
  /**
   * Real logs to scan, by file name in test/fixtures/outputs/logs/: passed to doctor as `--log` (live test)
   * and to the live source as `logFiles` (make-bundles, so they land in the bundle's logs/).
   */
  logs?: string[]
  /**
   * For a fault this machine's kernel cannot show live: edits the collected bundle (path → text) after
   * collection. The live doctor test skips such faults.
   */
  bundleOnly?: (files: Map<string, string>) => void
}

/** Where `Fault.logs` (and scenario logs) live. */
export const LOG_FIXTURES = new URL('../fixtures/outputs/logs/', import.meta.url).pathname

/** Absolute paths of fixture logs given by file name. */
export const logPaths = (names: readonly string[] = []): string[] => names.map((n) => join(LOG_FIXTURES, n))

const N1 = 'node-1'

async function editJson(path: string, edit: (v: Record<string, unknown>) => void): Promise<void> {
  const v = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>
  edit(v)
  await writeFile(path, JSON.stringify(v, null, 2) + '\n')
}

type NodeObj = {
  metadata: {name: string; annotations: Record<string, string>; labels: Record<string, string>}
  spec: {podCIDR?: string; podCIDRs?: string[]}
  status: {
    addresses: {type: string; address: string}[]
    nodeInfo: {kernelVersion: string; osImage: string; operatingSystem: string; architecture: string}
  }
}

async function editNodes(c: Cluster, edit: (items: NodeObj[]) => void): Promise<void> {
  await editJson(c.files(N1).nodesFile, (v) => edit(v['items'] as NodeObj[]))
}

/** Remove a peer's route, FDB entry and neighbour from node-1 (as flannel does on EventRemoved). */
async function removePeer(c: Cluster, base: string, mac: string, ip: string, subnet: string): Promise<void> {
  const ns = c.nsOf(N1)
  await inNs(ns, ['ip', 'route', 'del', subnet])
  await inNs(ns, ['bridge', 'fdb', 'del', mac, 'dev', 'flannel.1', 'dst', ip, 'self'])
  await inNs(ns, ['ip', 'neigh', 'del', base, 'dev', 'flannel.1'])
}

const node = (items: NodeObj[], name: string): NodeObj => {
  const n = items.find((x) => x.metadata.name === name)
  if (!n) throw new Error(`no node ${name}`)
  return n
}

export const FAULTS: Fault[] = [
  {
    name: 'forward-drop',
    expect: ['node.forward-policy'],
    what: "FORWARD policy DROP and flannel's FLANNEL-FWD accept rules gone (Docker >= 1.13 without --iptables-forward-rules)",
    apply: async (c) => {
      await inNs(c.nsOf(N1), ['iptables', '-P', 'FORWARD', 'DROP'])
      await inNs(c.nsOf(N1), ['iptables', '-F', 'FLANNEL-FWD'])
    },
  },
  {
    name: 'forward-reject-before-flannel',
    expect: ['node.forward-policy'],
    what: 'a REJECT rule for all forwarded traffic inserted before the FLANNEL-FWD jump',
    apply: async (c) => {
      await inNs(c.nsOf(N1), ['iptables', '-I', 'FORWARD', '1', '-j', 'REJECT'])
    },
  },
  {
    name: 'block-overlay-port',
    expect: ['node.overlay-port'],
    what: 'INPUT drops UDP 8472 (VXLAN) from peers',
    apply: async (c) => {
      await inNs(c.nsOf(N1), ['iptables', '-I', 'INPUT', '1', '-p', 'udp', '--dport', '8472', '-j', 'DROP'])
    },
  },
  {
    name: 'block-overlay-port-nft',
    expect: ['node.overlay-port'],
    what: 'an nftables input chain drops UDP 8472',
    apply: async (c) => {
      await inNs(
        c.nsOf(N1),
        ['nft', '-f', '-'],
        'table inet fw {\n chain input {\n  type filter hook input priority 0; policy accept;\n  udp dport 8472 drop\n }\n}\n',
      )
    },
  },
  {
    name: 'mtu-veth',
    expect: ['node.mtu'],
    what: "a pod's host-side veth has MTU 1500 instead of FLANNEL_MTU 1450",
    apply: async (c) => {
      await inNs(c.nsOf(N1), ['ip', 'link', 'set', 'veth0pod', 'mtu', '1500'])
    },
  },
  {
    name: 'mtu-flannel-device',
    expect: ['node.mtu'],
    what: 'flannel.1 has MTU 1400 while FLANNEL_MTU is 1450',
    apply: async (c) => {
      await inNs(c.nsOf(N1), ['ip', 'link', 'set', 'flannel.1', 'mtu', '1400'])
    },
  },
  {
    name: 'mtu-subnet-env',
    expect: ['node.mtu'],
    what: 'subnet.env says FLANNEL_MTU=1500 on a 1500-byte underlay (vxlan needs 1450)',
    apply: async (c) => {
      const p = c.files(N1).subnetEnv
      await writeFile(p, (await readFile(p, 'utf8')).replace('FLANNEL_MTU=1450', 'FLANNEL_MTU=1500'))
    },
  },
  {
    name: 'missing-fdb',
    expect: ['node.peers'],
    what: "node-2's FDB entry is missing on flannel.1",
    apply: async (c) => {
      await inNs(c.nsOf(N1), [
        'bridge',
        'fdb',
        'del',
        '0a:58:0a:f4:02:00',
        'dev',
        'flannel.1',
        'dst',
        '10.99.0.12',
        'self',
      ])
    },
  },
  {
    name: 'stale-neigh',
    expect: ['node.peers'],
    what: "node-2's neighbour entry points to an old VtepMAC",
    apply: async (c) => {
      await inNs(c.nsOf(N1), [
        'ip',
        'neigh',
        'replace',
        '10.244.2.0',
        'lladdr',
        '0a:58:0a:f4:99:99',
        'dev',
        'flannel.1',
        'nud',
        'permanent',
      ])
    },
  },
  {
    name: 'stale-fdb',
    expect: ['node.peers'],
    what: "node-3's FDB entry points to an old public IP",
    apply: async (c) => {
      await inNs(c.nsOf(N1), [
        'bridge',
        'fdb',
        'del',
        '0a:58:0a:f4:03:00',
        'dev',
        'flannel.1',
        'dst',
        '10.99.0.13',
        'self',
      ])
      await inNs(c.nsOf(N1), [
        'bridge',
        'fdb',
        'add',
        '0a:58:0a:f4:03:00',
        'dev',
        'flannel.1',
        'dst',
        '10.99.0.53',
        'self',
        'permanent',
      ])
    },
  },
  {
    name: 'missing-route',
    expect: ['node.peers'],
    what: "the route to node-3's pod subnet is gone",
    apply: async (c) => {
      await inNs(c.nsOf(N1), ['ip', 'route', 'del', '10.244.3.0/24'])
    },
  },
  {
    name: 'cni0-conflict',
    expect: ['node.cni0'],
    what: 'cni0 holds 10.244.9.1/24 from an earlier podCIDR instead of 10.244.1.1/24',
    apply: async (c) => {
      await inNs(c.nsOf(N1), ['ip', 'addr', 'flush', 'dev', 'cni0'])
      await inNs(c.nsOf(N1), ['ip', 'addr', 'add', '10.244.9.1/24', 'dev', 'cni0'])
    },
  },
  {
    name: 'vxlan-wrong-vni',
    expect: ['node.vxlan-device'],
    what: 'flannel.1 was created with VNI 2 while net-conf asks for VNI 1',
    apply: async (c) => {
      const ns = c.nsOf(N1)
      // Recreate the device with the wrong VNI, keeping everything else as flannel programmed it.
      await inNs(ns, ['ip', 'link', 'del', 'flannel.1'])
      const lines = [
        'link add flannel.1 address 0a:58:0a:f4:01:00 mtu 1450 type vxlan id 2 local 10.99.0.11 dev eth0 nolearning dstport 8472',
        'addr add 10.244.1.0/32 dev flannel.1',
        'link set flannel.1 up',
        'neigh add 10.244.2.0 lladdr 0a:58:0a:f4:02:00 dev flannel.1 nud permanent',
        'neigh add 10.244.3.0 lladdr 0a:58:0a:f4:03:00 dev flannel.1 nud permanent',
      ]
      await run(['ip', '-n', ns, '-batch', '-'], lines.join('\n') + '\n')
      await run(
        ['bridge', '-n', ns, '-batch', '-'],
        'fdb add 0a:58:0a:f4:02:00 dev flannel.1 dst 10.99.0.12 self permanent\nfdb add 0a:58:0a:f4:03:00 dev flannel.1 dst 10.99.0.13 self permanent\n',
      )
      await run(
        ['ip', '-n', ns, '-batch', '-'],
        'route add 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink\nroute add 10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink\n',
      )
    },
  },
  {
    name: 'conflicting-interface',
    expect: ['node.conflicting-interfaces'],
    what: 'cilium_vxlan left behind by a previous CNI',
    apply: async (c) => {
      await inNs(c.nsOf(N1), [
        'ip',
        'link',
        'add',
        'cilium_vxlan',
        'type',
        'vxlan',
        'id',
        '2',
        'dstport',
        '8473',
        'nolearning',
      ])
    },
  },
  {
    name: 'ip-forward-off',
    expect: ['node.sysctl'],
    what: 'net.ipv4.ip_forward=0',
    apply: async (c) => {
      await inNs(c.nsOf(N1), ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=0'])
    },
  },
  {
    name: 'masquerade-missing',
    expect: ['node.masquerade'],
    what: "flannel's FLANNEL-POSTRTG masquerade rules were flushed while FLANNEL_IPMASQ=true",
    apply: async (c) => {
      await inNs(c.nsOf(N1), ['iptables', '-t', 'nat', '-F', 'FLANNEL-POSTRTG'])
    },
  },
  {
    name: 'subnet-env-missing',
    expect: ['node.subnet-env'],
    what: '/run/flannel/subnet.env does not exist (flanneld not running on this node)',
    apply: async (c) => {
      await rm(c.files(N1).subnetEnv)
    },
  },
  {
    name: 'subnet-env-wrong-subnet',
    expect: ['node.subnet-env', 'node.cni0', 'node.masquerade'],
    what: "subnet.env's FLANNEL_SUBNET is another subnet than the node's podCIDR (so cni0 and the masquerade rules no longer match it either)",
    apply: async (c) => {
      const p = c.files(N1).subnetEnv
      await writeFile(
        p,
        (await readFile(p, 'utf8')).replace('FLANNEL_SUBNET=10.244.1.1/24', 'FLANNEL_SUBNET=10.244.7.1/24'),
      )
    },
  },
  {
    name: 'netconf-comment',
    expect: ['netconf.json-syntax'],
    what: 'the seed\'s net-conf.json: `"Directrouting": true # this parameter`',
    apply: async (c) => {
      await writeFile(
        c.files(N1).netConf,
        '{\n  "Network": "10.244.0.0/16",\n  "Backend": {\n    "Type": "vxlan",\n    "Directrouting": true # this parameter\n  }\n}\n',
      )
    },
  },
  {
    name: 'netconf-typo',
    expect: ['netconf.unknown-keys'],
    what: 'net-conf.json says "DirectRoute" (flannel ignores it silently)',
    apply: async (c) => {
      await editJson(c.files(N1).netConf, (v) => {
        ;(v['Backend'] as Record<string, unknown>)['DirectRoute'] = false
      })
    },
  },
  {
    name: 'netconf-removed-backend',
    expect: ['netconf.schema'],
    what: 'Backend.Type "aws-vpc" was removed in flannel v0.20.0',
    apply: async (c) => {
      await editJson(c.files(N1).netConf, (v) => {
        v['Backend'] = {Type: 'aws-vpc'}
      })
    },
  },
  {
    name: 'podcidr-missing',
    expect: ['kube.podcidr-assigned', 'kube.flannel-annotations'],
    what: 'node-3 has no spec.podCIDR (controller-manager without --allocate-node-cidrs): flannel there stops before annotating the node, and its peers never program it',
    apply: async (c) => {
      await editNodes(c, (items) => {
        const n = node(items, 'node-3')
        delete n.spec.podCIDR
        delete n.spec.podCIDRs
        for (const k of Object.keys(n.metadata.annotations))
          if (k.startsWith('flannel.alpha.coreos.com/')) delete n.metadata.annotations[k]
      })
      await removePeer(c, '10.244.3.0', '0a:58:0a:f4:03:00', '10.99.0.13', '10.244.3.0/24')
    },
  },
  {
    name: 'podcidr-overlap',
    expect: ['kube.podcidr-overlap'],
    what: "node-3's podCIDR 10.244.0.0/23 overlaps node-1's 10.244.1.0/24 (node-1 programs it as flannel would)",
    apply: async (c) => {
      await editNodes(c, (items) => {
        const n = node(items, 'node-3')
        n.spec.podCIDR = '10.244.0.0/23'
        n.spec.podCIDRs = ['10.244.0.0/23']
      })
      await removePeer(c, '10.244.3.0', '0a:58:0a:f4:03:00', '10.99.0.13', '10.244.3.0/24')
      const ns = c.nsOf(N1)
      await inNs(ns, [
        'ip',
        'neigh',
        'add',
        '10.244.0.0',
        'lladdr',
        '0a:58:0a:f4:03:00',
        'dev',
        'flannel.1',
        'nud',
        'permanent',
      ])
      await inNs(ns, [
        'bridge',
        'fdb',
        'add',
        '0a:58:0a:f4:03:00',
        'dev',
        'flannel.1',
        'dst',
        '10.99.0.13',
        'self',
        'permanent',
      ])
      await inNs(ns, [
        'ip',
        'route',
        'add',
        '10.244.0.0/23',
        'via',
        '10.244.0.0',
        'dev',
        'flannel.1',
        'onlink',
      ])
    },
  },
  {
    name: 'public-ip-duplicate',
    expect: ['kube.public-ip-unique'],
    what: 'node-2 and node-3 both advertise 10.0.2.15 (the Vagrant NAT address)',
    apply: async (c) => {
      await editNodes(c, (items) => {
        for (const name of ['node-2', 'node-3'])
          node(items, name).metadata.annotations['flannel.alpha.coreos.com/public-ip'] = '10.0.2.15'
      })
      // flannel programs peers from the annotations, so node-1's FDB follows them.
      const ns = c.nsOf(N1)
      for (const [mac, ip] of [
        ['0a:58:0a:f4:02:00', '10.99.0.12'],
        ['0a:58:0a:f4:03:00', '10.99.0.13'],
      ] as const) {
        await inNs(ns, ['bridge', 'fdb', 'del', mac, 'dev', 'flannel.1', 'dst', ip, 'self'])
        await inNs(ns, [
          'bridge',
          'fdb',
          'add',
          mac,
          'dev',
          'flannel.1',
          'dst',
          '10.0.2.15',
          'self',
          'permanent',
        ])
      }
    },
  },
  {
    name: 'annotations-missing',
    expect: ['kube.flannel-annotations'],
    what: 'node-3 carries no flannel annotations (flannel never ran there); its peers entries are absent as flannel would leave them',
    apply: async (c) => {
      await editNodes(c, (items) => {
        const n = node(items, 'node-3')
        for (const k of Object.keys(n.metadata.annotations))
          if (k.startsWith('flannel.alpha.coreos.com/')) delete n.metadata.annotations[k]
      })
      await removePeer(c, '10.244.3.0', '0a:58:0a:f4:03:00', '10.99.0.13', '10.244.3.0/24')
    },
  },
  {
    name: 'cni-other-first',
    expect: ['cni.config'],
    what: 'a Calico conflist (05-calico.conflist) sorts before 10-flannel.conflist',
    apply: async (c) => {
      await writeFile(
        join(c.files(N1).cniDir, '05-calico.conflist'),
        JSON.stringify(
          {
            name: 'k8s-pod-network',
            cniVersion: '0.3.1',
            plugins: [{type: 'calico', ipam: {type: 'calico-ipam'}}],
          },
          null,
          2,
        ) + '\n',
      )
    },
  },
  {
    name: 'xfrm-missing-policy',
    backend: 'ipsec',
    expect: ['node.xfrm'],
    what: "the fwd policy for node-2's subnet was deleted",
    apply: async (c) => {
      await inNs(c.nsOf(N1), [
        'ip',
        'xfrm',
        'policy',
        'del',
        'src',
        '10.244.2.0/24',
        'dst',
        '10.244.1.0/24',
        'dir',
        'fwd',
      ])
    },
  },
  {
    name: 'xfrm-stale-policy',
    backend: 'ipsec',
    expect: ['node.xfrm'],
    what: 'policies are left for 10.244.7.0/24, a node that is gone',
    apply: async (c) => {
      await inNs(c.nsOf(N1), [
        'ip',
        'xfrm',
        'policy',
        'add',
        'src',
        '10.244.1.0/24',
        'dst',
        '10.244.7.0/24',
        'dir',
        'out',
        'tmpl',
        'src',
        '10.99.0.11',
        'dst',
        '10.99.0.17',
        'proto',
        'esp',
        'reqid',
        '11',
        'mode',
        'tunnel',
      ])
    },
  },
  {
    name: 'netconf-missing',
    expect: ['netconf.present'],
    what: 'net-conf.json is gone while --net-conf names it (the kube-flannel-cfg ConfigMap lost its net-conf.json key); the datapath flanneld set up at its last start is still in place',
    apply: async (c) => {
      await rm(c.files(N1).netConf)
    },
  },
  {
    name: 'windows-node-default-vni',
    // flannel-annotations is the truth too: node-3 registers VNI 4096, which the Linux nodes' VNI 1 never reaches.
    expect: ['netconf.platform', 'kube.flannel-annotations'],
    what: "node-3 is a Windows node while net-conf leaves VNI and Port at their Linux defaults (1, 8472): flanneld there uses 4096 and 4789 and registers VNI 4096, so its overlay never meets the Linux nodes' overlay",
    apply: async (c) => {
      await editNodes(c, (items) => {
        const n = node(items, 'node-3')
        n.metadata.labels['kubernetes.io/os'] = 'windows'
        n.metadata.labels['node.kubernetes.io/windows-build'] = '10.0.17763'
        n.status.nodeInfo.operatingSystem = 'windows'
        n.status.nodeInfo.osImage = 'Windows Server 2019 Datacenter'
        n.status.nodeInfo.kernelVersion = '10.0.17763.3887'
        // flanneld on Windows registers with its own default VNI (flannel-facts §2.1).
        n.metadata.annotations['flannel.alpha.coreos.com/backend-data'] = JSON.stringify({
          VNI: 4096,
          VtepMAC: '0a:58:0a:f4:03:00',
        })
      })
    },
  },
  {
    name: 'podcidr-outside-network',
    // node.subnet-env is the truth too: subnet.env still says FLANNEL_NETWORK=10.244.0.0/16.
    expect: ['kube.podcidr-in-network', 'node.subnet-env'],
    what: 'on a containerd node (no Docker: FORWARD policy ACCEPT, the kernel default) the kube-flannel-cfg ConfigMap was edited to Network 10.245.0.0/16 while every podCIDR is in 10.244.0.0/16: flanneld refuses to start again, and subnet.env still carries FLANNEL_NETWORK=10.244.0.0/16 from its last start',
    apply: async (c) => {
      // Without Docker nothing sets FORWARD to DROP. (With DROP, node.forward-policy judges FLANNEL-FWD
      // against net-conf's new Network rather than the FLANNEL_NETWORK in effect and fails too.)
      await inNs(c.nsOf(N1), ['iptables', '-P', 'FORWARD', 'ACCEPT'])
      await editJson(c.files(N1).netConf, (v) => {
        v['Network'] = '10.245.0.0/16'
      })
    },
  },
  {
    name: 'host-route-into-network',
    expect: ['kube.network-overlaps-host'],
    what: 'a static route to an office LAN, 10.244.100.0/24 via the router 10.99.0.1 on eth0, lies inside Network 10.244.0.0/16',
    apply: async (c) => {
      await inNs(c.nsOf(N1), [
        'ip',
        'route',
        'add',
        '10.244.100.0/24',
        'via',
        '10.99.0.1',
        'dev',
        'eth0',
        'proto',
        'static',
      ])
    },
  },
  {
    name: 'iptables-split-backends',
    expect: ['node.iptables-backends'],
    what: "kube-proxy (an image with iptables-legacy) wrote its nat rules through iptables-legacy while flannel's rules are in iptables-nft",
    apply: async (c) => {
      await inNs(
        c.nsOf(N1),
        ['iptables-legacy-restore', '--noflush'],
        [
          '*nat',
          ':KUBE-SERVICES - [0:0]',
          ':KUBE-POSTROUTING - [0:0]',
          '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
          '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
          '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
          '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
          '-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0',
          '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
          'COMMIT',
          '',
        ].join('\n'),
      )
    },
  },
  {
    name: 'underlay-moved-to-bridge',
    expect: ['node.interface'],
    what: 'eth0 became a port of a new bridge br0 that took over its address 10.99.0.11 (the host was made a VM host) while flanneld kept running: flannel.1 still sends through eth0',
    apply: async (c) => {
      await run(
        ['ip', '-n', c.nsOf(N1), '-batch', '-'],
        [
          'link add br0 mtu 1500 type bridge',
          'addr del 10.99.0.11/24 dev eth0',
          'link set eth0 master br0',
          'link set br0 up',
          'addr add 10.99.0.11/24 dev br0',
          'route add default via 10.99.0.1 dev br0 onlink',
          '',
        ].join('\n'),
      )
    },
  },
  {
    name: 'log-unauthorized',
    expect: ['logs.known-errors'],
    logs: ['flannel-1797-unauthorized.log'],
    what: "flanneld's log after a restart: the API server rejects its ServiceAccount token (Unauthorized); the datapath of its previous run is still in place",
    apply: async () => {
      // The node itself is unchanged: the fault is in the log passed with --log.
    },
  },
  {
    name: 'checksum-offload-el8',
    expect: ['node.checksum-offload'],
    what: 'the nodes run RHEL 8.4 (kernel 4.18.0-305.el8, affected by the VXLAN checksum bug) with tx-checksum-ip-generic on for flannel.1',
    apply: async () => {
      // Nothing to do live: this machine's kernel is not affected; the bundle is edited by bundleOnly.
    },
    bundleOnly: (files) => {
      const release = '4.18.0-305.el8.x86_64'
      // `uname -a` of RHEL 8.4's GA kernel; the host name is kept from the capture.
      const uname = files.get('commands/uname.txt') ?? ''
      const host = uname.split(' ')[1] ?? 'node-1'
      const line = `Linux ${host} ${release} #1 SMP Thu Apr 29 08:54:30 EDT 2021 x86_64 x86_64 x86_64 GNU/Linux`
      files.set('commands/uname.txt', line + '\n')
      const m = JSON.parse(files.get('manifest.json') ?? '{}') as Record<string, unknown>
      m['uname'] = line
      files.set('manifest.json', JSON.stringify(m, null, 2) + '\n')
      const nodes = JSON.parse(files.get('kubernetes/nodes.json') ?? '{"items":[]}') as {items: NodeObj[]}
      for (const n of nodes.items) {
        n.status.nodeInfo.kernelVersion = release
        n.status.nodeInfo.osImage = 'Red Hat Enterprise Linux 8.4 (Ootpa)'
      }
      files.set('kubernetes/nodes.json', JSON.stringify(nodes, null, 2) + '\n')
      if (!/^\s*tx-checksum-ip-generic: on\b/m.test(files.get('commands/ethtool-flannel.txt') ?? ''))
        throw new Error('expected tx-checksum-ip-generic: on in the captured ethtool -k flannel.1')
    },
  },
]

export function fault(name: string): Fault {
  const f = FAULTS.find((x) => x.name === name)
  if (!f) throw new Error(`no fault ${name}`)
  return f
}
