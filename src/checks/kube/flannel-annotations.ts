/**
 * kube.flannel-annotations — a flannel node is known to its peers only through the annotations it
 * writes on its own Node when it acquires its lease: `kube-subnet-manager=true` (nodes without it are
 * ignored by every other flannel), `backend-type` (vxlan peers skip other types: `ignoring non-vxlan
 * v4Subnet...`), `backend-data` (vxlan: `{"VNI":1,"VtepMAC":"..."}`; host-gw/ipsec: `null`; malformed →
 * `error decoding subnet lease JSON`), and `public-ip` (missing → `Error turning node "X" to lease`).
 * backend-type is `""` for udp, alloc and tencent-vpc (flannel-facts §2.1, §3.5, §7.1). The prefix is
 * `flannel.alpha.coreos.com/` unless flanneld runs with `--kube-annotation-prefix`.
 */
import {parseIP} from '../../lib/ip.js'
import type {KubeNode} from '../../model.js'
import type {NetConf} from '../../parse/netconf.js'
import {defineCheck, type Finding} from '../types.js'
import {ANNOTATION_PREFIX, parseBackendData, vxlanOptions} from '../lib/flannel.js'
import {ev, fail, ok, unavailable} from '../lib/result.js'
import {netConfKeyEvidence, readNetConf} from '../lib/netconf-read.js'
import {
  annotationLine,
  flannelPodCommands,
  nodesPhrase,
  nodeSubject,
  restartFlannelOn,
} from '../lib/wording.js'
import {partialFinding} from '../lib/kube-helpers.js'

const KSM = 'kube-subnet-manager'
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i

/** The backend-type annotation flannel writes for a net-conf Backend.Type (flannel-facts §2.1). */
export function annotatedBackendType(type: string): string {
  return type === 'udp' || type === 'alloc' || type === 'tencent-vpc' ? '' : type
}

/** The annotation prefix this node's flannel used, found by its kube-subnet-manager annotation. */
function prefixOf(n: KubeNode): string | undefined {
  if (n.annotations[`${ANNOTATION_PREFIX}${KSM}`] === 'true') return ANNOTATION_PREFIX
  const k = Object.keys(n.annotations).find((x) => x.endsWith(KSM) && n.annotations[x] === 'true')
  return k === undefined ? undefined : k.slice(0, -KSM.length)
}

const show = (v: string | undefined): string => (v === undefined ? 'absent' : `"${v}"`)

