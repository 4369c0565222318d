//! End-to-end against a real Heat (openstack-heat 27.0.1 and Keystone from PyPI, started once
//! for this test binary by scripts/openstack-harness.sh; its watcher stops them when this
//! process ends). Each test creates `OS::Heat::DeployedServer` stacks and runs `solum-agent run`
//! as the operator of that server would: the server's `os_collect_config` handed over as
//! local-data or as /etc/os-collect-config.conf, no Nova. Outputs, `deploy_status_code` and
//! stack states are read back from Heat's API. Fails, never skips, when Heat cannot start.
//!
//! Swift is not run here (no TempURL transports against the real thing: Swift needs its
//! rings, an xattr filesystem and four services); POLL_TEMP_URL and TEMP_URL_SIGNAL are
//! covered against the fixture in `run.rs`.

mod heat_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use heat_support::{heat, Agent, LONG};
use serde_json::{json, Value};
use solum_tests::openstack;
use solum_tests::{free_port, repo_root, require_docker, unique_name, wait_http};

/// A DeployedServer and one script deployment whose script appends "<action> <foo>" to a file.
fn script_template(actions_file: &Path) -> String {
    format!(
        r#"heat_template_version: 2018-08-31
parameters:
  transport: {{type: string}}
  signal: {{type: string}}
  foo: {{type: string}}
resources:
  server:
    type: OS::Heat::DeployedServer
    properties:
      software_config_transport: {{get_param: transport}}
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      inputs: [{{name: foo}}]
      outputs: [{{name: result}}]
      config: |
        #!/bin/sh
        echo "$deploy_action $foo" >> {actions}
        printf "got $foo" > "$heat_outputs_path.result"
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      server: {{get_resource: server}}
      config: {{get_resource: config}}
      signal_transport: {{get_param: signal}}
      input_values: {{foo: {{get_param: foo}}}}
      actions: [CREATE, UPDATE]
outputs:
  result: {{value: {{get_attr: [deploy, result]}}}}
  status_code: {{value: {{get_attr: [deploy, deploy_status_code]}}}}
"#,
        actions = actions_file.display()
    )
}

/// POLL_SERVER_HEAT + HEAT_SIGNAL: CREATE, an UPDATE with a changed input, then a stack update
/// that switches the server to POLL_SERVER_CFN. The agent follows the metadata it polls (Heat
/// leaves the heat block with null values: switched off, one log line), with no new local-data.
/// Each action runs once; outputs and deploy_status_code are Heat's. The server's template
/// metadata sets os-collect-config's `polling_interval`, which Heat keeps next to the transport
/// block and the agent takes as its maximum interval; over the heat transport the agent keeps
/// one Keystone token for all its polls.
#[test]
fn script_over_heat_transport_create_update_then_switch_to_cfn() {
    let h = heat();
    let mut agent = Agent::new();
    agent.poll_max = None;
    let actions = agent.path("actions");
    let template = script_template(&actions).replacen(
        "    type: OS::Heat::DeployedServer\n",
        "    type: OS::Heat::DeployedServer\n    metadata: {os-collect-config: {polling_interval: 2}}\n",
        1,
    );
    let s = h.create(
        &unique_name("h12-switch"),
        &template,
        json!({"transport": "POLL_SERVER_HEAT", "signal": "HEAT_SIGNAL", "foo": "one"}),
    );
    let meta = h.resource_metadata(&s, "server");
    assert!(meta["os-collect-config"]["heat"]["password"].is_string());
    assert_eq!(
        meta["os-collect-config"]["polling_interval"], 2,
        "Heat keeps the template's polling_interval beside its block: {meta}"
    );
    agent.local_data(&meta["os-collect-config"]);
    agent.start();
    let st = h.wait(&s, "CREATE_COMPLETE", LONG, &agent);
    assert_eq!(h.output(&st, "result"), "got one");
    assert_eq!(h.output(&st, "status_code"), 0);

    h.update(&s, json!({"foo": "two"}));
    let st = h.wait(&s, "UPDATE_COMPLETE", LONG, &agent);
    assert_eq!(h.output(&st, "result"), "got two");

    h.update(&s, json!({"transport": "POLL_SERVER_CFN", "foo": "three"}));
    let st = h.wait(&s, "UPDATE_COMPLETE", LONG, &agent);
    assert_eq!(h.output(&st, "result"), "got three");
    let meta = h.resource_metadata(&s, "server");
    assert!(
        meta["os-collect-config"]["heat"]
            .as_object()
            .is_some_and(|b| b.values().all(Value::is_null)),
        "Heat nulls the old block: {meta}"
    );
    assert_eq!(
        agent.lines("actions"),
        ["CREATE one", "UPDATE two", "UPDATE three"],
        "each action once"
    );
    assert_eq!(meta["os-collect-config"]["polling_interval"], 2);
    let log = agent.log();
    assert!(log.contains("polling cfn"), "{log}");
    assert_eq!(
        log.matches("/os-collect-config/heat: switched off").count(),
        1,
        "one log line: {log}"
    );
    assert!(
        log.contains("polling at most every 2 s (polling_interval)"),
        "{log}"
    );
    assert_eq!(
        log.matches("a new Keystone token, kept for").count(),
        1,
        "one token for every poll of CREATE and UPDATE: {log}"
    );
}

