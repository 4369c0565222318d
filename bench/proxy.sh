#!/usr/bin/env bash
# Proxy benchmark: requests/s and p99 latency of a small HTTP response straight to the web
# container (its address on Docker's bridge: "direct"; and its port published on 127.0.0.1,
# through Docker's port forwarder: "published"), through the supervisor's proxy (the app's
# public port; it connects to the container's address) and through HAProxy (TCP mode, 2
# threads) in front of the same container address, all in one run on this machine, with wrk
# (keep-alive, and a new connection per request); then N = 1 against N = 2 instances of a
# CPU-bound handler through the proxy (the scale done by a redeploy that builds nothing).
#
# Prints one line per measurement and the ratios against the peers of the same run.
# Each measurement runs `rounds` times, the peers interleaved, and the medians are compared.
# Usage: bench/proxy.sh [seconds per measurement, default 5] [rounds, default 3]
#        (as root, after scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-5}
rounds=${2:-3}
target=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release -q -p solum-agent
agent=$target/release/solum-agent
for tool in wrk haproxy; do
  command -v "$tool" >/dev/null || { echo "bench/proxy.sh: $tool is missing (scripts/setup.sh installs it)" >&2; exit 1; }
done
work=$(mktemp -d /tmp/solum-bench-proxy.XXXXXX)
state=$work/state
app=bench-lb
port=$((20000 + RANDOM % 20000))
hport=$((port + 1))
haproxy_pid=
cleanup() {
  if [ -n "$haproxy_pid" ]; then kill "$haproxy_pid" 2>/dev/null || true; fi
  "$agent" --state-dir "$state" destroy "$app" >/dev/null 2>&1 || true
  id=$(cat "$state/agent-id" 2>/dev/null || true)
  [ -n "$id" ] && docker ps -aq --filter "label=solum.agent=$id" | xargs -r docker rm -f >/dev/null
  docker images -q --filter "label=solum.app=$app" | xargs -r docker rmi -f >/dev/null 2>&1 || true
  docker volume rm -f "solum-cache-$app" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/project/app"
# A small asyncio HTTP/1.1 server (keep-alive; closes on `Connection: close`): `/` answers
# 3 bytes, `/cpu` 20,000 rounds of sha256 (about 10 ms of one core).
cat >"$work/project/app/app.py" <<'EOF'
import asyncio, hashlib, os

def answer(body, close):
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n" % len(body)
    return head + (b"Connection: close\r\n" if close else b"") + b"\r\n" + body

async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            close = b"connection: close" in head.lower() or head.startswith(b"GET / HTTP/1.0")
            body = b"ok\n"
            if head.startswith(b"GET /cpu"):
                h = b"x"
                for _ in range(20000):
                    h = hashlib.sha256(h).digest()
                body = h.hex().encode()
            writer.write(answer(body, close))
            await writer.drain()
            if close:
                break
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(handle, "0.0.0.0", int(os.environ["PORT"]), backlog=1024)
    async with server:
        await server.serve_forever()

asyncio.run(main())
EOF
echo "web: python3 app.py" >"$work/project/app/Procfile"
plan() { # instances
  printf 'version: 1\nname: %s\nartifacts:\n- name: web\n  artifact_type: heroku\n  content:\n    href: ./app\n  language_pack: auto\n  ports: %s\n  instances: %s\n' \
    "$app" "$port" "$1" >"$work/project/Planfile"
}
deploy() {
  "$agent" --state-dir "$state" --bind-address 127.0.0.1 deploy "$work/project/Planfile" --json 2>"$work/log" \
    || { cat "$work/log" >&2; return 1; }
}

# wrk: "rps p99_ms"
measure() { # url conns [header]
  local out
  if [ $# -ge 3 ]; then
    out=$(wrk -t2 -c"$2" -d"${dur}s" --latency -H "$3" "$1")
  else
    out=$(wrk -t2 -c"$2" -d"${dur}s" --latency "$1")
  fi
  if echo "$out" | grep -q "Non-2xx\|Socket errors"; then echo "$out" | grep "Non-2xx\|Socket errors" >&2; fi
  local rps p99
  rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v=v*1000}; print v}')
  echo "$rps $p99"
}
ratio() { echo "scale=2; $1 / $2" | bc; }