export const check = defineCheck({
  id: 'kube.flannel-annotations',
  area: 'kube',
  title: 'Every node carries the annotations of a running flannel that match net-conf',
  severity: 'warning',
  needs: ['nodes', 'netConf'],
  evaluate(facts) {
    const nodesA = facts.get('nodes')
    if (!nodesA.ok) return [unavailable('the Kubernetes nodes', nodesA)]
    const src = nodesA.source
    const out: Finding[] = []
    const partial = nodesA.value.filter((n) => n.partial).map((n) => n.name)
    const nodes = nodesA.value.filter((n) => !n.partial)
    if (partial.length > 0) out.push(partialFinding(src, 'their flannel annotations', partial))

    const cr = readNetConf(facts, "the nodes' backend-type (compared with net-conf)")
    const conf: NetConf | undefined = cr.ok ? cr.conf : undefined
    const prefixes = new Map(nodes.map((n) => [n, prefixOf(n)] as const))
    const counts = new Map<string, number>()
    for (const p of prefixes.values()) if (p !== undefined) counts.set(p, (counts.get(p) ?? 0) + 1)
    const main = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? ANNOTATION_PREFIX

    // Expected backend-type: net-conf's, else what most registered nodes say.
    let expected: string | undefined
    let expectedFrom = ''
    if (conf) {
      expected = annotatedBackendType(conf.backendType)
      expectedFrom = `net-conf Backend.Type "${conf.backendType}"`
    } else {
      if (!cr.ok) out.push(cr.finding)
      const types = new Map<string, number>()
      for (const [n, p] of prefixes) {
        const t = p === undefined ? undefined : n.annotations[`${p}backend-type`]
        if (t !== undefined) types.set(t, (types.get(t) ?? 0) + 1)
      }
      const top = [...types].sort((a, b) => b[1] - a[1])
      if (top.length > 1) {
        expected = top[0]?.[0]
        expectedFrom = `the other nodes' "${expected}"`
      }
    }
    const v4 = conf?.EnableIPv4 ?? true
    const v6 = conf?.EnableIPv6 ?? false

    let good = 0
    for (const n of nodes) {
      const subject = nodeSubject(n.name)
      const p = prefixes.get(n)
      if (p === undefined) {
        out.push(
          fail(
            'warning',
            `Node ${n.name} carries no ${main}${KSM}=true annotation, so flannel has never registered there and every other flannel ignores it (its pods are unreachable).`,
            {
              subject,
              evidence: [ev(src, [annotationLine(n, `${main}${KSM}`)])],
              fix: flannelPodCommands(n.name),
            },
          ),
        )
        continue
      }
      const key = (s: string): string => `${p}${s}`
      const line = (s: string): string => annotationLine(n, key(s))
      const before = out.length
      if (p !== main) {
        out.push(
          fail(
            'warning',
            `Node ${n.name}'s flannel writes its annotations under prefix ${p}, the others under ${main}, so they ignore each other.`,
            {
              subject,
              evidence: [ev(src, [line(KSM)])],
              fix: [
                `# run every flanneld with the same --kube-annotation-prefix, then:`,
                restartFlannelOn(n.name),
              ],
            },
          ),
        )
      }
      const type = n.annotations[key('backend-type')]
      if (type === undefined || (expected !== undefined && type !== expected)) {
        out.push(
          fail(
            'warning',
            type === undefined
              ? `Node ${n.name} has no ${key('backend-type')} annotation, so peers cannot tell which backend it runs.`
              : `Node ${n.name}'s ${key('backend-type')} is "${type}" but ${expectedFrom} means "${expected}": it runs another backend (started with an older config?), and peers skip its lease.`,
            {
              subject,
              evidence: [
                ev(src, [line('backend-type')]),
                ...(cr.ok ? [netConfKeyEvidence(cr.fact, 'Backend.Type', cr.conf.backendType)] : []),
              ],
              fix: [restartFlannelOn(n.name)],
            },
          ),
        )
      }
      const shape = type ?? expected ?? ''
      const dataKeys: [string, string][] = [[key('backend-data'), 'backend-data']]
      if (v6 && (shape === 'vxlan' || shape === 'wireguard'))
        dataKeys.push([key('backend-v6-data'), 'backend-v6-data'])
      for (const [k, short] of dataKeys) {
        const raw = n.annotations[k]
        const parsed = parseBackendData(raw)
        let problem: string | undefined
        if (!parsed.ok) problem = `is ${raw === undefined ? 'absent' : parsed.error}`
        else if (shape === 'vxlan') {
          const mac = parsed.data?.VtepMAC
          if (mac === undefined || !MAC.test(mac)) problem = `has no valid VtepMAC (${show(raw)})`
          else if (conf && parsed.data?.VNI !== undefined && parsed.data.VNI !== vxlanOptions(conf).vni)
            problem = `says VNI ${parsed.data.VNI} but net-conf's VNI is ${vxlanOptions(conf).vni}`
        } else if (shape === 'wireguard' && !parsed.data?.PublicKey)
          problem = `has no PublicKey (${show(raw)})`
        if (problem === undefined) continue
        out.push(
          fail('warning', `Node ${n.name}'s ${k} ${problem}, so peers cannot program a tunnel to it.`, {
            subject,
            evidence: [ev(src, [line(short)])],
            fix: [`# flannel rewrites it when it acquires its lease:`, restartFlannelOn(n.name)],
          }),
        )
      }
      if (v4) {
        const pub = n.annotations[key('public-ip')]
        if (pub === undefined || parseIP(pub.trim())?.family !== 4)
          out.push(
            fail(
              'warning',
              `Node ${n.name}'s ${key('public-ip')} is ${show(pub)}, so peers log "Error turning node \\"${n.name}\\" to lease" and send it nothing.`,
              {
                subject,
                evidence: [ev(src, [line('public-ip')])],
                fix: [...flannelPodCommands(n.name), restartFlannelOn(n.name)],
              },
            ),
          )
      }
      if (out.length === before) good++
    }
    if (nodes.length > 0 && good === nodes.length) {
      const all = nodesPhrase(nodes.map((n) => n.name))
      out.push(
        ok(
          `${all.phrase} ${all.plural ? 'carry' : 'carries'} ${main}${KSM}=true, backend-type ${show(expected ?? nodes[0]?.annotations[`${main}backend-type`])} and valid backend-data.`,
          {
            evidence: [
              ev(
                src,
                nodes.flatMap((n) =>
                  [`${main}backend-type`, `${main}backend-data`].map((k) => annotationLine(n, k)),
                ),
              ),
            ],
          },
        ),
      )
    }
    return out
  },
})
