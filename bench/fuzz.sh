#!/usr/bin/env bash
# The fuzzing campaign: every target of fuzz/ under afl-fuzz for SECONDS each (default 600, one
# after the other: 21 targets take 3 h 30 min), with 1 s per input and 256 MiB of memory, from
# its seed corpus. Prints the table for fuzz/README.md (target, seconds, executions, execs/s,
# crashes, hangs, peak RSS, corpus size) and writes it to bench/out/fuzz.md (untracked); afl's output
# directories stay in /tmp/solum-fuzz-campaign (the queue can seed the next campaign; crashes
# and hangs are listed with the command that replays them). Exits 1 if anything was found.
# Usage: bench/fuzz.sh [SECONDS] [TARGET...]   (after scripts/setup.sh, which installs cargo-afl)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
mkdir -p bench/out
exec ./scripts/fuzz.sh --seconds "$seconds" --out /tmp/solum-fuzz-campaign \
  --table bench/out/fuzz.md "$@"
