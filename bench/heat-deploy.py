"""Times a script deployment through a real Heat, applied by solum-agent and by the Python chain
it replaces, side by side. Run by bench/heat-deploy.sh (which starts Heat and builds the agent).

Each round, for each tool in turn: a stack with an OS::Heat::DeployedServer (POLL_SERVER_HEAT)
and one script SoftwareDeployment (HEAT_SIGNAL) is created; as soon as the server's
`os_collect_config` exists the tool is started with it (as a deployed server's operator would);
the time from the create request to CREATE_COMPLETE is taken. Then an input is changed (PATCH)
and the time to UPDATE_COMPLETE is taken, and the CPU the tool used (with its children).
Both tools poll with the same maximum interval.

The peer is set up as heat-agents' elements set it up: os-collect-config (command
os-refresh-config), os-refresh-config running configure.d/20-os-apply-config (renders the
heat-config file from heat-agents' template) and 55-heat-config (heat-agents' hook runner),
heat-agents' script hook and heat-config-notify; everything from PyPI, paths moved into a
scratch root through the variables those tools read.

    python heat-deploy.py AGENT_BINARY PEER_VENV HEAT_AGENTS_DIR ROUNDS POLL_INTERVAL
"""
import json
import os
import shutil
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
parameters:
  foo: {type: string}
resources:
  server:
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
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      server: {get_resource: server}
      config: {get_resource: config}
      signal_transport: HEAT_SIGNAL
      input_values: {foo: {get_param: foo}}
      actions: [CREATE, UPDATE]
outputs:
  result: {value: {get_attr: [deploy, result]}}
