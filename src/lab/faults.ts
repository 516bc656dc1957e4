/**
 * The lab's fault catalogue: real-world flannel breakages, each put into a lab built by `labUp` exactly as
 * it shows on a real cluster (kernel state inside the lab namespaces, or the lab's own files: net-conf.json,
 * nodes.json, subnet.env, the CNI folder), with the check ids `lab doctor` must report for it across the lab.
 *
 * `expect` lists every check that must be at error or warning on some node, and nothing else may be. A
 * fault whose consequences are real failures of other checks lists those too, and `what` says why (e.g. a
 * node without podCIDR never runs flannel, so it has no subnet.env and no flannel.1).
 *
 * Nodes: `node` is the target (`--node`, default node-1) and `peer` the next node after it (wrapping
 * around), so a fault keeps its shape whichever node it is aimed at.
 *
 * Healing is in heal.ts: a fault's own `heal` undoes what setup and the CNI wiring would not (a policy, a
 * stray table or link, a sysctl), then the lab's pristine files come back, setup runs on every node and the
 * pods are re-wired.
 */
import {join} from 'node:path'

import {ANN, FLANNEL_IPSEC_REQID, parseBackendData} from '../checks/lib/flannel.js'
import {baseAddress, parseCidr} from '../lib/ip.js'
import {flannelIptablesRules} from '../setup/desired.js'
import {
  ipBatch,
  ipsecPolicyLines,
  LabError,
  nodeFiles,
  type ActiveFault,
  type LabDeps,
  type LabState,
  type NodeFiles,
} from './lab.js'
import {type LabBackend, type LabNode, type LabTopology} from './topology.js'

export interface FaultContext {
  t: LabTopology
  /** The node the fault is aimed at. */
  node: LabNode
  /** The next node after it (wrapping around). */
  peer: LabNode
  deps: LabDeps
  files(n: LabNode): NodeFiles
}

export interface Fault {
  name: string
  /** What the fault is, in one line (and why `expect` holds more than one id, when it does). */
  what: string
  /** The exact set of check ids `lab doctor` must report at error or warning level across the lab. */
  expect: string[]
  /** Lab backends it applies to. */
  backends: readonly LabBackend[]
  /** Fewest nodes it needs (default 1). */
  minNodes?: number
  /** Needs at least one pod on the node. */
  needsPods?: boolean
  /** It breaks pod traffic (a probe after heal proves the data path is back). */
  dataPath?: boolean
  apply(ctx: FaultContext): Promise<void>
  /** What setup, the pristine files and the CNI wiring would not put back by themselves. */
  heal?(ctx: FaultContext): Promise<void>
}

const DEV = 'flannel.1'
const ALL: readonly LabBackend[] = ['vxlan', 'host-gw', 'ipsec']
const VXLAN: readonly LabBackend[] = ['vxlan']
const ROUTED: readonly LabBackend[] = ['vxlan', 'host-gw']
const IPSEC: readonly LabBackend[] = ['ipsec']
/** An address no lab node has: a podCIDR "from earlier", an old public IP's host part. */
const STRAY = 250
/** VirtualBox's NAT NIC and the address every Vagrant VM has on it (flannel-facts §10). */
const NAT_NIC = 'enp0s3'
const NAT_IP = '10.0.2.15'

// ---------------------------------------------------------------------------------------------------
// helpers

/** Run argv inside a namespace; LabError when it fails. */
async function inNs(ctx: FaultContext, ns: string, argv: string[], input?: string): Promise<string> {
  const full = ['ip', 'netns', 'exec', ns, ...argv]
  const r = await ctx.deps.runner.run(
    full,
    input === undefined ? {timeoutMs: 20_000} : {input, timeoutMs: 20_000},
  )
  if (r.outcome !== 'ok')
    throw new LabError(
      `${argv.join(' ')} in ${ns} failed (${r.outcome}): ${(r.stderr || r.stdout).trim().split('\n')[0] ?? ''}`,
    )
  return r.stdout
}

/** The same, where a failure only means there was nothing to undo (heal of an entry already gone). */
async function tryInNs(ctx: FaultContext, ns: string, argv: string[]): Promise<boolean> {
  const r = await ctx.deps.runner.run(['ip', 'netns', 'exec', ns, ...argv], {timeoutMs: 20_000})
  return r.outcome === 'ok'
}

