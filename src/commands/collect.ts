import {Command, Flags} from '@oclif/core'

import type {LiveOptions} from '../facts/sources.js'

export default class Collect extends Command {
  static override summary = "Write this node's evidence as a support bundle that `doctor --bundle` reads back"
  static override description = `Captures every probe of the doctor (links, addresses, routes, neighbours, FDB, iptables, nftables, xfrm, sysctls, subnet.env, net-conf.json, CNI configs, and the nodes/logs files you name) into a folder or a .tar.gz laid out as the bundle format describes. A probe that fails is recorded in manifest.json with its reason; the bundle is still written, all at once or not at all. PSKs and xfrm keys are replaced by sha256 digests; /run/flannel/wgkey and credentials are never written.`
  static override examples = [
    '<%= config.bin %> collect -o node-1.tar.gz',
    '<%= config.bin %> collect -o ./bundle --nodes-file nodes.json --log flannel.log',
    '<%= config.bin %> collect --netns flt-lab-node1 -o lab-node1.tar.gz',
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
  }

  async run(): Promise<{output: string; files: number; failed: string[]}> {
    const {flags} = await this.parse(Collect)
    const [{captureBundle}, {liveSource}, {writeBundle}, {nodeFs}, {execaRunner}] = await Promise.all([
      import('../collect/collect.js'),
      import('../facts/sources.js'),
      import('../host/bundle-writer.js'),
      import('../host/fs.js'),
      import('../host/runner.js'),
    ])
    const o: LiveOptions = {timeoutMs: flags.timeout}
    if (flags.netns) o.netns = flags.netns
    if (flags['net-conf']) o.netConfPath = flags['net-conf']
    if (flags['subnet-env']) o.subnetEnvPath = flags['subnet-env']
    if (flags['nodes-file']) o.nodesFile = flags['nodes-file']
    if (flags['node-name']) o.nodeName = flags['node-name']
    if (flags['cni-dir']) o.cniDir = flags['cni-dir']
    if (flags.log) o.logFiles = flags.log
    const source = liveSource(execaRunner(flags.timeout), nodeFs, o)
    const {files, manifest} = await captureBundle(source, {maxLogLines: flags['log-lines']})
    try {
      await writeBundle(flags.output, files)
    } catch (e) {
      this.error(`could not write ${flags.output}: ${(e as Error).message}`, {exit: 2})
    }
    const failed = Object.entries(manifest.probes ?? {})
      .filter(([, r]) => r.outcome !== 'ok' && r.outcome !== 'not-collected')
      .map(([id, r]) => `${id}: ${r.reason ?? r.outcome}`)
    this.log(`wrote ${flags.output} (${files.size} files)`)
    for (const f of failed) this.log(`  not captured: ${f}`)
    return {output: flags.output, files: files.size, failed}
  }
}
