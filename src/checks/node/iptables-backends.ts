/**
 * node.iptables-backends — iptables rules are not split between iptables-legacy and iptables-nft.
 *
 * Why (flannel-facts §5.1, §10): the kernel runs both sets of hooks, but each tool only sees and edits
 * its own. When flannel (or kube-proxy, Docker, the host firewall) writes through the other backend than
 * the rest, its rules are invisible to `iptables-save`, its resync cannot see conflicting rules, and
 * an accept in one backend does not stop a drop in the other. iptables-nft says so itself:
 * `# Warning: iptables-legacy tables present, use iptables-legacy-save to see them`.
 */
import type {IptablesRuleset, NftRuleset} from '../../model.js'
import {defineCheck, type Finding} from '../types.js'
import {ev, fail, ok, unavailable, unknown} from '../lib/result.js'

/** Rule-bearing chains that say whose rules these are. */
function owners(chains: string[]): string[] {
  const out = new Set<string>()
  for (const c of chains) {
    if (c.startsWith('FLANNEL-')) out.add('flannel')
    else if (c.startsWith('KUBE-')) out.add('kube-proxy/kubelet')
    else if (c.startsWith('DOCKER')) out.add('Docker')
    else if (c.startsWith('cali-')) out.add('Calico')
    else if (/^(INPUT_|FORWARD_|IN_|FWD|OUTPUT_)/.test(c)) out.add('firewalld')
    else if (c.startsWith('ufw')) out.add('ufw')
  }
  return [...out]
}

interface Side {
  label: string
  chains: string[]
  lines: string[]
  source: string
}

/** Chains with rules (and non-ACCEPT policies) of an iptables capture, with evidence lines. */
function iptSide(label: string, rs: IptablesRuleset, source: string): Side {
  const chains: string[] = []
  const lines: string[] = []
  for (const t of rs.tables) {
    for (const c of t.chains) {
      if (c.rules.length === 0 && (c.policy === undefined || c.policy === 'ACCEPT')) continue
      chains.push(`${t.name} ${c.name}`)
      if (c.policy !== undefined && c.policy !== 'ACCEPT' && c.raw !== undefined) lines.push(c.raw)
      for (const r of c.rules.slice(0, 3)) lines.push(r.raw)
    }
  }
  return {label, chains, lines: lines.slice(0, 12), source}
}

/** iptables-nft's tables as nft shows them (when the iptables capture itself is legacy). */
function nftSide(rs: NftRuleset, source: string): Side {
  const chains: string[] = []
  const lines: string[] = []
  for (const t of rs.tables) {
    if (!t.managedByIptables) continue
    for (const c of t.chains) {
      if (c.rules.length === 0 && c.policy !== 'drop') continue
      chains.push(`${t.name} ${c.name}`)
      for (const r of c.rules.slice(0, 3)) lines.push(r.raw)
    }
  }
  return {label: 'iptables-nft (seen through nft)', chains, lines: lines.slice(0, 12), source}
}

const chainNames = (s: Side): string[] => [...new Set(s.chains.map((c) => c.split(' ')[1] as string))]

