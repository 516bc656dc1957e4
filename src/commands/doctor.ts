import {Command, Flags, type Interfaces} from '@oclif/core'

import type {CheckDef} from '../checks/types.js'

import type {DoctorReport, FailOn} from '../engine/doctor.js'
import type {FleetReport} from '../engine/fleet.js'
import type {EvidenceSource} from '../facts/sources.js'
import type {OutputFormat} from '../report/render.js'
import {VERSION} from '../version.js'
import {checkFlags, idList} from './check-flags.js'
import {liveOptionsFrom} from './live-flags.js'
import {connect, fleetFlags, fleetSelection, kubeFlags, UsageError, wantsFleet} from './kube-flags.js'

export default class Doctor extends Command {
  static override summary = 'Check a flannel node and its cluster, live or from a support bundle'
  static override description = `Collects the evidence once (live on this host, inside --netns, or from --bundle), runs every check of the catalogue (flannelctl checks) over it, and reports each failure with its evidence and a fix.

With --all-nodes, --nodes or --sample, the node probes run inside each chosen node's kube-flannel pod through the exec API (the pod has hostNetwork and NET_ADMIN, so it sees the node's links, routes, FDB and rules), the cluster evidence is read once, and one table shows nodes × findings. Needs get/list on nodes and pods and create on pods/exec in flannel's namespace; without exec only the API-level checks run.

Exit codes: 0 healthy; 1 a finding at or above --fail-on; 2 usage error (bad flag, unreadable bundle); 3 incomplete (nothing failed, but some evidence could not be looked at, e.g. not root).`
  static override examples = [
    '<%= config.bin %> doctor',
    '<%= config.bin %> doctor --bundle ./node-1.tar.gz',
    '<%= config.bin %> doctor --netns flt-lab-node1 --net-conf net-conf.json --nodes-file nodes.json',
    '<%= config.bin %> doctor --bundle ./b --only node --fail-on warning --junit report.xml',
    '<%= config.bin %> doctor --bundle ./b --json > report.json',
    '<%= config.bin %> doctor --kubeconfig ~/.kube/config --context prod --node-name worker-1',
    '<%= config.bin %> doctor --kube --only kube',
    '<%= config.bin %> doctor --all-nodes',
    '<%= config.bin %> doctor --nodes worker-1,worker-2 --only node',
    '<%= config.bin %> doctor --sample 10 --concurrency 5 --json > cluster.json',
  ]
  static override enableJsonFlag = true
  static override flags = {
    ...checkFlags,
    bundle: Flags.string({
      char: 'b',
      summary: 'Read evidence from a bundle folder or .tar.gz instead of this host',
    }),
    netns: Flags.string({summary: 'Take live evidence inside this named network namespace'}),
    'net-conf': Flags.string({
      summary: 'net-conf.json, a kube-flannel-cfg ConfigMap, or a whole kube-flannel manifest',
    }),
    'subnet-env': Flags.string({summary: 'Path of subnet.env (default /run/flannel/subnet.env)'}),
    'nodes-file': Flags.string({summary: 'Nodes as `kubectl get nodes -o json|yaml` output'}),
    'node-name': Flags.string({
      summary: "This node's Kubernetes name (default: NODE_NAME, the hostname, or matched by address)",
    }),
    'cni-dir': Flags.string({summary: 'CNI configuration folder (default /etc/cni/net.d)'}),
    log: Flags.string({summary: 'A flannel/kubelet log file to scan (repeatable)', multiple: true}),
    output: Flags.string({
      char: 'o',
      summary: 'Output format',
      options: ['table', 'json', 'junit', 'github'],
      default: 'table',
    }),
    junit: Flags.string({summary: 'Also write a JUnit XML report to this file'}),
    verbose: Flags.boolean({char: 'v', summary: 'Show passing findings and their evidence too'}),
    ...kubeFlags,
    ...fleetFlags,
  }

