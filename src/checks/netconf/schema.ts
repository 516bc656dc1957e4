/**
 * netconf.schema — flannel decodes net-conf.json into typed Go structs: a wrong JSON type or an invalid
 * CIDR/IP stops it (`error parsing subnet config: ...`), `Backend.Type` must name a registered backend
 * (`unknown backend type`; aws-vpc, gce and ali-vpc were removed in v0.20.0), and a missing `Backend` silently
 * selects `udp`. Backend options are decoded when the backend starts (`error decoding VXLAN backend config`).
 * SubnetLen/SubnetMin/SubnetMax are validated only in etcd mode; kube mode ignores them and takes node
 * subnets from spec.podCIDR (flannel-facts §1.2-§1.5, §2.1, §2.2, §6).
 */
import {cidrContainsIP, formatIP, maskOf, parseCidr, parseIP} from '../../lib/ip.js'
import {BACKENDS, REMOVED_BACKENDS, closestKey, type NetConf, type NetConfFact} from '../../parse/netconf.js'
import {applyCommands, quoteLines} from '../../parse/netconf-source.js'
import {defineCheck, type Finding, type Severity} from '../types.js'
import {ev, fail, ok, skip, type FindingExtra} from '../lib/result.js'
import {keyAt, netConfNotRead} from '../lib/netconf-read.js'

/** How `collect` writes a secret: its digest, so two nodes' keys can still be compared. */
const REDACTED = /^sha256:[0-9a-f]{64}$/

const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined)

function extraFor(
  fact: NetConfFact,
  lines: (number | undefined)[],
  flannelSays?: string,
  fix?: string[],
): FindingExtra {
  const ls = lines.filter((l): l is number => l !== undefined)
  const evidence = [ev(fact.source, quoteLines(fact, ls))]
  if (flannelSays !== undefined) evidence.push(ev('flanneld log (what flannel says)', [flannelSays]))
  const x: FindingExtra = {evidence}
  if (fix && fix.length > 0) x.fix = [...fix, ...applyCommands(fact)]
  const first = ls[0]
  if (first !== undefined && !fact.positionsInValue)
    x.location = {file: fact.file ?? fact.source, line: first}
  return x
}

/** flannel's CheckNetworkConfig (etcd mode only), IPv4 and IPv6: the first error of each family, as flannel words it. */
export function etcdModeErrors(conf: NetConf): {path: string; message: string}[] {
  const out: {path: string; message: string}[] = []
  const fam = (v6: boolean): void => {
    const P = v6 ? 'IPv6' : ''
    const netStr = v6 ? conf.IPv6Network : conf.Network
    const net = netStr !== undefined ? parseCidr(netStr) : undefined
    if (!net) {
      out.push({
        path: `${P}Network`,
        message: `please define a correct ${P}Network parameter in the flannel config`,
      })
      return
    }
    const bits = v6 ? 128 : 32
    let len = v6 ? conf.IPv6SubnetLen : conf.SubnetLen
    if (len !== undefined && len > 0) {
      if (len > bits - 2)
        return void out.push({path: `${P}SubnetLen`, message: `SubnetLen must be less than /${bits - 1}`})
      if (len < net.prefix + 2)
        return void out.push({
          path: `${P}SubnetLen`,
          message: 'network must be able to accommodate at least four subnets',
        })
    } else if (net.prefix > bits - 4) {
      return void out.push({
        path: `${P}Network`,
        message: v6
          ? 'IPv6Network is too small. Minimum useful network prefix is /124'
          : 'network is too small. Minimum useful network prefix is /28',
      })
    } else len = net.prefix <= (v6 ? 62 : 22) ? (v6 ? 64 : 24) : net.prefix + 2
    const family = v6 ? 6 : 4
    for (const which of ['Min', 'Max'] as const) {
      const s = v6 ? conf[`IPv6Subnet${which}`] : conf[`Subnet${which}`]
      const ip = s !== undefined ? parseIP(s) : undefined
      if (!ip || ip.addr === 0n) continue
      if (!cidrContainsIP(net, ip.addr, family))
        return void out.push({
          path: `${P}Subnet${which}`,
          message: `${P}Subnet${which} is not in the range of the ${P}Network`,
        })
      if ((ip.addr & maskOf(family, len)) !== ip.addr)
        return void out.push({
          path: `${P}Subnet${which}`,
          message: `${P}Subnet${which} is not on a SubnetLen boundary: ${formatIP(family, ip.addr)}`,
        })
    }
  }
  if (conf.EnableIPv4) fam(false)
  if (conf.EnableIPv6) fam(true)
  return out
}

