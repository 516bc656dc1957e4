import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {check as jsonSyntax} from '../../../src/checks/netconf/json-syntax.js'
import {check as platform} from '../../../src/checks/netconf/platform.js'
import {check as present} from '../../../src/checks/netconf/present.js'
import {check as schema, etcdModeErrors} from '../../../src/checks/netconf/schema.js'
import {check as unknownKeys} from '../../../src/checks/netconf/unknown-keys.js'
import type {Finding} from '../../../src/checks/types.js'
import {staticFacts, type StaticFactInput} from '../../../src/facts/static.js'
import type {KubeNode} from '../../../src/model.js'
import {parseNodes, parsePodCidrs} from '../../../src/parse/kube.js'
import type {NetConf, NetConfFact} from '../../../src/parse/netconf.js'
import {netConfKeyEvidence} from '../../../src/checks/lib/netconf-read.js'
import {netConfFromFile} from '../../../src/parse/netconf-source.js'
import {fx} from './helpers.js'

const SEED = fx('netconf/seed-kube-flannel-cfg.yaml')
const MANIFEST = fx('netconf/kube-flannel-kustomization-v0.20.2.yml')
const CLUSTER = parseNodes(fx('kube/cluster-3node-flannel-constructed.json'))
const PATH = 'files/etc/kube-flannel/net-conf.json'

const file = (json: string, name = PATH): NetConfFact => netConfFromFile(json, name)
const run = (
  c: {evaluate(f: ReturnType<typeof staticFacts>): Finding[]},
  input: StaticFactInput,
): Finding[] => c.evaluate(staticFacts(input))
const statuses = (fs: Finding[]): string[] => fs.map((f) => f.status)
const conf = (f: NetConfFact): NetConf => (f.result as {ok: true; conf: NetConf}).conf

/** A real node of the capture turned into a Windows node (same shape the API gives Windows nodes). */
function windowsNode(name: string): KubeNode {
  const base = CLUSTER[1] as KubeNode
  return {
    ...base,
    name,
    labels: {
      ...base.labels,
      'kubernetes.io/os': 'windows',
      'beta.kubernetes.io/os': 'windows',
      'kubernetes.io/hostname': name,
    },
    operatingSystem: 'windows',
    osImage: 'Windows Server 2022 Datacenter',
  }
}

const NOT_COLLECTED = {
  ok: false as const,
  state: 'not-collected' as const,
  reason: 'net-conf.json was not collected',
}

describe('netconf.present', () => {
  test('ok when read, naming the source', () => {
    const [f] = run(present, {netConf: file(SEED, 'kubernetes/kube-flannel-cfg.yaml')})
    assert.equal(f?.status, 'ok')
    assert.match(
      f?.message ?? '',
      /ConfigMap kube-system\/kube-flannel-cfg in kubernetes\/kube-flannel-cfg\.yaml/,
    )
  })

  test('absent is the fault: error with the path, flannel’s words and the checks to paste', () => {
    const [f] = run(present, {
      netConf: {
        ok: false,
        state: 'absent',
        reason: 'no such file',
        source: 'files/etc/kube-flannel/net-conf.json',
      },
    })
    assert.equal(f?.status, 'error')
    assert.match(
      f?.message ?? '',
      /not at \/etc\/kube-flannel\/net-conf\.json: .*failed to read net conf: open \/etc\/kube-flannel\/net-conf\.json: no such file or directory/,
    )
    assert.ok(f?.fix?.some((l) => l.startsWith('kubectl -n kube-flannel get configmap kube-flannel-cfg')))
    assert.ok(f?.fix?.some((l) => l.includes('net-config-path')))
  })

  test('not collected: unknown with the hint to pass --net-conf or a bundle', () => {
    const [f] = run(present, {netConf: NOT_COLLECTED})
    assert.equal(f?.status, 'unknown')
    assert.match(f?.hint ?? '', /--net-conf FILE.*kubernetes\/kube-flannel-cfg\.yaml/)
  })

  test('permission denied: unknown keeping the reason and hint given', () => {
    const [f] = run(present, {
      netConf: {ok: false, state: 'permission', reason: 'permission denied', hint: 'run as root'},
    })
    assert.deepEqual([f?.status, f?.hint], ['unknown', 'run as root'])
    assert.match(f?.message ?? '', /permission denied/)
  })
})

