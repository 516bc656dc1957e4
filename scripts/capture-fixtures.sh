#!/usr/bin/env bash
# Builds two flannel-shaped nodes in network namespaces (prefix flt-cap-) and captures the real output
# of every tool the doctor reads, in text and JSON forms, into test/fixtures/outputs/<probe>/.
# Each capture gets a `.note` file: the exact command, the tool's version, the kernel and the date.
#
# Safety: everything lives in namespaces this script creates; nothing is added to the machine's own
# namespace and nothing is sent anywhere but between these namespaces. The namespaces are removed on
# exit, also on failure.
#
# Usage (root): scripts/capture-fixtures.sh [OUTDIR]
set -euo pipefail
OUT=${1:-"$(cd "$(dirname "$0")/.." && pwd)/test/fixtures/outputs"}
A=flt-cap-a
B=flt-cap-b
SW=flt-cap-sw
POD=flt-cap-pod
. "$(dirname "$0")/lib/capture.sh"
netns_fresh $A $B $SW $POD
inA() { ip netns exec $A "$@"; }
inB() { ip netns exec $B "$@"; }

# Underlay: A.eth0 and B.eth0 on a bridge in the switch namespace.
ip netns exec $SW ip link add br0 type bridge
ip netns exec $SW ip link set br0 up
for n in $A $B; do
  ip link add "${n: -1}-up" netns $SW type veth peer name eth0 netns $n
  ip netns exec $SW ip link set "${n: -1}-up" master br0 up
  ip netns exec $n ip link set lo up
  ip netns exec $n ip link set eth0 up
done
inA ip addr add 10.99.0.11/24 dev eth0
inA ip addr add fd00:99::11/64 dev eth0 nodad
inA ip route add default via 10.99.0.1 dev eth0 onlink
inB ip addr add 10.99.0.12/24 dev eth0
MAC_A=0a:58:0a:f4:01:00
MAC_B=0a:58:0a:f4:02:00

# flannel.1 exactly as flannel's vxlan backend creates it (flannel-facts §3).
inA ip link add flannel.1 address $MAC_A mtu 1450 type vxlan id 1 local 10.99.0.11 dev eth0 nolearning dstport 8472
inA ip addr add 10.244.1.0/32 dev flannel.1
inA ip link set flannel.1 up
inB ip link add flannel.1 address $MAC_B mtu 1450 type vxlan id 1 local 10.99.0.12 dev eth0 nolearning dstport 8472
inB ip addr add 10.244.2.0/32 dev flannel.1
inB ip link set flannel.1 up
# Per peer: neighbour, FDB, route — in that order.
inA ip neigh add 10.244.2.0 lladdr $MAC_B dev flannel.1 nud permanent
inA bridge fdb add $MAC_B dev flannel.1 dst 10.99.0.12 self permanent
inA ip route add 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink
# A stale extra peer (a node that is gone) for leftover cases.
inA ip neigh add 10.244.7.0 lladdr 0a:58:0a:f4:07:00 dev flannel.1 nud permanent
inA bridge fdb add 0a:58:0a:f4:07:00 dev flannel.1 dst 10.99.0.17 self permanent
inA ip route add 10.244.7.0/24 via 10.244.7.0 dev flannel.1 onlink
# A DirectRouting-style route and a blackhole.
inA ip route add 10.244.3.0/24 via 10.99.0.12
inA ip route add blackhole 10.244.9.0/24

# cni0 bridge with the gateway address and one pod veth, as the bridge plugin does it.
inA ip link add cni0 mtu 1450 type bridge
inA ip addr add 10.244.1.1/24 dev cni0
inA ip link set cni0 up
inA ip link add vethab12cd34 mtu 1450 type veth peer name eth0 netns $POD
inA ip link set vethab12cd34 master cni0 up
ip netns exec $POD ip addr add 10.244.1.2/24 dev eth0
ip netns exec $POD ip link set eth0 up
ip netns exec $POD ip route add default via 10.244.1.1
# Let the pod talk once so neighbours appear (traffic stays inside these namespaces).
ip netns exec $POD ping -c1 -W1 10.244.1.1 >/dev/null || true
inA ping -c1 -W1 10.99.0.12 >/dev/null || true
# Links another CNI would leave behind.
inA ip link add cilium_vxlan type vxlan id 2 dstport 8473 nolearning
inA ip link add tunl0x type ipip local 10.99.0.11 2>/dev/null || true
inA ip link add dummy0 type dummy 2>/dev/null || true

