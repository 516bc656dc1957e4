/**
 * node.overlay-port — the backend's traffic from peer nodes is not dropped on its way in.
 *
 * Why (flannel-facts §10, §2): the encapsulated traffic of the overlay is addressed to this host, so it
 * passes the INPUT chain and every nftables base chain on the input hook: VXLAN on UDP 8472 (or the
 * configured `Port`), the udp backend on UDP 8285 (or `Port`), WireGuard on UDP 51820 (IPv6 51821),
 * ipsec on UDP 500 and 4500 plus ESP (IP protocol 50). flannel opens nothing for them itself; a host
 * firewall that drops them breaks pod traffic between nodes in one direction or both, while the nodes
 * still ping each other. The sources are the peers' public IPs (the `public-ip` annotations), so an
 * allow-list that misses a node is found too; without the node list any source is assumed.
 */
import type {NetConf} from '../../parse/netconf.js'
import type {Facts} from '../../facts/types.js'
import {defineCheck, type Finding, type Severity} from '../types.js'
import {ev, fail, ok, skip, unavailable, unknown} from '../lib/result.js'
import {isFlannelNode, nodePublicIP, overlayPorts, peerNodes, selfOf, tunnelDevice} from '../lib/flannel.js'
import type {Family} from '../../lib/ip.js'
import {
  contrary,
  describeWhy,
  evalIptables,
  evalNftHook,
  evidenceLines,
  insertPosition,
  iptDeleteCmd,
  netfilterViews,
  nftDeleteCmd,
  noRulesFinding,
  ruleText,
  underlayInterface,
  usesFirewalld,
  type Evaluation,
  type MaybeStep,
  type Packet,
  type Views,
} from '../lib/netfilter.js'

interface Peer {
  name?: string
  ip?: string
}

interface PortSpec {
  proto: 'udp' | 'esp'
  port?: number
  why: string
}

const portText = (p: PortSpec): string =>
  p.proto === 'esp' ? 'ESP (IP protocol 50, ipsec)' : `udp ${p.port} (${p.why})`

function peersText(peers: Peer[]): string {
  if (peers.length === 1 && peers[0]?.ip === undefined) return 'any address'
  const shown = peers
    .slice(0, 5)
    .map((p) => (p.name !== undefined ? `${p.ip} (node ${p.name})` : (p.ip ?? 'any address')))
  return peers.length > 5 ? `${shown.join(', ')} and ${peers.length - 5} more` : shown.join(', ')
}

/** Peers' tunnel endpoints, or `undefined` when the node list cannot tell them. */
function peerList(facts: Facts, family: Family): {peers: Peer[]; note?: string} | {none: string} {
  const nodes = facts.get('nodes')
  if (!nodes.ok)
    return {
      peers: [{}],
      note: `peer addresses unknown (${nodes.reason}): evaluated for traffic from any address`,
    }
  const flannelNodes = nodes.value.filter(isFlannelNode)
  if (flannelNodes.length === 0)
    return {
      peers: [{}],
      note: 'no node carries flannel annotations yet: evaluated for traffic from any address',
    }
  const self = selfOf(facts, nodes.value)
  const peers: Peer[] = []
  for (const n of peerNodes(nodes.value, self?.node)) {
    const ip = nodePublicIP(n, family)
    if (ip !== undefined) peers.push({name: n.name, ip})
  }
  if (peers.length === 0) return {none: `no other flannel node has an IPv${family} public-ip annotation`}
  const out: {peers: Peer[]; note?: string} = {peers}
  if (!self)
    out.note = 'this node could not be identified among the nodes: every flannel node was taken as a peer'
  return out
}

function portsFor(conf: NetConf, family: Family): PortSpec[] {
  const all = overlayPorts(conf)
  if (family === 4) return all.filter((p) => !/IPv6/.test(p.why))
  if (conf.backendType === 'vxlan') return all
  if (conf.backendType === 'wireguard') return all.filter((p) => /IPv6/.test(p.why))
  return []
}

