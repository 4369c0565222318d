#!/bin/bash
# bench/image-sudo-shim.sh DIR: installs DIR/sudo, a stand-in for sudo when already root
# (diskimage-builder calls `sudo [-E] [-H] [-n] [--] [VAR=val] CMD` everywhere; these machines
# have no sudo), and prints DIR for PATH. It is solum-image's own (imagebuild/helpers/sudo),
# which host-side phases get when the builder runs as root.
set -eu
[ "$(id -u)" = 0 ] || { echo "the sudo shim is only for root" >&2; exit 1; }
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
install -m 0755 "$here/imagebuild/helpers/sudo" "$1/sudo"
echo "$1"
