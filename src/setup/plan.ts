/**
 * plan(desired, current) → the changes that make the kernel look like flannel's backend would leave it.
 * Pure. Applying the plan and planning again must give an empty plan: that is how idempotency is
 * proven. Order follows flannel: device, address, up; then per peer neighbour, FDB, route (the route
 * would otherwise trigger ARP); then rules, subnet.env, and the node's annotations last, so peers only
 * learn about this node once it can receive.
 */
import {normalizeIP, parseCidr, cidrContainsIP} from '../lib/ip.js'
import type {Addr, FdbEntry, IptablesRuleset, Link, Neigh, NftRuleset, Route} from '../model.js'
import type {DesiredState, VxlanDevice} from './desired.js'
import {entryKey, type Journal, type JournalEntry} from './journal.js'

export type Step =
  | 'device'
  | 'address'
  | 'up'
  | 'neigh'
  | 'fdb'
  | 'route'
  | 'iptables'
  | 'nft'
  | 'subnet-env'
  | 'annotations'
  | 'cleanup'
export type Tool = 'ip' | 'bridge' | 'iptables-restore' | 'nft' | 'file' | 'nodes'

export interface Op {
  step: Step
  tool: Tool
  /** A line of `ip -batch` / `bridge -batch`, a table block for `iptables-restore --noflush`, an `nft -f` script, or file content. */
  input: string
  /** What a person would type (without the namespace prefix). */
  display: string
  why: string
  /** Entries this op may create: recorded in the journal before the op runs. */
  creates?: JournalEntry[]
  /** Entries this op removes: dropped from the journal after it ran. */
  removes?: JournalEntry[]
  path?: string
  annotations?: Record<string, string>
}

export interface Current {
  links: readonly Link[]
  addrs: readonly Addr[]
  neighs: readonly Neigh[]
  fdb: readonly FdbEntry[]
  routes: readonly Route[]
  iptables?: IptablesRuleset
  nft?: NftRuleset
  /** subnet.env text, undefined when the file does not exist. */
  subnetEnv?: string
  /** This node's annotations as the node source has them. */
  annotations: Record<string, string>
  journal: Journal
}

const ipLine = (line: string) => ({input: line, display: `ip ${line}`})
const bridgeLine = (line: string) => ({input: line, display: `bridge ${line}`})

function deviceAddLine(d: VxlanDevice): string {
  return (
    `link add ${d.name} address ${d.mac} mtu ${d.mtu} type vxlan id ${d.vni} local ${d.local} dev ${d.dev}` +
    `${d.learning ? ' learning' : ' nolearning'}${d.port > 0 ? ` dstport ${d.port}` : ''}${d.gbp ? ' gbp' : ''}`
  )
}

/** Why an existing link cannot be reused (flannel recreates it then), or undefined. */
function incompatible(l: Link, d: VxlanDevice): string | undefined {
  if (l.kind !== 'vxlan' || !l.vxlan) return `${l.name} exists but is a ${l.kind ?? 'non-vxlan'} device`
  const v = l.vxlan
  const port = d.port > 0 ? d.port : 8472
  if (v.id !== d.vni) return `VNI ${v.id}, want ${d.vni}`
  if (v.local !== undefined && normalizeIP(v.local) !== normalizeIP(d.local))
    return `local ${v.local}, want ${d.local}`
  if (v.dev !== undefined && v.dev !== d.dev) return `dev ${v.dev}, want ${d.dev}`
  if (v.dstport !== undefined && v.dstport !== port) return `dstport ${v.dstport}, want ${port}`
  if (v.gbp !== d.gbp) return `gbp ${v.gbp ? 'on' : 'off'}`
  if (v.learning !== d.learning) return `learning ${v.learning ? 'on' : 'off'}`
  return undefined
}

