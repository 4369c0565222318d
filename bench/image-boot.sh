#!/bin/bash
# bench/image-boot.sh IMAGE SERIAL_LOG [TIMEOUT]: boots a qcow2/raw image under
# TCG (BIOS), serial console to SERIAL_LOG, and prints the seconds from qemu's
# start until `login:` appears there. The image is opened with snapshot=on
# (never written); the network is qemu user mode with restrict=on (no way out).
# Exits 1 (and prints nothing) when no prompt comes within TIMEOUT (default 180 s).
set -eu
img=$1 log=$2 timeout=${3:-180}
[ -f "$img" ] || { echo "$img: not found" >&2; exit 1; }
case "$img" in *.qcow2) fmt=qcow2 ;; *) fmt=raw ;; esac
: > "$log"
start=$(date +%s.%N)
qemu-system-x86_64 -machine accel=tcg -m 1024 -smp 1 \
    -display none -monitor none -serial "file:$log" \
    -drive "file=$img,format=$fmt,if=virtio,snapshot=on" \
    -nic user,model=virtio-net-pci,restrict=on > /dev/null 2>&1 &
qemu=$!
trap 'kill $qemu 2>/dev/null; wait $qemu 2>/dev/null || true' EXIT
while :; do
    if grep -q 'login:' "$log"; then
        echo "scale=1; ($(date +%s.%N) - $start) / 1" | bc
        exit 0
    fi
    kill -0 $qemu 2>/dev/null || { echo "qemu exited before a login prompt; see $log" >&2; exit 1; }
    if [ "$(echo "$(date +%s.%N) - $start > $timeout" | bc)" = 1 ]; then
        echo "no login prompt within $timeout s; see $log" >&2
        exit 1
    fi
    sleep 0.2
done
