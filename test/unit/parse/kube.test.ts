import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {describe, test} from 'node:test'

import {ParseError} from '../../../src/parse/errors.js'
import {parseNodes, parsePodCidrs} from '../../../src/parse/kube.js'

const OUT = new URL('../../fixtures/outputs/kube/', import.meta.url)
const fx = (name: string): string => readFileSync(new URL(name, OUT), 'utf8')
const P = 'flannel.alpha.coreos.com/'

describe('parseNodes on real kubectl outputs', () => {
  test('kubectl get nodes -o json (List of 3, v1.22.8)', () => {
    const nodes = parseNodes(fx('nodes-list-k8s-1.22.json'))
    assert.deepEqual(
      nodes.map((n) => [
        n.name,
        n.podCIDR,
        n.podCIDRs,
        n.annotations[`${P}public-ip`],
        n.addresses[0]?.address,
      ]),
      [
        ['k8s1', '10.244.0.0/24', ['10.244.0.0/24'], '10.210.40.172', '10.210.40.172'],
        ['k8s2', '10.244.2.0/24', ['10.244.2.0/24'], '10.210.40.173', '10.210.40.173'],
        ['k8s3', '10.244.3.0/24', ['10.244.3.0/24'], '10.210.40.175', '10.210.40.175'],
      ],
    )
    const k8s2 = nodes[1]
    assert.ok(k8s2)
    assert.equal(k8s2.annotations[`${P}backend-data`], '{"VNI":1,"VtepMAC":"92:01:5e:01:fe:01"}')
    assert.equal(k8s2.annotations[`${P}kube-subnet-manager`], 'true')
    assert.deepEqual(k8s2.addresses, [
      {type: 'InternalIP', address: '10.210.40.173'},
      {type: 'Hostname', address: 'k8s2'},
    ])
    assert.deepEqual(
      [k8s2.kernelVersion, k8s2.osImage, k8s2.operatingSystem, k8s2.architecture],
      ['5.13.0-37-generic', 'Ubuntu 20.04.4 LTS', 'linux', 'amd64'],
    )
    assert.equal(k8s2.labels['kubernetes.io/hostname'], 'k8s2')
    assert.deepEqual(k8s2.conditions?.[0], {
      type: 'NetworkUnavailable',
      status: 'False',
      reason: 'FlannelIsUp',
      message: 'Flannel is running on this node',
    })
    assert.equal(nodes[0]?.labels['node-role.kubernetes.io/control-plane'], '')
    assert.equal(nodes[0]?.partial, undefined)
  })

  test('kubectl get no -o yaml (List of 2, v1.33.2): YAML values stay strings', () => {
    const nodes = parseNodes(fx('nodes-list-k8s-1.33.yaml'))
    assert.deepEqual(
      nodes.map((n) => [
        n.name,
        n.podCIDR,
        n.annotations[`${P}backend-type`],
        n.annotations[`${P}kube-subnet-manager`],
        n.kernelVersion,
      ]),
      [
        ['controlplane', '192.168.0.0/24', 'vxlan', 'true', '6.8.0-51-generic'],
        ['node01', '192.168.1.0/24', 'vxlan', 'true', '6.8.0-51-generic'],
      ],
    )
    assert.equal(nodes[0]?.annotations['node.alpha.kubernetes.io/ttl'], '0')
    assert.equal(nodes[1]?.annotations[`${P}backend-data`], '{"VNI":1,"VtepMAC":"d6:30:5c:03:38:4d"}')
  })

  test('a single Node as YAML (v1.23.9)', () => {
    const [n, ...rest] = parseNodes(fx('node-k8s-1.23.yaml'))
    assert.equal(rest.length, 0)
    assert.deepEqual(
      [n?.name, n?.podCIDR, n?.osImage, n?.kernelVersion],
      ['vm-centos7-64-k8s-worker-01', '10.244.1.0/24', 'CentOS Linux 7 (Core)', '3.10.0-957.el7.x86_64'],
    )
  })

  test('a node without podCIDR and without status', () => {
    const [n] = parseNodes(fx('node-no-podcidr.yaml'))
    assert.equal(n?.name, 'worker0')
    assert.equal(n?.podCIDR, undefined)
    assert.deepEqual(n?.podCIDRs, [])
    assert.deepEqual(n?.addresses, [])
    assert.equal(n?.annotations[`${P}public-ip`], '10.192.220.94')
    assert.equal(n?.conditions, undefined)
  })

  test('the constructed 3-node flannel cluster', () => {
    const nodes = parseNodes(fx('cluster-3node-flannel-constructed.json'))
    assert.deepEqual(
      nodes.map((n) => [n.name, n.architecture, n.podCIDR]),
      [
        ['cp-1', 'amd64', '10.244.0.0/24'],
        ['worker-1', 'amd64', '10.244.1.0/24'],
        ['worker-2', 'arm64', '10.244.2.0/24'],
      ],
    )
  })

  test('a pasted shell prompt around the JSON is tolerated', () => {
    const text = `lab@k8s1:~$ kubectl get nodes -o json\n${fx('nodes-list-k8s-1.22.json')}lab@k8s1:~$\n`
    assert.deepEqual(
      parseNodes(text).map((n) => n.name),
      ['k8s1', 'k8s2', 'k8s3'],
    )
  })

  test('several YAML documents, and a NodeList from the raw API (items without kind)', () => {
    const two = `${fx('node-k8s-1.23.yaml')}---\n${fx('node-no-podcidr.yaml')}`
    assert.deepEqual(
      parseNodes(two).map((n) => n.name),
      ['vm-centos7-64-k8s-worker-01', 'worker0'],
    )
    const list = JSON.parse(fx('nodes-list-k8s-1.22.json')) as {items: Record<string, unknown>[]}
    const raw = {kind: 'NodeList', apiVersion: 'v1', items: list.items.map(({kind: _k, ...rest}) => rest)}
    assert.equal(parseNodes(JSON.stringify(raw)).length, 3)
  })

  test('what is not a node list is a ParseError', () => {
    assert.throws(() => parseNodes(''), ParseError)
    assert.throws(
      () => parseNodes('NAME   STATUS   ROLES   AGE   VERSION\nk8s1   Ready    master  2d    v1.22.8\n'),
      (e: unknown) => e instanceof ParseError && /table/.test(e.message),
    )
    assert.throws(
      () => parseNodes('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n'),
      (e: unknown) => e instanceof ParseError && /ConfigMap/.test(e.message),
    )
    assert.throws(
      () => parseNodes('items:\n  - metadata:\n      name: [\n'),
      (e: unknown) => e instanceof ParseError && e.line !== undefined,
    )
    assert.throws(
      () => parseNodes('{"kind": "Node", "metadata": {}}'),
      (e: unknown) => e instanceof ParseError && /metadata.name/.test(e.message),
    )
  })
})

