#!/usr/bin/env bash
# Captures real iptables / ip6tables / iptables-legacy / nft outputs of firewall shapes the netfilter
# checks must read (node.forward-policy, node.overlay-port, node.iptables-backends, node.masquerade), into
# test/fixtures/outputs/iptables/ and test/fixtures/outputs/nft/. Complements scripts/capture-fixtures.sh.
# Each capture gets a `.note`: the exact command, the tool's version, the kernel, the date, and the shape.
#
# Safety: every rule lives in a network namespace this script creates (prefix flt-h-nf-); nothing is added to
# the machine's own namespace and no packet is sent. The namespaces are removed on exit, also on failure.
#
# Usage (root): scripts/capture-netfilter.sh [OUTDIR]
set -euo pipefail
OUT=${1:-"$(cd "$(dirname "$0")/.." && pwd)/test/fixtures/outputs"}
HEALTHY=flt-h-nf-healthy # iptables mode, Docker-style FORWARD DROP, INPUT DROP with a peer allowlist
CENTOS=flt-h-nf-centos   # iptables-services defaults: catch-all REJECT in INPUT and FORWARD before flannel's rules
STALE=flt-h-nf-stale     # masquerade rules of an old subnet, FLANNEL-FWD without its FORWARD jump
SPLIT=flt-h-nf-split     # flannel's rules in iptables-legacy, kube-proxy-style rules in iptables-nft
NFTFW=flt-h-nf-nftfw     # nftables mode + an nft-only host firewall (policy drop, peer set)
NFTOK=flt-h-nf-nftok     # nftables mode, nothing else
V6=flt-h-nf-v6           # ip6tables rules of a dual-stack flannel node
GOTO=flt-h-nf-goto       # -g / goto, RETURN, LOG: chain-walking semantics for the evaluator
. "$(dirname "$0")/lib/capture.sh"
netns_fresh $HEALTHY $CENTOS $STALE $SPLIT $NFTFW $NFTOK $V6 $GOTO
inns() {
  local ns=$1
  shift
  ip netns exec "$ns" "$@"
}

# --- flt-h-healthy: flannel (iptables mode, subnet 10.244.2.0/24) after Docker's rules --------------------
inns $HEALTHY iptables-restore <<'EOR'
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
:FLANNEL-POSTRTG - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
-A DOCKER -i docker0 -j RETURN
-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s 10.244.2.0/24 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.2.0/24 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.2.0/24 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
:FLANNEL-FWD - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -s 10.99.0.0/24 -p udp -m udp --dport 8472 -m comment --comment "flannel vxlan from nodes" -j ACCEPT
-A INPUT -p icmp -j ACCEPT
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -j RETURN
-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
-A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
COMMIT
EOR

# --- flt-h-centos: CentOS 7 iptables-services defaults, flannel's rules appended after the REJECTs -------
inns $CENTOS iptables-restore <<'EOR'
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:FLANNEL-FWD - [0:0]
-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p icmp -j ACCEPT
-A INPUT -i lo -j ACCEPT
-A INPUT -p tcp -m state --state NEW -m tcp --dport 22 -j ACCEPT
-A INPUT -j REJECT --reject-with icmp-host-prohibited
-A FORWARD -j REJECT --reject-with icmp-host-prohibited
-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
-A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
COMMIT
EOR

# --- flt-h-stale: old subnet's masquerade rules (older flannel, no --random-fully), no FORWARD jump ------
inns $STALE iptables-restore <<'EOR'
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:FLANNEL-POSTRTG - [0:0]
-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s 10.244.5.0/24 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.5.0/24 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.5.0/24 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE
-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:FLANNEL-FWD - [0:0]
-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
-A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
COMMIT
EOR

# --- flt-h-split: flannel wrote through iptables-legacy, kube-proxy through iptables-nft ----------------
inns $SPLIT iptables-legacy-restore <<'EOR'
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
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:FLANNEL-FWD - [0:0]
-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
-A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
COMMIT
EOR
inns $SPLIT iptables-nft-restore <<'EOR'
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-FORWARD - [0:0]
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
EOR

