#!/bin/bash
# Power-loss durability of the gateway's order journal: `tickwarp gateway` runs in the
# qemu VM of ../shared/siw-vm with its journal and FIX session stores on a raw disk image
# (DISK=, the guest's /dev/vda, ext4); FIX clients on the host send NewOrderSingles
# through the port forward and record every acknowledged order; qemu is SIGKILLed
# mid-stream (`run-siw-vm.sh kill`: the guest loses exactly what it had not flushed to
# the disk, as in a power cut); the VM boots again on the same disk and reads the order
# journal back. Per fsync policy:
#
#   every_record, batched   every acknowledged order must be recovered, and the gateway
#                           must start again on the recovered journal; otherwise FAIL
#   never                   may lose acknowledged orders: the script reports how many
#                           (losing some shows the test can fail); losing none is
#                           reported as such, not as a failure
#
# Usage (from anywhere):
#   deploy/siw/power-loss.sh
#   POLICIES="every_record never" KILL_AFTER=300 deploy/siw/power-loss.sh
#
# Steps per policy:
#   1. truncate -s 256M + mkfs.ext4 -F a fresh image; an OVERLAY with the debug builds of
#      `tickwarp` and `power_loss` (bench/src/bin/power_loss.rs, debug info stripped; the
#      guest is Debian 12 like the host), the gateway configuration and two guest scripts.
#   2. boot 1: mount /dev/vda /mnt, `tickwarp gateway` with journal dir /mnt/gw,
#      listening on the guest's 0.0.0.0:9878 (plain FIX inside the VM's isolated
#      network, so the configuration below sets allow_plaintext), forwarded to 127.0.0.1:$PL_HOSTPORT.
#   3. `power_loss drive`: $SESSIONS FIX sessions, one order in flight each, every
#      ExecutionReport ack appended to acked.txt; after $KILL_AFTER acks (or
#      $DRIVE_TIMEOUT s with at least one) `run-siw-vm.sh kill`.
#   4. boot 2 on the same image with acked.txt in the overlay: mount (ext4 replays its
#      journal), `power_loss check` (the gateway's own journal recovery; prints
#      "POWERLOSS CHECK acked=N recovered=M missing=K"), then `tickwarp gateway` must
#      come up on that journal ("POWERLOSS RESTART ok").
#
# Exit status: 0 all verdicts hold; 1 an acknowledged order was lost (or the gateway did
# not restart) under every_record or batched; 2 the setup failed (build, VM, no acks).
# CI retries only status 2.
#
# Environment:
#   SIWVM_SCRIPTS   directory holding run-siw-vm.sh (default: <repo>/../shared/siw-vm)
#   PL_HOSTPORT     host port forwarded to the guest's FIX relay (default 17700; the
#                   control shell uses +1; both must be free on 127.0.0.1)
#   POLICIES        default "every_record batched never"
#   SESSIONS        FIX sessions (default 4)
#   KILL_AFTER      acknowledged orders before the power cut (default 150)
#   DRIVE_TIMEOUT   seconds to reach KILL_AFTER (default 150)
#   CHECK_TIMEOUT   seconds for boot 2's check and restart (default 300)
#   KEEP=1          keep the work directory (images, logs) for inspection
#
# Only 127.0.0.1 is used: the VM's user-mode network is isolated (restrict=on). Every VM
# and process this script starts is stopped on every exit path (trap), by its recorded
# PID; nothing else is touched.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIWVM_SCRIPTS=${SIWVM_SCRIPTS:-$ROOT/../shared/siw-vm}
RUNVM=$SIWVM_SCRIPTS/run-siw-vm.sh
SIWVM_DIR=${SIWVM_DIR:-/tmp/siwvm}
HOSTPORT=${PL_HOSTPORT:-17700}
GUESTPORT=9878
POLICIES=${POLICIES:-every_record batched never}
SESSIONS=${SESSIONS:-4}
KILL_AFTER=${KILL_AFTER:-150}
DRIVE_TIMEOUT=${DRIVE_TIMEOUT:-150}
CHECK_TIMEOUT=${CHECK_TIMEOUT:-300}
GUEST_DIR=/opt/tickwarp

log() { echo "power-loss: $*" >&2; }
die() { log "$*"; exit 2; }

