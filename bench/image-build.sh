#!/bin/bash
# bench/image-build.sh: solum-image side by side with diskimage-builder (PyPI)
# building the same VM image (`debian-minimal vm`, bookworm, qcow2).
#
#   bench/image-build.sh            (as root; DIB runs through /work/shared/tools/dib-run)
#
# In one run, for each builder, with its own DIB_IMAGE_CACHE under $BENCH_DIR
# (default /var/tmp/solum-image-bench, deleted first and at the end):
#   cold   empty cache
#   warm   the same build again (same inputs, same -o)
#   size   the qcow2's size
#   boot   seconds from qemu start to `login:` on the serial console (TCG), the median of
#          BENCH_BOOTS (default 3) boots, both images with the same qemu command line
#          (bench/image-boot.sh)
#   rss    peak RSS of the build (GNU time; largest single process)
# then the ratios solum/DIB and the issue's targets.
# Env: DIB_RUN (default /work/shared/tools/dib-run), SOLUM_IMAGE (binary),
#      BENCH_DIB_DEBOOTSTRAP_CACHE=1 (DIB's opt-in debootstrap tarball cache),
#      BENCH_SKIP_DIB=1 (solum-image only).
set -eu
set -o pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${SOLUM_IMAGE:-$here/target/release/solum-image}
[ -x "$bin" ] || { echo "build it first: cargo build --release -p solum-image" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "run as root (mounts, chroot, loop devices for DIB)" >&2; exit 1; }
dib_run=${DIB_RUN:-/work/shared/tools/dib-run}
[ -x "$dib_run" ] || [ "${BENCH_SKIP_DIB:-0}" = 1 ] || { echo "$dib_run: not found" >&2; exit 1; }
for t in /usr/bin/time qemu-system-x86_64 qemu-img bc; do
    command -v "$t" > /dev/null || { echo "$t: not installed" >&2; exit 1; }
done
work=${BENCH_DIR:-/var/tmp/solum-image-bench}
case "$work" in /|/var|/var/tmp|/tmp|"$HOME") echo "BENCH_DIR=$work: refusing" >&2; exit 1 ;; esac
elements=(debian-minimal vm)
loops_before=$(losetup -a | sort)

cleanup() {
    local rc=$?
    # DIB's own traps undo its loop devices and mounts; check that nothing is left.
    local loops_after
    loops_after=$(losetup -a | sort)
    if [ "$loops_after" != "$loops_before" ]; then
        echo "WARNING: loop devices left:" >&2
        comm -13 <(echo "$loops_before") <(echo "$loops_after") >&2
        rc=1
    fi
    if grep -qE ' (/tmp/dib_|/tmp/solum-image|'"$work"')' /proc/self/mountinfo; then
        echo "WARNING: mounts left:" >&2
        grep -E ' (/tmp/dib_|/tmp/solum-image|'"$work"')' /proc/self/mountinfo >&2
        rc=1
    elif [ "${BENCH_KEEP:-0}" != 1 ]; then
        rm -rf "$work"
    fi
    exit $rc
}
rm -rf "$work"
mkdir -p "$work/out"
trap cleanup EXIT

export DIB_RELEASE=bookworm
export SOLUM_IMAGE_ELEMENTS_DIR=$here/elements

# time_build NAME CMD...: runs CMD under GNU time; sets secs and rss_mb.
time_build() {
    local name=$1; shift
    local start end
    start=$(date +%s.%N)
    if ! /usr/bin/time -v -o "$work/$name.time" "$@" > "$work/$name.log" 2>&1; then
        echo "$name failed; last lines of $work/$name.log:" >&2
        tail -n 30 "$work/$name.log" >&2
        BENCH_KEEP=1
        exit 1
    fi
    end=$(date +%s.%N)
    secs=$(printf '%.1f' "$(echo "$end - $start" | bc)")
    rss_mb=$(awk -F': ' '/Maximum resident set size/ {printf "%d", $2 / 1024}' "$work/$name.time")
    printf '%-12s %7.1f s  peak RSS %4d MB\n' "$name" "$secs" "$rss_mb"
}

