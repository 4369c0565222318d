#!/usr/bin/env bash
# Idle benchmark of `solum-agent run` next to os-collect-config, both polling a fixture Heat
# over the cfn transport (DescribeStackResource, EC2 signature v2) at the same cadence.
#
# Two rounds, each N minutes, both pollers side by side, each against its own fixture process
# (tests/src/bin/solum-fixture.rs) so that the requests each one makes are counted apart:
#   fixed:   solum-agent poll_max_interval: 1   vs  os-collect-config -i 1 --min-polling-interval 1
#   default: solum-agent defaults (1 s doubling to 30 s)  vs  os-collect-config defaults (same)
# Sampled every 2 s: VmRSS and VmHWM from /proc/PID/status; CPU from /proc/PID/stat
# (utime+stime+cutime+cstime, so os-collect-config's `--command true` runs count). Printed: CPU
# seconds per hour extrapolated from the time after a 15 s warm-up, peak RSS, requests served
# by the fixture, and the ratios. The agent's supervisor container (started by `run`, idle
# with no app) is reported apart.
#
# os-collect-config comes from PyPI into a venv cached outside the repo
# (~/.cache/solum-bench/occ-venv, override with OCC_VENV).
# CPU comes in 10 ms ticks: at the default cadence a poller uses a few ticks in 3 minutes, so
# run that round longer on its own: ROUNDS=default bench/agent-run.sh 12.
# Usage: [ROUNDS="fixed default"] bench/agent-run.sh [MINUTES]   (default 3 min per round;
# loopback only; cleans up on exit)
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-3}
case "$minutes" in ''|*[!0-9]*) echo "usage: $0 [MINUTES] (a whole number)" >&2; exit 2;; esac
if ! { [ "$minutes" -ge 1 ] && [ "$minutes" -le 120 ]; }; then echo "MINUTES must be 1..120" >&2; exit 2; fi
secs=$((minutes * 60))
venv=${OCC_VENV:-$HOME/.cache/solum-bench/occ-venv}
if [ ! -x "$venv/bin/os-collect-config" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q os-collect-config
fi
occ_version=$("$venv/bin/pip" show os-collect-config 2>/dev/null | sed -n 's/^Version: //p')
cargo build --release -q -p solum-agent --bin solum-agent
cargo build --release -q -p solum-tests --bin solum-fixture
agent=$PWD/target/release/solum-agent
fixture=$PWD/target/release/solum-fixture
work=$(mktemp -d /tmp/solum-bench-run.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for id in "$work"/*/state/agent-id; do
    [ -f "$id" ] || continue
    docker ps -aq --filter "label=solum.agent=$(cat "$id")" | xargs -r docker rm -f >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
tck=$(getconf CLK_TCK)

ak=AKIABENCH; sk=bench-secret-key; stack=bench-stack
occ_block() { # port -> the os-collect-config block Heat puts in the metadata
  printf '{"collectors": ["cfn"], "cfn": {"metadata_url": "http://127.0.0.1:%s/v1/", "access_key_id": "%s", "secret_access_key": "%s", "stack_name": "%s", "path": "server.Metadata"}}' "$1" "$ak" "$sk" "$stack"
}
cat >"$work/world.json" <<JSON
{"cfn_access_key": "$ak", "cfn_secret_key": "$sk", "stack_name": "$stack", "resource": "server",
 "meta_data": {"uuid": "00000000-bench", "name": "bench-vm", "meta": {}},
 "metadata": {"os-collect-config": $(occ_block @PORT@), "deployments": []}}
JSON

start_fixture() { # dir -> sets fx_port, fx_pid; it serves while $dir/fx.run exists
  touch "$1/fx.run"
  "$fixture" --world "$work/world.json" --report "$1/fx.json" --max-seconds $((secs + 600)) \
    --run-while "$1/fx.run" </dev/null >"$1/fx.port" &
  fx_pid=$!; pids+=("$fx_pid")
  for _ in $(seq 100); do grep -q port= "$1/fx.port" 2>/dev/null && break; sleep 0.05; done
  fx_port=$(sed -n 's/^port=//p' "$1/fx.port")
  [ -n "$fx_port" ] || { echo "fixture did not start" >&2; exit 1; }
}
stop_fixture() { # dir: removing fx.run -> it writes the report and exits
  rm -f "$1/fx.run"
  for _ in $(seq 100); do [ -s "$1/fx.json" ] && break; sleep 0.1; done
}

start_agent() { # dir port max_interval(or "") -> agent_pid
  local d=$1 drive=$1/drive/openstack/latest
  mkdir -p "$drive"
  echo '{"uuid": "00000000-bench", "name": "bench-vm", "meta": {}}' >"$drive/meta_data.json"
  printf 'Content-Type: multipart/mixed; boundary="==0001=="\nMIME-Version: 1.0\n\n--==0001==\nContent-Type: text/x-cfninitdata; charset="us-ascii"\nMIME-Version: 1.0\nContent-Disposition: attachment; filename="cfn-init-data"\n\n{"os-collect-config": %s}\n--==0001==--\n' "$(occ_block "$2")" >"$drive/user_data"
  {
    echo "state_dir: $d/state"
    echo "bind_address: 127.0.0.1"
    echo "config_drive: $d/drive"
    echo "metadata_url: http://127.0.0.1:$2"
    echo "cfn_init_path: $d/cfn-init-data"
    echo "local_data_dir: $d/local-data"
    echo "status_socket: $d/status.sock"
    if [ -n "$3" ]; then echo "poll_max_interval: $3"; fi
  } >"$d/config.yaml"
  "$agent" --config "$d/config.yaml" run >/dev/null 2>"$d/agent.log" &
  agent_pid=$!; pids+=("$agent_pid")
}

start_occ() { # dir port max_interval(or "") -> occ_pid
  local d=$1 extra=()
  [ -n "$3" ] && extra=(--polling-interval "$3" --min-polling-interval 1)
  : >"$d/occ.conf"
  # shellcheck disable=SC2094 # occ.log is os-collect-config's log file and its stderr: both append
  "$venv/bin/os-collect-config" --config-file "$d/occ.conf" --cachedir "$d/occ-cache" \
    --backup-cachedir "$d/occ-backup" --command true --log-file "$d/occ.log" "${extra[@]}" \
    --cfn-metadata-url "http://127.0.0.1:$2/v1/" --cfn-stack-name "$stack" --cfn-path server.Metadata \
    --cfn-access-key-id "$ak" --cfn-secret-access-key "$sk" cfn >/dev/null 2>>"$d/occ.log" &
  occ_pid=$!; pids+=("$occ_pid")
}

cpu_ticks() { awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat" 2>/dev/null || echo 0; }
kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
served() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); ok=sum(1 for q in r["requests"] if q["path"]=="/v1/" and q["status"]==200); print(ok, r["total"]-ok)' "$1"; }

round() { # name max_interval
  local max=$2 a=$work/$1-agent o=$work/$1-occ
  mkdir -p "$a" "$o"
  start_fixture "$a"; local aport=$fx_port
  start_fixture "$o"; local oport=$fx_port
  start_agent "$a" "$aport" "$max"; local ap=$agent_pid
  start_occ "$o" "$oport" "$max"; local op=$occ_pid
  local t0 warm_a=0 warm_o=0 tw=0 peak_a=0 peak_o=0 now
  t0=$(date +%s.%N)
  while :; do
    sleep 2
    kill -0 "$ap" 2>/dev/null || { echo "solum-agent exited; log:" >&2; tail -20 "$a/agent.log" >&2; exit 1; }
    kill -0 "$op" 2>/dev/null || { echo "os-collect-config exited; log:" >&2; tail -20 "$o/occ.log" >&2; exit 1; }
    now=$(date +%s.%N)
    local el; el=$(echo "$now - $t0" | bc)
    local ra ro; ra=$(kb "$ap" VmRSS); ro=$(kb "$op" VmRSS)
    [ "$ra" -gt "$peak_a" ] && peak_a=$ra
    [ "$ro" -gt "$peak_o" ] && peak_o=$ro
    if [ "$tw" = 0 ] && [ "$(echo "$el >= 15" | bc)" = 1 ]; then
      tw=$now; warm_a=$(cpu_ticks "$ap"); warm_o=$(cpu_ticks "$op")
    fi
    [ "$(echo "$el >= $secs" | bc)" = 1 ] && break
  done
  local ca co tot_a tot_o hwm_a hwm_o span
  ca=$(cpu_ticks "$ap"); co=$(cpu_ticks "$op")
  hwm_a=$(kb "$ap" VmHWM); hwm_o=$(kb "$op" VmHWM)
  span=$(echo "$(date +%s.%N) - $tw" | bc)
  local sup_rss=0 sup_cpu=0 id cid p
  id=$(cat "$a/state/agent-id" 2>/dev/null || true)
  cid=
  if [ -n "$id" ]; then cid=$(docker ps -q --filter "label=solum.agent=$id" | head -1 || true); fi
  if [ -n "$cid" ]; then # every process of the container (docker-init and solum-agent supervise)
    for p in $(docker top "$cid" -eo pid | tail -n +2); do
      sup_rss=$((sup_rss + $(kb "$p" VmRSS))); sup_cpu=$((sup_cpu + $(cpu_ticks "$p")))
    done
  fi
  sup_cpu=$(echo "scale=3; $sup_cpu / $tck" | bc)
  kill "$ap" "$op" 2>/dev/null || true
  wait "$ap" "$op" 2>/dev/null || true
  stop_fixture "$a"; stop_fixture "$o"
  read -r ok_a bad_a < <(served "$a/fx.json")
  read -r ok_o bad_o < <(served "$o/fx.json")
  tot_a=$(echo "scale=3; $ca / $tck" | bc); tot_o=$(echo "scale=3; $co / $tck" | bc)
  local ph_a ph_o
  ph_a=$(echo "scale=2; ($ca - $warm_a) * 3600 / ($tck * $span)" | bc)
  ph_o=$(echo "scale=2; ($co - $warm_o) * 3600 / ($tck * $span)" | bc)
  ratio() { if [ "$(echo "$2 > 0" | bc)" = 1 ]; then echo "scale=3; $1 / $2" | bc; else echo -; fi; }
  echo
  if [ -n "$max" ]; then
    echo "## fixed cadence: solum-agent poll_max_interval $max s, os-collect-config -i $max --min-polling-interval 1; $minutes min"
  else
    echo "## default cadence (both: 1 s doubling to 30 s); $minutes min"
  fi
  echo "| | solum-agent | os-collect-config $occ_version | ratio |"
  echo "|---|---|---|---|"
  echo "| CPU s per hour (after 15 s warm-up) | $ph_a | $ph_o | $(ratio "$ph_a" "$ph_o") |"
  echo "| CPU s total incl. start | $tot_a | $tot_o | $(ratio "$tot_a" "$tot_o") |"
  echo "| peak RSS sampled, KiB | $peak_a | $peak_o | $(ratio "$peak_a" "$peak_o") |"
  echo "| VmHWM, KiB | $hwm_a | $hwm_o | $(ratio "$hwm_a" "$hwm_o") |"
  echo "| cfn polls answered 200 | $ok_a | $ok_o | $(ratio "$ok_a" "$ok_o") |"
  echo "| CPU ms per poll (whole run, incl. start) | $(ratio "$tot_a * 1000" "$ok_a") | $(ratio "$tot_o * 1000" "$ok_o") | |"
  echo "| other requests (refused or other paths) | $bad_a | $bad_o | |"
  echo "| supervisor container (idle, no app): RSS KiB / CPU s total | $sup_rss / $sup_cpu | n/a | |"
  if id=$(cat "$a/state/agent-id" 2>/dev/null); then
    docker ps -aq --filter "label=solum.agent=$id" | xargs -r docker rm -f >/dev/null 2>&1 || true
  fi
}

echo "# solum-agent run vs os-collect-config $occ_version, $(nproc) cores, $(date -u +%FT%TZ)"
for r in ${ROUNDS:-fixed default}; do
  case "$r" in
    fixed) round fixed 1 ;;
    default) round default "" ;;
    *) echo "ROUNDS: unknown round $r (fixed, default)" >&2; exit 2 ;;
  esac
done
