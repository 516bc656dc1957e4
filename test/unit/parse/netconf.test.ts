import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {describe, test} from 'node:test'

import {ParseError} from '../../../src/parse/errors.js'
import {
  closestKey,
  goQuoteChar,
  parseGoJson,
  parseNetConf,
  type NetConf,
  type NetConfSyntaxError,
} from '../../../src/parse/netconf.js'
import {
  applyCommands,
  cniConfFromManifest,
  flannelManifestInfo,
  netConfFromFile,
  netConfSourceLine,
  quoteLines,
} from '../../../src/parse/netconf-source.js'

const OUT = new URL('../../fixtures/outputs/netconf/', import.meta.url)
const fx = (name: string): string => readFileSync(new URL(name, OUT), 'utf8')

const SEED = fx('seed-kube-flannel-cfg.yaml')
/** net-conf.json of the seed ConfigMap, starting at its `{` (the block content, indentation removed). */
const SEED_NETCONF = netConfFromFile(SEED, 'seed.yaml').text

function syntax(text: string): NetConfSyntaxError {
  const r = parseNetConf(text)
  assert.equal(r.ok, false, `expected a syntax error for ${JSON.stringify(text)}`)
  return (r as {ok: false; error: NetConfSyntaxError}).error
}

function conf(text: string): NetConf {
  const r = parseNetConf(text)
  if (!r.ok) assert.fail(`unexpected syntax error: ${r.error.message}`)
  return r.conf
}

describe('parseNetConf: the seed ConfigMap', () => {
  test('the # comment is a syntax error at line 5, column 27 of net-conf.json, in Go’s words', () => {
    assert.ok(SEED_NETCONF.startsWith('{\n  "Network"'))
    const e = syntax(SEED_NETCONF)
    assert.equal(e.line, 5)
    assert.equal(e.column, 27)
    assert.equal(e.cause, 'hash-comment')
    assert.equal(e.goMessage, "invalid character '#' after object key:value pair")
    assert.equal(
      e.flannelMessage,
      "error parsing subnet config: invalid character '#' after object key:value pair",
    )
    assert.equal(e.lineText, '    "Directrouting": true # this parameter')
    assert.equal(e.caret, ' '.repeat(26) + '^')
    assert.deepEqual(e.fix, {
      line: 5,
      before: '    "Directrouting": true # this parameter',
      text: '    "Directrouting": true',
    })
  })

  test('with the comment removed it parses, and Directrouting matches DirectRouting case-insensitively', () => {
    const c = conf(SEED_NETCONF.replace(' # this parameter', ''))
    assert.equal(c.Network, '10.244.0.0/16')
    assert.equal(c.backendType, 'vxlan')
    assert.deepEqual(c.backend, {DirectRouting: true})
    const k = c.keys.find((x) => x.given === 'Directrouting')
    assert.deepEqual(
      k && {path: k.path, canonical: k.canonical, exact: k.exact, line: k.line, column: k.column},
      {
        path: 'Backend.Directrouting',
        canonical: 'DirectRouting',
        exact: false,
        line: 5,
        column: 5,
      },
    )
    assert.deepEqual(c.unknownKeys, [])
    assert.equal(c.flannelError, undefined)
  })
})

