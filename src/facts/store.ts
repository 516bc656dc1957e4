/**
 * Turns raw captures into parsed facts. Fetching is concurrent and happens once per probe (memoised);
 * parsing is pure and happens once per fact. A parse failure becomes `unparseable` evidence with the
 * parser's sentence, so one odd capture never stops the other checks.
 */
import {parseBridgeFdb} from '../parse/bridge-fdb.js'
import {parseCniConfigs} from '../parse/cni.js'
import {ParseError} from '../parse/errors.js'
import {parseEthtoolFeatures} from '../parse/ethtool.js'
import {parseIpAddr} from '../parse/ip-addr.js'
import {parseIpLink} from '../parse/ip-link.js'
import {parseIpNeigh} from '../parse/ip-neigh.js'
import {parseIpRoute} from '../parse/ip-route.js'
import {parseIptables} from '../parse/iptables.js'
import {parseNodes, parsePodCidrs} from '../parse/kube.js'
import {parseDaemonSet, parseRbac} from '../parse/kube-objects.js'
import {parseLog} from '../parse/logs.js'
import {parseModules} from '../parse/lsmod.js'
import {netConfFromFile} from '../parse/netconf-source.js'
import {parseNft} from '../parse/nft.js'
import {parseSubnetEnv} from '../parse/subnet-env.js'
import {parseSysctl} from '../parse/sysctl.js'
import {parseUname} from '../parse/uname.js'
import {parseXfrmPolicy, parseXfrmState} from '../parse/xfrm.js'
import {tunnelDevice} from '../checks/lib/flannel.js'
import type {ProbeId} from './probes.js'
import type {EvidenceSource, RawCapture} from './sources.js'
import type {Avail, FactKey, FactTypes, Facts, HostInfo} from './types.js'

type Raws = Partial<Record<ProbeId, RawCapture>>

interface FactDef<K extends FactKey> {
  probes: readonly ProbeId[]
  build(raws: Raws, host: HostInfo): Avail<FactTypes[K]>
}

function parsed<T>(
  raw: RawCapture | undefined,
  parse: (text: string, r: Extract<RawCapture, {ok: true}>) => T,
): Avail<T> {
  if (raw === undefined) return {ok: false, state: 'not-collected', reason: 'not collected'}
  if (!raw.ok) {
    const out: Avail<T> = {ok: false, state: raw.state, reason: raw.reason}
    if (raw.hint !== undefined) out.hint = raw.hint
    if (raw.source !== undefined) out.source = raw.source
    return out
  }
  try {
    return {ok: true, value: parse(raw.text, raw), source: raw.source}
  } catch (e) {
    if (e instanceof ParseError) {
      const out: Avail<T> = {
        ok: false,
        state: 'unparseable',
        reason: `${raw.source}: ${e.message}`,
        source: raw.source,
      }
      if (e.hint !== undefined) out.hint = e.hint
      return out
    }
    return {
      ok: false,
      state: 'unparseable',
      reason: `${raw.source}: could not be read (${(e as Error).message})`,
      source: raw.source,
    }
  }
}

const one = <K extends FactKey>(id: ProbeId, parse: (text: string) => FactTypes[K]): FactDef<K> => ({
  probes: [id],
  build: (r) => parsed(r[id], parse),
})

const FACTS: {[K in FactKey]: FactDef<K>} = {
  host: {probes: [], build: (_r, host) => ({ok: true, value: host, source: host.origin})},
  netConf: {
    probes: ['net-conf', 'net-conf-k3s', 'flannel-cfg'],
    build(r) {
      const order: ProbeId[] = ['net-conf', 'net-conf-k3s', 'flannel-cfg']
      for (const id of order) {
        const raw = r[id]
        if (raw?.ok) return parsed(raw, (text, x) => netConfFromFile(text, x.source))
      }
      // Prefer the most telling reason: an explicit path that is absent, then any real failure.
      const fails = order
        .map((id) => r[id])
        .filter((x): x is Extract<RawCapture, {ok: false}> => !!x && !x.ok)
      const best = fails.find((f) => f.state === 'absent') ?? fails.find((f) => f.state !== 'not-collected')
      if (best) return parsed(best, () => undefined as never)
      return {
        ok: false,
        state: 'not-collected',
        reason: 'no net-conf.json was found (looked at /etc/kube-flannel/net-conf.json and the k3s path)',
        hint: 'pass --net-conf FILE (net-conf.json, the kube-flannel-cfg ConfigMap, or the whole manifest)',
      }
    },
  },
  cniConfigs: {
    probes: ['cni-dir'],
    build: (r) => parsed(r['cni-dir'], (_t, x) => parseCniConfigs(x.files ?? [])),
  },
  subnetEnv: one('subnet-env', parseSubnetEnv),
  links: one('ip-link', parseIpLink),
  addrs: one('ip-addr', parseIpAddr),
  routes: one('ip-route', parseIpRoute),
  neighs: one('ip-neigh', parseIpNeigh),
  fdb: one('bridge-fdb', parseBridgeFdb),
  iptables: one('iptables', parseIptables),
  ip6tables: one('ip6tables', parseIptables),
  iptablesLegacy: {
    probes: ['iptables-legacy'],
    build(r) {
      const raw = r['iptables-legacy']
      // Without the legacy binary there is no second rule set to split from; iptables-nft's own
      // "legacy tables present" warning still shows in the iptables evidence.
      if (raw && !raw.ok && raw.state === 'not-installed')
        return {ok: true, value: {form: 'save', tables: []}, source: 'iptables-legacy-save not installed'}
      return parsed(raw, parseIptables)
    },
  },
  nft: one('nft', parseNft),
  xfrmStates: one('xfrm-state', parseXfrmState),
  xfrmPolicies: one('xfrm-policy', parseXfrmPolicy),
  sysctl: one('sysctl', parseSysctl),
  ethtool: one('ethtool', parseEthtoolFeatures),
  kernel: one('uname', parseUname),
  modules: one('lsmod', parseModules),
  nodes: {
    probes: ['nodes'],
    build: (r) =>
      parsed(r['nodes'], (text, x) =>
        x.path?.endsWith('podcidrs.txt') ? parsePodCidrs(text) : parseNodes(text),
      ),
  },
  logs: {
    probes: ['logs'],
    build: (r) => parsed(r['logs'], (_t, x) => (x.files ?? []).map((f) => parseLog(f.name, f.text))),
  },
  daemonset: one('daemonset', parseDaemonSet),
  rbac: one('rbac', parseRbac),
}

