#!/usr/bin/env bash
# Deploy benchmark: solum-agent against the same flow done by hand with the docker CLI
# (herokuish-style: docker run compile in the build stack, docker commit, docker run), on the
# bundled example apps, in one run on this machine.
#
# Prints: cold deploy, warm redeploy with unchanged source, redeploy after a one-line change,
# the agent's peak RSS, the supervisor's RSS, and ratios against the baseline.
# Usage: bench/deploy.sh   (as root, after scripts/setup.sh; takes a few minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p solum-agent
agent=$PWD/target/release/solum-agent
work=$(mktemp -d /tmp/solum-bench.XXXXXX)
state=$work/state
port=$((20000 + RANDOM % 20000))
bport=$((port + 1))
cleanup() {
  "$agent" --state-dir "$state" destroy bench-py >/dev/null 2>&1 || true
  "$agent" --state-dir "$state" destroy bench-df >/dev/null 2>&1 || true
  id=$(cat "$state/agent-id" 2>/dev/null || true)
  [ -n "$id" ] && docker ps -aq --filter "label=solum.agent=$id" | xargs -r docker rm -f >/dev/null
  docker rm -f bench-baseline bench-baseline-build >/dev/null 2>&1 || true
  docker rmi -f bench-baseline:latest >/dev/null 2>&1 || true
  docker volume rm -f bench-baseline-cache >/dev/null 2>&1 || true
  docker images -q --filter label=solum.app=bench-py | xargs -r docker rmi -f >/dev/null 2>&1 || true
  docker images -q --filter label=solum.app=bench-df | xargs -r docker rmi -f >/dev/null 2>&1 || true
  docker volume rm -f solum-cache-bench-py >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc; }
wait_http() { for _ in $(seq 600); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }

prepare() { # app-dir name port -> planfile
  rm -rf "${work:?}/$2"; cp -a "$1" "$work/$2"
  sed -i -e "s/^name:.*/name: $2/" -e "s/^\(\s*\)ports:.*/\1ports: $3/" "$work/$2/Planfile"
  echo "$work/$2/Planfile"
}

deploy() { # planfile -> seconds; records peak RSS (kB) in $work/rss
  local t; t=$(now)
  /usr/bin/time -f %M -o "$work/rss" "$agent" --state-dir "$state" --bind-address 127.0.0.1 deploy "$1" >/dev/null 2>"$work/log" \
    || { cat "$work/log" >&2; return 1; }
  elapsed "$t"
}

baseline() { # app-dir -> seconds for compile+commit+run+first 200, herokuish style
  local t; t=$(now)
  docker rm -f bench-baseline bench-baseline-build >/dev/null 2>&1 || true
  docker create --name bench-baseline-build -u 32767:32767 -v bench-baseline-cache:/tmp/cache \
    solum/stack-build:bookworm bash -c \
    'for bp in /tmp/buildpacks/*/; do if "${bp}bin/detect" /tmp/build >/dev/null; then "${bp}bin/compile" /tmp/build /tmp/cache /tmp/env; break; fi; done' >/dev/null
  docker cp "$1/." bench-baseline-build:/tmp/build >/dev/null
  docker cp buildpacks/. bench-baseline-build:/tmp/buildpacks >/dev/null
  docker run --rm -v bench-baseline-cache:/tmp/cache solum/stack-build:bookworm chown 32767:32767 /tmp/cache
  docker start -a bench-baseline-build >/dev/null
  docker commit bench-baseline-build bench-baseline:latest >/dev/null
  docker run -d --name bench-baseline -p 127.0.0.1:$bport:5000 -e PORT=5000 -u 32767:32767 -w /tmp/build \
    bench-baseline:latest bash -c 'for f in .profile.d/*.sh; do [ -f "$f" ] && . "$f"; done; exec python3 app.py' >/dev/null
  wait_http "http://127.0.0.1:$bport/"
  elapsed "$t"
}

py=$(prepare examples/python-web bench-py "$port")
docker volume rm -f solum-cache-bench-py >/dev/null 2>&1 || true
cold=$(deploy "$py"); cold_rss=$(cat "$work/rss")
warm=$(deploy "$py"); warm_rss=$(cat "$work/rss")
echo "# touched" >> "$work/bench-py/app.py"
change=$(deploy "$py"); change_rss=$(cat "$work/rss")
wait_http "http://127.0.0.1:$port/"
sup=$(docker stats --no-stream --format '{{.MemUsage}}' "solum-supervisor-$(cat "$state/agent-id")" | cut -d/ -f1)

b_cold=$(baseline "$work/bench-py")
b_warm=$(baseline "$work/bench-py")

dport=$((port + 2))
df=$(prepare examples/dockerfile-web bench-df "$dport")
df_cold=$(deploy "$df"); df_rss=$(cat "$work/rss")
df_warm=$(deploy "$df")

ratio() { echo "scale=3; $1 / $2" | bc; }
printf '%-44s %8s %10s %8s\n' "buildpack app (examples/python-web)" "solum" "by hand" "ratio"
printf '%-44s %7.2fs %9.2fs %8s\n' "cold deploy (empty build cache)" "$cold" "$b_cold" "$(ratio "$cold" "$b_cold")"
printf '%-44s %7.2fs %9.2fs %8s\n' "redeploy, unchanged source" "$warm" "$b_warm" "$(ratio "$warm" "$b_warm")"
printf '%-44s %7.2fs %9s %8s\n' "redeploy after a one-line change" "$change" "-" "-"
printf '%-44s %7.2fs %9s\n' "dockerfile app: cold deploy" "$df_cold" "-"
printf '%-44s %7.2fs %9s\n' "dockerfile app: unchanged redeploy" "$df_warm" "-"
printf '%-44s %6d kB (cold) %d kB (warm) %d kB (change) %d kB (dockerfile)\n' "agent peak RSS during deploy" "$cold_rss" "$warm_rss" "$change_rss" "$df_rss"
printf '%-44s %s\n' "supervisor RSS" "$sup"