describe('parseNetConf: syntax causes, positions and Go wording', () => {
  const cases: {
    name: string
    text: string
    line: number
    column: number
    cause: string
    go: string
    fixed?: string
  }[] = [
    {
      name: '# comment line before a key',
      text: '{\n  # pod network\n  "Network": "10.244.0.0/16"\n}',
      line: 2,
      column: 3,
      cause: 'hash-comment',
      go: "invalid character '#' looking for beginning of object key string",
    },
    {
      name: '// comment after a comma',
      text: '{\n  "Network": "10.244.0.0/16", // the pods\n  "Backend": {"Type": "vxlan"}\n}',
      line: 2,
      column: 31,
      cause: 'slash-comment',
      go: "invalid character '/' looking for beginning of object key string",
      fixed: '  "Network": "10.244.0.0/16",',
    },
    {
      name: '/* */ comment as a value',
      text: '{"Network": /* x */ "10.244.0.0/16"}',
      line: 1,
      column: 13,
      cause: 'slash-comment',
      go: "invalid character '/' looking for beginning of value",
      fixed: '{"Network":  "10.244.0.0/16"}',
    },
    {
      name: 'trailing comma in an object (points at the comma)',
      text: '{\n  "Network": "10.244.0.0/16",\n  "Backend": {"Type": "vxlan",}\n}',
      line: 3,
      column: 30,
      cause: 'trailing-comma',
      go: "invalid character '}' looking for beginning of object key string",
      fixed: '  "Backend": {"Type": "vxlan"}',
    },
    {
      name: 'trailing comma in an array',
      text: '{"Network": "10.244.0.0/16", "x": [1,]}',
      line: 1,
      column: 37,
      cause: 'trailing-comma',
      go: "invalid character ']' looking for beginning of value",
    },
    {
      name: 'single quotes',
      text: "{\n  'Network': '10.244.0.0/16'\n}",
      line: 2,
      column: 3,
      cause: 'single-quotes',
      go: "invalid character '\\'' looking for beginning of object key string",
      fixed: '  "Network": "10.244.0.0/16"',
    },
    {
      name: 'smart quotes (Go names the first UTF-8 byte)',
      text: '{\n  “Network”: “10.244.0.0/16”\n}',
      line: 2,
      column: 3,
      cause: 'smart-quotes',
      go: "invalid character 'â' looking for beginning of object key string",
      fixed: '  "Network": "10.244.0.0/16"',
    },
    {
      name: 'a smart quote closing a string (points at it, not at the end of line)',
      text: '{\n  "Network": "10.244.0.0/16”,\n  "Backend": {"Type": "vxlan"}\n}',
      line: 2,
      column: 28,
      cause: 'smart-quotes',
      go: "invalid character '\\n' in string literal",
    },
    {
      name: 'unquoted key',
      text: '{\n  Network: "10.244.0.0/16"\n}',
      line: 2,
      column: 3,
      cause: 'unquoted-key',
      go: "invalid character 'N' looking for beginning of object key string",
      fixed: '  "Network": "10.244.0.0/16"',
    },
    {
      name: 'missing comma (fix goes to the previous line)',
      text: '{\n  "Network": "10.244.0.0/16"\n  "Backend": {"Type": "vxlan"}\n}',
      line: 3,
      column: 3,
      cause: 'missing-comma',
      go: "invalid character '\"' after object key:value pair",
      fixed: '  "Network": "10.244.0.0/16",',
    },
    {
      name: 'unquoted value',
      text: '{"Backend": {"Type": vxlan}}',
      line: 1,
      column: 22,
      cause: 'unquoted-value',
      go: "invalid character 'v' looking for beginning of value",
      fixed: '{"Backend": {"Type": "vxlan"}}',
    },
    {
      name: 'Python-style True',
      text: '{"EnableIPv6": True}',
      line: 1,
      column: 16,
      cause: 'unquoted-value',
      go: "invalid character 'T' looking for beginning of value",
      fixed: '{"EnableIPv6": true}',
    },
    {name: 'empty input', text: '', line: 1, column: 1, cause: 'empty', go: 'unexpected end of JSON input'},
    {
      name: 'whitespace only',
      text: '\n  \n',
      line: 1,
      column: 1,
      cause: 'empty',
      go: 'unexpected end of JSON input',
    },
    {
      name: 'truncated (points after the last character)',
      text: '{"Network": "10.244.0.0/16",\n "Backend": {"Type": "vxlan"}\n',
      line: 2,
      column: 30,
      cause: 'other',
      go: 'unexpected end of JSON input',
    },
    {
      name: 'second object after the first',
      text: '{"Network": "10.244.0.0/16"}\n{}',
      line: 2,
      column: 1,
      cause: 'other',
      go: "invalid character '{' after top-level value",
    },
    {
      name: 'colon missing after a key',
      text: '{"Network" "10.244.0.0/16"}',
      line: 1,
      column: 12,
      cause: 'other',
      go: "invalid character '\"' after object key",
    },
    {
      name: 'literal typo',
      text: '{"EnableIPv6": tru}',
      line: 1,
      column: 19,
      cause: 'other',
      go: "invalid character '}' in literal true (expecting 'e')",
    },
    {
      name: 'tab inside a string',
      text: '{"Network": "10.244.0.0/16\t"}',
      line: 1,
      column: 27,
      cause: 'other',
      go: "invalid character '\\t' in string literal",
    },
    {
      name: 'byte-order mark',
      text: '\ufeff{"Network": "10.244.0.0/16"}',
      line: 1,
      column: 1,
      cause: 'other',
      go: "invalid character 'ï' looking for beginning of value",
    },
    {
      name: 'number with a leading plus',
      text: '{"SubnetLen": +24}',
      line: 1,
      column: 15,
      cause: 'other',
      go: "invalid character '+' looking for beginning of value",
    },
  ]
  for (const c of cases)
    test(c.name, () => {
      const e = syntax(c.text)
      assert.deepEqual(
        {line: e.line, column: e.column, cause: e.cause, go: e.goMessage},
        {line: c.line, column: c.column, cause: c.cause, go: c.go},
      )
      assert.equal(e.flannelMessage, `error parsing subnet config: ${c.go}`)
      assert.equal(e.caret.length, c.column, 'caret sits under the column')
      assert.ok(e.caret.endsWith('^'))
      if (c.fixed !== undefined) assert.equal(e.fix?.text, c.fixed)
      // The corrected line really fixes that problem: the same cause does not come back.
      if (c.fixed !== undefined && e.fix) {
        const lines = c.text.split('\n')
        lines[e.fix.line - 1] = c.fixed
        const again = parseNetConf(lines.join('\n'))
        assert.ok(again.ok || again.error.cause !== c.cause, `fix for ${c.name} removes the ${c.cause}`)
      }
    })

  test('a typographic quote inside a proper string is not blamed for another error', () => {
    const e = syntax('{"Backend": {"Type": "ipsec", "ESPProposal": "«aes»" "PSK": "x"}}')
    assert.equal(e.cause, 'missing-comma')
    const closed = syntax('{\n  "Network”: "10.244.0.0/16"\n}')
    assert.deepEqual(
      [closed.cause, closed.line, closed.column, closed.goMessage],
      ['smart-quotes', 2, 11, "invalid character '1' after object key"],
    )
  })

  test('a whole-line comment is deleted by the fix', () => {
    const e = syntax('{\n  # pod network\n  "Network": "10.244.0.0/16"\n}')
    assert.deepEqual(e.fix, {line: 2, before: '  # pod network'})
  })

  test('offsets shift lines, columns, the line text and the caret', () => {
    const r = parseNetConf('{\n  "Network": "10.244.0.0/16",\n}', {lineOffset: 40, columnOffset: 4})
    assert.equal(r.ok, false)
    const e = (r as {ok: false; error: NetConfSyntaxError}).error
    assert.equal(e.line, 42)
    assert.equal(e.column, 33)
    assert.equal(e.lineText, '      "Network": "10.244.0.0/16",')
    assert.equal(e.caret, ' '.repeat(32) + '^')
  })

  test('Go quotes non-printable and non-ASCII bytes like strconv.Quote', () => {
    assert.equal(goQuoteChar(0x23), "'#'")
    assert.equal(goQuoteChar(0x27), "'\\''")
    assert.equal(goQuoteChar(0x22), `'"'`)
    assert.equal(goQuoteChar(0x0a), "'\\n'")
    assert.equal(goQuoteChar(0x00), "'\\x00'")
    assert.equal(goQuoteChar(0xe2), "'â'")
    assert.equal(goQuoteChar(0x9c), "'\\u009c'")
    assert.equal(goQuoteChar(0xa0), "'\\u00a0'")
  })

  test('deep nesting is valid JSON for Go (no stack overflow)', () => {
    const deep = '{"x": ' + '['.repeat(5000) + ']'.repeat(5000) + '}'
    assert.equal(parseNetConf(deep).ok, true)
    const tooDeep = '['.repeat(10001)
    assert.match(syntax(tooDeep).goMessage ?? '', /exceeded max depth/)
  })
})

