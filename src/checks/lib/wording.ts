/**
 * Wording that checks of several areas (kube.*, node.*) share: how a Node object's fields are quoted as
 * evidence, how node names are listed in a sentence, and the kubectl lines that reach or restart the
 * flannel pod of one node (DaemonSet pods labelled `app=flannel` in namespace `kube-flannel`;
 * flannel-facts §7.3). One place, so the same fact reads the same in every finding.
 */
import type {KubeNode} from '../../model.js'
import type {Finding} from '../types.js'
import {FLANNEL_NS} from './flannel.js'
import {unknown} from './result.js'

export const nodeSubject = (name: string): string => `node ${name}`

/** `worker-2 spec.podCIDR=10.244.2.0/24` (and `spec.podCIDRs=[...]` when it says more). */
export function podCidrLine(n: KubeNode): string {
  const one = `${n.name} spec.podCIDR=${n.podCIDR ?? '<none>'}`
  if (n.podCIDRs.length === 0 || (n.podCIDRs.length === 1 && n.podCIDRs[0] === n.podCIDR)) return one
  return `${one} spec.podCIDRs=[${n.podCIDRs.join(', ')}]`
}

/** `worker-2 flannel.alpha.coreos.com/public-ip: 10.0.2.15` (as the annotation appears in the YAML). */
export function annotationLine(n: KubeNode, key: string): string {
  return `${n.name} ${key}: ${n.annotations[key] ?? '<none>'}`
}

/** `worker-2 status.addresses InternalIP=192.168.56.12` */
export const addressLine = (n: KubeNode, a: {type: string; address: string}): string =>
  `${n.name} status.addresses ${a.type}=${a.address}`

/** Names joined for a sentence: `a`, `a and b`, `a, b and c`. */
export function listNames(xs: readonly string[], max = 8): string {
  if (xs.length <= 1) return xs[0] ?? ''
  if (xs.length > max) return `${xs.slice(0, max).join(', ')} and ${xs.length - max} more`
  return `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`
}

/** `Node a` or `All 3 nodes (a, b and c)`, and whether the verb that follows is plural. */
export function nodesPhrase(names: readonly string[]): {phrase: string; plural: boolean} {
  if (names.length === 1) return {phrase: `Node ${names[0] ?? ''}`, plural: false}
  return {phrase: `All ${names.length} nodes (${listNames(names)})`, plural: true}
}

const onNode = (node: string | undefined): string =>
  `-l app=flannel --field-selector spec.nodeName=${node ?? 'NODE'}`

/** kubectl lines that show the flannel pod of one node and its log. */
export function flannelPodCommands(node: string | undefined): string[] {
  const sel = onNode(node)
  return [
    `kubectl -n ${FLANNEL_NS} get pod ${sel} -o wide`,
    `kubectl -n ${FLANNEL_NS} logs -c kube-flannel $(kubectl -n ${FLANNEL_NS} get pod ${sel} -o name)`,
  ]
}

/**
 * The kubectl line that restarts flannel on one node (`NODE` when the name is unknown): the DaemonSet
 * recreates the pod, and the new flanneld re-creates its device and re-programs every peer.
 */
export const restartFlannelOn = (node: string | undefined): string =>
  `kubectl -n ${FLANNEL_NS} delete pod ${onNode(node)}`

/** The `unknown` finding when no node object could be matched to this host (see `selfOf`). */
export function selfUnknown(nodes: readonly KubeNode[]): Finding {
  const names = nodes.map((n) => n.name).join(', ')
  return unknown(
    `Could not tell which of the ${nodes.length} nodes (${names || 'none'}) is this host: no node name was given and no node's public-ip or InternalIP is an address here`,
    {hint: 'pass --node-name NAME (or set NODE_NAME)'},
  )
}
