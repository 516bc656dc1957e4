/**
 * net-conf.json: strict JSON parsing with precise errors, then decoding the way flannel's Go
 * `encoding/json` does it (exact key first, then case-insensitive; unknown keys ignored; last duplicate
 * wins). See flannel-facts §1.
 *
 * TYPES ONLY FOR NOW — the implementation is being written (parseNetConf).
 */

export type SyntaxCause =
  | 'hash-comment'
  | 'slash-comment'
  | 'trailing-comma'
  | 'single-quotes'
  | 'unquoted-key'
  | 'smart-quotes'
  | 'empty'
  | 'other'

export interface NetConfSyntaxError {
  /** 1-based, in the file the user edits (for a ConfigMap: the YAML file's line). */
  line: number
  /** 1-based column (in characters) of the offending character. */
  column: number
  cause: SyntaxCause
  /** Our sentence, naming the cause (`a '#' comment: JSON has no comments`). */
  message: string
  /** What flannel itself logs, e.g. `error parsing subnet config: invalid character '#' looking for beginning of object key string`. */
  flannelMessage: string
  /** The offending line as written. */
  lineText: string
  /** Spaces and a `^` under the offending column. */
  caret: string
}

/** A key as written, and what flannel makes of it. */
export interface NetConfKey {
  /** Dotted path with the canonical names of the parents, e.g. `Backend.Directrouting`. */
  path: string
  given: string
  /** The field flannel maps it to; absent for unknown keys. */
  canonical?: string
  /** True when `given` equals `canonical` exactly. */
  exact: boolean
  line: number
  column: number
}

export interface NetConfProblem {
  path: string
  line: number
  column: number
  /** Our sentence. */
  message: string
  /** What flannel would log for this, when it would refuse to start. */
  flannelMessage?: string
  /** For unknown keys: the closest real key. */
  suggestion?: string
}

/** The config as flannel decodes it. Only fields that were present (or have a flannel default) are set. */
export interface NetConf {
  Network?: string
  IPv6Network?: string
  EnableIPv4: boolean
  EnableIPv6: boolean
  EnableNFTables: boolean
  SubnetLen?: number
  SubnetMin?: string
  SubnetMax?: string
  IPv6SubnetLen?: number
  IPv6SubnetMin?: string
  IPv6SubnetMax?: string
  /** False when `Backend` is absent: flannel then uses `udp`. */
  backendPresent: boolean
  /** Lower-cased `Backend.Type`; `udp` when Backend is absent; `""` when Backend has no Type. */
  backendType: string
  /** Backend options under their canonical names for the backend type (e.g. `DirectRouting`, `VNI`, `Port`). */
  backend: Record<string, unknown>
  /** Every key found, with how it matched. */
  keys: NetConfKey[]
  /** Keys flannel ignores, with a suggestion. */
  unknownKeys: NetConfProblem[]
  /** Wrong JSON types and invalid values that make flannel refuse the config. */
  typeErrors: NetConfProblem[]
  /** Keys given twice (last wins). */
  duplicates: NetConfProblem[]
}

export interface NetConfFact {
  /** Where it was read: a file path, a bundle path, or `ConfigMap kube-flannel-cfg (FILE)`. */
  source: string
  text: string
  /** Lines to add to a line number in `text` to get the line in the source file (for ConfigMaps). */
  lineOffset: number
  /** Columns to add (the YAML block indentation). */
  columnOffset: number
  result: {ok: true; conf: NetConf} | {ok: false; error: NetConfSyntaxError}
}