# iptables: flannel's rules (flannel-facts §5.1) plus a Docker-style DROP policy and an INPUT drop.
inA iptables-restore <<'EOR'
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:FLANNEL-POSTRTG - [0:0]
-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s 10.244.1.0/24 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER-USER - [0:0]
:FLANNEL-FWD - [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p udp -m udp --dport 8472 -j DROP
-A INPUT -p udp -m multiport --dports 500,4500 -j REJECT --reject-with icmp-port-unreachable
-A INPUT -p esp -j ACCEPT
-A FORWARD -j DOCKER-USER
-A FORWARD -i eth0 -o eth0 -j REJECT --reject-with icmp-host-prohibited
-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
-A DOCKER-USER -j RETURN
-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
-A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
COMMIT
EOR
inA ip6tables-restore <<'EOR'
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p udp --dport 8472 -j DROP
COMMIT
EOR
# B: healthy, ACCEPT policy, only flannel's chains; no rules at all in one table.
inB iptables -N FLANNEL-FWD
inB iptables -A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
inB iptables -A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
inB iptables -A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT

# nftables: flannel's own tables (flannel-facts §5.2) plus a firewall table that drops.
inA nft -f - <<'EON'
table ip flannel-ipv4 {
  comment "rules for flannel-ipv4"
  chain forward {
    type filter hook forward priority filter; policy accept;
    ip saddr 10.244.0.0/16 accept
    ip daddr 10.244.0.0/16 accept
  }
  chain postrtg {
    type nat hook postrouting priority srcnat; policy accept;
    meta mark 0x00004000 return
    ip saddr 10.244.1.0/24 ip daddr 10.244.0.0/16 return
    ip saddr 10.244.0.0/16 ip daddr 10.244.1.0/24 return
    ip saddr != 10.244.1.0/24 ip daddr 10.244.0.0/16 return
    ip saddr 10.244.0.0/16 ip daddr != 224.0.0.0/4 masquerade fully-random
    ip saddr != 10.244.0.0/16 ip daddr 10.244.0.0/16 masquerade fully-random
  }
}
table ip6 flannel-ipv6 {
  comment "rules for flannel-ipv6"
  chain forward {
    type filter hook forward priority filter; policy accept;
  }
}
table inet fw {
  set overlay_ports { type inet_service; elements = { 8472, 4789 } }
  chain input {
    type filter hook input priority 0; policy accept;
    ct state established,related accept
    iifname "lo" accept
    udp dport @overlay_ports counter drop comment "block overlay"
    meta l4proto esp accept
    udp dport { 500, 4500 } drop
  }
  chain forward {
    type filter hook forward priority -10; policy drop;
    ip saddr 10.244.0.0/16 ip daddr 10.244.0.0/16 jump pods
    iifname "cni0" oifname != "cni0" accept
  }
  chain pods {
    tcp dport 22 reject with icmp type admin-prohibited
    accept
  }
}
EON

# xfrm: flannel's ipsec shape (flannel-facts §6.1): three policies per peer, reqid 11, static SAs.
# SAs need the kernel's ESP support (CONFIG_INET_ESP); where it is missing the state captures stay empty
# and the note says so.
K1=0x0123456789abcdef0123456789abcdef
K2=0x89abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567
XFRM_STATES=yes
inA ip xfrm state add src 10.99.0.11 dst 10.99.0.12 proto esp spi 0xc1000001 reqid 11 mode tunnel enc 'cbc(aes)' $K1 auth-trunc 'hmac(sha256)' $K2 128 || XFRM_STATES="no (kernel without ESP)"
inA ip xfrm state add src 10.99.0.12 dst 10.99.0.11 proto esp spi 0xc1000002 reqid 11 mode tunnel enc 'cbc(aes)' $K1 auth-trunc 'hmac(sha256)' $K2 128 || true
inA ip xfrm policy add src 10.244.1.0/24 dst 10.244.2.0/24 dir out tmpl src 10.99.0.11 dst 10.99.0.12 proto esp reqid 11 mode tunnel
inA ip xfrm policy add src 10.244.2.0/24 dst 10.244.1.0/24 dir in tmpl src 10.99.0.12 dst 10.99.0.11 proto esp reqid 11 mode tunnel
inA ip xfrm policy add src 10.244.2.0/24 dst 10.244.1.0/24 dir fwd tmpl src 10.99.0.12 dst 10.99.0.11 proto esp reqid 11 mode tunnel
# A stale policy for a node that is gone.
inA ip xfrm policy add src 10.244.1.0/24 dst 10.244.7.0/24 dir out tmpl src 10.99.0.11 dst 10.99.0.17 proto esp reqid 11 mode tunnel

IPV=$(ip -V)
note() { # dir name version cmd...
  local dir=$1 name=$2 ver=$3
  shift 3
  write_note "$OUT/$dir/$name" "$*" "$ver"
}
cap() { # dir name version ns cmd...
  local dir=$1 name=$2 ver=$3 ns=$4
  shift 4
  note "$dir" "$name" "$ver" "$@"
  ip netns exec "$ns" "$@" >"$OUT/$dir/$name" 2>&1 || true
}

cap ip-link iproute2-6.1-d.txt "$IPV" $A ip -d link show
cap ip-link iproute2-6.1.txt "$IPV" $A ip link
cap ip-link iproute2-6.1-d.json "$IPV" $A ip -d -j link show
cap ip-link iproute2-6.1-pretty.json "$IPV" $A ip -d -j -p link show
cap ip-link iproute2-6.1-b.txt "$IPV" $B ip -d link show
cap ip-addr iproute2-6.1.txt "$IPV" $A ip addr
cap ip-addr iproute2-6.1.json "$IPV" $A ip -j addr
cap ip-addr iproute2-6.1-b.txt "$IPV" $B ip addr show
cap ip-addr ifconfig.txt "$(ifconfig --version 2>&1 | head -1)" $A ifconfig -a
cap ip-route iproute2-6.1.txt "$IPV" $A ip route
cap ip-route iproute2-6.1.json "$IPV" $A ip -j route
cap ip-route iproute2-6.1-d.txt "$IPV" $A ip -d route show
cap ip-route iproute2-6.1-v6.txt "$IPV" $A ip -6 route
cap ip-route route-n.txt "$(route --version 2>&1 | head -1)" $A route -n
cap ip-neigh iproute2-6.1.txt "$IPV" $A ip neigh
cap ip-neigh iproute2-6.1.json "$IPV" $A ip -j neigh
cap bridge-fdb iproute2-6.1.txt "$(bridge -V)" $A bridge fdb show
cap bridge-fdb iproute2-6.1.json "$(bridge -V)" $A bridge -j fdb show
cap bridge-fdb iproute2-6.1-dev.txt "$(bridge -V)" $A bridge fdb show dev flannel.1
IPTV=$(iptables --version)
cap iptables save-nf_tables.txt "$IPTV" $A iptables-save
cap iptables save-counters.txt "$IPTV" $A iptables-save -c
cap iptables S.txt "$IPTV" $A iptables -S
cap iptables S-nat.txt "$IPTV" $A iptables -t nat -S
cap iptables L-n-v.txt "$IPTV" $A iptables -L -n -v
cap iptables L-n-v-line-numbers.txt "$IPTV" $A iptables -L -n -v --line-numbers
cap iptables L-n.txt "$IPTV" $A iptables -L -n
cap iptables save-b-healthy.txt "$IPTV" $B iptables-save
cap iptables save-empty.txt "$IPTV" $SW iptables-save
cap iptables ip6tables-save.txt "$(ip6tables --version)" $A ip6tables-save
if command -v iptables-legacy-save >/dev/null; then
  cap iptables legacy-save-empty.txt "$(iptables-legacy --version)" $A iptables-legacy-save
fi
NFTV=$(nft --version)
cap nft ruleset.txt "$NFTV" $A nft list ruleset
cap nft ruleset.json "$NFTV" $A nft -j list ruleset
cap nft ruleset-handles.txt "$NFTV" $A nft -a list ruleset
cap nft ruleset-empty.txt "$NFTV" $B nft list ruleset
cap nft ruleset-iptables-nft.txt "$NFTV" $B nft list ruleset
cap nft ruleset-iptables-nft.json "$NFTV" $B nft -j list ruleset
cap ip-xfrm-state iproute2-6.1.txt "$IPV; SAs added: $XFRM_STATES" $A ip xfrm state
cap ip-xfrm-state iproute2-6.1-empty.txt "$IPV" $B ip xfrm state
cap ip-xfrm-policy iproute2-6.1.txt "$IPV" $A ip xfrm policy
cap ip-xfrm-policy iproute2-6.1-empty.txt "$IPV" $B ip xfrm policy
cap sysctl netns-a.txt "$(sysctl --version)" $A sysctl -a --pattern '^net\.(ipv4\.(ip_forward|conf\.[^.]+\.(rp_filter|forwarding))|bridge\.|ipv6\.conf\.all\.forwarding)'
cap ethtool flannel.1.txt "$(ethtool --version)" $A ethtool -k flannel.1
cap ethtool eth0-veth.txt "$(ethtool --version)" $A ethtool -k eth0
mkdir -p "$OUT/uname" "$OUT/lsmod"
note uname a.txt "$(uname --version | head -1)" uname -a
uname -a >"$OUT/uname/a.txt"
note uname r.txt "$(uname --version | head -1)" uname -r
uname -r >"$OUT/uname/r.txt"
if [ -r /proc/modules ]; then # kernels built without module support have no /proc/modules
  note lsmod lsmod.txt "$(lsmod --version 2>&1 | head -1)" lsmod
  lsmod >"$OUT/lsmod/lsmod.txt"
  note lsmod proc-modules.txt "kernel $KERNEL" cat /proc/modules
  cat /proc/modules >"$OUT/lsmod/proc-modules.txt"
fi
echo "captured into $OUT"
