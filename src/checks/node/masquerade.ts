/**
 * node.masquerade — with `FLANNEL_IPMASQ=true`, flannel's masquerade rules exist for this node's subnet.
 *
 * Why (flannel-facts §5.1, §5.2, §4.1): started with `--ip-masq` (the manifest passes it, subnet.env then
 * says `FLANNEL_IPMASQ=true`), flannel masquerades pod traffic that leaves the pod network and keeps
 * pod↔pod traffic un-NATed. iptables mode: nat chain `FLANNEL-POSTRTG`, reached by a POSTROUTING jump,
 * with six rules built from `FLANNEL_NETWORK` and this node's `FLANNEL_SUBNET`, re-checked every
 * `--iptables-resync` seconds while flanneld runs. nftables mode: chain `postrtg` of table `ip
 * flannel-ipv4` (`ip6 flannel-ipv6`), written once at start. Rules for another subnet are left-overs of
 * an old lease (flannel recycles them only when it sees the change at start); missing rules mean pods
 * reach the outside with their pod IPs (replies never come back) or pod↔pod traffic gets NATed.
 */
import type {IptablesRuleset, IptRule, NftRule, NftRuleset} from '../../model.js'
import {defineCheck, type Finding} from '../types.js'
import {ev, fail, ok, skip, unavailable, unknown} from '../lib/result.js'
import {formatCidr, normalizeCidr} from '../../lib/ip.js'
import {isFlannelNode, nodeSubnet, selfOf} from '../lib/flannel.js'

interface Spec {
  /** Human form, as flannel writes it (iptables -S syntax or nft syntax). */
  text: string
  src?: {cidr: string; neg: boolean}
  dst?: {cidr: string; neg: boolean}
  mark?: boolean
  action: 'return' | 'masquerade'
}

const COMMENT = '-m comment --comment "flanneld masq"'

function iptSpecs(net: string, pod: string, mcast: string): Spec[] {
  const r = (text: string, s: Omit<Spec, 'text'>): Spec => ({text, ...s})
  return [
    r(`-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 ${COMMENT} -j RETURN`, {mark: true, action: 'return'}),
    r(`-A FLANNEL-POSTRTG -s ${pod} -d ${net} ${COMMENT} -j RETURN`, {
      src: {cidr: pod, neg: false},
      dst: {cidr: net, neg: false},
      action: 'return',
    }),
    r(`-A FLANNEL-POSTRTG -s ${net} -d ${pod} ${COMMENT} -j RETURN`, {
      src: {cidr: net, neg: false},
      dst: {cidr: pod, neg: false},
      action: 'return',
    }),
    r(`-A FLANNEL-POSTRTG ! -s ${net} -d ${pod} ${COMMENT} -j RETURN`, {
      src: {cidr: net, neg: true},
      dst: {cidr: pod, neg: false},
      action: 'return',
    }),
    r(`-A FLANNEL-POSTRTG -s ${net} ! -d ${mcast} ${COMMENT} -j MASQUERADE`, {
      src: {cidr: net, neg: false},
      dst: {cidr: mcast, neg: true},
      action: 'masquerade',
    }),
    r(`-A FLANNEL-POSTRTG ! -s ${net} -d ${net} ${COMMENT} -j MASQUERADE`, {
      src: {cidr: net, neg: true},
      dst: {cidr: net, neg: false},
      action: 'masquerade',
    }),
  ]
}

