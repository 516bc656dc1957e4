/**
 * flannel's message catalogue: the texts flanneld, the flannel CNI plugin, the bridge plugin, kubelet, the API
 * server and the kernel print when flannel networking breaks (flannel-facts §4, §7.2, §8, §9, §10), each with
 * the check that covers its cause. `logs.known-errors` and `flannelctl explain` share `explain()`.
 *
 * Patterns match the message text only (file:line prefixes of flanneld changed between releases, so they are
 * never part of a pattern); Go format verbs become capture groups (`%q` → the quoted value without quotes).
 * Entries are ordered most specific first: a line is explained by the first entry that matches it, so
 * `Failed to create SubnetManager: ... is forbidden ...` is an RBAC problem, not a generic start-up failure.
 */
import type {Severity} from '../types.js'
import {normalizeLogLine} from '../../parse/logs.js'

export type MessageSource =
  'flanneld' | 'flannel CNI plugin' | 'bridge plugin' | 'kubelet' | 'API server' | 'kernel'

export interface MessageEntry {
  id: string
  /** The message as its program writes it, Go verbs kept (`node %q pod cidr not assigned`). */
  message: string
  pattern: RegExp
  /** `info` entries are healthy or benign messages: recognised, never a failure. */
  level: Severity
  /** The check id that covers the cause (`logs.known-errors` when no other check can see it). */
  check: string
  source: MessageSource
  /** One sentence: why this is printed. */
  cause: string
  /** Commands a person can paste (lines starting with `#` are instructions). */
  fix: string[] | ((captures: string[]) => string[])
}

export interface Explanation {
  /** 1-based line of the first occurrence. */
  line: number
  /** The message text of that line (prefixes removed). */
  text: string
  /** The line as given. */
  raw: string
  entry: MessageEntry
  captures: string[]
  /** Every line with the same entry and captures (first included). */
  lines: number[]
}

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/**
 * A RegExp from a Go format string: literal text escaped, `%q` → `"(...)"`, `%d` → `(\d+)`, `%s`/`%v` → a lazy
 * group, or a greedy one when the verb ends the message (the rest of the line is the error value).
 */
export function goFormat(fmt: string, flags = ''): RegExp {
  const parts = fmt.split(/(%[qsvd])/)
  let re = ''
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i] as string
    const last = parts.slice(i + 1).every((x) => x === '')
    if (p === '%q') re += '"((?:[^"\\\\]|\\\\.)*)"'
    else if (p === '%d') re += '(\\d+)'
    else if (p === '%s' || p === '%v') re += last ? '(.*)' : '(.+?)'
    else re += esc(p)
  }
  return new RegExp(re, flags)
}

const FLANNEL_POD_RESTART = [
  'kubectl -n kube-flannel delete pod -l app=flannel --field-selector spec.nodeName=$(hostname)',
]
const REAPPLY_MANIFEST = [
  'kubectl apply -f https://github.com/flannel-io/flannel/releases/latest/download/kube-flannel.yml',
]

const e = (x: MessageEntry): MessageEntry => x

