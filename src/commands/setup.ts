import {hostname} from 'node:os'

import {Command, Flags} from '@oclif/core'

import type {NodeSource} from '../setup/node-source.js'
import type {SetupResult} from '../setup/setup.js'
import {DEFAULT_STATE_DIR} from '../paths.js'

export default class Setup extends Command {
  static override summary =
    "Program the kernel state flannel's vxlan (or host-gw) backend creates on this node"
  static override description = `Reads net-conf.json and the cluster's nodes, chooses the interface as flanneld does, and programs what flannel would: the flannel.<VNI> device with its /32 address, per peer one permanent neighbour, one FDB entry and one onlink route (or a direct route with DirectRouting, or host-gw routes), /run/flannel/subnet.env, and the FLANNEL-POSTRTG / FLANNEL-FWD rules (nftables tables with EnableNFTables). It then publishes this node's flannel annotations to the nodes file so peers can program it.

Plan → apply → re-plan: --dry-run prints the exact commands; apply runs them in batches (ip -batch, bridge -batch, iptables-restore --noflush, nft -f) under a lock, recording what it creates in a journal for teardown; afterwards a new plan must be empty.

Exit codes: 0 done (or nothing to do); 1 the re-plan was not empty or a command failed; 2 usage or input error (each names the doctor check that covers it).`
  static override examples = [
    '<%= config.bin %> setup --net-conf kube-flannel.yml --nodes-file nodes.json --node-name worker-1 --dry-run',
    '<%= config.bin %> setup --net-conf net-conf.json --nodes-file nodes.json --netns flt-lab-node1 --node-name node-1',
    '<%= config.bin %> setup --net-conf net-conf.json --nodes-file nodes.yaml --iface eth1 --json',
    '<%= config.bin %> setup --net-conf net-conf.json --kubeconfig /etc/kubernetes/admin.conf --node-name worker-1 --dry-run',
  ]
  static override enableJsonFlag = true
  static override flags = {
    'net-conf': Flags.string({
      summary: 'net-conf.json, a kube-flannel-cfg ConfigMap or a whole kube-flannel manifest',
      required: true,
    }),
    'nodes-file': Flags.string({
      summary:
        '`kubectl get nodes -o json|yaml` file: peers are read from it and this node is published to it',
    }),
    kube: Flags.boolean({
      summary:
        'Read the nodes from the Kubernetes API and publish this node to it (KUBECONFIG, ~/.kube/config or in-cluster)',
    }),
    kubeconfig: Flags.string({summary: 'Kubeconfig file for the Kubernetes API (implies --kube)'}),
    context: Flags.string({summary: 'Kubeconfig context to use (implies --kube)'}),
    'node-name': Flags.string({
      summary: "This node's name in the nodes file (default: NODE_NAME, else the hostname)",
    }),
    netns: Flags.string({summary: 'Program this named network namespace instead of the host'}),
    'subnet-env': Flags.string({summary: 'Where to write subnet.env', default: '/run/flannel/subnet.env'}),
    'state-dir': Flags.string({summary: 'Where the lock and the journal live', default: DEFAULT_STATE_DIR}),
    iface: Flags.string({
      summary: 'Interface name or IP to use (repeatable, tried in order), as flanneld --iface',
      multiple: true,
    }),
    'iface-regex': Flags.string({
      summary: 'Regex on interface addresses, then names (repeatable)',
      multiple: true,
    }),
    'iface-can-reach': Flags.string({summary: 'Use the interface that routes to this address'}),
    'public-ip': Flags.string({summary: 'External address peers tunnel to'}),
    'ip-masq': Flags.boolean({
      summary: 'Install the FLANNEL-POSTRTG masquerade rules (flanneld --ip-masq)',
      default: true,
      allowNo: true,
    }),
    'iptables-forward-rules': Flags.boolean({
      summary: 'Install the FLANNEL-FWD accept rules',
      default: true,
      allowNo: true,
    }),
    'dry-run': Flags.boolean({summary: 'Print the plan (the exact commands) and change nothing'}),
  }