/** The probes a set of facts needs. */
export function probesFor(keys: Iterable<FactKey>): ProbeId[] {
  const out = new Set<ProbeId>()
  for (const k of keys) for (const p of FACTS[k].probes) out.add(p)
  return [...out]
}

export interface Collected {
  facts: Facts
  raws: Raws
  host: HostInfo
}

/** Fetch every probe the keys need (concurrently), then parse. */
/**
 * Parsed facts kept across several nodes of one run (--all-nodes): a capture object the sources share
 * (the cluster's nodes, DaemonSet, RBAC) is parsed once, and net-conf texts that are the same (every pod
 * mounts the one ConfigMap) give the same parsed fact, so checks over them can be evaluated once too.
 */
export interface FactMemo {
  byRaw: WeakMap<object, Avail<unknown>>
  byText: Map<string, Avail<unknown>>
}

export const newFactMemo = (): FactMemo => ({byRaw: new WeakMap(), byText: new Map()})

const TEXT_MEMO_MAX = 1 << 20

function memoKey(key: FactKey, raws: Raws): {obj?: object; text?: string} | undefined {
  const ids = FACTS[key].probes
  if (key === 'host' || ids.length === 0) return undefined
  if (ids.length === 1) {
    const r = raws[ids[0] as ProbeId]
    return r === undefined ? undefined : {obj: r}
  }
  let size = 0
  const parts = ids.map((id) => {
    const r = raws[id]
    if (r === undefined) return '-'
    if (!r.ok) return `!${r.state}\u0000${r.reason}`
    size += r.text.length
    return `=${r.source}\u0000${r.text}`
  })
  return size > TEXT_MEMO_MAX ? undefined : {text: `${key}\u0001${parts.join('\u0001')}`}
}

export async function collectFacts(
  source: EvidenceSource,
  keys: Iterable<FactKey>,
  memo?: FactMemo,
): Promise<Collected> {
  const want = [...new Set(keys)]
  const ids = probesFor(want)
  // ethtool asks about the vxlan device, whose name (flannel.<VNI>) comes from net-conf: fetch it after
  // the first round. Everything else runs concurrently.
  const later: ProbeId[] = ids.filter((id) => id === 'ethtool')
  const first = ids.filter((id) => !later.includes(id))
  const [host, ...captured] = await Promise.all([source.host(), ...first.map((id) => source.capture(id))])
  const raws: Raws = {}
  first.forEach((id, i) => {
    const c = captured[i]
    if (c) raws[id] = c
  })
  if (later.length > 0) {
    const conf = FACTS.netConf.build(raws, host)
    const dev = conf.ok && conf.value.result.ok ? tunnelDevice(conf.value.result.conf) : undefined
    const hint = dev?.startsWith('flannel.') ? {vxlanDevice: dev} : {}
    for (const id of later) raws[id] = await source.capture(id, hint)
  }
  const cache = new Map<FactKey, Avail<unknown>>()
  const facts: Facts = {
    get<K extends FactKey>(key: K): Avail<FactTypes[K]> {
      let v = cache.get(key)
      if (v === undefined) {
        if (!want.includes(key)) v = {ok: false, state: 'not-collected', reason: `${key} was not collected`}
        else {
          const mk = memo === undefined ? undefined : memoKey(key, raws)
          v =
            mk?.obj !== undefined
              ? memo?.byRaw.get(mk.obj)
              : mk?.text !== undefined
                ? memo?.byText.get(mk.text)
                : undefined
          if (v === undefined) {
            v = FACTS[key].build(raws, host)
            if (mk?.obj !== undefined) memo?.byRaw.set(mk.obj, v)
            else if (mk?.text !== undefined) memo?.byText.set(mk.text, v)
          }
        }
        cache.set(key, v)
      }
      return v as Avail<FactTypes[K]>
    },
  }
  return {facts, raws, host}
}
