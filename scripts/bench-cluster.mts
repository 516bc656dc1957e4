#!/usr/bin/env -S npx tsx
// Benchmark "cluster checks at scale": the HTTPS test API server (test/support/apiserver.ts) seeded with
// 1,000 / 5,000 / 10,000 realistic flannel nodes (kubeadm-style labels and annotations, flannel's four
// annotations, podCIDRs, addresses, conditions, nodeInfo) and one kube-flannel pod per node, then
// `node bin/run.js doctor --kubeconfig K --only kube --json` against it, measuring the doctor process's
// wall time and peak RSS (/usr/bin/time -v when present, else VmHWM polled from /proc/PID/status).
// The server runs in this process, so its own JSON encoding is part of the wall time (as a real API
// server's would be). Reported with the machine; never asserted in tests.
// Usage: npm run build && npx tsx scripts/bench-cluster.mts [--runs N] [--sizes 1000,5000,10000]
import {spawn} from 'node:child_process'
import {existsSync, readFileSync} from 'node:fs'
import {cpus, release, totalmem} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {hasOpenssl, KubeStore, startApiServer} from '../test/support/apiserver.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name)
  return i > -1 ? process.argv[i + 1] : undefined
}
const RUNS = Number(arg('--runs') ?? 3)
const SIZES = (arg('--sizes') ?? '1000,5000,10000').split(',').map(Number)
const TOKEN = 'bench-admin-token'
const NS = 'kube-flannel'
const hex = (n: number): string => n.toString(16).padStart(2, '0')

function seed(n: number): KubeStore {
  const s = new KubeStore()
  s.addToken(TOKEN, 'kubernetes-admin', ['system:masters'])
  s.addClusterRole({
    metadata: {name: 'flannel'},
    rules: [
      {apiGroups: [''], resources: ['pods'], verbs: ['get']},
      {apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch']},
      {apiGroups: [''], resources: ['nodes/status'], verbs: ['patch']},
    ],
  })
  s.addClusterRoleBinding({
    metadata: {name: 'flannel'},
    roleRef: {kind: 'ClusterRole', name: 'flannel'},
    subjects: [{kind: 'ServiceAccount', name: 'flannel', namespace: NS}],
  })
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

interface Sample {
  ms: number
  rssMiB: number
  code: number | null
  summary: string
}

function run(kubeconfig: string): Promise<Sample> {
  const argv = [
    process.execPath,
    'bin/run.js',
    'doctor',
    '--kubeconfig',
    kubeconfig,
    '--only',
    'kube',
    '--json',
  ]
  const viaTime = existsSync('/usr/bin/time')
  const [cmd, ...args] = viaTime ? ['/usr/bin/time', '-v', ...argv] : argv
  return new Promise((resolve, reject) => {
    const t = process.hrtime.bigint()
    const child = spawn(cmd as string, args, {cwd: root, env: {...process.env, NO_COLOR: '1'}})
    let out = ''
    let err = ''
    let hwmKiB = 0
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    const poll = viaTime
      ? undefined
      : setInterval(() => {
          try {
            const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))
            if (m) hwmKiB = Math.max(hwmKiB, Number(m[1]))
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
      let summary = 'no JSON report'
      try {
        const r = JSON.parse(out) as {
          summary?: Record<string, number>
          checks?: {id: string; status: string}[]
        }
        summary = (r.checks ?? []).map((c) => `${c.id.replace(/^kube\./, '')}=${c.status}`).join(' ')
      } catch {
        summary += `: ${err.split('\n').find((l) => l.trim() !== '') ?? ''}`
      }
      resolve({ms, rssMiB: hwmKiB / 1024, code, summary})
    })
  })
}

if (!hasOpenssl()) {
  console.log('skipped: the openssl binary is needed for the test API server CA')
  process.exit(0)
}
if (!existsSync(join(root, 'dist'))) {
  console.log('build first: npm run build')
  process.exit(1)
}
console.log(
  'flannelctl cluster checks at scale (doctor --kubeconfig K --only kube --json vs the HTTPS test API server)',
)
console.log(
  `machine: ${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, kernel ${release()}, node ${process.version}`,
)
console.log(
  `runs: ${RUNS} per size; peak RSS from ${existsSync('/usr/bin/time') ? '/usr/bin/time -v' : '/proc/PID/status VmHWM (polled every 5 ms)'}\n`,
)
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
    const ms = samples.map((s) => s.ms).sort((a, b) => a - b)
    const last = samples[samples.length - 1] as Sample
    rows.push({
      nodes: n,
      median: ms[Math.floor(ms.length / 2)] as number,
      max: ms[ms.length - 1] as number,
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
console.log(JSON.stringify({runs: RUNS, results: rows.map(({summary: _s, ...r}) => r)}))
