#!/bin/bash
# Interop smoke test: tickwarp's userspace soft-iWARP initiator against the Linux kernel
# iWARP stack (siw) running `rping -s -P` in a qemu VM (../shared/siw-vm, see its README).
#
# Usage (from anywhere):
#   deploy/siw/interop-smoke.sh                    # variants "default" and "crc"
#   SIW_VARIANTS="default crc mpav1" deploy/siw/interop-smoke.sh
#   CAPTURE=1 deploy/siw/interop-smoke.sh          # also tshark -i lo per variant
#
# For each siw variant it boots the VM (SIWVARIANT=<variant>) with
#   rping -s -P -a 10.0.2.15 -p $SIW_GUESTPORT
# forwarded to 127.0.0.1:$SIW_HOSTPORT, runs
#   TICKWARP_SIW_PORT=$SIW_HOSTPORT cargo test -p tickwarp-rdma --test siw_interop -- --test-threads=1 --ignored
# (the VM tests are #[ignore]d so a plain `cargo test` reports them as ignored), checks
# that every one of them ran and passed (a run of fewer tests is a failure, not a pass),
# stops the VM, and prints a summary. On a failure it prints the tail of the guest
# console and the guest's dmesg. Exits 0 only if every variant passed.
#
# Environment:
#   SIWVM_SCRIPTS   directory holding run-siw-vm.sh (default: <repo>/../shared/siw-vm)
#   SIW_HOSTPORT    host port forwarded to the guest's rping (default 17174; the control
#                   shell uses SIW_HOSTPORT+1; both must be free on 127.0.0.1)
#   SIW_GUESTPORT   rping's port in the guest (default 7174)
#   SIW_VARIANTS    space-separated siw variants (default "default crc")
#   CAPTURE=1       capture each variant's traffic to $CAPTURE_DIR/siw-<variant>.pcapng
#                   (tshark; decode with: tshark -r FILE -V -Y 'iwarp_mpa || iwarp_ddp_rdmap')
#   CAPTURE_DIR     default /tmp/tickwarp-siw
#   CARGO_TEST_ARGS extra arguments after `--` (e.g. "--nocapture")
#
# Only 127.0.0.1 is used: the VM's user-mode network is isolated (restrict=on) and only
# reached through the hostfwd rule on the host loopback. Every VM and tshark this script
# starts is stopped on every exit path (trap); nothing else is touched.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIWVM_SCRIPTS=${SIWVM_SCRIPTS:-$ROOT/../shared/siw-vm}
RUNVM=$SIWVM_SCRIPTS/run-siw-vm.sh
HOSTPORT=${SIW_HOSTPORT:-17174}
GUESTPORT=${SIW_GUESTPORT:-7174}
VARIANTS=${SIW_VARIANTS:-default crc}
CAPTURE=${CAPTURE:-0}
CAPTURE_DIR=${CAPTURE_DIR:-/tmp/tickwarp-siw}
SIWVM_DIR=${SIWVM_DIR:-/tmp/siwvm}

log() { echo "interop-smoke: $*" >&2; }
die() { log "$*"; exit 2; }

[ -x "$RUNVM" ] || die "no run-siw-vm.sh in $SIWVM_SCRIPTS (set SIWVM_SCRIPTS)"
case $HOSTPORT in ''|*[!0-9]*) die "SIW_HOSTPORT=$HOSTPORT is not a port" ;; esac
case $GUESTPORT in ''|*[!0-9]*) die "SIW_GUESTPORT=$GUESTPORT is not a port" ;; esac

VM_UP=0
TSHARK_PID=

stop_capture() {
  if [ -n "$TSHARK_PID" ]; then
    sleep 1   # let dumpcap write the last packets before it is stopped
    kill "$TSHARK_PID" 2>/dev/null || true
    wait "$TSHARK_PID" 2>/dev/null || true
    TSHARK_PID=
  fi
}

stop_vm() {
  if [ "$VM_UP" = 1 ]; then
    "$RUNVM" stop "$HOSTPORT" >&2 || log "stopping the VM on port $HOSTPORT failed"
    VM_UP=0
  fi
}

