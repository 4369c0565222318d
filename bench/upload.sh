#!/usr/bin/env bash
# Upload throughput to a local Glance (scripts/openstack-harness.sh): `solum-image upload`
# (plain PUT and glance-direct import, sha512 computed in the same pass and checked against
# Glance's os_hash_value) against `openstack image create --file` (python-openstackclient)
# on the same file; and what the sha512 costs (the uploader's CPU time, and sha512sum as a
# separate pass would cost it). Usage: bench/upload.sh [SIZE_MIB] (default 512).
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-512}
bin=target/release/solum-image
[ -x "$bin" ] || bin=target/debug/solum-image
[ -x "$bin" ] || { echo "build solum-image first (cargo build -p solum-image --release)" >&2; exit 1; }
dir=$(mktemp -d /tmp/solum-upload-bench.XXXXXX)
cleanup() { scripts/openstack-harness.sh stop "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
SOLUM_GLANCE_SIZE_CAP=$(((size_mib + 64) << 20)) scripts/openstack-harness.sh start "$dir" >"$dir/env.sh"
# shellcheck disable=SC1091
. "$dir/env.sh"
venv=$(scripts/openstack-harness.sh venv)
osc=("$venv/bin/python" "$venv/bin/openstack")
file=$dir/bench.raw
head -c $((size_mib << 20)) /dev/urandom >"$file"
sync

secs() { # command... -> wall seconds; CPU user+sys into $dir/cpu
    local t0 t1
    t0=$(date +%s.%N)
    /usr/bin/time -f '%U %S' -o "$dir/cpu" "$@" >/dev/null 2>"$dir/err" || { cat "$dir/err" >&2; return 1; }
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l
}
cpu() { awk '{printf "%.2f", $1 + $2}' "$dir/cpu"; }
row() { printf '| %s | %.2f s | %.0f MiB/s | %s s |\n' "$1" "$2" "$(echo "$size_mib / $2" | bc -l)" "$3"; }

echo "| ${size_mib} MiB raw file | wall | throughput | client CPU |"
echo "|---|---|---|---|"
for i in 1 2; do
    w=$(secs "$bin" upload "$file" --name "sg-put-$i" --method upload); row "solum-image upload (PUT /file), run $i" "$w" "$(cpu)"
    w=$(secs "$bin" upload "$file" --name "sg-direct-$i" --method glance-direct); row "solum-image upload (glance-direct), run $i" "$w" "$(cpu)"
    w=$(secs "${osc[@]}" image create --disk-format raw --container-format bare --file "$file" "osc-$i"); row "openstack image create --file, run $i" "$w" "$(cpu)"
done
w=$(secs "$bin" upload "$file" --name sg-put-1); row "solum-image upload again (no-op: hash, find)" "$w" "$(cpu)"
w=$(secs sha512sum "$file"); row "sha512sum alone (a separate hashing pass)" "$w" "$(cpu)"
