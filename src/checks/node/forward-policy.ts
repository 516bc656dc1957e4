/**
 * node.forward-policy — pod traffic from and to the flannel network is accepted in FORWARD.
 *
 * Why (flannel-facts §5.1, §5.2, §10): pod packets that cross nodes are forwarded by the host, so the
 * FORWARD chain (and every nftables base chain on the forward hook) must accept them. Docker ≥ 1.13 sets
 * the FORWARD policy to DROP; flannel answers with `-A FORWARD -j FLANNEL-FWD` and two ACCEPT rules for
 * `Network` (`--iptables-forward-rules=true`, the default). They are *appended*, so any earlier DROP or
 * REJECT that matches pod traffic still wins, and flannel never changes the policy (whatever its log
 * says). In nftables mode flannel's `forward` chain accepts `Network`, but an nftables `accept` only ends
 * its own base chain: a DROP in iptables(-nft) FORWARD or in another base chain still drops.
 *
 * The check evaluates four kinds of pod traffic (to and from pods on other nodes, out of and into the
 * pod network), as a new connection's first packet, through iptables (and iptables-legacy when it holds
 * rules) and through the nftables forward hook, and names the rule or policy that decides.
 */
import type {IptablesRuleset, NftRuleset} from '../../model.js'
import {defineCheck, type Finding, type Severity} from '../types.js'
import {ev, fail, ok, unknown} from '../lib/result.js'
import {tunnelDevice} from '../lib/flannel.js'
import {normalizeCidr, parseCidr, type Family} from '../../lib/ip.js'
import {
  contrary,
  describeWhy,
  evalIptables,
  evalNftHook,
  evidenceLines,
  flannelNetworks,
  insertPosition,
  iptDeleteCmd,
  netfilterViews,
  nftDeleteCmd,
  noRulesFinding,
  onlyProtoOrPort,
  ruleText,
  type Evaluation,
  type MaybeStep,
  type Packet,
  underlayInterface,
} from '../lib/netfilter.js'

interface Flow {
  name: string
  p: Packet
}

function flows(net: string, tun: string | undefined, underlay: string | undefined): Flow[] {
  const bridge = 'cni0'
  const remote = tun ?? underlay
  const notPod = [bridge, ...(tun !== undefined ? [tun] : [])]
  const f = (name: string, p: Packet): Flow => ({name, p: {...p, state: 'new'}})
  const opt = <K extends keyof Packet>(k: K, v: Packet[K] | undefined): Partial<Packet> =>
    v === undefined ? {} : {[k]: v}
  return [
    f('pods here → pods on other nodes', {
      src: net,
      dst: net,
      inIface: bridge,
      ...opt('outIface', remote),
      ...(remote === undefined ? {outIfaceNot: [bridge]} : {}),
    }),
    f('pods on other nodes → pods here', {
      src: net,
      dst: net,
      ...opt('inIface', remote),
      ...(remote === undefined ? {inIfaceNot: [bridge]} : {}),
      outIface: bridge,
    }),
    f('pods → outside the pod network', {
      dstNotIn: [net],

      src: net,
      inIface: bridge,
      ...opt('outIface', underlay),
      outIfaceNot: notPod,
    }),
    f('outside → pods', {
      srcNotIn: [net],
      dst: net,
      ...opt('inIface', underlay),
      inIfaceNot: notPod,
      outIface: bridge,
    }),
  ]
}

interface Problem {
  severity: Severity
  key: string
  flows: string[]
  make: (flows: string[]) => Finding
}

const worst = (a: Severity, b: Severity): Severity =>
  a === 'error' || b === 'error' ? 'error' : a === 'warning' || b === 'warning' ? 'warning' : 'info'

function maybeText(steps: MaybeStep[]): string {
  return steps
    .map((m) => {
      const via = m.via.length > 0 ? `, reached through ${m.via.map((v) => `'${v.raw}'`).join(' → ')}` : ''
      return `${ruleText(m)} in ${m.chain}${via} (${describeWhy(m.why)})`
    })
    .join('; ')
}

function acceptsText(
  where: string,
  fs: string[],
  decided: string,
  against: MaybeStep[],
  sev: Severity,
): string {
  if (sev === 'info') {
    return `${where} accepts pod traffic (${fs.join(', ')}) with ${decided}, except what ${maybeText(against)} matches (that depends only on protocol/port: it blocks part of the pod traffic)`
  }
  return (
    `${where} accepts pod traffic (${fs.join(', ')}) with ${decided}, but ${maybeText(against)} ` +
    `${against.length > 1 ? 'come' : 'comes'} first and would ${[...new Set(against.map((m) => m.action.toLowerCase()))].join('/')} it if ${against.length > 1 ? 'they match' : 'it matches'}`
  )
}

