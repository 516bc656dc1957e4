/**
 * kube.rbac — in kube mode flanneld talks to the API server as the ServiceAccount `flannel` (namespace
 * `kube-flannel`, `kube-system` up to v0.18). It GETs its own pod to learn its node name (`get pods`), runs
 * a node informer (`list`/`watch` nodes, `get` for its own node) and writes its lease annotations and the
 * NetworkUnavailable condition through the status subresource (`patch nodes/status`); kube-flannel.yml's
 * ClusterRole `flannel` grants exactly these (flannel-facts §7.1, §7.2). A missing verb shows as
 * `... is forbidden: User "system:serviceaccount:kube-flannel:flannel" cannot patch resource "nodes/status"`
 * (older servers: `the server does not allow access to the requested resource`), or as `timeout contacting
 * kube-api, failed to patch node`. Access-review answers win over evaluating the bound roles' rules.
 * The old fix `Documentation/k8s-old-manifests/kube-flannel-rbac.yml` was deleted in v0.28.2 (§11).
 */
import type {AccessReview, FlannelRbac, LogFile, RbacBinding, RbacRole, RbacRule} from '../../model.js'
import type {Evidence, Finding} from '../types.js'
import {defineCheck} from '../types.js'
import {ev, fail, ok, skip, unavailable, unknown} from '../lib/result.js'
import {explainLines, type Explanation} from '../lib/messages.js'
import {FLANNEL_NS} from '../lib/flannel.js'
import {logSource} from '../lib/kube-helpers.js'

/** One permission flanneld needs. */
interface Need {
  verb: string
  resource: string
  subresource?: string
  /** Namespaced (pods: the flannel namespace) or cluster-scoped (nodes). */
  namespaced: boolean
  why: string
}

const NEEDS: readonly Need[] = [
  {verb: 'get', resource: 'pods', namespaced: true, why: 'to read its own pod and learn its node name'},
  {verb: 'get', resource: 'nodes', namespaced: false, why: 'to read its own node'},
  {verb: 'list', resource: 'nodes', namespaced: false, why: 'for the node informer'},
  {verb: 'watch', resource: 'nodes', namespaced: false, why: 'for the node informer'},
  {
    verb: 'patch',
    resource: 'nodes',
    subresource: 'status',
    namespaced: false,
    why: 'to write its lease annotations and the NetworkUnavailable condition',
  },
]

const resOf = (n: {resource: string; subresource?: string}): string =>
  n.subresource ? `${n.resource}/${n.subresource}` : n.resource
const needName = (n: Need): string => `${n.verb} ${resOf(n)}`

const REAPPLY =
  'kubectl apply -f https://github.com/flannel-io/flannel/releases/latest/download/kube-flannel.yml'

interface Sa {
  namespace: string
  name: string
  how: string
}
const saUser = (sa: Sa): string => `system:serviceaccount:${sa.namespace}:${sa.name}`

/** Does a binding subject stand for the ServiceAccount (directly, or through its groups)? */
function namesSa(b: RbacBinding, sa: Sa): boolean {
  return b.subjects.some(
    (s) =>
      (s.kind === 'ServiceAccount' && s.name === sa.name && (s.namespace ?? b.namespace) === sa.namespace) ||
      (s.kind === 'User' && s.name === saUser(sa)) ||
      (s.kind === 'Group' &&
        ['system:serviceaccounts', `system:serviceaccounts:${sa.namespace}`, 'system:authenticated'].includes(
          s.name,
        )),
  )
}

/** Which ServiceAccount flannel runs as: the one a binding names (kube-flannel first), else from reviews. */
function findSa(rbac: FlannelRbac, dsNs: string | undefined, dsSa: string | undefined): Sa {
  const name = dsSa ?? 'flannel'
  if (dsNs !== undefined) return {namespace: dsNs, name, how: 'the DaemonSet evidence'}
  for (const ns of [FLANNEL_NS, 'kube-system']) {
    const sa: Sa = {namespace: ns, name, how: 'the bindings'}
    if (
      rbac.bindings.some((b) =>
        b.subjects.some(
          (s) => s.kind === 'ServiceAccount' && s.name === name && (s.namespace ?? b.namespace) === ns,
        ),
      )
    )
      return sa
  }
  for (const r of rbac.reviews) {
    const m = /^system:serviceaccount:([^:]+):(.+)$/.exec(r.user ?? '')
    if (m && /flannel/.test(m[2] ?? ''))
      return {namespace: m[1] ?? FLANNEL_NS, name: m[2] ?? name, how: 'the access reviews'}
  }
  return {namespace: FLANNEL_NS, name, how: 'the default of kube-flannel.yml'}
}