interface Problem {
  severity: Severity
  peers: Peer[]
  make: (peers: Peer[]) => Finding
}

export const check = defineCheck({
  id: 'node.overlay-port',
  area: 'node',
  title: "No INPUT rule or nftables input hook drops the backend's traffic from peer nodes",
  severity: 'error',
  needs: ['netConf', 'iptables', 'ip6tables', 'iptablesLegacy', 'nft', 'nodes', 'addrs', 'host'],
  evaluate(facts) {
    const nc = facts.get('netConf')
    if (!nc.ok) return [unavailable('net-conf.json (for the backend and its port)', nc)]
    if (!nc.value.result.ok) {
      return [
        unknown(
          'net-conf.json does not parse, so the backend and its port are not known (see netconf.json-syntax).',
          {evidence: [ev(nc.value.source, [])]},
        ),
      ]
    }
    const conf = nc.value.result.conf
    if (overlayPorts(conf).length === 0) {
      const why =
        conf.backendType === 'host-gw'
          ? ' (host-gw routes plain pod packets; the nodes must share an L2 segment)'
          : ''
      return [
        skip(
          `The ${conf.backendType || 'configured'} backend receives no encapsulated traffic on a port${why}.`,
        ),
      ]
    }
    const tun = tunnelDevice(conf)
    const findings: Finding[] = []
    const okParts: string[] = []
    /** Accepted traffic, grouped: `what|where|decider` → peers. */
    const accepted = new Map<string, {what: string; where: string; decider: string; peers: Peer[]}>()
    const okEvidence: ReturnType<typeof ev>[] = []
    const families: Family[] =
      conf.EnableIPv6 && conf.EnableIPv4 === false ? [6] : conf.EnableIPv6 ? [4, 6] : [4]
    for (const family of families) {
      const ports = portsFor(conf, family)
      if (ports.length === 0) continue
      const views = netfilterViews(facts, family)
      const none = noRulesFinding(views, family)
      if (none) {
        findings.push(none)
        continue
      }
      const listed = peerList(facts, family)
      if ('none' in listed) {
        findings.push(skip(`No peer to receive overlay traffic from: ${listed.none}.`))
        continue
      }
      const pl: {peers: Peer[]; note?: string} = listed
      const underlay = underlayInterface(facts, family)
      const notIn = ['lo', 'cni0', ...(tun !== undefined ? [tun] : [])]
      const problems = new Map<string, Problem>()
      const add = (key: string, severity: Severity, peer: Peer, make: (peers: Peer[]) => Finding): void => {
        const p = problems.get(key)
        if (p) p.peers.push(peer)
        else problems.set(key, {severity, peers: [peer], make})
      }
      for (const port of ports) {
        const what = portText(port)
        for (const peer of pl.peers) {
          const p: Packet = {proto: port.proto, state: 'new', inIfaceNot: notIn}
          if (peer.ip !== undefined) p.src = peer.ip
          if (port.port !== undefined) p.dport = port.port
          if (underlay !== undefined) p.inIface = underlay
          for (const v of views.ipt) {
            const e = evalIptables(v.rs, 'filter', 'INPUT', p)
            judge(e, `${v.cmd} INPUT`, v.source, (peers, sev, msg) => ({
              subject: what,
              fix: iptFix(v.cmd, e, port, peers, views),
              evidence: [ev(v.source, evidenceLines(e, sev === 'error' ? [] : contrary(e)))],
              message: msg,
            }))
          }
          if (views.nft) {
            const nv = views.nft
            const h = evalNftHook(nv.rs, 'input', p, {includeIptablesManaged: nv.includeIptablesManaged})
            const d = h.decidedBy
            if (d) {
              judge(
                d.evaluation,
                `nftables ${d.id} (hook input, priority ${d.chain.priority ?? 0})`,
                nv.source,
                (peers, sev, msg) => ({
                  subject: what,
                  fix: nftFix(
                    d.table.family,
                    d.table.name,
                    d.chain.name,
                    d.evaluation,
                    port,
                    peers,
                    family,
                    d.table.sets ?? [],
                    views,
                  ),
                  evidence: [
                    ev(nv.source, evidenceLines(d.evaluation, sev === 'error' ? [] : contrary(d.evaluation))),
                  ],
                  message: msg,
                }),
              )
            } else {
              for (const c of h.chains) {
                judge(c.evaluation, `nftables ${c.id}`, nv.source, (peers, sev, msg) => ({
                  subject: what,
                  fix: nftFix(
                    c.table.family,
                    c.table.name,
                    c.chain.name,
                    c.evaluation,
                    port,
                    peers,
                    family,
                    c.table.sets ?? [],
                    views,
                  ),
                  evidence: [ev(nv.source, evidenceLines(c.evaluation, contrary(c.evaluation)))],
                  message: msg,
                }))
              }
            }
          }

          function judge(
            e: Evaluation,
            where: string,
            source: string,
            build: (
              peers: Peer[],
              sev: Severity,
              msg: string,
            ) => {subject: string; fix: string[]; evidence: ReturnType<typeof ev>[]; message: string},
          ): void {
            const against = contrary(e)
            const decider = e.rule ? ruleText(e.rule, e.entry?.chain) : `policy ${e.policy?.policy ?? ''}`
            if (e.verdict === 'unknown') {
              add(`${where}|unknown|${port.proto}${port.port}`, 'info', peer, () =>
                unknown(`Could not evaluate ${where} for ${what}: ${e.reason ?? 'unknown'}.`, {
                  evidence: [ev(source, evidenceLines(e))],
                }),
              )
              return
            }
            if (e.verdict === 'accept') {
              if (against.length === 0) {
                const k = `${what}|${where}|${decider}`
                const a = accepted.get(k)
                if (a) a.peers.push(peer)
                else accepted.set(k, {what, where, decider, peers: [peer]})
                okEvidence.push(ev(source, evidenceLines(e)))
                return
              }
              add(
                `${where}|maybe|${port.proto}${port.port}|${against.map((m) => m.raw).join('|')}`,
                'warning',
                peer,
                (peers) => {
                  const b = build(peers, 'warning', '')
                  return fail(
                    'warning',
                    `${what} from ${peersText(peers)} is accepted by ${where} ${decider}, but ${maybeText(against)} comes first and would ${[...new Set(against.map((m) => m.action.toLowerCase()))].join('/')} it if it matches.`,
                    {subject: b.subject, evidence: b.evidence, fix: b.fix, hint: e.caveats[0] ?? HINT},
                  )
                },
              )
              return
            }
            const accepts = against.filter((m) => !/^(drop|reject)$/i.test(m.action))
            const sev: Severity =
              accepts.length > 0 || (e.rule !== undefined && e.caveats.length > 0) ? 'warning' : 'error'
            add(
              `${where}|${e.verdict}|${e.rule?.raw ?? 'policy'}|${port.proto}${port.port}`,
              sev,
              peer,
              (peers) => {
                const verb = e.verdict === 'reject' ? 'rejected' : 'dropped'
                let msg = e.rule
                  ? `${what} from ${peersText(peers)} is ${verb} by ${where} ${decider}`
                  : `${what} from ${peersText(peers)} is ${verb} by the ${where} policy ${e.policy?.policy ?? ''}: no rule accepts it`
                if (accepts.length > 0) msg += `, unless ${maybeText(accepts)} matches first`
                if (e.rule !== undefined && e.caveats.length > 0)
                  msg += ' (the capture hides interface matches: the rule may apply to some interfaces only)'
                if (pl.note !== undefined) msg += ` (${pl.note})`
                const b = build(peers, sev, msg)
                return fail(sev, `${msg}.`, {
                  subject: b.subject,
                  evidence: b.evidence,
                  fix: b.fix,
                  hint: e.caveats[0] ?? HINT,
                })
              },
            )
          }
        }
      }
      for (const p of problems.values()) findings.push(p.make(p.peers))
      if (problems.size === 0 && pl.note !== undefined) okParts.push(pl.note)
      if (problems.size === 0 && views.notLooked.length > 0)
        okParts.push(`not looked at: ${views.notLooked.join('; ')}`)
    }
    if (findings.length > 0) return findings
    const parts = [...accepted.values()].map(
      (a) => `${a.what} from ${peersText(a.peers)}: ${a.where} accepts (${a.decider})`,
    )
    const uniq = [...new Set([...parts, ...okParts])]
    return [
      ok(
        `Overlay traffic from the peers is accepted on the way in (${uniq.slice(0, 6).join('; ')}${uniq.length > 6 ? '; ...' : ''}).`,
        {evidence: dedupe(okEvidence)},
      ),
    ]
  },
})