# boot IMAGE NAME: the median of BENCH_BOOTS (default 3) boots' seconds to `login:` (one
# boot is noisy: other work on the host moves it by a second or more).
boot() {
    local img=$1 name=$2 _ times=()
    for _ in $(seq "${BENCH_BOOTS:-3}"); do
        times+=("$("$here/bench/image-boot.sh" "$img" "$work/$name.serial" 240)")
    done
    echo "boot times of $name: ${times[*]}" >&2
    printf '%s\n' "${times[@]}" | sort -n | awk '{t[NR] = $1} END {print t[int((NR + 1) / 2)]}'
}

declare -A r
# --- solum-image
export DIB_IMAGE_CACHE=$work/solum-cache
time_build solum-cold "$bin" build -t qcow2 -o "$work/out/solum" "${elements[@]}"
r[solum_cold]=$secs r[solum_rss]=$rss_mb
time_build solum-warm "$bin" build -t qcow2 -o "$work/out/solum" "${elements[@]}"
r[solum_warm]=$secs
r[solum_size]=$(stat -c %s "$work/out/solum.qcow2")
grep -A100 -i 'profile' "$work/solum-cold.log" | head -40 > "$work/solum-cold.profile" || true
rm -rf "$work/solum-cache"

# --- diskimage-builder
if [ "${BENCH_SKIP_DIB:-0}" != 1 ]; then
    export DIB_IMAGE_CACHE=$work/dib-cache
    [ "${BENCH_DIB_DEBOOTSTRAP_CACHE:-0}" = 1 ] && export DIB_DEBOOTSTRAP_CACHE=1
    # DIB runs everything through sudo, which these machines lack; we are root.
    shim=$("$here/bench/image-sudo-shim.sh" "$work/shim")
    export PATH="$shim:$PATH"
    time_build dib-cold "$dib_run" -o "$work/out/dib" -t qcow2 "${elements[@]}"
    r[dib_cold]=$secs r[dib_rss]=$rss_mb
    time_build dib-warm "$dib_run" -o "$work/out/dib" -t qcow2 "${elements[@]}"
    r[dib_warm]=$secs
    r[dib_size]=$(stat -c %s "$work/out/dib.qcow2")
    rm -rf "$work/dib-cache"
fi

# --- boots (one after the other, same command line)
r[solum_boot]=$(boot "$work/out/solum.qcow2" solum)
echo "solum-boot   ${r[solum_boot]} s to login: ($work/solum.serial)"
if [ "${BENCH_SKIP_DIB:-0}" != 1 ]; then
    r[dib_boot]=$(boot "$work/out/dib.qcow2" dib)
    echo "dib-boot     ${r[dib_boot]} s to login: ($work/dib.serial)"
fi

mb() { echo "scale=1; $1 / 1048576" | bc; }
ratio() { printf '%.3f' "$(echo "scale=4; $1 / $2" | bc)"; }
echo
printf '%-22s %12s %12s %8s  %s\n' "" solum-image diskimage-b ratio target
row() {
    local label=$1 s=$2 d=$3 unit=$4 target=$5
    if [ -n "$d" ]; then
        printf '%-22s %10s %s %10s %s %8s  %s\n' "$label" "$s" "$unit" "$d" "$unit" "$(ratio "$s" "$d")" "$target"
    else
        printf '%-22s %10s %s %12s %8s  %s\n' "$label" "$s" "$unit" - - "$target"
    fi
}
row "cold build" "${r[solum_cold]}" "${r[dib_cold]:-}" s "<= 0.5"
row "warm rebuild" "${r[solum_warm]}" "${r[dib_warm]:-}" s "<= 0.125"
row "qcow2 size" "$(mb "${r[solum_size]}")" "$( [ -n "${r[dib_size]:-}" ] && mb "${r[dib_size]}")" M "<= 1"
row "login prompt (TCG)" "${r[solum_boot]}" "${r[dib_boot]:-}" s "solum <= 20 s"
row "peak RSS" "${r[solum_rss]}" "${r[dib_rss]:-}" M "-"
echo
echo "DIB: $(~/.cache/dib-venv/bin/pip show diskimage-builder 2>/dev/null | awk '/^Version/ {print $2}' || echo ?)," \
    "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
