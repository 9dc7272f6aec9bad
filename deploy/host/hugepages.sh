#!/bin/sh
# Transparent huge pages to madvise (khugepaged compaction stalls busy-polling threads
# when set to "always") and an optional pool of explicit 2 MiB pages.
#
#   deploy/host/hugepages.sh          # THP to madvise
#   deploy/host/hugepages.sh 1024     # and reserve 1024 x 2 MiB pages
#
# Persist with transparent_hugepage=madvise (and hugepages=N) on the kernel command line.
set -eu

thp=/sys/kernel/mm/transparent_hugepage
echo madvise > "$thp/enabled"
echo defer+madvise > "$thp/defrag"
echo "THP: $(cat "$thp/enabled")"
if [ "${1:-}" ]; then
    echo "$1" > /proc/sys/vm/nr_hugepages
    echo "2 MiB pages reserved: $(cat /proc/sys/vm/nr_hugepages)"
fi
