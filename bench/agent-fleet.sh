#!/usr/bin/env bash
# Fleet benchmark: 1,000 simulated agents (tokio tasks running the agent's own Schedule and
# CfnCollector, agent/examples/fleet.rs) booted at the same instant, polling one fixture Heat
# over the cfn transport, with and without the schedule's splay. The fixture timestamps every
# request: printed are requests per second and the peak burst (most requests in any 100 ms
# and 1 s window), over the whole run and after the boot storm (every agent's first poll).
# Usage: bench/agent-fleet.sh [SECONDS] [AGENTS]   (defaults 90 and 1000; two runs of SECONDS;
# loopback only; everything runs in one process that exits at the end)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-90}
agents=${2:-1000}
cargo build --release -q -p solum-agent --example fleet
exec ./target/release/examples/fleet --agents "$agents" --seconds "$seconds" --max-interval 30 --splay both