function planDevice(d: VxlanDevice, cur: Current, ops: Op[]): void {
  const link = cur.links.find((l) => l.name === d.name)
  const created: JournalEntry = {kind: 'link', name: d.name}
  let fresh = false
  if (!link) {
    ops.push({
      step: 'device',
      tool: 'ip',
      ...ipLine(deviceAddLine(d)),
      why: `create ${d.name} (VNI ${d.vni})`,
      creates: [created],
    })
    fresh = true
  } else {
    const why = incompatible(link, d)
    if (why) {
      ops.push({
        step: 'device',
        tool: 'ip',
        ...ipLine(`link del ${d.name}`),
        why: `${d.name} has an incompatible configuration (${why}); flannel recreates it`,
      })
      ops.push({
        step: 'device',
        tool: 'ip',
        ...ipLine(deviceAddLine(d)),
        why: `recreate ${d.name}`,
        creates: [created],
      })
      fresh = true
    } else {
      if (link.mac?.toLowerCase() !== d.mac)
        ops.push({
          step: 'device',
          tool: 'ip',
          ...ipLine(`link set ${d.name} address ${d.mac}`),
          why: `MAC ${link.mac ?? '?'} → VtepMAC ${d.mac}`,
        })
      if (link.mtu !== d.mtu)
        ops.push({
          step: 'device',
          tool: 'ip',
          ...ipLine(`link set ${d.name} mtu ${d.mtu}`),
          why: `MTU ${link.mtu} → FLANNEL_MTU ${d.mtu}`,
        })
    }
  }
  // Address: exactly <base>/32; flannel removes other addresses of the Network from the device.
  const addrs = fresh ? [] : cur.addrs.filter((a) => a.ifname === d.name && a.family === 'inet')
  const want = parseCidr(d.address)
  if (!addrs.some((a) => `${normalizeIP(a.address)}/${a.prefixlen}` === d.address))
    ops.push({
      step: 'address',
      tool: 'ip',
      ...ipLine(`addr add ${d.address} dev ${d.name}`),
      why: `the VTEP address ${d.address}`,
      creates: [{kind: 'addr', dev: d.name, cidr: d.address}],
    })
  for (const a of addrs) {
    const cidr = `${normalizeIP(a.address)}/${a.prefixlen}`
    if (cidr !== d.address && want)
      ops.push({
        step: 'address',
        tool: 'ip',
        ...ipLine(`addr del ${cidr} dev ${d.name}`),
        why: `${cidr} is not this node's VTEP address`,
      })
  }
  if (fresh || !link?.up)
    ops.push({step: 'up', tool: 'ip', ...ipLine(`link set ${d.name} up`), why: `bring ${d.name} up`})
}

function sameMac(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase()
}

function mainRoute(routes: readonly Route[], dst: string): Route | undefined {
  return routes.find(
    (r) => (r.table === undefined || r.table === 'main') && r.type === 'unicast' && r.dst === dst,
  )
}

function planPeers(desired: DesiredState, cur: Current, ops: Op[], fresh: boolean): void {
  const neighOps: Op[] = []
  const fdbOps: Op[] = []
  const routeOps: Op[] = []
  // Indexed once, first entry wins as with find(): a scan per peer is quadratic (1,000 peers → 10^6
  // address parses, most of a second).
  const neighBy = new Map<string, Neigh>()
  for (const x of cur.neighs) {
    const k = `${x.dev} ${normalizeIP(x.dst)}`
    if (!neighBy.has(k)) neighBy.set(k, x)
  }
  const fdbBy = new Map<string, FdbEntry[]>()
  for (const x of cur.fdb) {
    const k = `${x.dev} ${x.mac.toLowerCase()}`
    const list = fdbBy.get(k)
    if (list) list.push(x)
    else fdbBy.set(k, [x])
  }
  const routeBy = new Map<string, Route>()
  for (const r of cur.routes)
    if ((r.table === undefined || r.table === 'main') && r.type === 'unicast' && !routeBy.has(r.dst))
      routeBy.set(r.dst, r)
  for (const p of desired.peers) {
    if (p.neigh) {
      const n = p.neigh
      const have = fresh ? undefined : neighBy.get(`${n.dev} ${n.ip}`)
      if (!have || !sameMac(have.lladdr, n.mac) || !have.state.includes('PERMANENT'))
        neighOps.push({
          step: 'neigh',
          tool: 'ip',
          ...ipLine(`neigh replace ${n.ip} lladdr ${n.mac} dev ${n.dev} nud permanent`),
          why: `peer ${p.node}: ${n.ip} → ${n.mac}${have ? ` (was ${have.lladdr ?? 'incomplete'})` : ''}`,
          creates: [{kind: 'neigh', dev: n.dev, dst: n.ip}],
        })
    }
    if (p.fdb) {
      const f = p.fdb
      const have = fresh ? [] : (fdbBy.get(`${f.dev} ${f.mac.toLowerCase()}`) ?? [])
      const good = have.length === 1 && have[0]?.self === true && normalizeIP(have[0].dst ?? '') === f.dst
      if (!good) {
        // One entry per peer MAC (flannel's NeighSet replaces): extra entries go, then replace.
        if (have.length > 1)
          for (const x of have)
            fdbOps.push({
              step: 'fdb',
              tool: 'bridge',
              ...bridgeLine(
                `fdb del ${f.mac} dev ${f.dev}${x.dst ? ` dst ${x.dst}` : ''}${x.self ? ' self' : ''}`,
              ),
              why: `peer ${p.node}: duplicate FDB entry ${f.mac} → ${x.dst ?? '?'}`,
            })
        fdbOps.push({
          step: 'fdb',
          tool: 'bridge',
          ...bridgeLine(`fdb replace ${f.mac} dev ${f.dev} dst ${f.dst} self permanent`),
          why: `peer ${p.node}: ${f.mac} → ${f.dst}${have.length === 1 ? ` (was ${have[0]?.dst ?? '?'})` : ''}`,
          creates: [{kind: 'fdb', dev: f.dev, mac: f.mac}],
        })
      }
    }
    const r = p.route
    const have = routeBy.get(r.dst)
    const ok =
      have !== undefined &&
      normalizeIP(have.gateway ?? '') === r.gateway &&
      (r.dev === undefined || have.dev === r.dev) &&
      have.onlink === r.onlink
    if (!ok)
      routeOps.push({
        step: 'route',
        tool: 'ip',
        ...ipLine(
          `route replace ${r.dst} via ${r.gateway}${r.dev ? ` dev ${r.dev}` : ''}${r.onlink ? ' onlink' : ''}`,
        ),
        why: `peer ${p.node} (${p.mode === 'direct' ? 'DirectRouting' : p.mode})`,
        creates: [{kind: 'route', dst: r.dst}],
      })
  }
  ops.push(...neighOps, ...fdbOps, ...routeOps)
}