/// The other way round: POLL_SERVER_CFN + CFN_SIGNAL, then a stack update switching the server
/// to POLL_SERVER_HEAT (the cfn block is left with null values). The agent moves to the heat
/// transport by itself; the Heat bug that leaves the new stack-user password unset in Keystone
/// is worked around by the admin.
#[test]
fn script_over_cfn_transport_then_switch_to_heat() {
    let h = heat();
    let mut agent = Agent::new();
    let actions = agent.path("actions");
    let s = h.create(
        &unique_name("h12-cfn2heat"),
        &script_template(&actions),
        json!({"transport": "POLL_SERVER_CFN", "signal": "CFN_SIGNAL", "foo": "one"}),
    );
    agent.local_data(&h.resource_metadata(&s, "server")["os-collect-config"]);
    agent.start();
    let st = h.wait(&s, "CREATE_COMPLETE", LONG, &agent);
    assert_eq!(h.output(&st, "result"), "got one");

    h.update(&s, json!({"transport": "POLL_SERVER_HEAT", "foo": "two"}));
    let end = Instant::now() + LONG;
    let heat_block = loop {
        let m = h.resource_metadata(&s, "server");
        let b = m["os-collect-config"]["heat"].clone();
        if b["password"].is_string() && b["user_id"].is_string() {
            break b;
        }
        assert!(Instant::now() < end, "no heat block after the switch: {m}");
        std::thread::sleep(Duration::from_millis(300));
    };
    h.set_password(
        heat_block["user_id"].as_str().unwrap(),
        heat_block["password"].as_str().unwrap(),
    );
    let st = h.wait(&s, "UPDATE_COMPLETE", LONG, &agent);
    assert_eq!(h.output(&st, "result"), "got two");
    assert_eq!(agent.lines("actions"), ["CREATE one", "UPDATE two"]);
    let log = agent.log();
    assert!(log.contains("polling heat"), "{log}");
    assert_eq!(
        log.matches("/os-collect-config/cfn: switched off").count(),
        1,
        "one log line: {log}"
    );
}