/** The catalogue, most specific first. */
export const MESSAGES: readonly MessageEntry[] = [
  // ---- healthy / benign (flannel-facts §9, level I) ----
  e({
    id: 'flannel-ready',
    message: 'flannel is ready',
    pattern: /^flannel is ready\b|\bflannel is ready$/,
    level: 'info',
    check: 'kube.daemonset-ready',
    source: 'flanneld',
    cause: 'flanneld finished start-up: rules are set and subnet.env is written.',
    fix: [],
  }),
  e({
    id: 'wrote-subnet-file',
    message: 'Wrote subnet file to %s',
    pattern: goFormat('Wrote subnet file to %s'),
    level: 'info',
    check: 'node.subnet-env',
    source: 'flanneld',
    cause: 'flanneld wrote subnet.env; the CNI plugin can now set up pods on this node.',
    fix: [],
  }),
  e({
    id: 'found-network-config',
    message: 'Found network config - Backend type: %s',
    pattern: goFormat('Found network config - Backend type: %s'),
    level: 'info',
    check: 'netconf.schema',
    source: 'flanneld',
    cause: 'net-conf.json was accepted and names this backend.',
    fix: [],
  }),
  e({
    id: 'no-subnet-found-for-key',
    message: 'no subnet found for key: %s in file: %s',
    pattern: goFormat('no subnet found for key: %s in file: %s'),
    level: 'info',
    check: 'node.subnet-env',
    source: 'flanneld',
    cause: 'flanneld found no previous subnet.env value for this key; normal on the first start of a node.',
    fix: [],
  }),
  e({
    id: 'iptables-rules-missing',
    message: 'Some iptables rules are missing; deleting and recreating rules',
    pattern: /Some iptables rules are missing; deleting and recreating rules/,
    level: 'info',
    check: 'node.forward-policy',
    source: 'flanneld',
    cause:
      "something (firewalld, a firewall script, another CNI) flushed flannel's iptables rules; flannel re-adds them every 5 s, so it repeats while that tool keeps flushing.",
    fix: ['systemctl status firewalld', 'iptables-save | grep -n FLANNEL'],
  }),

  // ---- net-conf.json (flannel-facts §1) ----
  e({
    id: 'read-net-conf',
    message: 'failed to read net conf: %v',
    pattern: goFormat('failed to read net conf: %v'),
    level: 'error',
    check: 'netconf.present',
    source: 'flanneld',
    cause:
      'net-conf.json is missing or unreadable at --net-config-path (ConfigMap kube-flannel-cfg not mounted, or a wrong path).',
    fix: ['kubectl -n kube-flannel get configmap kube-flannel-cfg -o yaml', ...REAPPLY_MANIFEST],
  }),
  e({
    id: 'net-conf-json-syntax',
    message: 'error parsing subnet config: %s (JSON syntax)',
    pattern:
      /error parsing subnet config: ((?:invalid character|unexpected end of JSON input|looking for beginning)[^\n]*)/,
    level: 'error',
    check: 'netconf.json-syntax',
    source: 'flanneld',
    cause: 'net-conf.json is not strict JSON (a comment, a trailing comma, single quotes, smart quotes).',
    fix: [
      'kubectl -n kube-flannel edit configmap kube-flannel-cfg   # fix the JSON in data["net-conf.json"]',
      ...FLANNEL_POD_RESTART,
    ],
  }),
  e({
    id: 'backend-not-object',
    message: 'error decoding Backend property of config: %v',
    pattern: goFormat('error decoding Backend property of config: %v'),
    level: 'error',
    check: 'netconf.schema',
    source: 'flanneld',
    cause: '"Backend" in net-conf.json is not a JSON object.',
    fix: [
      'kubectl -n kube-flannel edit configmap kube-flannel-cfg   # "Backend": {"Type": "vxlan"}',
      ...FLANNEL_POD_RESTART,
    ],
  }),
  e({
    id: 'net-conf-schema',
    message: 'error parsing subnet config: %s',
    pattern: goFormat('error parsing subnet config: %s'),
    level: 'error',
    check: 'netconf.schema',
    source: 'flanneld',
    cause: 'net-conf.json is JSON but a value has the wrong type or is not a valid CIDR/IP.',
    fix: ['kubectl -n kube-flannel edit configmap kube-flannel-cfg', ...FLANNEL_POD_RESTART],
  }),
  e({
    id: 'unknown-backend-type',
    message: 'unknown backend type: %v',
    pattern: goFormat('unknown backend type: %v'),
    level: 'error',
    check: 'netconf.schema',
    source: 'flanneld',
    cause:
      'Backend.Type is not a registered backend (aws-vpc, gce and ali-vpc were removed in v0.20.0; "" when Type is missing).',
    fix: [
      'kubectl -n kube-flannel edit configmap kube-flannel-cfg   # "Type": "vxlan" (or host-gw, wireguard)',
      ...FLANNEL_POD_RESTART,
    ],
  }),
  e({
    id: 'backend-config-decode',
    message: 'error decoding %s backend config: %v',
    pattern: /error decoding (?:(VXLAN|IPSEC|UDP|IPIP) )?backend config: (.*)/,
    level: 'error',
    check: 'netconf.schema',
    source: 'flanneld',
    cause:
      'an option under "Backend" has the wrong JSON type (e.g. "VNI": "1" instead of 1, "DirectRouting": "true").',
    fix: ['kubectl -n kube-flannel edit configmap kube-flannel-cfg', ...FLANNEL_POD_RESTART],
  }),
  e({
    id: 'ipsec-psk-short',
    message: 'config error, password is too short',
    pattern: /config error, password is too short/,
    level: 'error',
    check: 'netconf.schema',
    source: 'flanneld',
    cause: 'the ipsec backend needs a PSK of at least 96 characters.',
    fix: ['openssl rand -hex 48   # put the result in Backend.PSK of net-conf.json', ...FLANNEL_POD_RESTART],
  }),
  e({
    id: 'wireguard-psk',
    message: 'could not parse psk: %v',
    pattern: goFormat('could not parse psk: %v'),
    level: 'error',
    check: 'netconf.schema',
    source: 'flanneld',
    cause: 'the wireguard PSK is not a base64 WireGuard key.',
    fix: ['wg genpsk   # put the result in Backend.PSK of net-conf.json', ...FLANNEL_POD_RESTART],
  }),
  e({
    id: 'wireguard-mode',
    message: 'no valid Mode configured',
    pattern: /no valid Mode configured/,
    level: 'error',
    check: 'netconf.schema',
    source: 'flanneld',
    cause: 'Backend.Mode of the wireguard backend is not separate, auto, ipv4 or ipv6.',
    fix: [
      'kubectl -n kube-flannel edit configmap kube-flannel-cfg   # "Mode": "separate"',
      ...FLANNEL_POD_RESTART,
    ],
  }),
  e({
    id: 'none-defined-stack',
    message: 'none defined stack',
    pattern: /\bnone defined stack\b/,
    level: 'error',
    check: 'netconf.schema',
    source: 'flanneld',
    cause: 'both EnableIPv4 and EnableIPv6 are false in net-conf.json.',
    fix: [
      'kubectl -n kube-flannel edit configmap kube-flannel-cfg   # "EnableIPv4": true',
      ...FLANNEL_POD_RESTART,
    ],
  }),
  e({
    id: 'windows-vxlan-config',
    message: 'invalid VXLAN backend config. %s',
    pattern: /invalid VXLAN backend config\.\s*(.*)/,
    level: 'error',
    check: 'netconf.platform',
    source: 'flanneld',
    cause:
      'a vxlan option Windows does not support (VNI < 4096, Port other than 4789, DirectRouting, GBP, bad MacPrefix).',
    fix: ['kubectl -n kube-flannel edit configmap kube-flannel-cfg'],
  }),
  e({
    id: 'udp-unsupported-arch',
    message: 'UDP backend is not supported on this architecture',
    pattern: /UDP backend is not supported on this architecture/,
    level: 'error',
    check: 'netconf.platform',
    source: 'flanneld',
    cause: 'the udp backend (also the default when "Backend" is missing) exists only on amd64.',
    fix: [
      'kubectl -n kube-flannel edit configmap kube-flannel-cfg   # "Backend": {"Type": "vxlan"}',
      ...FLANNEL_POD_RESTART,
    ],
  }),
  e({
    id: 'couldnt-fetch-network-config',
    message: "Couldn't fetch network config: %v",
    pattern: goFormat("Couldn't fetch network config: %v"),
    level: 'error',
    check: 'netconf.present',
    source: 'flanneld',
    cause: 'etcd mode: the config key <prefix>/config is missing or etcd is unreachable.',
    fix: ['etcdctl get /coreos.com/network/config'],
  }),

  // ---- Kubernetes: podCIDR (flannel-facts §1.5, §7.1) ----
  e({
    id: 'pod-cidr-not-assigned',
    message: 'node %q pod cidr not assigned',
    pattern: goFormat('node %q pod cidr not assigned'),
    level: 'error',
    check: 'kube.podcidr-assigned',
    source: 'flanneld',
    cause:
      'the node has no spec.podCIDR: the controller-manager does not allocate node CIDRs (kubeadm init without --pod-network-cidr).',
    fix: (c) => [
      `kubectl get node ${c[0] ?? 'NODE'} -o jsonpath='{.spec.podCIDR}'`,
      '# kubeadm: kubeadm init --pod-network-cidr=10.244.0.0/16; otherwise kube-controller-manager --allocate-node-cidrs=true --cluster-cidr=10.244.0.0/16',
      `kubectl patch node ${c[0] ?? 'NODE'} -p '{"spec":{"podCIDR":"10.244.N.0/24","podCIDRs":["10.244.N.0/24"]}}'   # a free /24 inside Network`,
    ],
  }),
  e({
    id: 'pod-cidrs-family',
    message: 'node %q pod cidrs should be IPv4/IPv6 only or dualstack',
    pattern: goFormat('node %q pod cidrs should be IPv4/IPv6 only or dualstack'),
    level: 'error',
    check: 'kube.podcidr-assigned',
    source: 'flanneld',
    cause: 'the node has more than two podCIDRs or two of the same family.',
    fix: (c) => [`kubectl get node ${c[0] ?? 'NODE'} -o jsonpath='{.spec.podCIDRs}'`],
  }),
  e({
    id: 'podcidr-not-in-network',
    message: "subnet %q specified in the flannel net config doesn't contain %q PodCIDR of the %q node",
    pattern:
      /subnet "([^"]*)" specified in the flannel net config doesn't contain "([^"]*)" (?:IPv6 )?PodCIDR of the "([^"]*)" node/,
    level: 'error',
    check: 'kube.podcidr-in-network',
    source: 'flanneld',
    cause:
      'net-conf.json "Network" (or IPv6Network) is not the cluster CIDR the controller-manager gives nodes their podCIDR from.',
    fix: (c) => [
      `# set "Network" in net-conf.json to the cluster CIDR that contains ${c[1] ?? 'the podCIDR'} (kubeadm: --pod-network-cidr)`,
      'kubectl -n kube-flannel edit configmap kube-flannel-cfg',
      ...FLANNEL_POD_RESTART,
    ],
  }),
  e({
    id: 'lease-has-no-family',
    message: 'failed to configure interface %s: IPv%d is enabled but the lease has no IPv%d',
    pattern: /failed to configure interface (\S+): IPv([46]) is enabled but the lease has no IPv[46]/,
    level: 'error',
    check: 'kube.podcidr-assigned',
    source: 'flanneld',
    cause:
      'net-conf.json enables a family the node has no podCIDR for (EnableIPv6 without an IPv6 podCIDR, or IPv4 on an IPv6-only node).',
    fix: ['kubectl get nodes -o custom-columns=NAME:.metadata.name,PODCIDRS:.spec.podCIDRs'],
  }),

  // ---- Kubernetes: RBAC and API (flannel-facts §7.1, §7.2) ----
  e({
    id: 'rbac-forbidden',
    message: '%s is forbidden: User %q cannot %s resource %q ...',
    pattern: /is forbidden: User "([^"]*)" cannot (\w+) resource "([^"]*)"/,
    level: 'error',
    check: 'kube.rbac',
    source: 'API server',
    cause:
      'the flannel ServiceAccount lacks a permission it needs (get pods, get/list/watch nodes, patch nodes/status).',
    fix: (c) => [
      `kubectl auth can-i ${c[1] ?? 'get'} ${c[2] ?? 'pods'} --as=${c[0] ?? 'system:serviceaccount:kube-flannel:flannel'}`,
      ...REAPPLY_MANIFEST,
    ],
  }),
  e({
    id: 'rbac-no-access',
    message: 'the server does not allow access to the requested resource',
    pattern: /the server does not allow access to the requested resource/,
    level: 'error',
    check: 'kube.rbac',
    source: 'API server',
    cause: 'RBAC denies the flannel ServiceAccount (older API servers word a 403 this way).',
    fix: ['kubectl auth can-i get pods --as=system:serviceaccount:kube-flannel:flannel', ...REAPPLY_MANIFEST],
  }),
  e({
    id: 'api-unauthorized',
    message: "error retrieving pod spec for '%s/%s': Unauthorized",
    pattern: /error retrieving pod spec for '([^']*)': Unauthorized/,
    level: 'error',
    check: 'kube.rbac',
    source: 'API server',
    cause:
      'the API server rejected the ServiceAccount token itself (401): a stale token or a cluster rebuilt under a running pod.',
    fix: ['kubectl -n kube-flannel delete pod -l app=flannel', ...REAPPLY_MANIFEST],
  }),
  e({
    id: 'api-unreachable',
    message: "error retrieving pod spec for '%s/%s': dial tcp ...",
    pattern:
      /error retrieving pod spec for '([^']*)': .*?(dial tcp [^:]+:\d+: (?:i\/o timeout|connect: (?:connection refused|no route to host)))/,
    level: 'error',
    check: 'kube.daemonset-ready',
    source: 'flanneld',
    cause:
      'the API server (usually the kubernetes Service VIP) is unreachable from the node: kube-proxy not running yet, or a firewall.',
    fix: [
      'kubectl -n kube-system get pods -l k8s-app=kube-proxy -o wide',
      'iptables-save -t nat | grep -c KUBE-SERVICES',
    ],
  }),
  e({
    id: 'retrieving-pod-spec',
    message: "error retrieving pod spec for '%s/%s': %v",
    pattern: /error retrieving pod spec for '([^']*)': (.*)/,
    level: 'error',
    check: 'kube.rbac',
    source: 'flanneld',
    cause:
      'flanneld could not GET its own pod to learn the node name (RBAC "get pods", or the API is unreachable).',
    fix: ['kubectl auth can-i get pods --as=system:serviceaccount:kube-flannel:flannel -n kube-flannel'],
  }),
  e({
    id: 'pod-name-env',
    message: 'env variables POD_NAME and POD_NAMESPACE must be set',
    pattern: /env variables POD_NAME and POD_NAMESPACE must be set/,
    level: 'error',
    check: 'kube.daemonset-ready',
    source: 'flanneld',
    cause:
      'flanneld runs with --kube-subnet-mgr outside the manifest and has neither NODE_NAME nor POD_NAME/POD_NAMESPACE.',
    fix: ["# set NODE_NAME=$(hostname) in flanneld's environment, or run it from kube-flannel.yml"],
  }),
  e({
    id: 'patch-node-timeout',
    message: 'timeout contacting kube-api, failed to patch node %q. Error: %v',
    pattern: goFormat('timeout contacting kube-api, failed to patch node %q. Error: %v'),
    level: 'error',
    check: 'kube.rbac',
    source: 'flanneld',
    cause:
      'flanneld could not find or patch its node for 30 s (node not in the informer cache, or PATCH nodes/status denied).',
    fix: (c) => [
      `kubectl get node ${c[0] ?? 'NODE'}`,
      'kubectl auth can-i patch nodes --subresource=status --as=system:serviceaccount:kube-flannel:flannel',
    ],
  }),
  e({
    id: 'get-node-backend-data',
    message: 'Failed to get node for backend data: %v',
    pattern: goFormat('Failed to get node for backend data: %v'),
    level: 'error',
    check: 'kube.rbac',
    source: 'flanneld',
    cause:
      'flanneld could not GET its own node to reuse the VtepMAC stored in backend-data (RBAC without `get nodes`, as manifests before v0.20 granted only list/watch, or the API unreachable).',
    fix: [
      'kubectl auth can-i get nodes --as=system:serviceaccount:kube-flannel:flannel',
      'kubectl apply -f https://github.com/flannel-io/flannel/releases/latest/download/kube-flannel.yml',
    ],
  }),
  e({
    id: 'node-controller-sync',
    message: 'Node controller sync not completed within 1s: %v',
    pattern: goFormat('Node controller sync not completed within 1s: %v'),
    level: 'error',
    check: 'kube.rbac',
    source: 'flanneld',
    cause:
      'the node informer did not sync within 10 minutes (list/watch nodes denied, or the API is unreachable); the "1s" in the text is misleading.',
    fix: ['kubectl auth can-i list nodes --as=system:serviceaccount:kube-flannel:flannel'],
  }),
  e({
    id: 'lease-revoked',
    message: 'Lease has been revoked. Shutting down daemon.',
    pattern: /Lease has been revoked\. Shutting down daemon\./,
    level: 'error',
    check: 'kube.daemonset-ready',
    source: 'flanneld',
    cause: 'etcd mode: the subnet lease key was deleted or expired.',
    fix: ['etcdctl get --prefix /coreos.com/network/subnets'],
  }),
  e({
    id: 'renew-margin',
    message: 'Invalid subnet-lease-renew-margin option, out of acceptable range',
    pattern: /Invalid subnet-lease-renew-margin option, out of acceptable range/,
    level: 'error',
    check: 'kube.daemonset-ready',
    source: 'flanneld',
    cause: '--subnet-lease-renew-margin is outside 1..1439 minutes.',
    fix: ['# remove --subnet-lease-renew-margin or set it between 1 and 1439'],
  }),
  e({
    id: 'subnet-manager',
    message: 'Failed to create SubnetManager: %v',
    pattern: goFormat('Failed to create SubnetManager: %v'),
    level: 'error',
    check: 'kube.daemonset-ready',
    source: 'flanneld',
    cause:
      'flanneld could not start its Kubernetes or etcd subnet manager (the text after the colon says why).',
    fix: ['kubectl -n kube-flannel logs -l app=flannel --tail=50'],
  }),

  // ---- interface selection (flannel-facts §8) ----
  e({
    id: 'no-valid-interface',
    message: 'Failed to find any valid interface to use: %v',
    pattern: goFormat('Failed to find any valid interface to use: %v'),
    level: 'error',
    check: 'node.interface',
    source: 'flanneld',
    cause: 'no --iface given and the default route has no usable interface/address.',
    fix: ['ip route show default', '# or pass --iface=<interface> to flanneld (DaemonSet args)'],
  }),
  e({
    id: 'iface-flags-no-match',
    message: 'Failed to find interface to use that matches the interfaces and/or regexes provided',
    pattern: /Failed to find interface to use that matches the interfaces and\/or regexes provided/,
    level: 'error',
    check: 'node.interface',
    source: 'flanneld',
    cause: '--iface / --iface-regex name interfaces or addresses that do not exist on this node.',
    fix: [
      'ip -br addr',
      "kubectl -n kube-flannel get ds kube-flannel-ds -o jsonpath='{.spec.template.spec.containers[0].args}'",
    ],
  }),
  e({
    id: 'iface-no-match',
    message: 'Could not find valid interface matching %s: %s',
    pattern: goFormat('Could not find valid interface matching %s: %s'),
    level: 'warning',
    check: 'node.interface',
    source: 'flanneld',
    cause: 'one --iface value matched nothing; flanneld tries the next one.',
    fix: ['ip -br addr'],
  }),
  e({
    id: 'iface-regex-no-match',
    message: 'could not match pattern %s to any of the available network interfaces (%s)',
    pattern: goFormat('could not match pattern %s to any of the available network interfaces (%s)'),
    level: 'error',
    check: 'node.interface',
    source: 'flanneld',
    cause: 'an --iface-regex matched no interface address or name.',
    fix: ['ip -br addr'],
  }),
  e({
    id: 'iface-mtu',
    message: 'failed to determine MTU for %s interface',
    pattern: goFormat('failed to determine MTU for %s interface'),
    level: 'error',
    check: 'node.mtu',
    source: 'flanneld',
    cause: 'the chosen interface reports MTU 0.',
    fix: ['ip link show'],
  }),
  e({
    id: 'hostgw-nat',
    message:
      "your PublicIP differs from interface IP, meaning that probably you're on a NAT, which is not supported by host-gw backend",
    pattern: /your PublicIP differs from interface IP, meaning that probably you're on a NAT/,
    level: 'error',
    check: 'node.interface',
    source: 'flanneld',
    cause:
      "host-gw routes pod traffic to the peers' addresses directly, so --public-ip must be the interface's own address.",
    fix: ['# drop --public-ip / the public-ip-overwrite annotation, or use the vxlan backend across NAT'],
  }),

  // ---- vxlan device and peers (flannel-facts §3) ----
  e({
    id: 'vxlan-mac-mismatch',
    message: "%s's mac address wanted: %s, but got: %v",
    pattern: /(\S+)'s mac address wanted: (\S+), but got: (\S+)/,
    level: 'error',
    check: 'node.vxlan-device',
    source: 'flanneld',
    cause:
      "systemd-networkd/udev (MACAddressPolicy=persistent) or NetworkManager rewrote the vxlan device's MAC after flannel set it.",
    fix: [
      "printf '[Match]\\nOriginalName=flannel*\\n\\n[Link]\\nMACAddressPolicy=none\\n' > /etc/systemd/network/10-flannel.link",
      ...FLANNEL_POD_RESTART,
    ],
  }),
  e({
    id: 'vxlan-create',
    message: 'failed to create vxlan device: %v',
    pattern: goFormat('failed to create vxlan device: %v'),
    level: 'error',
    check: 'node.vxlan-device',
    source: 'flanneld',
    cause:
      'the kernel refused the vxlan link: no NET_ADMIN, the vxlan module missing, or the VNI/UDP port already taken by another device.',
    fix: ['modprobe vxlan', 'ip -d link show type vxlan'],
  }),
  e({
    id: 'vxlan-incompatible',
    message: '%q already exists with incompatible configuration: %v; recreating device',
    pattern: /"([^"]*)" already exists with incompatible configuration: (.*?); recreating device/,
    level: 'warning',
    check: 'node.vxlan-device',
    source: 'flanneld',
    cause:
      'the existing vxlan device had another VNI, port, local IP or GBP setting; flannel deleted and recreated it.',
    fix: (c) => [`ip -d link show ${c[0] ?? 'flannel.1'}`],
  }),
  e({
    id: 'configure-interface',
    message: 'failed to configure interface %s: %v',
    pattern: goFormat('failed to configure interface %s: %v'),
    level: 'error',
    check: 'node.vxlan-device',
    source: 'flanneld',
    cause:
      'flannel could not address or bring up its tunnel device (e.g. "address already in use": another CNI\'s vxlan device holds the UDP port).',
    fix: (c) => [
      `ip -d link show ${c[0] ?? 'flannel.1'}`,
      'ip -d link show type vxlan   # delete leftovers such as cilium_vxlan',
    ],
  }),
  e({
    id: 'netlink-subscribe',
    message: 'failed to subscribe to netlink: %v',
    pattern: goFormat('failed to subscribe to netlink: %v'),
    level: 'error',
    check: 'node.vxlan-device',
    source: 'flanneld',
    cause: 'flanneld could not watch netlink for its vxlan device and exited.',
    fix: FLANNEL_POD_RESTART,
  }),
  e({
    id: 'vxlan-recreate',
    message: 'failed to recreate vxlan: %v',
    pattern: goFormat('failed to recreate vxlan: %v'),
    level: 'error',
    check: 'node.vxlan-device',
    source: 'flanneld',
    cause: 'the vxlan device was deleted and flannel could not rebuild it.',
    fix: FLANNEL_POD_RESTART,
  }),
  e({
    id: 'add-arp-fdb',
    message: 'AddARP failed: %v / AddFDB failed: %v',
    pattern: /(AddARP|AddFDB) failed: (.*)/,
    level: 'error',
    check: 'node.peers',
    source: 'flanneld',
    cause:
      'flannel could not add the neighbour or FDB entry for a peer (no NET_ADMIN, or the device vanished).',
    fix: ['ip neigh show dev flannel.1', 'bridge fdb show dev flannel.1'],
  }),
  e({
    id: 'add-vxlan-route',
    message: 'failed to add vxlanRoute (%s -> %s): %v',
    pattern: /failed to add vxlanRoute \((\S+) -> (\S+)\): (.*)/,
    level: 'error',
    check: 'node.peers',
    source: 'flanneld',
    cause: "the route to a peer's subnet could not be added (often a conflicting route for the same prefix).",
    fix: (c) => [`ip route show ${c[0] ?? ''}`.trim()],
  }),
  e({
    id: 'direct-route',
    message: 'Error adding route to %v via %v: %v',
    pattern: goFormat('Error adding route to %v via %v: %v'),
    level: 'error',
    check: 'node.peers',
    source: 'flanneld',
    cause: 'a DirectRouting/host-gw route to a peer subnet could not be added.',
    fix: (c) => [`ip route get ${c[1] ?? 'PEER'}`, `ip route show ${c[0] ?? ''}`.trim()],
  }),
  e({
    id: 'old-add-l2',
    message: 'Add L2 failed',
    pattern: /\bAdd L2 failed\b/,
    level: 'error',
    check: 'node.peers',
    source: 'flanneld',
    cause: 'an old flannel (before static FDB entries) could not program a peer; upgrade flannel.',
    fix: REAPPLY_MANIFEST,
  }),
  e({
    id: 'non-vxlan-lease',
    message: 'ignoring non-vxlan v4Subnet(%s) v6Subnet(%s): type=%v',
    pattern: /ignoring non-vxlan v4Subnet\((.*?)\) v6Subnet\((.*?)\): type=(\S*)/,
    level: 'warning',
    check: 'kube.flannel-annotations',
    source: 'flanneld',
    cause: 'another node runs flannel with a different backend, so this node cannot reach its pods.',
    fix: [
      'kubectl get nodes -o custom-columns=NAME:.metadata.name,BACKEND:.metadata.annotations.flannel\\.alpha\\.coreos\\.com/backend-type',
    ],
  }),
  e({
    id: 'lease-json',
    message: 'error decoding subnet lease JSON: %v',
    pattern: goFormat('error decoding subnet lease JSON: %v'),
    level: 'error',
    check: 'kube.flannel-annotations',
    source: 'flanneld',
    cause: "a peer's backend-data annotation is not valid JSON.",
    fix: ['kubectl get nodes -o yaml | grep backend-data'],
  }),
  e({
    id: 'node-to-lease',
    message: 'Error turning node %q to lease: %v',
    pattern: goFormat('Error turning node %q to lease: %v'),
    level: 'warning',
    check: 'kube.flannel-annotations',
    source: 'flanneld',
    cause: "a node's flannel annotations (public-ip, backend-data) or podCIDRs are missing or malformed.",
    fix: (c) => [`kubectl get node ${c[0] ?? 'NODE'} -o yaml`],
  }),

  // ---- traffic rules (flannel-facts §5) ----
  e({
    id: 'masq-rules',
    message: 'Failed to setup masq rules, %v',
    pattern: /Failed to setup masq rules, (.*)/,
    level: 'error',
    check: 'node.masquerade',
    source: 'flanneld',
    cause: 'flanneld could not install its FLANNEL-POSTRTG masquerade rules and exited.',
    fix: ['iptables-save -t nat | grep FLANNEL', 'iptables --version'],
  }),
  e({
    id: 'old-ip-masquerade',
    message: 'Failed to set up IP Masquerade',
    pattern: /Failed to set up IP Masquerade/,
    level: 'error',
    check: 'node.masquerade',
    source: 'flanneld',
    cause: 'an old flannel could not install its masquerade rules; upgrade flannel.',
    fix: REAPPLY_MANIFEST,
  }),
  e({
    id: 'iptables-missing',
    message: 'Failed to setup IPTables. iptables binary was not found: %v',
    pattern: /[Ff]ailed to setup IPTables\. iptables binary was not found: (.*)/,
    level: 'error',
    check: 'node.iptables-backends',
    source: 'flanneld',
    cause:
      "iptables/ip6tables are not in flanneld's PATH (they are needed even in nftables mode, for cleanup).",
    fix: ['command -v iptables ip6tables iptables-restore'],
  }),
  e({
    id: 'iptables-restore',
    message: 'Failed to bootstrap IPTables: %v / Failed to ensure iptables rules: %v',
    pattern: /Failed to (?:bootstrap IPTables|ensure iptables rules): (.*)/,
    level: 'error',
    check: 'node.iptables-backends',
    source: 'flanneld',
    cause: 'iptables-restore failed: the xtables lock is held, or legacy and nf_tables iptables are mixed.',
    fix: ['iptables --version', 'iptables-legacy-save | head; iptables-nft-save | head'],
  }),
  e({
    id: 'nft-missing',
    message: 'no nftables support: %v',
    pattern: /no nftables support: (.*)|nftables: couldn't initialise table (\S+): (.*)/,
    level: 'error',
    check: 'node.iptables-backends',
    source: 'flanneld',
    cause: "EnableNFTables is set but nft or the kernel's nf_tables is missing.",
    fix: ['modprobe nf_tables', 'nft list tables'],
  }),
  e({
    id: 'nft-forward',
    message: "nftables: couldn't setup forward rules: %v",
    pattern: goFormat("nftables: couldn't setup forward rules: %v"),
    level: 'error',
    check: 'node.forward-policy',
    source: 'flanneld',
    cause: "the nft transaction for flannel's forward chain failed.",
    fix: ['nft list table ip flannel-ipv4'],
  }),
  e({
    id: 'nft-masq',
    message: "nftables: couldn't setup masq rules: %v",
    pattern: goFormat("nftables: couldn't setup masq rules: %v"),
    level: 'error',
    check: 'node.masquerade',
    source: 'flanneld',
    cause: "the nft transaction for flannel's postrouting chain failed.",
    fix: ['nft list table ip flannel-ipv4'],
  }),
  e({
    id: 'nft-random-fully',
    message: 'nftables: random fully unsupported',
    pattern: /nftables: random fully unsupported/,
    level: 'warning',
    check: 'node.masquerade',
    source: 'flanneld',
    cause:
      'the kernel lacks fully-random masquerade; flannel uses plain masquerade (more source-port collisions under load).',
    fix: ['uname -r'],
  }),

  // ---- subnet.env and the CNI plugins (flannel-facts §4) ----
  e({
    id: 'write-subnet-file',
    message: 'Failed to write subnet file: %s',
    pattern: goFormat('Failed to write subnet file: %s'),
    level: 'warning',
    check: 'node.subnet-env',
    source: 'flanneld',
    cause: '/run/flannel is not writable for flanneld; the CNI plugin will then fail on this node.',
    fix: [
      'ls -ld /run/flannel',
      'kubectl -n kube-flannel get ds kube-flannel-ds -o yaml | grep -A3 "name: run"',
    ],
  }),
  e({
    id: 'cni-subnet-env-missing',
    message: "failed to load flannel 'subnet.env' file: %v. Check the flannel pod log for this node.",
    pattern:
      /failed to load flannel 'subnet\.env' file: (.*?)(?:\. Check the flannel pod log for this node\.?)?$/,
    level: 'error',
    check: 'node.subnet-env',
    source: 'flannel CNI plugin',
    cause:
      'flanneld is not running (or not ready) on this node, so /run/flannel/subnet.env does not exist yet.',
    fix: [
      'kubectl -n kube-flannel get pods -o wide --field-selector spec.nodeName=$(hostname)',
      'ls -l /run/flannel/',
    ],
  }),
  e({
    id: 'cni-subnet-env-missing-old',
    message: 'loadFlannelSubnetEnv failed: %v',
    pattern: goFormat('loadFlannelSubnetEnv failed: %v'),
    level: 'error',
    check: 'node.subnet-env',
    source: 'flannel CNI plugin',
    cause:
      'flanneld is not running (or not ready) on this node, so /run/flannel/subnet.env does not exist yet (CNI plugin before v1.7.1-flannel2).',
    fix: [
      'kubectl -n kube-flannel get pods -o wide --field-selector spec.nodeName=$(hostname)',
      'ls -l /run/flannel/',
    ],
  }),
  e({
    id: 'cni-subnet-env-keys',
    message: '%v is missing %v',
    pattern: /(\S+subnet\.env\S*) is missing ((?:FLANNEL_[A-Z0-9_]+(?:, )?)+)/,
    level: 'error',
    check: 'node.subnet-env',
    source: 'flannel CNI plugin',
    cause: 'subnet.env exists but lacks keys (hand-written, truncated, or written by another tool).',
    fix: (c) => [`cat ${c[0] ?? '/run/flannel/subnet.env'}`, ...FLANNEL_POD_RESTART],
  }),
  e({
    id: 'cni-subnet-env-open',
    message: 'open /run/flannel/subnet.env: no such file or directory',
    pattern: /open (\S*\/subnet\.env): no such file or directory/,
    level: 'error',
    check: 'node.subnet-env',
    source: 'flannel CNI plugin',
    cause:
      'flanneld has not written subnet.env on this node (not running, not ready, or another subnet-file path).',
    fix: [
      'kubectl -n kube-flannel get pods -o wide --field-selector spec.nodeName=$(hostname)',
      'ls -l /run/flannel/',
    ],
  }),
  e({
    id: 'cni0-address',
    message: '%q already has an IP address different from %v',
    pattern: /"([^"]+)" already has an IP address different from (\S+)/,
    level: 'error',
    check: 'node.cni0',
    source: 'bridge plugin',
    cause:
      'cni0 still holds the gateway address of an earlier podCIDR (the node re-joined or its podCIDR changed), so no pod can start.',
    fix: (c) => [
      `ip link set ${c[0] ?? 'cni0'} down && ip link delete ${c[0] ?? 'cni0'}   # recreated with ${c[1] ?? 'the new gateway'} by the next pod`,
    ],
  }),
  e({
    id: 'cni-delegate-field',
    message: "'delegate' dictionary must not have '%s' field, it'll be set by flannel",
    pattern: /'delegate' dictionary must not have '(\w+)' field/,
    level: 'error',
    check: 'cni.config',
    source: 'flannel CNI plugin',
    cause: 'the flannel CNI config sets "name" or "ipam" inside "delegate"; flannel sets both itself.',
    fix: (c) => [
      `# remove "${c[0] ?? 'name'}" from "delegate" in /etc/cni/net.d/10-flannel.conflist (ConfigMap key cni-conf.json)`,
    ],
  }),
  e({
    id: 'cni-not-initialized',
    message: 'network plugin is not ready: cni config uninitialized',
    pattern: /cni config uninitialized|cni plugin not initialized|no networks found in \/etc\/cni\/net\.d/,
    level: 'error',
    check: 'cni.config',
    source: 'kubelet',
    cause:
      "the container runtime found no loadable CNI config in /etc/cni/net.d (flannel's install-cni init container has not run, or an invalid file sorts first).",
    fix: ['ls -l /etc/cni/net.d/', 'kubectl -n kube-flannel get pods -o wide'],
  }),

  // ---- node: kernel (flannel-facts §9, §10) ----
  e({
    id: 'br-netfilter',
    message: 'Failed to check br_netfilter: %v',
    pattern: goFormat('Failed to check br_netfilter: %v'),
    level: 'error',
    check: 'node.sysctl',
    source: 'flanneld',
    cause:
      'the br_netfilter module is not loaded, so /proc/sys/net/bridge/bridge-nf-call-iptables does not exist; flannel (≥ v0.26, iptables mode) exits.',
    fix: ['modprobe br_netfilter', 'echo br_netfilter > /etc/modules-load.d/br_netfilter.conf'],
  }),
  e({
    id: 'udp-bad-checksum',
    message: 'UDP: bad checksum. From %pI4:%u to %pI4:%u ulen %d',
    // Source port and length vary per packet; captures are source, destination and destination port.
    pattern: /UDP: bad checksum\. From (\S+):\d+ to (\S+):(\d+) ulen \d+/,
    level: 'warning',
    check: 'node.checksum-offload',
    source: 'kernel',
    cause:
      "the sending node's kernel wrote a wrong UDP checksum into VXLAN packets (tx checksum offload bug: kernels < 5.7, some RHEL/vSphere builds); the receiver drops them.",
    fix: [
      'ethtool -K flannel.1 tx-checksum-ip-generic off',
      `echo 'SUBSYSTEM=="net", ACTION=="add|change|move", ENV{INTERFACE}=="flannel.1", RUN+="/usr/sbin/ethtool -K flannel.1 tx-checksum-ip-generic off"' > /etc/udev/rules.d/90-flannel.rules`,
    ],
  }),
  e({
    id: 'charon-missing',
    message: 'no valid charon executable found at paths %v',
    pattern: goFormat('no valid charon executable found at paths %v'),
    level: 'error',
    check: 'node.xfrm',
    source: 'flanneld',
    cause: "the ipsec backend needs strongSwan's charon in the flannel image or on the host.",
    fix: ['# use a flannel image that ships strongSwan, or switch the backend to wireguard'],
  }),
]