describe('netconf.json-syntax', () => {
  test('the seed: error at 38:31 with the line, the caret, flannel’s message and the corrected line', () => {
    const [f] = run(jsonSyntax, {netConf: file(SEED, 'kubernetes/kube-flannel-cfg.yaml')})
    assert.equal(f?.status, 'error')
    assert.match(f?.message ?? '', /line 38, column 31: a '#' comment/)
    assert.match(f?.message ?? '', /not a YAML comment/)
    const [lines, log] = f?.evidence ?? []
    assert.deepEqual(lines?.lines, [
      '38:         "Directrouting": true # this parameter',
      ' '.repeat(34) + '^',
    ])
    assert.equal((lines?.lines[0] as string)[(lines?.lines[1] as string).length - 1], '#')
    assert.deepEqual(log?.lines, [
      "error parsing subnet config: invalid character '#' after object key:value pair",
    ])
    assert.deepEqual(f?.fix?.slice(0, 4), [
      '# change line 38 to:',
      '        "Directrouting": true',
      'kubectl -n kube-system edit configmap kube-flannel-cfg',
      'kubectl -n kube-system rollout restart daemonset kube-flannel-ds',
    ])
    assert.deepEqual(f?.location, {file: 'kubernetes/kube-flannel-cfg.yaml', line: 38, column: 31})
  })

  test('a manifest file is fixed in the file and applied', () => {
    const [f] = run(jsonSyntax, {
      netConf: file(MANIFEST.replace('"Type": "vxlan"', "'Type': 'vxlan'"), 'kube-flannel.yml'),
    })
    assert.equal(f?.status, 'error')
    assert.match(f?.message ?? '', /single quotes/)
    assert.ok(f?.fix?.includes('kubectl apply -f kube-flannel.yml'))
    assert.ok(f?.fix?.includes('        "Type": "vxlan"'))
  })

  test('ok on the real manifest', () => {
    const [f] = run(jsonSyntax, {netConf: file(MANIFEST, 'kube-flannel.yml')})
    assert.equal(f?.status, 'ok')
    assert.match(f?.message ?? '', /strict JSON \(3 keys\)/)
  })

  test('positions inside a quoted value carry no file location', () => {
    const cm = JSON.stringify({
      kind: 'ConfigMap',
      metadata: {name: 'kube-flannel-cfg'},
      data: {'net-conf.json': '{"Network": "10.244.0.0/16",}'},
    })
    const [f] = run(jsonSyntax, {netConf: file(cm, 'cm.json')})
    assert.equal(f?.status, 'error')
    assert.match(f?.message ?? '', /of the net-conf\.json value/)
    assert.equal(f?.location, undefined)
  })

  test('absent → skip; not collected → unknown', () => {
    assert.equal(
      run(jsonSyntax, {netConf: {ok: false, state: 'absent', reason: 'missing'}})[0]?.status,
      'skip',
    )
    assert.equal(run(jsonSyntax, {netConf: NOT_COLLECTED})[0]?.status, 'unknown')
  })
})

