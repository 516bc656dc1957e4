import {Args, Command, Flags} from '@oclif/core'

import {labFlags} from './common.js'

export default class LabExec extends Command {
  static override summary = 'Run a command inside a lab node, pod, switch or the router'
  static override description = `TARGET is a node (node-2, or just 2), a pod (node-2-pod0), a switch (sw1) or router. The command runs as ip netns exec <namespace> CMD with this terminal attached; its exit code is the exit code.

Exit codes: the command's own; 2 usage error (no such lab or target, no command).`
  static override examples = [
    '<%= config.bin %> lab exec node-1 -- ip route',
    '<%= config.bin %> lab exec node-2-pod0 -- ping -c 1 10.244.1.2',
    '<%= config.bin %> lab exec --name mtu router -- ip -br addr',
    '<%= config.bin %> lab exec node-1 -- flannelctl doctor --netns flt-lab-node-1',
  ]
  static override strict = false
  static override args = {
    target: Args.string({description: 'node-<i>, node-<i>-pod<p>, sw<k> or router', required: true}),
  }
  static override flags = {
    ...labFlags,
    timeout: Flags.integer({summary: 'Kill the command after this many seconds', min: 1}),
  }

  async run(): Promise<void> {
    const {args, flags, raw} = await this.parse(LabExec)
    const [{resolveExec, LabError}, {LabOptionsError}, {execInteractive}, {nodeFs}, {execaRunner}] =
      await Promise.all([
        import('../../lab/lab.js'),
        import('../../lab/topology.js'),
        import('../../host/lab-files.js'),
        import('../../host/fs.js'),
        import('../../host/runner.js'),
      ])
    // The command is every positional after the target, in the order typed (oclif's argv can reorder
    // repeated values, e.g. `ping -c 1 -W 1 ADDR`; the raw tokens keep the order).
    const command = raw
      .filter((t) => t.type === 'arg')
      .map((t) => t.input)
      .slice(1)
    if (typeof process.getuid === 'function' && process.getuid() !== 0)
      this.error('lab exec enters network namespaces: run it as root', {exit: 2})
    let plan
    try {
      plan = await resolveExec(
        {name: flags.name, stateRoot: flags['state-dir'], target: args.target, command},
        {runner: execaRunner(), fs: nodeFs},
      )
    } catch (e) {
      if (e instanceof LabOptionsError) this.error(e.message, {exit: 2})
      if (e instanceof LabError) this.error(e.message, {exit: e.exitCode})
      throw e
    }
    process.exitCode = await execInteractive(
      plan.argv,
      flags.timeout !== undefined ? {timeoutMs: flags.timeout * 1000} : {},
    )
  }
}