  async run(): Promise<DoctorReport | FleetReport> {
    const {flags} = await this.parse(Doctor)
    // Loaded here, not at start-up: `--help` and the other commands stay fast, and a bundle run never
    // loads the process runner.
    const [
      {CHECKS},
      {abortedReport, runDoctor, selectChecks, SelectionError},
      {bundleSource, liveSource},
      {BundleError, isFleetBundle, readBundle},
      {nodeFs},
      {renderReport},
    ] = await Promise.all([
      import('../checks/registry.js'),
      import('../engine/doctor.js'),
      import('../facts/sources.js'),
      import('../host/bundle-reader.js'),
      import('../host/fs.js'),
      import('../report/render.js'),
    ])
    const failOn = flags['fail-on'] as FailOn
    const format: OutputFormat = this.jsonEnabled() ? 'json' : (flags.output as OutputFormat)
    const meta = {failOn, version: VERSION, now: new Date()}
    let report: DoctorReport
    let source: EvidenceSource | undefined
    try {
      const checks = selectChecks(CHECKS, idList(flags.only), idList(flags.skip))
      if (flags.bundle !== undefined) {
        if (flags.netns) throw new SelectionError('--bundle and --netns exclude each other')
        const files = await readBundle(flags.bundle)
        if (isFleetBundle(files)) {
          const {bundleFleet} = await import('../engine/fleet.js')
          return await this.emitFleet(
            await bundleFleet(flags.bundle, files, {checks, failOn, version: VERSION}),
            flags,
            format,
          )
        }
        source = bundleSource(flags.bundle, files)
      } else {
        const o = liveOptionsFrom(flags)
        const {execaRunner} = await import('../host/runner.js')
        source = liveSource(execaRunner(flags.timeout), nodeFs, o)
      }
      const fleet = wantsFleet(flags)
      if (fleet && (flags.bundle !== undefined || flags.netns !== undefined))
        throw new UsageError(
          '--all-nodes/--nodes/--sample read the cluster; they do not go with --bundle or --netns',
        )
      if (fleet) return await this.fleet(flags, checks, failOn, format)
      const useKube =
        flags.kube ||
        flags.kubeconfig !== undefined ||
        flags.context !== undefined ||
        flags.namespace !== undefined
      if (useKube) {
        const [{combinedSource, kubeSource}, {hostname}] = await Promise.all([
          import('../facts/kube-source.js'),
          import('node:os'),
        ])
        const client = await connect(flags)
        const nodeName =
          flags['node-name'] ??
          process.env['NODE_NAME'] ??
          (await source.host()).nodeName ??
          (flags.bundle === undefined ? hostname() : undefined)
        const ko: {namespace?: string; nodeName?: string} = {}
        if (flags.namespace !== undefined) ko.namespace = flags.namespace
        if (nodeName !== undefined) ko.nodeName = nodeName
        source = combinedSource(source, kubeSource(client, ko))
      }
      report = await runDoctor(source, {checks, failOn, version: VERSION})
    } catch (e) {
      if (!(e instanceof SelectionError || e instanceof BundleError || e instanceof UsageError)) throw e
      // Bad input: still leave a JUnit/JSON result for CI, with a synthetic failed case.
      report = abortedReport(e.message, {
        ...meta,
        origin: source?.origin ?? (flags.bundle ? `bundle ${flags.bundle}` : 'live'),
      })
      if (flags.junit) await nodeFs.writeAtomic(flags.junit, renderReport(report, 'junit'))
      if (format === 'json') {
        process.exitCode = 2
        return report
      }
      this.error(e.message, {exit: 2})
    }
    if (flags.junit) await nodeFs.writeAtomic(flags.junit, renderReport(report, 'junit'))
    process.exitCode = report.exitCode
    if (format !== 'json') process.stdout.write(renderReport(report, format, {verbose: flags.verbose}))
    return report
  }

  private async fleet(
    flags: DoctorFlags,
    checks: readonly CheckDef[],
    failOn: FailOn,
    format: OutputFormat,
  ): Promise<FleetReport> {
    const {runFleet} = await import('../engine/fleet.js')
    const client = await connect(flags)
    const selection = fleetSelection(flags)
    const tty = process.stderr.isTTY === true && format !== 'json'
    const o: FleetOptionsArg = {
      client,
      checks,
      failOn,
      version: VERSION,
      selection,
      concurrency: flags.concurrency,
      nodeTimeoutMs: flags['node-timeout'] * 1000,
      probeTimeoutMs: Math.max(flags.timeout, 10_000),
    }
    if (flags.namespace !== undefined) o.namespace = flags.namespace
    if (tty)
      o.progress = (p) => {
        process.stderr.write(
          `\r\u001b[K[${p.done}/${p.total}] ${p.node}: ${p.result}${p.access === 'exec' ? '' : ` (${p.access})`}`,
        )
        if (p.done === p.total) process.stderr.write('\r\u001b[K')
      }
    return this.emitFleet(await runFleet(o), flags, format)
  }

  private async emitFleet(
    report: FleetReport,
    flags: DoctorFlags,
    format: OutputFormat,
  ): Promise<FleetReport> {
    const [{renderFleet}, {renderJunitNodes}, {renderGithub}, {nodeFs}] = await Promise.all([
      import('../report/fleet.js'),
      import('../report/junit.js'),
      import('../report/github.js'),
      import('../host/fs.js'),
    ])
    // The checks that are the same on every node go to CI once, as the `cluster` suites.
    const first = report.nodes[0]?.report
    const cluster = report.cluster && first ? [{node: 'cluster', report: {...first, ...report.cluster}}] : []
    const nodes = [...cluster, ...report.nodes.map((n) => ({node: n.node, report: n.report}))]
    if (flags.junit) await nodeFs.writeAtomic(flags.junit, renderJunitNodes(nodes, report.generatedAt))
    process.exitCode = report.exitCode
    if (format === 'table') process.stdout.write(renderFleet(report, {verbose: flags.verbose}))
    else if (format === 'junit') process.stdout.write(renderJunitNodes(nodes, report.generatedAt))
    else if (format === 'github')
      process.stdout.write(
        nodes.map((n) => renderGithub(n.report).replace(/title=/g, `title=${n.node} `)).join(''),
      )
    return report
  }
}

type DoctorFlags = Interfaces.InferredFlags<typeof Doctor.flags>
type FleetOptionsArg = Parameters<typeof import('../engine/fleet.js').runFleet>[0]