[ -x "$RUNVM" ] || die "no run-siw-vm.sh in $SIWVM_SCRIPTS (set SIWVM_SCRIPTS)"
for n in "$HOSTPORT" "$SESSIONS" "$KILL_AFTER" "$DRIVE_TIMEOUT" "$CHECK_TIMEOUT"; do
  case $n in ''|*[!0-9]*) die "'$n' is not a number" ;; esac
done
command -v mkfs.ext4 >/dev/null || die "mkfs.ext4 missing (apt-get install e2fsprogs)"

WORK=$(mktemp -d /tmp/tickwarp-power-loss.XXXXXX)
VM_UP=0
DRIVER_PID=

stop_driver() {
  if [ -n "$DRIVER_PID" ]; then
    kill "$DRIVER_PID" 2>/dev/null || true
    wait "$DRIVER_PID" 2>/dev/null || true
    DRIVER_PID=
  fi
}

stop_vm() {
  if [ "$VM_UP" = 1 ]; then
    "$RUNVM" stop "$HOSTPORT" >&2 || log "stopping the VM on port $HOSTPORT failed"
    VM_UP=0
  fi
}

cleanup() {
  stop_driver
  stop_vm
  if [ "${KEEP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

port_busy() {  # port_busy PORT -> 0 when something listens on 127.0.0.1:PORT
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

console_log() { echo "$SIWVM_DIR/run/$HOSTPORT/console.log"; }

show_console() {  # show_console WHY
  log "---- $1: guest console (last 40 lines of $(console_log)) ----"
  tail -40 "$(console_log)" >&2 2>/dev/null || true
}

# --- build: one debug build serves host and guest (both Debian 12 glibc) -------------
# `--workspace --tests` resolves features as `cargo test --workspace` does, so after it
# only power_loss compiles (`-p` alone unifies fewer features and rebuilt ~40 crates).
log "building tickwarp and power_loss (debug)"
(cd "$ROOT" && cargo build --workspace --tests --bin tickwarp --bin power_loss) >&2 ||
  die "cargo build failed"
BIN_DIR=${CARGO_TARGET_DIR:-$ROOT/target}/debug
for b in tickwarp power_loss; do [ -x "$BIN_DIR/$b" ] || die "no $BIN_DIR/$b"; done
DRIVER=$BIN_DIR/power_loss

OVERLAY=$WORK/overlay
mkdir -p "$OVERLAY$GUEST_DIR"
for b in tickwarp power_loss; do
  objcopy --strip-debug "$BIN_DIR/$b" "$OVERLAY$GUEST_DIR/$b"
done

# Boot 1: the gateway on the disk; run-siw-vm.sh reports READY once it listens.
cat > "$OVERLAY$GUEST_DIR/run-gateway.sh" <<EOF
#!/bin/sh
mkdir -p /mnt && mount /dev/vda /mnt || { echo "POWERLOSS MOUNT failed"; exit 1; }
mkdir -p /mnt/gw
$GUEST_DIR/tickwarp gateway --config $GUEST_DIR/gateway.toml > /tmp/gw.out 2>&1 &
pid=\$!
i=0
until grep -q 'FIX listening' /tmp/gw.out; do
  kill -0 \$pid 2>/dev/null || { echo "POWERLOSS GATEWAY exited"; cat /tmp/gw.out; exit 1; }
  i=\$((i + 1)); [ \$i -le 300 ] || { echo "POWERLOSS GATEWAY silent"; cat /tmp/gw.out; exit 1; }
  sleep 1
done
cat /tmp/gw.out
wait \$pid
EOF

# Boot 2: what survived, read the way the gateway recovers; then the gateway itself.
cat > "$OVERLAY$GUEST_DIR/check.sh" <<EOF
#!/bin/sh
mkdir -p /mnt && mount /dev/vda /mnt || { echo "POWERLOSS MOUNT failed"; exit 1; }
$GUEST_DIR/power_loss check --config $GUEST_DIR/gateway.toml --acked $GUEST_DIR/acked.txt
echo "POWERLOSS CHECK-RC=\$?"
$GUEST_DIR/tickwarp gateway --config $GUEST_DIR/gateway.toml > /tmp/gw.out 2>&1 &
pid=\$!
i=0
until grep -q 'FIX listening' /tmp/gw.out; do
  if ! kill -0 \$pid 2>/dev/null || [ \$i -ge 240 ]; then
    echo "POWERLOSS RESTART failed:"; cat /tmp/gw.out; kill \$pid 2>/dev/null; exit 1
  fi
  i=\$((i + 1)); sleep 1
done
echo "POWERLOSS RESTART ok"
kill \$pid
wait \$pid
umount /mnt
EOF
chmod +x "$OVERLAY$GUEST_DIR/run-gateway.sh" "$OVERLAY$GUEST_DIR/check.sh"

write_config() {  # write_config POLICY
  local fsync
  case $1 in
    every_record) fsync='"every_record"' ;;
    batched) fsync='{ batched = { max_records = 64, max_delay_us = 500 } }' ;;
    never) fsync='"never"' ;;
    *) die "unknown policy $1" ;;
  esac
  {
    cat <<EOF
listen = "0.0.0.0:$GUESTPORT"
# Plain FIX inside the VM's isolated network (only the host's loopback forward reaches it).
allow_plaintext = true
max_orders = 100000
[journal]
dir = "/mnt/gw"
fsync = $fsync
segment_mib = 8
[risk]
max_order_qty = 1000
max_notional = "100000000"
collar_bps = 0
credit_limit = "1000000000"
max_position = 1000000
max_orders_per_day = 1000000
[risk.throttle]
msgs_per_sec = 100000
burst = 100000
[[instruments]]
symbol = "ACME"
id = 1
reference_price = "100"
EOF
    for s in $(seq 1 "$SESSIONS"); do
      printf '[[sessions]]\nid = %d\nsender_comp_id = "GW"\ntarget_comp_id = "PL%02d"\naccount = %d\nallow_no_password = true\n' \
        "$s" "$s" $((1000 + s))
    done
  } > "$OVERLAY$GUEST_DIR/gateway.toml"
}

