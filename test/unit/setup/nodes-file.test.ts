import assert from 'node:assert/strict'
import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, test} from 'node:test'
import {fileURLToPath, pathToFileURL} from 'node:url'

import fc from 'fast-check'
import {parse as parseYaml} from 'yaml'

import {NodesFileError, fileNodeSource, setNodeAnnotationsInText} from '../../../src/host/nodes-file.js'
import {parseNodes} from '../../../src/parse/kube.js'
import {mutated} from '../../support/property.js'

const KUBE = new URL('../../fixtures/outputs/kube/', import.meta.url)
const fx = (name: string): string => readFileSync(new URL(name, KUBE), 'utf8')
const REPO = fileURLToPath(new URL('../../../', import.meta.url))
const MODULE = pathToFileURL(join(REPO, 'src/host/nodes-file.ts')).href

const PUB = 'flannel.alpha.coreos.com/public-ip'
const TYPE = 'flannel.alpha.coreos.com/backend-type'
const V6 = 'flannel.alpha.coreos.com/backend-v6-data'
const OVERWRITE = 'flannel.alpha.coreos.com/public-ip-overwrite'

let dir = ''
let n = 0
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'flannelctl-nodes-file-'))
})
after(() => {
  rmSync(dir, {recursive: true, force: true})
})

/** A fresh copy of a fixture in the temporary folder. */
function copy(name: string, text = fx(name)): string {
  const p = join(dir, `${++n}-${name}`)
  writeFileSync(p, text)
  return p
}

type Obj = Record<string, unknown>
const annotationsOf = (doc: unknown, node: string): Obj => {
  const items = (doc as {items?: Obj[]}).items ?? [doc as Obj]
  const item = items.find((i) => (i['metadata'] as Obj)['name'] === node)
  assert.ok(item, `node ${node} not found`)
  return (item['metadata'] as Obj)['annotations'] as Obj
}
/** The document with one node's annotations removed: what publish must leave exactly as it was. */
const withoutAnnotations = (doc: unknown, node: string): unknown => {
  const copyDoc = structuredClone(doc) as Obj
  const items = (copyDoc['items'] as Obj[] | undefined) ?? [copyDoc]
  for (const i of items)
    if ((i['metadata'] as Obj)['name'] === node) delete (i['metadata'] as Obj)['annotations']
  return copyDoc
}
/** Lines that mention none of the given keys. */
const otherLines = (text: string, keys: readonly string[]): string[] =>
  text.split('\n').filter((l) => !keys.some((k) => l.includes(k)))