const hasFdb = (fdb: readonly FdbEntry[], e: {dev: string; mac: string}): boolean =>
  fdb.some((x) => x.dev === e.dev && sameMac(x.mac, e.mac))

const hasNeigh = (neighs: readonly Neigh[], e: {dev: string; dst: string}): boolean =>
  neighs.some((x) => x.dev === e.dev && normalizeIP(x.dst) === e.dst)

/** The op that deletes a peer entry setup journaled (for a gone peer, and on teardown). */
function removePeerEntry(e: Extract<JournalEntry, {kind: 'route' | 'fdb' | 'neigh'}>, why: string): Op {
  switch (e.kind) {
    case 'route':
      return {step: 'cleanup', tool: 'ip', ...ipLine(`route del ${e.dst}`), why, removes: [e]}
    case 'fdb':
      return {
        step: 'cleanup',
        tool: 'bridge',
        ...bridgeLine(`fdb del ${e.mac} dev ${e.dev} self`),
        why,
        removes: [e],
      }
    case 'neigh':
      return {step: 'cleanup', tool: 'ip', ...ipLine(`neigh del ${e.dst} dev ${e.dev}`), why, removes: [e]}
  }
}

/** Entries setup created earlier for peers that are gone: removed as flannel does on a removed lease. */
function planLeftovers(desired: DesiredState, cur: Current, ops: Op[]): void {
  const wanted = new Set<string>()
  for (const p of desired.peers) {
    if (p.neigh) wanted.add(entryKey({kind: 'neigh', dev: p.neigh.dev, dst: p.neigh.ip}))
    if (p.fdb) wanted.add(entryKey({kind: 'fdb', dev: p.fdb.dev, mac: p.fdb.mac}))
    wanted.add(entryKey({kind: 'route', dst: p.route.dst}))
  }
  for (const e of cur.journal.entries) {
    if (wanted.has(entryKey(e))) continue
    if (e.kind === 'route' && mainRoute(cur.routes, e.dst))
      ops.push(removePeerEntry(e, `no node has ${e.dst} any more`))
    else if (e.kind === 'fdb' && hasFdb(cur.fdb, e))
      ops.push(removePeerEntry(e, `no node has VtepMAC ${e.mac} any more`))
    else if (e.kind === 'neigh' && hasNeigh(cur.neighs, e))
      ops.push(removePeerEntry(e, `no node has ${e.dst} any more`))
  }
}

function chainRules(rs: IptablesRuleset | undefined, table: string, chain: string): string[] | undefined {
  const c = rs?.tables.find((t) => t.name === table)?.chains.find((x) => x.name === chain)
  return c ? c.rules.map((r) => r.raw.trim()) : undefined
}

