/**
 * netconf.platform — the same net-conf.json is read by flanneld on every node, and some options depend on
 * the node's OS and CPU (flannel-facts §2.1, §2.2):
 * - Windows vxlan (HNS overlay) defaults to VNI 4096 and port 4789 and refuses VNI < 4096, any other Port,
 *   GBP, DirectRouting and a MacPrefix not shaped `xx-xx`; Linux defaults are VNI 1 and port 8472, so a mixed
 *   cluster must set both explicitly. Only vxlan, host-gw, alloc and extension exist on Windows.
 * - Linux ignores the Windows-only options (`MacPrefix`, `Name`).
 * - The udp backend (also what flannel picks when `Backend` is absent) is built for amd64 only.
 */
import type {KubeNode} from '../../model.js'
import type {NetConf, NetConfFact} from '../../parse/netconf.js'
import {quoteLines} from '../../parse/netconf-source.js'
import {defineCheck, type Finding} from '../types.js'
import {ev, fail, ok, skip, unknown, type FindingExtra} from '../lib/result.js'
import {keyAt, netConfNotRead} from '../lib/netconf-read.js'

const WINDOWS_BACKENDS = ['vxlan', 'host-gw', 'alloc', 'extension']
const WINDOWS_VNI = 4096
const WINDOWS_PORT = 4789
const WINDOWS_ONLY: Record<string, string[]> = {
  vxlan: ['MacPrefix', 'Name'],
  'host-gw': ['Name', 'DNSServerList'],
}

const osOf = (n: KubeNode): string | undefined =>
  n.labels['kubernetes.io/os'] ?? n.labels['beta.kubernetes.io/os'] ?? n.operatingSystem
const archOf = (n: KubeNode): string | undefined =>
  n.architecture ?? n.labels['kubernetes.io/arch'] ?? n.labels['beta.kubernetes.io/arch']

/** The line of the Backend option `name` flannel uses (the last one given). */
const keyLine = (conf: NetConf, name: string): number | undefined => keyAt(conf, `Backend.${name}`)?.line

function confEvidence(fact: NetConfFact, lines: (number | undefined)[]): FindingExtra['evidence'] {
  return [
    ev(
      fact.source,
      quoteLines(
        fact,
        lines.filter((l): l is number => l !== undefined),
      ),
    ),
  ]
}

function nodeLine(n: KubeNode): string {
  const os = osOf(n) ?? 'unknown OS'
  const arch = archOf(n) ?? 'unknown architecture'
  return `node ${n.name}: kubernetes.io/os=${os}, architecture ${arch}`
}

/** What a Windows node's flanneld refuses, in its own words. */
function windowsRefusals(conf: NetConf): {key: string; message: string; flannel: string; fix: string}[] {
  const out: {key: string; message: string; flannel: string; fix: string}[] = []
  if (!WINDOWS_BACKENDS.includes(conf.backendType)) {
    out.push({
      key: 'Type',
      message: `the ${conf.backendType} backend does not exist on Windows`,
      flannel: `Error fetching backend: unknown backend type: ${conf.backendType}`,
      fix: '# use "Type": "vxlan" (or "host-gw") for clusters with Windows nodes',
    })
    return out
  }
  if (conf.backendType !== 'vxlan') return out
  const b = conf.backend
  const vni = typeof b['VNI'] === 'number' ? b['VNI'] : undefined
  if (vni !== undefined && vni < WINDOWS_VNI)
    out.push({
      key: 'VNI',
      message: `VNI ${vni} is below ${WINDOWS_VNI}`,
      flannel: `invalid VXLAN backend config. VNI [${vni}] must be greater than or equal to ${WINDOWS_VNI} on Windows`,
      fix: `# set "VNI": ${WINDOWS_VNI} (Linux and Windows nodes must use the same VNI)`,
    })
  if ('Port' in b && b['Port'] !== WINDOWS_PORT)
    out.push({
      key: 'Port',
      message: `Port ${String(b['Port'])} is not ${WINDOWS_PORT}`,
      flannel: `invalid VXLAN backend config. Port [${String(b['Port'])}] is not supported on Windows. Omit the setting to default to port ${WINDOWS_PORT}`,
      fix: `# set "Port": ${WINDOWS_PORT} (Linux nodes then use it too)`,
    })
  if (b['GBP'] === true)
    out.push({
      key: 'GBP',
      message: 'GBP is true',
      flannel: 'invalid VXLAN backend config. GBP is not supported on Windows',
      fix: '# remove "GBP"',
    })
  if (b['DirectRouting'] === true)
    out.push({
      key: 'DirectRouting',
      message: 'DirectRouting is true',
      flannel: 'invalid VXLAN backend config. DirectRouting is not supported on Windows',
      fix: '# remove "DirectRouting"',
    })
  const mp = b['MacPrefix']
  if (typeof mp === 'string' && (mp.length !== 5 || mp[2] !== '-'))
    out.push({
      key: 'MacPrefix',
      message: `MacPrefix "${mp}" is not shaped xx-xx`,
      flannel: `invalid VXLAN backend config.MacPrefix [${mp}] is invalid, prefix must be of the format xx-xx e.g. 0E-2A`,
      fix: '# set "MacPrefix": "0E-2A" (or remove it)',
    })
  return out
}

