import {Command, Flags} from '@oclif/core'

import type {FailOn} from '../../engine/doctor.js'
import type {LabDoctorResult} from '../../lab/lab.js'
import {labFlags, progress} from './common.js'
import {checkFlags, idList} from '../check-flags.js'

export default class LabDoctor extends Command {
  static override summary = 'Run flannelctl doctor inside every lab node and aggregate the results'
  static override description = `Runs the doctor in-process for each node (live evidence inside its namespace, with the lab's net-conf, nodes file, subnet.env and CNI folder) and prints one table: nodes × the checks that failed or were unknown anywhere, with a per-node summary. --verbose adds every node's full report.

Exit codes: 0 every node clean; 1 a finding at or above --fail-on on some node; 2 usage error; 3 incomplete (nothing failed, but some evidence could not be looked at).`
  static override examples = [
    '<%= config.bin %> lab doctor',
    '<%= config.bin %> lab doctor --name sec --verbose',
    '<%= config.bin %> lab doctor --fail-on warning --json',
    '<%= config.bin %> lab doctor --only node --skip node.checksum-offload',
  ]
  static override enableJsonFlag = true
  static override flags = {
    ...checkFlags,
    ...labFlags,
    verbose: Flags.boolean({char: 'v', summary: "Show every node's report with evidence and fixes"}),
  }

  async run(): Promise<LabDoctorResult> {
    const {flags} = await this.parse(LabDoctor)
    const [
      {labDoctor, LabError},
      {LabOptionsError},
      {SelectionError},
      {execaRunner},
      {nodeFs},
      {renderLabDoctor},
    ] = await Promise.all([
      import('../../lab/lab.js'),
      import('../../lab/topology.js'),
      import('../../engine/doctor.js'),
      import('../../host/runner.js'),
      import('../../host/fs.js'),
      import('../../report/lab.js'),
    ])
    let r: LabDoctorResult
    try {
      r = await labDoctor(
        {
          name: flags.name,
          stateRoot: flags['state-dir'],
          only: idList(flags.only),
          skip: idList(flags.skip),
          failOn: flags['fail-on'] as FailOn,
          timeoutMs: flags.timeout,
        },
        {runner: execaRunner(flags.timeout), fs: nodeFs, progress},
      )
    } catch (e) {
      if (e instanceof LabOptionsError || e instanceof SelectionError) this.error(e.message, {exit: 2})
      if (e instanceof LabError) this.error(e.message, {exit: e.exitCode})
      throw e
    }
    process.exitCode = r.exitCode
    if (!this.jsonEnabled()) process.stdout.write(renderLabDoctor(r, {verbose: flags.verbose}))
    return r
  }
}