/// A server whose only way in is /etc/os-collect-config.conf (TripleO's), POLL_SERVER_CFN:
/// a NO_SIGNAL deployment runs (Heat does not wait for it) and a CFN_SIGNAL deployment whose
/// script fails makes the stack fail with its status code and stderr. On a second server (Heat
/// fails a whole stack at its first failed deployment), a group with no hook fails naming the
/// hooks directory.
#[test]
fn cfn_transport_from_os_collect_config_conf_no_signal_and_failures() {
    let h = heat();
    let mut agent = Agent::new();
    let marker = agent.path("no-signal-ran");
    let template = format!(
        r##"heat_template_version: 2018-08-31
resources:
  server:
    type: OS::Heat::DeployedServer
    properties: {{software_config_transport: POLL_SERVER_CFN}}
  quiet:
    type: OS::Heat::SoftwareDeployment
    properties:
      server: {{get_resource: server}}
      signal_transport: NO_SIGNAL
      config: {{get_resource: quiet_config}}
  quiet_config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      config: "#!/bin/sh\ntouch {marker}\n"
  failing:
    type: OS::Heat::SoftwareDeployment
    properties:
      server: {{get_resource: server}}
      signal_transport: CFN_SIGNAL
      config: {{get_resource: failing_config}}
  failing_config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      config: "#!/bin/sh\necho about to fail >&2\nexit 3\n"
outputs:
  stderr: {{value: {{get_attr: [failing, deploy_stderr]}}}}
"##,
        marker = marker.display()
    );
    let s = h.create(&unique_name("h12-cfn"), &template, json!({}));
    let occ = &h.resource_metadata(&s, "server")["os-collect-config"];
    let cfn = &occ["cfn"];
    assert!(cfn["access_key_id"].is_string(), "{occ}");
    std::fs::write(
        agent.path("os-collect-config.conf"),
        format!(
            "[DEFAULT]\ncommand = os-refresh-config\ncollectors = ec2\ncollectors = cfn\ncollectors = local\n\n[cfn]\nmetadata_url = {}\nstack_name = {}\nsecret_access_key = {}\naccess_key_id = {}\npath = {}\n",
            cfn["metadata_url"].as_str().unwrap(),
            cfn["stack_name"].as_str().unwrap(),
            cfn["secret_access_key"].as_str().unwrap(),
            cfn["access_key_id"].as_str().unwrap(),
            cfn["path"].as_str().unwrap()
        ),
    )
    .unwrap();
    agent.start();
    let end = Instant::now() + LONG;
    let st = loop {
        let st = h.show(&s);
        if st["stack_status"] == "CREATE_FAILED" {
            break st;
        }
        assert!(
            Instant::now() < end && st["stack_status"] == "CREATE_IN_PROGRESS",
            "{st}\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    // Both failures are Heat's own verdicts on the agent's signals.
    let wait_failed = |name: &str| {
        let end = Instant::now() + LONG;
        loop {
            let r = h.resource(&s, name);
            if r["resource_status"] == "CREATE_FAILED" {
                return r["resource_status_reason"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
            }
            assert!(Instant::now() < end, "{name}: {r}\n{}", agent.log());
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    let reason = wait_failed("failing");
    assert!(reason.contains("status code: 3"), "{reason} / {st}");
    assert_eq!(h.output(&h.show(&s), "stderr"), "about to fail\n");
    let end = Instant::now() + LONG;
    while !marker.exists() {
        assert!(
            Instant::now() < end,
            "the NO_SIGNAL deployment never ran\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        h.resource(&s, "quiet")["resource_status"],
        "CREATE_COMPLETE"
    );

    let mut other = Agent::new();
    let s = h.create(
        &unique_name("h12-nohook"),
        r#"heat_template_version: 2018-08-31
resources:
  server:
    type: OS::Heat::DeployedServer
    properties: {software_config_transport: POLL_SERVER_CFN}
  nohook:
    type: OS::Heat::SoftwareDeployment
    properties:
      server: {get_resource: server}
      signal_transport: CFN_SIGNAL
      config: {get_resource: nohook_config}
  nohook_config:
    type: OS::Heat::SoftwareConfig
    properties: {group: no-such-tool, config: x}
outputs:
  stderr: {value: {get_attr: [nohook, deploy_stderr]}}
"#,
        json!({}),
    );
    other.local_data(&h.resource_metadata(&s, "server")["os-collect-config"]);
    other.start();
    let end = Instant::now() + LONG;
    while h.show(&s)["stack_status"] == "CREATE_IN_PROGRESS" {
        assert!(Instant::now() < end, "{}", other.log());
        std::thread::sleep(Duration::from_millis(500));
    }
    let st = h.show(&s);
    assert_eq!(st["stack_status"], "CREATE_FAILED", "{st}");
    let stderr = h.output(&st, "stderr");
    let stderr = stderr.as_str().unwrap_or("");
    assert!(stderr.contains("\"no-such-tool\" has no hook"), "{stderr}");
    assert!(
        stderr.contains(&other.path("hooks").display().to_string()),
        "{stderr}"
    );
}

/// The agent is killed while a script runs and started again: the script is not run a second
/// time, Heat gets exactly one answer for it (FAILED, naming the restart), and the next UPDATE
/// runs once.
#[test]
fn agent_killed_mid_deployment_runs_nothing_twice() {
    let h = heat();
    let mut agent = Agent::new();
    let started = agent.path("started");
    let template = format!(
        r#"heat_template_version: 2018-08-31
parameters:
  foo: {{type: string}}
resources:
  server:
    type: OS::Heat::DeployedServer
    properties: {{software_config_transport: POLL_SERVER_HEAT}}
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      inputs: [{{name: foo}}]
      config: |
        #!/bin/sh
        echo "$deploy_action $foo" >> {started}
        [ "$foo" = slow ] && sleep 8
        exit 0
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      server: {{get_resource: server}}
      config: {{get_resource: config}}
      signal_transport: HEAT_SIGNAL
      input_values: {{foo: {{get_param: foo}}}}
      actions: [CREATE, UPDATE]
outputs:
  stderr: {{value: {{get_attr: [deploy, deploy_stderr]}}}}
  status_code: {{value: {{get_attr: [deploy, deploy_status_code]}}}}
"#,
        started = started.display()
    );
    let s = h.create(&unique_name("h12-kill"), &template, json!({"foo": "slow"}));
    agent.local_data(&h.resource_metadata(&s, "server")["os-collect-config"]);
    agent.start();
    let end = Instant::now() + LONG;
    while agent.lines("started").is_empty() {
        assert!(
            Instant::now() < end,
            "the script never started\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    agent.kill();
    agent.start();
    let end = Instant::now() + LONG;
    let reason = loop {
        let r = h.resource(&s, "deploy");
        if r["resource_status"] != "CREATE_IN_PROGRESS" {
            break r["resource_status_reason"]
                .as_str()
                .unwrap_or("")
                .to_string();
        }
        assert!(Instant::now() < end, "{r}\n{}", agent.log());
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(reason.contains("status code: 1"), "{reason}");
    let st = h.show(&s);
    assert_eq!(h.output(&st, "status_code"), 1);
    let stderr = h.output(&st, "stderr");
    assert!(
        stderr.as_str().unwrap_or("").contains("restarted"),
        "{stderr}"
    );
    std::thread::sleep(Duration::from_secs(9));
    assert_eq!(agent.lines("started"), ["CREATE slow"], "run once");

    // Heat replaces a FAILED deployment on update: the new one's action is CREATE.
    h.replace(&s, &template, json!({"foo": "fast"}));
    h.wait(&s, "UPDATE_COMPLETE", LONG, &agent);
    assert_eq!(agent.lines("started"), ["CREATE slow", "CREATE fast"]);
}

/// heat-agents 13.0.0's own `json-file`, `hiera` and `docker-compose` hooks (and the
/// os-refresh-config script the last relies on), unchanged from its PyPI sdist, installed where
/// its elements install them, run by the agent through heat-config's protocol with Debian's
/// python3 and docker-compose, offline on a local image; Heat sees each deployment COMPLETE
/// and the files and container they make exist.
#[test]
fn heat_agents_hooks_json_file_hiera_and_docker_compose() {
    require_docker();
    let h = heat();
    let src = openstack::heat_agents().expect("heat-agents sdist");
    let mut agent = Agent::new();
    for (group, file) in [
        (
            "json-file",
            "heat-config-json-file/install.d/hook-json-file.py",
        ),
        ("hiera", "heat-config-hiera/install.d/hook-hiera.py"),
        (
            "docker-compose",
            "heat-config-docker-compose/install.d/hook-docker-compose.py",
        ),
    ] {
        let to = agent.path("hooks").join(group);
        std::fs::copy(src.join(file), &to).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // docker-compose's hook runs docker-compose.yml files that its os-refresh-config script
    // writes from the heat-config file: installed where its element installs it.
    let orc = agent.path("refresh/configure.d/50-heat-config-docker-compose");
    std::fs::copy(
        src.join("heat-config-docker-compose/os-refresh-config/configure.d/50-heat-config-docker-compose"),
        &orc,
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&orc, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // The hooks' own knobs, in the environment they inherit, as on a real server; Debian's
    // python3 (with PyYAML) and docker-compose first on PATH.
    let hiera = agent.path("hiera");
    let compose_dir = agent.path("compose");
    let project = unique_name("h12compose").replace('-', "");
    agent.env = vec![
        (
            "PATH".into(),
            "/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/bin".into(),
        ),
        (
            "HEAT_PUPPET_HIERA_DATADIR".into(),
            hiera.join("data").display().to_string(),
        ),
        (
            "HEAT_HIERA_CONFIG".into(),
            hiera.join("hiera.yaml").display().to_string(),
        ),
        (
            "HEAT_DOCKER_COMPOSE_WORKING".into(),
            compose_dir.display().to_string(),
        ),
    ];
    let json_target = agent.path("etc/app/settings.json");
    let template = format!(
        r#"heat_template_version: 2018-08-31
resources:
  server:
    type: OS::Heat::DeployedServer
    properties: {{software_config_transport: POLL_SERVER_HEAT}}
  json_config:
    type: OS::Heat::StructuredConfig
    properties:
      group: json-file
      config:
        {json_target}: {{port: 8080, debug: false}}
  json_deploy:
    type: OS::Heat::StructuredDeployment
    properties: {{server: {{get_resource: server}}, config: {{get_resource: json_config}}, signal_transport: HEAT_SIGNAL}}
  hiera_config:
    type: OS::Heat::StructuredConfig
    properties:
      group: hiera
      config:
        hierarchy: [common]
        datafiles:
          common: {{app::port: 8080}}
  hiera_deploy:
    type: OS::Heat::StructuredDeployment
    properties: {{server: {{get_resource: server}}, config: {{get_resource: hiera_config}}, signal_transport: HEAT_SIGNAL}}
  compose_config:
    type: OS::Heat::StructuredConfig
    properties:
      group: docker-compose
      config:
        sleeper:
          image: solum/stack-run:bookworm
          command: sleep 600
          net: none
          labels: {{solum.test: "{project}"}}
  compose_deploy:
    type: OS::Heat::StructuredDeployment
    properties: {{name: {project}, server: {{get_resource: server}}, config: {{get_resource: compose_config}}, signal_transport: HEAT_SIGNAL}}
outputs:
  codes:
    value:
      - {{get_attr: [json_deploy, deploy_status_code]}}
      - {{get_attr: [hiera_deploy, deploy_status_code]}}
      - {{get_attr: [compose_deploy, deploy_status_code]}}
"#,
        json_target = json_target.display()
    );
    let s = h.create(&unique_name("h12-hooks"), &template, json!({}));
    agent.local_data(&h.resource_metadata(&s, "server")["os-collect-config"]);
    agent.start();
    let cleanup = Cleanup(project.clone());
    let st = h.wait(&s, "CREATE_COMPLETE", LONG, &agent);
    assert_eq!(h.output(&st, "codes"), json!([0, 0, 0]));
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&json_target).unwrap()).unwrap();
    assert_eq!(written, json!({"port": 8080, "debug": false}));
    let data: Value =
        serde_json::from_str(&std::fs::read_to_string(hiera.join("data/common.json")).unwrap())
            .unwrap();
    assert_eq!(data, json!({"app::port": 8080}));
    assert!(std::fs::read_to_string(hiera.join("hiera.yaml"))
        .unwrap()
        .contains("  - common"));
    let ps = Command::new("docker")
        .args([
            "ps",
            "-q",
            "--filter",
            &format!("label=solum.test={project}"),
        ])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&ps.stdout).trim().is_empty(),
        "docker-compose started the service\n{}",
        agent.log()
    );
    drop(cleanup);
}

/// Removes the containers a docker-compose deployment made.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        solum_tests::docker_rm_labelled(&format!("solum.test={}", self.0));
    }
}

/// `group: solum` on a deployed server: the app is built and served, Heat gets its URL, and the
/// agent signals the stack's `OS::Heat::WaitConditionHandle` (named, as heat/app-vm.yaml names
/// it, in the server's metadata: here a config drive directory), which Heat sees COMPLETE.
#[test]
fn solum_group_and_wait_condition_handle() {
    require_docker();
    let h = heat();
    let mut agent = Agent::new();
    let port = free_port();
    let name = unique_name("h12app");
    let src = agent.path("app");
    solum_tests::write_greeting_app(&src);
    let planfile = format!(
        "version: 1\nname: {name}\nartifacts:\n- name: web\n  artifact_type: heroku\n  content:\n    href: {}\n  ports: {port}\n",
        src.display()
    );
    let template = r#"heat_template_version: 2018-08-31
parameters:
  planfile: {type: string}
resources:
  server:
    type: OS::Heat::DeployedServer
    properties: {software_config_transport: POLL_SERVER_HEAT}
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: solum
      inputs: [{name: GREETING}]
      outputs: [{name: url}]
      config: {get_param: planfile}
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      server: {get_resource: server}
      config: {get_resource: config}
      signal_transport: HEAT_SIGNAL
      input_values: {GREETING: from-heat}
  wait_handle:
    type: OS::Heat::WaitConditionHandle
  wait:
    type: OS::Heat::WaitCondition
    properties: {handle: {get_resource: wait_handle}, timeout: 600}
outputs:
  url: {value: {get_attr: [deploy, url]}}
  wait_data: {value: {get_attr: [wait, data]}}
"#;
    let s = h.create(
        &unique_name("h12-solum"),
        template,
        json!({"planfile": planfile}),
    );
    let occ = h.resource_metadata(&s, "server")["os-collect-config"].clone();
    let end = Instant::now() + LONG;
    let handle = loop {
        let r = h.resource(&s, "wait_handle");
        if r["attributes"]["endpoint"].is_string() && r["attributes"]["token"].is_string() {
            break r["attributes"].clone();
        }
        assert!(Instant::now() < end, "no wait handle attributes: {r}");
        std::thread::sleep(Duration::from_millis(300));
    };
    let latest = agent.path("no-drive/openstack/latest");
    std::fs::create_dir_all(&latest).unwrap();
    std::fs::write(
        latest.join("meta_data.json"),
        json!({"uuid": "deployed-1", "name": "deployed", "meta": {
            "solum_wait_url": handle["endpoint"], "solum_wait_token": handle["token"]}})
        .to_string(),
    )
    .unwrap();
    agent.local_data(&occ);
    agent.start();
    let st = h.wait(&s, "CREATE_COMPLETE", Duration::from_secs(400), &agent);
    let url = h.output(&st, "url");
    assert_eq!(url, format!("http://127.0.0.1:{port}/"));
    assert_eq!(
        wait_http(url.as_str().unwrap(), Duration::from_secs(10))
            .unwrap()
            .body,
        "from-heat"
    );
    assert_eq!(h.resource(&s, "wait")["resource_status"], "CREATE_COMPLETE");
    let _ = Command::new(env!("CARGO_BIN_EXE_solum-agent"))
        .args([
            "--state-dir",
            agent.path("state").to_str().unwrap(),
            "destroy",
            &name,
        ])
        .output();
}

/// heat/app-vm.yaml and heat/coreos-app-vm.yaml, read from disk, validated by the real Heat
/// (the harness's catalog has compute, network and image entries for the resource types).
#[test]
fn app_vm_templates_validate_in_real_heat() {
    let h = heat();
    for file in ["heat/app-vm.yaml", "heat/coreos-app-vm.yaml"] {
        let text = std::fs::read_to_string(repo_root().join(file)).unwrap();
        let template: Value = serde_norway::from_str(&text).unwrap();
        let (status, v) = h.call("POST", "/validate", Some(json!({"template": template})));
        assert_eq!(status, 200, "{file}: {v}");
        assert!(v["Parameters"].is_object(), "{file}: {v}");
        // Heat really checks: a broken reference is refused.
        let mut broken = template.clone();
        broken["outputs"]["h12_broken"] = json!({"value": {"get_attr": ["no_such_resource", "x"]}});
        let (status, v) = h.call("POST", "/validate", Some(json!({"template": broken})));
        assert_eq!(status, 400, "{file}: {v}");
    }
}

/// heat/app-scaled.yaml (with its member template in `files`, as `openstack orchestration
/// template validate -t heat/app-scaled.yaml` sends it) and heat/app-scaled-member.yaml on its
/// own, validated by the real Heat. The harness's catalog has load-balancer and database
/// entries (pointing at its stub, never called here), so this checks the OS::Octavia::* and
/// OS::Trove::Instance resources against Heat's own resource schemas, property names
/// included; it is not a running Octavia or Trove, and no stack of this template is created
/// (that needs Nova, Neutron and Octavia).
#[test]
fn app_scaled_templates_validate_in_real_heat() {
    let h = heat();
    let read = |file: &str| std::fs::read_to_string(repo_root().join("heat").join(file)).unwrap();
    let member_text = read("app-scaled-member.yaml");
    let files = json!({ "app-scaled-member.yaml": member_text });
    let scaled: Value = serde_norway::from_str(&read("app-scaled.yaml")).unwrap();
    let member: Value = serde_norway::from_str(&member_text).unwrap();
    let validate = |template: &Value| {
        h.call(
            "POST",
            "/validate",
            Some(json!({"template": template, "files": files})),
        )
    };
    for (file, template) in [
        ("app-scaled.yaml", &scaled),
        ("app-scaled-member.yaml", &member),
    ] {
        let (status, v) = validate(template);
        assert_eq!(status, 200, "{file}: {v}");
        assert!(v["Parameters"].is_object(), "{file}: {v}");
        assert_eq!(
            v["Parameters"]["database_url"]["NoEcho"], "true",
            "{file}: {v}"
        );
    }
    // Heat really checks the Octavia and Trove resources' properties.
    for (resource, property) in [
        ("monitor", "url_path"),
        ("pool", "lb_algorithm"),
        ("listener", "protocol_port"),
        ("trove", "datastore_type"),
    ] {
        let mut broken = scaled.clone();
        let props = broken["resources"][resource]["properties"]
            .as_object_mut()
            .unwrap();
        let value = props.remove(property).unwrap();
        props.insert(format!("{property}_typo"), value);
        let (status, v) = validate(&broken);
        assert_eq!(status, 400, "{resource}.{property}_typo: {v}");
        assert!(
            v.to_string()
                .contains(&format!("Unknown Property {property}_typo")),
            "{v}"
        );
    }
    let mut broken = member.clone();
    broken["resources"]["member"]["properties"]["adress"] = json!("10.0.0.1");
    let (status, v) = validate(&broken);
    assert_eq!(status, 400, "{v}");
}

/// The guard of heat/app-scaled.yaml (`database: local` with a count other than 1), with the
/// file's own parameters and conditions, in a real Heat stack preview (the full validation a
/// stack create makes): refused with its message for count 3, nothing to refuse for count 1
/// or a bound database.
#[test]
fn app_scaled_local_database_refuses_more_than_one_vm_in_real_heat() {
    let h = heat();
    let text = std::fs::read_to_string(repo_root().join("heat/app-scaled.yaml")).unwrap();
    let t: Value = serde_norway::from_str(&text).unwrap();
    let guard = "local_database_needs_count_1";
    let only_guard = json!({
        "heat_template_version": t["heat_template_version"],
        "parameters": t["parameters"],
        "conditions": t["conditions"],
        "resources": {guard: t["resources"][guard]},
    });
    let sum = "0".repeat(64);
    let preview = |database: &str, count: u32| {
        h.call(
            "POST",
            "/stacks/preview",
            Some(json!({
                "stack_name": unique_name("h13-guard"),
                "template": only_guard,
                "parameters": {
                    "database": database, "count": count, "key_name": "k", "network": "n",
                    "subnet": "s", "source_url": "https://files.example.org/app.tgz",
                    "source_sha256": sum, "buildpack_url": "https://files.example.org/bp.tgz",
                    "buildpack_sha256": sum,
                },
            })),
        )
    };
    let (status, v) = preview("local", 3);
    assert_eq!(status, 400, "{v}");
    assert!(
        v.to_string()
            .contains("so count must be 1; use database: bound"),
        "{v}"
    );
    for (database, count) in [("local", 1), ("bound", 3)] {
        let (status, v) = preview(database, count);
        assert_eq!(status, 200, "{database} {count}: {v}");
        assert!(!v.to_string().contains(guard), "{database} {count}: {v}");
    }
}