  async run(): Promise<SetupResult> {
    const {flags} = await this.parse(Setup)
    const [
      {runSetup, SetupError},
      {displayOp, ApplyError},
      {fileNodeSource},
      {nodeFs},
      {execaRunner},
      {LockError},
    ] = await Promise.all([
      import('../setup/setup.js'),
      import('../setup/apply.js'),
      import('../host/nodes-file.js'),
      import('../host/fs.js'),
      import('../host/runner.js'),
      import('../host/state.js'),
    ])
    const nodeName = flags['node-name'] ?? process.env['NODE_NAME'] ?? hostname()
    const useKube = flags.kube || flags.kubeconfig !== undefined || flags.context !== undefined
    if (useKube === (flags['nodes-file'] !== undefined))
      this.error(
        useKube
          ? '--nodes-file and --kube/--kubeconfig/--context exclude each other: give one node source'
          : 'where are the nodes? give --nodes-file FILE (kubectl get nodes -o json) or --kubeconfig FILE / --kube (the Kubernetes API)',
        {exit: 2},
      )
    let nodes: NodeSource
    if (useKube) {
      const [{kubeClientFromConfig}, {KubeError}, {kubeNodeSource}] = await Promise.all([
        import('../k8s/adapter.js'),
        import('../k8s/client.js'),
        import('../k8s/node-source.js'),
      ])
      try {
        const co: {kubeconfig?: string; context?: string} = {}
        if (flags.kubeconfig !== undefined) co.kubeconfig = flags.kubeconfig
        if (flags.context !== undefined) co.context = flags.context
        nodes = kubeNodeSource(
          kubeClientFromConfig(co),
          `the Kubernetes API (${flags.kubeconfig ?? 'default kubeconfig'}${flags.context ? `, context ${flags.context}` : ''})`,
        )
      } catch (e) {
        if (e instanceof KubeError) this.error(e.message, {exit: 2})
        throw e
      }
    } else nodes = fileNodeSource(flags['nodes-file'] as string)
    const opts: Parameters<typeof runSetup>[0] = {
      netConfPath: flags['net-conf'],
      nodeName,
      nodes,
      subnetEnvPath: flags['subnet-env'],
      stateDir: flags['state-dir'],
      ipMasq: flags['ip-masq'],
      forwardRules: flags['iptables-forward-rules'],
      dryRun: flags['dry-run'],
    }
    if (flags.netns) opts.netns = flags.netns
    if (flags.iface) opts.iface = flags.iface
    if (flags['iface-regex']) opts.ifaceRegex = flags['iface-regex']
    if (flags['iface-can-reach']) opts.ifaceCanReach = flags['iface-can-reach']
    if (flags['public-ip']) opts.publicIP = flags['public-ip']
    if (!flags['dry-run'] && typeof process.getuid === 'function' && process.getuid() !== 0)
      this.error(
        'setup programs links, routes and rules: run it as root (or use --dry-run to see the plan)',
        {exit: 2},
      )
    let result: SetupResult
    try {
      result = await runSetup(opts, {runner: execaRunner(10_000), fs: nodeFs})
    } catch (e) {
      if (e instanceof SetupError || e instanceof LockError) this.error(e.message, {exit: 2})
      if (e instanceof ApplyError)
        this.error(
          `${e.message}\nWhat was created so far is in the journal; run setup again to converge, or teardown to remove it.`,
          {exit: 1},
        )
      if (e instanceof Error && (e.name === 'NodesFileError' || e.name === 'KubeNodeSourceError'))
        this.error(e.message, {exit: 2})
      throw e
    }
    process.exitCode = result.replan.length > 0 ? 1 : 0
    if (!this.jsonEnabled()) {
      const where = result.scope
      this.log(
        `# ${where}: node ${nodeName}, interface ${result.iface}, subnet ${result.desired.subnet}, FLANNEL_MTU ${result.desired.flannelMtu}`,
      )
      for (const i of result.desired.ignored)
        this.log(`# peer ${i.node} ignored: ${i.reason} (see ${i.seeAlso})`)
      if (result.plan.length === 0) this.log('# nothing to do: the kernel already matches')
      for (const op of result.plan) this.log(`${displayOp(op, flags.netns)}    # ${op.why}`)
      if (result.applied) {
        const t = result.timings
        const ms = (x: number | undefined): string => `${(x ?? 0).toFixed(0)} ms`
        this.log(
          `# applied ${result.plan.length} change${result.plan.length === 1 ? '' : 's'} (read ${ms(t.readMs)}, apply ${ms(t.applyMs)}, re-plan ${ms(t.replanMs)})`,
        )
        if (result.replan.length > 0) {
          this.log('# the plan after applying is not empty (this is a bug or a concurrent change):')
          for (const op of result.replan) this.log(`${displayOp(op, flags.netns)}    # ${op.why}`)
        } else this.log('# re-plan: empty')
      }
    }
    return result
  }
}