# --- flt-h-nftfw: flannel nftables mode (subnet 10.244.3.0/24) + nft-only host firewall ------------------
FLANNEL_NFT() { # subnet
  cat <<EON
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
    ip saddr $1 ip daddr 10.244.0.0/16 return
    ip saddr 10.244.0.0/16 ip daddr $1 return
    ip saddr != $1 ip daddr 10.244.0.0/16 return
    ip saddr 10.244.0.0/16 ip daddr != 224.0.0.0/4 masquerade fully-random
    ip saddr != 10.244.0.0/16 ip daddr 10.244.0.0/16 masquerade fully-random
  }
}
table ip6 flannel-ipv6 {
  comment "rules for flannel-ipv6"
  chain forward {
    type filter hook forward priority filter; policy accept;
  }
  chain postrtg {
    type nat hook postrouting priority srcnat; policy accept;
  }
}
EON
}
FLANNEL_NFT 10.244.3.0/24 | inns $NFTFW nft -f -
inns $NFTFW nft -f - <<'EON'
table inet filter {
  set flannel_peers {
    type ipv4_addr
    elements = { 10.99.0.11, 10.99.0.12 }
  }
  chain input {
    type filter hook input priority filter; policy drop;
    ct state invalid drop
    ct state { established, related } accept
    iif "lo" accept
    tcp dport 22 accept
    ip saddr @flannel_peers udp dport 8472 accept comment "flannel vxlan"
    meta l4proto { icmp, ipv6-icmp } accept
  }
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
  }
  chain output {
    type filter hook output priority filter; policy accept;
  }
}
EON

# --- flt-h-nftok: flannel nftables mode only (subnet 10.244.4.0/24) ------------------------------------
FLANNEL_NFT 10.244.4.0/24 | inns $NFTOK nft -f -

# --- flt-h-v6: dual-stack flannel, ip6tables (Network 2001:cafe:42::/56, subnet 2001:cafe:42:1::/64) ---
inns $V6 ip6tables-restore <<'EOR'
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:FLANNEL-POSTRTG - [0:0]
-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s 2001:cafe:42:1::/64 -d 2001:cafe:42::/56 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s 2001:cafe:42::/56 -d 2001:cafe:42:1::/64 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG ! -s 2001:cafe:42::/56 -d 2001:cafe:42:1::/64 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s 2001:cafe:42::/56 ! -d ff00::/8 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
-A FLANNEL-POSTRTG ! -s 2001:cafe:42::/56 -d 2001:cafe:42::/56 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:FLANNEL-FWD - [0:0]
-A INPUT -p ipv6-icmp -j ACCEPT
-A INPUT -s fd00:99::/64 -p udp -m udp --dport 8472 -j ACCEPT
-A INPUT -p udp -m udp --dport 8472 -j DROP
-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
-A FLANNEL-FWD -s 2001:cafe:42::/56 -m comment --comment "flanneld forward" -j ACCEPT
-A FLANNEL-FWD -d 2001:cafe:42::/56 -m comment --comment "flanneld forward" -j ACCEPT
COMMIT
EOR

# --- flt-h-nf-goto: goto + RETURN returns past the calling built-in chain; LOG does not terminate ------
inns $GOTO iptables-restore <<'EOR'
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POD-OUT - [0:0]
-A FORWARD -i cni0 -g POD-OUT
-A FORWARD -j LOG --log-prefix "fwd-drop: "
-A FORWARD -j DROP
-A POD-OUT -s 10.244.0.0/16 -d 10.244.0.0/16 -j RETURN
-A POD-OUT -j ACCEPT
COMMIT
EOR
inns $GOTO nft -f - <<'EON'
table inet gototest {
  chain forward {
    type filter hook forward priority 10; policy accept;
    iifname "cni0" goto podout
    log prefix "fwd-drop: " drop
  }
  chain podout {
    ip saddr 10.244.0.0/16 ip daddr 10.244.0.0/16 return
    accept
  }
}
EON

IPTV=$(iptables --version)
IP6TV=$(ip6tables --version)
LEGV=$(iptables-legacy --version)
NFTV=$(nft --version)
cap() { # dir name version ns shape cmd...  (stderr is kept: iptables-nft prints its warnings there)
  local dir=$1 name=$2 ver=$3 ns=$4 shape=$5
  shift 5
  write_note "$OUT/$dir/$name" "$*" "$ver" "$ns" shape "$shape"
  ip netns exec "$ns" "$@" >"$OUT/$dir/$name" 2>&1 || true
}

S_HEALTHY="healthy iptables-mode flannel node (subnet 10.244.2.0/24) after Docker's rules; FORWARD and INPUT policy DROP, INPUT accepts udp 8472 from 10.99.0.0/24"
cap iptables healthy-docker-save.txt "$IPTV" $HEALTHY "$S_HEALTHY" iptables-save
cap iptables healthy-docker-S.txt "$IPTV" $HEALTHY "$S_HEALTHY" iptables -S
cap iptables healthy-docker-L-n-v-nat.txt "$IPTV" $HEALTHY "$S_HEALTHY" iptables -t nat -L -n -v
cap iptables healthy-docker-L-n-v-x-line-numbers.txt "$IPTV" $HEALTHY "$S_HEALTHY" iptables -L -n -v -x --line-numbers
cap nft healthy-docker-iptables-nft.txt "$NFTV" $HEALTHY "$S_HEALTHY" nft list ruleset
cap nft healthy-docker-iptables-nft.json "$NFTV" $HEALTHY "$S_HEALTHY" nft -j list ruleset

