import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {describe, test} from 'node:test'

import type {Addr, Link, Route} from '../../../src/model.js'
import {parseIpAddr} from '../../../src/parse/ip-addr.js'
import {parseIpLink} from '../../../src/parse/ip-link.js'
import {parseIpRoute} from '../../../src/parse/ip-route.js'
import {
  chooseInterface,
  defaultRouteDevice,
  ipv4AddrsInFlannelOrder,
  type InterfaceChoice,
  type InterfaceFacts,
  type InterfaceOptions,
} from '../../../src/setup/iface.js'

const OUT = new URL('../../fixtures/outputs/', import.meta.url)
const fx = (path: string): string => readFileSync(new URL(path, OUT), 'utf8')

/** Namespace flt-h-a of the fixtures: eth0 10.99.0.11 (+ secondary 10.99.0.50), eth1 192.168.77.1 + peer 10.200.0.1. */
function fltH(form: 'txt' | 'json'): InterfaceFacts {
  return {
    links: parseIpLink(fx(form === 'txt' ? 'ip-link/flt-h-d.txt' : 'ip-link/flt-h-d.json')),
    addrs: parseIpAddr(fx(`ip-addr/flt-h.${form}`)),
    routes: parseIpRoute(fx(`ip-route/flt-h-multipath.${form}`)),
  }
}

function ok(r: InterfaceChoice): Extract<InterfaceChoice, {ok: true}> {
  assert.ok(r.ok, `expected a choice, got: ${r.ok ? '' : `${r.message} / ${r.flannelMessage}`}`)
  return r
}
function bad(r: InterfaceChoice): Extract<InterfaceChoice, {ok: false}> {
  assert.ok(!r.ok, `expected a failure, got ${r.ok ? `${r.iface} ${r.ifaceAddr}` : ''}`)
  assert.equal(r.check, 'node.interface')
  return r
}

const link = (index: number, name: string, mtu = 1500): Link => ({
  index,
  name,
  mtu,
  flags: ['UP'],
  up: true,
  raw: `${index}: ${name}: <UP> mtu ${mtu}`,
})
const addr = (ifname: string, address: string, extra: Partial<Addr> = {}): Addr => ({
  ifname,
  family: 'inet',
  address,
  prefixlen: 24,
  scope: 'global',
  flags: [],
  raw: `inet ${address}/24 scope global ${ifname}`,
  ...extra,
})
const route = (dst: string, extra: Partial<Route> = {}): Route => ({
  dst,
  onlink: false,
  type: 'unicast',
  raw: dst,
  ...extra,
})

