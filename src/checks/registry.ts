/**
 * The ordered check catalogue. Explicit on purpose (no discovery): the order is the report's order and
 * the ids are a contract (spec/checks.md).
 */
import type {CheckDef} from './types.js'
import {check as netconfPresent} from './netconf/present.js'
import {check as netconfJsonSyntax} from './netconf/json-syntax.js'
import {check as netconfSchema} from './netconf/schema.js'
import {check as netconfUnknownKeys} from './netconf/unknown-keys.js'
import {check as netconfPlatform} from './netconf/platform.js'
import {check as cniConfig} from './cni/config.js'
import {check as kubePodcidrAssigned} from './kube/podcidr-assigned.js'
import {check as kubePodcidrInNetwork} from './kube/podcidr-in-network.js'
import {check as kubePodcidrOverlap} from './kube/podcidr-overlap.js'
import {check as kubeNetworkOverlapsHost} from './kube/network-overlaps-host.js'
import {check as kubePublicIpUnique} from './kube/public-ip-unique.js'
import {check as kubeFlannelAnnotations} from './kube/flannel-annotations.js'
import {check as kubeRbac} from './kube/rbac.js'
import {check as kubeDaemonsetReady} from './kube/daemonset-ready.js'
import {check as nodeSubnetEnv} from './node/subnet-env.js'
import {check as nodeMtu} from './node/mtu.js'
import {check as nodeForwardPolicy} from './node/forward-policy.js'
import {check as nodeOverlayPort} from './node/overlay-port.js'
import {check as nodeIptablesBackends} from './node/iptables-backends.js'
import {check as nodeMasquerade} from './node/masquerade.js'
import {check as nodeVxlanDevice} from './node/vxlan-device.js'
import {check as nodePeers} from './node/peers.js'
import {check as nodeCni0} from './node/cni0.js'
import {check as nodeXfrm} from './node/xfrm.js'
import {check as nodeSysctl} from './node/sysctl.js'
import {check as nodeChecksumOffload} from './node/checksum-offload.js'
import {check as nodeInterface} from './node/interface.js'
import {check as nodeConflictingInterfaces} from './node/conflicting-interfaces.js'
import {check as logsKnownErrors} from './logs/known-errors.js'

export const CHECKS: readonly CheckDef[] = [
  netconfPresent,
  netconfJsonSyntax,
  netconfSchema,
  netconfUnknownKeys,
  netconfPlatform,
  cniConfig,
  kubePodcidrAssigned,
  kubePodcidrInNetwork,
  kubePodcidrOverlap,
  kubeNetworkOverlapsHost,
  kubePublicIpUnique,
  kubeFlannelAnnotations,
  kubeRbac,
  kubeDaemonsetReady,
  nodeSubnetEnv,
  nodeMtu,
  nodeForwardPolicy,
  nodeOverlayPort,
  nodeIptablesBackends,
  nodeMasquerade,
  nodeVxlanDevice,
  nodePeers,
  nodeCni0,
  nodeXfrm,
  nodeSysctl,
  nodeChecksumOffload,
  nodeInterface,
  nodeConflictingInterfaces,
  logsKnownErrors,
]
