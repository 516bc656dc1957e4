#!/usr/bin/env node
// Pod↔pod TCP throughput in the lab, over vxlan and over DirectRouting, with iperf3 (root only).
// Two 2-node labs on one underlay subnet: one plain vxlan (pods talk through flannel.1), one with
// DirectRouting (the same pods talk over plain routes). Same pods, same machine, one run each.
// Traffic stays between the labs' own namespaces; both labs are removed at the end, also on failure.
import {execFileSync, spawnSync} from 'node:child_process'
import {cpus, release, tmpdir} from 'node:os'
import {fileURLToPath} from 'node:url'
import {dirname, join} from 'node:path'
import {mkdtempSync, rmSync} from 'node:fs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const bin = join(root, 'bin', 'run.js')
const SECONDS = Number(process.env.FLANNELCTL_BENCH_SECONDS ?? 3)

if (typeof process.getuid === 'function' && process.getuid() !== 0) {
  console.log('throughput bench skipped: needs root (network namespaces)')
  process.exit(0)
}
if (spawnSync('sh', ['-c', 'command -v iperf3']).status !== 0) {
  console.log('throughput bench skipped: iperf3 is not installed (apt-get install iperf3)')
  process.exit(0)
}

const stateDir = mkdtempSync(join(tmpdir(), 'flt-bench-state-'))
const cli = (args) =>
  execFileSync(process.execPath, [bin, ...args, '--state-dir', stateDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  }).toString()
const inNs = (ns, argv, opts = {}) =>
  spawnSync('ip', ['netns', 'exec', ns, ...argv], {timeout: (SECONDS + 15) * 1000, ...opts})

function measure(name, direct) {
  cli([
    'lab',
    'up',
    '--name',
    name,
    '--nodes',
    '2',
    '--pods-per-node',
    '1',
    ...(direct ? ['--direct-routing'] : []),
  ])
  const server = `flt-${name}-node-2-pod0`
  const client = `flt-${name}-node-1-pod0`
  const routes = inNs(`flt-${name}-node-1`, ['ip', 'route', 'show', '10.244.2.0/24']).stdout.toString().trim()
  const srv = spawnSync('ip', [
    'netns',
    'exec',
    server,
    'iperf3',
    '-s',
    '-1',
    '-D',
    '--pidfile',
    join(stateDir, `${name}.pid`),
  ])
  if (srv.status !== 0) throw new Error(`iperf3 server: ${srv.stderr}`)
  spawnSync('sleep', ['0.3'])
  const r = inNs(client, ['iperf3', '-c', '10.244.2.2', '-t', String(SECONDS), '-J'])
  if (r.status !== 0) throw new Error(`iperf3 client: ${r.stderr}${r.stdout}`)
  const j = JSON.parse(r.stdout.toString())
  return {
    name,
    route: routes,
    gbps: j.end.sum_received.bits_per_second / 1e9,
    retransmits: j.end.sum_sent.retransmits,
  }
}

// [name, DirectRouting]; every lab listed here is taken down at the end.
const labs = [
  ['bench-vx', false],
  ['bench-dr', true],
]
try {
  console.log(
    `pod↔pod TCP throughput (iperf3 -t ${SECONDS}), ${cpus()[0]?.model ?? 'cpu'}, ${cpus().length} cores, kernel ${release()}`,
  )
  for (const [name, direct] of labs) {
    const m = measure(name, direct)
    console.log(
      `${direct ? 'DirectRouting' : 'vxlan        '}  ${m.gbps.toFixed(2).padStart(7)} Gbit/s  retransmits ${m.retransmits}  (node-1: ${m.route})`,
    )
  }
} finally {
  for (const [name] of labs) {
    try {
      cli(['lab', 'down', '--name', name])
    } catch {
      /* already down */
    }
  }
  rmSync(stateDir, {recursive: true, force: true})
}
