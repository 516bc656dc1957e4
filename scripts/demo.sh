#!/usr/bin/env bash
# The main job on the shipped sample bundles: doctor on a healthy node, then on a broken one.
# Exits 0 when both give the exit code they must (0 healthy, 1 broken).
set -uo pipefail
cd "$(dirname "$0")/.."
[ -f dist/commands/index.js ] || npm run -s build
echo "=== flannelctl doctor --bundle test/fixtures/bundles/healthy-vxlan"
./bin/run.js doctor --bundle test/fixtures/bundles/healthy-vxlan
healthy=$?
echo
echo "=== flannelctl doctor --bundle test/fixtures/bundles/forward-drop"
./bin/run.js doctor --bundle test/fixtures/bundles/forward-drop
broken=$?
echo
echo "=== flannelctl lint on the seed ConfigMap (the '# this parameter' comment)"
./bin/run.js lint test/fixtures/outputs/netconf/seed-kube-flannel-cfg.yaml
echo
echo "healthy node exit $healthy (want 0), broken node exit $broken (want 1)"
[ "$healthy" = 0 ] && [ "$broken" = 1 ]
