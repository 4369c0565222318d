#!/usr/bin/env bash
# Fleet benchmark: simulated agents (tokio tasks running the agent's own Schedule and
# CfnCollector, agent/examples/fleet.rs) booted at the same instant, polling one fixture Heat
# over the cfn transport, with the schedule's spreading (first poll within 2 s, pauses drawn
# from [T/2, 3T/2)) and without it (every agent at the same instants). The fixture timestamps
# every request: printed per fleet size and mode are the steady state's mean rate and worst
# second (from STEADY_FROM s to the end), the worst 100 ms and 1 s of the whole run, the latest
# first poll planned and answered, and the load average before and after.
# Usage: bench/agent-fleet.sh [SECONDS] [AGENTS...]   (defaults 180 and 1000 10000; two runs of
# SECONDS per fleet size; STEADY_FROM (default 60) and MAX_INTERVAL (default 30) from the
# environment; loopback only; everything runs in one process per size that exits at the end)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-180}
shift || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000)
for n in "$seconds" "${sizes[@]}" "${STEADY_FROM:-60}" "${MAX_INTERVAL:-30}"; do
  case "$n" in *[!0-9]*|'') echo "usage: $0 [SECONDS] [AGENTS...]" >&2; exit 2 ;; esac
done
cargo build --release -q -p solum-agent --example fleet
for agents in "${sizes[@]}"; do
  ./target/release/examples/fleet --agents "$agents" --seconds "$seconds" \
    --steady-from "${STEADY_FROM:-60}" --max-interval "${MAX_INTERVAL:-30}" --splay both
done
