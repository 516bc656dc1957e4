import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {selectSample, suspicions} from '../../../src/engine/sample.js'
import type {KubeNode, KubePod} from '../../../src/model.js'

const ANN = {
  'flannel.alpha.coreos.com/backend-type': 'vxlan',
  'flannel.alpha.coreos.com/backend-data': '{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:01"}',
  'flannel.alpha.coreos.com/public-ip': '192.168.0.1',
}

function node(name: string, over: {[K in keyof KubeNode]?: KubeNode[K] | undefined} = {}): KubeNode {
  const n: KubeNode = {
    name,
    podCIDR: '10.244.1.0/24',
    podCIDRs: ['10.244.1.0/24'],
    addresses: [],
    annotations: {...ANN},
    labels: {},
    kernelVersion: '6.8.0-49-generic',
    osImage: 'Ubuntu 24.04.1 LTS',
    architecture: 'amd64',
    conditions: [{type: 'Ready', status: 'True'}],
  }
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) delete (n as unknown as Record<string, unknown>)[k]
    else (n as unknown as Record<string, unknown>)[k] = v
  }
  return n
}

function pod(nodeName: string, over: Partial<KubePod> = {}): KubePod {
  return {
    name: `kube-flannel-ds-${nodeName}`,
    node: nodeName,
    phase: 'Running',
    ready: true,
    restarts: 0,
    containers: [],
    raw: '',
    ...over,
  }
}

const names = (n: number): string[] => Array.from({length: n}, (_, i) => `n${String(i).padStart(2, '0')}`)

describe('--sample: a varied sample, with reasons', () => {
  it('broken-looking nodes come first, worst first, each with what looks wrong', () => {
    const nodes = names(20).map((n) => node(n))
    nodes[7] = node('n07', {podCIDR: undefined, podCIDRs: [], annotations: {}})
    nodes[12] = node('n12', {conditions: [{type: 'Ready', status: 'False'}]})
    const pods = names(20).map((n) =>
      n === 'n03'
        ? pod(n, {
            ready: false,
            restarts: 7,
            containers: [
              {
                name: 'kube-flannel',
                init: false,
                ready: false,
                restarts: 7,
                state: 'waiting',
                waitingReason: 'CrashLoopBackOff',
              },
            ],
          })
        : pod(n),
    )
    const s = selectSample(nodes, pods, 5)
    assert.equal(s.length, 5)
    assert.deepEqual(
      s.slice(0, 3).map((x) => x.node),
      ['n03', 'n07', 'n12'].sort((a, b) => {
        const w = {n03: 2, n07: 2, n12: 1} as Record<string, number>
        return (w[b] ?? 0) - (w[a] ?? 0) || (a < b ? -1 : 1)
      }),
    )
    const r07 = s.find((x) => x.node === 'n07')
    assert.equal(r07?.reason, 'looks broken from the API: no podCIDR, no flannel annotations')
    const r03 = s.find((x) => x.node === 'n03')
    assert.equal(
      r03?.reason,
      'looks broken from the API: flannel pod not ready (CrashLoopBackOff), flannel pod restarted 7×',
    )
    assert.ok(
      s.some((x) => x.kind === 'contrast'),
      'no healthy node for contrast',
    )
  })

  it('an odd kernel is sampled with its count; healthy contrast spreads over the names', () => {
    const nodes = names(30).map((n) => node(n))
    nodes[17] = node('n17', {kernelVersion: '4.18.0-553.el8_10.x86_64'})
    nodes[18] = node('n18', {kernelVersion: '4.18.0-553.el8_10.x86_64'})
    const s = selectSample(
      nodes,
      names(30).map((n) => pod(n)),
      4,
    )
    assert.deepEqual(s[0], {
      node: 'n17',
      reason: 'odd kernel: 4.18.0-553.el8_10.x86_64 (2 of 30 nodes)',
      kind: 'odd',
    })
    const contrast = s.filter((x) => x.kind === 'contrast').map((x) => x.node)
    assert.equal(contrast.length, 3)
    assert.equal(contrast[0], 'n00')
    assert.equal(contrast[contrast.length - 1], 'n29')
  })

  it('no flannel pod on a node is suspicious when the cluster has flannel pods, not when it has none (k3s)', () => {
    const n = node('a')
    assert.deepEqual(suspicions(n, undefined, true), ['no flannel pod'])
    assert.deepEqual(suspicions(n, undefined, false), [])
  })

  it('is deterministic, never repeats a node, and never exceeds the size', () => {
    for (let seed = 1; seed < 200; seed++) {
      let x = seed
      const rnd = (): number => {
        x = (x * 1103515245 + 12345) % 2147483648
        return x / 2147483648
      }
      const count = 1 + Math.floor(rnd() * 40)
      const nodes = names(count).map((n) =>
        node(n, {
          kernelVersion: rnd() < 0.1 ? '5.4.0' : '6.8.0',
          ...(rnd() < 0.15 ? {podCIDR: undefined, podCIDRs: []} : {}),
        }),
      )
      const size = 1 + Math.floor(rnd() * 45)
      const a = selectSample(nodes, [], size)
      const b = selectSample([...nodes].reverse(), [], size)
      assert.deepEqual(a, b)
      assert.equal(a.length, Math.min(size, count))
      assert.equal(new Set(a.map((c) => c.node)).size, a.length)
      // Every broken-looking node is in the sample before any healthy one is, room allowing.
      const broken = nodes.filter((n) => n.podCIDRs.length === 0).length
      const contrastRoom = size >= 2 && broken < count ? Math.max(1, Math.floor(size / 5)) : 0
      const suspects = a.filter((c) => c.kind === 'suspect').length
      assert.ok(suspects >= Math.min(broken, size - contrastRoom), `seed ${seed}`)
    }
  })
})
