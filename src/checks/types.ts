import type {FactKey, Facts} from '../facts/types.js'

export type Area = 'netconf' | 'cni' | 'kube' | 'node' | 'logs' | 'probe'
export type Severity = 'error' | 'warning' | 'info'

/**
 * The outcome of one finding. `ok` healthy; `error`/`warning`/`info` an evaluated condition at that
 * level; `unknown` the evidence could not be looked at (says why and how to get it); `skip` the check
 * does not apply here (e.g. xfrm on a vxlan node).
 */
export type Status = 'ok' | 'error' | 'warning' | 'info' | 'unknown' | 'skip'

/** Evidence lines quoted from one source (a bundle path, a command, a file). */
export interface Evidence {
  source: string
  lines: string[]
}

export interface Finding {
  status: Status
  /** One sentence: the observed fact (for ok: what was verified). */
  message: string
  /** What the finding is about when a check reports per node/peer/rule (`node worker-2`, `peer 10.244.2.0/24`). */
  subject?: string
  evidence: Evidence[]
  /** Commands or edits a person can paste, one per line. */
  fix?: string[]
  /** For unknown/skip: how to get the evidence (`run as root`, `pass --nodes-file`). */
  hint?: string
  /** Where in a file the finding points (net-conf.json / manifest line and column), for SARIF and editors. */
  location?: {file: string; line: number; column?: number}
}

export interface CheckDef {
  /** Stable id `area.kebab-condition`; renaming it is a breaking change. */
  id: string
  area: Area
  /** The healthy condition. */
  title: string
  /** The level of the check's main failure; individual findings may be lower (e.g. an info note). */
  severity: Severity
  /** Facts the engine must fetch before `evaluate` (it never fetches anything itself). */
  needs: readonly FactKey[]
  /** Pure: reads only `facts`; returns at least one finding. */
  evaluate(facts: Facts): Finding[]
}

export function defineCheck(def: CheckDef): CheckDef {
  return def
}
