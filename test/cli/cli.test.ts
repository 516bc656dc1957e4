/**
 * The command line as a user and a CI pipeline see it: exit codes, output formats, colour rules,
 * bundles as folders and archives, and the seed's net-conf.json. Runs the built CLI (bin/run.js).
 */
import assert from 'node:assert/strict'
import {cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, test} from 'node:test'

import {c as tarCreate} from 'tar'

import type {DoctorReport} from '../../src/engine/doctor.js'
import {VERSION} from '../../src/version.js'
import {cli} from '../support/cli.js'
import {CONTRACT_CHECK_IDS} from '../support/contract.js'
import {assertValidReport} from '../support/schema.js'

const BUNDLES = new URL('../fixtures/bundles/', import.meta.url).pathname
const OUTPUTS = new URL('../fixtures/outputs/', import.meta.url).pathname
const healthy = join(BUNDLES, 'healthy-vxlan')
const broken = join(BUNDLES, 'forward-drop')
const tmp = mkdtempSync(join(tmpdir(), 'flannelctl-cli-'))
after(() => rmSync(tmp, {recursive: true, force: true}))

const ESC = new RegExp(String.fromCharCode(27) + '\\[')
const json = (s: string) => JSON.parse(s) as DoctorReport
const status = (r: DoctorReport, id: string) => r.checks.find((c) => c.id === id)?.status

test('the version in src/version.ts is the package version', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string
  }
  assert.equal(VERSION, pkg.version)
})

test('healthy bundle: table output, exit 0, no colour when not a TTY', async () => {
  const r = await cli(['doctor', '--bundle', healthy], {env: {NO_COLOR: ''}})
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /HEALTHY, exit 0/)
  assert.match(r.stdout, /✔ +│ node\.peers/)
  assert.doesNotMatch(r.stdout, ESC)
})

test('NO_COLOR wins over FORCE_COLOR; FORCE_COLOR colours a pipe', async () => {
  const coloured = await cli(['doctor', '--bundle', broken], {env: {NO_COLOR: '', FORCE_COLOR: '1'}})
  assert.match(coloured.stdout, ESC)
  const plain = await cli(['doctor', '--bundle', broken], {env: {NO_COLOR: '1', FORCE_COLOR: '1'}})
  assert.doesNotMatch(plain.stdout, ESC)
})

test('broken bundle: exit 1, the failure with its evidence and a fix, JSON valid against the schema', async () => {
  const t = await cli(['doctor', '--bundle', broken])
  assert.equal(t.code, 1)
  assert.match(t.stdout, /✖ node\.forward-policy/)
  assert.match(t.stdout, /evidence \(commands\/iptables\.txt\)/)
  assert.match(t.stdout, /fix:\n\s+iptables /)
  const j = await cli(['doctor', '--bundle', broken, '--json'])
  assert.equal(j.code, 1)
  const report = json(j.stdout)
  assertValidReport(report)
  assert.equal(report.result, 'failed')
  assert.equal(status(report, 'node.forward-policy'), 'error')
})

test('--fail-on warning turns a warning into exit 1; error-only keeps it 0', async () => {
  const b = join(BUNDLES, 'netconf-typo')
  assert.equal((await cli(['doctor', '--bundle', b])).code, 0)
  assert.equal((await cli(['doctor', '--bundle', b, '--fail-on', 'warning'])).code, 1)
})

test('missing evidence is not a failure: exit 3, unknown with how to get it', async () => {
  const b = join(tmp, 'no-iptables')
  cpSync(healthy, b, {recursive: true})
  // (iptables-nft rules are also visible through nft, so both captures have to go.)
  rmSync(join(b, 'commands', 'iptables.txt'))
  rmSync(join(b, 'commands', 'nft-ruleset.txt'))
  const r = await cli(['doctor', '--bundle', b, '--json'])
  assert.equal(r.code, 3)
  const report = json(r.stdout)
  assert.equal(report.result, 'incomplete')
  const fwd = report.checks.find((c) => c.id === 'node.forward-policy')
  assert.equal(fwd?.status, 'unknown')
  assert.ok(
    fwd?.findings.some((f) => (f.hint ?? '').includes('iptables-save')),
    JSON.stringify(fwd),
  )
})

