import type {LiveOptions} from '../facts/sources.js'

/** The flags of doctor and collect that say where a live capture looks (names as on the command line). */
export interface LiveFlagValues {
  timeout: number
  netns?: string | undefined
  'net-conf'?: string | undefined
  'subnet-env'?: string | undefined
  'nodes-file'?: string | undefined
  'node-name'?: string | undefined
  'cni-dir'?: string | undefined
  log?: string[] | undefined
}

/** The live source's options from those flags (an empty flag means "the default place"). */
export function liveOptionsFrom(flags: LiveFlagValues): LiveOptions {
  const o: LiveOptions = {timeoutMs: flags.timeout}
  if (flags.netns) o.netns = flags.netns
  if (flags['net-conf']) o.netConfPath = flags['net-conf']
  if (flags['subnet-env']) o.subnetEnvPath = flags['subnet-env']
  if (flags['nodes-file']) o.nodesFile = flags['nodes-file']
  if (flags['node-name']) o.nodeName = flags['node-name']
  if (flags['cni-dir']) o.cniDir = flags['cni-dir']
  if (flags.log) o.logFiles = flags.log
  return o
}
