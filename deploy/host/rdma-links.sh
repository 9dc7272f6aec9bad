#!/bin/sh
# Creates kernel software RDMA devices on a NIC that has no RNIC: soft iWARP (siw,
# interoperates with tickwarp's userspace stack and with iWARP RNICs) or soft RoCE
# (rxe). tickwarp does not need either (its own soft stack runs over plain TCP); use
# them to run `backend = "hardware"` code paths, or to let non-tickwarp verbs
# applications talk to tickwarp.
#
#   deploy/host/rdma-links.sh siw eth0     # creates siw_eth0
#   deploy/host/rdma-links.sh rxe eth0     # creates rxe_eth0
#   deploy/host/rdma-links.sh siw lo       # loopback, for single-host tests
#
# Needs iproute2's `rdma` tool and root. Undo: `rdma link delete siw_eth0`.
set -eu

kind=${1:?usage: rdma-links.sh siw|rxe NETDEV}
netdev=${2:?usage: rdma-links.sh siw|rxe NETDEV}
case "$kind" in
    siw|rxe) ;;
    *) echo "unknown kind $kind (siw or rxe)" >&2; exit 2 ;;
esac
[ -e "/sys/class/net/$netdev" ] || { echo "no network device $netdev" >&2; exit 1; }

modprobe "$kind" 2>/dev/null || modprobe "rdma_$kind"
name="${kind}_${netdev}"
if rdma link show "$name/1" >/dev/null 2>&1; then
    echo "$name already exists"
else
    rdma link add "$name" type "$kind" netdev "$netdev"
fi
rdma link show "$name/1"
echo "check with: tickwarp doctor"