describe('netconf.schema', () => {
  test('ok on the real manifest, naming network and backend', () => {
    const [f] = run(schema, {netConf: file(MANIFEST, 'kube-flannel.yml')})
    assert.equal(f?.status, 'ok')
    assert.equal(
      f?.message,
      'net-conf.json decodes as flannel reads it: Network 10.244.0.0/16, backend vxlan.',
    )
  })

  test('type errors are errors with flannel’s message and the line', () => {
    const fs = run(schema, {
      netConf: file(
        '{\n  "Network": "10.244.0.0/16",\n  "EnableIPv6": "false",\n  "Backend": {"Type": "vxlan"}\n}',
      ),
    })
    assert.deepEqual(statuses(fs), ['error'])
    assert.match(
      fs[0]?.message ?? '',
      /EnableIPv6 is the string "false", but flannel reads it as a JSON boolean/,
    )
    assert.deepEqual(fs[0]?.evidence[0]?.lines, ['3:   "EnableIPv6": "false",'])
    assert.deepEqual(fs[0]?.evidence[1]?.lines, [
      'error parsing subnet config: json: cannot unmarshal string into Go struct field Config.EnableIPv6 of type bool',
    ])
  })

  test('Network: missing → error, IPv6 → error, host bits → warning', () => {
    assert.deepEqual(statuses(run(schema, {netConf: file('{"Backend": {"Type": "vxlan"}}')})), ['error'])
    const v6 = run(schema, {netConf: file('{"Network": "fd00:10:244::/56", "Backend": {"Type": "vxlan"}}')})
    assert.deepEqual(statuses(v6), ['error'])
    assert.match(v6[0]?.message ?? '', /is IPv6/)
    assert.equal(v6[0]?.evidence[1]?.lines[0], 'error parsing subnet config: invalid IPv4 CIDR format')
    const hb = run(schema, {netConf: file('{"Network": "10.244.1.5/16", "Backend": {"Type": "vxlan"}}')})
    assert.deepEqual(statuses(hb), ['warning'])
    assert.match(hb[0]?.message ?? '', /host bits set: flannel silently reads it as 10\.244\.0\.0\/16/)
  })

  test('families: none defined stack; IPv6 without IPv6Network; IPv6Network without EnableIPv6', () => {
    const none = run(schema, {netConf: file('{"EnableIPv4": false, "Backend": {"Type": "vxlan"}}')})
    assert.ok(none.some((f) => f.status === 'error' && /none defined stack/.test(f.message)))
    const v6 = run(schema, {
      netConf: file('{"Network": "10.244.0.0/16", "EnableIPv6": true, "Backend": {"Type": "vxlan"}}'),
    })
    assert.ok(v6.some((f) => f.status === 'error' && /IPv6Network is missing/.test(f.message)))
    const off = run(schema, {
      netConf: file('{"Network": "10.244.0.0/16", "IPv6Network": "fd00::/56", "Backend": {"Type": "vxlan"}}'),
    })
    assert.deepEqual(statuses(off), ['warning'])
  })

  test('Backend: missing → udp warning; removed and unknown types → error', () => {
    const none = run(schema, {netConf: file('{"Network": "10.244.0.0/16"}')})
    assert.deepEqual(statuses(none), ['warning'])
    assert.match(none[0]?.message ?? '', /silently uses the udp backend/)
    const aws = run(schema, {netConf: file('{"Network": "10.244.0.0/16", "Backend": {"Type": "aws-vpc"}}')})
    assert.deepEqual(statuses(aws), ['error'])
    assert.match(aws[0]?.message ?? '', /removed from flannel in v0\.20\.0/)
    assert.deepEqual(aws[0]?.evidence[1]?.lines, ['Error fetching backend: unknown backend type: aws-vpc'])
    const typo = run(schema, {netConf: file('{"Network": "10.244.0.0/16", "Backend": {"Type": "hostgw"}}')})
    assert.match(typo[0]?.message ?? '', /did you mean host-gw\?/)
    assert.deepEqual(statuses(run(schema, {netConf: file('{"Network": "10.244.0.0/16", "Backend": {}}')})), [
      'error',
    ])
    // Another case of a registered type is fine, and said so.
    const upper = run(schema, {netConf: file('{"Network": "10.244.0.0/16", "Backend": {"Type": "VXLAN"}}')})
    assert.deepEqual(statuses(upper), ['ok'])
    assert.match(upper[0]?.message ?? '', /Type "VXLAN" is read as vxlan/)
  })

  test('backend options in range and valid', () => {
    const vni = run(schema, {
      netConf: file(
        '{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan", "VNI": 16777216, "Port": -1}}',
      ),
    })
    assert.deepEqual(statuses(vni), ['error', 'error'])
    assert.match(vni[0]?.message ?? '', /Backend\.VNI is 16777216; it must be 1\.\.16777215/)
    const wg = run(schema, {
      netConf: file(
        '{"Network": "10.244.0.0/16", "Backend": {"Type": "wireguard", "Mode": "Auto", "PSK": "short"}}',
      ),
    })
    assert.deepEqual(statuses(wg), ['error', 'error'])
    assert.deepEqual(wg[0]?.evidence[1]?.lines, ['Error registering network: no valid Mode configured'])
    const goodWg = run(schema, {
      netConf: file(
        '{"Network": "10.244.0.0/16", "Backend": {"Type": "wireguard", "Mode": "auto", "PSK": "UQ0zvS0sbPnZDbwsydS1IVfMyyBJMlqHSBUXNTmYkIg="}}',
      ),
    })
    assert.deepEqual(statuses(goodWg), ['ok'])
    const ipsec = run(schema, {
      netConf: file(`{"Network": "10.244.0.0/16", "Backend": {"Type": "ipsec", "PSK": "${'x'.repeat(95)}"}}`),
    })
    assert.deepEqual(statuses(ipsec), ['error'])
    assert.match(ipsec[0]?.message ?? '', /95 characters; the ipsec backend needs at least 96/)
    assert.deepEqual(
      statuses(
        run(schema, {
          netConf: file(
            `{"Network": "10.244.0.0/16", "Backend": {"Type": "ipsec", "PSK": "${'x'.repeat(96)}"}}`,
          ),
        }),
      ),
      ['ok'],
    )
    const v6udp = run(schema, {
      netConf: file(
        '{"Network": "10.244.0.0/16", "EnableIPv6": true, "IPv6Network": "fd00::/56", "Backend": {"Type": "ipip"}}',
      ),
    })
    assert.deepEqual(statuses(v6udp), ['warning'])
  })

  test('SubnetLen/Min/Max: ignored in kube mode (warning), refused in etcd mode (error), both said when unknown', () => {
    const text = '{"Network": "10.244.0.0/16", "SubnetLen": 31, "Backend": {"Type": "vxlan"}}'
    const kube = run(schema, {netConf: file(text)})
    assert.deepEqual(statuses(kube), ['warning'])
    assert.match(
      kube[0]?.message ?? '',
      /SubnetLen is ignored in kube mode.*in etcd mode flannel would refuse them: SubnetLen must be less than \/31/,
    )
    const manifest = MANIFEST.replace(
      '"Network": "10.244.0.0/16",',
      '"Network": "10.244.0.0/16",\n      "SubnetMin": "10.244.1.1",',
    ).replace('        - --kube-subnet-mgr\n', '')
    const etcd = run(schema, {netConf: file(manifest, 'kube-flannel.yml')})
    assert.deepEqual(statuses(etcd), ['error'])
    assert.match(etcd[0]?.message ?? '', /SubnetMin is not on a SubnetLen boundary: 10\.244\.1\.1/)
    const unknownMode = run(schema, {netConf: file(text, '/tmp/net-conf.json')})
    assert.deepEqual(statuses(unknownMode), ['warning'])
    assert.match(unknownMode[0]?.message ?? '', /apply in etcd mode only/)
  })

  test('etcd mode rules of flannel-facts §1.4', () => {
    const c = (s: string): NetConf => conf(file(s))
    assert.deepEqual(etcdModeErrors(c('{"Network": "10.244.0.0/29"}')), [
      {path: 'Network', message: 'network is too small. Minimum useful network prefix is /28'},
    ])
    assert.deepEqual(etcdModeErrors(c('{"Network": "10.244.0.0/16", "SubnetLen": 17}')), [
      {path: 'SubnetLen', message: 'network must be able to accommodate at least four subnets'},
    ])
    assert.deepEqual(etcdModeErrors(c('{"Network": "10.244.0.0/16", "SubnetMax": "10.245.0.0"}')), [
      {path: 'SubnetMax', message: 'SubnetMax is not in the range of the Network'},
    ])
    assert.deepEqual(
      etcdModeErrors(c('{"Network": "10.244.0.0/16", "SubnetMin": "0.0.0.0", "SubnetLen": 24}')),
      [],
    )
    assert.deepEqual(
      etcdModeErrors(c('{"EnableIPv4": false, "EnableIPv6": true, "IPv6Network": "fd00::/125"}')),
      [{path: 'IPv6Network', message: 'IPv6Network is too small. Minimum useful network prefix is /124'}],
    )
    assert.deepEqual(etcdModeErrors(c('{"EnableIPv6": true, "Network": "10.0.0.0/8"}')), [
      {path: 'IPv6Network', message: 'please define a correct IPv6Network parameter in the flannel config'},
    ])
  })

  test('unavailable → unknown; syntax error → skip', () => {
    assert.equal(run(schema, {netConf: NOT_COLLECTED})[0]?.status, 'unknown')
    assert.equal(run(schema, {netConf: file(SEED, 'cfg.yaml')})[0]?.status, 'skip')
  })
})

