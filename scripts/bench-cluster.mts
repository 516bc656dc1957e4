#!/usr/bin/env -S npx tsx
// Benchmarks against the HTTPS test API server (test/support/apiserver.ts), which runs in this process, so
// its own JSON encoding and exec sessions are part of the wall time (as a real API server's would be).
// Each measures the doctor process's wall time and peak RSS (/usr/bin/time -v when present, else VmHWM
// polled from /proc/PID/status). Reported with the machine; never asserted in tests.
//
// 1. Cluster checks at scale: the server seeded with 1,000 / 5,000 / 10,000 realistic flannel nodes
//    (kubeadm-style labels and annotations, flannel's four annotations, podCIDRs, addresses, conditions,
//    nodeInfo) and one kube-flannel pod per node, then `node bin/run.js doctor --kubeconfig K --only kube
//    --json` against it.
// 2. doctor --all-nodes: 100 of those nodes, each pod answering exec with the healthy-vxlan-cluster bundle
//    (test/support/bundle-pod.ts, 5 ms per exec for the round trip to a kubelet), then `node bin/run.js
//    doctor --all-nodes --concurrency 10 --kubeconfig K --json` (and once at concurrency 1); the run fails
//    unless the report has 100 nodes, every one reached by exec.
// Usage: npm run build && npx tsx scripts/bench-cluster.mts [--runs N] [--sizes 1000,5000,10000]
//        [--all-nodes-only]   (default: both parts)
import {spawn} from 'node:child_process'
import {existsSync, readFileSync} from 'node:fs'
import {cpus, release, totalmem} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {readBundle} from '../src/host/bundle-reader.js'
import {addFlannelRbac, hasOpenssl, KubeStore, startApiServer} from '../test/support/apiserver.js'
import {bundlePodHandler, type BundlePod} from '../test/support/bundle-pod.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name)
  return i > -1 ? process.argv[i + 1] : undefined
}
const RUNS = Number(arg('--runs') ?? 3)
const SIZES = (arg('--sizes') ?? '1000,5000,10000').split(',').map(Number)
const ALL_NODES_ONLY = process.argv.includes('--all-nodes-only')
const TOKEN = 'bench-admin-token'
const NS = 'kube-flannel'
const hex = (n: number): string => n.toString(16).padStart(2, '0')