function nftSpecs(net: string, pod: string, mcast: string, ip: 'ip' | 'ip6'): Spec[] {
  const r = (text: string, s: Omit<Spec, 'text'>): Spec => ({text, ...s})
  return [
    r('meta mark 0x00004000 return', {mark: true, action: 'return'}),
    r(`${ip} saddr ${pod} ${ip} daddr ${net} return`, {
      src: {cidr: pod, neg: false},
      dst: {cidr: net, neg: false},
      action: 'return',
    }),
    r(`${ip} saddr ${net} ${ip} daddr ${pod} return`, {
      src: {cidr: net, neg: false},
      dst: {cidr: pod, neg: false},
      action: 'return',
    }),
    r(`${ip} saddr != ${pod} ${ip} daddr ${net} return`, {
      src: {cidr: pod, neg: true},
      dst: {cidr: net, neg: false},
      action: 'return',
    }),
    r(`${ip} saddr ${net} ${ip} daddr != ${mcast} masquerade fully-random`, {
      src: {cidr: net, neg: false},
      dst: {cidr: mcast, neg: true},
      action: 'masquerade',
    }),
    r(`${ip} saddr != ${net} ${ip} daddr ${net} masquerade fully-random`, {
      src: {cidr: net, neg: true},
      dst: {cidr: net, neg: false},
      action: 'masquerade',
    }),
  ]
}

const sameAddr = (want: Spec['src'], got: {value: string; negated: boolean} | undefined): boolean =>
  want === undefined
    ? got === undefined
    : got !== undefined && got.negated === want.neg && normalizeCidr(got.value) === want.cidr

function iptMatches(s: Spec, r: IptRule): boolean {
  const action = r.target === 'RETURN' ? 'return' : r.target === 'MASQUERADE' ? 'masquerade' : undefined
  if (action !== s.action) return false
  if (s.mark)
    return r.matches.some(
      (m) => m.module === 'mark' && /0x4000\/0x4000/.test(m.args) && !m.args.startsWith('!'),
    )
  return sameAddr(s.src, r.source) && sameAddr(s.dst, r.destination)
}

function nftMatches(s: Spec, r: NftRule): boolean {
  if (r.verdict !== s.action) return false
  if (s.mark) return r.other.some((o) => /^meta mark (0x0*4000|16384)$/.test(o))
  const one = (
    v: {value: string[]; negated: boolean} | undefined,
  ): {value: string; negated: boolean} | undefined =>
    v && v.value.length === 1 ? {value: v.value[0] as string, negated: v.negated} : undefined
  return sameAddr(s.src, one(r.saddr)) && sameAddr(s.dst, one(r.daddr))
}

interface Compared {
  missing: Spec[]
  /** Rules in the chain that are none of flannel's expected rules. */
  extra: string[]
  outOfOrder: boolean
}

function compare<R extends {raw: string}>(
  specs: Spec[],
  rules: R[],
  match: (s: Spec, r: R) => boolean,
): Compared {
  const used = new Set<number>()
  const idx: number[] = []
  const missing: Spec[] = []
  for (const s of specs) {
    const i = rules.findIndex((r, k) => !used.has(k) && match(s, r))
    if (i === -1) missing.push(s)
    else {
      used.add(i)
      idx.push(i)
    }
  }
  const extra = rules.filter((_r, k) => !used.has(k)).map((r) => r.raw)
  const outOfOrder = idx.some((v, k) => k > 0 && v < (idx[k - 1] as number))
  return {missing, extra, outOfOrder}
}

interface FamilyNets {
  family: 4 | 6
  net: string
  pod: string
  subnetRaw: string
  /** The node's podCIDR (kube mode) when it differs from FLANNEL_SUBNET. */
  podCIDR?: {cidr: string; node: string}
  mcast: string
}

function restartFix(node: string): string {
  return `kubectl -n kube-flannel delete pod --field-selector spec.nodeName=${node} -l app=flannel   # flannel re-creates its rules at start`
}