/** flannel's own iptables forward rules, as far as the capture shows them. */
function flannelFwdState(rs: IptablesRuleset, net: string): string[] {
  const filter = rs.tables.find((t) => t.name === 'filter')
  const problems: string[] = []
  const fwd = filter?.chains.find((c) => c.name === 'FLANNEL-FWD')
  const jump = filter?.chains.find((c) => c.name === 'FORWARD')?.rules.some((r) => r.target === 'FLANNEL-FWD')
  if (!fwd) return ['there is no FLANNEL-FWD chain']
  if (!jump) problems.push('FORWARD has no jump to FLANNEL-FWD')
  for (const dir of ['source', 'destination'] as const) {
    const has = fwd.rules.some(
      (r) =>
        r.target === 'ACCEPT' &&
        r[dir] !== undefined &&
        !r[dir].negated &&
        normalizeCidr(r[dir].value) === net,
    )
    if (!has) problems.push(`FLANNEL-FWD has no ACCEPT for ${dir === 'source' ? '-s' : '-d'} ${net}`)
  }
  return problems
}

function flannelNftForward(rs: NftRuleset | undefined, family: Family): boolean {
  const t = rs?.tables.find((x) => x.name === (family === 4 ? 'flannel-ipv4' : 'flannel-ipv6'))
  return t?.chains.some((c) => c.name === 'forward' && c.rules.some((r) => r.verdict === 'accept')) ?? false
}

