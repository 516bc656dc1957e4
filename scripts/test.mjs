#!/usr/bin/env node
// Runs every test file under test/ with node's test runner (TypeScript through tsx), then prints one
// plain closing line with the counts. Options: --unit (only test/unit), or file/dir arguments.
import {spawn} from 'node:child_process'
import {readdirSync, statSync, readFileSync, mkdtempSync, rmSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {tmpdir} from 'node:os'

const args = process.argv.slice(2)
const unitOnly = args.includes('--unit')
const roots = args.filter((a) => !a.startsWith('--'))
const start = roots.length > 0 ? roots : [unitOnly ? 'test/unit' : 'test']

function walk(p, out) {
  const st = statSync(p)
  if (st.isFile()) {
    if (p.endsWith('.test.ts')) out.push(p)
    return out
  }
  for (const e of readdirSync(p).sort()) {
    if (e === 'fixtures' || e === 'node_modules') continue
    walk(join(p, e), out)
  }
  return out
}

const files = start.flatMap((r) => walk(resolve(r), []))
if (files.length === 0) {
  console.error('no test files found under ' + start.join(', '))
  process.exit(1)
}
const dir = mkdtempSync(join(tmpdir(), 'flannelctl-test-'))
const tap = join(dir, 'report.tap')
const child = spawn(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    // No single test may hang a CI run: ten minutes is far above the slowest (the crash trials).
    '--test-timeout=600000',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tap}`,
    ...files,
  ],
  {stdio: 'inherit', env: {...process.env, NO_COLOR: '1', FORCE_COLOR: '0', TZ: 'UTC'}},
)
child.on('exit', (code, signal) => {
  let pass = 0
  let fail = 0
  let skip = 0
  try {
    const text = readFileSync(tap, 'utf8')
    pass = Number(/^# pass (\d+)/m.exec(text)?.[1] ?? 0)
    fail = Number(/^# fail (\d+)/m.exec(text)?.[1] ?? 0) + Number(/^# cancelled (\d+)/m.exec(text)?.[1] ?? 0)
    skip = Number(/^# skipped (\d+)/m.exec(text)?.[1] ?? 0) + Number(/^# todo (\d+)/m.exec(text)?.[1] ?? 0)
  } catch {
    fail = fail || 1
  }
  rmSync(dir, {recursive: true, force: true})
  console.log(`\n${pass} passed, ${fail} failed, ${skip} skipped`)
  process.exit(code === 0 && fail === 0 && pass > 0 ? 0 : code || 1)
  void signal
})
