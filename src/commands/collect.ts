import {Command, Flags, type Interfaces} from '@oclif/core'

import type {BundleFiles} from '../collect/collect.js'
import {liveOptionsFrom} from './live-flags.js'
import {connect, fleetFlags, fleetSelection, kubeFlags, wantsFleet} from './kube-flags.js'

export default class Collect extends Command {
  static override summary = "Write this node's evidence as a support bundle that `doctor --bundle` reads back"
  static override description = `Captures every probe of the doctor (links, addresses, routes, neighbours, FDB, iptables, nftables, xfrm, sysctls, subnet.env, net-conf.json, CNI configs, and the nodes/logs files you name) into a folder or a .tar.gz laid out as the bundle format describes. A probe that fails is recorded in manifest.json with its reason; the bundle is still written, all at once or not at all. PSKs and xfrm keys are replaced by sha256 digests; /run/flannel/wgkey and credentials are never written.

With --all-nodes, --nodes or --sample the evidence of each node is taken inside its kube-flannel pod (exec API) and written to nodes/NAME/, with the cluster's objects (nodes, ConfigMap, DaemonSet, RBAC) once at the top; \`doctor --bundle\` reads it back as the same table of nodes × findings.`
  static override examples = [
    '<%= config.bin %> collect -o node-1.tar.gz',
    '<%= config.bin %> collect -o ./bundle --nodes-file nodes.json --log flannel.log',
    '<%= config.bin %> collect --netns flt-lab-node1 -o lab-node1.tar.gz',
    '<%= config.bin %> collect --all-nodes -o cluster.tar.gz',
    '<%= config.bin %> collect --nodes worker-1,worker-2 --kubeconfig ~/.kube/config -o two.tar.gz',
  ]
  static override flags = {
    output: Flags.string({
      char: 'o',
      summary: 'Bundle to write: a new folder, or a name ending in .tar.gz',
      default: 'flannelctl-bundle.tar.gz',
    }),
    netns: Flags.string({summary: 'Take the evidence inside this named network namespace'}),
    'net-conf': Flags.string({summary: 'net-conf.json (or ConfigMap / manifest) to include'}),
    'subnet-env': Flags.string({summary: 'Path of subnet.env (default /run/flannel/subnet.env)'}),
    'nodes-file': Flags.string({summary: '`kubectl get nodes -o json` output to include'}),
    'node-name': Flags.string({summary: "This node's Kubernetes name, recorded in the manifest"}),
    'cni-dir': Flags.string({summary: 'CNI configuration folder (default /etc/cni/net.d)'}),
    log: Flags.string({
      summary: 'A log file to include (repeatable; capped to its last --log-lines lines)',
      multiple: true,
    }),
    'log-lines': Flags.integer({summary: 'Keep at most this many lines of each log', default: 2000, min: 1}),
    timeout: Flags.integer({summary: 'Time limit for each probe, in milliseconds', default: 5000, min: 100}),
    ...kubeFlags,
    ...fleetFlags,
  }

  async run(): Promise<{output: string; files: number; failed: string[]}> {
    const {flags} = await this.parse(Collect)
    const {writeBundle} = await import('../host/bundle-writer.js')
    if (wantsFleet(flags) && flags.netns !== undefined)
      this.error('--all-nodes/--nodes/--sample read the cluster; they do not go with --netns', {exit: 2})
    let captured: BundleFiles
    if (wantsFleet(flags)) captured = await this.fleet(flags)
    else captured = await this.local(flags)
    const {files, manifest} = captured
    try {
      await writeBundle(flags.output, files)
    } catch (e) {
      this.error(`could not write ${flags.output}: ${(e as Error).message}`, {exit: 2})
    }
    const failed = Object.entries(manifest.probes ?? {})
      .filter(([, r]) => r.outcome !== 'ok' && r.outcome !== 'not-collected')
      .map(([id, r]) => `${id}: ${r.reason ?? r.outcome}`)
    const nodes = (manifest as {nodes?: {name: string; access: string; note?: string}[]}).nodes
    this.log(`wrote ${flags.output} (${files.size} files${nodes ? `, ${nodes.length} nodes` : ''})`)
    for (const f of failed) this.log(`  not captured: ${f}`)
    for (const n of nodes ?? [])
      if (n.access !== 'exec') this.log(`  ${n.name}: ${n.access}${n.note ? ` (${n.note})` : ''}`)
    return {output: flags.output, files: files.size, failed}
  }

  private async fleet(flags: CollectFlags): Promise<BundleFiles> {
    const [{planFleet}, {captureFleetBundle}] = await Promise.all([
      import('../engine/fleet.js'),
      import('../collect/collect.js'),
    ])
    const client = await connect(flags).catch((e: Error) => this.error(e.message, {exit: 2}))
    const c: Parameters<typeof planFleet>[0] = {
      client,
      selection: fleetSelection(flags),
      probeTimeoutMs: Math.max(flags.timeout, 10_000),
    }
    if (flags.namespace !== undefined) c.namespace = flags.namespace
    let plan
    try {
      plan = await planFleet(c)
    } catch (e) {
      this.error((e as Error).message, {exit: 2})
    }
    const tty = process.stderr.isTTY === true
    return captureFleetBundle(plan, {
      concurrency: flags.concurrency,
      nodeTimeoutMs: flags['node-timeout'] * 1000,
      maxLogLines: flags['log-lines'],
      ...(tty
        ? {
            progress: (done: number, total: number, node: string) => {
              process.stderr.write(`\r\u001b[K[${done}/${total}] ${node}`)
              if (done === total) process.stderr.write('\r\u001b[K')
            },
          }
        : {}),
    })
  }

  private async local(flags: CollectFlags): Promise<BundleFiles> {
    const [{captureBundle}, {liveSource}, {nodeFs}, {execaRunner}] = await Promise.all([
      import('../collect/collect.js'),
      import('../facts/sources.js'),
      import('../host/fs.js'),
      import('../host/runner.js'),
    ])
    const o = liveOptionsFrom(flags)
    const source = liveSource(execaRunner(flags.timeout), nodeFs, o)
    return captureBundle(source, {maxLogLines: flags['log-lines']})
  }
}

type CollectFlags = Interfaces.InferredFlags<typeof Collect.flags>