guest_exit_rc() {  # guest_exit_rc SECONDS: waits for the boot command's exit; prints rc
  local deadline=$((SECONDS + $1)) rc
  while [ $SECONDS -lt $deadline ]; do
    rc=$(sed -n 's/.*ORACLE CMD EXIT rc=\([0-9]*\).*/\1/p' "$(console_log)" 2>/dev/null | tail -n1)
    [ -n "$rc" ] && { echo "$rc"; return 0; }
    sleep 1
  done
  echo timeout
}

declare -a SUMMARY=()
VERDICT=0
setup_failed() {  # setup_failed POLICY WHY
  SUMMARY+=("$1: SETUP FAILED ($2)")
  [ "$VERDICT" = 1 ] || VERDICT=2
}

run_policy() {
  local policy=$1 start=$SECONDS
  local img=$WORK/$policy.img acked=$WORK/$policy-acked.txt
  for p in "$HOSTPORT" "$((HOSTPORT + 1))"; do
    port_busy "$p" && die "127.0.0.1:$p is already in use (set PL_HOSTPORT)"
  done
  write_config "$policy"
  rm -f "$OVERLAY$GUEST_DIR/acked.txt"
  rm -f "$img"
  truncate -s 256M "$img"
  mkfs.ext4 -q -F "$img"

  log "[$policy] boot 1: tickwarp gateway on /dev/vda, FIX 127.0.0.1:$HOSTPORT -> guest :$GUESTPORT"
  VM_UP=1
  if ! DISK=$img OVERLAY=$OVERLAY "$RUNVM" "$GUEST_DIR/run-gateway.sh" "$HOSTPORT" "$GUESTPORT" >&2; then
    show_console "boot 1 failed"
    stop_vm
    setup_failed "$policy" "boot 1: the gateway did not come up"
    return
  fi
  if grep -a -q -E '^ORACLE (FAIL|CMD EXIT)' "$(console_log)"; then
    show_console "boot 1: the guest command failed"
    stop_vm
    setup_failed "$policy" "boot 1: the gateway did not come up"
    return
  fi
  grep -a 'tickwarp gateway' "$(console_log)" >&2 || true

  "$DRIVER" drive --addr "127.0.0.1:$HOSTPORT" --sessions "$SESSIONS" --acked "$acked" \
    > "$WORK/$policy-drive.out" 2> "$WORK/$policy-drive.err" &
  DRIVER_PID=$!
  local n=0 deadline=$((SECONDS + DRIVE_TIMEOUT))
  while :; do
    n=0
    [ -f "$acked" ] && n=$(wc -l < "$acked")
    [ "$n" -ge "$KILL_AFTER" ] && break
    kill -0 "$DRIVER_PID" 2>/dev/null || break
    [ $SECONDS -ge $deadline ] && break
    sleep 0.2
  done
  if ! kill -0 "$DRIVER_PID" 2>/dev/null; then
    # The driver stopped before the power cut: nothing was cut mid-stream.
    wait "$DRIVER_PID" || true
    DRIVER_PID=
    cat "$WORK/$policy-drive.err" "$WORK/$policy-drive.out" >&2
    show_console "the FIX driver stopped before the power cut"
    stop_vm
    setup_failed "$policy" "the FIX driver stopped after $n acks, before the power cut"
    return
  fi
  log "[$policy] power cut after $n acknowledged orders ($((SECONDS - start)) s)"
  "$RUNVM" kill "$HOSTPORT" >&2
  VM_UP=0
  local drive_rc=0
  wait "$DRIVER_PID" || drive_rc=$?
  DRIVER_PID=
  cat "$WORK/$policy-drive.out" >&2
  grep -v 'logon failed' "$WORK/$policy-drive.err" | tail -n "$((SESSIONS + 5))" >&2 || true
  local acks
  acks=$(wc -l < "$acked")
  if [ "$drive_rc" != 0 ] || [ "$acks" -lt 1 ]; then
    setup_failed "$policy" "FIX driver exit $drive_rc with $acks acks"
    return
  fi

  log "[$policy] boot 2 on the same disk: recovery of $acks acknowledged orders"
  cp "$acked" "$OVERLAY$GUEST_DIR/acked.txt"
  VM_UP=1
  if ! DISK=$img OVERLAY=$OVERLAY "$RUNVM" "$GUEST_DIR/check.sh" "$HOSTPORT" 0 >&2; then
    show_console "boot 2 failed"
    stop_vm
    setup_failed "$policy" "boot 2 failed"
    return
  fi
  local rc
  rc=$(guest_exit_rc "$CHECK_TIMEOUT")
  grep -a -E 'POWERLOSS|EXT4-fs|tickwarp' "$(console_log)" | grep -v 'ORACLE CMD' | head -60 >&2 || true
  stop_vm
  local line recovered missing restart
  line=$(grep -a 'POWERLOSS CHECK acked=' "$(console_log)" | tail -n1 | tr -d '\r')
  recovered=$(sed -n 's/.*recovered=\([0-9]*\).*/\1/p' <<<"$line")
  missing=$(sed -n 's/.*missing=\([0-9]*\).*/\1/p' <<<"$line")
  if grep -a -q 'POWERLOSS RESTART ok' "$(console_log)"; then restart=ok; else restart=FAILED; fi
  if [ -z "$line" ] || [ -z "$recovered" ] || [ -z "$missing" ]; then
    show_console "no check result (guest rc=$rc)"
    case $policy in
      never) SUMMARY+=("$policy: acked=$acks, no check result (guest rc=$rc)") ;;
      *) SUMMARY+=("$policy: FAIL acked=$acks, no check result (guest rc=$rc)"); VERDICT=1 ;;
    esac
    return
  fi
  local took=$((SECONDS - start))
  case $policy in
    never)
      if [ "$missing" -gt 0 ]; then
        SUMMARY+=("$policy: acked=$acks recovered=$recovered lost=$missing (expected: no sync) restart=$restart [${took}s]")
      else
        SUMMARY+=("$policy: acked=$acks recovered=$recovered lost=0 (nothing lost this run; not a failure) restart=$restart [${took}s]")
      fi ;;
    *)
      if [ "$missing" = 0 ] && [ "$recovered" = "$acks" ] && [ "$restart" = ok ]; then
        SUMMARY+=("$policy: PASS acked=$acks recovered=$recovered lost=0 restart=ok [${took}s]")
      else
        SUMMARY+=("$policy: FAIL acked=$acks recovered=$recovered lost=$missing restart=$restart [${took}s]")
        VERDICT=1
      fi ;;
  esac
}

for policy in $POLICIES; do
  run_policy "$policy"
done

echo "power-loss summary (SIGKILL of qemu mid-stream, $SESSIONS FIX sessions):"
for s in "${SUMMARY[@]}"; do echo "  $s"; done
exit "$VERDICT"