describe('netconf.unknown-keys', () => {
  test('the seed without its comment: Directrouting is info, flannel accepts it', () => {
    const fs = run(unknownKeys, {
      netConf: file(SEED.replace(' # this parameter', ''), 'kubernetes/kube-flannel-cfg.yaml'),
    })
    assert.deepEqual(statuses(fs), ['info'])
    assert.match(
      fs[0]?.message ?? '',
      /Directrouting is read as Backend\.DirectRouting: .*case-insensitively, so this works/,
    )
    assert.deepEqual(fs[0]?.location, {file: 'kubernetes/kube-flannel-cfg.yaml', line: 38})
    assert.deepEqual(fs[0]?.fix, [
      '# optional, for readers: change line 38 to:',
      '        "DirectRouting": true',
    ])
  })

  test('typos are warnings with the corrected line; a misplaced key says where it goes; duplicates warn', () => {
    const text =
      '{\n  "Network": "10.244.0.0/16",\n  "SubnetLength": 24,\n  "VNI": 4096,\n  "Backend": {\n    "Type": "vxlan",\n    "DirectRoute": true,\n    "Type": "vxlan"\n  }\n}'
    const fs = run(unknownKeys, {netConf: file(text)})
    assert.deepEqual(statuses(fs), ['warning', 'warning', 'warning', 'warning'])
    assert.match(fs[0]?.message ?? '', /unknown key SubnetLength; did you mean SubnetLen\?$/)
    assert.deepEqual(fs[0]?.fix?.slice(0, 2), ['# change line 3 to:', '  "SubnetLen": 24,'])
    assert.match(fs[1]?.fix?.[0] ?? '', /move VNI \(line 4\) into "Backend": \{\.\.\.\} as "VNI"/)
    assert.deepEqual(fs[2]?.fix?.slice(0, 2), ['# change line 7 to:', '    "DirectRouting": true,'])
    assert.match(fs[3]?.message ?? '', /Backend\.Type is given twice/)
  })

  test('ok on the real manifest; unknown without evidence; skip on a syntax error', () => {
    assert.deepEqual(statuses(run(unknownKeys, {netConf: file(MANIFEST, 'm.yml')})), ['ok'])
    assert.equal(run(unknownKeys, {netConf: NOT_COLLECTED})[0]?.status, 'unknown')
    assert.equal(run(unknownKeys, {netConf: file('{,}')})[0]?.status, 'skip')
  })
})

