/**
 * select → prefetch facts → evaluate → report. The only place where checks meet evidence; checks stay
 * pure, and this function never prints (the command renders the returned report).
 */
import {collectFacts, newFactMemo, type FactMemo} from '../facts/store.js'
import type {EvidenceSource} from '../facts/sources.js'
import type {FactKey, Facts} from '../facts/types.js'
import type {CheckDef, Finding, Status} from '../checks/types.js'

export const REPORT_SCHEMA = 'flannelctl/doctor-report'
export const REPORT_SCHEMA_VERSION = 1

export type FailOn = 'error' | 'warning'

export interface CheckResult {
  id: string
  area: string
  title: string
  severity: string
  status: Status
  findings: Finding[]
}

export interface Summary {
  ok: number
  error: number
  warning: number
  info: number
  unknown: number
  skip: number
}

export interface DoctorReport {
  schema: typeof REPORT_SCHEMA
  schemaVersion: typeof REPORT_SCHEMA_VERSION
  tool: {name: 'flannelctl'; version: string}
  generatedAt: string
  origin: string
  node?: string
  failOn: FailOn
  /** `failed`: a check at or above failOn; `incomplete`: nothing failed but something could not be looked at. */
  result: 'healthy' | 'failed' | 'incomplete'
  exitCode: 0 | 1 | 3
  summary: Summary
  checks: CheckResult[]
}

/** Order of importance, for the status of a check with several findings. */
const RANK: Record<Status, number> = {error: 5, warning: 4, unknown: 3, info: 2, ok: 1, skip: 0}

export function worst(findings: readonly Finding[]): Status {
  let s: Status = 'skip'
  for (const f of findings) if (RANK[f.status] > RANK[s]) s = f.status
  return s
}

export class SelectionError extends Error {
  override readonly name = 'SelectionError'
}

/** `--only` / `--skip` by id (`node.mtu`) or area (`node`). Unknown names are a usage error. */
export function selectChecks(
  all: readonly CheckDef[],
  only: readonly string[],
  skip: readonly string[],
): CheckDef[] {
  const areas = new Set(all.map((c) => c.area))
  const ids = new Set(all.map((c) => c.id))
  for (const name of [...only, ...skip]) {
    if (!ids.has(name) && !areas.has(name as CheckDef['area'])) {
      const near = [...ids]
        .filter((id) => id.includes(name) || name.includes(id.split('.')[1] ?? '#'))
        .slice(0, 3)
      throw new SelectionError(
        `unknown check or area '${name}'${near.length ? ` (did you mean ${near.join(', ')}?)` : ''}; see 'flannelctl checks'`,
      )
    }
  }
  const hit = (c: CheckDef, list: readonly string[]) => list.includes(c.id) || list.includes(c.area)
  return all.filter((c) => (only.length === 0 || hit(c, only)) && !hit(c, skip))
}

/**
 * Shared between the nodes of one run: parsed facts, and the results of checks that read only cluster
 * facts (nodes, net-conf, DaemonSet, RBAC) — for the same parsed facts such a check gives the same answer
 * on every node, so it is evaluated once.
 */
export interface DoctorMemo {
  facts: FactMemo
  results: Map<string, CheckResult>
  ids: WeakMap<object, number>
  nextId: number
}

export const newDoctorMemo = (): DoctorMemo => ({
  facts: newFactMemo(),
  results: new Map(),
  ids: new WeakMap(),
  nextId: 0,
})

const CLUSTER_FACTS: ReadonlySet<FactKey> = new Set<FactKey>(['nodes', 'netConf', 'daemonset', 'rbac'])

/** A check that reads only cluster facts: the same on every node that has the same cluster evidence. */
export const isClusterCheck = (c: Pick<CheckDef, 'needs'>): boolean =>
  c.needs.every((k) => CLUSTER_FACTS.has(k))

function resultKey(c: CheckDef, facts: Facts, memo: DoctorMemo): string | undefined {
  if (!isClusterCheck(c)) return undefined
  const parts = c.needs.map((k) => {
    const v = facts.get(k) as object
    let id = memo.ids.get(v)
    if (id === undefined) {
      id = memo.nextId++
      memo.ids.set(v, id)
    }
    return id
  })
  return `${c.id}:${parts.join(',')}`
}

export function evaluate(checks: readonly CheckDef[], facts: Facts, memo?: DoctorMemo): CheckResult[] {
  return checks.map((c) => {
    const key = memo === undefined ? undefined : resultKey(c, facts, memo)
    const hit = key === undefined ? undefined : memo?.results.get(key)
    if (hit !== undefined) return hit
    const r = evaluateOne(c, facts)
    if (key !== undefined) memo?.results.set(key, r)
    return r
  })
}

