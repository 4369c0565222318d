#!/bin/bash
# bench/image-build.sh: time solum-image on a small Debian tree, and
# diskimage-builder's disk-image-create on the same elements when installed.
#
#   sudo bench/image-build.sh [ELEMENT...]     (default: debian-minimal)
#
# Runs, with a private DIB_IMAGE_CACHE under $BENCH_DIR (default
# /var/tmp/solum-image-bench):
#   1. cold:   empty cache (mmdebstrap + phases + tar)
#   2. warm:   base tree cached, new plan (phases + tar)
#   3. reused: same plan again (plan-hash cache hit)
#   4. dib:    disk-image-create -t tar for the same elements (if found)
# and prints one line per run: name, seconds, output size.
set -eu
set -o pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${SOLUM_IMAGE:-$here/target/release/solum-image}
[ -x "$bin" ] || bin=$here/target/debug/solum-image
[ -x "$bin" ] || { echo "build it first: cargo build --release -p solum-image" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "run as root (mounts, chroot)" >&2; exit 1; }
work=${BENCH_DIR:-/var/tmp/solum-image-bench}
elements=("$@")
[ ${#elements[@]} -gt 0 ] || elements=(debian-minimal)
rm -rf "$work"
mkdir -p "$work/out"
export DIB_IMAGE_CACHE="$work/cache"

run() {
    local name=$1 out=$2; shift 2
    local start end
    start=$(date +%s.%N)
    "$@" > "$work/$name.log" 2>&1 || { echo "$name failed; see $work/$name.log" >&2; exit 1; }
    end=$(date +%s.%N)
    local size
    size=$(du -h "$work/out/$out.tar" 2>/dev/null | cut -f1 || echo -)
    printf '%-8s %8.1f s  %s\n' "$name" "$(echo "$end - $start" | bc)" "$size"
}

run cold cold "$bin" build -n -t tar -o "$work/out/cold" "${elements[@]}"
DIB_BENCH_NONCE=$RANDOM run warm warm "$bin" build -n -t tar -o "$work/out/warm" "${elements[@]}"
run reused cold "$bin" build -n -t tar -o "$work/out/cold" "${elements[@]}"
if command -v disk-image-create > /dev/null; then
    run dib dib disk-image-create -n -t tar -o "$work/out/dib" "${elements[@]}"
else
    echo "dib      (disk-image-create not installed; pip install diskimage-builder to compare)"
fi