function seed(n: number): KubeStore {
  const s = new KubeStore()
  s.addToken(TOKEN, 'kubernetes-admin', ['system:masters'])
  addFlannelRbac(s, NS)
  s.addConfigMap(NS, {
    metadata: {name: 'kube-flannel-cfg', labels: {app: 'flannel', 'k8s-app': 'flannel', tier: 'node'}},
    data: {
      'cni-conf.json':
        '{\n  "name": "cbr0",\n  "cniVersion": "0.3.1",\n  "plugins": [\n    {\n      "type": "flannel",\n      "delegate": {\n        "hairpinMode": true,\n        "isDefaultGateway": true\n      }\n    },\n    {\n      "type": "portmap",\n      "capabilities": {\n        "portMappings": true\n      }\n    }\n  ]\n}\n',
      'net-conf.json':
        '{\n  "Network": "10.0.0.0/8",\n  "EnableNFTables": false,\n  "Backend": {\n    "Type": "vxlan"\n  }\n}\n',
    },
  })
  s.addDaemonSet(NS, {
    metadata: {name: 'kube-flannel-ds', labels: {app: 'flannel', 'k8s-app': 'flannel', tier: 'node'}},
    spec: {
      selector: {matchLabels: {app: 'flannel'}},
      template: {
        metadata: {labels: {app: 'flannel', tier: 'node'}},
        spec: {
          serviceAccountName: 'flannel',
          hostNetwork: true,
          containers: [{name: 'kube-flannel', image: 'ghcr.io/flannel-io/flannel:v0.28.9'}],
        },
      },
    },
    status: {
      currentNumberScheduled: n,
      desiredNumberScheduled: n,
      numberAvailable: n,
      numberMisscheduled: 0,
      numberReady: n,
      observedGeneration: 1,
      updatedNumberScheduled: n,
    },
  })
  for (let i = 0; i < n; i++) {
    const name = `worker-${String(i).padStart(5, '0')}`
    const ip = `172.16.${i >> 8}.${i & 255}`
    const cidr = `10.${(i >> 8) + 1}.${i & 255}.0/24`
    s.addNode({
      metadata: {
        name,
        labels: {
          'beta.kubernetes.io/arch': 'amd64',
          'beta.kubernetes.io/os': 'linux',
          'kubernetes.io/arch': 'amd64',
          'kubernetes.io/hostname': name,
          'kubernetes.io/os': 'linux',
          'topology.kubernetes.io/zone': `zone-${i % 3}`,
        },
        annotations: {
          'flannel.alpha.coreos.com/backend-data': `{"VNI":1,"VtepMAC":"0e:${hex(i >> 16)}:${hex((i >> 8) & 255)}:${hex(i & 255)}:5a:7c"}`,
          'flannel.alpha.coreos.com/backend-type': 'vxlan',
          'flannel.alpha.coreos.com/kube-subnet-manager': 'true',
          'flannel.alpha.coreos.com/public-ip': ip,
          'kubeadm.alpha.kubernetes.io/cri-socket': 'unix:///var/run/containerd/containerd.sock',
          'node.alpha.kubernetes.io/ttl': '0',
          'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
        },
      },
      spec: {podCIDR: cidr, podCIDRs: [cidr]},
      status: {
        addresses: [
          {type: 'InternalIP', address: ip},
          {type: 'Hostname', address: name},
        ],
        allocatable: {cpu: '8', 'ephemeral-storage': '95563346927', memory: '32671596Ki', pods: '110'},
        capacity: {cpu: '8', 'ephemeral-storage': '103692828Ki', memory: '32773996Ki', pods: '110'},
        conditions: [
          ['NetworkUnavailable', 'False', 'FlannelIsUp', 'Flannel is running on this node'],
          [
            'MemoryPressure',
            'False',
            'KubeletHasSufficientMemory',
            'kubelet has sufficient memory available',
          ],
          ['DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'],
          ['PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'],
          ['Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'],
        ].map(([type, status, reason, message]) => ({
          type,
          status,
          reason,
          message,
          lastHeartbeatTime: '2025-11-25T10:00:00Z',
          lastTransitionTime: '2025-11-01T08:00:00Z',
        })),
        daemonEndpoints: {kubeletEndpoint: {Port: 10250}},
        nodeInfo: {
          architecture: 'amd64',
          bootID: `3c1b6d2e-${String(i).padStart(4, '0')}-4c0a-9d1e-6f7a8b9c0d1e`,
          containerRuntimeVersion: 'containerd://1.7.24',
          kernelVersion: '6.8.0-49-generic',
          kubeProxyVersion: 'v1.31.4',
          kubeletVersion: 'v1.31.4',
          machineID: `a1b2c3d4e5f60718293a4b5c6d7e${String(i).padStart(4, '0')}`,
          operatingSystem: 'linux',
          osImage: 'Ubuntu 24.04.1 LTS',
          systemUUID: `ec2a${String(i).padStart(4, '0')}-1b2c-3d4e-5f60-718293a4b5c6`,
        },
      },
    })
    s.addPod(NS, {
      metadata: {
        name: `kube-flannel-ds-${i.toString(36).padStart(5, '0')}`,
        labels: {
          app: 'flannel',
          'controller-revision-hash': '6d5f7c8b9',
          'pod-template-generation': '1',
          tier: 'node',
        },
        ownerReferences: [
          {apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'kube-flannel-ds', controller: true},
        ],
      },
      spec: {
        nodeName: name,
        serviceAccountName: 'flannel',
        hostNetwork: true,
        containers: [
          {
            name: 'kube-flannel',
            image: 'ghcr.io/flannel-io/flannel:v0.28.9',
            command: ['/opt/bin/flanneld'],
            args: ['--ip-masq', '--kube-subnet-mgr'],
          },
        ],
      },
      status: {
        phase: 'Running',
        hostIP: ip,
        podIP: ip,
        conditions: [{type: 'Ready', status: 'True'}],
        containerStatuses: [
          {
            name: 'kube-flannel',
            ready: true,
            restartCount: 0,
            started: true,
            state: {running: {startedAt: '2025-11-01T08:01:00Z'}},
          },
        ],
      },
    })
  }
  return s
}

interface Measured {
  ms: number
  rssMiB: number
  /** CPU time (user + system) of the process, ms. */
  cpuMs: number
  code: number | null
  stdout: string
  stderr: string
}

/**
 * Runs `node bin/run.js ...args` and measures its wall time, peak RSS and CPU time (/usr/bin/time -v when
 * present, else VmHWM and utime + stime polled from /proc/PID/status and /proc/PID/stat).
 */