describe('netconf.platform', () => {
  const VXLAN = '{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}'

  test('ok: the 3-node Linux cluster with vxlan', () => {
    const [f, ...rest] = run(platform, {netConf: file(VXLAN), nodes: CLUSTER})
    assert.equal(rest.length, 0)
    assert.equal(
      f?.message,
      'net-conf.json suits every node: 3 Linux, 0 Windows (amd64, arm64), backend vxlan.',
    )
  })

  test('udp (also when Backend is missing) on the arm64 node', () => {
    const fs = run(platform, {netConf: file('{"Network": "10.244.0.0/16"}'), nodes: CLUSTER})
    assert.deepEqual(statuses(fs), ['error'])
    assert.equal(fs[0]?.subject, 'node worker-2')
    assert.match(
      fs[0]?.message ?? '',
      /Backend is missing, so flannel uses the udp backend.*UDP backend is not supported on this architecture/,
    )
  })

  test('a Windows node with Linux defaults: VNI and Port differ between the two', () => {
    const fs = run(platform, {netConf: file(VXLAN), nodes: [...CLUSTER, windowsNode('win-1')]})
    assert.deepEqual(statuses(fs), ['error'])
    assert.match(
      fs[0]?.message ?? '',
      /VNI \(Linux default 1, Windows default 4096\) and Port \(Linux default 8472, Windows default 4789\)/,
    )
  })

  test('Windows refuses VNI < 4096, another Port, GBP, DirectRouting and a bad MacPrefix, in its own words', () => {
    const text =
      '{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan", "VNI": 1, "Port": 8472, "GBP": true, "DirectRouting": true, "MacPrefix": "0E2A"}}'
    const fs = run(platform, {netConf: file(text), nodes: [windowsNode('win-1'), windowsNode('win-2')]})
    assert.deepEqual(statuses(fs), ['error', 'error', 'error', 'error', 'error'])
    assert.deepEqual(
      fs.map((f) => f.evidence.at(-1)?.lines[0]),
      [
        'invalid VXLAN backend config. VNI [1] must be greater than or equal to 4096 on Windows',
        'invalid VXLAN backend config. Port [8472] is not supported on Windows. Omit the setting to default to port 4789',
        'invalid VXLAN backend config. GBP is not supported on Windows',
        'invalid VXLAN backend config. DirectRouting is not supported on Windows',
        'invalid VXLAN backend config.MacPrefix [0E2A] is invalid, prefix must be of the format xx-xx e.g. 0E-2A',
      ],
    )
    assert.match(fs[0]?.message ?? '', /^2 Windows nodes \(win-1, win-2\)/)
  })

  test('a mixed cluster set up as flannel documents passes; MacPrefix is info for the Linux nodes', () => {
    const text =
      '{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan", "VNI": 4096, "Port": 4789, "MacPrefix": "0E-2A"}}'
    const fs = run(platform, {netConf: file(text), nodes: [...CLUSTER, windowsNode('win-1')]})
    assert.deepEqual(statuses(fs), ['info'])
    assert.match(
      fs[0]?.message ?? '',
      /MacPrefix is a Windows-only option: flanneld on Linux nodes ignores it/,
    )
  })

  test('a backend Windows does not have', () => {
    const fs = run(platform, {
      netConf: file('{"Network": "10.244.0.0/16", "Backend": {"Type": "wireguard"}}'),
      nodes: [windowsNode('win-1')],
    })
    assert.deepEqual(statuses(fs), ['error'])
    assert.match(fs[0]?.message ?? '', /the wireguard backend does not exist on Windows/)
  })

  test('no node list: the config-only rules run and the rest is unknown', () => {
    const fs = run(platform, {netConf: file('{"Network": "10.244.0.0/16", "Backend": {"Type": "udp"}}')})
    assert.deepEqual(statuses(fs), ['warning', 'unknown'])
    assert.match(fs[0]?.message ?? '', /amd64 nodes only, and the node architectures are not known/)
    assert.match(fs[1]?.message ?? '', /Could not look at the node list/)
    assert.match(fs[1]?.hint ?? '', /kubectl get nodes -o json/)
  })

  test('podCIDR-only node lists have no OS labels: unknown', () => {
    const fs = run(platform, {
      netConf: file(VXLAN),
      nodes: parsePodCidrs(fx('kube/podcidrs-jsonpath-items-k8s-1.22.txt')),
    })
    assert.deepEqual(statuses(fs), ['unknown'])
  })

  test('skip when net-conf does not parse; unknown when it was not collected', () => {
    assert.equal(run(platform, {netConf: file(SEED, 'x.yaml'), nodes: CLUSTER})[0]?.status, 'skip')
    assert.equal(run(platform, {netConf: NOT_COLLECTED, nodes: CLUSTER})[0]?.status, 'unknown')
  })
})

