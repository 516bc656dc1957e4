import assert from 'node:assert/strict'
import {test} from 'node:test'

import {check} from '../../../src/checks/cni/config.js'
import {staticFacts} from '../../../src/facts/static.js'
import {parseCniConfigs} from '../../../src/parse/cni.js'
import {fx} from './helpers.js'

const FLANNEL = fx('cni/10-flannel.conflist')
const CONTAINERD = fx('cni/10-containerd-net.conflist')
const run = (files: {name: string; text: string}[]) =>
  check.evaluate(staticFacts({cniConfigs: parseCniConfigs(files)}, 'files/etc/cni/net.d'))

test('cni.config: the manifest conflist alone is healthy', () => {
  const fs = run([{name: '10-flannel.conflist', text: FLANNEL}])
  assert.deepEqual(
    fs.map((f) => f.status),
    ['ok'],
  )
  assert.match(
    fs[0]?.message ?? '',
    /^10-flannel\.conflist \(network "cbr0", plugins flannel \+ portmap\) is the first/,
  )
})

test("cni.config: containerd's 10-containerd-net.conflist sorts before flannel and wins (flannel#1437)", () => {
  const [f, ...rest] = run([
    {name: '10-flannel.conflist', text: FLANNEL},
    {name: '10-containerd-net.conflist', text: CONTAINERD},
  ])
  assert.equal(rest.length, 0)
  assert.equal(f?.status, 'error')
  assert.match(
    f?.message ?? '',
    /10-containerd-net\.conflist \(network "containerd-net", plugins bridge \+ portmap\) sorts before 10-flannel\.conflist/,
  )
  assert.deepEqual(f?.evidence, [
    {source: 'files/etc/cni/net.d', lines: ['10-containerd-net.conflist', '10-flannel.conflist']},
  ])
  assert.deepEqual(f?.fix, [
    "mv /etc/cni/net.d/10-containerd-net.conflist /root/10-containerd-net.conflist.disabled   # another CNI's config (or remove that CNI)",
  ])
  // The same file renamed with an extension libcni ignores no longer wins.
  assert.deepEqual(
    run([
      {name: '10-flannel.conflist', text: FLANNEL},
      {name: '10-containerd-net.conflist.disabled', text: CONTAINERD},
    ]).map((x) => x.status),
    ['ok'],
  )
})

test('cni.config: a broken file sorting first blocks containerd; a broken flannel config is named', () => {
  const broken = CONTAINERD.replace('"cni0",', '"cni0"')
  const [f] = run([
    {name: '10-flannel.conflist', text: FLANNEL},
    {name: '05-old.conflist', text: broken},
  ])
  assert.equal(f?.status, 'error')
  assert.match(
    f?.message ?? '',
    /05-old\.conflist \(not valid JSON \(8:7: unexpected "\\"", expected ',' or '}'\)\) sorts first; containerd refuses/,
  )
  const [g] = run([{name: '10-flannel.conflist', text: FLANNEL.replace(/}\n {2}\]/, '},\n  ]')}])
  assert.equal(g?.status, 'error')
  assert.match(
    g?.message ?? '',
    /^No loadable flannel CNI config: 10-flannel\.conflist uses the flannel plugin but is not valid JSON \(18:3: /,
  )
  const [h] = run([{name: 'README', text: 'not a config'}])
  assert.match(h?.message ?? '', /holds no \.conf\/\.conflist\/\.json file/)
})

test('cni.config: "name" or "ipam" in delegate is refused by the plugin', () => {
  const withName = FLANNEL.replace('"hairpinMode": true,', '"hairpinMode": true,\n        "name": "cbr0",')
  const fs = run([{name: '10-flannel.conflist', text: withName}])
  assert.deepEqual(
    fs.map((f) => f.status),
    ['error'],
  )
  assert.match(
    fs[0]?.message ?? '',
    /sets "name"; the plugin refuses every pod with "'delegate' dictionary must not have 'name' field/,
  )
  assert.deepEqual(fs[0]?.evidence, [
    {source: 'files/etc/cni/net.d 10-flannel.conflist', lines: ['"name": "cbr0",']},
  ])
  const withIpam = FLANNEL.replace(
    '"isDefaultGateway": true',
    '"isDefaultGateway": true,\n        "ipam": {"type": "host-local"}',
  )
  assert.match(run([{name: '10-flannel.conflist', text: withIpam}])[0]?.message ?? '', /sets "ipam"/)
})

test('cni.config: no evidence → unknown', () => {
  const [f] = check.evaluate(staticFacts({}))
  assert.equal(f?.status, 'unknown')
  assert.match(f?.message ?? '', /Could not look at the CNI configs/)
})