export const check = defineCheck({
  id: 'node.forward-policy',
  area: 'node',
  title:
    'Forwarded pod traffic from and to the flannel network is accepted (iptables FORWARD and nftables forward hook)',
  severity: 'error',
  needs: ['netConf', 'subnetEnv', 'iptables', 'ip6tables', 'iptablesLegacy', 'nft', 'nodes', 'addrs', 'host'],
  evaluate(facts) {
    const nets = flannelNetworks(facts)
    if ('error' in nets) return [nets.error]
    const conf = nets.conf
    const nftMode = conf?.EnableNFTables === true
    const tun = conf ? tunnelDevice(conf) : undefined
    const findings: Finding[] = []
    const okNotes: string[] = []
    const okEvidence: {source: string; lines: string[]}[] = []
    for (const [family, net] of [
      [4, nets.v4],
      [6, nets.v6],
    ] as const) {
      if (net === undefined || !parseCidr(net)) continue
      const views = netfilterViews(facts, family)
      const none = noRulesFinding(views, family)
      if (none) {
        findings.push(none)
        continue
      }
      const fl = flows(net, tun, underlayInterface(facts, family))
      const problems = new Map<string, Problem>()
      const add = (p: Omit<Problem, 'flows'>, flow: string): void => {
        const existing = problems.get(p.key)
        if (existing) {
          if (!existing.flows.includes(flow)) existing.flows.push(flow)
          existing.severity = worst(existing.severity, p.severity)
        } else problems.set(p.key, {...p, flows: [flow]})
      }
      const hint =
        'flannel appends its FORWARD rules (--iptables-forward-rules=true, the default), so earlier DROP/REJECT rules win; ' +
        'make the change permanent in the host firewall configuration (iptables-services, ufw, firewalld, /etc/nftables.conf)'

      // --- iptables (and iptables-legacy) -------------------------------------------------------
      for (const v of views.ipt) {
        const fwdState = nftMode ? [] : flannelFwdState(v.rs, net)
        for (const flow of fl) {
          const e = evalIptables(v.rs, 'filter', 'FORWARD', flow.p)
          const where = `${v.cmd} filter FORWARD`
          if (e.verdict === 'unknown') {
            add(
              {
                severity: 'info',
                key: `${v.cmd}|unknown|${e.reason ?? ''}`,
                make: () =>
                  unknown(`Could not evaluate ${where} for pod traffic: ${e.reason ?? 'unknown'}.`, {
                    evidence: [ev(v.source, evidenceLines(e))],
                  }),
              },
              flow.name,
            )
            continue
          }
          const against = contrary(e)
          if (e.verdict === 'accept') {
            if (against.length === 0) continue
            const sev: Severity = against.every(onlyProtoOrPort) ? 'info' : 'warning'
            add(
              {
                severity: sev,
                key: `${v.cmd}|maybe|${e.rule?.raw ?? ''}|${against.map((m) => m.raw).join('|')}`,
                make: (fs) =>
                  fail(
                    sev,
                    `${acceptsText(where, fs, e.rule ? ruleText(e.rule) : 'its policy', against, sev)}.`,
                    {
                      subject: `${v.cmd} FORWARD`,
                      evidence: [ev(v.source, evidenceLines(e, against))],
                      fix: iptFix(v.cmd, e, net, family),
                      hint: e.caveats[0] ?? hint,
                    },
                  ),
              },
              flow.name,
            )
            continue
          }
          // drop or reject; with `iptables -L` without -v a deciding rule may have hidden interface matches
          const accepts = against.filter((m) => m.action !== 'DROP' && m.action !== 'REJECT')
          const sev: Severity =
            accepts.length > 0 || (e.rule !== undefined && e.caveats.length > 0) ? 'warning' : 'error'
          const decider = e.rule
            ? `${ruleText(e.rule, 'filter FORWARD')}`
            : `policy ${e.policy?.policy ?? ''}`
          add(
            {
              severity: sev,
              key: `${v.cmd}|${e.verdict}|${e.rule?.raw ?? 'policy'}`,
              make: (fs) => {
                let msg: string
                const verb = e.verdict === 'reject' ? 'rejects' : 'drops'
                if (e.rule) {
                  msg = `${where} ${decider} ${verb} pod traffic from and to ${net} (${fs.join(', ')})`
                  msg +=
                    fwdState.length === 0 && !nftMode
                      ? ", before flannel's FLANNEL-FWD ACCEPT rules are reached"
                      : ''
                } else {
                  msg = `${v.cmd} FORWARD policy is ${e.policy?.policy ?? '?'} and no rule accepts pod traffic from and to ${net} (${fs.join(', ')})`
                }
                if (fwdState.length > 0) msg += `; ${fwdState.join(', ')}`
                if (nftMode && flannelNftForward(views.nft?.rs, family)) {
                  msg += `; EnableNFTables is true and flannel's nftables forward chain accepts ${net}, but an nftables accept cannot override this iptables ${e.verdict}`
                }
                if (fwdState.length > 0) {
                  const elsewhere = views.ipt.find((o) => o !== v && flannelFwdState(o.rs, net).length === 0)
                  if (elsewhere)
                    msg += ` (flannel's rules are in ${elsewhere.cmd} instead: see node.iptables-backends)`
                }
                if (accepts.length > 0) msg += `; unless ${maybeText(accepts)} matches first`
                if (e.rule !== undefined && e.caveats.length > 0)
                  msg += ` (the capture hides interface matches: the rule may apply to some interfaces only)`
                return fail(sev, `${msg}.`, {
                  subject: `${v.cmd} FORWARD`,
                  evidence: [ev(v.source, evidenceLines(e, accepts))],
                  fix: iptFix(v.cmd, e, net, family),
                  hint: e.caveats[0] ?? hint,
                })
              },
            },
            flow.name,
          )
        }
        if (!nftMode && fwdState.length > 0) {
          okNotes.push(
            `${v.cmd}: ${fwdState.join(', ')} (flannel not running, or started with --iptables-forward-rules=false)`,
          )
        }
      }

      // --- nftables forward hook -----------------------------------------------------------------
      const nv = views.nft
      if (nv) {
        for (const flow of fl) {
          const h = evalNftHook(nv.rs, 'forward', flow.p, {includeIptablesManaged: nv.includeIptablesManaged})
          if (h.verdict === 'drop' || h.verdict === 'reject') {
            const d = h.decidedBy
            if (!d) continue
            const e = d.evaluation
            const against = contrary(e)
            const sev: Severity = against.length > 0 ? 'warning' : 'error'
            add(
              {
                severity: sev,
                key: `nft|${d.id}|${e.rule?.raw ?? 'policy'}`,
                make: (fs) => {
                  const chainDesc = `${d.id} (hook forward, priority ${d.chain.priority ?? 0})`
                  let msg = e.rule
                    ? `nftables ${ruleText(e.rule, d.id)} in ${chainDesc} ${e.verdict === 'reject' ? 'rejects' : 'drops'} pod traffic from and to ${net} (${fs.join(', ')})`
                    : `nftables chain ${chainDesc} has policy ${e.policy?.policy ?? 'drop'} and no rule accepts pod traffic from and to ${net} (${fs.join(', ')})`
                  const acceptedElsewhere = h.chains.filter(
                    (c) => c !== d && c.evaluation.verdict === 'accept' && c.evaluation.rule,
                  )
                  if (acceptedElsewhere.length > 0) {
                    msg += `; the accept in ${acceptedElsewhere.map((c) => c.id).join(', ')} ends only that base chain and cannot override it`
                  }
                  if (against.length > 0) msg += `; unless ${maybeText(against)} matches`
                  return fail(sev, `${msg}.`, {
                    subject: `nftables ${d.id}`,
                    evidence: [
                      ev(nv.source, [
                        ...evidenceLines(e, against),
                        ...acceptedElsewhere.flatMap((c) =>
                          c.evaluation.rule ? [c.evaluation.rule.raw] : [],
                        ),
                      ]),
                    ],
                    fix: nftFix(d.table.family, d.table.name, d.chain.name, net, family, e),
                    hint:
                      'an nftables accept only ends its own base chain; every base chain on the forward hook must accept pod traffic ' +
                      '(flannel-facts §5.2); make the change permanent in /etc/nftables.conf or the tool that manages this table',
                  })
                },
              },
              flow.name,
            )
          } else if (h.verdict === 'accept') {
            for (const c of h.chains) {
              const against = contrary(c.evaluation)
              if (against.length === 0) continue
              const sev: Severity = against.every(onlyProtoOrPort) ? 'info' : 'warning'
              add(
                {
                  severity: sev,
                  key: `nft|maybe|${c.id}|${c.evaluation.rule?.raw ?? ''}|${against.map((m) => m.raw).join('|')}`,
                  make: (fs) =>
                    fail(
                      sev,
                      `${acceptsText(`nftables ${c.id}`, fs, c.evaluation.rule ? ruleText(c.evaluation.rule) : 'its policy', against, sev)}.`,
                      {
                        subject: `nftables ${c.id}`,
                        evidence: [ev(nv.source, evidenceLines(c.evaluation, against))],
                      },
                    ),
                },
                flow.name,
              )
            }
          } else {
            const c = h.chains.find((x) => x.evaluation.verdict === 'unknown')
            add(
              {
                severity: 'info',
                key: `nft|unknown|${c?.id ?? ''}`,
                make: () =>
                  unknown(
                    `Could not evaluate nftables ${c?.id ?? 'forward hook'} for pod traffic: ${c?.evaluation.reason ?? 'unknown'}.`,
                  ),
              },
              flow.name,
            )
          }
        }
        if (nftMode && !flannelNftForward(nv.rs, family)) {
          okNotes.push(
            `EnableNFTables is true but table ${family === 4 ? 'ip flannel-ipv4' : 'ip6 flannel-ipv6'} has no forward accept rules (flannel not running?)`,
          )
        }
      }
      for (const p of problems.values()) findings.push(p.make(p.flows))
      if (problems.size === 0) {
        const parts: string[] = []
        for (const v of views.ipt) {
          const e = evalIptables(v.rs, 'filter', 'FORWARD', (fl[0] as Flow).p)
          parts.push(
            `${v.cmd} by ${e.rule ? ruleText(e.rule) : `policy ${e.policy?.policy ?? 'ACCEPT'}`}${e.caveats.length > 0 ? ` (${e.caveats[0]})` : ''}`,
          )
          okEvidence.push(ev(v.source, evidenceLines(e)))
        }
        if (nv) {
          const h = evalNftHook(nv.rs, 'forward', (fl[0] as Flow).p, {
            includeIptablesManaged: nv.includeIptablesManaged,
          })
          parts.push(
            h.chains.length === 0
              ? `nftables has no forward base chain${nv.includeIptablesManaged ? '' : " besides iptables-nft's"}`
              : `nftables base chains ${h.chains.map((c) => c.id).join(', ')} accept`,
          )
          if (h.chains.length > 0)
            okEvidence.push(
              ev(
                nv.source,
                h.chains.flatMap((c) => evidenceLines(c.evaluation)),
              ),
            )
        }
        okNotes.unshift(`${net}: ${parts.join('; ')}`)
        if (views.notLooked.length > 0) okNotes.push(`not looked at: ${views.notLooked.join('; ')}`)
      }
    }
    if (findings.length > 0) return findings
    return [
      ok(`Pod traffic from and to the flannel network is accepted in FORWARD (${okNotes.join('; ')}).`, {
        evidence: okEvidence,
      }),
    ]
  },
})

