import {Flags} from '@oclif/core'

import type {FleetSelection} from '../engine/fleet.js'
import type {KubeClient} from '../k8s/client.js'
import {idList} from './check-flags.js'

/** How to reach the Kubernetes API, with kubectl's names (doctor and collect). */
export const kubeFlags = {
  kube: Flags.boolean({
    summary:
      'Read the cluster evidence (nodes, ConfigMap, DaemonSet, RBAC, pod logs) from the Kubernetes API (KUBECONFIG, ~/.kube/config or in-cluster)',
  }),
  kubeconfig: Flags.string({summary: 'Kubeconfig file for the Kubernetes API (implies --kube)'}),
  context: Flags.string({summary: 'Kubeconfig context to use (implies --kube)'}),
  namespace: Flags.string({
    summary: "flannel's namespace (implies --kube; default: kube-flannel, else kube-system)",
  }),
}

/** Which nodes to look at through their kube-flannel pods (exec API). */
export const fleetFlags = {
  'all-nodes': Flags.boolean({
    summary: "Every node, through each node's kube-flannel pod (exec API; implies --kube)",
    exclusive: ['nodes', 'sample'],
  }),
  nodes: Flags.string({
    summary: 'These nodes (comma-separated), through their kube-flannel pods',
    exclusive: ['all-nodes', 'sample'],
  }),
  sample: Flags.integer({
    summary: 'N nodes chosen for variety: broken-looking first, odd kernels/OS, some healthy for contrast',
    min: 1,
    exclusive: ['all-nodes', 'nodes'],
  }),
  concurrency: Flags.integer({
    summary: 'Nodes looked at at once with --all-nodes/--nodes/--sample',
    default: 10,
    min: 1,
    max: 200,
  }),
  'node-timeout': Flags.integer({
    summary: 'Time limit for one node with --all-nodes/--nodes/--sample, in seconds',
    default: 120,
    min: 1,
  }),
}

/** Bad input found after parsing (exit 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError'
}

type KubeFlagValues = {kubeconfig?: string | undefined; context?: string | undefined; timeout: number}
type FleetFlagValues = {'all-nodes'?: boolean; nodes?: string | undefined; sample?: number | undefined}

export function fleetSelection(flags: FleetFlagValues): FleetSelection {
  if (flags['all-nodes']) return {mode: 'all'}
  if (flags.nodes !== undefined) {
    const names = idList([flags.nodes])
    if (names.length === 0) throw new UsageError('--nodes needs at least one node name')
    return {mode: 'names', names}
  }
  return {mode: 'sample', size: flags.sample ?? 1}
}

export const wantsFleet = (flags: FleetFlagValues): boolean =>
  flags['all-nodes'] === true || flags.nodes !== undefined || flags.sample !== undefined

/** A KubeClient for the flags; a kubeconfig that cannot be used is a usage error (exit 2). */
export async function connect(flags: KubeFlagValues): Promise<KubeClient> {
  const [{kubeClientFromConfig}, {KubeError}] = await Promise.all([
    import('../k8s/adapter.js'),
    import('../k8s/client.js'),
  ])
  try {
    const co: {kubeconfig?: string; context?: string; timeoutMs: number} = {
      timeoutMs: Math.max(flags.timeout, 10_000),
    }
    if (flags.kubeconfig !== undefined) co.kubeconfig = flags.kubeconfig
    if (flags.context !== undefined) co.context = flags.context
    return kubeClientFromConfig(co)
  } catch (e) {
    if (e instanceof KubeError) throw new UsageError(e.message)
    throw e
  }
}
