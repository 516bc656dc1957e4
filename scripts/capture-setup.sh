#!/usr/bin/env bash
# Runs the real `flannelctl setup` (bin/run.js → dist/) in network namespaces (prefix flt-h-st-) and
# captures what the kernel shows afterwards, as the planner reads it (the same argv as the live probes),
# into test/fixtures/outputs/setup/<case>/. test/unit/setup/plan.test.ts parses these captures and proves
# that planning against them gives an empty plan, and derives its stale-entry cases from them.
#
# Cases:
#   vxlan-before  node-1 of a bare three-node vxlan cluster before setup, with foreign entries planted
#                 (a route 192.0.2.0/24, a permanent neighbour on eth0, an iptables FORWARD rule, a nat
#                 chain of its own, an nft table, a file next to subnet.env)
#   vxlan         the same node-1 after two setup rounds over node-1..3 (peers 10.99.0.12, .13)
#   nft-direct    EnableNFTables + DirectRouting: peer node-2 on the underlay subnet (direct route),
#                 peer node-3 at 10.98.0.13 behind the gateway (vxlan entries)
#   host-gw       host-gw backend, peers node-2 / node-3 on the underlay subnet
# Each capture gets a `.note`: the command, the tool version, the kernel, the date and the case.
#
# Safety: everything lives in namespaces this script creates (flt-h-st-*) and in a temporary folder;
# nothing is added to the machine's own namespace and no packet leaves these namespaces. Both are
# removed on exit, also on failure.
#
# Usage (root, after `npm run build`): scripts/capture-setup.sh [OUTDIR]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-"$ROOT/test/fixtures/outputs/setup"}
P=flt-h-st-
SW=${P}sw
N1=${P}n1
N2=${P}n2
N3=${P}n3
D=${P}d
G=${P}g
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
[ -f "$ROOT/dist/commands/index.js" ] || { echo "dist/ is missing: npm run build" >&2; exit 1; }

. "$ROOT/scripts/lib/capture.sh"
CAPTURE_TMP=$(mktemp -d /tmp/flt-h-st.XXXXXX)
TMP=$CAPTURE_TMP
chmod 755 "$TMP"
netns_fresh $SW $N1 $N2 $N3 $D $G
ip -n $SW link add br0 type bridge
ip -n $SW link set br0 up
i=0
wire() { # ns address
  local ns=$1 addr=$2
  ip link add "up$i" netns $SW type veth peer name eth0 netns "$ns"
  ip -n $SW link set "up$i" master br0 up
  ip netns exec "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
  ip -n "$ns" addr add "$addr/24" dev eth0
  ip -n "$ns" route add default via 10.99.0.1 dev eth0 onlink
  ip netns exec "$ns" sysctl -q -w net.ipv4.ip_forward=1
  i=$((i + 1))
}
wire $N1 10.99.0.11
wire $N2 10.99.0.12
wire $N3 10.99.0.13
wire $D 10.99.0.21
wire $G 10.99.0.22

# node objects: name podCIDR [backend-type public-ip backend-data] (no annotations = bare, as kubeadm leaves it)
nodeobj() {
  local name=$1 cidr=$2 ip=$3 type=${4:-} pub=${5:-} data=${6:-}
  local ann='"node.alpha.kubernetes.io/ttl": "0"'
  if [ -n "$type" ]; then
    ann="\"flannel.alpha.coreos.com/backend-data\": $data, \"flannel.alpha.coreos.com/backend-type\": \"$type\", \"flannel.alpha.coreos.com/kube-subnet-manager\": \"true\", \"flannel.alpha.coreos.com/public-ip\": \"$pub\", $ann"
  fi
  cat <<EON
    {"apiVersion": "v1", "kind": "Node",
     "metadata": {"name": "$name", "annotations": {$ann}, "labels": {"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": "$name"}},
     "spec": {"podCIDR": "$cidr", "podCIDRs": ["$cidr"]},
     "status": {"addresses": [{"type": "InternalIP", "address": "$ip"}, {"type": "Hostname", "address": "$name"}]}}
EON
}
list() { printf '{"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": [\n'; local first=1; for n in "$@"; do [ $first = 1 ] || printf ',\n'; first=0; printf '%s' "$n"; done; printf '\n]}\n'; }