const HINT =
  'the overlay traffic of every peer must pass INPUT; after fixing, make the rule permanent in the host firewall configuration ' +
  '(iptables-services, ufw, firewalld, /etc/nftables.conf)'

function maybeText(steps: MaybeStep[]): string {
  return steps.map((m) => `${ruleText(m)} in ${m.chain} (${describeWhy(m.why)})`).join('; ')
}

function dedupe(evs: ReturnType<typeof ev>[]): ReturnType<typeof ev>[] {
  const out = new Map<string, ReturnType<typeof ev>>()
  for (const e of evs) {
    const cur = out.get(e.source)
    if (!cur) out.set(e.source, ev(e.source, e.lines))
    else for (const l of e.lines) if (!cur.lines.includes(l)) cur.lines.push(l)
  }
  return [...out.values()]
}

function firewalldFix(port: PortSpec): string[] {
  return port.proto === 'esp'
    ? ['firewall-cmd --permanent --zone=public --add-protocol=esp && firewall-cmd --reload']
    : [`firewall-cmd --permanent --zone=public --add-port=${port.port}/udp && firewall-cmd --reload`]
}

function iptFix(cmd: string, e: Evaluation, port: PortSpec, peers: Peer[], views: Views): string[] {
  if (usesFirewalld(views)) return firewalldFix(port)
  const pos = insertPosition(e, 'INPUT')
  const ips = peers.map((p) => p.ip).filter((x): x is string => x !== undefined)
  const src = ips.length > 0 ? ` -s ${ips.join(',')}` : ''
  const match = port.proto === 'esp' ? '-p esp' : `-p udp --dport ${port.port}`
  const fix = [`${cmd} -I INPUT ${pos}${src} ${match} -j ACCEPT`]
  if (e.rule && e.verdict !== 'accept') fix.push(`# or remove the rule: ${iptDeleteCmd(cmd, e.rule)}`)
  return fix
}