function measure(args: string[]): Promise<Measured> {
  const argv = [process.execPath, 'bin/run.js', ...args]
  const viaTime = existsSync('/usr/bin/time')
  const [cmd, ...rest] = viaTime ? ['/usr/bin/time', '-v', ...argv] : argv
  return new Promise((resolve, reject) => {
    const t = process.hrtime.bigint()
    const child = spawn(cmd as string, rest, {cwd: root, env: {...process.env, NO_COLOR: '1'}})
    let out = ''
    let err = ''
    let hwmKiB = 0
    let cpuMs = 0
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    const poll = viaTime
      ? undefined
      : setInterval(() => {
          try {
            const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))
            if (m) hwmKiB = Math.max(hwmKiB, Number(m[1]))
            // Fields 14 and 15 (utime, stime) in clock ticks of 10 ms; after "(comm) " they are 12th and 13th.
            const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
            cpuMs = Math.max(cpuMs, (Number(f[11]) + Number(f[12])) * 10 || 0)
          } catch {
            /* exited */
          }
        }, 5)
    child.on('error', reject)
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - t) / 1e6
      if (poll) clearInterval(poll)
      const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(err)
      if (m) hwmKiB = Number(m[1])
      const u = /User time \(seconds\): ([\d.]+)/.exec(err)
      const k = /System time \(seconds\): ([\d.]+)/.exec(err)
      if (u && k) cpuMs = (Number(u[1]) + Number(k[1])) * 1000
      resolve({ms, rssMiB: hwmKiB / 1024, cpuMs, code, stdout: out, stderr: err})
    })
  })
}

const firstLine = (text: string): string => text.split('\n').find((l) => l.trim() !== '') ?? ''

interface Sample {
  ms: number
  rssMiB: number
  code: number | null
  summary: string
}

