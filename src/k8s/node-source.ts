/**
 * The Kubernetes API as `setup`'s node store: peers are the cluster's Node objects (listed page by page)
 * and this node's lease is published as flanneld does it — a strategic-merge PATCH of the `nodes/NAME/status`
 * subresource setting only flannel's annotations (flannel-facts §3.5, §7.1; RBAC `patch nodes/status`).
 */
import type {KubeNode} from '../model.js'
import {ParseError} from '../parse/errors.js'
import {parseNodes} from '../parse/kube.js'
import type {NodeSource} from '../setup/node-source.js'
import {KubeError, type KubeClient} from './client.js'

/** A failure of the API node source: one line naming the call and what the API said. */
export class KubeNodeSourceError extends Error {
  override readonly name = 'KubeNodeSourceError'
}

export function kubeNodeSource(client: KubeClient, describe = 'the Kubernetes API'): NodeSource {
  const wrap = (what: string, e: unknown): Error => {
    if (e instanceof KubeError) {
      const hint =
        e.kind === 'forbidden'
          ? what.startsWith('list')
            ? ' (kubectl auth can-i list nodes)'
            : ' (kubectl auth can-i patch nodes --subresource=status)'
          : ''
      return new KubeNodeSourceError(`${describe}: cannot ${what}: ${e.message}${hint}`)
    }
    return e instanceof Error ? e : new Error(String(e))
  }
  return {
    describe,
    async list(): Promise<KubeNode[]> {
      let items
      try {
        items = await client.listNodes()
      } catch (e) {
        throw wrap('list nodes', e)
      }
      try {
        return parseNodes(JSON.stringify({apiVersion: 'v1', kind: 'List', items}))
      } catch (e) {
        if (e instanceof ParseError)
          throw new KubeNodeSourceError(`${describe}: the node list is not readable: ${e.message}`)
        throw e
      }
    },
    async publish(nodeName, annotations) {
      let nodes: KubeNode[]
      try {
        nodes = parseNodes(JSON.stringify({kind: 'List', items: await client.listNodes()}))
      } catch (e) {
        throw wrap('list nodes', e)
      }
      const node = nodes.find((n) => n.name === nodeName)
      if (node === undefined)
        throw new KubeNodeSourceError(
          `${describe}: node ${nodeName} does not exist (kubectl get node ${nodeName})`,
        )
      const changes: Record<string, string> = {}
      for (const [k, v] of Object.entries(annotations)) if (node.annotations[k] !== v) changes[k] = v
      if (Object.keys(changes).length === 0) return {changed: false}
      try {
        await client.patchNodeStatusAnnotations(nodeName, changes)
      } catch (e) {
        throw wrap(`patch nodes/${nodeName}/status`, e)
      }
      return {changed: true}
    },
  }
}