describe('parseNetConf: decoding like flannel', () => {
  test('defaults: IPv4 on, udp without Backend', () => {
    const c = conf('{"Network": "10.244.0.0/16"}')
    assert.deepEqual(
      {
        v4: c.EnableIPv4,
        v6: c.EnableIPv6,
        nft: c.EnableNFTables,
        present: c.backendPresent,
        type: c.backendType,
      },
      {v4: true, v6: false, nft: false, present: false, type: 'udp'},
    )
  })

  test('exact match first, then case-insensitive; Type lower-cased', () => {
    const c = conf(
      '{"network": "10.244.0.0/16", "ENABLENFTABLES": true, "backend": {"type": "VXLAN", "vni": 4096, "PORT": 4789}}',
    )
    assert.equal(c.Network, '10.244.0.0/16')
    assert.equal(c.EnableNFTables, true)
    assert.equal(c.backendType, 'vxlan')
    assert.equal(c.backendTypeGiven, 'VXLAN')
    assert.deepEqual(c.backend, {VNI: 4096, Port: 4789})
    assert.deepEqual(
      c.keys.map((k) => [k.path, k.canonical, k.exact]),
      [
        ['network', 'Network', false],
        ['ENABLENFTABLES', 'EnableNFTables', false],
        ['backend', 'Backend', false],
        ['Backend.type', 'Type', false],
        ['Backend.vni', 'VNI', false],
        ['Backend.PORT', 'Port', false],
      ],
    )
  })

  test('duplicates: the last one wins and each repeat is reported', () => {
    const c = conf(
      '{\n"Network": "10.1.0.0/16",\n"network": "10.244.0.0/16",\n"Backend": {"Type": "vxlan", "VNI": 1, "vni": 2}\n}',
    )
    assert.equal(c.Network, '10.244.0.0/16')
    assert.equal(c.backend['VNI'], 2)
    assert.deepEqual(
      c.duplicates.map((d) => [d.path, d.line]),
      [
        ['Network', 3],
        ['Backend.VNI', 4],
      ],
    )
    assert.match(c.duplicates[0]?.message ?? '', /"Network" on line 2, "network" on line 3/)
  })

  test('unknown keys with the closest real key', () => {
    const c = conf(
      '{"Network": "10.244.0.0/16", "SubnetLength": 24, "BackendType": "vxlan", "Backend": {"Type": "vxlan", "DirectRoute": true, "Vni_id": 2, "Network": "x"}}',
    )
    assert.deepEqual(
      c.unknownKeys.map((u) => [u.path, u.suggestion]),
      [
        ['SubnetLength', 'SubnetLen'],
        ['BackendType', 'Backend.Type'],
        ['Backend.DirectRoute', 'DirectRouting'],
        ['Backend.Vni_id', 'VNI'],
        ['Backend.Network', 'Network'],
      ],
    )
    assert.match(c.unknownKeys[4]?.message ?? '', /belongs at the top level/)
  })

  test('options of another backend are unknown for this one', () => {
    const c = conf(
      '{"Network": "10.244.0.0/16", "Backend": {"Type": "host-gw", "DirectRouting": true, "VNI": 1}}',
    )
    assert.deepEqual(
      c.unknownKeys.map((u) => u.path),
      ['Backend.DirectRouting', 'Backend.VNI'],
    )
    assert.match(
      c.unknownKeys[0]?.message ?? '',
      /not an option of the host-gw backend \(it belongs to vxlan, ipip\)/,
    )
  })

  test('a backend option at the top level and a CNI key are explained', () => {
    const c = conf('{"Network": "10.244.0.0/16", "VNI": 1, "cniVersion": "0.3.1"}')
    assert.deepEqual(c.unknownKeys[0]?.suggestion, 'Backend.VNI')
    assert.match(c.unknownKeys[1]?.message ?? '', /CNI config/)
  })

  test('wrong JSON types in Go’s wording; the first one is what flannel logs', () => {
    const c = conf(
      '{"Network": "10.244.0.0/16", "SubnetLen": "24", "EnableIPv6": "true", "IPv6SubnetLen": -1, "SubnetMin": 5}',
    )
    assert.deepEqual(
      c.typeErrors.map((t) => t.flannelMessage),
      [
        'error parsing subnet config: json: cannot unmarshal string into Go struct field Config.SubnetLen of type uint',
        'error parsing subnet config: json: cannot unmarshal string into Go struct field Config.EnableIPv6 of type bool',
        'error parsing subnet config: json: cannot unmarshal number -1 into Go struct field Config.IPv6SubnetLen of type uint',
        'error parsing subnet config: invalid IP address format',
      ],
    )
    // An Unmarshaler error (SubnetMin) aborts decoding and wins over the type errors saved before it.
    assert.equal(c.flannelError, 'error parsing subnet config: invalid IP address format')
    assert.equal(c.EnableIPv6, false)
  })

  test('type errors alone: the first saved one is reported', () => {
    const c = conf('{"Network": "10.244.0.0/16", "SubnetLen": 24.5, "EnableNFTables": 1}')
    assert.equal(
      c.flannelError,
      'error parsing subnet config: json: cannot unmarshal number 24.5 into Go struct field Config.SubnetLen of type uint',
    )
    assert.equal(
      c.typeErrors[1]?.flannelMessage,
      'error parsing subnet config: json: cannot unmarshal number into Go struct field Config.EnableNFTables of type bool',
    )
  })

  test('CIDR and IP fields: Go’s messages, host bits dropped', () => {
    assert.equal(
      conf('{"Network": "10.244.0.0"}').flannelError,
      'error parsing subnet config: invalid CIDR address: 10.244.0.0',
    )
    assert.equal(
      conf('{"Network": "2001:db8::/48"}').flannelError,
      'error parsing subnet config: invalid IPv4 CIDR format',
    )
    assert.equal(
      conf('{"Network": null}').flannelError,
      'error parsing subnet config: invalid CIDR address: null',
    )
    assert.equal(
      conf('{"Network": "10.244.0.0\\/16"}').flannelError,
      'error parsing subnet config: invalid CIDR address: 10.244.0.0\\/16',
    )
    assert.equal(conf('{"Network": "10.244.1.5/16"}').Network, '10.244.0.0/16')
    assert.equal(
      conf('{"Network": "10.244.0.0/16", "SubnetMin": "fd00::1"}').flannelError,
      'error parsing subnet config: invalid IPv4 address format',
    )
    const v6 = conf('{"EnableIPv6": true, "IPv6Network": "2001:cafe:42:0::/56", "IPv6SubnetMin": null}')
    assert.equal(v6.IPv6Network, '2001:cafe:42::/56')
    assert.equal(v6.flannelError, undefined)
  })

  test('Backend that is not an object, Backend without Type, unknown type', () => {
    assert.equal(
      conf('{"Network": "10.244.0.0/16", "Backend": "vxlan"}').flannelError,
      'error parsing subnet config: error decoding Backend property of config: json: cannot unmarshal string into Go value of type struct { Type string }',
    )
    assert.equal(
      conf('{"Network": "10.244.0.0/16", "Backend": {"Type": 1}}').flannelError,
      'error parsing subnet config: error decoding Backend property of config: json: cannot unmarshal number into Go struct field .Type of type string',
    )
    const noType = conf('{"Network": "10.244.0.0/16", "Backend": {}}')
    assert.deepEqual(
      [noType.backendPresent, noType.backendType, noType.flannelError],
      [true, '', 'Error fetching backend: unknown backend type: '],
    )
    assert.equal(
      conf('{"Network": "10.244.0.0/16", "Backend": {"Type": "aws-vpc"}}').flannelError,
      'Error fetching backend: unknown backend type: aws-vpc',
    )
  })

  test('backend options are typed per backend, with the backend’s error prefix', () => {
    const vx = conf(
      '{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan", "VNI": "1", "Port": 8472.5, "GBP": "false"}}',
    )
    assert.deepEqual(
      vx.typeErrors.map((t) => t.flannelMessage),
      [
        'Error registering network: error decoding VXLAN backend config: json: cannot unmarshal string into Go struct field .vni of type int',
        'Error registering network: error decoding VXLAN backend config: json: cannot unmarshal number 8472.5 into Go struct field .port of type int',
        'Error registering network: error decoding VXLAN backend config: json: cannot unmarshal string into Go struct field .gbp of type bool',
      ],
    )
    assert.equal(vx.flannelError, vx.typeErrors[0]?.flannelMessage)
    const wg = conf(
      '{"Network": "10.244.0.0/16", "Backend": {"Type": "wireguard", "PersistentKeepaliveInterval": "25s", "Mode": "auto"}}',
    )
    assert.equal(
      wg.typeErrors[0]?.flannelMessage,
      'Error registering network: error decoding backend config: json: cannot unmarshal string into Go struct field .PersistentKeepaliveInterval of type time.Duration',
    )
    assert.equal(wg.backend['Mode'], 'auto')
    const ipsec = conf('{"Network": "10.244.0.0/16", "Backend": {"Type": "ipsec", "UDPEncap": "yes"}}')
    assert.match(
      ipsec.typeErrors[0]?.flannelMessage ?? '',
      /^Error registering network: error decoding IPSEC backend config: /,
    )
    const udp = conf('{"Network": "10.244.0.0/16", "Backend": {"Type": "udp", "Port": "8285"}}')
    assert.match(
      udp.typeErrors[0]?.flannelMessage ?? '',
      /error decoding UDP backend config: .*\.Port of type int$/,
    )
  })

  test('Windows-only vxlan options are typed but do not stop Linux flannel', () => {
    const c = conf(
      '{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan", "MacPrefix": 5, "Name": "vxlan0"}}',
    )
    assert.equal(c.typeErrors[0]?.platform, 'windows')
    assert.equal(c.flannelError, undefined)
    assert.equal(c.backend['Name'], 'vxlan0')
  })

  test('a top-level array or string is not a config', () => {
    assert.equal(
      conf('[]').flannelError,
      'error parsing subnet config: json: cannot unmarshal array into Go value of type subnet.Config',
    )
    assert.equal(conf('"x"').typeErrors[0]?.path, '(top level)')
    assert.equal(conf('null').flannelError, undefined)
  })

  test('closestKey', () => {
    assert.equal(closestKey('DirectRoute', ['VNI', 'Port', 'DirectRouting']), 'DirectRouting')
    assert.equal(closestKey('SubnetLength', ['SubnetLen', 'SubnetMin', 'Network']), 'SubnetLen')
    assert.equal(closestKey('Vni_id', ['VNI', 'Port', 'MTU']), 'VNI')
    assert.equal(closestKey('enable_ipv6', ['EnableIPv4', 'EnableIPv6']), 'EnableIPv6')
    assert.equal(closestKey('Foo', ['Network', 'Backend']), undefined)
  })

  test('parseGoJson keeps Go’s message without flannel’s prefix', () => {
    const r = parseGoJson('{"a": 1,}')
    assert.equal(r.ok, false)
    assert.equal(
      (r as {ok: false; error: NetConfSyntaxError}).error.flannelMessage,
      "invalid character '}' looking for beginning of object key string",
    )
  })
})