/** The fix lines of an entry for the captures of one match. */
export function entryFix(entry: MessageEntry, captures: readonly string[]): string[] {
  return typeof entry.fix === 'function' ? entry.fix([...captures]) : [...entry.fix]
}

/** The first catalogue entry that explains one message text, with its captures (a group that did not take part is ""). */
export function matchMessage(text: string): {entry: MessageEntry; captures: string[]} | undefined {
  for (const entry of MESSAGES) {
    const m = entry.pattern.exec(text)
    if (m) return {entry, captures: m.slice(1).map((x) => x ?? '')}
  }
  return undefined
}

/**
 * Explain every known message in `text` (any log, pasted output, an event list). Each line's prefixes are
 * removed first (klog, timestamps, CRI, docker json, syslog, dmesg). Results are deduplicated by entry and
 * captures and ordered by their first line.
 */
export function explain(text: string): Explanation[] {
  const lines = text.split('\n')
  if (lines[lines.length - 1] === '') lines.pop()
  return explainLines(lines)
}

/** `explain` over lines already split (line numbers are 1-based indexes into `lines`). */
export function explainLines(lines: readonly string[]): Explanation[] {
  const byKey = new Map<string, Explanation>()
  for (let i = 0; i < lines.length; i++) {
    const raw = (lines[i] as string).replace(/\r$/, '')
    const {text} = normalizeLogLine(raw, i + 1)
    const hit = matchMessage(text)
    if (!hit) continue
    const key = `${hit.entry.id}\u0000${hit.captures.join('\u0000')}`
    const seen = byKey.get(key)
    if (seen) {
      seen.lines.push(i + 1)
      continue
    }
    byKey.set(key, {line: i + 1, text, raw, entry: hit.entry, captures: hit.captures, lines: [i + 1]})
  }
  return [...byKey.values()].sort((a, b) => a.line - b.line)
}