function evaluateOne(c: CheckDef, facts: Facts): CheckResult {
  {
    let findings: Finding[]
    try {
      findings = c.evaluate(facts)
      if (findings.length === 0) findings = [{status: 'skip', message: 'nothing to check', evidence: []}]
    } catch (e) {
      // A check must never take the run down; a thrown error is our bug, reported as "could not look".
      findings = [
        {
          status: 'unknown',
          message: `The check failed internally: ${(e as Error).message}`,
          evidence: [],
          hint: 'please report this with the bundle',
        },
      ]
    }
    return {id: c.id, area: c.area, title: c.title, severity: c.severity, status: worst(findings), findings}
  }
}

export function summarize(results: readonly CheckResult[]): Summary {
  const s: Summary = {ok: 0, error: 0, warning: 0, info: 0, unknown: 0, skip: 0}
  for (const r of results) s[r.status]++
  return s
}

export function verdict(summary: Summary, failOn: FailOn): Pick<DoctorReport, 'result' | 'exitCode'> {
  const failed = summary.error > 0 || (failOn === 'warning' && summary.warning > 0)
  if (failed) return {result: 'failed', exitCode: 1}
  if (summary.unknown > 0) return {result: 'incomplete', exitCode: 3}
  return {result: 'healthy', exitCode: 0}
}

/** The statuses that put a check in the nodes × checks table. */
const ATTENTION: readonly Status[] = ['error', 'warning', 'unknown']

/** One verdict over several node reports: failed if any failed, else incomplete if any was. */
export function aggregateReports(reports: readonly Pick<DoctorReport, 'checks' | 'exitCode'>[]): {
  result: DoctorReport['result']
  exitCode: 0 | 1 | 3
  failing: string[]
  summary: Summary
} {
  const summary: Summary = {ok: 0, error: 0, warning: 0, info: 0, unknown: 0, skip: 0}
  const order: string[] = []
  const failing = new Set<string>()
  for (const r of reports)
    for (const c of r.checks) {
      summary[c.status]++
      if (!order.includes(c.id)) order.push(c.id)
      if (ATTENTION.includes(c.status)) failing.add(c.id)
    }
  const verdict = reports.some((r) => r.exitCode === 1)
    ? ({result: 'failed', exitCode: 1} as const)
    : reports.some((r) => r.exitCode === 3)
      ? ({result: 'incomplete', exitCode: 3} as const)
      : ({result: 'healthy', exitCode: 0} as const)
  return {...verdict, failing: order.filter((id) => failing.has(id)), summary}
}

export interface DoctorOptions {
  checks: readonly CheckDef[]
  failOn: FailOn
  version: string
  now?: Date
  memo?: DoctorMemo
}

export async function runDoctor(source: EvidenceSource, opts: DoctorOptions): Promise<DoctorReport> {
  const needs = new Set<FactKey>(['host'])
  for (const c of opts.checks) for (const k of c.needs) needs.add(k)
  const {facts, host} = await collectFacts(source, needs, opts.memo?.facts)
  return buildReport(evaluate(opts.checks, facts, opts.memo), {
    origin: source.origin,
    failOn: opts.failOn,
    version: opts.version,
    now: opts.now ?? new Date(),
    ...(host.nodeName ? {node: host.nodeName} : {}),
  })
}

export function buildReport(
  checks: CheckResult[],
  o: {origin: string; failOn: FailOn; version: string; now: Date; node?: string},
): DoctorReport {
  const summary = summarize(checks)
  const report: DoctorReport = {
    schema: REPORT_SCHEMA,
    schemaVersion: REPORT_SCHEMA_VERSION,
    tool: {name: 'flannelctl', version: o.version},
    generatedAt: o.now.toISOString(),
    origin: o.origin,
    failOn: o.failOn,
    ...verdict(summary, o.failOn),
    summary,
    checks,
  }
  if (o.node !== undefined) report.node = o.node
  return report
}

/** A report for a run that could not start (bad bundle, bad flags after parsing): JUnit/JSON still get a result. */
export function abortedReport(
  reason: string,
  o: {origin: string; failOn: FailOn; version: string; now: Date},
): DoctorReport {
  const check: CheckResult = {
    id: 'doctor.run',
    area: 'doctor',
    title: 'The doctor could run',
    severity: 'error',
    status: 'error',
    findings: [{status: 'error', message: reason, evidence: []}],
  }
  return buildReport([check], o)
}
