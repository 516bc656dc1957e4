import {Command} from '@oclif/core'

import type {LabStatus} from '../../lab/lab.js'
import {labFlags} from './common.js'

export default class LabStatusCommand extends Command {
  static override summary = 'Show a lab: its nodes, pods, namespaces and notes'
  static override description = `Reads <state-dir>/<name>/lab.json and compares it with the namespaces that exist. Notes say what the lab could not do on this kernel (e.g. ipsec SAs without ESP support).

Exit codes: 0 the lab is ready and complete; 1 no such lab, or it failed or lost namespaces; 2 usage error.`
  static override examples = [
    '<%= config.bin %> lab status',
    '<%= config.bin %> lab status --name mtu --json',
  ]
  static override enableJsonFlag = true
  static override flags = {...labFlags}

  async run(): Promise<LabStatus> {
    const {flags} = await this.parse(LabStatusCommand)
    const [{labStatus, LabError}, {LabOptionsError}, {execaRunner}, {nodeFs}, {renderLabStatus}] =
      await Promise.all([
        import('../../lab/lab.js'),
        import('../../lab/topology.js'),
        import('../../host/runner.js'),
        import('../../host/fs.js'),
        import('../../report/lab.js'),
      ])
    let s: LabStatus
    try {
      s = await labStatus(
        {name: flags.name, stateRoot: flags['state-dir']},
        {runner: execaRunner(10_000), fs: nodeFs},
      )
    } catch (e) {
      if (e instanceof LabOptionsError) this.error(e.message, {exit: 2})
      if (e instanceof LabError) this.error(e.message, {exit: e.exitCode})
      throw e
    }
    process.exitCode = s.healthy ? 0 : 1
    if (!this.jsonEnabled()) process.stdout.write(renderLabStatus(s))
    return s
  }
}
