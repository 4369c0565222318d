#!/usr/bin/env bash
# Prints the elements directory of diskimage-builder 3.43.0 (its own elements, unchanged), from
# the PyPI sdist fetched once with pip download into $SOLUM_DIB_DIR (default
# /var/cache/solum-test/diskimage-builder) under a lock. The compatibility suite
# (imagebuild/tests/dib_elements.rs) and bench/image-dib-elements.sh build these elements.
set -euo pipefail
VERSION=3.43.0
cache=${SOLUM_DIB_DIR:-/var/cache/solum-test/diskimage-builder}
dir=$cache/diskimage_builder-$VERSION
die() { echo "dib-elements: $*" >&2; exit 1; }
if [ ! -f "$dir/.complete" ]; then
    mkdir -p "$cache"
    exec 8> "$cache.lock"
    flock 8
    if [ ! -f "$dir/.complete" ]; then
        rm -rf "$dir" "$cache/sdist"
        python3 -m pip download -q --no-deps --no-binary :all: -d "$cache/sdist" \
            "diskimage-builder==$VERSION" >&2 || die "pip download of diskimage-builder $VERSION failed"
        tar -xzf "$cache/sdist/diskimage_builder-$VERSION.tar.gz" -C "$cache" ||
            die "unpacking diskimage-builder $VERSION failed"
        [ -d "$dir/diskimage_builder/elements/base" ] || die "no elements in the sdist"
        touch "$dir/.complete"
    fi
    exec 8>&-
fi
echo "$dir/diskimage_builder/elements"