test('netconf.schema: a PSK redacted by collect (sha256 digest) is not judged by its length; a short real one is', () => {
  const digest = 'sha256:' + 'a'.repeat(64)
  const redacted = netConfFromFile(
    JSON.stringify({Network: '10.244.0.0/16', Backend: {Type: 'ipsec', PSK: digest}}),
    PATH,
  )
  assert.deepEqual(
    schema.evaluate(staticFacts({netConf: redacted})).map((f) => f.status),
    ['ok'],
  )
  const short = netConfFromFile(
    JSON.stringify({Network: '10.244.0.0/16', Backend: {Type: 'ipsec', PSK: 'x'.repeat(71)}}),
    PATH,
  )
  const [f] = schema.evaluate(staticFacts({netConf: short}))
  assert.equal(f?.status, 'error')
  assert.match(f?.message ?? '', /71 characters/)
})

test('evidence for a key given twice quotes the line flannel keeps: the last', () => {
  const f = file(
    '{\n  "Network": "10.1.0.0/16",\n  "Network": "10.244.0.0/16",\n  "Backend": {"Type": "vxlan"}\n}\n',
  )
  assert.deepEqual(netConfKeyEvidence(f, 'Network', '10.244.0.0/16'), {
    source: `${PATH}:3`,
    lines: ['"Network": "10.244.0.0/16",'],
  })
  // Not parsed (a syntax error later on): the text is searched, also from the end.
  const broken = file('{\n  "Network": "10.1.0.0/16",\n  "Network": "10.244.0.0/16",\n  "Backend": {\n}\n')
  assert.equal(netConfKeyEvidence(broken, 'Network', undefined).source, `${PATH}:3`)
})