for (const form of ['txt', 'json'] as const) {
  describe(`real capture flt-h (${form})`, () => {
    const facts = fltH(form)

    test('no flags: the default route interface and its first address, as flannel logs it', () => {
      const r = ok(chooseInterface({}, facts))
      assert.equal(r.iface, 'eth0')
      assert.equal(r.ifaceAddr, '10.99.0.11')
      assert.equal(r.publicIP, '10.99.0.11')
      assert.equal(r.mtu, 1500)
      assert.equal(r.how, 'default route interface eth0')
      assert.deepEqual(r.log, [
        'Determining IP address of default interface',
        'Using interface with name eth0 and address 10.99.0.11',
        'Defaulting external address to interface address (10.99.0.11)',
      ])
    })

    test('--iface by name takes that interface and its first address', () => {
      const r = ok(chooseInterface({iface: ['eth1']}, facts))
      assert.equal(r.iface, 'eth1')
      assert.equal(r.ifaceAddr, '192.168.77.1')
      assert.equal(r.how, '--iface eth1')
    })

    test('--iface by IP takes that very address, even a secondary one', () => {
      const r = ok(chooseInterface({iface: ['10.99.0.50']}, facts))
      assert.equal(r.iface, 'eth0')
      assert.equal(r.ifaceAddr, '10.99.0.50')
      assert.equal(r.publicIP, '10.99.0.50')
      assert.equal(r.log[0], 'Searching for interface using 10.99.0.50')
    })

    test('--iface values are tried in order; failures are logged as flannel logs them', () => {
      const r = ok(chooseInterface({iface: ['eth9', '203.0.113.9', 'eth1']}, facts))
      assert.equal(r.iface, 'eth1')
      assert.ok(
        r.log.includes(
          'Could not find valid interface matching eth9: error looking up interface eth9: route ip+net: no such network interface',
        ),
        r.log.join('\n'),
      )
      assert.ok(
        r.log.includes(
          'Could not find valid interface matching 203.0.113.9: error looking up interface 203.0.113.9: no interface with given IP found',
        ),
      )
    })

    test('--iface-regex matches addresses before names', () => {
      // eth1's name matches, but eth0's address 10.99.0.50 is looked at first.
      const r = ok(chooseInterface({ifaceRegex: ['eth1|10\\.99\\.0\\.50']}, facts))
      assert.equal(r.iface, 'eth0')
      assert.equal(r.ifaceAddr, '10.99.0.50')
      const byName = ok(chooseInterface({ifaceRegex: ['^eth1$']}, facts))
      assert.equal(byName.iface, 'eth1')
      assert.equal(byName.ifaceAddr, '192.168.77.1')
      assert.equal(byName.how, '--iface-regex ^eth1$ matched interface eth1')
      const byAddr = ok(chooseInterface({ifaceRegex: ['^10\\.200\\.']}, facts))
      assert.equal(byAddr.iface, 'eth1')
      assert.equal(byAddr.ifaceAddr, '10.200.0.1')
    })

    test('--iface-regex is tried only after every --iface', () => {
      const r = ok(chooseInterface({iface: ['eth0'], ifaceRegex: ['^eth1$']}, facts))
      assert.equal(r.iface, 'eth0')
      const next = ok(chooseInterface({iface: ['bond0'], ifaceRegex: ['^eth1$']}, facts))
      assert.equal(next.iface, 'eth1')
    })

    test('a regex that matches nothing lists the interfaces with their IPv4 addresses', () => {
      const r = bad(chooseInterface({ifaceRegex: ['^bond']}, facts))
      assert.equal(
        r.flannelMessage,
        'Failed to find interface to use that matches the interfaces and/or regexes provided',
      )
      const line = r.log.find((l) => l.startsWith('Could not find valid interface matching ^bond: '))
      assert.ok(line, r.log.join('\n'))
      assert.match(
        line,
        /could not match pattern \^bond to any of the available network interfaces \(lo:\[\], eth0:\[10\.99\.0\.11 10\.99\.0\.50\], eth1:\[192\.168\.77\.1 10\.200\.0\.1\], vx-gbp:\[\]/,
      )
    })

    test('--iface-can-reach without routeGet: longest prefix over the routes', () => {
      const r = ok(chooseInterface({ifaceCanReach: '10.200.0.2'}, facts))
      assert.equal(r.iface, 'eth1')
      assert.equal(r.ifaceAddr, '10.200.0.1')
      assert.equal(r.how, '--iface-can-reach 10.200.0.2 routes through eth1')
      const far = ok(chooseInterface({ifaceCanReach: '172.30.4.4'}, facts))
      assert.equal(far.iface, 'eth0')
      assert.equal(far.ifaceAddr, '10.99.0.11')
    })

    test('--iface-can-reach into a blackhole route finds nothing', () => {
      const r = bad(chooseInterface({ifaceCanReach: '10.244.9.3'}, facts))
      assert.equal(
        r.flannelMessage,
        'Failed to find interface to use that matches the interfaces and/or regexes provided',
      )
      assert.ok(
        r.log.includes(
          "Could not find valid interface matching ifaceCanReach: 10.244.9.3: failed to get ifcanreach based interface: couldn't lookup route to 10.244.9.3: network is unreachable",
        ),
        r.log.join('\n'),
      )
    })

    test('--iface-can-reach uses the answer of ip route get when the caller has one', () => {
      const asked: string[] = []
      const r = ok(
        chooseInterface(
          {ifaceCanReach: '10.99.0.12'},
          {
            ...facts,
            routeGet: (ip) => {
              asked.push(ip)
              return {dev: 'eth1', src: '192.168.77.1'}
            },
          },
        ),
      )
      assert.deepEqual(asked, ['10.99.0.12'])
      assert.equal(r.iface, 'eth1')
      assert.equal(r.ifaceAddr, '192.168.77.1')
    })

    test('--public-ip without iface flags selects the interface that holds it', () => {
      const r = ok(chooseInterface({publicIP: '10.200.0.1'}, facts))
      assert.equal(r.iface, 'eth1')
      assert.equal(r.ifaceAddr, '10.200.0.1')
      assert.equal(r.publicIP, '10.200.0.1')
      assert.equal(r.how, 'interface eth1 holds --public-ip 10.200.0.1')
      assert.ok(r.log.includes('Using 10.200.0.1 as external address'))
    })

    test("--public-ip that is not local, without iface flags, is flannel's fatal error", () => {
      const r = bad(chooseInterface({publicIP: '203.0.113.7'}, facts))
      assert.equal(
        r.flannelMessage,
        'Failed to find any valid interface to use: error looking up interface 203.0.113.7: no interface with given IP found',
      )
      assert.match(r.message, /--public-ip 203\.0\.113\.7 is not an address of this host/)
      assert.match(r.message, /--iface NAME/)
    })

    test('with iface flags the public IP may be any address (NAT)', () => {
      const r = ok(chooseInterface({iface: ['eth1'], publicIP: '203.0.113.7'}, facts))
      assert.equal(r.iface, 'eth1')
      assert.equal(r.ifaceAddr, '192.168.77.1')
      assert.equal(r.publicIP, '203.0.113.7')
      assert.deepEqual(r.log.slice(-2), [
        'Using interface with name eth1 and address 192.168.77.1',
        'Using 203.0.113.7 as external address',
      ])
    })

    test('no default route', () => {
      const routes = facts.routes.filter((r) => r.dst !== 'default')
      assert.equal(routes.length, facts.routes.length - 1)
      const r = bad(chooseInterface({}, {...facts, routes}))
      assert.equal(
        r.flannelMessage,
        'Failed to find any valid interface to use: failed to get default interface: unable to find default route',
      )
      assert.match(r.message, /no IPv4 default route/)
    })
  })
}

test('iproute2 6.1 node A capture: eth0 from the default route', () => {
  const r = ok(
    chooseInterface(
      {},
      {
        links: parseIpLink(fx('ip-link/iproute2-6.1-d.txt')),
        addrs: parseIpAddr(fx('ip-addr/iproute2-6.1.txt')),
        routes: parseIpRoute(fx('ip-route/iproute2-6.1.txt')),
      },
    ),
  )
  assert.deepEqual([r.iface, r.ifaceAddr, r.mtu], ['eth0', '10.99.0.11', 1500])
})

test('the IPv6 default of `ip route show table all` is not an IPv4 default route', () => {
  const all = parseIpRoute(fx('ip-route/flt-h-table-all.txt'))
  const v6only = all.filter((r) => !(r.dst === 'default' && r.gateway === '10.99.0.1'))
  assert.ok(
    v6only.some((r) => r.dst === 'default'),
    'the capture has an IPv6 default',
  )
  assert.deepEqual(defaultRouteDevice(v6only), {ok: false, error: 'unable to find default route'})
  const d = defaultRouteDevice(all)
  assert.ok(d.ok)
  assert.equal(d.dev, 'eth0')
})

describe('Vagrant/VirtualBox hosts', () => {
  // voxpupuli/puppet-k8s#22: 10.0.2.15 (NAT, dynamic) on enp0s3, the node network 10.0.0.11 on enp0s8.
  const text = fx('ip-addr/puppet-k8s-22-ip-a.txt')
  const real: InterfaceFacts = {
    links: parseIpLink(text),
    addrs: parseIpAddr(text),
    routes: [
      route('default', {gateway: '10.0.2.2', dev: 'enp0s3', protocol: 'dhcp', metric: 100}),
      route('10.0.0.0/24', {dev: 'enp0s8', scope: 'link', src: '10.0.0.11'}),
      route('10.0.2.0/24', {dev: 'enp0s3', scope: 'link', src: '10.0.2.15', metric: 100}),
    ],
  }

  test('without flags flannel takes the NAT address 10.0.2.15', () => {
    const r = ok(chooseInterface({}, real))
    assert.deepEqual([r.iface, r.ifaceAddr, r.publicIP], ['enp0s3', '10.0.2.15', '10.0.2.15'])
  })

  test('--iface enp0s8 or --iface-can-reach a peer picks the node network', () => {
    const a = ok(chooseInterface({iface: ['enp0s8']}, real))
    assert.deepEqual([a.iface, a.ifaceAddr], ['enp0s8', '10.0.0.11'])
    const b = ok(chooseInterface({ifaceCanReach: '10.0.0.12'}, real))
    assert.deepEqual([b.iface, b.ifaceAddr], ['enp0s8', '10.0.0.11'])
  })

  test('hand-built eth0/eth1 host: default route on eth0 (10.0.2.15), real address on eth1', () => {
    const facts: InterfaceFacts = {
      links: [link(1, 'lo', 65536), link(2, 'eth0'), link(3, 'eth1')],
      addrs: [
        addr('lo', '127.0.0.1', {prefixlen: 8, scope: 'host'}),
        addr('eth0', '10.0.2.15', {flags: ['dynamic']}),
        addr('eth1', '192.168.56.11'),
      ],
      routes: [
        route('default', {gateway: '10.0.2.2', dev: 'eth0', metric: 100}),
        route('10.0.2.0/24', {dev: 'eth0', scope: 'link', src: '10.0.2.15'}),
        route('192.168.56.0/24', {dev: 'eth1', scope: 'link', src: '192.168.56.11'}),
      ],
    }
    assert.equal(ok(chooseInterface({}, facts)).ifaceAddr, '10.0.2.15')
    assert.equal(ok(chooseInterface({iface: ['eth1']}, facts)).ifaceAddr, '192.168.56.11')
    assert.equal(ok(chooseInterface({ifaceRegex: ['^192\\.168\\.56\\.']}, facts)).iface, 'eth1')
    const reach = ok(chooseInterface({ifaceCanReach: '192.168.56.12'}, facts))
    assert.deepEqual([reach.iface, reach.ifaceAddr], ['eth1', '192.168.56.11'])
    // An own address is routed through lo by the kernel, and flannel then uses lo.
    const own = ok(chooseInterface({ifaceCanReach: '192.168.56.11'}, facts))
    assert.deepEqual([own.iface, own.ifaceAddr], ['lo', '192.168.56.11'])
  })
})

describe('hand-built edge cases', () => {
  const base: InterfaceFacts = {
    links: [link(1, 'lo', 65536), link(2, 'eth0'), link(3, 'eth1', 9000)],
    addrs: [
      addr('lo', '127.0.0.1', {prefixlen: 8, scope: 'host'}),
      addr('eth0', '10.0.0.5'),
      addr('eth1', '10.1.0.5'),
    ],
    routes: [route('10.0.0.0/24', {dev: 'eth0'}), route('10.1.0.0/24', {dev: 'eth1'})],
  }

  test('multipath default route: flannel cannot tell the interface', () => {
    const mp = route('default', {
      gateway: '10.0.0.1',
      dev: 'eth0',
      nexthops: [
        {gateway: '10.0.0.1', dev: 'eth0', weight: 1, onlink: false},
        {gateway: '10.1.0.1', dev: 'eth1', weight: 1, onlink: false},
      ],
      raw: 'default',
    })
    const r = bad(chooseInterface({}, {...base, routes: [mp, ...base.routes]}))
    assert.equal(
      r.flannelMessage,
      'Failed to find any valid interface to use: failed to get default interface: found default route but could not determine interface',
    )
    assert.match(r.message, /multipath \(eth0, eth1\)/)
    // The same host works once the interface is named.
    assert.equal(ok(chooseInterface({iface: ['eth1']}, {...base, routes: [mp]})).mtu, 9000)
  })

  test('a blackhole default route names no interface either', () => {
    const r = bad(
      chooseInterface(
        {},
        {...base, routes: [route('default', {type: 'blackhole', raw: 'blackhole default'})]},
      ),
    )
    assert.match(r.flannelMessage, /found default route but could not determine interface$/)
  })

  test('the first default route of the main table counts, not one in another table', () => {
    const routes = [
      route('default', {dev: 'eth1', gateway: '10.1.0.1', table: '100'}),
      route('default', {dev: 'eth0', gateway: '10.0.0.1', metric: 100}),
      route('default', {dev: 'eth1', gateway: '10.1.0.1', metric: 200}),
    ]
    assert.equal(ok(chooseInterface({}, {...base, routes})).iface, 'eth0')
  })

  test('address order: global, permanent, non-temporary first; deprecated left out', () => {
    const addrs = [
      addr('eth0', '169.254.3.3', {scope: 'link', prefixlen: 16}),
      addr('eth0', '10.0.0.9', {flags: ['dynamic']}),
      addr('eth0', '10.0.0.8', {flags: ['secondary']}),
      addr('eth0', '10.0.0.7', {flags: ['deprecated']}),
      addr('eth0', '10.0.0.6'),
      addr('eth1', '10.1.0.5'),
      addr('eth0', 'fd00::6', {family: 'inet6'}),
    ]
    assert.deepEqual(ipv4AddrsInFlannelOrder('eth0', addrs), [
      '10.0.0.6',
      '10.0.0.8',
      '10.0.0.9',
      '169.254.3.3',
    ])
    const r = ok(chooseInterface({iface: ['eth0']}, {...base, addrs}))
    assert.equal(r.ifaceAddr, '10.0.0.6')
    // A deprecated address can still be named explicitly (flannel matches any address of the interface).
    assert.equal(ok(chooseInterface({iface: ['10.0.0.7']}, {...base, addrs})).ifaceAddr, '10.0.0.7')
  })

  test('only a link-local address: it will do', () => {
    const addrs = [addr('eth0', '169.254.9.9', {scope: 'link', prefixlen: 16})]
    assert.equal(ok(chooseInterface({iface: ['eth0']}, {...base, addrs})).ifaceAddr, '169.254.9.9')
  })

  test('an interface without IPv4 address is rejected', () => {
    const r = bad(chooseInterface({iface: ['eth0']}, {...base, addrs: []}))
    assert.ok(
      r.log.includes(
        'Could not find valid interface matching eth0: failed to find IPv4 address for interface eth0',
      ),
    )
  })

  test('MTU 0 rejects the interface (flannel names the address)', () => {
    const links = [link(2, 'eth0', 0), link(3, 'eth1', 9000)]
    const r = bad(chooseInterface({iface: ['eth0']}, {...base, links}))
    assert.ok(
      r.log.includes(
        'Could not find valid interface matching eth0: failed to determine MTU for 10.0.0.5 interface',
      ),
      r.log.join('\n'),
    )
    const d = bad(
      chooseInterface({}, {...base, links, routes: [route('default', {dev: 'eth0', gateway: '10.0.0.1'})]}),
    )
    assert.equal(
      d.flannelMessage,
      'Failed to find any valid interface to use: failed to determine MTU for 10.0.0.5 interface',
    )
    // The next candidate is tried.
    assert.equal(ok(chooseInterface({iface: ['eth0', 'eth1']}, {...base, links})).iface, 'eth1')
  })

  test('a public IP that is not an IP address', () => {
    const r = bad(chooseInterface({iface: ['eth0'], publicIP: 'not-an-ip'}, base))
    assert.ok(r.log.some((l) => l.endsWith('invalid public IP address: not-an-ip')))
  })

  test('an invalid regex is reported, the next one tried', () => {
    const r = ok(chooseInterface({ifaceRegex: ['(', 'eth1'] satisfies InterfaceOptions['ifaceRegex']}, base))
    assert.equal(r.iface, 'eth1')
    assert.ok(
      r.log.some((l) =>
        l.startsWith(
          "Could not find valid interface matching (: could not compile the IP address regex '(':",
        ),
      ),
    )
  })

  test('a Go inline flag works in a regex', () => {
    assert.equal(ok(chooseInterface({ifaceRegex: ['(?i)^ETH1$']}, base)).iface, 'eth1')
  })

  test('--iface-can-reach with no route at all', () => {
    const r = bad(chooseInterface({ifaceCanReach: '198.51.100.1'}, base))
    assert.match(r.message, /no route to --iface-can-reach 198\.51\.100\.1/)
  })
})
