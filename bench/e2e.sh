#!/usr/bin/env bash
# Where the seconds of an app VM's first boot go: builds `app-vm`, boots it under qemu (TCG,
# 2 vCPUs) with the metadata Heat derives from heat/app-vm.yaml, and prints the timeline from
# qemu's start (login prompt, registration, first signal, first app healthy, all apps healthy,
# wait condition; after a power cut: apps healthy again), the image's size, the VM's memory
# in use, the agent's RSS and what loading the stack images at first boot would cost instead
# of preloading them. Run as root on a quiet machine; about 15 minutes.
#   bench/e2e.sh [OUT_DIR]      (journals, consoles and report.json are kept in OUT_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/out/e2e-$(date +%Y%m%d-%H%M%S)}
cargo build --release -q -p solum-tests --bin solum-e2e-bench --bin solum-relay
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
./target/release/solum-e2e-bench --out "$out"
echo "kept in $out" >&2
