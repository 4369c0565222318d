#!/bin/bash
# bench/image-sudo-shim.sh DIR: writes DIR/sudo, a stand-in for sudo when
# already root (diskimage-builder calls `sudo [-E] [-H] [-n] [--] [VAR=val] CMD`
# everywhere; these machines have no sudo), and prints DIR for PATH.
set -eu
[ "$(id -u)" = 0 ] || { echo "the sudo shim is only for root" >&2; exit 1; }
mkdir -p "$1"
cat > "$1/sudo" <<'S'
#!/bin/bash
while [ $# -gt 0 ]; do
    case $1 in
        -E|-H|-n|-S|--preserve-env|--preserve-env=*) shift ;;
        -u) [ "${2:-}" = root ] || { echo "sudo shim: only root" >&2; exit 1; }; shift 2 ;;
        --) shift; break ;;
        -*) echo "sudo shim: unsupported option $1" >&2; exit 1 ;;
        *) break ;;
    esac
done
exec env "$@"
S
chmod +x "$1/sudo"
echo "$1"