cleanup() {
  stop_capture
  stop_vm
  [ -n "${WORK:-}" ] && rm -rf "$WORK"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

port_busy() {  # port_busy PORT -> 0 when something listens on 127.0.0.1:PORT
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

guest_diagnostics() {
  local console=$SIWVM_DIR/run/$HOSTPORT/console.log
  log "---- guest console (last 40 lines of $console) ----"
  tail -40 "$console" >&2 2>/dev/null || true
  log "---- guest dmesg (last 30 lines) ----"
  CTL_TIMEOUT=15 "$RUNVM" ctl "$HOSTPORT" 'dmesg | tail -30; rdma res show qp' >&2 2>/dev/null || true
}

# The VM tests in siw_interop.rs: each must run and pass in every variant.
EXPECTED=$(grep -c '^#\[ignore' "$ROOT/rdma/tests/siw_interop.rs" || true)
[ "${EXPECTED:-0}" -gt 0 ] || die "no #[ignore]d VM tests found in rdma/tests/siw_interop.rs"
WORK=$(mktemp -d /tmp/tickwarp-interop-smoke.XXXXXX)

# Build first, so the VM is not idling while the tests compile. `--workspace` resolves
# features as `cargo test --workspace` does, so after it nothing recompiles (`-p
# tickwarp-rdma` alone unifies fewer features and rebuilt ~20 crates).
log "building the interop tests"
(cd "$ROOT" && cargo test --workspace --test siw_interop --no-run) \
  || die "building the siw_interop tests failed"

declare -a RESULTS=()
FAILED=0
for variant in $VARIANTS; do
  for p in "$HOSTPORT" "$((HOSTPORT + 1))"; do
    port_busy "$p" && die "127.0.0.1:$p is already in use (set SIW_HOSTPORT)"
  done

  log "[$variant] booting siw VM: rping -s -P -a 10.0.2.15 -p $GUESTPORT -> 127.0.0.1:$HOSTPORT"
  VM_UP=1   # run-siw-vm.sh may have started qemu even if it fails; stop is harmless then
  if ! SIWVARIANT=$variant "$RUNVM" "rping -s -P -a 10.0.2.15 -p $GUESTPORT" "$HOSTPORT" "$GUESTPORT" >&2; then
    RESULTS+=("$variant: FAIL (VM did not boot)")
    FAILED=1
    stop_vm
    continue
  fi

  if [ "$CAPTURE" = 1 ]; then
    mkdir -p "$CAPTURE_DIR"
    pcap=$CAPTURE_DIR/siw-$variant.pcapng
    tshark -q -i lo -f "tcp port $HOSTPORT" -w "$pcap" 2>"$CAPTURE_DIR/tshark-$variant.log" &
    TSHARK_PID=$!
    # tshark reports "Capturing on 'Loopback: lo'" once the capture is armed.
    for _ in $(seq 50); do
      grep -q 'Capturing on' "$CAPTURE_DIR/tshark-$variant.log" 2>/dev/null && break
      sleep 0.1
    done
    log "[$variant] capturing to $pcap"
  fi

  log "[$variant] running cargo test --workspace --test siw_interop -- --ignored"
  out=$WORK/test-$variant.txt
  # shellcheck disable=SC2086 # CARGO_TEST_ARGS is a word list on purpose
  if (cd "$ROOT" && TICKWARP_SIW_PORT=$HOSTPORT timeout 600 \
        cargo test --workspace --test siw_interop -- --test-threads=1 --ignored \
        ${CARGO_TEST_ARGS:-}) 2>&1 | tee "$out" >&2; then
    summary=$(grep -a 'test result:' "$out" | tail -n1)
    passed=$(sed -n 's/.*test result: ok\. \([0-9]*\) passed.*/\1/p' "$out" | tail -n1)
    if [ "${passed:-0}" = "$EXPECTED" ]; then
      RESULTS+=("$variant: PASS ($passed of $EXPECTED VM tests)")
    else
      RESULTS+=("$variant: FAIL (ran ${passed:-0} of $EXPECTED VM tests: $summary)")
      FAILED=1
    fi
  else
    RESULTS+=("$variant: FAIL")
    FAILED=1
    guest_diagnostics
  fi

  stop_capture
  stop_vm
done

log "summary:"
for r in "${RESULTS[@]}"; do log "  $r"; done
[ "$CAPTURE" = 1 ] && log "captures in $CAPTURE_DIR"
exit "$FAILED"