"""


def heat():
    auth = v3.Password(auth_url=os.environ["OS_AUTH_URL"], username=os.environ["OS_USERNAME"],
                       password=os.environ["OS_PASSWORD"], project_name=os.environ["OS_PROJECT_NAME"],
                       user_domain_id="default", project_domain_id="default")
    return heat_client.Client("1", session=session.Session(auth=auth))


def wait(hc, sid, want, timeout=300):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        st = hc.stacks.get(sid)
        if st.stack_status == want:
            return st
        if st.stack_status.endswith("FAILED"):
            raise SystemExit("stack %s: %s %s" % (sid, st.stack_status, st.stack_status_reason))
        time.sleep(0.1)
    raise SystemExit("stack %s: no %s within %s s" % (sid, want, timeout))


def occ_of(hc, sid):
    end = time.monotonic() + 120
    while time.monotonic() < end:
        meta = hc.resources.metadata(sid, "server")
        if meta.get("os-collect-config", {}).get("heat"):
            return meta["os-collect-config"]
        time.sleep(0.05)
    raise SystemExit("no os-collect-config for %s" % sid)


def start_agent(agent, work, occ, poll):
    os.makedirs(os.path.join(work, "local-data"))
    os.makedirs(os.path.join(work, "no-drive"))
    cfg = os.path.join(work, "config.yaml")
    with open(cfg, "w") as f:
        f.write("state_dir: %s/state\nconfig_drive: %s/no-drive\nmetadata_url: http://127.0.0.1:9\n"
                "cfn_init_path: %s/cfn-init-data\nlocal_data_dir: %s/local-data\n"
                "os_collect_config_file: %s/occ.conf\nhooks_dir: %s/hooks\n"
                "refresh_config_dir: %s/orc\nheat_config_file: %s/heat-config\n"
                "status_socket: \"\"\npoll_max_interval: %d\nos_collect_config: %s\n"
                % (work, work, work, work, work, work, work, work, poll, json.dumps(occ)))
    log = open(os.path.join(work, "agent.log"), "w")
    return subprocess.Popen([agent, "--config", cfg, "run"], stdout=log, stderr=log,
                            start_new_session=True)


def start_peer(venv, ha, work, occ, poll):
    root = work
    orc = os.path.join(root, "orc", "configure.d")
    os.makedirs(orc)
    templates = os.path.join(root, "templates")
    # heat-agents' heat-config element: its os-apply-config template for the heat-config file
    # (the os-collect-config.conf template is left out: the peer's configuration stays static).
    shutil.copytree(os.path.join(ha, "heat-config/os-apply-config/var"), os.path.join(templates, "var"))
    with open(os.path.join(orc, "20-os-apply-config"), "w") as f:
        f.write("#!/bin/bash\nset -ue\nexec os-apply-config -o %s\n" % root)
    shutil.copy(os.path.join(ha, "heat-config/os-refresh-config/configure.d/55-heat-config"), orc)
    hooks = os.path.join(root, "hooks")
    os.makedirs(hooks)
    shutil.copy(os.path.join(ha, "heat-config-script/install.d/hook-script.py"),
                os.path.join(hooks, "script"))
    for f in os.listdir(orc):
        os.chmod(os.path.join(orc, f), 0o755)
    os.chmod(os.path.join(hooks, "script"), 0o755)
    h = occ["heat"]
    conf = os.path.join(root, "os-collect-config.conf")
    with open(conf, "w") as f:
        f.write("[DEFAULT]\ncommand = os-refresh-config --lockfile %s/orc.lock\n"
                "collectors = heat\npolling_interval = %d\ncachedir = %s/cache\n"
                "backup_cachedir = %s/cache-backup\n[heat]\n" % (root, poll, root, root))
        for k in ("auth_url", "user_id", "password", "project_id", "stack_id", "resource_name",
                  "region_name"):
            f.write("%s = %s\n" % (k, h.get(k) or ""))
    env = dict(os.environ)
    env.update({
        "PATH": "%s/bin:%s" % (venv, env["PATH"]),
        "OS_REFRESH_CONFIG_BASE_DIR": os.path.join(root, "orc"),
        "OS_CONFIG_APPLIER_TEMPLATES": templates,
        "OS_CONFIG_FILES_PATH": os.path.join(root, "cache", "os_config_files.json"),
        "HEAT_SHELL_CONFIG": os.path.join(root, "var/run/heat-config/heat-config"),
        "HEAT_CONFIG_HOOKS": hooks,
        "HEAT_CONFIG_DEPLOYED": os.path.join(root, "deployed"),
        "HEAT_CONFIG_DEPLOYED_OLD": os.path.join(root, "deployed-old"),
        "HEAT_CONFIG_NOTIFY": os.path.join(ha, "heat-config/bin/heat-config-notify"),
        "HEAT_SCRIPT_WORKING": os.path.join(root, "script-work"),
        "HEAT_SCRIPT_OUTPUTS": os.path.join(root, "script-outputs"),
    })
    os.chmod(env["HEAT_CONFIG_NOTIFY"], 0o755)
    log = open(os.path.join(root, "peer.log"), "w")
    return subprocess.Popen([os.path.join(venv, "bin/os-collect-config"), "--config-file", conf],
                            stdout=log, stderr=log, env=env, start_new_session=True)


def cpu_seconds(p):
    """utime + stime + cutime + cstime of the tool's top process (its waited-for children, the
    hooks and os-refresh-config runs, included; os-collect-config re-execs itself in place)."""
    with open("/proc/%d/stat" % p.pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def stop(p):
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def remove_containers(work):
    """The agent's supervisor container (started by `run`), by the agent's label."""
    try:
        with open(os.path.join(work, "state", "agent-id")) as f:
            agent_id = f.read().strip()
    except OSError:
        return
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", "label=solum.agent=" + agent_id],
                         capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f"] + ids, capture_output=True)


def one(hc, tool, start, n, poll):
    work = tempfile.mkdtemp(prefix="solum-bench-heat-%s-" % tool)
    name = "bench-%s-%d-%d" % (tool, os.getpid(), n)
    t0 = time.monotonic()
    sid = hc.stacks.create(stack_name=name, template=TEMPLATE, parameters={"foo": "a"})["stack"]["id"]
    occ = occ_of(hc, sid)
    proc = start(work, occ, poll)
    try:
        st = wait(hc, sid, "CREATE_COMPLETE")
        create = time.monotonic() - t0
        assert [o for o in st.outputs if o["output_key"] == "result"][0]["output_value"] == "got a"
        t1 = time.monotonic()
        hc.stacks.update(sid, existing=True, parameters={"foo": "b"})
        wait(hc, sid, "UPDATE_COMPLETE")
        update = time.monotonic() - t1
        st = hc.stacks.get(sid)
        assert [o for o in st.outputs if o["output_key"] == "result"][0]["output_value"] == "got b"
        cpu = cpu_seconds(proc)
    finally:
        stop(proc)
        remove_containers(work)
    shutil.rmtree(work, ignore_errors=True)
    return create, update, cpu


def main(argv):
    agent, venv, ha, rounds, poll = argv[1], argv[2], argv[3], int(argv[4]), int(argv[5])
    hc = heat()
    tools = {
        "solum-agent": lambda w, o, p: start_agent(agent, w, o, p),
        "os-collect-config chain": lambda w, o, p: start_peer(venv, ha, w, o, p),
    }
    results = {t: [] for t in tools}
    for n in range(rounds):
        for tool, start in tools.items():
            c, u, cpu = one(hc, tool.split()[0], start, n, poll)
            results[tool].append((c, u, cpu))
            print("round %d %-24s CREATE %.2f s  UPDATE %.2f s  CPU %.2f s"
                  % (n + 1, tool, c, u, cpu), flush=True)

    def median(xs):
        xs = sorted(xs)
        return xs[len(xs) // 2]

    a, p = results["solum-agent"], results["os-collect-config chain"]
    print()
    print("| stack create/update to COMPLETE, median of %d (poll max %d s) | solum-agent "
          "| os-collect-config + heat-config + script hook | ratio |" % (rounds, poll))
    print("|---|---|---|---|")
    for i, what in ((0, "CREATE"), (1, "UPDATE"),
                    (2, "CPU of the tool, start to after the UPDATE")):
        ma, mp = median([x[i] for x in a]), median([x[i] for x in p])
        print("| %s | %.2f s | %.2f s | %.2f |" % (what, ma, mp, ma / mp))


if __name__ == "__main__":
    main(sys.argv)
