#!/bin/bash
# bench/image-boot-report.sh [ELEMENT...]: where the seconds to the login prompt go.
# Builds `debian-minimal vm` (or the given elements) plus the bench-only `boot-report`
# element, boots it under TCG like bench/image-boot.sh, and prints, with the time each line
# reached the serial console: when GRUB booted, when the kernel and /init started, the login
# prompt, and the guest's own report (systemd-analyze, the getty's critical chain, the slowest
# units, CPU seconds by unit, loaded modules, the boot journal).
#   bench/image-boot-report.sh                      (as root)
# Env: SOLUM_IMAGE (binary), BENCH_DIR (default /var/tmp/solum-image-boot-report, kept),
#      BOOT_SECS (default 90: how long the guest runs).
set -eu
set -o pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${SOLUM_IMAGE:-$here/target/release/solum-image}
[ -x "$bin" ] || { echo "build it first: cargo build --release -p solum-image" >&2; exit 1; }
work=${BENCH_DIR:-/var/tmp/solum-image-boot-report}
mkdir -p "$work"
[ $# -gt 0 ] || set -- debian-minimal vm
export SOLUM_IMAGE_ELEMENTS_DIR=$here/elements
export ELEMENTS_PATH=$here/bench/elements${ELEMENTS_PATH:+:$ELEMENTS_PATH}
export DIB_IMAGE_CACHE=${DIB_IMAGE_CACHE:-$work/cache}
"$bin" build -t qcow2 -o "$work/report" "$@" boot-report > "$work/build.log" 2>&1 ||
    { tail -n 30 "$work/build.log" >&2; exit 1; }
secs=${BOOT_SECS:-90}
# The serial console through a pipe, each line stamped with the seconds since qemu started.
start=$(date +%s.%N)
timeout "$secs" qemu-system-x86_64 -machine accel=tcg -m 1024 -smp 1 \
    -display none -monitor none -serial stdio \
    -drive "file=$work/report.qcow2,format=qcow2,if=virtio,snapshot=on" \
    -nic user,model=virtio-net-pci,restrict=on < /dev/null 2> /dev/null |
    while IFS= read -r line; do
        printf '%6.2f %s\n' "$(echo "$(date +%s.%N) - $start" | bc)" "${line%$'\r'}"
    done > "$work/serial.log" || true
# The prompt has no newline after it: it shows up on the next line's stamp at the latest.
grep -m1 -E "Booting .Debian" "$work/serial.log" | cut -c1-60 || true
grep -m1 -E "Linux version" "$work/serial.log" | cut -c1-60 || true
grep -m1 -E "Run /init" "$work/serial.log" || true
grep -m1 -E "EXT4-fs .* mounted filesystem" "$work/serial.log" | cut -c1-90 || true
grep -m1 -E "login:" "$work/serial.log" || echo "no login prompt within $secs s"
sed -n '/=== boot-report$/,/=== boot-report end/p' "$work/serial.log" | cut -c8-
echo "(serial log with times: $work/serial.log)"
