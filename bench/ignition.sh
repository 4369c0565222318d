#!/usr/bin/env bash
# bench/ignition.sh [FILES] [RUNS]: parse+validate throughput of solum-ignition next to
# Ignition's ignition-validate on the same generated config (FILES files, default 10000; plus
# FILES/10 directories, links, units and users). Prints the best of RUNS (default 5) wall-clock
# times for each and the ratio. Needs python3, cargo and ignition-validate.
set -euo pipefail
FILES=${1:-10000}
RUNS=${2:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

python3 - "$FILES" >"$TMP/big.ign" <<'PY'
import hashlib, json, sys
n = int(sys.argv[1])
files, dirs, links, units, users = [], [], [], [], []
for i in range(n):
    body = ("file %d\nsome contents for this file, line two\n" % i).encode()
    url = "data:," + "".join(c if c.isalnum() or c in "-_.!~*'()/:@=+$" else "%%%02X" % ord(c) for c in body.decode())
    files.append({"path": "/srv/app/d%d/f%d.txt" % (i % 100, i), "mode": 420, "overwrite": True,
                  "user": {"id": 1000}, "contents": {"source": url,
                  "verification": {"hash": "sha512-" + hashlib.sha512(body).hexdigest()}}})
for i in range(max(1, n // 10)):
    dirs.append({"path": "/var/lib/app%d" % i, "mode": 493})
    links.append({"path": "/usr/local/bin/tool%d" % i, "target": "/opt/tool/bin/tool%d" % i})
    units.append({"name": "app%d.service" % i, "enabled": True,
                  "contents": "[Unit]\nDescription=app %d\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n" % i,
                  "dropins": [{"name": "10-env.conf", "contents": "[Service]\nEnvironment=N=%d\n" % i}]})
    users.append({"name": "user%d" % i, "sshAuthorizedKeys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI%d user%d" % (i, i)]})
json.dump({"ignition": {"version": "3.3.0"}, "storage": {"files": files, "directories": dirs, "links": links},
           "systemd": {"units": units}, "passwd": {"users": users}}, sys.stdout)
PY

(cd "$ROOT" && cargo build -q --release -p solum-ignition --example validate)
OURS="$TARGET/release/examples/validate"
SIZE=$(stat -c %s "$TMP/big.ign")

# "WALL CPU": best wall-clock and best CPU (user+sys) seconds of $RUNS runs of "$@" (the
# machine is shared, so CPU time is the steadier figure); exit status must be 0
best() {
    python3 - "$RUNS" "$@" <<'PY'
import resource, subprocess, sys, time
runs, cmd = int(sys.argv[1]), sys.argv[2:]
walls, cpus = [], []
for _ in range(runs):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    walls.append(time.perf_counter() - t)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if r.returncode != 0:
        sys.exit("%s exited %d (config should be valid)" % (cmd[0], r.returncode))
print("%.4f %.4f" % (min(walls), min(cpus)))
PY
}

T_OURS=$(best "$OURS" --quiet "$TMP/big.ign")
T_THEIRS=$(best ignition-validate "$TMP/big.ign")
python3 - "$FILES" "$SIZE" "$T_OURS" "$T_THEIRS" "$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import sys
files, size = int(sys.argv[1]), int(sys.argv[2])
ours_wall, ours_cpu, theirs_wall, theirs_cpu = map(float, sys.argv[3:7])
mb = size / 1e6
print("config: %d files, %.1f MB; %s cores, load %s" % (files, mb, sys.argv[7], sys.argv[8]))
for name, wall, cpu in [("solum-ignition (examples/validate)", ours_wall, ours_cpu),
                        ("ignition-validate 2.14", theirs_wall, theirs_cpu)]:
    print("%-34s wall %.3f s (%.1f MB/s, %d files/s)  cpu %.3f s" % (name, wall, mb / wall, files / wall, cpu))
print("ratio ignition-validate / ours: wall %.1fx, cpu %.1fx" % (theirs_wall / ours_wall, theirs_cpu / max(ours_cpu, 1e-4)))
PY