async function run(kubeconfig: string): Promise<Sample> {
  const m = await measure(['doctor', '--kubeconfig', kubeconfig, '--only', 'kube', '--json'])
  let summary = 'no JSON report'
  try {
    const r = JSON.parse(m.stdout) as {
      summary?: Record<string, number>
      checks?: {id: string; status: string}[]
    }
    summary = (r.checks ?? []).map((c) => `${c.id.replace(/^kube\./, '')}=${c.status}`).join(' ')
  } catch {
    summary += `: ${firstLine(m.stderr)}`
  }
  return {ms: m.ms, rssMiB: m.rssMiB, code: m.code, summary}
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number

async function clusterScale(): Promise<Record<string, unknown>[]> {
  console.log(
    'cluster checks at scale (doctor --kubeconfig K --only kube --json vs the HTTPS test API server)',
  )
  console.log(`runs: ${RUNS} per size, after one warm-up\n`)
  const rows: {
    nodes: number
    median: number
    max: number
    rss: number
    code: number | null
    summary: string
  }[] = []
  for (const n of SIZES) {
    const srv = await startApiServer(seed(n))
    try {
      const kc = srv.writeKubeconfig(TOKEN)
      await run(kc) // warm-up (file cache, server JIT)
      const samples: Sample[] = []
      for (let i = 0; i < RUNS; i++) samples.push(await run(kc))
      const last = samples[samples.length - 1] as Sample
      rows.push({
        nodes: n,
        median: median(samples.map((s) => s.ms)),
        max: Math.max(...samples.map((s) => s.ms)),
        rss: Math.max(...samples.map((s) => s.rssMiB)),
        code: last.code,
        summary: last.summary,
      })
      const r = rows[rows.length - 1]!
      console.log(
        `${String(n).padStart(6)} nodes   wall median ${r.median.toFixed(0).padStart(6)} ms   max ${r.max.toFixed(0).padStart(6)} ms   peak RSS ${r.rss.toFixed(0).padStart(5)} MiB   exit ${r.code}`,
      )
    } finally {
      await srv.close()
      srv.tls.cleanup()
    }
  }
  const base = rows[0]
  if (base !== undefined) {
    console.log('\nnodes     wall/node (ms)   wall vs first   nodes vs first')
    for (const r of rows)
      console.log(
        `${String(r.nodes).padStart(6)}   ${(r.median / r.nodes).toFixed(3).padStart(13)}   ${(r.median / base.median).toFixed(2).padStart(12)}x   ${(r.nodes / base.nodes).toFixed(1).padStart(13)}x`,
      )
  }
  const at5k = rows.find((r) => r.nodes === 5000)
  if (at5k)
    console.log(
      `\n5,000 nodes: ${at5k.median.toFixed(0)} ms (target <= 2000 ms) ${at5k.median <= 2000 ? 'OK' : 'OVER'}, ${at5k.rss.toFixed(0)} MiB (target <= 300 MB) ${at5k.rss * 1.048576 <= 300 ? 'OK' : 'OVER'}`,
    )
  for (const r of rows) console.log(`checks at ${r.nodes}: ${r.summary}`)
  return rows.map(({summary: _s, ...r}) => r)
}

// ---------------------------------------------------------------------------------------------------
// doctor --all-nodes: every node's probes run in its kube-flannel pod through the exec API (WebSocket).

const FLEET_NODES = 100
const EXEC_DELAY_MS = 5
const FLEET_BUNDLE = 'healthy-vxlan-cluster'

interface FleetSample {
  concurrency: number
  ms: number
  rssMiB: number
  code: number | null
  /** CPU time of the doctor process and of this process (the API server, its exec sessions, stdout), ms. */
  cpuMs: number
  serverCpuMs: number
  /** Size of the JSON report on stdout, bytes. */
  reportBytes: number
  /** exec requests (WebSocket upgrades on .../exec) the server saw during this run. */
  execs: number
  /** Most execs the server had running at once. */
  peakInFlight: number
  nodesPerSecond: number
  /** Why the run does not count (no report, wrong node count, a node not reached by exec). */
  failure?: string
  result?: string
  failing?: string[]
}

/** Is the stdout of `doctor --all-nodes --json` a cluster report with every node reached by exec? */
function checkFleetReport(
  stdout: string,
  stderr: string,
): {failure?: string; result?: string; failing?: string[]} {
  let r: {result?: string; failing?: string[]; nodes?: {node?: string; access?: string; note?: string}[]}
  try {
    r = JSON.parse(stdout) as typeof r
  } catch {
    return {failure: `no JSON report on stdout (${firstLine(stderr) || 'nothing on stderr'})`}
  }
  const out: {failure?: string; result?: string; failing?: string[]} = {}
  if (r.result !== undefined) out.result = r.result
  if (r.failing !== undefined) out.failing = r.failing
  const nodes = Array.isArray(r.nodes) ? r.nodes : []
  if (nodes.length !== FLEET_NODES) {
    out.failure = `the report has ${nodes.length} nodes, not ${FLEET_NODES}`
    return out
  }
  const notExec = nodes.filter((n) => n.access !== 'exec')
  if (notExec.length > 0) {
    const first = notExec[0]!
    out.failure = `${notExec.length} of ${FLEET_NODES} nodes not reached by exec (${first.node ?? '?'}: access ${first.access ?? 'missing'}${first.note !== undefined ? `, ${first.note}` : ''})`
  }
  return out
}

async function allNodes(): Promise<Record<string, unknown>> {
  console.log(
    `doctor --all-nodes at ${FLEET_NODES} nodes (doctor --all-nodes --concurrency C --kubeconfig K --json vs the HTTPS test API server)`,
  )
  console.log(
    `every kube-flannel pod serves test/fixtures/bundles/${FLEET_BUNDLE} over exec (test/support/bundle-pod.ts), ${EXEC_DELAY_MS} ms per exec standing for the round trip to a kubelet;`,
  )
  console.log(
    `the bundle is one node's state, so checks that compare it with each seeded node's podCIDR and peers fail: the run measures the work, not a healthy verdict`,
  )
  console.log(`concurrency 10: ${RUNS} run(s) after one warm-up; concurrency 1: one run\n`)
  const files = await readBundle(join(root, 'test/fixtures/bundles', FLEET_BUNDLE))
  const store = seed(FLEET_NODES)
  let inFlight = 0
  let peak = 0
  const onExec = (_r: unknown, phase: 'start' | 'end'): void => {
    inFlight += phase === 'start' ? 1 : -1
    peak = Math.max(peak, inFlight)
  }
  // seed() makes one Running kube-flannel pod per node (its container running, as exec into it needs);
  // checkFleetReport proves every node was reached by exec.
  const pods: Record<string, BundlePod> = {}
  for (const key of store.pods.keys()) pods[key] = {files, delayMs: EXEC_DELAY_MS, onExec}
  store.execHandler = bundlePodHandler(pods)
  const srv = await startApiServer(store)
  const once = async (kc: string, concurrency: number): Promise<FleetSample> => {
    const before = srv.requests.length
    peak = 0
    const cpu0 = process.cpuUsage()
    const m = await measure([
      'doctor',
      '--all-nodes',
      '--concurrency',
      String(concurrency),
      '--kubeconfig',
      kc,
      '--json',
    ])
    const cpu = process.cpuUsage(cpu0)
    const execs = srv.requests.slice(before).filter((r) => r.path.endsWith('/exec')).length
    return {
      concurrency,
      ms: m.ms,
      rssMiB: m.rssMiB,
      code: m.code,
      cpuMs: m.cpuMs,
      serverCpuMs: (cpu.user + cpu.system) / 1000,
      reportBytes: Buffer.byteLength(m.stdout),
      execs,
      peakInFlight: peak,
      nodesPerSecond: FLEET_NODES / (m.ms / 1000),
      ...checkFleetReport(m.stdout, m.stderr),
    }
  }
  const line = (s: FleetSample, wall: string): void => {
    console.log(
      `concurrency ${String(s.concurrency).padStart(2)}   ${wall}   ${s.nodesPerSecond.toFixed(1).padStart(5)} nodes/s   peak RSS ${s.rssMiB.toFixed(0).padStart(4)} MiB   exit ${s.code}   ${s.failure === undefined ? 'ok' : `FAILED: ${s.failure}`}`,
    )
    console.log(
      `${' '.repeat(17)}exec requests ${s.execs} (${(s.execs / FLEET_NODES).toFixed(1)}/node, at most ${s.peakInFlight} at once)   CPU: doctor ${(s.cpuMs / 1000).toFixed(1)} s, this process (API server, reading stdout) ${(s.serverCpuMs / 1000).toFixed(1)} s   JSON report ${(s.reportBytes / 1e6).toFixed(1)} MB`,
    )
  }
  const results: Record<string, unknown>[] = []
  try {
    const kc = srv.writeKubeconfig(TOKEN)
    await once(kc, 10) // warm-up (file cache, server JIT)
    const samples: FleetSample[] = []
    for (let i = 0; i < RUNS; i++) samples.push(await once(kc, 10))
    const ms = samples.map((s) => s.ms)
    const c10: FleetSample = {
      ...(samples[samples.length - 1] as FleetSample),
      ms: median(ms),
      rssMiB: Math.max(...samples.map((s) => s.rssMiB)),
      cpuMs: median(samples.map((s) => s.cpuMs)),
      serverCpuMs: median(samples.map((s) => s.serverCpuMs)),
      nodesPerSecond: FLEET_NODES / (median(ms) / 1000),
    }
    const bad = samples.find((s) => s.failure !== undefined)
    if (bad?.failure !== undefined) c10.failure = bad.failure
    const max = Math.max(...ms).toFixed(0)
    line(c10, `wall median ${c10.ms.toFixed(0).padStart(6)} ms (max ${max.padStart(6)} ms)`)
    const c1 = await once(kc, 1)
    line(c1, `wall        ${c1.ms.toFixed(0).padStart(6)} ms${' '.repeat(17)}`)
    console.log(
      `\nconcurrency 10 vs 1: ${(c1.ms / c10.ms).toFixed(2)}x the speed; the ${c1.execs} execs at ${EXEC_DELAY_MS} ms add up to ${((EXEC_DELAY_MS * c1.execs) / 1000).toFixed(1)} s of simulated kubelet round trips (a node's probes overlap)`,
    )
    for (const s of [c10, c1])
      console.log(
        `result at concurrency ${s.concurrency}: ${s.result ?? '?'} (attention: ${(s.failing ?? []).join(' ') || 'none'})`,
      )
    for (const s of [c10, c1]) {
      const {result: _r, failing: _f, ...rest} = s
      results.push({
        ...rest,
        ms: Math.round(s.ms),
        rssMiB: Math.round(s.rssMiB),
        cpuMs: Math.round(s.cpuMs),
        serverCpuMs: Math.round(s.serverCpuMs),
        nodesPerSecond: Number(s.nodesPerSecond.toFixed(1)),
      })
    }
  } finally {
    await srv.close()
    srv.tls.cleanup()
  }
  return {nodes: FLEET_NODES, execDelayMs: EXEC_DELAY_MS, bundle: FLEET_BUNDLE, results}
}

if (!hasOpenssl()) {
  console.log('skipped: the openssl binary is needed for the test API server CA')
  process.exit(0)
}
if (!existsSync(join(root, 'dist'))) {
  console.log('build first: npm run build')
  process.exit(1)
}
console.log('flannelctl cluster benchmarks (the HTTPS test API server of test/support/apiserver.ts)')
console.log(
  `machine: ${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, kernel ${release()}, node ${process.version}`,
)
console.log(
  `peak RSS from ${existsSync('/usr/bin/time') ? '/usr/bin/time -v' : '/proc/PID/status VmHWM (polled every 5 ms)'}\n`,
)
const summary: Record<string, unknown> = {runs: RUNS}
if (!ALL_NODES_ONLY) {
  summary['results'] = await clusterScale()
  console.log('')
}
const fleet = await allNodes()
summary['allNodes'] = fleet
console.log(JSON.stringify(summary))
const failed = (fleet['results'] as {failure?: string}[]).some((r) => r.failure !== undefined)
if (failed) process.exitCode = 1
