import assert from 'node:assert/strict'
import {test} from 'node:test'

import type {Link} from '../../../src/model.js'
import {ParseError} from '../../../src/parse/errors.js'
import {parseIpLink} from '../../../src/parse/ip-link.js'
import {assertParseErrors, captures, fx} from './helpers.js'

const byName = (links: Link[], name: string): Link => {
  const l = links.find((x) => x.name === name)
  assert.ok(l, `no link ${name} in ${links.map((x) => x.name).join(',')}`)
  return l
}
const withoutRaw = ({raw: _r, detailRaw: _d, ...rest}: Link) => rest

// Node A of scripts/capture-fixtures.sh, as every -d capture (text, JSON, pretty JSON) must show it.
function assertNodeA(links: Link[], details: boolean): void {
  assert.deepEqual(
    links.map((l) => l.name),
    ['lo', 'eth0', 'flannel.1', 'cni0', 'vethab12cd34', 'cilium_vxlan'],
  )
  const f = byName(links, 'flannel.1')
  assert.equal(f.index, 3)
  assert.equal(f.mtu, 1450)
  assert.equal(f.mac, '0a:58:0a:f4:01:00')
  assert.equal(f.operstate, 'UNKNOWN')
  assert.deepEqual(f.flags, ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'])
  assert.equal(f.up, true)
  assert.equal(f.parent, undefined)
  const cni0 = byName(links, 'cni0')
  assert.equal(cni0.mtu, 1450)
  assert.equal(cni0.mac, '56:47:36:c7:fc:34')
  const veth = byName(links, 'vethab12cd34')
  assert.equal(veth.master, 'cni0')
  assert.equal(veth.parent, 'if2')
  assert.equal(veth.mtu, 1450)
  assert.equal(byName(links, 'eth0').parent, 'if3')
  assert.equal(byName(links, 'eth0').operstate, 'UP')
  const cil = byName(links, 'cilium_vxlan')
  assert.equal(cil.up, false)
  assert.equal(cil.operstate, 'DOWN')
  assert.equal(byName(links, 'lo').kind, undefined)
  if (!details) {
    for (const l of links) assert.equal(l.kind, undefined, `${l.name} has no kind without -d`)
    return
  }
  assert.equal(f.kind, 'vxlan')
  assert.deepEqual(f.vxlan, {
    id: 1,
    local: '10.99.0.11',
    dev: 'eth0',
    dstport: 8472,
    learning: false,
    gbp: false,
  })
  assert.equal(cni0.kind, 'bridge')
  // The port's second detail line (`bridge_slave ...`) describes the port, not the device.
  assert.equal(veth.kind, 'veth')
  assert.equal(byName(links, 'eth0').kind, 'veth')
  assert.equal(cil.kind, 'vxlan')
  assert.deepEqual(cil.vxlan, {id: 2, dstport: 8473, learning: false, gbp: false})
}

test('ip -d link show (iproute2 6.1, node A)', () => {
  const links = parseIpLink(fx('ip-link/iproute2-6.1-d.txt'))
  assertNodeA(links, true)
  const f = byName(links, 'flannel.1')
  assert.equal(
    f.raw,
    '3: flannel.1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000',
  )
  assert.ok(
    f.detailRaw?.startsWith(
      'vxlan id 1 local 10.99.0.11 dev eth0 srcport 0 0 dstport 8472 nolearning ttl auto',
    ),
  )
  assert.equal(byName(links, 'vethab12cd34').detailRaw, 'veth')
})

test('ip -d -j link show and its -p pretty form (iproute2 6.1, node A)', () => {
  assertNodeA(parseIpLink(fx('ip-link/iproute2-6.1-d.json')), true)
  assertNodeA(parseIpLink(fx('ip-link/iproute2-6.1-pretty.json')), true)
})

test('ip link without -d has no kinds (iproute2 6.1, node A)', () => {
  assertNodeA(parseIpLink(fx('ip-link/iproute2-6.1.txt')), false)
})

test('ip -d link show of node B', () => {
  const links = parseIpLink(fx('ip-link/iproute2-6.1-b.txt'))
  assert.equal(links.length, 3)
  const f = byName(links, 'flannel.1')
  assert.equal(f.mac, '0a:58:0a:f4:02:00')
  assert.deepEqual(f.vxlan, {
    id: 1,
    local: '10.99.0.12',
    dev: 'eth0',
    dstport: 8472,
    learning: false,
    gbp: false,
  })
  assert.equal(byName(links, 'eth0').parent, 'if4')
})

test('iproute2 5.x -d format (no allmulti) from flannel-io/flannel#1757', () => {
  const [f, ...rest] = parseIpLink(fx('ip-link/flannel-1757-iproute2-5.txt'))
  assert.equal(rest.length, 0)
  assert.ok(f)
  assert.equal(f.name, 'flannel.1')
  assert.equal(f.index, 5)
  assert.equal(f.mtu, 1370)
  assert.equal(f.mac, 'aa:bb:cc:dd:ee:ff')
  assert.equal(f.kind, 'vxlan')
  assert.deepEqual(f.vxlan, {
    id: 1,
    local: '10.0.0.1',
    dev: 'abc',
    dstport: 8472,
    learning: false,
    gbp: false,
  })
})

test('vxlan with gbp and a multicast group, learning on, veth peers in one namespace (flt-h capture)', () => {
  for (const file of ['ip-link/flt-h-d.txt', 'ip-link/flt-h-d.json']) {
    const links = parseIpLink(fx(file))
    assert.equal(links.length, 8, file)
    const gbp = byName(links, 'vx-gbp')
    assert.deepEqual(
      gbp.vxlan,
      {id: 4096, group: '239.1.1.1', dev: 'eth0', dstport: 4789, learning: true, gbp: true},
      file,
    )
    assert.equal(gbp.up, false)
    assert.equal(gbp.mtu, 1450)
    assert.deepEqual(byName(links, 'vx-learn').vxlan, {
      id: 7,
      local: '10.99.0.11',
      dstport: 8472,
      learning: true,
      gbp: false,
    })
    assert.equal(byName(links, 'vethpeer').parent, 'vethport')
    assert.equal(byName(links, 'vethport').parent, 'vethpeer')
    assert.equal(byName(links, 'vethport').master, 'br0')
    assert.equal(byName(links, 'vethport').kind, 'veth')
    assert.equal(byName(links, 'br0').kind, 'bridge')
  }
})

const PAIRS: [string, string][] = [
  ['ip-link/iproute2-6.1-d.txt', 'ip-link/iproute2-6.1-d.json'],
  ['ip-link/iproute2-6.1-d.txt', 'ip-link/iproute2-6.1-pretty.json'],
  ['ip-link/flt-h-d.txt', 'ip-link/flt-h-d.json'],
]

for (const [text, json] of PAIRS) {
  test(`text and JSON captures agree: ${text} ~ ${json}`, () => {
    const a = parseIpLink(fx(text))
    const b = parseIpLink(fx(json))
    assert.deepEqual(a.map(withoutRaw), b.map(withoutRaw))
    // JSON evidence is rendered the way `ip link` prints the header, and the vxlan details in its order.
    assert.deepEqual(
      b.map((l) => l.raw),
      a.map((l) => l.raw),
    )
    a.forEach((l, i) => {
      const jd = b[i]?.detailRaw
      if (jd === undefined) return assert.equal(l.detailRaw, undefined)
      const words = (l.detailRaw ?? '').split(' ')
      let at = 0
      for (const w of jd.split(' ')) {
        at = words.indexOf(w, at)
        assert.ok(at >= 0, `"${w}" of "${jd}" in "${l.detailRaw}"`)
        at++
      }
    })
  })
}

test('every link capture parses, with lower-case MACs and numeric MTUs', () => {
  const files = captures('ip-link')
  assert.ok(files.length >= 7)
  for (const {file: f, text} of files) {
    const links = parseIpLink(text)
    assert.ok(links.length > 0, f)
    for (const l of links) {
      assert.ok(Number.isInteger(l.mtu) && l.mtu > 0, `${f} ${l.name}`)
      if (l.mac !== undefined) assert.equal(l.mac, l.mac.toLowerCase())
      assert.equal(l.up, l.flags.includes('UP'))
    }
  }
})

test('blank lines and unknown extra tokens are tolerated', () => {
  const lines = fx('ip-link/iproute2-6.1-d.txt').split('\n')
  // A header with a token this parser has never seen, and blank lines between interfaces.
  const edited = lines.map((l) => (l.startsWith('3: ') ? `${l} newflag 7` : l)).join('\n\n')
  const links = parseIpLink(edited)
  assertNodeA(links, true)
})

test('empty input is an empty list', () => {
  assert.deepEqual(parseIpLink(''), [])
  assert.deepEqual(parseIpLink('  \n\n'), [])
  assert.deepEqual(parseIpLink('[]'), [])
})

test('other tools\u2019 output is a ParseError with the line and the command to capture', () => {
  assertParseErrors(
    parseIpLink,
    [
      [fx('ip-route/iproute2-6.1.txt'), 1, /ip route/],
      [fx('iptables/save-nf_tables.txt'), 1, /iptables/],
      [fx('ip-addr/ifconfig.txt'), 1, /ifconfig/],
      // Truncated on top: detail lines with no header before them.
      [fx('ip-link/iproute2-6.1-d.txt').split('\n').slice(1).join('\n'), 1, /header/],
    ],
    /ip -d link show/,
  )
  // Garbage in the middle of a real capture names its line.
  const lines = fx('ip-link/iproute2-6.1-d.txt').split('\n')
  lines.splice(4, 0, 'Chain INPUT (policy ACCEPT)')
  assert.throws(
    () => parseIpLink(lines.join('\n')),
    (e: unknown) => e instanceof ParseError && e.line === 5,
  )
})

test('JSON of another command or broken JSON is a ParseError', () => {
  assert.throws(
    () => parseIpLink(fx('ip-route/iproute2-6.1.json')),
    (e: unknown) => e instanceof ParseError && /ifname/.test(e.message),
  )
  const cut = fx('ip-link/iproute2-6.1-pretty.json').slice(0, 500)
  assert.throws(() => parseIpLink(cut), ParseError)
  assert.throws(
    () => parseIpLink('[1, 2]'),
    (e: unknown) => e instanceof ParseError && /element 1/.test(e.message),
  )
})
