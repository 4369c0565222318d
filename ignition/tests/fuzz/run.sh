#!/usr/bin/env bash
# tests/fuzz/run.sh [SEED] [N] [mutate]: differential fuzzing of our validator against
# ignition-validate on N generated configs. Prints each disagreement (config, both reports) and
# exits 1 if there was one. Configs only we reject for their embedded contents (hash mismatch,
# bad gzip: the corpus's "stricter" class) are not disagreements.
set -uo pipefail
SEED=${1:-1}
N=${2:-300}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
OURS="${CARGO_TARGET_DIR:-$ROOT/target}/debug/examples/validate"
(cd "$ROOT" && cargo build -q -p solum-ignition --example validate) || exit 2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
python3 "$HERE/gen.py" "$SEED" "$N" "$TMP" ${3:+mutate}
bad=0
for f in "$TMP"/*.ign; do
    "$OURS" --quiet "$f"; a=$?
    sed 's/"3.4.0"/"3.4.0-experimental"/' "$f" | ignition-validate - >/dev/null 2>&1; b=$?
    [ "$a" = "$b" ] && continue
    if [ "$a" = 1 ] && ! "$OURS" "$f" | grep error | grep -vq "gzip\|do not match\|not hexadecimal"; then
        continue
    fi
    bad=$((bad + 1))
    echo "== $(basename "$f"): ours exit $a, ignition-validate exit $b"
    cat "$f"; echo
    "$OURS" "$f" | grep error
    sed 's/"3.4.0"/"3.4.0-experimental"/' "$f" | ignition-validate - 2>&1 | grep error
done
echo "$N configs (seed $SEED${3:+, mutated}): $bad disagreements"
[ "$bad" = 0 ]
