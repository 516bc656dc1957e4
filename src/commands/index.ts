// The explicit command list oclif loads (package.json oclif.commands): no directory scan at start-up.
import Checks from './checks.js'
import Collect from './collect.js'
import Doctor from './doctor.js'
import Explain from './explain.js'
import Lint from './lint.js'
import Setup from './setup.js'
import Teardown from './teardown.js'

export const COMMANDS = {
  checks: Checks,
  collect: Collect,
  doctor: Doctor,
  explain: Explain,
  lint: Lint,
  setup: Setup,
  teardown: Teardown,
}
