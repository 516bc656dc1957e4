/**
 * kube.daemonset-ready — flannel runs as the DaemonSet `kube-flannel-ds` (namespace `kube-flannel`, or
 * `kube-system` up to v0.18; per-architecture `kube-flannel-ds-amd64`, ... before v0.13), one pod per
 * Linux node (flannel-facts §7.3). A node whose pod is not ready has no subnet.env and no routes to its
 * peers, so its pods get no network (`failed to load flannel 'subnet.env' file`). A crash-looping flanneld
 * prints why it exits as its last lines (`Error registering network: failed to acquire lease: node "X" pod
 * cidr not assigned`, RBAC denials, a missing br_netfilter): those lines are explained through the message
 * catalogue and point at the check that covers the cause.
 */
import type {FlannelDaemonSet, KubeContainerStatus, KubePod, LogFile} from '../../model.js'
import type {Evidence, Finding} from '../types.js'
import {defineCheck} from '../types.js'
import {ev, fail, ok, skip, unavailable, unknown} from '../lib/result.js'
import {entryFix, explainLines, type Explanation} from '../lib/messages.js'
import {FLANNEL_DS, FLANNEL_NS} from '../lib/flannel.js'
import {logSource} from '../lib/kube-helpers.js'
import {listNames} from '../lib/wording.js'

/** How many explained log lines to show per pod. */
const LAST = 3

/** The container that keeps the pod from being ready: a waiting/crashing one, init containers first. */
function culprit(p: KubePod): KubeContainerStatus | undefined {
  const bad = (c: KubeContainerStatus): boolean =>
    !c.ready && (c.init ? c.state !== 'terminated' || (c.lastTerminated?.exitCode ?? 0) !== 0 : true)
  return (
    p.containers.find(
      (c) => bad(c) && c.waitingReason !== undefined && c.waitingReason !== 'PodInitializing',
    ) ??
    p.containers.find((c) => c.init && bad(c)) ??
    p.containers.find((c) => !c.init && bad(c))
  )
}

function describe(c: KubeContainerStatus): string {
  const what = `${c.init ? 'init container' : 'container'} ${c.name}`
  const parts: string[] = []
  if (c.waitingReason) parts.push(c.waitingReason)
  else parts.push(c.state)
  parts.push(`${c.restarts} restart${c.restarts === 1 ? '' : 's'}`)
  const t = c.lastTerminated
  if (t) {
    const code = t.exitCode !== undefined ? `exit code ${t.exitCode}` : 'terminated'
    parts.push(`last ${code}${t.reason ? ` (${t.reason})` : ''}`)
  }
  return `${what}: ${parts.join(', ')}`
}

/** The log files that belong to a pod: named after it, or a generic flannel log attributed to it. */
function logsFor(p: KubePod, files: readonly LogFile[], generic: ReadonlyMap<LogFile, string>): LogFile[] {
  const named = files.filter((f) => f.name.includes(p.name))
  if (named.length > 0) return named
  return files.filter((f) => generic.get(f) === p.name)
}

interface Explained {
  lines: Explanation[]
  evidence: Evidence[]
}

function explainPod(files: readonly LogFile[], factSource: string): Explained {
  const all: {x: Explanation; f: LogFile}[] = []
  for (const f of files) for (const x of explainLines(f.lines)) if (x.entry.level !== 'info') all.push({x, f})
  // The last lines tell why the process exited: order by the last occurrence.
  all.sort((a, b) => (a.x.lines.at(-1) ?? 0) - (b.x.lines.at(-1) ?? 0))
  const last = all.slice(-LAST)
  const by = new Map<string, string[]>()
  for (const {x, f} of last) {
    const s = logSource(factSource, f)
    by.set(s, [...(by.get(s) ?? []), x.raw.trim()])
  }
  return {lines: last.map((l) => l.x), evidence: [...by].map(([s, lines]) => ev(s, lines))}
}