/** A pid that belonged to a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', ''])
  assert.ok(r.pid && r.pid > 0)
  return r.pid
}

describe('list', () => {
  test('kubectl get nodes -o json (List)', async () => {
    const nodes = await fileNodeSource(copy('nodes-list-k8s-1.22.json')).list()
    assert.deepEqual(
      nodes.map((x) => [x.name, x.podCIDR, x.annotations[PUB]]),
      [
        ['k8s1', '10.244.0.0/24', '10.210.40.172'],
        ['k8s2', '10.244.2.0/24', '10.210.40.173'],
        ['k8s3', '10.244.3.0/24', '10.210.40.175'],
      ],
    )
  })

  test('kubectl get nodes -o yaml (List) and a single Node', async () => {
    const list = await fileNodeSource(copy('nodes-list-k8s-1.33.yaml')).list()
    assert.deepEqual(
      list.map((x) => [x.name, x.podCIDR, x.annotations[PUB]]),
      [
        ['controlplane', '192.168.0.0/24', '172.30.1.2'],
        ['node01', '192.168.1.0/24', '172.30.2.2'],
      ],
    )
    const one = await fileNodeSource(copy('node-k8s-1.23.yaml')).list()
    assert.deepEqual(
      one.map((x) => [x.name, x.podCIDR]),
      [['vm-centos7-64-k8s-worker-01', '10.244.1.0/24']],
    )
  })

  test('describe names the file', () => {
    const p = join(dir, 'x.yaml')
    assert.equal(fileNodeSource(p).describe, `node file ${p}`)
  })

  test('a missing file: the error names the file', async () => {
    const p = join(dir, 'missing.yaml')
    await assert.rejects(fileNodeSource(p).list(), (e: unknown) => {
      assert.ok(e instanceof NodesFileError)
      assert.equal(e.kind, 'read')
      assert.equal(e.message, `${p}: cannot read the node list: no such file`)
      return true
    })
  })

  test('an invalid file: the error carries file and line', async () => {
    // The real YAML with line 10 broken (an unclosed quote).
    const lines = fx('node-k8s-1.23.yaml').split('\n')
    lines[9] = `${lines[9]} "unclosed`
    const p = copy('broken.yaml', lines.join('\n'))
    await assert.rejects(fileNodeSource(p).list(), (e: unknown) => {
      assert.ok(e instanceof NodesFileError)
      assert.equal(e.kind, 'parse')
      assert.ok(e.line !== undefined && e.line >= 10, `line ${e.line}`)
      assert.ok(e.message.startsWith(`${p}:${e.line}: `), e.message)
      return true
    })
    const j = copy(
      'broken.json',
      fx('nodes-list-k8s-1.22.json').replace('"name": "k8s2",', '"name": "k8s2",,'),
    )
    await assert.rejects(fileNodeSource(j).publish('k8s2', {[PUB]: '1.2.3.4'}), (e: unknown) => {
      assert.ok(e instanceof NodesFileError)
      assert.equal(e.kind, 'parse')
      assert.equal(e.line, 223)
      assert.ok(e.message.startsWith(`${j}:223: not valid JSON`), e.message)
      return true
    })
  })
})

describe('publish', () => {
  test('YAML: only the given annotations change, every other line stays byte for byte', async () => {
    const original = fx('nodes-list-k8s-1.33.yaml')
    const p = copy('nodes-list-k8s-1.33.yaml')
    const src = fileNodeSource(p)
    const r = await src.publish('node01', {[PUB]: '10.0.0.2', [TYPE]: 'vxlan', [V6]: 'null'})
    assert.deepEqual(r, {changed: true})
    const text = readFileSync(p, 'utf8')
    assert.deepEqual(otherLines(text, [PUB, V6]), otherLines(original, [PUB, V6]))
    const before = parseYaml(original) as unknown
    const after = parseYaml(text) as unknown
    assert.deepEqual(withoutAnnotations(after, 'node01'), withoutAnnotations(before, 'node01'))
    const was = annotationsOf(before, 'node01')
    const now = annotationsOf(after, 'node01')
    assert.deepEqual(now, {...was, [PUB]: '10.0.0.2', [V6]: 'null'})
    // Existing keys keep their order; the new key lands where kubectl would sort it.
    assert.deepEqual(
      Object.keys(now),
      [...Object.keys(was), V6].sort(),
      'annotations stay sorted as kubectl printed them',
    )
    assert.deepEqual(
      Object.keys(now).filter((k) => k !== V6),
      Object.keys(was),
    )
    // 'null' must stay a string, not YAML null.
    assert.match(text, /flannel\.alpha\.coreos\.com\/backend-v6-data: "null"\n/)
    const listed = await src.list()
    assert.equal(listed.find((x) => x.name === 'node01')?.annotations[PUB], '10.0.0.2')
    assert.equal(listed.find((x) => x.name === 'controlplane')?.annotations[PUB], '172.30.1.2')
  })

  test('JSON: annotations change, indentation and key order are kept', async () => {
    const original = fx('nodes-list-k8s-1.22.json')
    const p = copy('nodes-list-k8s-1.22.json')
    const r = await fileNodeSource(p).publish('k8s2', {[PUB]: '10.210.40.200', [OVERWRITE]: '198.51.100.2'})
    assert.deepEqual(r, {changed: true})
    const text = readFileSync(p, 'utf8')
    // kubectl writes 4-space JSON; all lines but the touched ones are unchanged.
    assert.deepEqual(otherLines(text, [PUB]), otherLines(original, [PUB]))
    assert.match(text, /\n {20}"flannel\.alpha\.coreos\.com\/public-ip-overwrite": "198\.51\.100\.2",\n/)
    const before = JSON.parse(original) as unknown
    const after = JSON.parse(text) as unknown
    assert.deepEqual(withoutAnnotations(after, 'k8s2'), withoutAnnotations(before, 'k8s2'))
    assert.deepEqual(annotationsOf(after, 'k8s2'), {
      ...annotationsOf(before, 'k8s2'),
      [PUB]: '10.210.40.200',
      [OVERWRITE]: '198.51.100.2',
    })
    assert.deepEqual(annotationsOf(after, 'k8s1'), annotationsOf(before, 'k8s1'))
  })

  test('publishing the same values again changes nothing', async () => {
    for (const [name, node] of [
      ['nodes-list-k8s-1.33.yaml', 'controlplane'],
      ['nodes-list-k8s-1.22.json', 'k8s3'],
    ] as const) {
      const p = copy(name)
      const src = fileNodeSource(p)
      const ann = {[PUB]: '192.0.2.10', [TYPE]: 'vxlan'}
      assert.deepEqual(await src.publish(node, ann), {changed: true})
      const once = readFileSync(p, 'utf8')
      const mtime = statSync(p).mtimeMs
      assert.deepEqual(await src.publish(node, ann), {changed: false})
      assert.equal(readFileSync(p, 'utf8'), once)
      assert.equal(statSync(p).mtimeMs, mtime)
    }
    // Values already in the real capture: no write at all.
    const p = copy('node-k8s-1.23.yaml')
    assert.deepEqual(
      await fileNodeSource(p).publish('vm-centos7-64-k8s-worker-01', {[PUB]: '192.168.126.140'}),
      {changed: false},
    )
    assert.equal(readFileSync(p, 'utf8'), fx('node-k8s-1.23.yaml'))
  })

  test('an unknown node: the error names the node and the file, the file is untouched', async () => {
    const p = copy('nodes-list-k8s-1.33.yaml')
    await assert.rejects(fileNodeSource(p).publish('node02', {[PUB]: '10.0.0.3'}), (e: unknown) => {
      assert.ok(e instanceof NodesFileError)
      assert.equal(e.kind, 'node-not-found')
      assert.equal(e.message, `node "node02" is not in ${p} (it lists controlplane, node01)`)
      return true
    })
    assert.equal(readFileSync(p, 'utf8'), fx('nodes-list-k8s-1.33.yaml'))
    assert.equal(existsSync(`${p}.lock`), false, 'the lock is released after an error')
  })

  test('the file mode is kept', async () => {
    const p = copy('node-k8s-1.23.yaml')
    chmodSync(p, 0o640)
    await fileNodeSource(p).publish('vm-centos7-64-k8s-worker-01', {[PUB]: '192.168.126.141'})
    assert.equal(statSync(p).mode & 0o777, 0o640)
  })

  test('a node without annotations gets a block of them; a flow {} becomes a block too', async () => {
    // The real single-Node capture with its annotations block removed / emptied.
    const lines = fx('node-k8s-1.23.yaml').split('\n')
    const start = lines.indexOf('  annotations:')
    let end = start + 1
    while (lines[end]?.startsWith('    ')) end++
    const bare = [...lines.slice(0, start), ...lines.slice(end)].join('\n')
    const flow = [...lines.slice(0, start), '  annotations: {}', ...lines.slice(end)].join('\n')
    for (const text of [bare, flow]) {
      const p = copy('node.yaml', text)
      assert.deepEqual(
        await fileNodeSource(p).publish('vm-centos7-64-k8s-worker-01', {[TYPE]: 'vxlan', [PUB]: '10.0.0.1'}),
        {changed: true},
      )
      const out = readFileSync(p, 'utf8')
      assert.ok(
        out.includes(`  annotations:\n    ${TYPE}: vxlan\n    ${PUB}: 10.0.0.1\n  creationTimestamp:`),
        out.slice(0, 300),
      )
      assert.deepEqual(
        withoutAnnotations(parseYaml(out), 'vm-centos7-64-k8s-worker-01'),
        withoutAnnotations(parseYaml(text), 'vm-centos7-64-k8s-worker-01'),
      )
    }
  })

  test('a block-scalar value (kubectl prints multi-line strings with |) is replaced on its own lines', () => {
    const DATA = 'flannel.alpha.coreos.com/backend-data'
    const text = fx('node-k8s-1.23.yaml').replace(
      `    ${DATA}: '{"VNI":1,"VtepMAC":"8e:80:b2:e4:bc:e5"}'\n`,
      `    ${DATA}: |\n      {"VNI":1,"VtepMAC":"8e:80:b2:e4:bc:e5"}\n`,
    )
    assert.notEqual(text, fx('node-k8s-1.23.yaml'))
    const value = '{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"}'
    const out = setNodeAnnotationsInText(text, 'f.yaml', 'vm-centos7-64-k8s-worker-01', {[DATA]: value})
    assert.ok(out !== undefined)
    assert.equal(out, fx('node-k8s-1.23.yaml').replace('8e:80:b2:e4:bc:e5', 'aa:bb:cc:dd:ee:ff'))
  })

  test('the pure edit keeps a BOM and CRLF line ends', () => {
    const text = `\ufeff${fx('node-no-podcidr.yaml').replace(/\n/g, '\r\n')}`
    const out = setNodeAnnotationsInText(text, 'f.yaml', 'worker0', {[PUB]: '10.1.2.3', [V6]: 'null'})
    assert.ok(out !== undefined)
    assert.ok(out.startsWith('\ufeffapiVersion: v1\r\n'))
    assert.ok(!/[^\r]\n/.test(out), 'every line ends in CRLF')
    const nodes = parseNodes(out)
    assert.equal(nodes[0]?.annotations[PUB], '10.1.2.3')
    assert.equal(nodes[0]?.annotations[V6], 'null')
  })

  test('two concurrent publishes for different nodes both land', async () => {
    for (const name of ['nodes-list-k8s-1.33.yaml', 'nodes-list-k8s-1.22.json']) {
      const p = copy(name)
      const src = fileNodeSource(p, {pollMs: 5})
      const names = (await src.list()).map((x) => x.name)
      const [a, b] = names as [string, string]
      const results = await Promise.all([
        src.publish(a, {[PUB]: '10.9.0.1', [OVERWRITE]: 'a'}),
        fileNodeSource(p, {pollMs: 5}).publish(b, {[PUB]: '10.9.0.2', [OVERWRITE]: 'b'}),
        src.publish(a, {[V6]: 'a6'}),
        src.publish(b, {[V6]: 'b6'}),
      ])
      assert.deepEqual(results, [{changed: true}, {changed: true}, {changed: true}, {changed: true}])
      const after = await src.list()
      const ann = (x: string) => after.find((y) => y.name === x)?.annotations ?? {}
      assert.deepEqual([ann(a)[PUB], ann(a)[OVERWRITE], ann(a)[V6]], ['10.9.0.1', 'a', 'a6'])
      assert.deepEqual([ann(b)[PUB], ann(b)[OVERWRITE], ann(b)[V6]], ['10.9.0.2', 'b', 'b6'])
      assert.equal(existsSync(`${p}.lock`), false)
    }
  })

  test('two processes publishing in a loop lose no update', async () => {
    const p = copy('nodes-list-k8s-1.33.yaml')
    const script = join(dir, 'publisher.mts')
    writeFileSync(
      script,
      [
        `import {fileNodeSource} from ${JSON.stringify(MODULE)}`,
        `const [file, node, count] = process.argv.slice(2)`,
        `const src = fileNodeSource(file, {pollMs: 2, lockTimeoutMs: 20000})`,
        `for (let i = 0; i < Number(count); i++) await src.publish(node, {['test.example/' + node + '-' + i]: String(i)})`,
      ].join('\n'),
    )
    const COUNT = 15
    const run = (node: string) =>
      new Promise<{code: number | null; err: string}>((resolve) => {
        const c = spawn(process.execPath, ['--import', 'tsx', script, p, node, String(COUNT)], {cwd: REPO})
        let err = ''
        c.stderr.on('data', (d: Buffer) => (err += d.toString()))
        c.on('exit', (code) => resolve({code, err}))
      })
    const res = await Promise.all([run('controlplane'), run('node01')])
    assert.deepEqual(
      res.map((r) => r.code),
      [0, 0],
      res.map((r) => r.err).join('\n'),
    )
    const nodes = await fileNodeSource(p).list()
    for (const node of ['controlplane', 'node01']) {
      const ann = nodes.find((x) => x.name === node)?.annotations ?? {}
      const mine = Object.keys(ann).filter((k) => k.startsWith(`test.example/${node}-`))
      assert.equal(mine.length, COUNT, `${node}: ${mine.join(' ')}`)
    }
    assert.equal(existsSync(`${p}.lock`), false)
  })
})

describe('lock', () => {
  test('a lock left by a dead process is taken over', async () => {
    const p = copy('node-no-podcidr.yaml')
    const pid = deadPid()
    writeFileSync(`${p}.lock`, `${pid}\n`)
    const r = await fileNodeSource(p, {lockTimeoutMs: 2000}).publish('worker0', {[PUB]: '10.4.4.4'})
    assert.deepEqual(r, {changed: true})
    assert.equal((await fileNodeSource(p).list())[0]?.annotations[PUB], '10.4.4.4')
    assert.equal(existsSync(`${p}.lock`), false)
  })

  describe('a lock held by a live process', () => {
    let holder: ChildProcess | undefined
    before(() => {
      holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], {stdio: 'ignore'})
    })
    after(() => {
      holder?.kill()
    })

    test('makes publish wait, then time out with a clear error', async () => {
      const p = copy('node-no-podcidr.yaml')
      const pid = holder?.pid as number
      writeFileSync(`${p}.lock`, `${pid}\n`)
      const t0 = Date.now()
      await assert.rejects(
        fileNodeSource(p, {lockTimeoutMs: 300, pollMs: 20}).publish('worker0', {[PUB]: '10.5.5.5'}),
        (e: unknown) => {
          assert.ok(e instanceof NodesFileError)
          assert.equal(e.kind, 'lock-timeout')
          assert.equal(
            e.message,
            `${p}: gave up after 0.3 s waiting for ${p}.lock, held by process ${pid}; if no flannelctl setup is running, remove that file`,
          )
          return true
        },
      )
      assert.ok(Date.now() - t0 >= 300, `waited ${Date.now() - t0} ms`)
      assert.equal(readFileSync(p, 'utf8'), fx('node-no-podcidr.yaml'))
      assert.equal(readFileSync(`${p}.lock`, 'utf8'), `${pid}\n`, "someone else's lock is left alone")
    })

    test('publish proceeds once the holder releases it', async () => {
      const p = copy('node-no-podcidr.yaml')
      writeFileSync(`${p}.lock`, `${holder?.pid}\n`)
      const t0 = Date.now()
      setTimeout(() => unlinkSync(`${p}.lock`), 200)
      const r = await fileNodeSource(p, {lockTimeoutMs: 5000, pollMs: 20}).publish('worker0', {
        [PUB]: '10.6.6.6',
      })
      assert.deepEqual(r, {changed: true})
      assert.ok(Date.now() - t0 >= 190, `waited ${Date.now() - t0} ms`)
      assert.equal((await fileNodeSource(p).list())[0]?.annotations[PUB], '10.6.6.6')
    })
  })
})

test('the pure edit on mutated real captures: a verified text, undefined, or a NodesFileError', () => {
  const seeds = [
    'nodes-list-k8s-1.33.yaml',
    'nodes-list-k8s-1.22.json',
    'node-k8s-1.23.yaml',
    'node-no-podcidr.yaml',
    'cluster-3node-flannel-constructed.json',
  ].map(fx)
  const names = ['controlplane', 'node01', 'k8s1', 'k8s3', 'vm-centos7-64-k8s-worker-01', 'worker0']
  const vocab = [
    'annotations:',
    'metadata:',
    '  ',
    '- ',
    '{}',
    'null',
    '"',
    "'",
    ':',
    '#',
    '{',
    '}',
    ',',
    PUB,
  ]
  const ann = {[PUB]: '10.77.0.1', [V6]: 'null'}
  let written = 0
  fc.assert(
    fc.property(mutated(seeds, vocab), fc.constantFrom(...names), (raw, name) => {
      let out: string | undefined
      try {
        out = setNodeAnnotationsInText(raw, 'f', name, ann)
      } catch (e) {
        if (!(e instanceof NodesFileError)) throw e
        assert.ok(e.message.length > 0)
        if (e.line !== undefined) assert.ok(Number.isInteger(e.line) && e.line >= 1)
        return
      }
      if (out === undefined) return
      written++
      let before
      try {
        before = parseNodes(raw)
      } catch {
        return
      }
      const node = parseNodes(out).find((x) => x.name === name)
      assert.ok(node, `node ${name} lost`)
      assert.equal(node.annotations[PUB], ann[PUB])
      assert.equal(node.annotations[V6], ann[V6])
      assert.equal(parseNodes(out).length, before.length)
    }),
    {numRuns: 4000, seed: 20261125},
  )
  assert.ok(written > 100, `only ${written} edits were written`)
})
