import {Command, Flags} from '@oclif/core'

import type {LabUpResult} from '../../lab/lab.js'
import {labFlags, progress} from './common.js'

export default class LabUp extends Command {
  static override summary =
    'Build a flannel cluster of network namespaces and program it with flannelctl setup'
  static override description = `Creates one switch namespace (a bridge) per underlay subnet, a router between them, one namespace per node and per pod, all named flt-<name>-*. Every node is then programmed by flannelctl setup itself (the real code path) against the lab's own nodes file, in rounds until every node's plan is empty; the pods are wired as the flannel CNI plugin and the bridge plugin do (cni0 with the subnet's gateway, veths with FLANNEL_MTU, default route via the gateway).

ipsec: setup does not program it, so the lab installs flannel's xfrm policies (three per peer, reqid 11) and static SAs standing in for charon's; a kernel without ESP refuses the SAs, which is said and the lab carries on with the policies.

Nothing is configured in the machine's own namespace and the underlay has no way out. State: <state-dir>/<name>/.

Exit codes: 0 built; 1 a step failed (what was built stays for a look; lab down removes it); 2 usage error, or the lab already exists.`
  static override examples = [
    '<%= config.bin %> lab up',
    '<%= config.bin %> lab up --nodes 4 --subnets 2 --direct-routing',
    '<%= config.bin %> lab up --name mtu --backend host-gw --underlay-mtu 9000 --pods-per-node 2',
    '<%= config.bin %> lab up --name sec --backend ipsec --json',
  ]
  static override enableJsonFlag = true
  static override flags = {
    ...labFlags,
    nodes: Flags.integer({summary: 'Number of nodes (1–50)', default: 3}),
    subnets: Flags.integer({
      summary: 'Underlay subnets the nodes are spread over, round-robin (1–nodes)',
      default: 1,
    }),
    backend: Flags.string({
      summary: 'flannel backend',
      options: ['vxlan', 'host-gw', 'ipsec'],
      default: 'vxlan',
    }),
    'direct-routing': Flags.boolean({summary: 'vxlan DirectRouting: same-subnet peers get direct routes'}),
    'pods-per-node': Flags.integer({summary: 'Pods per node (0–10)', default: 1}),
    'underlay-mtu': Flags.integer({summary: 'MTU of the underlay links (1280–9000)', default: 1500}),
  }

  async run(): Promise<LabUpResult> {
    const {flags} = await this.parse(LabUp)
    const [{labUp, LabError}, {LabOptionsError}, {execaRunner}, {nodeFs}, {renderLabUp}] = await Promise.all([
      import('../../lab/lab.js'),
      import('../../lab/topology.js'),
      import('../../host/runner.js'),
      import('../../host/fs.js'),
      import('../../report/lab.js'),
    ])
    let result: LabUpResult
    try {
      result = await labUp(
        {
          name: flags.name,
          stateRoot: flags['state-dir'],
          nodes: flags.nodes,
          subnets: flags.subnets,
          backend: flags.backend as 'vxlan' | 'host-gw' | 'ipsec',
          directRouting: flags['direct-routing'],
          podsPerNode: flags['pods-per-node'],
          underlayMtu: flags['underlay-mtu'],
        },
        {runner: execaRunner(10_000), fs: nodeFs, progress},
      )
    } catch (e) {
      if (e instanceof LabOptionsError) this.error(e.message, {exit: 2})
      if (e instanceof LabError) this.error(e.message, {exit: e.exitCode})
      throw e
    }
    if (!this.jsonEnabled()) process.stdout.write(renderLabUp(result))
    return result
  }
}
