"""What polling costs a real Heat, and what a fleet of agents does to it: solum-agent's polling
against os-collect-config's, side by side in one run. Run by bench/heat-fleet.sh (which starts
Keystone + Heat through scripts/openstack-harness.sh and builds agent/examples/heat_fleet.rs).

One stack holds two OS::Heat::DeployedServers, one per polling transport (POLL_SERVER_CFN,
POLL_SERVER_HEAT), each with a script deployment (NO_SIGNAL), so each server's metadata is what
an app VM polls. Then, with the CPU time of the Heat process (heat-api, heat-api-cfn and the
engine in one process) and of Keystone (gunicorn, one worker) read from /proc around each step:

1. saturation: C solum-agent pollers (its collectors, in agent/examples/heat_fleet.rs) in a
   closed loop for D s per transport: polls per second, latency, Heat and Keystone CPU per poll;
2. the real os-collect-config 14.1.0 (P processes, `-i 1 --min-polling-interval 1`, a fixed
   1 s cadence) for D s per transport: Heat and Keystone CPU per poll (polls counted in Heat's
   request log);
3. a fleet of M agents booted together, for F s, per transport: solum-agent's schedule and
   collectors, then os-collect-config's schedule (1 s doubling to 30 s, no jitter, its start-up
   splay) and requests (heat: discovery, password token and GET every poll), emulated by
   heat_fleet.

    python heat-fleet.py HARNESS_DIR HEAT_FLEET_BINARY PEER_VENV C D P M F
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from keystoneauth1 import session
from keystoneauth1.identity import v3
from heatclient import client as heat_client

TEMPLATE = """
heat_template_version: 2018-08-31
resources:
  cfn_server:
    type: OS::Heat::DeployedServer
    properties: {software_config_transport: POLL_SERVER_CFN}
  heat_server:
    type: OS::Heat::DeployedServer
    properties: {software_config_transport: POLL_SERVER_HEAT}
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      inputs: [{name: foo}]
      outputs: [{name: result}]
      config: |
        #!/bin/sh
        printf "got $foo" > "$heat_outputs_path.result"
  cfn_deploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      server: {get_resource: cfn_server}
      config: {get_resource: config}
      signal_transport: NO_SIGNAL
      input_values: {foo: bar}
  heat_deploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      server: {get_resource: heat_server}
      config: {get_resource: config}
      signal_transport: NO_SIGNAL
      input_values: {foo: bar}
"""

SERVERS = {"cfn": "cfn_server", "heat": "heat_server"}


def heat():
    auth = v3.Password(auth_url=os.environ["OS_AUTH_URL"], username=os.environ["OS_USERNAME"],
                       password=os.environ["OS_PASSWORD"], project_name=os.environ["OS_PROJECT_NAME"],
                       user_domain_id="default", project_domain_id="default")
    return heat_client.Client("1", session=session.Session(auth=auth))


def wait(hc, sid, want, timeout=600):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        st = hc.stacks.get(sid)
        if st.stack_status == want:
            return st
        if st.stack_status.endswith("FAILED"):
            raise SystemExit("stack %s: %s %s" % (sid, st.stack_status, st.stack_status_reason))
        time.sleep(0.5)
    raise SystemExit("stack %s: no %s within %s s" % (sid, want, timeout))


def group_cpu(pgid):
    """CPU seconds (user + system, threads included) of every process in a process group."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


class Meter:
    """CPU of Heat and Keystone and the load average around a step."""

    def __init__(self, harness):
        def pid(name):
            with open(os.path.join(harness, name + ".pid")) as f:
                return int(f.read())
        self.groups = {"heat": pid("heat"), "keystone": pid("keystone")}

    def __enter__(self):
        self.t0 = time.monotonic()
        self.cpu0 = {k: group_cpu(g) for k, g in self.groups.items()}
        self.load0 = loadavg()
        return self

    def __exit__(self, *exc):
        self.wall = time.monotonic() - self.t0
        self.cpu = {k: group_cpu(g) - self.cpu0[k] for k, g in self.groups.items()}
        self.load1 = loadavg()

    def load(self):
        return "%s / %s" % (self.load0.split()[0], self.load1.split()[0])