function describe(c: Compared, f: FamilyNets, where: string): string[] {
  const pod = f.pod
  const parts: string[] = []
  if (c.missing.length > 0)
    parts.push(
      `${where} lacks ${c.missing.length} of flannel's 6 rules (${c.missing.map((s) => `'${s.text}'`).join(', ')})`,
    )
  const foreign = c.extra.filter((x) => !x.includes(pod))
  if (c.extra.length > 0) {
    const cidrs = [
      ...new Set(
        c.extra.flatMap((x) => x.match(/\d+\.\d+\.\d+\.\d+\/\d+|[0-9a-f:]+:[0-9a-f:]*\/\d+/gi) ?? []),
      ),
    ]
    const old = cidrs.filter((x) => ![undefined, pod, f.net, f.mcast].includes(normalizeCidr(x)))
    const why =
      f.podCIDR && old.length > 0 && old.every((x) => normalizeCidr(x) === f.podCIDR?.cidr)
        ? ` for ${old.join(', ')}, the podCIDR of node ${f.podCIDR.node}: subnet.env is the one that disagrees (see node.subnet-env)`
        : ` for ${old.join(', ')} (left from an old subnet lease?)`
    parts.push(
      `${where} holds ${c.extra.length} other rule${c.extra.length > 1 ? 's' : ''}${foreign.length > 0 && old.length > 0 ? why : ''}`,
    )
  }
  if (c.outOfOrder)
    parts.push(
      `${where} has flannel's rules out of order (the RETURN rules must come before the MASQUERADE rules)`,
    )
  return parts
}

