import assert from 'node:assert/strict'
import {test} from 'node:test'

import {MESSAGES, entryFix, explain, goFormat, matchMessage} from '../../../src/checks/lib/messages.js'
import {CONTRACT_CHECK_IDS} from '../../support/contract.js'
import {fx} from './helpers.js'

const ids = (text: string): string[] =>
  explain(text).map((x) => `${x.line} ${x.entry.id} ${x.entry.check} ${JSON.stringify(x.captures)}`)

// Every check id a catalogue entry may point to (spec/checks.md).
const CHECK_IDS = new Set(CONTRACT_CHECK_IDS)

test('catalogue: unique ids, known check ids, a cause for each, fixes for every non-info entry', () => {
  assert.equal(new Set(MESSAGES.map((m) => m.id)).size, MESSAGES.length)
  for (const m of MESSAGES) {
    assert.ok(CHECK_IDS.has(m.check), `${m.id} → ${m.check}`)
    assert.match(m.cause, /\.$/, m.id)
    if (m.level !== 'info') assert.ok(entryFix(m, ['x', 'y', 'z']).length > 0, m.id)
    assert.equal(m.pattern.global, false, m.id)
  }
})

test('goFormat: Go verbs become groups, %q unquoted, literal text escaped', () => {
  const re = goFormat(
    "subnet %q specified in the flannel net config doesn't contain %q PodCIDR of the %q node",
  )
  const m = re.exec(
    'subnet "10.244.0.0/16" specified in the flannel net config doesn\'t contain "10.42.1.0/24" PodCIDR of the "w1" node',
  )
  assert.deepEqual(m?.slice(1), ['10.244.0.0/16', '10.42.1.0/24', 'w1'])
  assert.deepEqual(
    goFormat('Failed to setup masq rules, %v').exec('Failed to setup masq rules, exit status 4')?.slice(1),
    ['exit status 4'],
  )
  assert.equal(goFormat('a.b %s').test('aXb c'), false)
})

test('the real log captures map to their checks (facts §9, §4, §7.2, §10)', () => {
  assert.deepEqual(ids(fx('logs/flannel-1125-podcidr.log')), [
    '9 found-network-config netconf.schema ["vxlan"]',
    '11 pod-cidr-not-assigned kube.podcidr-assigned ["ip-172-31-23-54"]',
  ])
  assert.deepEqual(ids(fx('logs/flannel-728-podcidr-old.log')), [
    '1 pod-cidr-not-assigned kube.podcidr-assigned ["k8s-test-2.novalocal"]',
  ])
  assert.deepEqual(explain(fx('logs/flannel-728-podcidr-old.log'))[0]?.lines, [1, 2, 3, 4, 5, 6])
  assert.deepEqual(ids(fx('logs/kubelet-46-journal.log')), [
    '1 cni-subnet-env-missing-old node.subnet-env ["open /run/flannel/subnet.env: no such file or directory"]',
  ])
  assert.deepEqual(ids(fx('logs/flannel-2253-event.txt')), [
    '1 cni-subnet-env-missing-old node.subnet-env ["open /run/flannel/subnet.env: no such file or directory"]',
  ])
  assert.deepEqual(ids(fx('logs/flannel-676-docker-json.log')), ['1 rbac-no-access kube.rbac []'])
  assert.deepEqual(ids(fx('logs/puppet-k8s-126-forbidden.log')), [
    '1 rbac-forbidden kube.rbac ["system:serviceaccount:kube-system:flannel","get","pods"]',
  ])
  assert.deepEqual(ids(fx('logs/flannel-1797-unauthorized.log')), [
    '1 api-unauthorized kube.rbac ["kube-flannel/kube-flannel-ds-6s6vr"]',
  ])
  assert.deepEqual(ids(fx('logs/minikube-9046-cni0.txt')), [
    '1 cni0-address node.cni0 ["cni0","10.244.0.1/24"]',
  ])
  assert.deepEqual(ids(fx('logs/flannel-1279-dmesg.log')), [
    '1 udp-bad-checksum node.checksum-offload ["172.16.9.99","172.16.80.252","8472"]',
  ])
  assert.deepEqual(ids(fx('logs/kcli-769-br-netfilter.log')), [
    '1 br-netfilter node.sysctl ["stat /proc/sys/net/bridge/bridge-nf-call-iptab"]',
  ])
  assert.deepEqual(ids(fx('logs/tkestack-1279-addr-in-use.log')), [
    '2 found-network-config netconf.schema ["vxlan"]',
    '4 configure-interface node.vxlan-device ["flannel.1","failed to set interface flannel.1 to UP state: address already in use"]',
  ])
})

