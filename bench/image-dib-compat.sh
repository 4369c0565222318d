#!/bin/bash
# bench/image-dib-compat.sh: builds imagebuild/tests/elements/test-dib-style
# (a diskimage-builder element using only DIB's documented format) with DIB's
# disk-image-create (through /work/shared/tools/dib-run) and with solum-image,
# both `-n -t tar debian-minimal test-dib-style`, and compares what its
# phases recorded (/etc/dib-style/*) and the packages it asked for.
# As root. Work dir: $BENCH_DIR (default /var/tmp/solum-image-dib-compat), deleted at the end.
set -eu
set -o pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${SOLUM_IMAGE:-$here/target/release/solum-image}
[ -x "$bin" ] || bin=$here/target/debug/solum-image
[ -x "$bin" ] || { echo "build it first: cargo build -p solum-image" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
dib_run=${DIB_RUN:-/work/shared/tools/dib-run}
work=${BENCH_DIR:-/var/tmp/solum-image-dib-compat}
case "$work" in /|/var|/var/tmp|/tmp|"$HOME") echo "BENCH_DIR=$work: refusing" >&2; exit 1 ;; esac
rm -rf "$work"
mkdir -p "$work/out"
trap 'rc=$?; if grep -q " $work" /proc/self/mountinfo; then echo "mounts left under $work" >&2; exit 1; fi; rm -rf "$work"; exit $rc' EXIT
export DIB_RELEASE=bookworm ELEMENTS_PATH=$here/imagebuild/tests/elements
export SOLUM_IMAGE_ELEMENTS_DIR=$here/elements
PATH="$("$here/bench/image-sudo-shim.sh" "$work/shim"):$PATH"

DIB_IMAGE_CACHE=$work/dib-cache \
    "$dib_run" -n -t tar -o "$work/out/dib" debian-minimal test-dib-style > "$work/dib.log" 2>&1 ||
    { tail -n 40 "$work/dib.log" >&2; echo "disk-image-create failed" >&2; exit 1; }
DIB_IMAGE_CACHE=${SOLUM_IMAGE_TEST_CACHE:-/var/tmp/solum-image-test-cache} DIB_SOLUM_COMPAT_NONCE=$$ \
    "$bin" build -n -t tar -o "$work/out/solum" debian-minimal test-dib-style > "$work/solum.log" 2>&1 ||
    { tail -n 40 "$work/solum.log" >&2; echo "solum-image failed" >&2; exit 1; }

rc=0
for b in dib solum; do
    mkdir -p "$work/$b"
    tar -C "$work/$b" -xf "$work/out/$b.tar" ./etc/dib-style ./usr/bin 2> /dev/null ||
        tar -C "$work/$b" -xf "$work/out/$b.tar" etc/dib-style usr/bin
done
for f in install post-install finalise; do
    if diff -u "$work/dib/etc/dib-style/$f" "$work/solum/etc/dib-style/$f"; then
        echo "same  /etc/dib-style/$f: $(tr '\n' ' ' < "$work/solum/etc/dib-style/$f")"
    else
        rc=1
    fi
done
for p in tree bc file lz4; do
    d=absent s=absent
    [ -e "$work/dib/usr/bin/$p" ] && d=present
    [ -e "$work/solum/usr/bin/$p" ] && s=present
    printf '%-5s /usr/bin/%-5s dib: %-8s solum-image: %s\n' "$([ $d = $s ] && echo same || echo DIFF)" "$p" "$d" "$s"
    [ $d = $s ] || rc=1
done
# Remove solum-image's final tree for this nonce from the shared test cache.
h=$(DIB_IMAGE_CACHE=${SOLUM_IMAGE_TEST_CACHE:-/var/tmp/solum-image-test-cache} DIB_SOLUM_COMPAT_NONCE=$$ \
    "$bin" build -n -t tar -o "$work/out/solum" --dry-run --json debian-minimal test-dib-style |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["hash"])')
rm -rf "${SOLUM_IMAGE_TEST_CACHE:-/var/tmp/solum-image-test-cache}/solum-image/trees/$h"{,.used}
exit $rc
