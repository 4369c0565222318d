#!/usr/bin/env bash
# A script deployment through a real Heat (scripts/openstack-harness.sh: Keystone + Heat from
# PyPI on 127.0.0.1), applied by solum-agent and by the Python chain it replaces
# (os-collect-config + os-refresh-config + os-apply-config from PyPI running heat-agents'
# heat-config, script hook and heat-config-notify), side by side: from `stack create` to
# CREATE_COMPLETE and from a changed input to UPDATE_COMPLETE, same stack, same maximum polling
# interval. See bench/heat-deploy.py for the steps.
#
# Usage: bench/heat-deploy.sh [ROUNDS] [POLL_SECONDS]   (default 5 rounds, 10 s; loopback only;
# Heat and every process the rounds start are stopped on exit)
# The peer's venv is cached in $PEER_VENV (default /var/cache/solum-test/peer-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
poll=${2:-10}
case "$rounds$poll" in *[!0-9]*|'') echo "usage: $0 [ROUNDS] [POLL_SECONDS]" >&2; exit 2 ;; esac
peer=${PEER_VENV:-/var/cache/solum-test/peer-venv}
if [ ! -f "$peer/.complete" ]; then
  rm -rf "$peer"
  python3 -m venv "$peer"
  "$peer/bin/pip" install -q os-collect-config==14.1.0 os-refresh-config==14.1.0 \
    os-apply-config==14.1.0 python-heatclient python-keystoneclient requests PyYAML
  touch "$peer/.complete"
fi
venv=$(./scripts/openstack-harness.sh venv)
ha=$(./scripts/openstack-harness.sh heat-agents)
cargo build --release -q -p solum-agent --bin solum-agent
dir=$(mktemp -d /tmp/solum-bench-heat.XXXXXX)
# The watcher stops Heat and Keystone and removes $dir when this shell is gone.
./scripts/openstack-harness.sh start "$dir/openstack" --watch $$ --services heat >"$dir/admin.env"
# shellcheck disable=SC1091
. "$dir/admin.env"
echo "solum-agent $(git rev-parse --short HEAD), os-collect-config $("$peer/bin/pip" show os-collect-config | sed -n 's/^Version: //p'), heat-agents 13.0.0, openstack-heat 27.0.1; $(nproc) cores"
"$venv/bin/python" bench/heat-deploy.py "$PWD/target/release/solum-agent" "$peer" "$ha" "$rounds" "$poll"
