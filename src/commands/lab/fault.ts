import {Args, Command, Flags} from '@oclif/core'

import type {FaultInfo, LabFaultResult} from '../../lab/heal.js'
import {labFlags, progress} from './common.js'

export default class LabFaultCommand extends Command {
  static override summary = 'Break a lab the way a real flannel cluster breaks'
  static override description = `Puts one catalogued fault into a ready lab, exactly as it shows on a real node (kernel state inside the lab's namespaces, or the lab's net-conf.json, nodes.json, subnet.env or CNI folder), and records it in the lab's state (lab status lists it). --list shows every fault with the check ids lab doctor must then report, at error or warning level, on any node — and no other. Faults can be stacked; lab heal undoes them all.

--node aims the fault at a node (default node-1); faults about a peer use the next node after it.

Exit codes: 0 applied; 1 it failed (what was done is recorded: lab heal undoes it); 2 usage error (no such lab, fault or node; the fault needs another backend or more nodes; already active there).`
  static override examples = [
    '<%= config.bin %> lab fault --list',
    '<%= config.bin %> lab fault forward-drop',
    '<%= config.bin %> lab fault stale-fdb --node node-2',
    '<%= config.bin %> lab fault --name sec xfrm-missing-policy --json',
  ]
  static override enableJsonFlag = true
  static override args = {
    fault: Args.string({description: 'Fault name (see --list)'}),
  }
  static override flags = {
    ...labFlags,
    node: Flags.string({summary: 'Node the fault is aimed at (node-2, or 2)', default: 'node-1'}),
    list: Flags.boolean({char: 'l', summary: 'List the faults and the check ids doctor must report'}),
  }

  async run(): Promise<LabFaultResult | {faults: FaultInfo[]}> {
    const {args, flags} = await this.parse(LabFaultCommand)
    const [{labFault, faultCatalogue}, {LabError}, {LabOptionsError}, {execaRunner}, {nodeFs}, report] =
      await Promise.all([
        import('../../lab/heal.js'),
        import('../../lab/lab.js'),
        import('../../lab/topology.js'),
        import('../../host/runner.js'),
        import('../../host/fs.js'),
        import('../../report/lab.js'),
      ])
    if (flags.list) {
      const faults = faultCatalogue()
      if (!this.jsonEnabled()) process.stdout.write(report.renderFaultList(faults))
      return {faults}
    }
    if (!args.fault) this.error('give the fault to apply (lab fault --list shows them)', {exit: 2})
    const node = /^\d+$/.test(flags.node) ? `node-${flags.node}` : flags.node
    let r: LabFaultResult
    try {
      r = await labFault(
        {name: flags.name, stateRoot: flags['state-dir'], fault: args.fault, node},
        {runner: execaRunner(20_000), fs: nodeFs, progress},
      )
    } catch (e) {
      if (e instanceof LabOptionsError) this.error(e.message, {exit: 2})
      if (e instanceof LabError) this.error(e.message, {exit: e.exitCode})
      throw e
    }
    if (!this.jsonEnabled()) process.stdout.write(report.renderLabFault(r))
    return r
  }
}