/** `ip -force -batch` / `bridge -force -batch` in a namespace: every line runs, missing entries are fine. */
async function forceBatch(
  ctx: FaultContext,
  tool: 'ip' | 'bridge',
  ns: string,
  lines: string[],
): Promise<void> {
  if (lines.length === 0) return
  await ctx.deps.runner.run([tool, '-force', '-n', ns, '-batch', '-'], {
    input: lines.join('\n') + '\n',
    timeoutMs: 30_000,
  })
}

async function bridgeBatch(ctx: FaultContext, ns: string, lines: string[]): Promise<void> {
  if (lines.length === 0) return
  const r = await ctx.deps.runner.run(['bridge', '-n', ns, '-batch', '-'], {
    input: lines.join('\n') + '\n',
    timeoutMs: 30_000,
  })
  if (r.outcome !== 'ok')
    throw new LabError(`bridge -batch in ${ns} failed: ${(r.stderr || r.stdout).trim()}`)
}

async function readFile(ctx: FaultContext, path: string): Promise<string> {
  const r = await ctx.deps.fs.readText(path)
  if (!r.ok) throw new LabError(`${path}: ${r.reason}`)
  return r.text
}

async function editJson(ctx: FaultContext, path: string, edit: (v: Json) => void): Promise<void> {
  const v = JSON.parse(await readFile(ctx, path)) as Json
  edit(v)
  await ctx.deps.fs.writeAtomic(path, JSON.stringify(v, null, 2) + '\n', 0o644)
}

type Json = Record<string, unknown>
const obj = (v: unknown): Json =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {}

/** The node objects of the lab's nodes file, to edit in place. */
function items(v: Json): Json[] {
  return Array.isArray(v['items']) ? (v['items'] as unknown[]).map(obj) : []
}

function nodeObj(v: Json, name: string): {metadata: Json; annotations: Json; spec: Json} {
  const n = items(v).find((x) => obj(x['metadata'])['name'] === name)
  if (!n) throw new LabError(`node ${name} is not in the lab's nodes file`)
  const metadata = obj(n['metadata'])
  if (typeof metadata['annotations'] !== 'object') metadata['annotations'] = {}
  if (typeof n['spec'] !== 'object') n['spec'] = {}
  return {metadata, annotations: obj(metadata['annotations']), spec: obj(n['spec'])}
}

async function editNode(
  ctx: FaultContext,
  name: string,
  edit: (n: ReturnType<typeof nodeObj>) => void,
): Promise<void> {
  await editJson(ctx, ctx.files(ctx.node).nodesFile, (v) => edit(nodeObj(v, name)))
}

/** A node's VtepMAC, as its annotation publishes it. */
async function vtepMac(ctx: FaultContext, n: LabNode): Promise<string> {
  const v = JSON.parse(await readFile(ctx, ctx.files(n).nodesFile)) as Json
  const bd = parseBackendData(nodeObj(v, n.name).annotations[ANN.backendData] as string | undefined)
  const mac = bd.ok ? bd.data?.VtepMAC : undefined
  if (!mac) throw new LabError(`${n.name} publishes no VtepMAC (is this a vxlan lab that is ready?)`)
  return mac.toLowerCase()
}

const base = (cidr: string): string => {
  const c = parseCidr(cidr)
  if (!c) throw new LabError(`bad CIDR ${cidr}`)
  return baseAddress(c)
}

/** Remove what `on` programmed for `peer` (as flannel does when a lease goes away): neighbour, FDB, route. */
async function forgetPeer(
  ctx: FaultContext,
  on: LabNode,
  peer: LabNode,
  mac: string | undefined,
): Promise<void> {
  await forceBatch(ctx, 'ip', on.ns, [
    `route del ${peer.podCIDR}`,
    ...(mac !== undefined ? [`neigh del ${base(peer.podCIDR)} dev ${DEV}`] : []),
  ])
  if (mac !== undefined) await forceBatch(ctx, 'bridge', on.ns, [`fdb del ${mac} dev ${DEV} self`])
}

