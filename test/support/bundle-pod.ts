/**
 * Test support: a kube-flannel pod whose node is a scenario bundle. The exec handler answers each probe's
 * argv with the bundle file that probe writes (spec/bundle.md), `cat`/`ls` with the bundle's files/ tree,
 * and behaves like the flannel image otherwise: a tool not in `tools` cannot be started. For tests of the
 * every-node doctor without namespaces, and the --all-nodes bench.
 */
import {PROBES} from '../../src/facts/probes.js'
import type {KubeObject} from '../../src/k8s/client.js'
import {KubeStore, type ExecHandler, type ExecRequest} from './apiserver.js'

export interface BundlePod {
  files: ReadonlyMap<string, string>
  /** Binaries the image has; default the flannel image's (no ethtool, no nft, busybox sysctl). */
  tools?: readonly string[]
  delayMs?: number
  /** Called with each exec (to count concurrency, for instance). */
  onExec?: (r: ExecRequest, phase: 'start' | 'end') => void
}

export const FLANNEL_IMAGE_TOOLS = [
  'ip',
  'bridge',
  'iptables-save',
  'ip6tables-save',
  'iptables-legacy-save',
  'cat',
  'ls',
  'test',
  'grep',
  'uname',
  'sysctl',
] as const

/** The bundle path each live argv of the probe registry is stored at. */
function argvTable(): Map<string, string> {
  const out = new Map<string, string>()
  for (const p of PROBES) {
    if (p.live.kind !== 'cmd') continue
    const argv = p.live.argv({vxlanDevice: 'flannel.1'})
    const path = p.bundle[0]
    if (path !== undefined) out.set(argv.join('\u0000'), path)
  }
  return out
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export function bundlePodHandler(pods: Record<string, BundlePod>): ExecHandler {
  const table = argvTable()
  return async (r) => {
    const pod = pods[`${r.namespace}/${r.pod}`]
    if (pod === undefined)
      return {stdout: '', stderr: `no simulated pod ${r.namespace}/${r.pod}\n`, exitCode: 1}
    pod.onExec?.(r, 'start')
    try {
      if (pod.delayMs !== undefined) await sleep(pod.delayMs)
      const [bin, ...args] = r.command
      if (bin === undefined) return {stdout: '', stderr: 'empty command\n', exitCode: 1}
      if (!(pod.tools ?? FLANNEL_IMAGE_TOOLS).includes(bin)) return {notFound: bin}
      if (bin === 'cat') {
        const text = pod.files.get(`files${args[0] ?? ''}`)
        if (text === undefined)
          return {
            stdout: '',
            stderr: `cat: can't open '${args[0] ?? ''}': No such file or directory\n`,
            exitCode: 1,
          }
        return {stdout: text, stderr: '', exitCode: 0}
      }
      if (bin === 'ls') {
        const dir = `files${args[args.length - 1] ?? ''}/`
        const names = [...pod.files.keys()]
          .filter((k) => k.startsWith(dir) && !k.slice(dir.length).includes('/'))
          .map((k) => k.slice(dir.length))
        if (names.length === 0)
          return {
            stdout: '',
            stderr: `ls: ${args[args.length - 1] ?? ''}: No such file or directory\n`,
            exitCode: 1,
          }
        return {stdout: names.sort().join('\n') + '\n', stderr: '', exitCode: 0}
      }
      if (bin === 'sysctl' && args.includes('--pattern'))
        // busybox: no --pattern.
        return {stdout: '', stderr: "sysctl: unrecognized option '--pattern'\n", exitCode: 1}
      if (bin === 'grep') {
        // The /proc/sys fallback: rebuild `grep -r .` lines from the bundle's sysctl.txt.
        const text = pod.files.get('commands/sysctl.txt') ?? ''
        const lines = text
          .split('\n')
          .map((l) => /^([^=\s]+)\s*=\s*(.*)$/.exec(l))
          .filter((m): m is RegExpExecArray => m !== null)
          .map((m) => `/proc/sys/${(m[1] as string).replace(/\./g, '/')}:${m[2] as string}`)
        return {stdout: lines.join('\n') + '\n', stderr: '', exitCode: 0}
      }
      const path = table.get(r.command.join('\u0000'))
      if (path === undefined)
        return {stdout: '', stderr: `${bin}: unexpected arguments ${args.join(' ')}\n`, exitCode: 2}
      const text = pod.files.get(path)
      if (text === undefined)
        return {stdout: '', stderr: `${bin}: not captured in this bundle\n`, exitCode: 1}
      return {stdout: text, stderr: '', exitCode: 0}
    } finally {
      pod.onExec?.(r, 'end')
    }
  }
}

/**
 * A KubeStore holding the cluster side of a scenario bundle: its nodes, the flannel DaemonSet and pods,
 * the RBAC objects and a kube-flannel-cfg ConfigMap (net-conf from the bundle unless given). `pod` may
 * change a pod or drop it (undefined). Returns the pod name of each node added.
 */
export function storeFromBundle(
  base: ReadonlyMap<string, string>,
  o: {
    namespace?: string
    netConf?: string
    pod?: (pod: KubeObject, node: string) => KubeObject | undefined
  } = {},
): {store: KubeStore; podOf: Record<string, string>} {
  const ns = o.namespace ?? 'kube-flannel'
  const items = (path: string): KubeObject[] => {
    const text = base.get(path)
    return text === undefined ? [] : (JSON.parse(text) as {items: KubeObject[]}).items
  }
  const store = new KubeStore()
  for (const n of items('kubernetes/nodes.json')) store.addNode(n)
  const podOf: Record<string, string> = {}
  for (const x of items('kubernetes/daemonset.json')) {
    if (x.kind === 'DaemonSet') {
      store.addDaemonSet(ns, x)
      continue
    }
    const node = (x['spec'] as {nodeName: string}).nodeName
    const pod = o.pod === undefined ? x : o.pod(structuredClone(x), node)
    if (pod === undefined) continue
    store.addPod(ns, pod)
    podOf[node] = pod.metadata?.name as string
  }
  for (const x of items('kubernetes/rbac.json')) {
    if (x.kind === 'ClusterRole') store.addClusterRole(x as never)
    if (x.kind === 'ClusterRoleBinding') store.addClusterRoleBinding(x as never)
  }
  store.addConfigMap(ns, {
    metadata: {name: 'kube-flannel-cfg'},
    data: {'net-conf.json': o.netConf ?? (base.get('files/etc/kube-flannel/net-conf.json') as string)},
  })
  return {store, podOf}
}