describe('netConfFromFile: plain files, ConfigMaps and manifests', () => {
  test('the seed ConfigMap: error mapped to line 38, column 31 of the YAML file', () => {
    const f = netConfFromFile(SEED, 'kubernetes/kube-flannel-cfg.yaml')
    assert.equal(f.source, 'ConfigMap kube-system/kube-flannel-cfg in kubernetes/kube-flannel-cfg.yaml')
    assert.deepEqual([f.lineOffset, f.columnOffset, f.mode], [33, 4, 'kube'])
    assert.deepEqual(f.configMap, {name: 'kube-flannel-cfg', namespace: 'kube-system'})
    assert.equal(f.result.ok, false)
    const e = (f.result as {ok: false; error: NetConfSyntaxError}).error
    assert.deepEqual([e.line, e.column], [38, 31])
    // The line as it is in the YAML file, with the caret under the '#'.
    const yamlLine = SEED.split('\n')[37] as string
    assert.equal(e.lineText, yamlLine)
    assert.equal(yamlLine[e.caret.length - 1], '#')
    assert.equal(netConfSourceLine(f, 38), yamlLine)
    assert.deepEqual(quoteLines(f, [37, 38]), [`37: ${SEED.split('\n')[36]}`, `38: ${yamlLine}`])
  })

  const manifests: [string, string, string][] = [
    ['kube-flannel-v0.13.0-rc2.yml', 'kube-system', 'kube-flannel-ds'],
    ['kube-flannel-v0.11.0.yml', 'kube-system', 'kube-flannel-ds-amd64'],
    ['kube-flannel-kustomization-v0.20.2.yml', 'kube-flannel', 'kube-flannel-ds'],
  ]
  for (const [file, ns, ds] of manifests)
    test(`real manifest ${file}: net-conf taken from the ConfigMap, keys at their YAML lines`, () => {
      const text = fx(file)
      const f = netConfFromFile(text, file)
      assert.equal(f.result.ok, true)
      const c = (f.result as {ok: true; conf: NetConf}).conf
      assert.deepEqual(
        [c.Network, c.backendType, f.mode, f.configMap?.namespace],
        ['10.244.0.0/16', 'vxlan', 'kube', ns],
      )
      const net = c.keys.find((k) => k.given === 'Network')
      const lines = text.split('\n')
      assert.ok(net)
      assert.equal(lines[net.line - 1]?.slice(net.column - 1, net.column + 8), '"Network"')
      const info = flannelManifestInfo(text)
      assert.equal(info.daemonSet, ds)
      assert.equal(info.namespace, ns)
      assert.ok(info.args.includes('--kube-subnet-mgr'))
      assert.equal(info.args[0], '/opt/bin/flanneld')
      const cni = cniConfFromManifest(text, file)
      assert.equal((cni.json as {name: string}).name, 'cbr0')
      assert.equal(cni.error, undefined)
    })

  test('the fix commands follow the manifest: one DaemonSet is restarted, several are restarted by label', () => {
    const one = netConfFromFile(fx('kube-flannel-kustomization-v0.20.2.yml'), 'kube-flannel.yml')
    assert.deepEqual(applyCommands(one), [
      'kubectl apply -f kube-flannel.yml',
      'kubectl -n kube-flannel rollout restart daemonset kube-flannel-ds',
    ])
    const five = netConfFromFile(fx('kube-flannel-v0.11.0.yml'), 'kubernetes/kube-flannel-cfg.yaml')
    assert.deepEqual(five.daemonSets?.length, 5)
    assert.deepEqual(applyCommands(five), [
      'kubectl -n kube-system edit configmap kube-flannel-cfg',
      'kubectl -n kube-system delete pod -l app=flannel',
    ])
  })

  test('manifest info: every per-architecture DaemonSet of v0.11.0, images and node selectors', () => {
    const info = flannelManifestInfo(fx('kube-flannel-v0.11.0.yml'))
    assert.deepEqual(
      info.daemonSets.map((d) => [d.name, d.nodeSelector?.['beta.kubernetes.io/arch']]),
      [
        ['kube-flannel-ds-amd64', 'amd64'],
        ['kube-flannel-ds-arm64', 'arm64'],
        ['kube-flannel-ds-arm', 'arm'],
        ['kube-flannel-ds-ppc64le', 'ppc64le'],
        ['kube-flannel-ds-s390x', 's390x'],
      ],
    )
    assert.equal(info.images.length, 5)
    assert.equal(info.images[0], 'quay.io/coreos/flannel:v0.11.0-amd64')
    const v20 = flannelManifestInfo(fx('kube-flannel-kustomization-v0.20.2.yml'))
    assert.deepEqual(v20.images, [
      'docker.io/flannel/flannel-cni-plugin:v1.1.2',
      'docker.io/flannel/flannel:v0.20.2',
    ])
  })

  test('an edited manifest: error positions land on the manifest line', () => {
    const text = fx('kube-flannel-kustomization-v0.20.2.yml').replace('"Type": "vxlan"', '"Type": "vxlan",')
    const f = netConfFromFile(text, 'kube-flannel.yml')
    const e = (f.result as {ok: false; error: NetConfSyntaxError}).error
    assert.equal(e.cause, 'trailing-comma')
    const line = text.split('\n')[e.line - 1] as string
    assert.equal(line, '        "Type": "vxlan",')
    assert.equal(line[e.column - 1], ',')
  })

  test('a manifest without --kube-subnet-mgr is etcd mode', () => {
    const text = fx('kube-flannel-v0.13.0-rc2.yml').replace('        - --kube-subnet-mgr\n', '')
    assert.equal(netConfFromFile(text, 'm.yml').mode, 'etcd')
  })

  test('plain net-conf.json: positions are the file’s own; the kube path means kube mode', () => {
    const text = SEED_NETCONF
    const f = netConfFromFile(text, 'files/etc/kube-flannel/net-conf.json')
    assert.deepEqual(
      [f.lineOffset, f.columnOffset, f.mode, f.source],
      [0, 0, 'kube', 'files/etc/kube-flannel/net-conf.json'],
    )
    assert.equal((f.result as {ok: false; error: NetConfSyntaxError}).error.line, 5)
    assert.equal(netConfFromFile(text, '/tmp/x.json').mode, undefined)
    assert.equal(netConfFromFile('', 'empty.json').result.ok, false)
  })

  test('ConfigMap as JSON (kubectl get cm -o json): positions count inside the value', () => {
    const cm = JSON.stringify(
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {name: 'kube-flannel-cfg', namespace: 'kube-flannel'},
        data: {'net-conf.json': SEED_NETCONF},
      },
      null,
      4,
    )
    const f = netConfFromFile(cm, 'cm.json')
    assert.equal(f.positionsInValue, true)
    assert.match(f.source, /^ConfigMap kube-flannel\/kube-flannel-cfg in cm\.json \(value at line 9/)
    assert.deepEqual([(f.result as {ok: false; error: NetConfSyntaxError}).error.line, f.lineOffset], [5, 0])
  })

  test('a one-line quoted value maps column for column', () => {
    const yaml =
      'kind: ConfigMap\nmetadata:\n  name: kube-flannel-cfg\ndata:\n  net-conf.json: \'{"Network": "10.244.0.0/16",}\'\n'
    const f = netConfFromFile(yaml, 'cm.yaml')
    const e = (f.result as {ok: false; error: NetConfSyntaxError}).error
    assert.equal(e.line, 5)
    assert.equal(yaml.split('\n')[4]?.[e.column - 1], ',')
  })

  test('an explicit block indentation indicator', () => {
    const yaml =
      'kind: ConfigMap\nmetadata:\n  name: kube-flannel-cfg\ndata:\n  net-conf.json: |2\n      {\n    "Network": "10.244.0.0/16" #\n    }\n'
    const f = netConfFromFile(yaml, 'cm.yaml')
    assert.deepEqual([f.lineOffset, f.columnOffset], [5, 4])
    const e = (f.result as {ok: false; error: NetConfSyntaxError}).error
    assert.equal(yaml.split('\n')[e.line - 1]?.[e.column - 1], '#')
  })

  test('a ConfigMap with another name, and a List of ConfigMaps', () => {
    const list =
      'apiVersion: v1\nkind: List\nitems:\n- kind: ConfigMap\n  metadata: {name: other}\n  data: {x: y}\n- kind: ConfigMap\n  metadata: {name: flannel-cfg-custom, namespace: kube-system}\n  data:\n    net-conf.json: |\n      {"Network": "10.42.0.0/16", "Backend": {"Type": "host-gw"}}\n'
    const f = netConfFromFile(list, 'list.yaml')
    assert.deepEqual(f.configMap, {name: 'flannel-cfg-custom', namespace: 'kube-system'})
    assert.equal((f.result as {ok: true; conf: NetConf}).conf.backendType, 'host-gw')
  })

  test('broken YAML and a file without the key are ParseErrors with a line', () => {
    assert.throws(
      () => netConfFromFile('kind: ConfigMap\ndata:\n  net-conf.json: |\n    {}\n  bad: [\n', 'x.yaml'),
      (e: unknown) => e instanceof ParseError && e.line !== undefined && /not valid YAML/.test(e.message),
    )
    assert.throws(
      () => netConfFromFile('kind: ConfigMap\ndata:\n  other: 1\n', 'x.yaml'),
      (e: unknown) => e instanceof ParseError && /no ConfigMap/.test(e.message),
    )
    assert.throws(
      () => netConfFromFile('kind: ConfigMap\ndata:\n  net-conf.json:\n    Network: x\n', 'x.yaml'),
      ParseError,
    )
  })
})
