/**
 * node.subnet-env — flanneld writes /run/flannel/subnet.env last, once its lease, backend and rules are
 * up: `FLANNEL_NETWORK` (net-conf Network), `FLANNEL_SUBNET` (the node's podCIDR with the first host
 * address, 10.244.1.0/24 → 10.244.1.1/24), the IPv6 pair when IPv6 is enabled, `FLANNEL_MTU` and
 * `FLANNEL_IPMASQ` (flannel-facts §4.1). The flannel CNI plugin reads it for every pod: it splits each
 * line at the first `=`, matches the key exactly, parses the CIDRs and the MTU strictly (a bad value
 * fails every pod), takes FLANNEL_IPMASQ as true only for exactly `true`, and fails with
 * `failed to load flannel 'subnet.env' file: ...` when the file is missing (§4.2). The file is not
 * rewritten until flanneld restarts, so after a config change or a re-registered node it is stale.
 */
import {
  cidrContains,
  firstHost,
  formatCidr,
  normalizeCidr,
  normalizeIP,
  parseCidr,
  type Cidr,
} from '../../lib/ip.js'
import type {KubeNode, SubnetEnv} from '../../model.js'
import {defineCheck, type Evidence, type Finding} from '../types.js'
import {nodeSubnet, selfOf} from '../lib/flannel.js'
import {ev, fail, ok, skip, unavailable, unknown} from '../lib/result.js'
import {netConfKeyEvidence, readNetConf} from '../lib/netconf-read.js'
import {flannelPodCommands, nodeSubject, podCidrLine, restartFlannelOn} from '../lib/wording.js'

const HOST_PATH = '/run/flannel/subnet.env'

interface Fam {
  label: 'IPv4' | 'IPv6'
  network: string
  subnet: string
  confKey: 'Network' | 'IPv6Network'
  podCidr: (n: KubeNode) => Cidr | undefined
}

const FAMS: Fam[] = [
  {
    label: 'IPv4',
    network: 'FLANNEL_NETWORK',
    subnet: 'FLANNEL_SUBNET',
    confKey: 'Network',
    podCidr: (n) => nodeSubnet(n, 4),
  },
  {
    label: 'IPv6',
    network: 'FLANNEL_IPV6_NETWORK',
    subnet: 'FLANNEL_IPV6_SUBNET',
    confKey: 'IPv6Network',
    podCidr: (n) => nodeSubnet(n, 6),
  },
]

interface Seen {
  /** The value as the CNI plugin sees it (everything after the first `=`). */
  value: string
  raw: string
}

/** Entries as the CNI plugin reads them: key = text before the first `=`, exact; the last one wins. */
function cniView(env: SubnetEnv): Map<string, Seen> {
  const m = new Map<string, Seen>()
  for (const e of env.entries) {
    const eq = e.raw.indexOf('=')
    if (eq === -1) continue
    m.set(e.raw.slice(0, eq), {value: e.raw.slice(eq + 1), raw: e.raw})
  }
  return m
}