test('a .tar.gz bundle gives the same result as the folder', async () => {
  const archive = join(tmp, 'broken.tar.gz')
  await tarCreate({gzip: true, file: archive, cwd: BUNDLES}, ['forward-drop'])
  const fromTar = json((await cli(['doctor', '--bundle', archive, '--json'])).stdout)
  const fromDir = json((await cli(['doctor', '--bundle', broken, '--json'])).stdout)
  const shape = (r: DoctorReport) =>
    r.checks.map((c) => `${c.id}=${c.status}:${c.findings.map((f) => f.message).join('|')}`)
  assert.deepEqual(shape(fromTar), shape(fromDir))
})

test('usage errors exit 2; JUnit still gets a failed case when the run aborts', async () => {
  const junit = join(tmp, 'abort.xml')
  const r = await cli(['doctor', '--bundle', join(tmp, 'does-not-exist'), '--junit', junit])
  assert.equal(r.code, 2)
  assert.match(r.stderr, /does not exist/)
  const xml = readFileSync(junit, 'utf8')
  assert.match(xml, /<testcase classname="flannelctl.doctor" name="doctor.run">/)
  assert.match(xml, /<failure type="error"/)
  const bad = await cli(['doctor', '--bundle', healthy, '--only', 'node.nonsense'])
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /unknown check or area 'node\.nonsense'/)
  const flag = await cli(['doctor', '--fail-on', 'sometimes'])
  assert.equal(flag.code, 2)
})

test('--junit and --output junit/github describe the same findings', async () => {
  const file = join(tmp, 'r.xml')
  const r = await cli(['doctor', '--bundle', broken, '--junit', file, '--output', 'github'])
  assert.equal(r.code, 1)
  assert.match(r.stdout, /^::error title=node\.forward-policy \(error\)::/m)
  const xml = readFileSync(file, 'utf8')
  assert.match(
    xml,
    /<testcase classname="flannelctl.node" name="node.forward-policy">\n\s+<failure type="error"/,
  )
  assert.match(xml, /<testcase classname="flannelctl.node" name="node.peers">\n\s+<\/testcase>/)
  const out = await cli(['doctor', '--bundle', broken, '--output', 'junit'])
  assert.equal(out.stdout, xml.replace(/timestamp="[^"]+"/, out.stdout.match(/timestamp="[^"]+"/)?.[0] ?? ''))
})

test('--only and --skip select by id and by area', async () => {
  const only = json(
    (await cli(['doctor', '--bundle', broken, '--only', 'node.forward-policy,netconf', '--json'])).stdout,
  )
  assert.deepEqual(
    only.checks.map((c) => c.id),
    [
      'netconf.present',
      'netconf.json-syntax',
      'netconf.schema',
      'netconf.unknown-keys',
      'netconf.platform',
      'node.forward-policy',
    ],
  )
  const skipped = await cli(['doctor', '--bundle', broken, '--skip', 'node.forward-policy', '--json'])
  assert.equal(skipped.code, 0)
  assert.equal(status(json(skipped.stdout), 'node.forward-policy'), undefined)
})

