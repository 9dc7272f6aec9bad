#!/bin/sh
# Steers every interrupt of a NIC to the housekeeping cores, away from the cores the
# tickwarp agents busy-poll on. irqbalance would move them back: stop it, or ban the
# isolated cores in it (IRQBALANCE_BANNED_CPULIST=2-5 in /etc/default/irqbalance).
#
#   deploy/host/irq-affinity.sh ens1f0 0-1
#
# Check with `tickwarp doctor` (nic irq affinity).
set -eu

nic=${1:?usage: irq-affinity.sh NETDEV HOUSEKEEPING_CPULIST}
cpus=${2:?usage: irq-affinity.sh NETDEV HOUSEKEEPING_CPULIST}
irqs="/sys/class/net/$nic/device/msi_irqs"
[ -d "$irqs" ] || { echo "$nic has no MSI interrupts listed" >&2; exit 1; }

if systemctl is-active --quiet irqbalance 2>/dev/null; then
    echo "warning: irqbalance is running and may move these interrupts back" >&2
fi
for irq in $(ls "$irqs"); do
    if [ -w "/proc/irq/$irq/smp_affinity_list" ]; then
        echo "$cpus" > "/proc/irq/$irq/smp_affinity_list" 2>/dev/null \
            && echo "irq $irq -> $cpus" \
            || echo "irq $irq: kernel-managed, left alone (isolcpus=managed_irq keeps it off isolated cores)"
    fi
done