export const check = defineCheck({
  id: 'node.iptables-backends',
  area: 'node',
  title: 'iptables rules are not split between iptables-legacy and iptables-nft',
  severity: 'warning',
  needs: ['iptables', 'iptablesLegacy', 'nft', 'host'],
  evaluate(facts) {
    const main = facts.get('iptables')
    const legacy = facts.get('iptablesLegacy')
    const nft = facts.get('nft')
    if (!main.ok && !nft.ok) return [unavailable('the iptables rules', main)]

    let nftSideV: Side | undefined
    let legacySide: Side | undefined
    if (main.ok && main.value.backend === 'legacy') {
      legacySide = iptSide('iptables-legacy', main.value, main.source)
      if (nft.ok) nftSideV = nftSide(nft.value, nft.source)
    } else if (main.ok) {
      nftSideV = iptSide(
        main.value.backend === 'nf_tables' ? 'iptables-nft' : 'iptables',
        main.value,
        main.source,
      )
    } else if (nft.ok) {
      nftSideV = nftSide(nft.value, nft.source)
    }
    if (!legacySide && legacy.ok) legacySide = iptSide('iptables-legacy', legacy.value, legacy.source)
    const warned = main.ok && main.value.legacyTablesPresent === true

    if (!legacySide) {
      if (warned) {
        const why = legacy.ok ? '' : `: ${legacy.reason}`
        return [
          unknown(
            `iptables-nft reports iptables-legacy tables on this host ('# Warning: iptables-legacy tables present'), ` +
              `but the legacy rules could not be looked at${why}; rules may be split between the two backends.`,
            {
              evidence: [
                ev(main.source, [
                  '# Warning: iptables-legacy tables present, use iptables-legacy-save to see them',
                ]),
              ],
              hint: (legacy.ok ? undefined : legacy.hint) ?? 'capture `iptables-legacy-save` (as root)',
            },
          ),
        ]
      }
      if (!legacy.ok && legacy.state !== 'not-installed' && legacy.state !== 'absent') {
        return [
          unknown(`Could not look at the iptables-legacy rules: ${legacy.reason}`, {
            ...(legacy.hint !== undefined
              ? {hint: legacy.hint}
              : {hint: 'capture `iptables-legacy-save` (as root)'}),
          }),
        ]
      }
      const where = nftSideV?.label ?? 'iptables'
      return [ok(`All iptables rules are in one backend (${where}); no iptables-legacy tables are reported.`)]
    }
    if (!nftSideV) {
      return [
        unavailable(
          'the iptables-nft rules',
          main.ok ? {ok: false, state: 'error', reason: 'no capture'} : main,
        ),
      ]
    }
    const legacyHas = legacySide.chains.length > 0
    const nftHas = nftSideV.chains.length > 0
    if (!(legacyHas && nftHas)) {
      const inUse = legacyHas ? legacySide.label : nftSideV.label
      return [
        ok(
          `All iptables rules are in ${inUse}; ${legacyHas ? nftSideV.label : 'iptables-legacy'} holds none.`,
        ),
      ]
    }
    const lo = owners(chainNames(legacySide))
    const no = owners(chainNames(nftSideV))
    const who = (o: string[], s: Side): string =>
      o.length > 0
        ? `${o.join(', ')} (${chainNames(s).slice(0, 6).join(', ')})`
        : chainNames(s).slice(0, 6).join(', ')
    const flannelIn = lo.includes('flannel') ? 'legacy' : no.includes('flannel') ? 'nft' : undefined
    const host = facts.get('host')
    const node = host.ok && host.value.nodeName !== undefined ? host.value.nodeName : '<node-name>'
    const f: Finding = fail(
      'warning',
      `iptables rules are split between backends: iptables-legacy holds ${who(lo, legacySide)} and ${nftSideV.label} holds ${who(no, nftSideV)}` +
        `${warned ? " (iptables-nft itself warns: '# Warning: iptables-legacy tables present')" : ''}; ` +
        `each tool sees only its own rules, and an ACCEPT in one backend does not stop a DROP in the other.`,
      {
        evidence: [ev(legacySide.source, legacySide.lines), ev(nftSideV.source, nftSideV.lines)],
        fix: [
          'iptables-legacy-save > /root/iptables-legacy.rules   # keep a copy',
          'update-alternatives --set iptables /usr/sbin/iptables-nft && update-alternatives --set ip6tables /usr/sbin/ip6tables-nft',
          'iptables-legacy -F && iptables-legacy -X && iptables-legacy -t nat -F && iptables-legacy -t nat -X && iptables-legacy -t mangle -F && iptables-legacy -t mangle -X',
          `kubectl -n kube-flannel delete pod --field-selector spec.nodeName=${node} -l app=flannel   # flannel re-creates its rules`,
        ],
        hint:
          (flannelIn === 'legacy'
            ? "flannel's rules are in iptables-legacy while the rest of the host uses iptables-nft: "
            : flannelIn === 'nft'
              ? "flannel's rules are in iptables-nft while other rules are in iptables-legacy: "
              : '') +
          'use one backend everywhere (the host, flannel, kube-proxy and Docker images); restart the components that wrote legacy rules after switching so they write them again in the chosen backend',
      },
    )
    return [f]
  },
})
