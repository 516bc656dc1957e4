#!/usr/bin/env bash
# Installs the Debian packages the test suite uses (real ip, bridge, iptables, nft, ping, ethtool, kubectl).
# Needs root on a Debian machine; a no-op when everything is there.
set -euo pipefail
need_pkgs=()
for pair in ip:iproute2 bridge:iproute2 iptables:iptables nft:nftables ping:iputils-ping ethtool:ethtool \
  sysctl:procps setpriv:util-linux iperf3:iperf3 ifconfig:net-tools; do
  bin=${pair%%:*}; pkg=${pair##*:}
  command -v "$bin" >/dev/null 2>&1 || need_pkgs+=("$pkg")
done
# The real kubectl (Debian's kubernetes-client) for the API fidelity tests; another kubectl is fine too.
command -v kubectl >/dev/null 2>&1 || need_pkgs+=(kubernetes-client)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi
