/**
 * Where `setup` reads the cluster's Node objects and publishes this node's flannel annotations
 * (flannel-facts §3.5: `backend-type`, `backend-data`, `public-ip`, `kube-subnet-manager`). flanneld itself
 * PATCHes the node status through the API; until flannelctl talks to the API, a `kubectl get nodes` file
 * plays that role (src/host/nodes-file.ts). Both implement this one interface.
 */
import type {KubeNode} from '../model.js'

export interface NodeSource {
  /** For messages: where the nodes come from, e.g. `node file /root/nodes.yaml`. */
  describe: string
  list(): Promise<KubeNode[]>
  /**
   * Set exactly these annotations on the named node (other annotations and fields untouched).
   * `changed` is false when every value was already in place. Unknown node → rejects with an Error
   * naming the node and the source.
   */
  publish(nodeName: string, annotations: Record<string, string>): Promise<{changed: boolean}>
}