export const check = defineCheck({
  id: 'node.subnet-env',
  area: 'node',
  title: "/run/flannel/subnet.env is complete and matches net-conf and this node's podCIDR",
  severity: 'error',
  needs: ['subnetEnv', 'netConf', 'nodes', 'host', 'addrs'],
  evaluate(facts) {
    const envA = facts.get('subnetEnv')
    const nodesA = facts.get('nodes')
    const hostA = facts.get('host')
    const self = nodesA.ok ? selfOf(facts, nodesA.value) : undefined
    const selfName =
      self?.node.name ?? (hostA.ok ? (hostA.value.nodeName ?? hostA.value.hostname) : undefined)

    if (!envA.ok) {
      if (envA.state !== 'absent') return [unavailable(HOST_PATH, envA)]
      const where = envA.source ?? HOST_PATH
      const f = fail(
        'error',
        `${where} does not exist, so every new pod on this node fails with "failed to load flannel 'subnet.env' file: open ${HOST_PATH}: no such file or directory": flanneld has not finished starting here.`,
        {
          evidence: [ev(where, [])],
          fix: [
            `# flanneld writes the file last (after lease, backend and rules); its log on this node says where it stopped:`,
            ...flannelPodCommands(selfName),
          ],
        },
      )
      if (selfName !== undefined) f.subject = nodeSubject(selfName)
      return [f]
    }

    const env = envA.value
    const src = envA.source
    const out: Finding[] = []
    const seen = cniView(env)
    const line = (k: string): Evidence => ev(src, [seen.get(k)?.raw ?? `(no ${k} line)`])
    const restart = restartFlannelOn(selfName ?? '<node name>')

    // Lines the CNI plugin ignores or misreads (the parser says why when it can).
    if (env.malformed.length > 0) {
      const one = env.malformed.length === 1 ? env.malformed[0] : undefined
      out.push(
        fail(
          'warning',
          one
            ? `${src} line ${one.line} is not a plain KEY=value line${one.reason ? ` (${one.reason})` : ', so the flannel CNI plugin ignores it'}.`
            : `${src} has ${env.malformed.length} lines that are not plain KEY=value, which the flannel CNI plugin ignores or misreads.`,
          {
            evidence: [
              ev(
                src,
                env.malformed.map((m) => m.raw),
              ),
            ],
            fix: [
              '# flanneld writes KEY=value lines only (no export, quotes, spaces or comments); let it rewrite the file:',
              restart,
            ],
          },
        ),
      )
    }
    const dups = new Map<string, string[]>()
    for (const e of env.entries) dups.set(e.key, [...(dups.get(e.key) ?? []), e.raw])
    for (const [k, raws] of dups)
      if (raws.length > 1 && new Set(raws).size > 1)
        out.push(
          fail('warning', `${src} sets ${k} ${raws.length} times with different values; the last one wins.`, {
            evidence: [ev(src, raws)],
            fix: [restart],
          }),
        )

    const cr = readNetConf(facts, "FLANNEL_NETWORK (compared with net-conf's Network)")
    const conf = cr.ok ? cr.conf : undefined
    if (!cr.ok) out.push(cr.finding)
    const has = (k: string): boolean => seen.has(k)
    const enabled = (f: Fam): boolean =>
      conf
        ? f.label === 'IPv4'
          ? conf.EnableIPv4
          : conf.EnableIPv6
        : f.label === 'IPv4'
          ? has(f.network) || has(f.subnet) || !(has('FLANNEL_IPV6_NETWORK') || has('FLANNEL_IPV6_SUBNET'))
          : has(f.network) || has(f.subnet)

    // Every key for the enabled families.
    const missing: string[] = []
    for (const f of FAMS) if (enabled(f)) for (const k of [f.network, f.subnet]) if (!has(k)) missing.push(k)
    for (const k of ['FLANNEL_MTU', 'FLANNEL_IPMASQ']) if (!has(k)) missing.push(k)
    if (missing.length > 0)
      out.push(
        fail(
          'error',
          `${src} has no ${missing.join(', ')}, so the flannel CNI plugin ${missing.some((k) => k.includes('IPV6')) && missing.every((k) => k.includes('IPV6')) ? 'gives pods no IPv6 address' : `fails every pod with "${HOST_PATH} is missing ${missing.join(', ')}"`}.`,
          {
            evidence: [
              ev(
                src,
                env.entries.map((e) => e.raw),
              ),
            ],
            fix: ['# flanneld writes every key when it starts; rewrite the file by restarting it:', restart],
          },
        ),
      )

    const checked: string[] = []
    for (const f of FAMS) {
      if (!enabled(f)) continue
      const nwSeen = seen.get(f.network)
      const snSeen = seen.get(f.subnet)
      const networks = nwSeen ? nwSeen.value.split(',').map((s) => parseCidr(s)) : []
      const subnet = snSeen ? parseCidr(snSeen.value) : undefined
      const fam = f.label === 'IPv4' ? 4 : 6
      if (nwSeen && networks.some((c) => c?.family !== fam)) {
        out.push(
          fail(
            'error',
            `${f.network}=${JSON.stringify(nwSeen.value)} is not an ${f.label} CIDR, so the CNI plugin fails every pod.`,
            {
              evidence: [line(f.network)],
              fix: [restart],
            },
          ),
        )
        continue
      }
      if (snSeen && (!subnet || subnet.family !== fam)) {
        out.push(
          fail(
            'error',
            `${f.subnet}=${JSON.stringify(snSeen.value)} is not an ${f.label} CIDR, so the CNI plugin fails every pod.`,
            {
              evidence: [line(f.subnet)],
              fix: [restart],
            },
          ),
        )
        continue
      }
      const nets = networks.filter((c): c is Cidr => c !== undefined)
      if (subnet && nets.length > 0 && !nets.some((n) => cidrContains(n, subnet))) {
        out.push(
          fail(
            'error',
            `${f.subnet} ${snSeen?.value ?? ''} lies outside ${f.network} ${nwSeen?.value ?? ''}, so pods get addresses the rest of the cluster does not route as pod addresses.`,
            {evidence: [ev(src, [nwSeen?.raw ?? '', snSeen?.raw ?? ''])], fix: [restart]},
          ),
        )
      } else if (subnet && nets.length > 0) checked.push(`${f.subnet} inside ${f.network}`)

      // FLANNEL_NETWORK = net-conf Network.
      const confValue = conf ? (f.confKey === 'Network' ? conf.Network : conf.IPv6Network) : undefined
      const confNorm = confValue === undefined ? undefined : normalizeCidr(confValue.trim())
      if (cr.ok && nwSeen && confNorm !== undefined) {
        const fileNorm = nets.map(formatCidr)
        if (!fileNorm.includes(confNorm) || fileNorm.length !== 1)
          out.push(
            fail(
              'error',
              `${f.network} is ${nwSeen.value} but net-conf's ${f.confKey} is ${confValue ?? ''}: the file was written by a flanneld that ran with another config, and new pods still get routes for the old network.`,
              {
                evidence: [line(f.network), netConfKeyEvidence(cr.fact, f.confKey, confValue)],
                fix: [
                  '# restart flanneld on this node so it rewrites the file from the current config:',
                  restart,
                ],
              },
            ),
          )
        else checked.push(`${f.network} equal to net-conf ${f.confKey}`)
      }

      // FLANNEL_SUBNET = first host of this node's podCIDR.
      if (!snSeen || !subnet) continue
      if (!nodesA.ok) {
        out.push(
          unavailable(`the Kubernetes nodes (${f.subnet} not compared with this node's podCIDR)`, nodesA),
        )
        continue
      }
      if (!self) {
        out.push(
          unknown(
            `Could not tell which node this host is, so ${f.subnet} was not compared with its podCIDR.`,
            {
              evidence: [line(f.subnet)],
              hint: 'pass --node-name NAME (or run with NODE_NAME set)',
            },
          ),
        )
        continue
      }
      const pod = f.podCidr(self.node)
      if (!pod) {
        out.push(
          skip(
            `Node ${self.node.name} has no ${f.label} podCIDR to compare ${f.subnet} with (see kube.podcidr-assigned).`,
            {
              subject: nodeSubject(self.node.name),
              evidence: [ev(nodesA.source, [podCidrLine(self.node)])],
            },
          ),
        )
        continue
      }
      const want = `${firstHost(pod)}/${pod.prefix}`
      const [ipPart = '', prefixPart = ''] = snSeen.value.split('/')
      const got = `${normalizeIP(ipPart) ?? ipPart}/${prefixPart}`
      if (got !== want) {
        out.push(
          fail(
            'error',
            `${f.subnet} is ${snSeen.value} but node ${self.node.name}'s podCIDR ${formatCidr(pod)} makes it ${want}: the file is older than the node's podCIDR, so new pods get addresses that peers do not route to this node.`,
            {
              subject: nodeSubject(self.node.name),
              evidence: [line(f.subnet), ev(nodesA.source, [podCidrLine(self.node)])],
              fix: [
                restartFlannelOn(self.node.name),
                `# on ${self.node.name}, so the bridge is re-created with the new gateway: sudo ip link delete cni0`,
                `kubectl drain ${self.node.name} --ignore-daemonsets --delete-emptydir-data && kubectl uncordon ${self.node.name}`,
              ],
            },
          ),
        )
      } else checked.push(`${f.subnet} = first host of ${self.node.name}'s podCIDR ${formatCidr(pod)}`)
    }

    const mtu = seen.get('FLANNEL_MTU')
    if (mtu) {
      const n = /^\d+$/.test(mtu.value) ? Number(mtu.value) : NaN
      if (!Number.isInteger(n) || n < 68 || n > 65535)
        out.push(
          fail(
            'error',
            `FLANNEL_MTU=${JSON.stringify(mtu.value)} is not a usable MTU (an integer from 68 to 65535), so pod interfaces cannot be set up.`,
            {
              evidence: [line('FLANNEL_MTU')],
              fix: ['# flanneld computes it from the underlay MTU; rewrite it:', restart],
            },
          ),
        )
      else checked.push(`FLANNEL_MTU ${n}`)
    }
    const masq = seen.get('FLANNEL_IPMASQ')
    if (masq) {
      if (masq.value !== 'true' && masq.value !== 'false')
        out.push(
          fail(
            'warning',
            `FLANNEL_IPMASQ=${JSON.stringify(masq.value)} is neither true nor false; the CNI plugin takes it as false and lets the bridge masquerade pod traffic too.`,
            {
              evidence: [line('FLANNEL_IPMASQ')],
              fix: ['# flanneld writes true/false from its --ip-masq flag; rewrite it:', restart],
            },
          ),
        )
      else checked.push(`FLANNEL_IPMASQ ${masq.value}`)
    }

    if (!out.some((f) => f.status === 'error' || f.status === 'warning'))
      out.push(
        ok(`${src} has every key; ${checked.join('; ')}.`, {
          evidence: [
            ev(
              src,
              env.entries.map((e) => e.raw),
            ),
          ],
        }),
      )
    return out
  },
})
