#!/bin/bash
# The hardware verbs backend (cargo feature `hw`) on a real kernel verbs device: kernel
# soft-iWARP (siw0) in the qemu VM of ../shared/siw-vm (see its README).
#
# Usage (from anywhere):
#   deploy/siw/hw-conformance.sh
#
# Builds the conformance test binary with `--features hw` (rdma/tests/conformance.rs),
# copies it into the guest (OVERLAY=/opt/tickwarp/conformance) and runs three phases
# (A and B in one VM, C in a second one):
#   A  guest hw responder <-> host soft initiator: the boot command is
#      `conformance --ignored --exact remote_peer::responder` listening on siw0
#      (10.0.2.15:$HW_GUESTPORT); the host binary, soft backend, connects through the
#      hostfwd 127.0.0.1:$HW_HOSTPORT and runs the RDMA WRITE ring and the message
#      channel end to end (remote_peer::initiator).
#   B  the conformance suite on siw0 inside the guest, through the control shell:
#      `TICKWARP_HW_ADDR=10.0.2.15 conformance --test-threads=1 --ignored hw::` (the
#      hw:: cases are #[ignore]d so a plain `cargo test` reports them as ignored); the
#      phase passes only when every hw:: case listed in conformance.rs ran and passed.
#   C  host soft responder <-> guest hw initiator: the host listens on
#      127.0.0.1:$HW_GUESTFWD, the guest connects to 10.0.2.100:$HW_GUESTFWD (guestfwd).
#      The VM runs SIWVARIANT=$HW_C_VARIANT (default p2p): a ring writer sends first,
#      which MPA allows only in RFC 6581 peer-to-peer mode; kernel siw as a non-P2P
#      initiator fails a connection whose first FPDU arrives with the MPA Reply
#      (siw_cm.c siw_recv_mpa_rr: "peer sent extra data" -> CONNECT_ERROR -EINVAL).
# then stops the VM and prints a summary. Exits 0 only if every phase passed.
#
# Environment:
#   SIWVM_SCRIPTS   directory holding run-siw-vm.sh (default: <repo>/../shared/siw-vm)
#   HW_HOSTPORT     host port forwarded to the guest responder (default 17600; the control
#                   shell uses HW_HOSTPORT+1; both must be free on 127.0.0.1)
#   HW_GUESTPORT    the guest responder's port on siw0 (default 7700)
#   HW_GUESTFWD     host port the guest initiator reaches as 10.0.2.100 (default 17610)
#   PHASES          subset of "A B C" to run (default all)
#   HW_VARIANT      siw variant of the VM for phases A and B (default "default")
#   HW_C_VARIANT    siw variant of the VM for phase C (default "p2p")
#   CTL_TIMEOUT     seconds for the in-guest suite (default 900)
#
# Only 127.0.0.1 is used: the VM's user-mode network is isolated (restrict=on) and reached
# only through the hostfwd/guestfwd rules on the host loopback. The VM and the host-side
# peer this script starts are stopped on every exit path (trap), by their recorded PIDs.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIWVM_SCRIPTS=${SIWVM_SCRIPTS:-$ROOT/../shared/siw-vm}
RUNVM=$SIWVM_SCRIPTS/run-siw-vm.sh
HOSTPORT=${HW_HOSTPORT:-17600}
GUESTPORT=${HW_GUESTPORT:-7700}
GUESTFWD=${HW_GUESTFWD:-17610}
PHASES=${PHASES:-A B C}
VARIANT_AB=${HW_VARIANT:-default}
VARIANT_C=${HW_C_VARIANT:-p2p}
SUITE_TIMEOUT=${CTL_TIMEOUT:-900}
SIWVM_DIR=${SIWVM_DIR:-/tmp/siwvm}
GUEST_IP=10.0.2.15
GUEST_HOST_ALIAS=10.0.2.100
GUEST_BIN=/opt/tickwarp/conformance

log() { echo "hw-conformance: $*" >&2; }
die() { log "$*"; exit 2; }

[ -x "$RUNVM" ] || die "no run-siw-vm.sh in $SIWVM_SCRIPTS (set SIWVM_SCRIPTS)"
for p in "$HOSTPORT" "$GUESTPORT" "$GUESTFWD"; do
  case $p in ''|*[!0-9]*) die "port '$p' is not a number" ;; esac
done

VM_UP=0
PEER_PID=
WORK=

