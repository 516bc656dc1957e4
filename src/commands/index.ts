// The explicit command list oclif loads (package.json oclif.commands): no directory scan at start-up.
import Checks from './checks.js'
import Collect from './collect.js'
import Doctor from './doctor.js'
import Explain from './explain.js'
import LabDoctor from './lab/doctor.js'
import LabDown from './lab/down.js'
import LabExec from './lab/exec.js'
import LabFault from './lab/fault.js'
import LabHeal from './lab/heal.js'
import LabProbe from './lab/probe.js'
import LabStatus from './lab/status.js'
import LabUp from './lab/up.js'
import Lint from './lint.js'
import Setup from './setup.js'
import Teardown from './teardown.js'

export const COMMANDS = {
  checks: Checks,
  collect: Collect,
  doctor: Doctor,
  explain: Explain,
  'lab:doctor': LabDoctor,
  'lab:down': LabDown,
  'lab:exec': LabExec,
  'lab:fault': LabFault,
  'lab:heal': LabHeal,
  'lab:probe': LabProbe,
  'lab:status': LabStatus,
  'lab:up': LabUp,
  lint: Lint,
  setup: Setup,
  teardown: Teardown,
}
