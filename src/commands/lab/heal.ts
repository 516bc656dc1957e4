import {Command} from '@oclif/core'

import type {LabHealResult} from '../../lab/heal.js'
import {labFlags, progress} from './common.js'

export default class LabHealCommand extends Command {
  static override summary = 'Undo every fault in a lab and bring it back to what lab up built'
  static override description = `Undoes each active fault (newest first) where setup would not (stray rules, nftables tables, links, xfrm policies, sysctls), writes back the lab's files as lab up left them (net-conf.json, nodes.json, subnet.env, CNI folders; extra CNI files removed), runs flannelctl setup on every node until every plan is empty (ipsec: rewrites every node's xfrm policies) and re-wires the pods as the CNI plugins would wire a new pod (a cni0 with a conflicting address is deleted and recreated, the pods re-attached). Afterwards lab doctor is clean and lab probe reaches every pod. On a lab without faults it changes nothing.

Exit codes: 0 healed; 1 a step failed; 2 usage error (no such lab).`
  static override examples = ['<%= config.bin %> lab heal', '<%= config.bin %> lab heal --name sec --json']
  static override enableJsonFlag = true
  static override flags = {...labFlags}

  async run(): Promise<LabHealResult> {
    const {flags} = await this.parse(LabHealCommand)
    const [{labHeal}, {LabError}, {LabOptionsError}, {execaRunner}, {nodeFs}, {renderLabHeal}] =
      await Promise.all([
        import('../../lab/heal.js'),
        import('../../lab/lab.js'),
        import('../../lab/topology.js'),
        import('../../host/runner.js'),
        import('../../host/fs.js'),
        import('../../report/lab.js'),
      ])
    let r: LabHealResult
    try {
      r = await labHeal(
        {name: flags.name, stateRoot: flags['state-dir']},
        {runner: execaRunner(20_000), fs: nodeFs, progress},
      )
    } catch (e) {
      if (e instanceof LabOptionsError) this.error(e.message, {exit: 2})
      if (e instanceof LabError) this.error(e.message, {exit: e.exitCode})
      throw e
    }
    if (!this.jsonEnabled()) process.stdout.write(renderLabHeal(r))
    return r
  }
}
