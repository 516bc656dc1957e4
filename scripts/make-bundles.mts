#!/usr/bin/env -S npx tsx
/**
 * Regenerates the scenario bundles in test/fixtures/bundles/ from real kernel state: for each scenario a
 * healthy flannel cluster is built in network namespaces (prefix flt-mk-), the fault is injected, and
 * node-1's evidence is collected with the same code as `flannelctl collect`. Each bundle gets an
 * expect.json with the exact set of check ids that must fail.
 *
 * Usage (root): npx tsx scripts/make-bundles.mts [NAME ...]
 */
import {createHash} from 'node:crypto'
import {mkdir, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {captureBundle} from '../src/collect/collect.js'
import {liveSource} from '../src/facts/sources.js'
import {writeBundle} from '../src/host/bundle-writer.js'
import {nodeFs} from '../src/host/fs.js'
import {execaRunner} from '../src/host/runner.js'
import {FAULTS, logPaths, type Fault} from '../test/support/faults.js'
import {buildCluster} from '../test/support/netns.js'

function composedStates(nodes: {name: string; ip: string}[]): string {
  const self = nodes[0]
  if (!self) return ''
  const digest = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`
  const out: string[] = []
  let spi = 0xc1000001
  for (const peer of nodes.slice(1)) {
    for (const [src, dst] of [
      [self.ip, peer.ip],
      [peer.ip, self.ip],
    ] as const) {
      out.push(
        `src ${src} dst ${dst}`,
        `\tproto esp spi 0x${(spi++).toString(16)} reqid 11 mode tunnel`,
        '\treplay-window 0 flag af-unspec',
        `\taead rfc4106(gcm(aes)) ${digest(`${src}-${dst}`)} 128`,
        '\tanti-replay context: seq 0x0, oseq 0x0, bitmap 0x00000000',
      )
    }
  }
  return out.join('\n') + '\n'
}

const OUT = new URL('../test/fixtures/bundles/', import.meta.url).pathname
const only = process.argv.slice(2)

interface Scenario {
  name: string
  backend: 'vxlan' | 'ipsec'
  expect: string[]
  what: string
  fault?: Fault
  /** Fixture logs (test/fixtures/outputs/logs/) collected into the bundle's logs/. */
  logs?: string[]
}

const scenarios: Scenario[] = [
  {
    name: 'healthy-vxlan',
    backend: 'vxlan',
    expect: [],
    what: 'a healthy 3-node vxlan cluster, seen from node-1',
  },
  {
    name: 'healthy-ipsec',
    backend: 'ipsec',
    expect: [],
    what: 'a healthy 3-node ipsec cluster, seen from node-1 (policies as flannel installs them)',
  },
  {
    name: 'healthy-vxlan-with-log',
    backend: 'vxlan',
    expect: [],
    what: "a healthy 3-node vxlan cluster, seen from node-1, with a real healthy flanneld log (flannel v0.26.0's start-up)",
    logs: ['flannel-v0.26-healthy.log'],
  },
  ...FAULTS.map((f) => {
    const s: Scenario = {
      name: f.name,
      backend: f.backend ?? 'vxlan',
      expect: f.expect,
      what: f.what,
      fault: f,
    }
    if (f.logs) s.logs = f.logs
    return s
  }),
]

for (const s of scenarios) {
  if (only.length > 0 && !only.includes(s.name)) continue
  const c = await buildCluster({prefix: 'flt-mk-', backend: s.backend})
  try {
    if (s.fault) await s.fault.apply(c)
    const f = c.files('node-1')
    const source = liveSource(execaRunner(), nodeFs, {
      netns: c.nsOf('node-1'),
      netConfPath: f.netConf,
      subnetEnvPath: f.subnetEnv,
      nodesFile: f.nodesFile,
      cniDir: f.cniDir,
      logFiles: logPaths(s.logs),
      nodeName: 'node-1',
    })
    const {files} = await captureBundle(source, {now: new Date('2026-01-01T00:00:00Z')})
    const notes: string[] = []
    const states = files.get('commands/ip-xfrm-state.txt')
    if (s.backend === 'ipsec' && states !== undefined && states.trim() === '') {
      // This kernel has no ESP (CONFIG_INET_ESP), so no SA can exist here; charon would have negotiated
      // one pair per peer. Stand-ins in `ip xfrm state` form, keys as collect redacts them.
      files.set('commands/ip-xfrm-state.txt', composedStates(c.nodes))
      notes.push(
        'ip-xfrm-state.txt is composed (kernel without ESP support): one SA pair per peer, reqid 11, as charon installs them',
      )
    }
    if (s.fault?.bundleOnly) {
      // A fault this kernel cannot show: the fault edits the collected evidence (see faults.ts).
      const before = new Map(files)
      s.fault.bundleOnly(files)
      const edited = [...files.keys()].filter((k) => before.get(k) !== files.get(k)).sort()
      notes.push(
        `bundle-only fault: ${edited.join(', ')} edited after collection by the fault's bundleOnly hook (this machine's kernel cannot show it live)`,
      )
    }
    const dir = join(OUT, s.name)
    await rm(dir, {recursive: true, force: true})
    await mkdir(OUT, {recursive: true})
    await writeBundle(dir, files)
    await writeFile(
      join(dir, 'expect.json'),
      JSON.stringify(
        {
          description: s.what,
          failing: s.expect,
          generatedBy: 'scripts/make-bundles.mts',
          ...(notes.length > 0 ? {note: notes.join('; ')} : {}),
        },
        null,
        2,
      ) + '\n',
    )
    console.log(`${s.name}: ${files.size} files`)
  } finally {
    await c.destroy()
  }
}