function iptFix(cmd: string, e: Evaluation, net: string, _family: Family): string[] {
  const pos = insertPosition(e, 'FORWARD')
  const fix = [`${cmd} -I FORWARD ${pos} -s ${net} -j ACCEPT`, `${cmd} -I FORWARD ${pos} -d ${net} -j ACCEPT`]
  if (e.rule && e.verdict !== 'accept')
    fix.push(
      `# or remove the rule that ${e.verdict === 'reject' ? 'rejects' : 'drops'} it: ${iptDeleteCmd(cmd, e.rule)}`,
    )
  return fix
}

function nftFix(
  tfam: string,
  table: string,
  chain: string,
  net: string,
  family: Family,
  e: Evaluation,
): string[] {
  const sel = family === 4 ? 'ip' : 'ip6'
  const fix = [
    `nft insert rule ${tfam} ${table} ${chain} ${sel} saddr ${net} accept`,
    `nft insert rule ${tfam} ${table} ${chain} ${sel} daddr ${net} accept`,
  ]
  if (e.rule?.handle !== undefined && e.verdict !== 'accept')
    fix.push(
      `# or remove the rule that ${e.verdict === 'reject' ? 'rejects' : 'drops'} it: ${nftDeleteCmd(tfam, table, e.rule, e.rule.handle)}`,
    )
  return fix
}
