import {Command, Flags} from '@oclif/core'

import type {TeardownResult} from '../setup/setup.js'
import {DEFAULT_STATE_DIR} from '../paths.js'

export default class Teardown extends Command {
  static override summary = 'Remove exactly what setup created (from its journal), and nothing else'
  static override description = `Reads the journal setup keeps for this scope (host or --netns) and removes each recorded link, address, neighbour, FDB entry, route, iptables chain and rule, nftables table and file that still exists. Entries setup did not create are never touched.

Exit codes: 0 done; 1 a command failed; 2 usage error or another setup/teardown holds the lock.`
  static override examples = [
    '<%= config.bin %> teardown --dry-run',
    '<%= config.bin %> teardown --netns flt-lab-node1',
  ]
  static override enableJsonFlag = true
  static override flags = {
    netns: Flags.string({summary: 'The named network namespace setup programmed'}),
    'state-dir': Flags.string({summary: 'Where the lock and the journal live', default: DEFAULT_STATE_DIR}),
    'dry-run': Flags.boolean({summary: 'Print what would be removed and change nothing'}),
  }

  async run(): Promise<TeardownResult> {
    const {flags} = await this.parse(Teardown)
    const [{runTeardown}, {displayOp, ApplyError}, {nodeFs}, {execaRunner}, {LockError}] = await Promise.all([
      import('../setup/setup.js'),
      import('../setup/apply.js'),
      import('../host/fs.js'),
      import('../host/runner.js'),
      import('../host/state.js'),
    ])
    const o: Parameters<typeof runTeardown>[0] = {stateDir: flags['state-dir'], dryRun: flags['dry-run']}
    if (flags.netns) o.netns = flags.netns
    let result: TeardownResult
    try {
      result = await runTeardown(o, {runner: execaRunner(10_000), fs: nodeFs})
    } catch (e) {
      if (e instanceof LockError) this.error(e.message, {exit: 2})
      if (e instanceof ApplyError) this.error(e.message, {exit: 1})
      throw e
    }
    if (!this.jsonEnabled()) {
      if (result.plan.length === 0) this.log(`# ${result.scope}: nothing recorded that still exists`)
      for (const op of result.plan) this.log(`${displayOp(op, flags.netns)}    # ${op.why}`)
      if (result.applied)
        this.log(`# removed ${result.plan.length} item${result.plan.length === 1 ? '' : 's'}`)
    }
    return result
  }
}