const SUBNET_KEYS = [
  'SubnetLen',
  'SubnetMin',
  'SubnetMax',
  'IPv6SubnetLen',
  'IPv6SubnetMin',
  'IPv6SubnetMax',
] as const
const DUAL_STACK_BACKENDS = ['vxlan', 'host-gw', 'wireguard']
const WG_MODES = ['separate', 'auto', 'ipv4', 'ipv6']

function rangeProblem(
  conf: NetConf,
  name: string,
  lo: number,
  hi: number,
  why: string,
): {name: string; message: string} | undefined {
  const v = num(conf.backend[name])
  if (v === undefined || (v >= lo && v <= hi)) return undefined
  return {name, message: `Backend.${name} is ${v}; it must be ${lo}..${hi} (${why})`}
}

function backendFindings(fact: NetConfFact, conf: NetConf): Finding[] {
  const out: Finding[] = []
  const type = conf.backendType
  const b = conf.backend
  const line = (name: string): number | undefined => keyAt(conf, `Backend.${name}`)?.line
  const problems: ({name: string; message: string; flannel?: string; sev?: Severity} | undefined)[] = []
  if (type === 'vxlan') {
    problems.push(
      rangeProblem(
        conf,
        'VNI',
        1,
        16777215,
        'a 24-bit VXLAN id; the kernel refuses larger ones and flannel names the device flannel.<VNI>',
      ),
    )
    problems.push(rangeProblem(conf, 'Port', 0, 65535, 'a UDP port; 0 means the Linux default 8472'))
    problems.push(rangeProblem(conf, 'MTU', 51, 65535, 'the underlay MTU before flannel subtracts 50'))
  }
  if (type === 'udp')
    problems.push(rangeProblem(conf, 'Port', 1, 65535, 'the UDP port of the udp backend, default 8285'))
  if (type === 'wireguard') {
    problems.push(rangeProblem(conf, 'ListenPort', 0, 65535, 'a UDP port, default 51820'))
    problems.push(rangeProblem(conf, 'ListenPortV6', 0, 65535, 'a UDP port, default 51821'))
    problems.push(rangeProblem(conf, 'MTU', 81, 65535, 'the underlay MTU before flannel subtracts 80'))
    problems.push(
      rangeProblem(
        conf,
        'PersistentKeepaliveInterval',
        0,
        65535,
        'seconds between keepalives; 0 turns them off',
      ),
    )
    const mode = b['Mode']
    if (typeof mode === 'string' && !WG_MODES.includes(mode))
      problems.push({
        name: 'Mode',
        message: `Backend.Mode "${mode}" is not one of ${WG_MODES.join(', ')} (exact, lower-case)`,
        flannel: 'Error registering network: no valid Mode configured',
      })
    const psk = b['PSK']
    if (typeof psk === 'string' && !REDACTED.test(psk) && !/^[A-Za-z0-9+/]{43}=$/.test(psk))
      problems.push({
        name: 'PSK',
        message: 'Backend.PSK is not a WireGuard key (44 base64 characters, as `wg genpsk` prints)',
        flannel: 'Error registering network: could not parse psk: ...',
      })
  }
  if (type === 'ipsec') {
    const psk = b['PSK']
    const len = typeof psk === 'string' ? psk.length : 0
    // A bundle carries the key's sha256 digest instead of the key (collect never writes secrets): its
    // length cannot be judged there, only that one is set.
    if (len < 96 && !(typeof psk === 'string' && REDACTED.test(psk)))
      problems.push({
        name: 'PSK',
        message:
          typeof psk === 'string'
            ? `Backend.PSK has ${len} characters; the ipsec backend needs at least 96`
            : 'the ipsec backend needs Backend.PSK (at least 96 characters)',
        flannel: 'Error registering network: config error, password is too short',
      })
  }
  if (
    type === 'tencent-vpc' &&
    (typeof b['AccessKeyID'] !== 'string' || typeof b['AccessKeySecret'] !== 'string')
  )
    problems.push({
      name: 'AccessKeyID',
      message:
        'tencent-vpc without AccessKeyID/AccessKeySecret: flannel then needs the ACCESS_KEY_ID and ACCESS_KEY_SECRET environment variables',
      flannel: 'Error registering network: ACCESS_KEY_ID and ACCESS_KEY_SECRET must be provided! ',
      sev: 'warning',
    })
  for (const p of problems) {
    if (!p) continue
    out.push(
      fail(
        p.sev ?? 'error',
        `${p.message}.`,
        extraFor(fact, [line(p.name)], p.flannel, [
          `# set Backend.${p.name} on line ${line(p.name) ?? '?'} to a valid value`,
        ]),
      ),
    )
  }
  if (conf.EnableIPv6 && type !== '' && BACKENDS[type] && !DUAL_STACK_BACKENDS.includes(type))
    out.push(
      fail(
        'warning',
        `EnableIPv6 is true, but the ${type} backend is IPv4-only: flannel gives nodes IPv4 leases only (dual-stack works with vxlan, host-gw, wireguard).`,
        extraFor(fact, [keyAt(conf, 'EnableIPv6')?.line, keyAt(conf, 'Backend.Type')?.line]),
      ),
    )
  return out
}