/** flannel's iptables chains for this node, written whole (iptables-restore --noflush flushes a declared chain). */
async function restoreFlannelChain(ctx: FaultContext, n: LabNode, table: 'nat' | 'filter'): Promise<void> {
  const r = flannelIptablesRules(ctx.t.network, n.podCIDR, {ipMasq: true, forwardRules: true})
  const tb = r.tables.find((x) => x.table === table)
  if (!tb) return
  const save = await inNs(ctx, n.ns, ['iptables-save', '-t', table])
  const lines = [`*${table}`, `:${tb.chain} - [0:0]`, ...tb.rules]
  if (!save.split('\n').some((l) => l.trim() === tb.jump)) lines.push(tb.jump)
  lines.push('COMMIT')
  await inNs(ctx, n.ns, ['iptables-restore', '--noflush', '-w', '5'], lines.join('\n') + '\n')
}

/**
 * flanneld never ran on `n`: no annotations, no subnet.env, no flannel.1, no FLANNEL chains, and its peers
 * never programmed it. Its pods cannot be wired (the CNI plugin fails on the missing subnet.env), so cni0
 * and the veths are gone; the pod namespaces stay, as the sandboxes kubelet keeps retrying.
 */
async function flannelNeverRan(ctx: FaultContext, n: LabNode, dropPodCidr: boolean): Promise<void> {
  const vxlan = ctx.t.options.backend === 'vxlan'
  const mac = vxlan ? await vtepMac(ctx, n) : undefined
  await editNode(ctx, n.name, (o) => {
    for (const k of Object.keys(o.annotations))
      if (k.startsWith('flannel.alpha.coreos.com/')) delete o.annotations[k]
    if (dropPodCidr) {
      delete o.spec['podCIDR']
      delete o.spec['podCIDRs']
    }
  })
  for (const m of ctx.t.nodes) if (m !== n) await forgetPeer(ctx, m, n, mac)
  await ctx.deps.fs.remove(ctx.files(n).subnetEnv)
  await forceBatch(ctx, 'ip', n.ns, [
    ...(vxlan ? [`link del ${DEV}`] : []),
    ...ctx.t.nodes.filter((m) => m !== n).map((m) => `route del ${m.podCIDR}`),
    ...n.pods.map((p) => `link del ${p.hostVeth}`),
    'link del cni0',
  ])
  const drop = [
    ['-t', 'filter', '-D', 'FORWARD', '-m', 'comment', '--comment', 'flanneld forward', '-j', 'FLANNEL-FWD'],
    ['-t', 'filter', '-F', 'FLANNEL-FWD'],
    ['-t', 'filter', '-X', 'FLANNEL-FWD'],
    [
      '-t',
      'nat',
      '-D',
      'POSTROUTING',
      '-m',
      'comment',
      '--comment',
      'flanneld masq',
      '-j',
      'FLANNEL-POSTRTG',
    ],
    ['-t', 'nat', '-F', 'FLANNEL-POSTRTG'],
    ['-t', 'nat', '-X', 'FLANNEL-POSTRTG'],
  ]
  for (const a of drop) await tryInNs(ctx, n.ns, ['iptables', '-w', '5', ...a])
}

// ---------------------------------------------------------------------------------------------------
// the catalogue

/** A fault that loads one `inet` nftables table (a host firewall) into the node; heal deletes that table. */
function nftTableFault(table: string, script: string): Pick<Fault, 'apply' | 'heal'> {
  return {
    apply: async (ctx) => {
      await inNs(ctx, ctx.node.ns, ['nft', '-f', '-'], script)
    },
    heal: async (ctx) => {
      await tryInNs(ctx, ctx.node.ns, ['nft', 'delete', 'table', 'inet', table])
    },
  }
}