def heat_fleet(binary, *args):
    out = subprocess.run([binary] + [str(a) for a in args], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit("heat_fleet %s: %s" % (" ".join(map(str, args)), out.stderr))
    return json.loads(out.stdout)


def occ_conf(work, transport, block):
    conf = os.path.join(work, "os-collect-config.conf")
    b = block[transport]
    with open(conf, "w") as f:
        f.write("[DEFAULT]\ncommand = true\ncollectors = %s\ncachedir = %s/cache\n"
                "backup_cachedir = %s/cache-backup\n[%s]\n" % (transport, work, work, transport))
        for k, v in b.items():
            f.write("%s = %s\n" % (k, v if v is not None else ""))
    return conf


def request_lines(log, offset, transport, resource):
    """Heat's request log lines (heat-server.http) after `offset` for this transport's polls."""
    with open(log, errors="replace") as f:
        f.seek(offset)
        text = f.read()
    if transport == "cfn":
        mark = "GET /v1/?"
    else:
        mark = "/resources/%s/metadata HTTP" % resource
    return sum(1 for line in text.splitlines() if mark in line and '" 200 ' in line)


def real_occ(venv, harness, transport, block, procs, seconds):
    """P os-collect-config processes at a fixed 1 s cadence; returns (polls, Meter)."""
    log = os.path.join(harness, "heat.log")
    works, ps = [], []
    try:
        for _ in range(procs):
            work = tempfile.mkdtemp(prefix="solum-bench-occ-")
            works.append(work)
            conf = occ_conf(work, transport, block)
            out = open(os.path.join(work, "occ.log"), "w")
            ps.append(subprocess.Popen(
                [os.path.join(venv, "bin/os-collect-config"), "--config-file", conf,
                 "-i", "1", "--min-polling-interval", "1"],
                stdout=out, stderr=out, start_new_session=True))
        # Start-up (imports, the first collection and `true`) is left out: the window opens
        # once every process has polled (Python start-up takes seconds on a loaded machine).
        start = os.path.getsize(log)
        deadline = time.monotonic() + 120
        while request_lines(log, start, transport, SERVERS[transport]) < 2 * procs:
            if time.monotonic() > deadline or any(p.poll() is not None for p in ps):
                with open(os.path.join(works[0], "occ.log"), errors="replace") as f:
                    tail = f.read()[-2000:]
                raise SystemExit("os-collect-config did not poll %s; its log:\n%s"
                                 % (transport, tail))
            time.sleep(1)
        offset = os.path.getsize(log)
        with Meter(harness) as m:
            time.sleep(seconds)
        polls = request_lines(log, offset, transport, SERVERS[transport])
    finally:
        for p in ps:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            p.wait()
        for w in works:
            subprocess.run(["rm", "-rf", w])
    return polls, m


def ms(x):
    return "%.1f ms" % (x * 1000)


def main(argv):
    harness, binary, venv = argv[1], argv[2], argv[3]
    pollers, seconds, procs, agents, fleet_s = (int(x) for x in argv[4:9])
    hc = heat()
    sid = hc.stacks.create(stack_name="fleet-%d" % os.getpid(), template=TEMPLATE)["stack"]["id"]
    wait(hc, sid, "CREATE_COMPLETE")
    work = tempfile.mkdtemp(prefix="solum-bench-fleet-")
    try:
        steps(hc, sid, work, harness, binary, venv, pollers, seconds, procs, agents, fleet_s)
    finally:
        subprocess.run(["rm", "-rf", work])


def steps(hc, sid, work, harness, binary, venv, pollers, seconds, procs, agents, fleet_s):
    occ, files = {}, {}
    for transport, server in SERVERS.items():
        meta = hc.resources.metadata(sid, server)
        occ[transport] = meta["os-collect-config"]
        files[transport] = os.path.join(work, transport + ".json")
        with open(files[transport], "w") as f:
            json.dump(meta["os-collect-config"], f)
        print("%s metadata: %d bytes, %d deployment(s)"
              % (server, len(json.dumps(meta)), len(meta.get("deployments", []))))

    print("\n## 1. Saturation: %d solum-agent pollers in a closed loop, %d s per transport\n"
          % (pollers, seconds))
    print("| transport | polls/s | latency p50 / p99 | Heat CPU per poll | Keystone CPU per poll "
          "| Heat busy | load avg before / after |")
    print("|---|---|---|---|---|---|---|")
    sat = {}
    for transport in ("cfn", "heat"):
        with Meter(harness) as m:
            r = heat_fleet(binary, "saturate", "--config", files[transport], "--transport",
                           transport, "--style", "solum", "--pollers", pollers,
                           "--seconds", seconds)
        n = r["polls_ok"]
        sat[transport] = (r["ok_per_s"], m.cpu["heat"] / n, m.cpu["keystone"] / n)
        print("| %s | %.1f | %d / %d ms | %s | %s | %.0f %% | %s |"
              % (transport, r["ok_per_s"], r["latency_ms"]["p50"], r["latency_ms"]["p99"],
                 ms(m.cpu["heat"] / n), ms(m.cpu["keystone"] / n),
                 100 * m.cpu["heat"] / m.wall, m.load()), flush=True)
        if r["polls_failed"]:
            print("  failed polls: %d %s" % (r["polls_failed"], r["errors"]))

    print("\n## 2. The real os-collect-config 14.1.0: %d processes at a 1 s cadence, %d s\n"
          % (procs, seconds))
    print("| transport | polls/s | Heat CPU per poll | Keystone CPU per poll "
          "| vs solum-agent (Heat / Keystone) | load avg before / after |")
    print("|---|---|---|---|---|---|")
    peer = {}
    for transport in ("cfn", "heat"):
        polls, m = real_occ(venv, harness, transport, occ[transport], procs, seconds)
        if polls == 0:
            raise SystemExit("os-collect-config made no %s poll: see its log" % transport)
        h, k = m.cpu["heat"] / polls, m.cpu["keystone"] / polls
        peer[transport] = (h, k)
        s = sat[transport]
        print("| %s | %.1f | %s | %s | %.1fx / %s | %s |"
              % (transport, polls / m.wall, ms(h), ms(k), h / s[1],
                 "%.0fx" % (k / s[2]) if s[2] > 0 else "-", m.load()), flush=True)

    print("\n## 3. A fleet booted together, %d s (steady state from 60 s), max interval 30 s\n"
          % fleet_s)
    print("| transport | agents | poller | polls ok / failed | starts: steady /s, worst 1 s steady, "
          "worst 1 s | latency p50 / p99 / max | first poll answered by | Heat CPU /s "
          "| Keystone CPU /s | load avg before / after |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for transport in ("cfn", "heat"):
        n = agents
        for style, label in (("solum", "solum-agent"), ("occ", "os-collect-config (emulated)")):
            with Meter(harness) as m:
                r = heat_fleet(binary, "fleet", "--config", files[transport], "--transport",
                               transport, "--style", style, "--agents", n,
                               "--seconds", fleet_s, "--steady-from", 60)
            lat = r["latency_ms"]
            print("| %s | %d | %s | %d / %d | %.1f, %d, %d | %d / %d / %d ms | %.2f s | %.2f | %.2f | %s |"
                  % (transport, n, label, r["polls_ok"], r["polls_failed"],
                     r["steady_starts_per_s"], r["steady_starts_worst_1s"], r["starts_worst_1s"],
                     lat["p50"], lat["p99"], lat["max"], r["first_answered_max_ms"] / 1000,
                     m.cpu["heat"] / m.wall, m.cpu["keystone"] / m.wall, m.load()), flush=True)
            if r["errors"]:
                print("  errors: %s" % r["errors"])

    print("\n## Capacity at the default interval (30 s), from the saturation figures\n")
    print("| transport | polls/s measured | fleet at 30 s (measured rate x 30) "
          "| polls/s per core of Heat (1 / CPU per poll) | fleet per core of Heat "
          "| Keystone cores for that fleet, solum-agent / os-collect-config |")
    print("|---|---|---|---|---|---|")
    for transport in ("cfn", "heat"):
        rate, h, k = sat[transport]
        per_core = 1 / h
        fleet = per_core * 30
        print("| %s | %.1f | %d | %.1f | %d | %.2f / %.2f |"
              % (transport, rate, rate * 30, per_core, fleet, fleet / 30 * k,
                 fleet / 30 * peer[transport][1]))


if __name__ == "__main__":
    main(sys.argv)