function nftFix(
  tfam: string,
  table: string,
  chain: string,
  e: Evaluation,
  port: PortSpec,
  peers: Peer[],
  family: Family,
  sets: {name: string; elements: string[]}[],
  views: Views,
): string[] {
  if (usesFirewalld(views)) return firewalldFix(port)
  const ips = peers.map((p) => p.ip).filter((x): x is string => x !== undefined)
  const sel = family === 4 ? 'ip' : 'ip6'
  const src =
    ips.length === 0
      ? ''
      : ips.length === 1
        ? `${sel} saddr ${ips[0]} `
        : `${sel} saddr { ${ips.join(', ')} } `
  const match = port.proto === 'esp' ? 'meta l4proto esp' : `udp dport ${port.port}`
  const fix = [`nft insert rule ${tfam} ${table} ${chain} ${src}${match} accept`]
  if (e.rule && e.verdict !== 'accept') {
    const named = /@([\w-]+)/.exec(e.rule.raw)
    const set = named ? sets.find((s) => s.name === named[1]) : undefined
    if (set && port.port !== undefined && set.elements.includes(String(port.port))) {
      fix.push(
        `# or take the port out of set ${set.name}: nft delete element ${tfam} ${table} ${set.name} { ${port.port} }`,
      )
    } else if (e.rule.handle !== undefined) {
      fix.push(`# or remove the rule: ${nftDeleteCmd(tfam, table, e.rule, e.rule.handle)}`)
    }
  }
  return fix
}