setup() { # case-dir ns node [args...]
  local dir=$1 ns=$2 name=$3
  shift 3
  node "$ROOT/bin/run.js" setup --net-conf "$TMP/$dir/net-conf.json" --nodes-file "$TMP/$dir/nodes.json" \
    --netns "$ns" --node-name "$name" --subnet-env "$TMP/$dir/$name/subnet.env" --state-dir "$TMP/state" "$@" >/dev/null
}

# --- vxlan: three bare nodes, two rounds -------------------------------------------------------------
mkdir -p "$TMP/vxlan"
echo '{"Network": "10.244.0.0/16", "EnableNFTables": false, "Backend": {"Type": "vxlan"}}' >"$TMP/vxlan/net-conf.json"
list "$(nodeobj node-1 10.244.1.0/24 10.99.0.11)" "$(nodeobj node-2 10.244.2.0/24 10.99.0.12)" "$(nodeobj node-3 10.244.3.0/24 10.99.0.13)" >"$TMP/vxlan/nodes.json"
for n in node-1 node-2 node-3; do mkdir -p "$TMP/vxlan/$n"; done

# Foreign entries on node-1, planted before setup: setup and teardown must leave them alone.
ip -n $N1 route add 192.0.2.0/24 via 10.99.0.1 dev eth0
ip -n $N1 neigh add 10.99.0.99 lladdr 0a:58:0a:63:00:63 dev eth0 nud permanent
ip netns exec $N1 iptables-restore --noflush <<'EOR'
*filter
-A FORWARD -s 198.51.100.0/24 -m comment --comment "foreign rule" -j ACCEPT
COMMIT
*nat
:FOREIGN-NAT - [0:0]
-A FOREIGN-NAT -d 203.0.113.0/24 -j RETURN
COMMIT
EOR
ip netns exec $N1 nft -f - <<'EON'
table inet foreign {
  chain input {
    type filter hook input priority 0; policy accept;
    udp dport 9999 counter accept
  }
}
EON
echo 'not flannel' >"$TMP/vxlan/node-1/other.conf"

IPV=$(ip -V)
BRV="$(bridge -V)"
IPTV=$(iptables -V)
NFTV=$(nft -V | head -1)
FCV="flannelctl $(node -p "require('$ROOT/package.json').version") @ $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"

note() { # dir name tool what cmd...
  local dir=$1 name=$2 tool=$3 what=$4
  shift 4
  write_note "$OUT/$dir/$name" "$*" "$tool" "$NS" case "$what"
}
cap() { # dir name tool what cmd... (inside $NS)
  local dir=$1 name=$2 tool=$3 what=$4
  shift 4
  note "$dir" "$name" "$tool" "$what" "$@"
  ip netns exec "$NS" "$@" >"$OUT/$dir/$name"
}
file() { # dir name src what
  local dir=$1 name=$2 src=$3 what=$4
  note "$dir" "$name" "$FCV" "$what" "cat $src"
  cp "$src" "$OUT/$dir/$name"
}
kernel_state() { # dir what
  local dir=$1 what=$2
  cap "$dir" ip-link.json "$IPV" "$what" ip -d -j link show
  cap "$dir" ip-addr.json "$IPV" "$what" ip -j addr show
  cap "$dir" ip-route.json "$IPV" "$what" ip -j route show
  cap "$dir" ip-neigh.json "$IPV" "$what" ip -j neigh show
  cap "$dir" bridge-fdb.json "$BRV" "$what" bridge -j fdb show
  cap "$dir" iptables-save.txt "$IPTV" "$what" iptables-save
  cap "$dir" nft.txt "$NFTV" "$what" nft list ruleset
}
one_node() { # dir ns what: `flannelctl setup` of node-1 in ns, then its kernel state and files
  local dir=$1 what=$3
  NS=$2
  setup "$dir" "$NS" node-1
  kernel_state "$dir" "$what"
  file "$dir" net-conf.json "$TMP/$dir/net-conf.json" "$what"
  file "$dir" nodes.json "$TMP/$dir/nodes.json" "$what (after setup published node-1)"
  file "$dir" subnet.env "$TMP/$dir/node-1/subnet.env" "$what"
  file "$dir" journal.json "$TMP/state/netns-$NS/journal.json" "$what (setup's journal)"
}

