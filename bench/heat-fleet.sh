#!/usr/bin/env bash
# What polling costs a real Heat and what a fleet does to it, solum-agent against
# os-collect-config in one run (see bench/heat-fleet.py for the steps): Keystone + Heat from
# PyPI on 127.0.0.1 (scripts/openstack-harness.sh), the agent's collectors and schedule in
# agent/examples/heat_fleet.rs, os-collect-config 14.1.0 from PyPI (the venv bench/heat-deploy.sh
# makes).
#
# Usage: bench/heat-fleet.sh [SECONDS] [AGENTS] [FLEET_SECONDS]
#   SECONDS        per saturation and per os-collect-config step (default 30)
#   AGENTS         fleet size of step 3 (default 30: the harness's Keystone, one worker on
#                  sqlite, checks about one password a second on this machine, and every agent
#                  of a heat-transport fleet booted together needs one within the 60 s timeout)
#   FLEET_SECONDS  per fleet run, four runs (default 150)
# POLLERS (default 8) closed-loop pollers for the saturation, OCC_PROCS (default 4) real
# os-collect-config processes. Loopback only; Heat and everything started is stopped on exit.
# The peer's venv is cached in $PEER_VENV (default /var/cache/solum-test/peer-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
agents=${2:-30}
fleet_seconds=${3:-150}
pollers=${POLLERS:-8}
procs=${OCC_PROCS:-4}
for n in "$seconds" "$agents" "$fleet_seconds" "$pollers" "$procs"; do
  case "$n" in *[!0-9]*|'') echo "usage: $0 [SECONDS] [AGENTS] [FLEET_SECONDS]" >&2; exit 2 ;; esac
done
peer=${PEER_VENV:-/var/cache/solum-test/peer-venv}
if [ ! -f "$peer/.complete" ]; then
  rm -rf "$peer"
  python3 -m venv "$peer"
  "$peer/bin/pip" install -q os-collect-config==14.1.0 os-refresh-config==14.1.0 \
    os-apply-config==14.1.0 python-heatclient python-keystoneclient requests PyYAML
  touch "$peer/.complete"
fi
venv=$(./scripts/openstack-harness.sh venv)
cargo build --release -q -p solum-agent --example heat_fleet
dir=$(mktemp -d /tmp/solum-bench-heat-fleet.XXXXXX)
# The watcher stops Heat and Keystone and removes $dir when this shell is gone.
./scripts/openstack-harness.sh start "$dir" --watch $$ --services heat >/dev/null
# shellcheck disable=SC1091
. "$dir/admin.env"
echo "solum-agent $(git rev-parse --short HEAD), os-collect-config $("$peer/bin/pip" show os-collect-config | sed -n 's/^Version: //p'), openstack-heat 27.0.1, keystone 30.0.0; $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$venv/bin/python" bench/heat-fleet.py "$dir" "$PWD/target/release/examples/heat_fleet" \
  "$peer" "$pollers" "$seconds" "$procs" "$agents" "$fleet_seconds"
