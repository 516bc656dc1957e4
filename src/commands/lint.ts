import {Args, Command, Flags} from '@oclif/core'

import type {DoctorReport, FailOn} from '../engine/doctor.js'
import {VERSION} from '../version.js'

export default class Lint extends Command {
  static override summary =
    'Check a net-conf.json, a kube-flannel-cfg ConfigMap or a whole kube-flannel manifest'
  static override description = `Runs the configuration checks (area netconf) on a file before it reaches a cluster: strict JSON with line:column and the cause, keys the way flannel's decoder matches them, types and values, platform rules.

Exit codes: 0 clean; 1 a finding at or above --fail-on; 2 usage error (file missing, YAML unreadable).`
  static override examples = [
    '<%= config.bin %> lint net-conf.json',
    '<%= config.bin %> lint kube-flannel.yml --fail-on warning',
    '<%= config.bin %> lint kube-flannel.yml --output sarif > flannel.sarif',
  ]
  static override enableJsonFlag = true
  static override args = {
    file: Args.string({required: true, description: 'net-conf.json, ConfigMap or manifest (YAML or JSON)'}),
  }
  static override flags = {
    output: Flags.string({
      char: 'o',
      options: ['table', 'json', 'sarif'],
      default: 'table',
      summary: 'Output format',
    }),
    'fail-on': Flags.string({
      options: ['error', 'warning'],
      default: 'error',
      summary: 'Lowest level that makes the exit code 1',
    }),
    verbose: Flags.boolean({char: 'v', summary: 'Show passing findings too'}),
  }

  async run(): Promise<DoctorReport> {
    const {args, flags} = await this.parse(Lint)
    const [
      {CHECKS},
      {buildReport, evaluate},
      {staticFacts},
      {nodeFs},
      {ParseError},
      {netConfFromFile},
      {renderReport},
      {renderSarif},
    ] = await Promise.all([
      import('../checks/registry.js'),
      import('../engine/doctor.js'),
      import('../facts/static.js'),
      import('../host/fs.js'),
      import('../parse/errors.js'),
      import('../parse/netconf-source.js'),
      import('../report/render.js'),
      import('../report/sarif.js'),
    ])
    const read = await nodeFs.readText(args.file)
    if (!read.ok) this.error(`${args.file}: ${read.reason}`, {exit: 2})
    let fact
    try {
      fact = netConfFromFile(read.text, args.file)
    } catch (e) {
      if (e instanceof ParseError)
        this.error(`${args.file}: ${e.message}${e.hint ? ` (${e.hint})` : ''}`, {exit: 2})
      throw e
    }
    const checks = CHECKS.filter((c) => c.area === 'netconf')
    const facts = staticFacts({netConf: fact}, args.file)
    const report = buildReport(evaluate(checks, facts), {
      origin: `file ${args.file}`,
      failOn: flags['fail-on'] as FailOn,
      version: VERSION,
      now: new Date(),
    })
    // Lint judges the file alone: evidence it cannot have (nodes) does not make it incomplete.
    if (report.exitCode === 3) report.exitCode = 0
    process.exitCode = report.exitCode
    if (this.jsonEnabled() || flags.output === 'json') {
      if (!this.jsonEnabled()) process.stdout.write(JSON.stringify(report, null, 2) + '\n')
    } else if (flags.output === 'sarif') process.stdout.write(renderSarif(report, CHECKS, args.file))
    else process.stdout.write(renderReport(report, 'table', {verbose: flags.verbose, command: 'lint'}))
    return report
  }
}