function planIptables(desired: DesiredState, cur: Current, ops: Op[]): void {
  for (const t of desired.iptables?.tables ?? []) {
    const have = chainRules(cur.iptables, t.table, t.chain)
    const parent = t.jump.split(' ')[1] ?? ''
    const jumpThere = (chainRules(cur.iptables, t.table, parent) ?? []).includes(t.jump)
    const chainOk =
      have !== undefined && have.length === t.rules.length && have.every((r, i) => r === t.rules[i])
    if (chainOk && jumpThere) continue
    const lines = [`*${t.table}`]
    const creates: JournalEntry[] = []
    if (!chainOk) {
      // Declaring the chain makes iptables-restore --noflush flush it: the chain is rewritten whole,
      // in flannel's order (flannel deletes and re-adds the whole set when one rule is missing).
      lines.push(`:${t.chain} - [0:0]`, ...t.rules)
      creates.push({kind: 'ipt-chain', table: t.table, chain: t.chain})
    }
    if (!jumpThere) {
      lines.push(t.jump)
      creates.push({kind: 'ipt-rule', table: t.table, rule: t.jump})
    }
    lines.push('COMMIT')
    ops.push({
      step: 'iptables',
      tool: 'iptables-restore',
      input: lines.join('\n') + '\n',
      display: `iptables-restore --noflush <<'EOF'\n${lines.join('\n')}\nEOF`,
      why: `${t.table} ${t.chain}: ${have === undefined ? 'missing' : chainOk ? 'jump missing' : 'rules differ'}`,
      creates,
    })
  }
}

function nftRules(rs: NftRuleset | undefined, chain: string): string[] | undefined {
  const t = rs?.tables.find((x) => x.family === 'ip' && x.name === 'flannel-ipv4')
  const c = t?.chains.find((x) => x.name === chain)
  return c?.rules.map((r) => r.raw.replace(/\s+/g, ' ').trim())
}

function planNft(desired: DesiredState, cur: Current, ops: Op[]): void {
  if (desired.nft === undefined) return
  const want = (chain: string) => {
    const m = new RegExp(`chain ${chain} \\{\\n\\t\\ttype[^\\n]*\\n([\\s\\S]*?)\\n\\t\\}`).exec(
      desired.nft ?? '',
    )
    return m?.[1]?.split('\n').map((l) => l.trim()) ?? []
  }
  const same = ['forward', 'postrtg'].every((c) => {
    const w = desired.nft?.includes(`chain ${c} {`) ? want(c) : undefined
    const h = nftRules(cur.nft, c)
    return w === undefined
      ? h === undefined
      : h !== undefined && h.length === w.length && h.every((r, i) => r === w[i])
  })
  if (same) return
  const script = `table ip flannel-ipv4\ndelete table ip flannel-ipv4\n${desired.nft}`
  ops.push({
    step: 'nft',
    tool: 'nft',
    input: script,
    display: `nft -f - <<'EOF'\n${script}EOF`,
    why: 'nftables table flannel-ipv4 missing or different (flannel rewrites it whole)',
    creates: [{kind: 'nft-table', family: 'ip', name: 'flannel-ipv4'}],
  })
}

export function plan(desired: DesiredState, cur: Current, o: {subnetEnvPath: string}): Op[] {
  const ops: Op[] = []
  const before = ops.length
  if (desired.device) planDevice(desired.device, cur, ops)
  const fresh = ops.slice(before).some((op) => op.step === 'device' && op.input.startsWith('link add'))
  // A (re)created device starts empty: the kernel flushes the neighbours, FDB entries and routes of a
  // deleted link, so none of them may count as present (nor be deleted again as leftovers).
  const gone = fresh ? desired.device?.name : undefined
  const peerCur: Current =
    gone === undefined
      ? cur
      : {
          ...cur,
          neighs: cur.neighs.filter((n) => n.dev !== gone),
          fdb: cur.fdb.filter((e) => e.dev !== gone),
          routes: cur.routes.filter((r) => r.dev !== gone),
        }
  planPeers(desired, peerCur, ops, fresh)
  planLeftovers(desired, peerCur, ops)
  planIptables(desired, cur, ops)
  planNft(desired, cur, ops)
  if (cur.subnetEnv !== desired.subnetEnv) {
    const op: Op = {
      step: 'subnet-env',
      tool: 'file',
      input: desired.subnetEnv,
      path: o.subnetEnvPath,
      display: `cat > ${o.subnetEnvPath} <<'EOF'\n${desired.subnetEnv}EOF`,
      why: cur.subnetEnv === undefined ? 'subnet.env does not exist' : 'subnet.env differs',
    }
    if (cur.subnetEnv === undefined) op.creates = [{kind: 'file', path: o.subnetEnvPath}]
    ops.push(op)
  }
  const changed = Object.entries(desired.annotations).filter(([k, v]) => cur.annotations[k] !== v)
  if (changed.length > 0)
    ops.push({
      step: 'annotations',
      tool: 'nodes',
      input: '',
      display: `annotate node: ${changed.map(([k, v]) => `${k}=${v}`).join(' ')}`,
      why: 'publish this node to its peers',
      annotations: Object.fromEntries(changed),
    })
  return ops
}

