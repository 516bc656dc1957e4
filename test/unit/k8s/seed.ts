// Cluster state for the k8s adapter tests: flannel's RBAC as in Documentation/kube-flannel.yml
// (flannel-facts §7.2), the kube-flannel DaemonSet pods and their logs, and N nodes with flannel's
// annotations (§3.5).
import {addFlannelRbac, KubeStore} from '../../support/apiserver.js'

export const ADMIN_TOKEN = 'admin-token-0123456789'
export const FLANNEL_TOKEN = 'flannel-sa-token-abcdef'
export const NOBODY_TOKEN = 'nobody-token-42'
export const FLANNEL_SA = 'system:serviceaccount:kube-flannel:flannel'

export const nodeName = (i: number): string => `node-${String(i).padStart(4, '0')}`

export function seedStore(nodes: number): KubeStore {
  const s = new KubeStore()
  s.addToken(ADMIN_TOKEN, 'kubernetes-admin', ['system:masters'])
  s.addToken(FLANNEL_TOKEN, FLANNEL_SA)
  s.addToken(NOBODY_TOKEN, 'nobody')
  addFlannelRbac(s)
  // A RoleBinding elsewhere: listed per namespace, and no grant to flannel.
  s.addRoleBinding({
    metadata: {name: 'monitoring-view', namespace: 'kube-system'},
    roleRef: {kind: 'ClusterRole', name: 'view'},
    subjects: [{kind: 'ServiceAccount', name: 'prometheus', namespace: 'monitoring'}],
  })
  for (let i = 0; i < nodes; i++) {
    const octet = i % 250
    const third = Math.floor(i / 250)
    s.addNode({
      metadata: {
        name: nodeName(i),
        labels: {'kubernetes.io/hostname': nodeName(i), 'kubernetes.io/os': 'linux'},
        annotations: {
          'flannel.alpha.coreos.com/kube-subnet-manager': 'true',
          'flannel.alpha.coreos.com/backend-type': 'vxlan',
          'flannel.alpha.coreos.com/backend-data': `{"VNI":1,"VtepMAC":"12:c6:65:89:${third.toString(16).padStart(2, '0')}:${octet.toString(16).padStart(2, '0')}"}`,
          'flannel.alpha.coreos.com/public-ip': `192.168.${third}.${octet + 1}`,
        },
      },
      spec: {podCIDR: `10.244.${i % 256}.0/24`, podCIDRs: [`10.244.${i % 256}.0/24`]},
      status: {
        addresses: [{type: 'InternalIP', address: `192.168.${third}.${octet + 1}`}],
        conditions: [{type: 'Ready', status: i === 1 ? 'False' : 'True', reason: 'KubeletReady'}],
        nodeInfo: {kubeletVersion: 'v1.31.4', osImage: 'Ubuntu 24.04.1 LTS'},
      },
    })
  }
  s.addConfigMap('kube-flannel', {
    metadata: {name: 'kube-flannel-cfg', labels: {app: 'flannel', tier: 'node'}},
    data: {
      'net-conf.json':
        '{\n  "Network": "10.244.0.0/16",\n  "EnableNFTables": false,\n  "Backend": {\n    "Type": "vxlan"\n  }\n}\n',
    },
  })
  s.addDaemonSet('kube-flannel', {
    metadata: {name: 'kube-flannel-ds', labels: {app: 'flannel', 'k8s-app': 'flannel', tier: 'node'}},
    spec: {selector: {matchLabels: {app: 'flannel'}}},
    status: {desiredNumberScheduled: 2, numberReady: 1},
  })
  for (const [pod, node] of [
    ['kube-flannel-ds-7xk2p', nodeName(0)],
    ['kube-flannel-ds-q9dmw', nodeName(1)],
  ] as const) {
    s.addPod('kube-flannel', {
      metadata: {name: pod, labels: {app: 'flannel', tier: 'node'}},
      spec: {
        nodeName: node,
        containers: [{name: 'kube-flannel', image: 'ghcr.io/flannel-io/flannel:v0.28.9'}],
      },
      status: {phase: 'Running'},
    })
  }
  s.addPod('kube-flannel', {
    metadata: {name: 'unrelated', labels: {app: 'other'}},
    spec: {containers: [{name: 'main'}]},
  })
  s.setLog(
    'kube-flannel',
    'kube-flannel-ds-7xk2p',
    'kube-flannel',
    'I1125 10:00:00.000001       1 main.go:211] CLI flags config: {etcdEndpoints:http://127.0.0.1:4001,http://127.0.0.1:2379}\nI1125 10:00:01.000002       1 kube.go:139] Waiting 10m0s for node controller to sync\nI1125 10:00:02.000003       1 kube.go:469] Starting kube subnet manager\n',
    'E1125 09:59:00.000001       1 main.go:359] Error registering network: failed to acquire lease: node "node-0000" pod cidr not assigned\n',
  )
  return s
}