test("lint: the seed ConfigMap fails at the # comment with line, column, caret and flannel's words", async () => {
  const seed = join(OUTPUTS, 'netconf', 'seed-kube-flannel-cfg.yaml')
  const r = await cli(['lint', seed, '--json'])
  assert.equal(r.code, 1)
  const report = json(r.stdout)
  const syntax = report.checks.find((c) => c.id === 'netconf.json-syntax')
  assert.equal(syntax?.status, 'error')
  const f = syntax?.findings[0]
  assert.deepEqual(f?.location, {file: seed, line: 38, column: 31})
  assert.match(f?.message ?? '', /#/)
  const lines = f?.evidence.flatMap((e) => e.lines) ?? []
  assert.ok(
    lines.some((l) => l.includes('"Directrouting": true # this parameter')),
    lines.join('\n'),
  )
  assert.ok(
    lines.some((l) => /^\s*\^\s*$/.test(l) || /\^/.test(l)),
    'a caret line',
  )
  assert.ok(
    JSON.stringify(f).includes("invalid character '#' after object key:value pair"),
    "flannel's own wording of the error",
  )
  const sarif = JSON.parse((await cli(['lint', seed, '--output', 'sarif'])).stdout) as {
    runs: {
      results: {
        ruleId: string
        locations: {physicalLocation: {region: {startLine: number; startColumn: number}}}[]
      }[]
    }[]
  }
  const res = sarif.runs[0]?.results.find((x) => x.ruleId === 'netconf.json-syntax')
  assert.deepEqual(res?.locations[0]?.physicalLocation.region, {startLine: 38, startColumn: 31})
})

test('lint: without the comment the seed passes and says Directrouting is taken as DirectRouting', async () => {
  const fixed = join(tmp, 'seed-fixed.yaml')
  writeFileSync(
    fixed,
    readFileSync(join(OUTPUTS, 'netconf', 'seed-kube-flannel-cfg.yaml'), 'utf8').replace(
      ' # this parameter',
      '',
    ),
  )
  const r = await cli(['lint', fixed, '--json'])
  assert.equal(r.code, 0, r.stdout)
  const report = json(r.stdout)
  assert.equal(status(report, 'netconf.json-syntax'), 'ok')
  const keys = report.checks.find((c) => c.id === 'netconf.unknown-keys')
  assert.equal(keys?.status, 'info')
  assert.match(keys?.findings.find((f) => f.status === 'info')?.message ?? '', /Directrouting.*DirectRouting/)
})

test('explain: log text to causes, each naming its check id', async () => {
  const log = readFileSync(join(OUTPUTS, 'logs', 'flannel-1125-podcidr.log'), 'utf8')
  const r = await cli(['explain', '-', '--json'], {input: log})
  assert.equal(r.code, 1, r.stderr)
  const found = JSON.parse(r.stdout) as {check: string; fix: string[]}[]
  assert.ok(
    found.some((x) => x.check === 'kube.podcidr-assigned'),
    r.stdout,
  )
  const human = await cli(['explain', join(OUTPUTS, 'logs', 'minikube-9046-cni0.txt')])
  assert.equal(human.code, 1)
  assert.match(human.stdout, /node\.cni0/)
  const none = await cli(['explain', '-'], {input: 'all good here\n'})
  assert.equal(none.code, 0)
  assert.match(none.stdout, /No known/)
})

test('checks lists the catalogue with the contract ids', async () => {
  const r = await cli(['checks', '--json'])
  const ids = (JSON.parse(r.stdout) as {id: string}[]).map((x) => x.id)
  for (const id of CONTRACT_CHECK_IDS) assert.ok(ids.includes(id), id)
})

test('doctor --help documents the exit codes and shows examples', async () => {
  const r = await cli(['doctor', '--help'])
  assert.match(r.stdout, /0 healthy; 1 a finding at or above --fail-on; 2 usage error/)
  assert.match(r.stdout, /3 incomplete/)
  assert.match(r.stdout, /doctor --bundle/)
})

test('the package installs a kubectl plugin: `kubectl flannel checks` runs flannelctl', async (t) => {
  const {spawnSync} = await import('node:child_process')
  const {symlinkSync} = await import('node:fs')
  if (spawnSync('sh', ['-c', 'command -v kubectl']).status !== 0) return t.skip('kubectl is not installed')
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    bin: Record<string, string>
  }
  assert.equal(pkg.bin['kubectl-flannel'], './bin/kubectl-flannel.js')
  const dir = join(tmp, 'plugin-path')
  const {mkdirSync} = await import('node:fs')
  mkdirSync(dir, {recursive: true})
  symlinkSync(new URL('../../bin/kubectl-flannel.js', import.meta.url).pathname, join(dir, 'kubectl-flannel'))
  const r = spawnSync('kubectl', ['flannel', 'checks'], {
    encoding: 'utf8',
    env: {...process.env, PATH: `${dir}:${process.env['PATH'] ?? ''}`},
  })
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /^node\.forward-policy\s+error/m)
})