test('the texts of flannel-facts §9/§4/§7.2 as flannel prints them', () => {
  const cases: [string, string, string][] = [
    [
      'Failed to check br_netfilter: stat /proc/sys/net/bridge/bridge-nf-call-iptables: no such file or directory',
      'br-netfilter',
      'node.sysctl',
    ],
    [
      'Failed to create SubnetManager: failed to read net conf: open /etc/kube-flannel/net-conf.json: no such file or directory',
      'read-net-conf',
      'netconf.present',
    ],
    [
      "Failed to create SubnetManager: error parsing subnet config: invalid character '#' looking for beginning of object key string",
      'net-conf-json-syntax',
      'netconf.json-syntax',
    ],
    [
      'Failed to create SubnetManager: error parsing subnet config: json: cannot unmarshal string into Go struct field Config.SubnetLen of type uint',
      'net-conf-schema',
      'netconf.schema',
    ],
    ['Error fetching backend: unknown backend type: aws-vpc', 'unknown-backend-type', 'netconf.schema'],
    [
      'Error registering network: failed to acquire lease: subnet "10.244.0.0/16" specified in the flannel net config doesn\'t contain "10.42.1.0/24" PodCIDR of the "w1" node',
      'podcidr-not-in-network',
      'kube.podcidr-in-network',
    ],
    [
      'Error registering network: failed to create vxlan device: operation not permitted',
      'vxlan-create',
      'node.vxlan-device',
    ],
    ['AddFDB failed: no such device', 'add-arp-fdb', 'node.peers'],
    ['Failed to setup masq rules, exit status 4', 'masq-rules', 'node.masquerade'],
    [
      'plugin type="flannel" failed (add): failed to load flannel \'subnet.env\' file: open /run/flannel/subnet.env: no such file or directory. Check the flannel pod log for this node.',
      'cni-subnet-env-missing',
      'node.subnet-env',
    ],
    [
      '/run/flannel/subnet.env is missing FLANNEL_MTU, FLANNEL_IPMASQ',
      'cni-subnet-env-keys',
      'node.subnet-env',
    ],
    [
      "'delegate' dictionary must not have 'name' field, it'll be set by flannel",
      'cni-delegate-field',
      'cni.config',
    ],
    ['config error, password is too short', 'ipsec-psk-short', 'netconf.schema'],
    [
      '"flannel.1" already exists with incompatible configuration: vxlan id; recreating device',
      'vxlan-incompatible',
      'node.vxlan-device',
    ],
    [
      "flannel.1's mac address wanted: 0a:58:0a:f4:01:00, but got: 0e:11:22:33:44:55",
      'vxlan-mac-mismatch',
      'node.vxlan-device',
    ],
  ]
  for (const [text, id, checkId] of cases) {
    const hit = matchMessage(text)
    assert.equal(hit?.entry.id, id, text)
    assert.equal(hit?.entry.check, checkId, text)
  }
  assert.deepEqual(matchMessage('/run/flannel/subnet.env is missing FLANNEL_MTU, FLANNEL_IPMASQ')?.captures, [
    '/run/flannel/subnet.env',
    'FLANNEL_MTU, FLANNEL_IPMASQ',
  ])
  assert.deepEqual(
    entryFix(matchMessage("'delegate' dictionary must not have 'ipam' field")!.entry, ['ipam']),
    ['# remove "ipam" from "delegate" in /etc/cni/net.d/10-flannel.conflist (ConfigMap key cni-conf.json)'],
  )
})

test('healthy messages are recognised at info level; unrelated text is not explained', () => {
  const healthy = [
    'I0529 10:32:01.123456       1 main.go:436] Wrote subnet file to /run/flannel/subnet.env',
    'I0529 10:32:01.123500       1 main.go:440] flannel is ready',
  ]
  assert.deepEqual(
    explain(healthy.join('\n')).map((x) => [x.entry.id, x.entry.level]),
    [
      ['wrote-subnet-file', 'info'],
      ['flannel-ready', 'info'],
    ],
  )
  assert.deepEqual(explain(fx('logs/flannel-1125-podcidr.log').split('\n').slice(0, 8).join('\n')), [])
})

test('flannel cannot GET its node for the stored VtepMAC → kube.rbac', () => {
  const [x] = explain(
    'E1125 10:00:00.000000       1 vxlan.go:144] Failed to get node for backend data: nodes "node-1" is forbidden: User "system:serviceaccount:kube-flannel:flannel" cannot get resource "nodes"',
  )
  assert.equal(x?.entry.check, 'kube.rbac')
  assert.equal(x?.entry.level, 'error')
})