export const check = defineCheck({
  id: 'node.masquerade',
  area: 'node',
  title: "flannel's masquerade rules exist for this node's subnet (when FLANNEL_IPMASQ=true)",
  severity: 'warning',
  needs: ['subnetEnv', 'netConf', 'iptables', 'ip6tables', 'iptablesLegacy', 'nft', 'nodes', 'addrs', 'host'],
  evaluate(facts) {
    const se = facts.get('subnetEnv')
    if (!se.ok) return [unavailable('subnet.env', se)]
    const env = se.value.values
    const envLine = (k: string): string[] => se.value.entries.filter((e) => e.key === k).map((e) => e.raw)
    const ipmasq = env['FLANNEL_IPMASQ']
    if (ipmasq === undefined) {
      return [
        unknown(
          'subnet.env has no FLANNEL_IPMASQ, so it is not known whether flannel masquerades (see node.subnet-env).',
          {evidence: [ev(se.source, [])]},
        ),
      ]
    }
    if (ipmasq !== 'true') {
      return [
        skip(
          `FLANNEL_IPMASQ=${ipmasq}: flannel was started without --ip-masq and writes no masquerade rules.`,
          {evidence: [ev(se.source, envLine('FLANNEL_IPMASQ'))]},
        ),
      ]
    }
    const fams: FamilyNets[] = []
    const bad: string[] = []
    const nodes = facts.get('nodes')
    const found = nodes.ok ? selfOf(facts, nodes.value) : undefined
    const self = found && isFlannelNode(found.node) ? found : undefined
    for (const [family, nk, sk, mcast] of [
      [4, 'FLANNEL_NETWORK', 'FLANNEL_SUBNET', '224.0.0.0/4'],
      [6, 'FLANNEL_IPV6_NETWORK', 'FLANNEL_IPV6_SUBNET', 'ff00::/8'],
    ] as const) {
      const n = env[nk]
      const s = env[sk]
      if (n === undefined && s === undefined) continue
      const net = n === undefined ? undefined : normalizeCidr(n)
      const pod = s === undefined ? undefined : normalizeCidr(s)
      if (net === undefined || pod === undefined) {
        bad.push(`${nk}=${n ?? '(missing)'} ${sk}=${s ?? '(missing)'}`)
        continue
      }
      const entry: FamilyNets = {family, net, pod, subnetRaw: `${sk}=${s}`, mcast}
      // In kube mode flannel's lease is the node's podCIDR: rules for it while subnet.env says otherwise
      // point at subnet.env (node.subnet-env), not at an old lease.
      const leased = self ? nodeSubnet(self.node, family) : undefined
      if (self && leased && formatCidr(leased) !== pod)
        entry.podCIDR = {cidr: formatCidr(leased), node: self.node.name}
      fams.push(entry)
    }
    if (fams.length === 0) {
      return [
        unknown(
          `subnet.env does not give a usable network and subnet (${bad.join('; ') || 'FLANNEL_NETWORK/FLANNEL_SUBNET missing'}); see node.subnet-env.`,
          {evidence: [ev(se.source, [...envLine('FLANNEL_NETWORK'), ...envLine('FLANNEL_SUBNET')])]},
        ),
      ]
    }
    const nc = facts.get('netConf')
    const nft = facts.get('nft')
    const host = facts.get('host')
    const node = host.ok && host.value.nodeName !== undefined ? host.value.nodeName : '<node-name>'
    let nftMode: boolean
    let modeWhy: string
    if (nc.ok && nc.value.result.ok) {
      nftMode = nc.value.result.conf.EnableNFTables
      modeWhy = `EnableNFTables is ${nftMode}`
    } else {
      nftMode =
        nft.ok &&
        nft.value.tables.some(
          (t) =>
            t.name === 'flannel-ipv4' && t.chains.some((c) => c.name === 'postrtg' && c.rules.length > 0),
        )
      modeWhy = nftMode
        ? 'table ip flannel-ipv4 holds postrtg rules'
        : 'net-conf.json not readable, assuming iptables mode'
    }

    const findings: Finding[] = []
    const okParts: string[] = []
    for (const f of fams) {
      const subnetEvidence = ev(se.source, [
        ...envLine(f.family === 4 ? 'FLANNEL_NETWORK' : 'FLANNEL_IPV6_NETWORK'),
        f.subnetRaw,
      ])
      if (nftMode) {
        if (!nft.ok) {
          findings.push(unavailable(`the nftables rules (flannel runs in nftables mode: ${modeWhy})`, nft))
          continue
        }
        const r = checkNft(nft.value, nft.source, f, node, subnetEvidence)
        if ('finding' in r) findings.push(r.finding)
        else okParts.push(r.ok)
        continue
      }
      const key = f.family === 4 ? 'iptables' : 'ip6tables'
      const main = facts.get(key)
      const legacy = f.family === 4 ? facts.get('iptablesLegacy') : undefined
      const views: {cmd: string; rs: IptablesRuleset; source: string}[] = []
      if (main.ok) views.push({cmd: key, rs: main.value, source: main.source})
      if (legacy?.ok) views.push({cmd: 'iptables-legacy', rs: legacy.value, source: legacy.source})
      if (views.length === 0) {
        findings.push(main.ok ? unknown(`No ${key} evidence.`) : unavailable(`the ${key} rules`, main))
        continue
      }
      const withChain = views.find((v) =>
        v.rs.tables.some((t) => t.name === 'nat' && t.chains.some((c) => c.name === 'FLANNEL-POSTRTG')),
      )
      if (!main.ok && !withChain) {
        findings.push(unavailable(`the ${key} rules`, main))
        continue
      }
      const v = withChain ?? views[0]
      if (!v) continue
      const nat = v.rs.tables.find((t) => t.name === 'nat')
      if (!nat && v.rs.form !== 'save') {
        findings.push(
          unknown(
            `The ${v.cmd} capture (${v.rs.form === 'S' ? `${v.cmd} -S` : `${v.cmd} -L`}) has no nat table, where flannel's masquerade rules live.`,
            {
              evidence: [ev(v.source, [])],
              hint: `capture \`${v.cmd}-save\` or \`${v.cmd} -t nat -S\``,
            },
          ),
        )
        continue
      }
      const legacyNote =
        v.cmd === 'iptables-legacy' && main.ok
          ? ' (in iptables-legacy, not in the iptables-nft rules: see node.iptables-backends)'
          : ''
      const chain = nat?.chains.find((c) => c.name === 'FLANNEL-POSTRTG')
      const jump = nat?.chains
        .find((c) => c.name === 'POSTROUTING')
        ?.rules.find((r) => r.target === 'FLANNEL-POSTRTG')
      const specs = iptSpecs(f.net, f.pod, f.mcast)
      const c = compare(specs, chain?.rules ?? [], iptMatches)
      const t = `-t nat`
      const problems: string[] = []
      if (!chain) problems.push(`the nat table has no FLANNEL-POSTRTG chain`)
      else problems.push(...describe(c, f, 'FLANNEL-POSTRTG'))
      if (!jump)
        problems.push(
          `POSTROUTING has no jump to FLANNEL-POSTRTG ('-A POSTROUTING ${COMMENT} -j FLANNEL-POSTRTG')`,
        )
      if (problems.length === 0) {
        okParts.push(
          `${v.cmd} nat FLANNEL-POSTRTG has flannel's six rules for ${f.pod} in ${f.net}${legacyNote}`,
        )
        continue
      }
      const cmd = v.cmd
      const fix: string[] = [restartFix(node), '# or re-create them by hand:']
      fix.push(`${cmd} ${t} -N FLANNEL-POSTRTG 2>/dev/null; ${cmd} ${t} -F FLANNEL-POSTRTG`)
      for (const s of specs) fix.push(`${cmd} ${t} ${s.text}`)
      fix.push(
        `${cmd} ${t} -C POSTROUTING ${COMMENT} -j FLANNEL-POSTRTG || ${cmd} ${t} -A POSTROUTING ${COMMENT} -j FLANNEL-POSTRTG`,
      )
      const evidence = [
        subnetEvidence,
        ev(v.source, [
          ...(jump ? [jump.raw] : []),
          ...(chain ? [chain.raw ?? '', ...chain.rules.map((r) => r.raw)].filter((x) => x !== '') : []),
        ]),
      ]
      findings.push(
        fail(
          'warning',
          `Masquerading for this node's subnet ${f.pod} (${f.subnetRaw}) is not as flannel sets it up${legacyNote}: ${problems.join('; ')}.`,
          {
            subject: `${cmd} nat FLANNEL-POSTRTG`,
            evidence,
            fix,
            hint: 'while flanneld runs it re-adds missing rules every --iptables-resync seconds (default 5): rules that stay missing mean flanneld is not running on this node; rules for another subnet are left from an old lease',
          },
        ),
      )
    }
    if (findings.length > 0) return findings
    return [ok(`flannel's masquerade rules match subnet.env (${okParts.join('; ')}).`)]
  },
})