rm -rf "${OUT:?}"/vxlan-before "${OUT:?}"/vxlan "${OUT:?}"/nft-direct "${OUT:?}"/host-gw
NS=$N1
W="node-1 of three bare vxlan nodes (10.99.0.11-13/24, Network 10.244.0.0/16, podCIDRs 10.244.1-3.0/24) before setup; foreign route 192.0.2.0/24, neighbour 10.99.0.99, FORWARD rule, nat chain FOREIGN-NAT, nft table inet foreign"
kernel_state vxlan-before "$W"
file vxlan-before net-conf.json "$TMP/vxlan/net-conf.json" "$W (the net-conf.json setup read)"
file vxlan-before nodes.json "$TMP/vxlan/nodes.json" "$W (the nodes file before setup: no flannel annotations)"

for round in 1 2; do
  setup vxlan $N1 node-1
  setup vxlan $N2 node-2
  setup vxlan $N3 node-3
done
W="node-1 after two rounds of 'flannelctl setup' over node-1, node-2, node-3 (same cluster and foreign entries as vxlan-before)"
kernel_state vxlan "$W"
file vxlan net-conf.json "$TMP/vxlan/net-conf.json" "$W"
file vxlan nodes.json "$TMP/vxlan/nodes.json" "$W (the nodes file after setup published every node's annotations)"
file vxlan subnet.env "$TMP/vxlan/node-1/subnet.env" "$W (written by setup; its journal path is $TMP/vxlan/node-1/subnet.env)"
file vxlan journal.json "$TMP/state/netns-$N1/journal.json" "$W (setup's journal for netns $N1)"

# --- nft-direct: EnableNFTables + DirectRouting, peers written as flannel would have published them -----
mkdir -p "$TMP/nft-direct/node-1"
echo '{"Network": "10.244.0.0/16", "EnableNFTables": true, "Backend": {"Type": "vxlan", "DirectRouting": true}}' >"$TMP/nft-direct/net-conf.json"
list "$(nodeobj node-1 10.244.1.0/24 10.99.0.21)" \
  "$(nodeobj node-2 10.244.2.0/24 10.99.0.12 vxlan 10.99.0.12 '"{\"VNI\":1,\"VtepMAC\":\"0a:58:0a:f4:02:00\"}"')" \
  "$(nodeobj node-3 10.244.3.0/24 10.98.0.13 vxlan 10.98.0.13 '"{\"VNI\":1,\"VtepMAC\":\"0a:58:0a:f4:03:00\"}"')" >"$TMP/nft-direct/nodes.json"
one_node nft-direct $D "one node (eth0 10.99.0.21/24, default via 10.99.0.1) after 'flannelctl setup' with EnableNFTables and DirectRouting; peer node-2 at 10.99.0.12 (same subnet: direct route), peer node-3 at 10.98.0.13 (behind the gateway: vxlan)"

# --- host-gw ---------------------------------------------------------------------------------------------
mkdir -p "$TMP/host-gw/node-1"
echo '{"Network": "10.244.0.0/16", "Backend": {"Type": "host-gw"}}' >"$TMP/host-gw/net-conf.json"
list "$(nodeobj node-1 10.244.1.0/24 10.99.0.22)" \
  "$(nodeobj node-2 10.244.2.0/24 10.99.0.12 host-gw 10.99.0.12 '"null"')" \
  "$(nodeobj node-3 10.244.3.0/24 10.99.0.13 host-gw 10.99.0.13 '"null"')" >"$TMP/host-gw/nodes.json"
one_node host-gw $G "one node (eth0 10.99.0.22/24) after 'flannelctl setup' with the host-gw backend; peers node-2 10.99.0.12 and node-3 10.99.0.13 on the same subnet"

echo "captured into $OUT (temporary folder was $TMP)"