export const FAULTS: readonly Fault[] = [
  {
    name: 'forward-drop',
    what: "FORWARD policy DROP (Docker >= 1.13) and flannel's FLANNEL-FWD accept rules gone (--iptables-forward-rules=false)",
    expect: ['node.forward-policy'],
    backends: ALL,
    dataPath: true,
    apply: async (ctx) => {
      await inNs(ctx, ctx.node.ns, ['iptables', '-w', '5', '-P', 'FORWARD', 'DROP'])
      await inNs(ctx, ctx.node.ns, ['iptables', '-w', '5', '-F', 'FLANNEL-FWD'])
    },
    heal: async (ctx) => {
      await inNs(ctx, ctx.node.ns, ['iptables', '-w', '5', '-P', 'FORWARD', 'ACCEPT'])
      await restoreFlannelChain(ctx, ctx.node, 'filter')
    },
  },
  {
    name: 'forward-drop-nft',
    what: "an nftables ruleset (/etc/nftables.conf) with a forward base chain of policy drop: flannel's iptables accepts end only their own chain",
    expect: ['node.forward-policy'],
    backends: ALL,
    dataPath: true,
    ...nftTableFault(
      'filter',
      'table inet filter {\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n\t}\n}\n',
    ),
  },
  {
    name: 'forward-reject-before-flannel',
    what: 'a REJECT rule for all forwarded traffic inserted before the FLANNEL-FWD jump',
    expect: ['node.forward-policy'],
    backends: ALL,
    dataPath: true,
    apply: async (ctx) => {
      await inNs(ctx, ctx.node.ns, ['iptables', '-w', '5', '-I', 'FORWARD', '1', '-j', 'REJECT'])
    },
    heal: async (ctx) => {
      while (await tryInNs(ctx, ctx.node.ns, ['iptables', '-w', '5', '-D', 'FORWARD', '-j', 'REJECT']));
    },
  },
  {
    name: 'block-overlay-port',
    what: 'INPUT drops UDP 8472, the VXLAN port, so peers cannot reach the node',
    expect: ['node.overlay-port'],
    backends: VXLAN,
    dataPath: true,
    apply: async (ctx) => {
      await inNs(ctx, ctx.node.ns, [
        'iptables',
        '-w',
        '5',
        '-I',
        'INPUT',
        '1',
        '-p',
        'udp',
        '--dport',
        '8472',
        '-j',
        'DROP',
      ])
    },
    heal: async (ctx) => {
      const rule = ['-p', 'udp', '--dport', '8472', '-j', 'DROP']
      while (await tryInNs(ctx, ctx.node.ns, ['iptables', '-w', '5', '-D', 'INPUT', ...rule]));
    },
  },
  {
    name: 'block-overlay-port-nft',
    what: 'an nftables input chain drops UDP 8472 (VXLAN)',
    expect: ['node.overlay-port'],
    backends: VXLAN,
    dataPath: true,
    ...nftTableFault(
      'fw',
      'table inet fw {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\tudp dport 8472 drop\n\t}\n}\n',
    ),
  },
  {
    name: 'mtu-veth',
    what: "a pod's host-side veth has an MTU 50 bytes above FLANNEL_MTU (vxlan: the underlay's 1500 instead of 1450)",
    expect: ['node.mtu'],
    backends: ALL,
    needsPods: true,
    apply: async (ctx) => {
      const p = ctx.node.pods[0]
      if (!p) throw new LabError(`${ctx.node.name} has no pod`)
      await inNs(ctx, ctx.node.ns, ['ip', 'link', 'set', p.hostVeth, 'mtu', String(ctx.t.flannelMtu + 50)])
    },
  },
  {
    name: 'mtu-subnet-env',
    what: "subnet.env says FLANNEL_MTU is 50 bytes more than the underlay allows for the backend (vxlan: the underlay's own MTU)",
    expect: ['node.mtu'],
    backends: ROUTED,
    apply: async (ctx) => {
      const p = ctx.files(ctx.node).subnetEnv
      const text = await readFile(ctx, p)
      const re = /^FLANNEL_MTU=\d+$/m
      if (!re.test(text)) throw new LabError(`${p} has no FLANNEL_MTU line`)
      await ctx.deps.fs.writeAtomic(p, text.replace(re, `FLANNEL_MTU=${ctx.t.flannelMtu + 50}`), 0o644)
    },
  },
  {
    name: 'mtu-flannel-device',
    what: 'flannel.1 has an MTU 50 bytes below FLANNEL_MTU',
    expect: ['node.mtu'],
    backends: VXLAN,
    apply: async (ctx) => {
      await inNs(ctx, ctx.node.ns, ['ip', 'link', 'set', DEV, 'mtu', String(ctx.t.flannelMtu - 50)])
    },
  },
  {
    name: 'stale-fdb',
    what: "the FDB entry for the next node's VtepMAC points to its old public IP (.250 on its subnet)",
    expect: ['node.peers'],
    backends: VXLAN,
    minNodes: 2,
    dataPath: true,
    apply: async (ctx) => {
      const mac = await vtepMac(ctx, ctx.peer)
      const old = ctx.peer.ip.replace(/\.\d+$/, `.${STRAY}`)
      await forceBatch(ctx, 'bridge', ctx.node.ns, [`fdb del ${mac} dev ${DEV} self`])
      await inNs(ctx, ctx.node.ns, ['bridge', 'fdb', 'add', mac, 'dev', DEV, 'dst', old, 'self', 'permanent'])
    },
  },
  {
    name: 'missing-fdb',
    what: "the FDB entry for the next node's VtepMAC is missing on flannel.1",
    expect: ['node.peers'],
    backends: VXLAN,
    minNodes: 2,
    dataPath: true,
    apply: async (ctx) => {
      const mac = await vtepMac(ctx, ctx.peer)
      await inNs(ctx, ctx.node.ns, ['bridge', 'fdb', 'del', mac, 'dev', DEV, 'self'])
    },
  },
  {
    name: 'missing-neigh',
    what: "the permanent neighbour entry for the next node's VTEP address is missing on flannel.1",
    expect: ['node.peers'],
    backends: VXLAN,
    minNodes: 2,
    dataPath: true,
    apply: async (ctx) => {
      await inNs(ctx, ctx.node.ns, ['ip', 'neigh', 'del', base(ctx.peer.podCIDR), 'dev', DEV])
    },
  },
  {
    name: 'missing-route',
    what: "the route to the next node's pod subnet is gone",
    expect: ['node.peers'],
    backends: ROUTED,
    minNodes: 2,
    dataPath: true,
    apply: async (ctx) => {
      await inNs(ctx, ctx.node.ns, ['ip', 'route', 'del', ctx.peer.podCIDR])
    },
  },
  {
    name: 'subnet-env-missing',
    what: '/run/flannel/subnet.env does not exist (flanneld not running on this node; its datapath is left from its last run)',
    expect: ['node.subnet-env'],
    backends: ALL,
    apply: async (ctx) => {
      await ctx.deps.fs.remove(ctx.files(ctx.node).subnetEnv)
    },
  },
  {
    name: 'cni0-conflict',
    what: `cni0 holds 10.244.${STRAY}.1/24 from an earlier podCIDR instead of FLANNEL_SUBNET's gateway (new pods fail: "cni0 already has an IP address different from ...")`,
    expect: ['node.cni0'],
    backends: ALL,
    needsPods: true,
    dataPath: true,
    apply: async (ctx) => {
      await ipBatch(ctx.deps, ctx.node.ns, ['addr flush dev cni0', `addr add 10.244.${STRAY}.1/24 dev cni0`])
    },
  },
  {
    name: 'podcidr-missing',
    what: 'the node has no spec.podCIDR (controller-manager without --allocate-node-cidrs): flanneld there never starts, so the node has no flannel annotations (kube.flannel-annotations), no subnet.env, no flannel.1 and no entries for its peers (node.subnet-env, node.vxlan-device, node.peers), and its peers never programmed it',
    expect: [
      'kube.podcidr-assigned',
      'kube.flannel-annotations',
      'node.subnet-env',
      'node.vxlan-device',
      'node.peers',
    ],
    backends: VXLAN,
    minNodes: 2,
    apply: (ctx) => flannelNeverRan(ctx, ctx.node, true),
  },
  {
    name: 'annotations-missing',
    what: "flanneld never ran on the node (its DaemonSet pod does not tolerate the node's taint): no flannel annotations, no subnet.env, no flannel.1, no entries for its peers (node.subnet-env, node.vxlan-device, node.peers), and its peers never programmed it",
    expect: ['kube.flannel-annotations', 'node.subnet-env', 'node.vxlan-device', 'node.peers'],
    backends: VXLAN,
    minNodes: 2,
    apply: (ctx) => flannelNeverRan(ctx, ctx.node, false),
  },
  {
    name: 'podcidr-outside-network',
    what: "the kube-flannel-cfg ConfigMap was edited to Network 10.245.0.0/16 while every podCIDR is in 10.244.0.0/16: flanneld refuses to start again, and every node's subnet.env still says FLANNEL_NETWORK=10.244.0.0/16 from its last start (node.subnet-env)",
    expect: ['kube.podcidr-in-network', 'node.subnet-env'],
    backends: ALL,
    apply: async (ctx) => {
      await editJson(ctx, ctx.files(ctx.node).netConf, (v) => {
        v['Network'] = '10.245.0.0/16'
      })
    },
  },
  {
    name: 'duplicate-public-ip',
    what: 'the node and the next one are Vagrant VMs whose default route is the NAT NIC enp0s3 (10.0.2.15 on every VM): flanneld took it, so both advertise public-ip 10.0.2.15, tunnel from it (node.interface: each warns about the NAT address), and every node programs them at it',
    expect: ['kube.public-ip-unique', 'node.interface'],
    backends: VXLAN,
    minNodes: 3,
    dataPath: true,
    apply: async (ctx) => {
      const dup = [ctx.node, ctx.peer]
      const macs = new Map<string, string>()
      for (const n of ctx.t.nodes) macs.set(n.name, await vtepMac(ctx, n))
      const at = (m: LabNode): string => (dup.includes(m) ? NAT_IP : m.ip)
      for (const n of dup) {
        await editNode(ctx, n.name, (o) => {
          o.annotations[ANN.publicIP] = NAT_IP
        })
        // The NAT NIC with the default route, and flannel.1 bound to it as flanneld creates it there.
        const peers = ctx.t.nodes.filter((m) => m !== n)
        await ipBatch(ctx.deps, n.ns, [
          // No dummy driver everywhere: a veth whose other end (VirtualBox's side) stays in the node.
          `link add ${NAT_NIC} type veth peer name ${NAT_NIC}-vbox`,
          `link set ${NAT_NIC}-vbox up`,
          `addr add ${NAT_IP}/24 dev ${NAT_NIC}`,
          `link set ${NAT_NIC} up`,
          `route replace default via 10.0.2.2 dev ${NAT_NIC}`,
          `link del ${DEV}`,
          `link add ${DEV} address ${macs.get(n.name) ?? ''} mtu ${ctx.t.flannelMtu} type vxlan id 1 local ${NAT_IP} dev ${NAT_NIC} nolearning dstport 8472`,
          `addr add ${base(n.podCIDR)}/32 dev ${DEV}`,
          `link set ${DEV} up`,
          ...peers.map(
            (m) => `neigh add ${base(m.podCIDR)} lladdr ${macs.get(m.name) ?? ''} dev ${DEV} nud permanent`,
          ),
          ...peers.map((m) => `route add ${m.podCIDR} via ${base(m.podCIDR)} dev ${DEV} onlink`),
        ])
        await bridgeBatch(
          ctx,
          n.ns,
          peers.map((m) => `fdb add ${macs.get(m.name) ?? ''} dev ${DEV} dst ${at(m)} self permanent`),
        )
      }
      for (const m of ctx.t.nodes.filter((x) => !dup.includes(x)))
        for (const n of dup) {
          const mac = macs.get(n.name) ?? ''
          await forceBatch(ctx, 'bridge', m.ns, [`fdb del ${mac} dev ${DEV} self`])
          await bridgeBatch(ctx, m.ns, [`fdb add ${mac} dev ${DEV} dst ${NAT_IP} self permanent`])
        }
    },
    // flanneld picks eth0 again once the NAT NIC no longer carries the default route; it recreates
    // flannel.1 there (setup does, from the restored annotations).
    heal: async (ctx) => {
      for (const n of [ctx.node, ctx.peer]) {
        await forceBatch(ctx, 'ip', n.ns, [`link del ${NAT_NIC}`, `link del ${DEV}`])
        await ipBatch(ctx.deps, n.ns, [`route replace default via ${n.gateway} dev eth0`])
      }
    },
  },
  {
    name: 'netconf-comment',
    what: 'the seed\'s net-conf.json: `"Directrouting": true # this parameter` (not JSON: flanneld exits)',
    expect: ['netconf.json-syntax'],
    backends: VXLAN,
    apply: async (ctx) => {
      await ctx.deps.fs.writeAtomic(
        ctx.files(ctx.node).netConf,
        `{\n  "Network": "${ctx.t.network}",\n  "Backend": {\n    "Type": "vxlan",\n    "Directrouting": true # this parameter\n  }\n}\n`,
        0o644,
      )
    },
  },
  {
    name: 'netconf-typo',
    what: 'net-conf.json says "DirectRoute" (flannel ignores it silently)',
    expect: ['netconf.unknown-keys'],
    backends: ALL,
    apply: async (ctx) => {
      await editJson(ctx, ctx.files(ctx.node).netConf, (v) => {
        obj(v['Backend'])['DirectRoute'] = false
      })
    },
  },
  {
    name: 'netconf-removed-backend',
    what: 'Backend.Type "aws-vpc" (removed in flannel v0.20.0): flanneld exits with unknown backend type; the datapath of its last run is left',
    expect: ['netconf.schema'],
    backends: ALL,
    apply: async (ctx) => {
      await editJson(ctx, ctx.files(ctx.node).netConf, (v) => {
        v['Backend'] = {Type: 'aws-vpc'}
      })
    },
  },
  {
    name: 'ip-forward-off',
    what: 'net.ipv4.ip_forward=0 on the node',
    expect: ['node.sysctl'],
    backends: ALL,
    dataPath: true,
    apply: async (ctx) => {
      await inNs(ctx, ctx.node.ns, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=0'])
    },
    heal: async (ctx) => {
      await inNs(ctx, ctx.node.ns, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'])
    },
  },
  {
    name: 'masquerade-missing',
    what: "flannel's FLANNEL-POSTRTG masquerade rules were flushed while FLANNEL_IPMASQ=true",
    expect: ['node.masquerade'],
    backends: ALL,
    apply: async (ctx) => {
      await inNs(ctx, ctx.node.ns, ['iptables', '-w', '5', '-t', 'nat', '-F', 'FLANNEL-POSTRTG'])
    },
    heal: (ctx) => restoreFlannelChain(ctx, ctx.node, 'nat'),
  },
  {
    name: 'conflicting-interface',
    what: 'cilium_vxlan left behind by a previous CNI',
    expect: ['node.conflicting-interfaces'],
    backends: ALL,
    apply: async (ctx) => {
      await inNs(ctx, ctx.node.ns, [
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
    heal: async (ctx) => {
      await tryInNs(ctx, ctx.node.ns, ['ip', 'link', 'del', 'cilium_vxlan'])
    },
  },
  {
    name: 'cni-other-first',
    what: 'a Calico conflist (05-calico.conflist) sorts before 10-flannel.conflist',
    expect: ['cni.config'],
    backends: ALL,
    apply: async (ctx) => {
      const conf = {
        name: 'k8s-pod-network',
        cniVersion: '0.3.1',
        plugins: [{type: 'calico', ipam: {type: 'calico-ipam'}}],
      }
      await ctx.deps.fs.writeAtomic(
        join(ctx.files(ctx.node).cniDir, '05-calico.conflist'),
        JSON.stringify(conf, null, 2) + '\n',
        0o644,
      )
    },
  },
  {
    name: 'host-route-into-network',
    what: 'a static route to an office LAN, 10.244.100.0/24 via the router on eth0, lies inside Network 10.244.0.0/16',
    expect: ['kube.network-overlaps-host'],
    // host-gw: node.peers also takes it for a route flannel left for a gone node (see the lab report).
    backends: ['vxlan', 'ipsec'],
    apply: async (ctx) => {
      await inNs(ctx, ctx.node.ns, [
        'ip',
        'route',
        'add',
        '10.244.100.0/24',
        'via',
        ctx.node.gateway,
        'dev',
        'eth0',
        'proto',
        'static',
      ])
    },
    heal: async (ctx) => {
      await tryInNs(ctx, ctx.node.ns, ['ip', 'route', 'del', '10.244.100.0/24'])
    },
  },
  {
    name: 'vxlan-wrong-vni',
    what: 'flannel.1 was created with VNI 2 while net-conf asks for VNI 1 (peers and their entries programmed as flannel would)',
    expect: ['node.vxlan-device'],
    backends: VXLAN,
    dataPath: true,
    apply: async (ctx) => {
      const n = ctx.node
      const mac = await vtepMac(ctx, n)
      const peers = ctx.t.nodes.filter((m) => m !== n)
      const peerMacs = await Promise.all(peers.map((m) => vtepMac(ctx, m)))
      await ipBatch(ctx.deps, n.ns, [
        `link del ${DEV}`,
        `link add ${DEV} address ${mac} mtu ${ctx.t.flannelMtu} type vxlan id 2 local ${n.ip} dev eth0 nolearning dstport 8472`,
        `addr add ${base(n.podCIDR)}/32 dev ${DEV}`,
        `link set ${DEV} up`,
        ...peers.map(
          (m, i) => `neigh add ${base(m.podCIDR)} lladdr ${peerMacs[i] ?? ''} dev ${DEV} nud permanent`,
        ),
      ])
      const fdb = peers.map((m, i) => `fdb add ${peerMacs[i] ?? ''} dev ${DEV} dst ${m.ip} self permanent`)
      await bridgeBatch(ctx, n.ns, fdb)
      if (peers.length > 0)
        await ipBatch(
          ctx.deps,
          n.ns,
          peers.map((m) => `route add ${m.podCIDR} via ${base(m.podCIDR)} dev ${DEV} onlink`),
        )
    },
    // flannel recreates a device whose VNI differs; deleting it first is the documented fix.
    heal: async (ctx) => {
      await tryInNs(ctx, ctx.node.ns, ['ip', 'link', 'del', DEV])
    },
  },
  {
    name: 'xfrm-missing-policy',
    what: "the fwd xfrm policy for the next node's subnet was deleted (flanneld does not put it back until it restarts)",
    expect: ['node.xfrm'],
    backends: IPSEC,
    minNodes: 2,
    dataPath: true,
    apply: async (ctx) => {
      await inNs(ctx, ctx.node.ns, [
        'ip',
        'xfrm',
        'policy',
        'del',
        'src',
        ctx.peer.podCIDR,
        'dst',
        ctx.node.podCIDR,
        'dir',
        'fwd',
      ])
    },
  },
  {
    name: 'xfrm-stale-policy',
    what: `an out policy is left for 10.244.${STRAY}.0/24, a node that is gone (flannel never removes them)`,
    expect: ['node.xfrm'],
    backends: IPSEC,
    apply: async (ctx) => {
      const n = ctx.node
      const gone = n.ip.replace(/\.\d+$/, `.${STRAY}`)
      await inNs(ctx, n.ns, [
        'ip',
        'xfrm',
        'policy',
        'add',
        'src',
        n.podCIDR,
        'dst',
        `10.244.${STRAY}.0/24`,
        'dir',
        'out',
        'tmpl',
        'src',
        n.ip,
        'dst',
        gone,
        'proto',
        'esp',
        'reqid',
        String(FLANNEL_IPSEC_REQID),
        'mode',
        'tunnel',
      ])
    },
  },
]

export function findFault(name: string): Fault | undefined {
  return FAULTS.find((f) => f.name === name)
}

/** The policies flanneld's ipsec backend holds on `n` (what heal puts back after a flush). */
export function ipsecPoliciesOf(t: LabTopology, n: LabNode): string[] {
  return ipsecPolicyLines(
    n,
    t.nodes.filter((m) => m !== n),
  )
}

// ---------------------------------------------------------------------------------------------------
// applying

export function faultContext(state: LabState, dir: string, nodeName: string, deps: LabDeps): FaultContext {
  const t = state.topology
  const i = t.nodes.findIndex((n) => n.name === nodeName)
  if (i < 0)
    throw new LabError(
      `lab "${t.name}" has no node "${nodeName}"; use one of ${t.nodes.map((n) => n.name).join(', ')}`,
      2,
    )
  const at = (k: number): LabNode => t.nodes[(i + k) % t.nodes.length] as LabNode
  return {
    t,
    node: at(0),
    peer: at(1),
    deps,
    files: (n) => nodeFiles(dir, n.name),
  }
}

/** Why this fault cannot go into this lab, or undefined. */
export function faultRefusal(
  f: Fault,
  state: LabState,
  nodeName: string,
  active: readonly ActiveFault[],
): string | undefined {
  const t = state.topology
  if (state.stage !== 'ready')
    return `lab "${t.name}" is ${state.stage}, not ready; rebuild it with lab down and lab up`
  if (!f.backends.includes(t.options.backend))
    return `${f.name} needs a lab with backend ${f.backends.join(' or ')}; lab "${t.name}" runs ${t.options.backend} (lab up --backend ${f.backends[0] ?? 'vxlan'})`
  if (t.nodes.length < (f.minNodes ?? 1))
    return `${f.name} needs at least ${f.minNodes} nodes; lab "${t.name}" has ${t.nodes.length}`
  const node = t.nodes.find((n) => n.name === nodeName)
  if (node && f.needsPods && node.pods.length === 0)
    return `${f.name} needs a pod on ${nodeName}; lab "${t.name}" has --pods-per-node 0`
  if (active.some((a) => a.name === f.name && a.node === nodeName))
    return `${f.name} is already active on ${nodeName}; lab heal undoes it`
  return undefined
}