export const check = defineCheck({
  id: 'kube.daemonset-ready',
  area: 'kube',
  title: 'Every pod of the flannel DaemonSet is ready',
  severity: 'error',
  needs: ['daemonset', 'logs', 'host'],
  evaluate(facts) {
    const dsA = facts.get('daemonset')
    // Cluster-side evidence is optional (a node's bundle, a live run before the API adapter): when none
    // was given the check does not apply; evidence that was looked for and could not be read is unknown.
    if (!dsA.ok && dsA.state === 'not-collected')
      return [
        skip(
          `No flannel DaemonSet evidence was given (${dsA.reason}).`,
          dsA.hint === undefined ? {} : {hint: dsA.hint},
        ),
      ]
    if (!dsA.ok) return [unavailable('the flannel DaemonSet', dsA)]
    const ds: FlannelDaemonSet = dsA.value
    const src = dsA.source
    const ns = ds.namespace ?? FLANNEL_NS
    const name = ds.name ?? FLANNEL_DS
    const where = `${ns}/${name}`
    if (ds.countsFromPods && ds.pods.length === 0)
      return [
        unknown(
          `${src} has the DaemonSet ${where} but no status and no pods (a manifest rather than the cluster's state).`,
          {
            evidence: [ev(src, ds.raw ? [ds.raw] : [])],
            hint: `kubectl -n ${ns} get ds,pods -l app=flannel -o json > kubernetes/daemonset.json`,
          },
        ),
      ]

    const logsA = facts.get('logs')
    const files = logsA.ok ? logsA.value : []
    const host = facts.get('host')
    const hostNode = host.ok ? host.value.nodeName : undefined
    const notReady = ds.pods.filter((p) => !p.ready)
    // A log not named after any pod (flannel.log) belongs to this host's pod, or to the only failing pod.
    const generic = new Map<LogFile, string>()
    for (const f of files) {
      if (ds.pods.some((p) => f.name.includes(p.name))) continue
      if (!/flannel/i.test(f.name)) continue
      const mine = hostNode ? notReady.find((p) => p.node === hostNode) : undefined
      const target = mine ?? (notReady.length === 1 ? notReady[0] : undefined)
      if (target) generic.set(f, target.name)
    }

    const out: Finding[] = []
    const logCmd = (p: KubePod, c: KubeContainerStatus | undefined): string =>
      `kubectl -n ${p.namespace ?? ns} logs ${p.name} -c ${c?.name ?? 'kube-flannel'} --previous`
    for (const p of notReady) {
      const c = culprit(p)
      const onNode = p.node ? ` on node ${p.node}` : ' (not scheduled on a node)'
      const state = c ? describe(c) : `phase ${p.phase ?? 'unknown'}, ${p.restarts} restarts`
      const ex = logsA.ok ? explainPod(logsFor(p, files, generic), logsA.source) : {lines: [], evidence: []}
      let message = `flannel pod ${p.name}${onNode} is not ready (${state})`
      const fix: string[] = []
      if (ex.lines.length > 0) {
        const said = ex.lines.map((x) => `"${x.text}" → ${x.entry.check}`)
        message += `; its log says ${said.join('; ')}.`
        for (const x of ex.lines)
          for (const l of entryFix(x.entry, x.captures)) if (!fix.includes(l)) fix.push(l)
      } else {
        message += logsA.ok ? '; no log line explains it.' : '.'
      }
      fix.push(logCmd(p, c), `kubectl -n ${p.namespace ?? ns} describe pod ${p.name}`)
      if (c?.waitingReason === 'ImagePullBackOff' || c?.waitingReason === 'ErrImagePull')
        fix.unshift(
          `# the node cannot pull ${c.image ?? 'the image'}: check the registry/mirror from ${p.node ?? 'the node'}`,
        )
      out.push(
        fail('error', message, {
          subject: `pod ${p.name}`,
          evidence: [ev(src, [p.raw]), ...ex.evidence],
          fix,
        }),
      )
    }

    const countsBad = !ds.countsFromPods && ds.ready < ds.desired
    if (countsBad && notReady.length < ds.desired - ds.ready) {
      out.push(
        fail(
          'error',
          `DaemonSet ${where} has ${ds.ready} of ${ds.desired} pods ready${notReady.length > 0 ? `; ${src} shows only ${notReady.length} of the unready pods` : ''}.`,
          {
            evidence: [ev(src, ds.raw ? [ds.raw] : [])],
            fix: [`kubectl -n ${ns} get pods -l app=flannel -o wide`, `kubectl -n ${ns} describe ds ${name}`],
          },
        ),
      )
    }
    if (!ds.countsFromPods && ds.desired === 0) {
      out.push(
        fail('error', `DaemonSet ${where} schedules no pod at all (desired 0): no node gets flannel.`, {
          evidence: [ev(src, ds.raw ? [ds.raw] : [])],
          fix: [
            `kubectl -n ${ns} describe ds ${name}   # nodeSelector/affinity (kubernetes.io/os=linux) and tolerations`,
            'kubectl get nodes --show-labels',
          ],
        }),
      )
    }
    if (out.length === 0) {
      const nodes = ds.pods.map((p) => p.node).filter((n): n is string => n !== undefined)
      const count = ds.countsFromPods ? `${ds.pods.length}` : `${ds.ready}/${ds.desired}`
      out.push(
        ok(`DaemonSet ${where}: ${count} pods ready${nodes.length > 0 ? ` (on ${listNames(nodes)})` : ''}.`, {
          evidence: [ev(src, [...(ds.raw ? [ds.raw] : []), ...ds.pods.map((p) => p.raw)])],
        }),
      )
    }
    return out
  },
})