export const check = defineCheck({
  id: 'netconf.schema',
  area: 'netconf',
  title: 'net-conf.json has the keys, types and values flannel needs',
  severity: 'error',
  needs: ['netConf'],
  evaluate(facts) {
    const a = facts.get('netConf')
    if (!a.ok) return [netConfNotRead(a)]
    const fact = a.value
    if (!fact.result.ok)
      return [
        skip('net-conf.json does not parse, so its values cannot be checked (see netconf.json-syntax).'),
      ]
    const conf = fact.result.conf
    const out: Finding[] = []
    const lineOf = (path: string): number | undefined => keyAt(conf, path)?.line

    // Wrong types and invalid CIDR/IP values: flannel refuses to start (Windows-only options: only there).
    for (const p of conf.typeErrors) {
      const sev: Severity = p.platform === 'windows' ? 'warning' : 'error'
      const where = p.platform === 'windows' ? ' (flannel reads this option on Windows nodes only)' : ''
      out.push(
        fail(
          sev,
          `${p.message}${where}.`,
          extraFor(fact, [p.line], p.flannelMessage, [`# correct ${p.path} on line ${p.line}`]),
        ),
      )
    }
    const bad = new Set(conf.typeErrors.map((p) => p.path))

    // Address families.
    if (!conf.EnableIPv4 && !conf.EnableIPv6)
      out.push(
        fail(
          'error',
          'EnableIPv4 and EnableIPv6 are both false: flannel has no address family to run and exits with "none defined stack".',
          extraFor(fact, [lineOf('EnableIPv4'), lineOf('EnableIPv6')], 'none defined stack', [
            '# set "EnableIPv4": true (or "EnableIPv6": true with IPv6Network)',
          ]),
        ),
      )
    if (conf.EnableIPv4 && conf.Network === undefined && !bad.has('Network'))
      out.push(
        fail(
          'error',
          'Network is missing: flannel needs the IPv4 pod network (every node podCIDR must lie inside it).',
          extraFor(
            fact,
            [],
            'please define a correct Network parameter in the flannel config (etcd mode); in kube mode: subnet "" specified in the flannel net config doesn\'t contain "<podCIDR>" PodCIDR of the "<node>" node',
            [
              '# add "Network": "<the cluster CIDR, e.g. 10.244.0.0/16>" (kube-controller-manager --cluster-cidr)',
            ],
          ),
        ),
      )
    for (const path of ['Network', 'IPv6Network'] as const) {
      const k = keyAt(conf, path)
      const given = k?.valueRaw !== undefined ? k.valueRaw.replace(/^"+|"+$/g, '') : undefined
      const c = given !== undefined ? parseCidr(given) : undefined
      if (!k || !c || bad.has(path) || c.addr === c.base) continue
      out.push(
        fail(
          'warning',
          `${path} ${given} has host bits set: flannel silently reads it as ${conf[path]}.`,
          extraFor(fact, [k.line], undefined, [`# write "${path}": "${conf[path]}" on line ${k.line}`]),
        ),
      )
    }
    if (conf.EnableIPv6 && conf.IPv6Network === undefined && !bad.has('IPv6Network'))
      out.push(
        fail(
          'error',
          'EnableIPv6 is true but IPv6Network is missing: flannel cannot place IPv6 pod subnets.',
          extraFor(
            fact,
            [lineOf('EnableIPv6')],
            'please define a correct IPv6Network parameter in the flannel config',
            ['# add "IPv6Network": "<the IPv6 cluster CIDR>"'],
          ),
        ),
      )
    if (conf.IPv6Network !== undefined) {
      const c = parseCidr(conf.IPv6Network)
      if (c && c.family === 4)
        out.push(
          fail(
            'error',
            `IPv6Network ${conf.IPv6Network} is an IPv4 network: no node's IPv6 podCIDR can lie inside it.`,
            extraFor(fact, [lineOf('IPv6Network')], undefined, [
              '# set IPv6Network to the IPv6 cluster CIDR',
            ]),
          ),
        )
      if (!conf.EnableIPv6)
        out.push(
          fail(
            'warning',
            'IPv6Network is set but EnableIPv6 is not true: flannel ignores IPv6Network and runs IPv4 only.',
            extraFor(fact, [lineOf('IPv6Network'), lineOf('EnableIPv6')], undefined, [
              '# add "EnableIPv6": true for dual-stack, or remove IPv6Network',
            ]),
          ),
        )
    }

    // SubnetLen/Min/Max: etcd mode only.
    const given = SUBNET_KEYS.filter(
      (k) => conf[k] !== undefined && conf[k] !== '0.0.0.0' && conf[k] !== 0 && conf[k] !== '::',
    )
    const errs = etcdModeErrors(conf).filter(
      (e) => !bad.has(e.path) && !(e.path.endsWith('Network') && conf[e.path as 'Network'] === undefined),
    )
    if (fact.mode === 'kube') {
      if (given.length > 0)
        out.push(
          fail(
            'warning',
            `${given.join(', ')} ${given.length === 1 ? 'is' : 'are'} ignored in kube mode: node subnets come from spec.podCIDR (kube-controller-manager --node-cidr-mask-size)${errs.length > 0 ? `; in etcd mode flannel would refuse them: ${errs.map((e) => e.message).join('; ')}` : ''}.`,
            extraFor(fact, given.map(lineOf), undefined, [
              `# remove ${given.join(', ')}, and size node subnets with --node-cidr-mask-size on kube-controller-manager`,
            ]),
          ),
        )
    } else {
      const sev: Severity = fact.mode === 'etcd' ? 'error' : 'warning'
      const modeNote =
        fact.mode === 'etcd'
          ? ''
          : ' (these rules apply in etcd mode only; kube mode ignores SubnetLen/SubnetMin/SubnetMax)'
      for (const e of errs)
        out.push(
          fail(
            sev,
            `In etcd mode flannel refuses this config: ${e.message}${modeNote}.`,
            extraFor(fact, [lineOf(e.path)], e.message, [`# correct ${e.path}`]),
          ),
        )
    }

    // Backend.
    if (!conf.backendPresent)
      out.push(
        fail(
          'warning',
          'Backend is missing: flannel silently uses the udp backend (userspace, amd64 only, meant for debugging), not vxlan.',
          extraFor(fact, [], undefined, ['# add "Backend": {"Type": "vxlan"}']),
        ),
      )
    else if (!bad.has('Backend') && !bad.has('Backend.Type')) {
      const t = conf.backendType
      const typeLine = lineOf('Backend.Type')
      if (t === '')
        out.push(
          fail(
            'error',
            'Backend has no Type: flannel stops with "unknown backend type: ".',
            extraFor(fact, [typeLine], 'Error fetching backend: unknown backend type: ', [
              '# add "Type": "vxlan" inside Backend',
            ]),
          ),
        )
      else if (REMOVED_BACKENDS.includes(t))
        out.push(
          fail(
            'error',
            `Backend.Type ${t} was removed from flannel in v0.20.0: current flannel stops with "unknown backend type: ${t}".`,
            extraFor(fact, [typeLine], `Error fetching backend: unknown backend type: ${t}`, [
              `# use "Type": "vxlan" (or "host-gw" when all nodes share one L2 network) on line ${typeLine ?? '?'}`,
            ]),
          ),
        )
      else if (!BACKENDS[t]) {
        const s = closestKey(t, Object.keys(BACKENDS))
        out.push(
          fail(
            'error',
            `Backend.Type "${conf.backendTypeGiven ?? t}" is not a flannel backend${s ? ` (did you mean ${s}?)` : ''}: flannel stops with "unknown backend type: ${t}".`,
            extraFor(fact, [typeLine], `Error fetching backend: unknown backend type: ${t}`, [
              `# use one of: ${Object.keys(BACKENDS).join(', ')}`,
            ]),
          ),
        )
      } else out.push(...backendFindings(fact, conf))
    }

    if (out.length === 0) {
      const parts = [
        conf.EnableIPv4 ? `Network ${conf.Network}` : undefined,
        conf.EnableIPv6 ? `IPv6Network ${conf.IPv6Network}` : undefined,
      ]
      const typeNote =
        conf.backendTypeGiven !== undefined && conf.backendTypeGiven !== conf.backendType
          ? ` (Type "${conf.backendTypeGiven}" is read as ${conf.backendType})`
          : ''
      return [
        ok(
          `net-conf.json decodes as flannel reads it: ${parts.filter(Boolean).join(', ')}, backend ${conf.backendType}${typeNote}.`,
          {evidence: [ev(fact.source, [])]},
        ),
      ]
    }
    return out
  },
})