describe('parsePodCidrs on the commands of flannel’s troubleshooting guide', () => {
  test("jsonpath '{.items[*].spec.podCIDR}': CIDRs only, nodes unnamed", () => {
    const nodes = parsePodCidrs(fx('podcidrs-jsonpath-items-k8s-1.22.txt'))
    assert.deepEqual(
      nodes.map((n) => [n.name, n.podCIDR, n.nameUnknown, n.partial]),
      [
        ['(unnamed node 1)', '10.244.0.0/24', true, true],
        ['(unnamed node 2)', '10.244.2.0/24', true, true],
        ['(unnamed node 3)', '10.244.3.0/24', true, true],
      ],
    )
  })

  test('jsonpath with range, one per line', () => {
    assert.deepEqual(
      parsePodCidrs(fx('podcidrs-jsonpath-range-k8s-1.22.txt')).map((n) => n.podCIDR),
      ['10.244.0.0/24', '10.244.2.0/24', '10.244.3.0/24'],
    )
  })

  test('custom-columns: a CIDR column alone, and with the name in the last column', () => {
    assert.deepEqual(
      parsePodCidrs(fx('podcidrs-custom-columns-k8s-1.22.txt')).map((n) => [n.name, n.podCIDR]),
      [
        ['(unnamed node 1)', '10.244.0.0/24'],
        ['(unnamed node 2)', '10.244.2.0/24'],
        ['(unnamed node 3)', '10.244.3.0/24'],
      ],
    )
    const named = parsePodCidrs(fx('podcidrs-custom-columns-name-k8s-1.22.txt'))
    assert.deepEqual(
      named.map((n) => [n.name, n.podCIDR, n.nameUnknown]),
      [
        ['k8s1', '10.244.0.0/24', undefined],
        ['k8s2', '10.244.2.0/24', undefined],
        ['k8s3', '10.244.3.0/24', undefined],
      ],
    )
  })

  test('NAME CIDR lines, dual-stack lists, nodes without a podCIDR', () => {
    const text =
      'k8s1\t10.244.0.0/24\nk8s2 ["10.244.2.0/24","fd00:10:244:2::/64"]\nk8s3 10.244.3.0/24,fd00:10:244:3::/64\nworker0\t\nworker9 <none>\n'
    assert.deepEqual(
      parsePodCidrs(text).map((n) => [n.name, n.podCIDR, n.podCIDRs]),
      [
        ['k8s1', '10.244.0.0/24', ['10.244.0.0/24']],
        ['k8s2', '10.244.2.0/24', ['10.244.2.0/24', 'fd00:10:244:2::/64']],
        ['k8s3', '10.244.3.0/24', ['10.244.3.0/24', 'fd00:10:244:3::/64']],
        ['worker0', undefined, []],
        ['worker9', undefined, []],
      ],
    )
  })

  test('old kubectl -o template printed the CIDRs back to back', () => {
    assert.deepEqual(
      parsePodCidrs('10.244.0.0/2410.244.2.0/2410.244.3.0/24').map((n) => n.podCIDR),
      ['10.244.0.0/24', '10.244.2.0/24', '10.244.3.0/24'],
    )
    assert.deepEqual(
      parsePodCidrs('10.0.0.0/810.244.0.0/16').map((n) => n.podCIDR),
      ['10.0.0.0/8', '10.244.0.0/16'],
    )
  })

  test('new kubectl -o template prints <no value>: a ParseError that says why', () => {
    assert.throws(
      () => parsePodCidrs('<no value>'),
      (e: unknown) => e instanceof ParseError && /no value/.test(e.message),
    )
  })

  test('empty output is no nodes; garbage is a ParseError with the line', () => {
    assert.deepEqual(parsePodCidrs(''), [])
    assert.throws(
      () => parsePodCidrs('k8s1 10.244.0.0/24\nthis is not it at all\n'),
      (e: unknown) => e instanceof ParseError && e.line === 2,
    )
  })
})