/** Kubernetes RBAC rule matching (rbac/v1 `RuleAllows`): groups, resources (a star, or star-slash-subresource), verbs (a star). */
function ruleAllows(r: RbacRule, n: Need): 'yes' | 'names' | 'no' {
  const group = r.apiGroups.includes('') || r.apiGroups.includes('*')
  const res = resOf(n)
  const resource =
    r.resources.includes('*') ||
    r.resources.includes(res) ||
    (n.subresource !== undefined && r.resources.includes(`*/${n.subresource}`))
  const verb = r.verbs.includes('*') || r.verbs.includes(n.verb)
  if (!group || !resource || !verb) return 'no'
  // resourceNames limit a rule to named objects; list/watch of a collection never match them.
  return r.resourceNames.length === 0 ? 'yes' : 'names'
}

const ruleLine = (role: RbacRole, r: RbacRule): string =>
  `${role.kind} ${role.namespace ? `${role.namespace}/` : ''}${role.name}: apiGroups [${r.apiGroups.map((g) => JSON.stringify(g)).join(', ')}] resources [${r.resources.join(', ')}] verbs [${r.verbs.join(', ')}]` +
  (r.resourceNames.length > 0 ? ` resourceNames [${r.resourceNames.join(', ')}]` : '')

const bindingLine = (b: RbacBinding): string =>
  `${b.kind} ${b.namespace ? `${b.namespace}/` : ''}${b.name} → ${b.roleRef.kind} ${b.roleRef.name} (subjects ${b.subjects.map((s) => `${s.kind} ${s.namespace ? `${s.namespace}/` : ''}${s.name}`).join(', ')})`

interface Verdict {
  need: Need
  /** granted, missing, or unknown (a bound role is not in the evidence). */
  state: 'granted' | 'missing' | 'unknown'
  lines: string[]
  /** For missing: a rule that grants it only for some resourceNames. */
  onlyNames?: string[]
  review?: AccessReview
  /** Bound roles that the evidence does not hold. */
  absentRoles?: string[]
}

function reviewFor(reviews: readonly AccessReview[], sa: Sa, n: Need): AccessReview | undefined {
  return reviews.find(
    (r) =>
      (r.user === undefined || r.user === saUser(sa)) &&
      r.verb === n.verb &&
      r.resource === n.resource &&
      (r.subresource ?? '') === (n.subresource ?? '') &&
      r.group === '' &&
      (!n.namespaced || r.namespace === undefined || r.namespace === sa.namespace),
  )
}

/** The role a binding grants: a ClusterRole by name, a Role by name in the binding's own namespace. */
const boundRole = (rbac: FlannelRbac, b: RbacBinding): RbacRole | undefined =>
  rbac.roles.find(
    (r) =>
      r.kind === b.roleRef.kind &&
      r.name === b.roleRef.name &&
      (r.kind === 'ClusterRole' || r.namespace === b.namespace),
  )

function evaluateRules(rbac: FlannelRbac, sa: Sa, n: Need, bound: readonly RbacBinding[]): Verdict {
  const absent: string[] = []
  let names: string[] | undefined
  for (const b of bound) {
    // A RoleBinding grants only in its namespace: only namespaced resources of the flannel namespace.
    if (b.kind === 'RoleBinding' && (!n.namespaced || b.namespace !== sa.namespace)) continue
    const role = boundRole(rbac, b)
    if (!role) {
      absent.push(`${b.roleRef.kind} ${b.roleRef.name}`)
      continue
    }
    for (const r of role.rules) {
      const a = ruleAllows(r, n)
      if (a === 'yes') return {need: n, state: 'granted', lines: [bindingLine(b), ruleLine(role, r)]}
      if (a === 'names') names = r.resourceNames
    }
  }
  const v: Verdict = {need: n, state: absent.length > 0 ? 'unknown' : 'missing', lines: []}
  if (absent.length > 0) v.absentRoles = [...new Set(absent)]
  if (names) v.onlyNames = names
  return v
}