function checkNft(
  rs: NftRuleset,
  source: string,
  f: FamilyNets,
  node: string,
  subnetEvidence: ReturnType<typeof ev>,
): {ok: string} | {finding: Finding} {
  const tname = f.family === 4 ? 'flannel-ipv4' : 'flannel-ipv6'
  const fam = f.family === 4 ? 'ip' : 'ip6'
  const table = rs.tables.find((t) => t.name === tname && t.family === fam)
  const chain = table?.chains.find((c) => c.name === 'postrtg')
  const specs = nftSpecs(f.net, f.pod, f.mcast, fam)
  const problems: string[] = []
  if (!table) problems.push(`there is no table ${fam} ${tname}`)
  else if (!chain) problems.push(`table ${fam} ${tname} has no postrtg chain`)
  else {
    if (chain.hook !== 'postrouting' || chain.type !== 'nat')
      problems.push(
        `chain postrtg is not a nat chain on the postrouting hook (${chain.raw ?? 'no type line'})`,
      )
    problems.push(...describe(compare(specs, chain.rules, nftMatches), f, `${fam} ${tname} postrtg`))
  }
  if (problems.length === 0)
    return {ok: `${fam} ${tname} postrtg has flannel's six rules for ${f.pod} in ${f.net}`}
  const fix = [
    restartFix(node),
    '# or re-create them by hand:',
    `nft add table ${fam} ${tname}`,
    `nft add chain ${fam} ${tname} postrtg '{ type nat hook postrouting priority srcnat; policy accept; }'`,
    `nft flush chain ${fam} ${tname} postrtg`,
    ...specs.map((s) => `nft add rule ${fam} ${tname} postrtg ${s.text}`),
  ]
  return {
    finding: fail(
      'warning',
      `Masquerading for this node's subnet ${f.pod} (${f.subnetRaw}) is not as flannel sets it up in nftables mode: ${problems.join('; ')}.`,
      {
        subject: `nftables ${fam} ${tname} postrtg`,
        evidence: [
          subnetEvidence,
          ev(source, chain ? [...(chain.raw ? [chain.raw] : []), ...chain.rules.map((r) => r.raw)] : []),
        ],
        fix,
        hint: 'in nftables mode flannel writes these rules once at start (no resync): restart flannel on this node after fixing the cause',
      },
    ),
  }
}