export const check = defineCheck({
  id: 'netconf.platform',
  area: 'netconf',
  title: 'net-conf.json suits the OS and CPU of every node',
  severity: 'error',
  needs: ['netConf', 'nodes'],
  evaluate(facts) {
    const a = facts.get('netConf')
    if (!a.ok) return [netConfNotRead(a)]
    const fact = a.value
    if (!fact.result.ok) return [skip('net-conf.json does not parse (see netconf.json-syntax).')]
    const conf = fact.result.conf
    const out: Finding[] = []
    const nodesA = facts.get('nodes')
    const all = nodesA.ok ? nodesA.value : []
    const known = all.filter((n) => osOf(n) !== undefined)
    const windows = known.filter((n) => osOf(n) === 'windows')
    const linux = known.filter((n) => osOf(n) !== 'windows')
    const nodesKnown = nodesA.ok && known.length > 0
    const nodesSource = nodesA.ok ? nodesA.source : 'nodes'
    const udp = conf.backendType === 'udp'

    // Windows nodes.
    for (const r of windows.length > 0 ? windowsRefusals(conf) : []) {
      const line = keyLine(conf, r.key)
      out.push(
        fail(
          'error',
          `${windows.length} Windows node${windows.length === 1 ? '' : 's'} (${windows.map((n) => n.name).join(', ')}): ${r.message}, so flanneld there stops with "${r.flannel}".`,
          {
            evidence: [
              ...(confEvidence(fact, [line]) ?? []),
              ev(nodesSource, windows.map(nodeLine)),
              ev('flanneld log on Windows', [r.flannel]),
            ],
            fix: [r.fix],
          },
        ),
      )
    }
    if (windows.length > 0 && linux.length > 0 && conf.backendType === 'vxlan') {
      const b = conf.backend
      const unset: string[] = []
      if (!('VNI' in b)) unset.push(`VNI (Linux default 1, Windows default ${WINDOWS_VNI})`)
      if (!('Port' in b)) unset.push(`Port (Linux default 8472, Windows default ${WINDOWS_PORT})`)
      if (unset.length > 0)
        out.push(
          fail(
            'error',
            `Linux and Windows nodes run vxlan with different defaults for ${unset.join(' and ')}: their overlay traffic never meets.`,
            {
              evidence: [ev(nodesSource, [...windows, ...linux].map(nodeLine))],
              fix: [
                `# in Backend set "VNI": ${WINDOWS_VNI}, "Port": ${WINDOWS_PORT} (flannel's documented setting for mixed clusters)`,
              ],
            },
          ),
        )
    }

    // Windows-only options on Linux.
    const winOnly = (WINDOWS_ONLY[conf.backendType] ?? []).filter((k) => k in conf.backend)
    if (winOnly.length > 0 && (linux.length > 0 || !nodesKnown))
      out.push(
        fail(
          'info',
          `${winOnly.join(', ')} ${winOnly.length === 1 ? 'is a Windows-only option' : 'are Windows-only options'}: flanneld on Linux nodes ignores ${winOnly.length === 1 ? 'it' : 'them'}.`,
          {
            evidence:
              confEvidence(
                fact,
                winOnly.map((k) => keyLine(conf, k)),
              ) ?? [],
          },
        ),
      )

    // udp is amd64-only.
    if (udp) {
      const subject = conf.backendPresent
        ? 'The udp backend'
        : 'Backend is missing, so flannel uses the udp backend, which'
      const bad = all.filter((n) => {
        const arch = archOf(n)
        return arch !== undefined && arch !== 'amd64'
      })
      for (const n of bad)
        out.push(
          fail(
            'error',
            `${subject} is built for amd64 only; node ${n.name} is ${archOf(n)}, so flanneld there stops with "UDP backend is not supported on this architecture".`,
            {
              subject: `node ${n.name}`,
              evidence: [ev(nodesSource, [nodeLine(n)])],
              fix: ['# use "Backend": {"Type": "vxlan"} (udp is for debugging only)'],
            },
          ),
        )
      if (!nodesKnown && all.every((n) => archOf(n) === undefined))
        out.push(
          fail(
            'warning',
            `${subject} runs on amd64 nodes only, and the node architectures are not known here.`,
            {
              evidence: confEvidence(fact, [keyLine(conf, 'Type')]) ?? [],
            },
          ),
        )
    }

    if (!nodesA.ok) {
      const x: FindingExtra = {
        hint: nodesA.hint ?? 'collect kubectl get nodes -o json into the bundle (kubernetes/nodes.json)',
      }
      out.push(
        unknown(
          `Could not look at the node list (${nodesA.reason}): which nodes run Windows, and their CPU architectures, are not known; only the config itself was checked.`,
          x,
        ),
      )
    } else if (known.length === 0 && all.length > 0)
      out.push(
        unknown(
          `The node list (${nodesA.source}) has no OS labels (podCIDRs only): Windows rules could not be applied.`,
          {hint: 'collect kubectl get nodes -o json instead of podcidrs.txt'},
        ),
      )

    if (out.length === 0) {
      const archs = [...new Set(all.map(archOf).filter((x): x is string => x !== undefined))]
      return [
        ok(
          `net-conf.json suits every node: ${linux.length} Linux, ${windows.length} Windows${archs.length > 0 ? ` (${archs.join(', ')})` : ''}, backend ${conf.backendType}.`,
          {
            evidence: [ev(nodesSource, all.map(nodeLine))],
          },
        ),
      ]
    }
    return out
  },
})