/** The kubectl line that adds a missing permission to the bound ClusterRole (or creates one). */
function addRuleFix(role: string | undefined, missing: readonly Need[], sa: Sa): string[] {
  const rules = new Map<string, Set<string>>()
  for (const n of missing) rules.set(resOf(n), (rules.get(resOf(n)) ?? new Set()).add(n.verb))
  const add = [...rules].map(([res, verbs]) => ({
    op: 'add',
    path: '/rules/-',
    value: {apiGroups: [''], resources: [res], verbs: [...verbs]},
  }))
  const out: string[] = []
  if (role !== undefined) {
    out.push(`kubectl patch clusterrole ${role} --type=json -p '${JSON.stringify(add)}'`)
  } else {
    out.push(
      `kubectl create clusterrole flannel --verb=get --resource=pods && kubectl patch clusterrole flannel --type=json -p '${JSON.stringify(add.filter((a) => a.value.resources[0] !== 'pods'))}'`,
      `kubectl create clusterrolebinding flannel --clusterrole=flannel --serviceaccount=${sa.namespace}:${sa.name}`,
    )
  }
  for (const n of missing)
    out.push(
      // kubectl reads `nodes/status` as TYPE/NAME (a node named "status"): ask about the subresource.
      `kubectl auth can-i ${n.verb} ${n.resource}${n.subresource ? ` --subresource=${n.subresource}` : ''} --as=${saUser(sa)}${n.namespaced ? ` -n ${sa.namespace}` : ''}`,
    )
  out.push(
    `# or re-apply the manifest, which grants all of them (Documentation/k8s-old-manifests/kube-flannel-rbac.yml no longer exists):`,
    REAPPLY,
    `kubectl -n ${sa.namespace} delete pod -l app=flannel   # restart flanneld so it retries`,
  )
  return out
}

/** A denial in the logs, mapped to the permission it names. */
interface Denial {
  x: Explanation
  source: string
  raw: string
  need?: Need
  user?: string
}

const RBAC_LOG_IDS = new Set(['rbac-forbidden', 'rbac-no-access'])

function denials(files: readonly LogFile[], factSource: string): Denial[] {
  const out: Denial[] = []
  for (const f of files) {
    for (const x of explainLines(f.lines)) {
      if (!RBAC_LOG_IDS.has(x.entry.id)) continue
      const d: Denial = {x, source: logSource(factSource, f), raw: x.raw.trim()}
      if (x.entry.id === 'rbac-forbidden') {
        const [user, verb, resource] = x.captures
        if (user) d.user = user
        const [res, sub] = (resource ?? '').split('/')
        const known = NEEDS.find(
          (n) => n.verb === verb && n.resource === res && (n.subresource ?? '') === (sub ?? ''),
        )
        if (known) d.need = known
        else if (verb && res) {
          const need: Need = {
            verb,
            resource: res,
            namespaced: res === 'pods',
            why: 'as the API server reports',
          }
          if (sub) need.subresource = sub
          d.need = need
        }
      } else if (/error retrieving pod spec/.test(x.text) && NEEDS[0]) {
        d.need = NEEDS[0]
      }
      out.push(d)
    }
  }
  return out
}

/** `timeout contacting kube-api, failed to patch node` lines: supporting evidence for patch nodes/status. */
function patchTimeouts(files: readonly LogFile[], factSource: string): Evidence[] {
  const out: Evidence[] = []
  for (const f of files) {
    const lines = explainLines(f.lines)
      .filter((x) => x.entry.id === 'patch-node-timeout')
      .map((x) => x.raw.trim())
    if (lines.length > 0) out.push(ev(logSource(factSource, f), lines.slice(0, 2)))
  }
  return out
}

function denialEvidence(ds: readonly Denial[]): Evidence[] {
  const by = new Map<string, string[]>()
  for (const d of ds) by.set(d.source, [...(by.get(d.source) ?? []), d.raw])
  return [...by].map(([s, lines]) => ev(s, lines.slice(0, 3)))
}

