#!/usr/bin/env bash
# Local services benchmark: the cold deploy of examples/services/postgresql (a fresh state
# directory and volume: the service's first start initializes its database, then the app is
# built and started), the service's readiness time as the agent logs it, and a warm redeploy
# (service adopted, image cached). Each run is a new plan; everything is destroyed with --purge.
# Usage: bench/services.sh [RUNS] [KIND]   (defaults 3 and postgresql; loopback only; needs
# Docker and the services image, made by `solum-agent stack build`; AGENT=path runs that
# binary instead of building the release one)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
kind=${2:-postgresql}
case "$runs" in *[!0-9]* | '') echo "usage: $0 [RUNS] [KIND]" >&2; exit 2 ;; esac
case "$kind" in postgresql | mysql | rabbitmq | redis) ;; *) echo "$0: unknown kind $kind" >&2; exit 2 ;; esac
if [ -z "${AGENT:-}" ]; then
  cargo build --release -q -p solum-agent
  AGENT=${CARGO_TARGET_DIR:-$PWD/target}/release/solum-agent
fi
agent=$AGENT
example=$PWD/examples/services/$kind
work=$(mktemp -d /tmp/solum-bench-services.XXXXXX)
cleanup() {
  for p in "$work"/*.yaml; do
    [ -e "$p" ] || continue
    "$agent" --state-dir "$work/state" destroy "$(basename "$p" .yaml)" --purge >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo "kind run cold_deploy_s service_ready_s warm_redeploy_s"
for run in $(seq 1 "$runs"); do
  plan=bench-$kind-$$-$run
  sed -e "s|name: services-$kind|name: $plan|" -e "s|href: .|href: $example|" \
    -e "s|ports: 8080|ports: $port|" "$example/Planfile" >"$work/$plan.yaml"
  start=$(date +%s.%N)
  "$agent" --state-dir "$work/state" --bind-address 127.0.0.1 deploy "$work/$plan.yaml" 2>"$work/log" >/dev/null
  end=$(date +%s.%N)
  ready=$(sed -n 's/.* ready in \([0-9.]*\) s at .*/\1/p' "$work/log" | head -n1)
  "$agent" --state-dir "$work/state" --bind-address 127.0.0.1 deploy "$work/$plan.yaml" 2>/dev/null >/dev/null
  warm=$(date +%s.%N)
  printf '%s %s %.1f %s %.1f\n' "$kind" "$run" "$(echo "$end - $start" | bc)" "$ready" "$(echo "$warm - $end" | bc)"
  "$agent" --state-dir "$work/state" destroy "$plan" --purge >/dev/null
  rm -f "$work/$plan.yaml"
done