stop_peer() {
  if [ -n "$PEER_PID" ]; then
    kill "$PEER_PID" 2>/dev/null || true
    wait "$PEER_PID" 2>/dev/null || true
    PEER_PID=
  fi
}

stop_vm() {
  if [ "$VM_UP" = 1 ]; then
    "$RUNVM" stop "$HOSTPORT" >&2 || log "stopping the VM on port $HOSTPORT failed"
    VM_UP=0
  fi
}

cleanup() {
  stop_peer
  stop_vm
  [ -n "$WORK" ] && rm -rf "$WORK"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

port_busy() {  # port_busy PORT -> 0 when something listens on 127.0.0.1:PORT
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

for p in "$HOSTPORT" "$((HOSTPORT + 1))" "$GUESTFWD"; do
  port_busy "$p" && die "127.0.0.1:$p is in use"
done

# The hw:: cases: one per `module::case,` line of the conformance! invocation.
HW_CASES=$(sed -n '/^conformance!(/,/^);/p' "$ROOT/rdma/tests/conformance.rs" |
  grep -c -E '^ *[a-z_]+::[a-z_0-9]+,?$' || true)
[ "${HW_CASES:-0}" -gt 0 ] || die "no conformance cases found in rdma/tests/conformance.rs"

# --- build -------------------------------------------------------------------------
log "building the conformance binary with --features hw"
HOSTBIN=$(cd "$ROOT" && cargo test -p tickwarp-rdma --features hw --test conformance \
  --no-run --message-format=json 2>/dev/null |
  grep -o '"executable":"[^"]*/conformance-[^"]*"' | tail -n1 | cut -d'"' -f4)
[ -n "$HOSTBIN" ] && [ -x "$HOSTBIN" ] || die "cargo did not produce the conformance binary"
log "binary: $HOSTBIN"
WORK=$(mktemp -d /tmp/tickwarp-hw.XXXXXX)
mkdir -p "$WORK/overlay/opt/tickwarp"
objcopy --strip-debug "$HOSTBIN" "$WORK/overlay$GUEST_BIN"

declare -A RESULT
for ph in A B C; do RESULT[$ph]=skipped; done

console() { cat "$SIWVM_DIR/run/$HOSTPORT/console.log" 2>/dev/null || true; }

# ran_one FILE: libtest's output in FILE says exactly one test ran and passed (an --exact
# filter that matches nothing exits 0 with "0 passed", which must not count as a pass).
ran_one() { grep -a -q 'test result: ok\. 1 passed' "$1"; }

guest_exit_rc() {  # waits until the boot command exited; prints its rc
  local deadline=$((SECONDS + $1)) rc
  while [ $SECONDS -lt $deadline ]; do
    rc=$(console | sed -n 's/.*ORACLE CMD EXIT rc=\([0-9]*\).*/\1/p' | tail -n1)
    [ -n "$rc" ] && { echo "$rc"; return 0; }
    sleep 1
  done
  echo timeout
}

# --- boot: the guest responder is the boot command (phase A) ------------------------
RESPONDER="cd /tmp && TICKWARP_REMOTE_BACKEND=hardware TICKWARP_REMOTE_LISTEN=$GUEST_IP:$GUESTPORT"
RESPONDER+=" $GUEST_BIN --ignored --exact remote_peer::responder --nocapture"
boot_vm() {  # boot_vm VARIANT 'GUEST CMD' GUESTPORT
  log "booting the VM (siw $1; hostfwd 127.0.0.1:$HOSTPORT -> $GUEST_IP:$3, guestfwd $GUEST_HOST_ALIAS:$GUESTFWD)"
  VM_UP=1
  SIWVARIANT=$1 OVERLAY=$WORK/overlay GUESTFWD=$GUESTFWD "$RUNVM" "$2" "$HOSTPORT" "$3" >&2 ||
    die "the VM did not come up"
}

if [[ " $PHASES " == *" A "* || " $PHASES " == *" B "* ]]; then
  boot_vm "$VARIANT_AB" "$RESPONDER" "$GUESTPORT"
fi

if [[ " $PHASES " == *" A "* ]]; then
  log "phase A: host soft initiator -> guest hw responder"
  if TICKWARP_REMOTE_BACKEND=soft TICKWARP_REMOTE_CONNECT=127.0.0.1:$HOSTPORT \
      timeout 300 "$HOSTBIN" --ignored --exact remote_peer::initiator --nocapture \
      2>&1 | tee "$WORK/phase-a.txt" >&2 && ran_one "$WORK/phase-a.txt"; then
    host_ok=1
  else
    host_ok=0
  fi
  guest_rc=$(guest_exit_rc 120)
  console | grep -a -E 'REMOTE|^Error|^Caused|^    [a-zA-Z]|siw: ' >&2 || true
  if [ "$host_ok" = 1 ] && [ "$guest_rc" = 0 ] && ran_one <(console); then RESULT[A]=pass; else
    RESULT[A]="FAIL (host ok=$host_ok, guest rc=$guest_rc)"
  fi
fi

if [[ " $PHASES " == *" B "* ]]; then
  log "phase B: conformance suite on siw0 in the guest"
  OUT=$WORK/suite.txt
  CTL_TIMEOUT=$SUITE_TIMEOUT "$RUNVM" ctl "$HOSTPORT" \
    "cd /tmp && TICKWARP_HW_ADDR=$GUEST_IP $GUEST_BIN --test-threads=1 --ignored hw:: ; echo SUITE_RC=\$?" \
    > "$OUT" 2>&1 || true
  grep -a -E '^test |test result|^---- |^Error|known siw' "$OUT" >&2 || true
  rc=$(sed -n 's/^SUITE_RC=\([0-9]*\).*/\1/p' "$OUT" | tail -n1)
  summary=$(grep -a 'test result' "$OUT" | tail -n1)
  passed=$(sed -n 's/.*test result: ok\. \([0-9]*\) passed.*/\1/p' "$OUT" | tail -n1)
  if [ "$rc" = 0 ] && [ "${passed:-0}" = "$HW_CASES" ]; then
    RESULT[B]="pass ($summary)"
  else
    RESULT[B]="FAIL rc=${rc:-none}, ${passed:-0} of $HW_CASES hw:: cases passed ($summary)"
  fi
fi

if [[ " $PHASES " == *" C "* ]]; then
  stop_vm
  boot_vm "$VARIANT_C" "sleep 100000" 0
  log "phase C: guest hw initiator -> host soft responder"
  TICKWARP_REMOTE_BACKEND=soft TICKWARP_REMOTE_LISTEN=127.0.0.1:$GUESTFWD \
    timeout 300 "$HOSTBIN" --ignored --exact remote_peer::responder --nocapture \
    > "$WORK/phase-c.txt" 2>&1 &
  PEER_PID=$!
  for _ in $(seq 50); do port_busy "$GUESTFWD" && break; sleep 0.1; done
  OUT=$WORK/initiator.txt
  CTL_TIMEOUT=300 "$RUNVM" ctl "$HOSTPORT" \
    "cd /tmp && TICKWARP_REMOTE_BACKEND=hardware TICKWARP_REMOTE_LOCAL=$GUEST_IP TICKWARP_REMOTE_CONNECT=$GUEST_HOST_ALIAS:$GUESTFWD $GUEST_BIN --ignored --exact remote_peer::initiator --nocapture ; echo PEER_RC=\$?" \
    > "$OUT" 2>&1 || true
  grep -a -E 'REMOTE|test result|^Error' "$OUT" >&2 || true
  guest_rc=$(sed -n 's/^PEER_RC=\([0-9]*\).*/\1/p' "$OUT" | tail -n1)
  if wait "$PEER_PID" && ran_one "$WORK/phase-c.txt"; then host_ok=1; else host_ok=0; fi
  PEER_PID=
  cat "$WORK/phase-c.txt" >&2
  if [ "$host_ok" = 1 ] && [ "$guest_rc" = 0 ] && ran_one "$OUT"; then RESULT[C]=pass; else
    RESULT[C]="FAIL (host ok=$host_ok, guest rc=${guest_rc:-none})"
  fi
fi

stop_vm

echo "hw-conformance summary:"
echo "  A host soft initiator -> guest siw0 responder (ring + channel + READ) [siw $VARIANT_AB]: ${RESULT[A]}"
echo "  B conformance suite hw:: on siw0 in the guest              [siw $VARIANT_AB]: ${RESULT[B]}"
echo "  C guest siw0 initiator -> host soft responder (ring + channel + READ) [siw $VARIANT_C]: ${RESULT[C]}"
for ph in A B C; do
  case ${RESULT[$ph]} in pass*|skipped) ;; *) exit 1 ;; esac
done
exit 0