export const DEBUGGER_TOKEN = 'debugger-token-7'
export const DEBUGGER = 'debugger'

/**
 * Exec targets on top of seedStore: a multi-container pod, a pod whose container is not running yet,
 * and a user `debugger` who may exec in kube-flannel only, through a namespaced Role (verbs `get` for
 * the WebSocket upgrade, `create` for SPDY and for 1.35+ servers).
 */
export function seedExec(s: KubeStore): KubeStore {
  s.addToken(DEBUGGER_TOKEN, DEBUGGER)
  s.addRole({
    metadata: {name: 'pod-exec', namespace: 'kube-flannel'},
    rules: [
      {apiGroups: [''], resources: ['pods'], verbs: ['get', 'list']},
      {apiGroups: [''], resources: ['pods/exec'], verbs: ['get', 'create']},
    ],
  })
  s.addRoleBinding({
    metadata: {name: 'debugger-exec', namespace: 'kube-flannel'},
    roleRef: {kind: 'Role', name: 'pod-exec'},
    subjects: [{kind: 'User', name: DEBUGGER}],
  })
  s.addPod('kube-flannel', {
    metadata: {name: 'flannel-debug', labels: {app: 'flannel-debug'}},
    spec: {
      nodeName: nodeName(0),
      initContainers: [{name: 'install-cni'}],
      containers: [{name: 'kube-flannel'}, {name: 'debug'}],
    },
    status: {
      phase: 'Running',
      containerStatuses: [
        {name: 'kube-flannel', state: {running: {startedAt: '2025-01-01T00:00:10Z'}}},
        {name: 'debug', state: {running: {startedAt: '2025-01-01T00:00:10Z'}}},
      ],
    },
  })
  s.addPod('kube-flannel', {
    metadata: {name: 'kube-flannel-ds-pending', labels: {app: 'flannel', tier: 'node'}},
    spec: {
      nodeName: nodeName(2),
      initContainers: [{name: 'install-cni-plugin'}, {name: 'install-cni'}],
      containers: [{name: 'kube-flannel', image: 'ghcr.io/flannel-io/flannel:v0.28.9'}],
    },
    status: {
      phase: 'Pending',
      containerStatuses: [{name: 'kube-flannel', state: {waiting: {reason: 'PodInitializing'}}}],
    },
  })
  return s
}

/**
 * A namespaced Role that lets flannel's ServiceAccount read ConfigMaps in kube-flannel, bound by a
 * RoleBinding whose subject leaves the namespace out (it defaults to the binding's). A Role of the same
 * name in kube-system grants `list` too: a RoleBinding must resolve its Role in its own namespace.
 */
export function seedConfigReader(s: KubeStore): KubeStore {
  s.addRole({
    metadata: {name: 'flannel-cfg-reader', namespace: 'kube-flannel'},
    rules: [{apiGroups: [''], resources: ['configmaps'], verbs: ['get']}],
  })
  s.addRole({
    metadata: {name: 'flannel-cfg-reader', namespace: 'kube-system'},
    rules: [{apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list']}],
  })
  s.addRoleBinding({
    metadata: {name: 'flannel-cfg-reader', namespace: 'kube-flannel'},
    roleRef: {kind: 'Role', name: 'flannel-cfg-reader'},
    subjects: [{kind: 'ServiceAccount', name: 'flannel'}],
  })
  return s
}