export const check = defineCheck({
  id: 'kube.rbac',
  area: 'kube',
  title: 'The flannel ServiceAccount may get pods, get/list/watch nodes and patch nodes/status',
  severity: 'error',
  needs: ['rbac', 'logs', 'daemonset'],
  evaluate(facts) {
    const out: Finding[] = []
    const rbacA = facts.get('rbac')
    const logsA = facts.get('logs')
    const dsA = facts.get('daemonset')
    const ds = dsA.ok ? dsA.value : undefined
    const logDenials = logsA.ok ? denials(logsA.value, logsA.source) : []
    const timeouts = logsA.ok ? patchTimeouts(logsA.value, logsA.source) : []

    if (!rbacA.ok) {
      // Without the RBAC objects, the API server's own denials in the log are still facts.
      // RBAC evidence is optional (a node's bundle, a live run before the API adapter): none given and no
      // denial in the logs → the check does not apply; evidence that could not be read → unknown.
      if (logDenials.length === 0)
        return [
          rbacA.state === 'not-collected'
            ? skip(
                `No RBAC evidence was given (${rbacA.reason}).`,
                rbacA.hint === undefined ? {} : {hint: rbacA.hint},
              )
            : unavailable('the RBAC objects of the flannel ServiceAccount', rbacA),
        ]
      const byNeed = new Map<string, Denial[]>()
      for (const d of logDenials) {
        const k = d.need ? needName(d.need) : 'an unnamed permission'
        byNeed.set(k, [...(byNeed.get(k) ?? []), d])
      }
      for (const [k, ds2] of byNeed) {
        const first = ds2[0] as Denial
        const user = first.user ?? `system:serviceaccount:${ds?.namespace ?? FLANNEL_NS}:flannel`
        const needs = first.need ? [first.need] : []
        const m = /^system:serviceaccount:([^:]+):(.+)$/.exec(user)
        const sa: Sa = {namespace: m?.[1] ?? FLANNEL_NS, name: m?.[2] ?? 'flannel', how: 'the log'}
        out.push(
          fail(
            'error',
            `The API server denied flanneld (${user}) ${k === 'an unnamed permission' ? 'access ("the server does not allow access to the requested resource")' : `"${k}"`}, so flanneld cannot start on that node.`,
            {
              subject: k,
              evidence: [...denialEvidence(ds2), ...(first.need?.subresource === 'status' ? timeouts : [])],
              fix:
                needs.length > 0
                  ? addRuleFix('flannel', needs, sa)
                  : [`kubectl auth can-i --list --as=${user}`, REAPPLY],
            },
          ),
        )
      }
      if (rbacA.state !== 'not-collected')
        out.push(unavailable('the RBAC objects of the flannel ServiceAccount', rbacA))
      return out
    }

    const rbac = rbacA.value
    const src = rbacA.source
    const sa = findSa(rbac, ds?.namespace, ds?.serviceAccount)
    const bound = rbac.bindings.filter((b) => namesSa(b, sa))
    const boundCluster = bound.find(
      (b) => b.kind === 'ClusterRoleBinding' && b.roleRef.kind === 'ClusterRole',
    )
    const verdicts: Verdict[] = []
    for (const n of NEEDS) {
      const r = reviewFor(rbac.reviews, sa, n)
      if (r) {
        const v: Verdict = {need: n, state: r.allowed ? 'granted' : 'missing', lines: [r.raw], review: r}
        verdicts.push(v)
        continue
      }
      if (rbac.bindings.length === 0 && rbac.roles.length === 0) {
        verdicts.push({need: n, state: 'unknown', lines: []})
        continue
      }
      verdicts.push(evaluateRules(rbac, sa, n, bound))
    }

    const missing = verdicts.filter((v) => v.state === 'missing')
    const unknowns = verdicts.filter((v) => v.state === 'unknown')
    const who = `${sa.namespace}/${sa.name}`

    if (missing.length > 0) {
      const noBinding = bound.length === 0 && missing.every((v) => !v.review)
      const names = missing.map((v) => needName(v.need))
      const roleName = boundCluster?.roleRef.name
      const relevant = logDenials.filter(
        (d) => d.need && missing.some((v) => needName(v.need) === needName(d.need as Need)),
      )
      const why = missing.map((v) => `${needName(v.need)} (${v.need.why})`).join(', ')
      let message: string
      if (missing.every((v) => v.review)) {
        message = `The access review says the flannel ServiceAccount ${who} may not ${names.join(', ')}: flanneld needs ${why}.`
      } else if (noBinding) {
        message = `No ClusterRoleBinding or RoleBinding in ${src} names the flannel ServiceAccount ${who}, so it may not ${names.join(', ')}.`
      } else {
        const roles = [...new Set(bound.map((b) => `${b.roleRef.kind} ${b.roleRef.name}`))].join(', ')
        message = `No rule of the roles bound to the flannel ServiceAccount ${who} (${roles}) grants ${names.join(', ')}: flanneld needs ${why}.`
      }
      const partial = missing.filter((v) => v.onlyNames)
      if (partial.length > 0)
        message += ` (${partial.map((v) => `${needName(v.need)} is granted only for resourceNames ${v.onlyNames?.join(', ') ?? ''}`).join('; ')})`
      if (relevant.length > 0) message += " flanneld's log shows the API server denying it."
      const evidence: Evidence[] = [
        ev(src, [
          ...missing.flatMap((v) => (v.review ? [v.review.raw] : [])),
          ...bound.map(bindingLine),
          ...bound.flatMap((b) => {
            const role = boundRole(rbac, b)
            return role ? role.rules.map((r) => ruleLine(role, r)) : []
          }),
        ]),
        ...denialEvidence(relevant),
      ]
      if (missing.some((v) => v.need.subresource === 'status')) evidence.push(...timeouts)
      out.push(
        fail('error', message, {
          subject: names.join(', '),
          evidence,
          fix: addRuleFix(
            noBinding ? undefined : (roleName ?? 'flannel'),
            missing.map((v) => v.need),
            sa,
          ),
        }),
      )
    }
    if (unknowns.length > 0) {
      const absent = [...new Set(unknowns.flatMap((v) => v.absentRoles ?? []))]
      out.push(
        unknown(
          absent.length > 0
            ? `Whether ${who} may ${unknowns.map((v) => needName(v.need)).join(', ')} could not be evaluated: ${src} lacks the bound ${absent.join(', ')}.`
            : `${src} has no roles, bindings or access review for ${unknowns.map((v) => needName(v.need)).join(', ')}.`,
          {
            evidence: [ev(src, bound.map(bindingLine))],
            hint: 'kubectl get clusterroles,clusterrolebindings -o json > kubernetes/rbac.json',
          },
        ),
      )
    }
    // Denials in the log for permissions the evidence now grants: the log is older than the fix.
    const granted = verdicts.filter((v) => v.state === 'granted')
    const stale = logDenials.filter(
      (d) => d.need && granted.some((v) => needName(v.need) === needName(d.need as Need)),
    )
    if (stale.length > 0)
      out.push(
        fail(
          'info',
          `flanneld's log shows denials (${[...new Set(stale.map((d) => needName(d.need as Need)))].join(', ')}) that ${src} now grants: the log predates the fix.`,
          {
            evidence: denialEvidence(stale),
            fix: [`kubectl -n ${sa.namespace} delete pod -l app=flannel   # if a pod still crash-loops`],
          },
        ),
      )
    const unmapped = logDenials.filter(
      (d) => !d.need || !verdicts.some((v) => needName(v.need) === needName(d.need as Need)),
    )
    if (unmapped.length > 0)
      out.push(
        fail(
          'error',
          `The API server denied the flannel ServiceAccount access that ${src} does not explain.`,
          {
            evidence: denialEvidence(unmapped),
            fix: [`kubectl auth can-i --list --as=${saUser(sa)}`, REAPPLY],
          },
        ),
      )
    if (missing.length === 0 && unknowns.length === 0 && unmapped.length === 0) {
      const how = verdicts.every((v) => v.review)
        ? 'access reviews'
        : verdicts.some((v) => v.review)
          ? 'access reviews and bound roles'
          : 'bound roles'
      out.push(
        ok(`The flannel ServiceAccount ${who} may ${NEEDS.map(needName).join(', ')} (by its ${how}).`, {
          evidence: [ev(src, [...new Set(verdicts.flatMap((v) => v.lines))])],
        }),
      )
    }
    return out
  },
})
