import {Command, Flags} from '@oclif/core'

import type {LabProbeResult} from '../../lab/lab.js'
import {labFlags, progress} from './common.js'

export default class LabProbe extends Command {
  static override summary =
    'Ping every pod from every other pod, and across every node pair with DF at FLANNEL_MTU'
  static override description = `For every ordered pair of pods: one ping -c 1 -W 1 from the source pod's namespace. For every pair of nodes: one don't-fragment ping (-M do) between their first pods with a payload of FLANNEL_MTU − 28, i.e. a packet of exactly FLANNEL_MTU. Only lab addresses are targeted; the number of probes and the time are bounded (--max-pairs, --deadline).

Exit codes: 0 every probe answered; 1 some did not; 2 usage error (no such lab).`
  static override examples = [
    '<%= config.bin %> lab probe',
    '<%= config.bin %> lab probe --name mtu --json',
    '<%= config.bin %> lab probe --max-pairs 200 --deadline 30',
  ]
  static override enableJsonFlag = true
  static override flags = {
    ...labFlags,
    'max-pairs': Flags.integer({
      summary: 'Above this many ordered pod pairs, probe only between the first pod of each node',
      default: 2500,
      min: 1,
    }),
    deadline: Flags.integer({summary: 'Stop starting probes after this many seconds', default: 120, min: 1}),
  }

  async run(): Promise<LabProbeResult> {
    const {flags} = await this.parse(LabProbe)
    const [{labProbe, LabError}, {LabOptionsError}, {execaRunner}, {nodeFs}, {renderLabProbe}] =
      await Promise.all([
        import('../../lab/lab.js'),
        import('../../lab/topology.js'),
        import('../../host/runner.js'),
        import('../../host/fs.js'),
        import('../../report/lab.js'),
      ])
    let r: LabProbeResult
    try {
      r = await labProbe(
        {
          name: flags.name,
          stateRoot: flags['state-dir'],
          maxPairs: flags['max-pairs'],
          deadlineMs: flags.deadline * 1000,
        },
        {runner: execaRunner(5000), fs: nodeFs, progress},
      )
    } catch (e) {
      if (e instanceof LabOptionsError) this.error(e.message, {exit: 2})
      if (e instanceof LabError) this.error(e.message, {exit: e.exitCode})
      throw e
    }
    process.exitCode = r.exitCode
    if (!this.jsonEnabled()) process.stdout.write(renderLabProbe(r))
    return r
  }
}
