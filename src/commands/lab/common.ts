/** Flags every `lab` command shares: which lab, and where labs keep their state. */
import {Flags} from '@oclif/core'
import {DEFAULT_LAB_ROOT} from '../../paths.js'

export const labFlags = {
  name: Flags.string({
    char: 'n',
    summary: 'Lab name: its namespaces are flt-<name>-*',
    default: 'lab',
  }),
  'state-dir': Flags.string({
    summary: 'Folder holding one state folder per lab',
    default: DEFAULT_LAB_ROOT,
    env: 'FLANNELCTL_LAB_DIR',
  }),
}

/** One progress line on stderr (stdout stays for the result). */
export const progress = (line: string): void => {
  process.stderr.write(`· ${line}\n`)
}