S_CENTOS="CentOS 7 iptables-services defaults (catch-all REJECT in INPUT and FORWARD) with flannel's FORWARD rules appended after them"
cap iptables centos-reject-save.txt "$IPTV" $CENTOS "$S_CENTOS" iptables-save
cap iptables centos-reject-L-n-v.txt "$IPTV" $CENTOS "$S_CENTOS" iptables -L -n -v

S_STALE="masquerade rules of an old subnet 10.244.5.0/24 written by a flannel without --random-fully; FLANNEL-FWD exists but FORWARD (policy DROP) has no jump to it"
cap iptables stale-save.txt "$IPTV" $STALE "$S_STALE" iptables-save
cap iptables stale-S-nat.txt "$IPTV" $STALE "$S_STALE" iptables -t nat -S

S_SPLIT="flannel's rules in iptables-legacy, kube-proxy-style rules in iptables-nft (rules split between backends)"
cap iptables split-legacy-save.txt "$LEGV" $SPLIT "$S_SPLIT" iptables-legacy-save
cap iptables split-legacy-L-n-v-line-numbers.txt "$LEGV" $SPLIT "$S_SPLIT" iptables-legacy -L -n -v --line-numbers
cap iptables split-nft-save.txt "$IPTV" $SPLIT "$S_SPLIT" iptables-save
cap iptables split-nft-S.txt "$IPTV" $SPLIT "$S_SPLIT" iptables -S
cap iptables split-nft-L-n.txt "$IPTV" $SPLIT "$S_SPLIT" iptables -L -n
cap nft split-ruleset.txt "$NFTV" $SPLIT "$S_SPLIT" nft list ruleset

S_NFTFW="flannel in nftables mode (subnet 10.244.3.0/24) plus an nft-only host firewall: input policy drop accepting udp 8472 from set flannel_peers, forward policy drop"
cap nft nftonly-firewall.txt "$NFTV" $NFTFW "$S_NFTFW" nft list ruleset
cap nft nftonly-firewall.json "$NFTV" $NFTFW "$S_NFTFW" nft -j list ruleset
cap nft nftonly-firewall-handles.txt "$NFTV" $NFTFW "$S_NFTFW" nft -a list ruleset
cap iptables nftonly-firewall-save.txt "$IPTV" $NFTFW "$S_NFTFW" iptables-save

S_NFTOK="flannel in nftables mode (subnet 10.244.4.0/24), no other rules"
cap nft flannel-nftables.txt "$NFTV" $NFTOK "$S_NFTOK" nft list ruleset
cap nft flannel-nftables.json "$NFTV" $NFTOK "$S_NFTOK" nft -j list ruleset

S_V6="dual-stack flannel node, ip6tables (Network 2001:cafe:42::/56, subnet 2001:cafe:42:1::/64); INPUT accepts udp 8472 from fd00:99::/64 then drops it"
cap iptables ip6tables-flannel-save.txt "$IP6TV" $V6 "$S_V6" ip6tables-save
cap iptables ip6tables-flannel-S.txt "$IP6TV" $V6 "$S_V6" ip6tables -S
cap iptables ip6tables-flannel-L-n-v.txt "$IP6TV" $V6 "$S_V6" ip6tables -L -n -v
S_GOTO="FORWARD: -i cni0 -g POD-OUT (RETURN there for pod-to-pod, else ACCEPT), then LOG and DROP; the same shape in nftables with goto"
cap iptables goto-save.txt "$IPTV" $GOTO "$S_GOTO" iptables-save
cap nft goto-ruleset.txt "$NFTV" $GOTO "$S_GOTO" nft list ruleset
cap nft goto-ruleset.json "$NFTV" $GOTO "$S_GOTO" nft -j list ruleset
# What a capture looks like when it was not run as root (the probe records it as unreadable).
cap iptables save-nonroot-error.txt "$IPTV" $GOTO "iptables-save run as user nobody (no CAP_NET_ADMIN)" setpriv --reuid=65534 --regid=65534 --clear-groups iptables-save
cap nft ruleset-nonroot-error.txt "$NFTV" $GOTO "nft list ruleset run as user nobody (no CAP_NET_ADMIN)" setpriv --reuid=65534 --regid=65534 --clear-groups nft list ruleset
echo "captured into $OUT"
