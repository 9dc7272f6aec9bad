#!/bin/sh
# Prints (or, with --apply, loads) nftables rules that open the ports a topology's
# components listen on, from the `*listen = "ip:port"` keys of the file. iWARP (RNIC,
# kernel siw, tickwarp's soft stack) runs over TCP on these ports; RoCE v2 also needs
# UDP 4791. FIX clients connect to fix_listen.
#
#   deploy/host/firewall.sh deploy/three-hosts.toml 10.0.1.0/24
#   deploy/host/firewall.sh deploy/three-hosts.toml 10.0.1.0/24 --apply
#
# Ports in the examples: 7401 venue ITCH, 7402 venue order entry, 7411 feed rings,
# 7421 gateway RDMA order entry, 9878 FIX.
set -eu

config=${1:?usage: firewall.sh TOPOLOGY.toml ALLOWED_CIDR [--apply]}
allowed=${2:?usage: firewall.sh TOPOLOGY.toml ALLOWED_CIDR [--apply]}
ports=$(sed -n 's/^[a-z_]*listen *= *"[^"]*:\([0-9][0-9]*\)".*/\1/p' "$config" | sort -un | tr '\n' ',' | sed 's/,$//')
[ -n "$ports" ] || { echo "no listen addresses in $config" >&2; exit 1; }

rules=$(cat <<NFT
table inet tickwarp {
    chain input {
        type filter hook input priority 0; policy accept;
        ip saddr $allowed tcp dport { $ports } accept
        ip saddr $allowed udp dport 4791 accept comment "RoCE v2"
        tcp dport { $ports } drop
    }
}
NFT
)
if [ "${3:-}" = "--apply" ]; then
    nft delete table inet tickwarp 2>/dev/null || true
    printf '%s\n' "$rules" | nft -f -
    echo "loaded: tcp ports $ports from $allowed"
else
    printf '%s\n' "$rules"
fi
