#!/usr/bin/env node
// Benchmarks, reported with the machine they ran on (never asserted in unit tests).
//   doctor --bundle on a full sample bundle, next to `node -e 0` (the floor of any Node CLI), same run.
// Usage: npm run bench [-- --runs N]
import {execFileSync, spawnSync} from 'node:child_process'
import {cpus, totalmem, release} from 'node:os'
import {fileURLToPath} from 'node:url'
import {dirname, join} from 'node:path'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const runsArg = process.argv.indexOf('--runs')
const RUNS = runsArg > -1 ? Number(process.argv[runsArg + 1]) : 21

function time(argv) {
  const samples = []
  for (let i = 0; i < RUNS + 2; i++) {
    const t = process.hrtime.bigint()
    const r = spawnSync(argv[0], argv.slice(1), {
      cwd: root,
      stdio: 'ignore',
      env: {...process.env, NO_COLOR: '1'},
    })
    const ms = Number(process.hrtime.bigint() - t) / 1e6
    if (r.error) throw r.error
    if (i >= 2) samples.push(ms) // two warm-up runs (file cache)
  }
  samples.sort((a, b) => a - b)
  const q = (p) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]
  return {median: q(0.5), p10: q(0.1), p90: q(0.9)}
}

const machine = {
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  kernel: release(),
  node: process.version,
  date: new Date().toISOString(),
}
let commit = 'unknown'
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {cwd: root}).toString().trim()
} catch {
  /* not a git checkout */
}

const cases = [
  ['node -e 0 (floor)', [process.execPath, '-e', '0']],
  ['flannelctl --version', [process.execPath, 'bin/run.js', '--version']],
  [
    'doctor --bundle healthy-vxlan (full bundle)',
    [process.execPath, 'bin/run.js', 'doctor', '--bundle', 'test/fixtures/bundles/healthy-vxlan'],
  ],
  [
    'doctor --bundle healthy-vxlan --json',
    [process.execPath, 'bin/run.js', 'doctor', '--bundle', 'test/fixtures/bundles/healthy-vxlan', '--json'],
  ],
]
console.log(`flannelctl benchmarks @ ${commit}`)
console.log(
  `machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, kernel ${machine.kernel}, node ${machine.node}`,
)
console.log(`runs: ${RUNS} each (after 2 warm-up runs), wall time in ms\n`)
const rows = []
for (const [name, argv] of cases) {
  const r = time(argv)
  rows.push({name, ...r})
  console.log(
    `${name.padEnd(48)} median ${r.median.toFixed(1).padStart(7)}   p10 ${r.p10.toFixed(1).padStart(7)}   p90 ${r.p90.toFixed(1).padStart(7)}`,
  )
}
const doctor = rows[2]
const floor = rows[0]
console.log(
  `\ndoctor --bundle median ${doctor.median.toFixed(1)} ms (target <= 250 ms); node -e 0 median ${floor.median.toFixed(1)} ms; doctor costs ${(doctor.median - floor.median).toFixed(1)} ms above the floor`,
)
console.log(JSON.stringify({machine, commit, runs: RUNS, results: rows}))
