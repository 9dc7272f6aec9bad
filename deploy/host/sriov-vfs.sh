#!/bin/sh
# Creates SR-IOV virtual functions on an RNIC so VMs get their own hardware RDMA
# function (the retail setup's alternative to soft iWARP in the VM,
# deploy/retail.toml). Pass a VF to a VM with VFIO (`virsh attach-device` of a
# <hostdev> with the VF's PCI address). Needs root, an SR-IOV capable RNIC, and
# intel_iommu=on (or amd_iommu=on) iommu=pt on the kernel command line.
#
#   deploy/host/sriov-vfs.sh ens1f0 4          # 4 VFs on ens1f0
#   deploy/host/sriov-vfs.sh ens1f0 0          # remove them
set -eu

pf=${1:?usage: sriov-vfs.sh PF_NETDEV COUNT}
count=${2:?usage: sriov-vfs.sh PF_NETDEV COUNT}
dev="/sys/class/net/$pf/device"
[ -e "$dev/sriov_totalvfs" ] || { echo "$pf does not support SR-IOV" >&2; exit 1; }
total=$(cat "$dev/sriov_totalvfs")
[ "$count" -le "$total" ] || { echo "$pf supports at most $total VFs" >&2; exit 1; }

# The count can only change from or to zero.
echo 0 > "$dev/sriov_numvfs"
echo "$count" > "$dev/sriov_numvfs"
pf_byte=$(printf %02x $(( $(cat "/sys/class/net/$pf/ifindex") % 256 )))
i=0
while [ "$i" -lt "$count" ]; do
    # A fixed, locally administered MAC per VF, so a VM keeps its address.
    ip link set "$pf" vf "$i" mac "02:00:00:00:$pf_byte:$(printf %02x "$i")" trust on spoofchk off
    echo "VF $i: $(readlink -f "$dev/virtfn$i" | xargs basename)"
    i=$((i + 1))
done
rdma link show