plan 1
t0=$(date +%s.%N)
first=$(deploy)
echo "deployed $app (N = 1) in $(echo "$(date +%s.%N) - $t0" | bc | cut -c1-5) s: $(echo "$first" | jq -c '.apps[0] | {release, cached}')"
release=$(echo "$first" | jq -r '.apps[0].release')
id=$(cat "$state/agent-id")
web="solum-$id-$app-$release-web"
published=$(docker port "$web" "$port/tcp" | head -1 | sed 's/.*://')
cip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$web")
cat >"$work/haproxy.cfg" <<EOF
global
  maxconn 4096
  nbthread 2
defaults
  mode tcp
  timeout connect 1s
  timeout client 30s
  timeout server 30s
frontend bench
  bind 127.0.0.1:$hport
  default_backend web
backend web
  server web1 $cip:$port
EOF
haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
haproxy_pid=$!
for _ in $(seq 50); do curl -fs -o /dev/null "http://127.0.0.1:$hport/" && break; sleep 0.1; done
curl -fs -o /dev/null "http://127.0.0.1:$port/"

median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

echo "load average before: $(load)"
echo "small response, wrk -t2, ${dur} s each, $rounds rounds interleaved; medians of rps and p99 (ms)"
declare -A rps p99
for mode in keepalive close; do
  for peer in direct published proxy haproxy; do rps[$mode-$peer]=""; p99[$mode-$peer]=""; done
  for _ in $(seq "$rounds"); do
    for peer in direct published proxy haproxy; do
      case $peer in
        direct) url=http://$cip:$port/ ;;
        published) url=http://127.0.0.1:$published/ ;;
        proxy) url=http://127.0.0.1:$port/ ;;
        haproxy) url=http://127.0.0.1:$hport/ ;;
      esac
      if [ "$mode" = close ]; then
        read -r r l < <(measure "$url" 16 "Connection: close")
      else
        read -r r l < <(measure "$url" 32)
      fi
      rps[$mode-$peer]+=" $r"; p99[$mode-$peer]+=" $l"
    done
  done
  for peer in direct published proxy haproxy; do
    r=$(median "${rps[$mode-$peer]}"); l=$(median "${p99[$mode-$peer]}")
    rps[$mode-$peer]=$r; p99[$mode-$peer]=$l
    printf '  %-9s %-8s %10s rps  p99 %8s ms\n' "$mode" "$peer" "$r" "$l"
  done
  printf '  %-9s proxy/direct rps %s, p99 %s; proxy/haproxy rps %s, p99 %s\n' "$mode" \
    "$(ratio "${rps[$mode-proxy]}" "${rps[$mode-direct]}")" "$(ratio "${p99[$mode-proxy]}" "${p99[$mode-direct]}")" \
    "$(ratio "${rps[$mode-proxy]}" "${rps[$mode-haproxy]}")" "$(ratio "${p99[$mode-proxy]}" "${p99[$mode-haproxy]}")"
done

echo "CPU-bound handler (/cpu, ~10 ms of one core), through the proxy, wrk -t2 -c8, ${dur} s each, N = 1 and N = 2 alternated $rounds times (each scale a redeploy that builds nothing)"
declare -A cr cl
for n in 1 2; do cr[$n]=""; cl[$n]=""; done
for _ in $(seq "$rounds"); do
  for n in 1 2; do
    plan "$n"
    t0=$(date +%s.%N)
    scaled=$(deploy)
    echo "$scaled" | jq -e '.apps[0] | .cached and .release == "'"$release"'"' >/dev/null \
      || { echo "the scale to $n built or released: $scaled" >&2; exit 1; }
    secs=$(echo "$(date +%s.%N) - $t0" | bc | cut -c1-5)
    read -r r l < <(measure "http://127.0.0.1:$port/cpu" 8)
    cr[$n]+=" $r"; cl[$n]+=" $l"
    printf '  N = %s (scaled in %s s) %8s rps  p99 %8s ms\n' "$n" "$secs" "$r" "$l"
  done
done
r1=$(median "${cr[1]}"); l1=$(median "${cl[1]}"); r2=$(median "${cr[2]}"); l2=$(median "${cl[2]}")
printf '  medians: N = 1 %s rps p99 %s ms; N = 2 %s rps p99 %s ms; N=2/N=1 rps %s, p99 %s\n' \
  "$r1" "$l1" "$r2" "$l2" "$(ratio "$r2" "$r1")" "$(ratio "$l2" "$l1")"
echo "load average after: $(load)"