/** Teardown: remove exactly what the journal says setup created, where it still exists. Pure. */
export function teardownPlan(
  journal: Journal,
  cur: Omit<Current, 'journal' | 'annotations' | 'subnetEnv'> & {files: Set<string>},
): Op[] {
  const ops: Op[] = []
  const has = (k: JournalEntry['kind']) => journal.entries.filter((e) => e.kind === k)
  const links = new Set(has('link').map((e) => (e.kind === 'link' ? e.name : '')))
  const onDeletedLink = (dev: string) => links.has(dev) && cur.links.some((l) => l.name === dev)
  for (const e of has('route')) {
    if (e.kind !== 'route') continue
    const r = mainRoute(cur.routes, e.dst)
    if (r && !(r.dev !== undefined && onDeletedLink(r.dev))) ops.push(removePeerEntry(e, 'created by setup'))
  }
  for (const e of has('fdb'))
    if (e.kind === 'fdb' && !onDeletedLink(e.dev) && hasFdb(cur.fdb, e))
      ops.push(removePeerEntry(e, 'created by setup'))
  for (const e of has('neigh'))
    if (e.kind === 'neigh' && !onDeletedLink(e.dev) && hasNeigh(cur.neighs, e))
      ops.push(removePeerEntry(e, 'created by setup'))
  for (const e of has('addr'))
    if (e.kind === 'addr' && !onDeletedLink(e.dev)) {
      const c = parseCidr(e.cidr)
      if (
        c &&
        cur.addrs.some(
          (a) =>
            a.ifname === e.dev &&
            cidrContainsIP(c, a.address) &&
            `${normalizeIP(a.address)}/${a.prefixlen}` === formatCidrHost(e.cidr),
        )
      )
        ops.push({
          step: 'cleanup',
          tool: 'ip',
          ...ipLine(`addr del ${e.cidr} dev ${e.dev}`),
          why: 'created by setup',
          removes: [e],
        })
    }
  for (const e of has('link'))
    if (e.kind === 'link' && cur.links.some((l) => l.name === e.name))
      ops.push({
        step: 'cleanup',
        tool: 'ip',
        ...ipLine(`link del ${e.name}`),
        why: 'created by setup',
        removes: [e],
      })
  // iptables: jumps first, then the chains (a referenced chain cannot be deleted).
  const byTable = new Map<string, string[]>()
  const removes = new Map<string, JournalEntry[]>()
  for (const e of journal.entries) {
    if (
      e.kind === 'ipt-rule' &&
      (chainRules(cur.iptables, e.table, e.rule.split(' ')[1] ?? '') ?? []).includes(e.rule)
    ) {
      byTable.set(e.table, [...(byTable.get(e.table) ?? []), e.rule.replace(/^-A /, '-D ')])
      removes.set(e.table, [...(removes.get(e.table) ?? []), e])
    }
  }
  for (const e of journal.entries) {
    if (e.kind === 'ipt-chain' && chainRules(cur.iptables, e.table, e.chain) !== undefined) {
      byTable.set(e.table, [...(byTable.get(e.table) ?? []), `-F ${e.chain}`, `-X ${e.chain}`])
      removes.set(e.table, [...(removes.get(e.table) ?? []), e])
    }
  }
  for (const [table, lines] of byTable) {
    const body = [`*${table}`, ...lines, 'COMMIT']
    ops.push({
      step: 'cleanup',
      tool: 'iptables-restore',
      input: body.join('\n') + '\n',
      display: `iptables-restore --noflush <<'EOF'\n${body.join('\n')}\nEOF`,
      why: 'rules created by setup',
      removes: removes.get(table) ?? [],
    })
  }
  for (const e of journal.entries)
    if (e.kind === 'nft-table' && cur.nft?.tables.some((t) => t.family === e.family && t.name === e.name)) {
      const script = `delete table ${e.family} ${e.name}\n`
      ops.push({
        step: 'cleanup',
        tool: 'nft',
        input: script,
        display: `nft delete table ${e.family} ${e.name}`,
        why: 'created by setup',
        removes: [e],
      })
    }
  for (const e of journal.entries)
    if (e.kind === 'file' && cur.files.has(e.path))
      ops.push({
        step: 'cleanup',
        tool: 'file',
        input: '',
        path: e.path,
        display: `rm ${e.path}`,
        why: 'written by setup',
        removes: [e],
      })
  return ops
}

function formatCidrHost(cidr: string): string {
  const c = parseCidr(cidr)
  return c ? `${normalizeIP(cidr.split('/')[0] ?? '')}/${c.prefix}` : cidr
}
