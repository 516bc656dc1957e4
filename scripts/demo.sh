#!/usr/bin/env bash
# The main job on the built-in lab: a 3-node flannel cluster in network namespaces, programmed by
# `flannelctl setup`; doctor finds it healthy; a fault (FORWARD DROP on node-2) is injected and doctor
# names it with its fix; `lab heal` repairs it; doctor is clean again; the lab is removed.
# Without root (or without namespaces) it falls back to the shipped sample bundles.
# Exits 0 when every step gives the exit code it must.
set -uo pipefail
cd "$(dirname "$0")/.."
[ -f dist/commands/index.js ] || npm run -s build >/dev/null
fc() { ./bin/run.js "$@"; }
fail=0
want() { # want CODE DESCRIPTION -- command...
  local code=$1 what=$2
  shift 3
  echo
  echo "=== flannelctl ${*:2} ($what)"
  "$@"
  local got=$?
  if [ "$got" != "$code" ]; then echo "!!! expected exit $code, got $got"; fail=1; fi
}

can_lab=0
if [ "$(id -u)" = 0 ]; then
  # The lab needs the real tools: install them on a fresh Debian machine (a no-op when present).
  command -v ip >/dev/null 2>&1 && command -v iptables >/dev/null 2>&1 || bash scripts/install-test-deps.sh
  command -v ip >/dev/null 2>&1 && ip netns list >/dev/null 2>&1 && can_lab=1
fi
if [ $can_lab = 1 ]; then
  LAB=demo
  trap 'fc lab down --name $LAB >/dev/null 2>&1' EXIT
  fc lab down --name $LAB >/dev/null 2>&1
  want 0 "a 3-node vxlan cluster in namespaces" -- fc lab up --name $LAB --nodes 3 --pods-per-node 1
  want 0 "healthy: zero errors, zero warnings" -- fc lab doctor --name $LAB
  want 0 "every pod reaches every pod, and full-size packets cross" -- fc lab probe --name $LAB
  want 0 "inject: FORWARD policy DROP without flannel's accept rules" -- fc lab fault forward-drop --name $LAB --node node-2
  want 1 "doctor names the fault, its evidence and the fix" -- fc lab doctor --name $LAB --verbose --only node.forward-policy
  want 0 "repair" -- fc lab heal --name $LAB
  want 0 "healthy again" -- fc lab doctor --name $LAB
  want 0 "remove every namespace" -- fc lab down --name $LAB
  trap - EXIT
else
  echo "(no root or no iproute2: showing the sample bundles instead of the lab)"
  want 0 "a healthy node" -- fc doctor --bundle test/fixtures/bundles/healthy-vxlan
  want 1 "a node whose FORWARD chain drops pod traffic" -- fc doctor --bundle test/fixtures/bundles/forward-drop
  want 1 "the seed ConfigMap with its '# this parameter' comment" -- fc lint test/fixtures/outputs/netconf/seed-kube-flannel-cfg.yaml
fi
echo
[ $fail = 0 ] && echo "demo: every step gave the exit code it must" || echo "demo: some step did not"
exit $fail
