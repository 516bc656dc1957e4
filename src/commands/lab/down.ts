import {Command} from '@oclif/core'

import type {LabDownResult} from '../../lab/lab.js'
import {labFlags, progress} from './common.js'

export default class LabDown extends Command {
  static override summary = 'Remove a lab: all its namespaces and its state folder'
  static override description = `Deletes every namespace named exactly like the lab's (flt-<name>-router, -sw<k>, -node-<i>, -node-<i>-pod<p>) and <state-dir>/<name>/. Works after a failed lab up too, and when there is nothing left to remove.

Exit codes: 0 removed (or nothing to remove); 1 something could not be removed; 2 usage error.`
  static override examples = ['<%= config.bin %> lab down', '<%= config.bin %> lab down --name mtu']
  static override enableJsonFlag = true
  static override flags = {...labFlags}

  async run(): Promise<LabDownResult> {
    const {flags} = await this.parse(LabDown)
    const [{labDown, LabError}, {LabOptionsError}, {execaRunner}, {nodeFs}] = await Promise.all([
      import('../../lab/lab.js'),
      import('../../lab/topology.js'),
      import('../../host/runner.js'),
      import('../../host/fs.js'),
    ])
    let r: LabDownResult
    try {
      r = await labDown(
        {name: flags.name, stateRoot: flags['state-dir']},
        {runner: execaRunner(10_000), fs: nodeFs, progress},
      )
    } catch (e) {
      if (e instanceof LabOptionsError) this.error(e.message, {exit: 2})
      if (e instanceof LabError) this.error(e.message, {exit: e.exitCode})
      throw e
    }
    if (!this.jsonEnabled()) {
      if (r.removed.length === 0 && !r.stateRemoved) this.log(`no lab "${r.name}": nothing to remove`)
      else
        this.log(
          `lab ${r.name} removed: ${r.removed.length} namespace${r.removed.length === 1 ? '' : 's'}${r.stateRemoved ? ` and ${r.stateDir}` : ''}`,
        )
    }
    return r
  }
}
