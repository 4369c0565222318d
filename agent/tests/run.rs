//! End-to-end: `solum-agent run` as a real process against the fixture that plays Nova,
//! Keystone, Heat (cfn with signature checks, metadata and signal APIs) and Swift TempURLs.
//! Config drives are a directory or a real ISO image made with genisoimage.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use solum_tests::fixture::Fixture;
use solum_tests::{free_port, require_docker, require_program, unique_name, wait_http};

/// A temp world for one agent: state dir, config file, config drive dir, logs.
struct Vm {
    dir: tempfile::TempDir,
    child: Option<Child>,
    apps: Vec<String>,
}

impl Vm {
    fn new() -> Vm {
        Vm {
            dir: tempfile::tempdir().unwrap(),
            child: None,
            apps: Vec::new(),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// Writes the config drive (meta_data.json + user_data) as a directory.
    fn config_drive(&self, meta: &Value, user_data: &[u8]) -> PathBuf {
        let latest = self.path("drive/openstack/latest");
        std::fs::create_dir_all(&latest).unwrap();
        std::fs::write(latest.join("meta_data.json"), meta.to_string()).unwrap();
        std::fs::write(latest.join("user_data"), user_data).unwrap();
        self.path("drive")
    }

    fn config(&self, fx: &Fixture, drive: &Path) -> PathBuf {
        let cfg = self.path("config.yaml");
        std::fs::write(
            &cfg,
            format!(
                "state_dir: {}\nbind_address: 127.0.0.1\nconfig_drive: {}\nmetadata_url: {}\ncfn_init_path: {}\nlocal_data_dir: {}\nhooks_dir: {}\nrefresh_config_dir: {}\nheat_config_file: {}\nstatus_socket: {}\npoll_max_interval: 2\nbeat_interval: 1\nhealth:\n  start_timeout: 30\n",
                self.path("state").display(),
                drive.display(),
                fx.url(""),
                self.path("cfn-init-data").display(),
                self.path("local-data").display(),
                self.path("hooks").display(),
                self.path("refresh").display(),
                self.path("heat-config").display(),
                self.path("status.sock").display(),
            ),
        )
        .unwrap();
        cfg
    }

    fn start(&mut self, cfg: &Path) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("agent.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_solum-agent"))
            .args(["--config", cfg.to_str().unwrap(), "-vv", "run"])
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting solum-agent run");
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path("agent.log")).unwrap_or_default()
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.kill();
        let state = self.path("state");
        for app in &self.apps {
            let _ = Command::new(env!("CARGO_BIN_EXE_solum-agent"))
                .args(["--state-dir", state.to_str().unwrap(), "destroy", app])
                .output();
        }
        solum_tests::docker_rm_agent(&state);
    }
}

/// Heat's SOFTWARE_CONFIG user_data: MIME multipart with the cfn-init-data part.
fn user_data(initial: &Value) -> Vec<u8> {
    format!(
        "Content-Type: multipart/mixed; boundary=\"===============0001==\"\nMIME-Version: 1.0\n\n--===============0001==\nContent-Type: text/cloud-config; charset=\"us-ascii\"\nMIME-Version: 1.0\nContent-Disposition: attachment; filename=\"cloud-config\"\n\nruncmd: []\n\n--===============0001==\nContent-Type: text/x-cfninitdata; charset=\"us-ascii\"\nMIME-Version: 1.0\nContent-Transfer-Encoding: 7bit\nContent-Disposition: attachment; filename=\"cfn-init-data\"\n\n{}\n--===============0001==--\n",
        initial
    )
    .into_bytes()
}

fn input(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}

fn cfn_world(fx: &Fixture) -> Value {
    fx.with(|w| {
        w.cfn_access_key = "AKIAFIXTURE".into();
        w.cfn_secret_key = "s3cr3t-cfn-key".into();
        w.stack_name = "app-stack".into();
        w.resource = "server".into();
    });
    json!({"os-collect-config": {"collectors": ["ec2", "cfn", "local"], "cfn": {
        "metadata_url": fx.url("/v1/"), "access_key_id": "AKIAFIXTURE", "secret_access_key": "s3cr3t-cfn-key",
        "stack_name": "app-stack", "path": "server.Metadata"}}})
}

fn signals(fx: &Fixture, prefix: &str) -> Vec<Value> {
    fx.requests_to(prefix)
        .into_iter()
        .filter(|r| r.status == 200)
        .map(|r| r.json())
        .collect()
}

#[test]
fn cfn_transport_script_deployments_apply_once_and_bad_ones_fail_alone() {
    require_docker();
    let fx = Fixture::start();
    let initial = cfn_world(&fx);
    let script = |id: &str, name: &str, body: &str| {
        json!({"id": id, "name": name, "group": "script", "config": body,
            "outputs": [{"name": "result"}],
            "inputs": [input("greeting", "hi there"), input("deploy_action", "CREATE"),
                input("deploy_signal_transport", "CFN_SIGNAL"), input("deploy_signal_id", &fx.cfn_signal_url(name)),
                input("deploy_signal_verb", "POST")]})
    };
    let mut metadata = initial.clone();
    metadata["deployments"] = json!([
        script("d-1", "a_script", "#!/bin/sh\necho \"$greeting from script\"\nprintf 42 > \"$heat_outputs_path.result\"\n"),
        {"id": "d-2", "name": "b_unknown", "group": "puppet", "config": "x",
         "inputs": [input("deploy_signal_transport", "CFN_SIGNAL"), input("deploy_signal_id", &fx.cfn_signal_url("b_unknown"))]},
        {"id": "d-3", "name": "c_badplan", "group": "solum", "config": "version: 7\nname: x\n",
         "inputs": [input("deploy_signal_transport", "CFN_SIGNAL"), input("deploy_signal_id", &fx.cfn_signal_url("c_badplan"))]},
        {"name": "no id at all"},
    ]);
    fx.with(|w| {
        w.metadata = metadata;
        w.meta_data = Some(json!({"uuid": "11111111-2222", "name": "vm1", "meta": {}}));
    });

    let mut vm = Vm::new();
    let drive = vm.config_drive(
        &json!({"uuid": "11111111-2222", "name": "vm1", "meta": {}}),
        &user_data(&initial),
    );
    let cfg = vm.config(&fx, &drive);
    vm.start(&cfg);
    fx.wait_for(
        "three deployment signals",
        Duration::from_secs(60),
        |reqs| {
            reqs.iter()
                .filter(|r| r.path.starts_with("/v1/signal/") && r.status == 200)
                .count()
                >= 3
        },
    );

    let by_name = |name: &str| -> Value {
        let r = fx.requests_to(&format!("/v1/signal/{name}"));
        assert_eq!(r.len(), 1, "{name}: one signal expected, got {}", r.len());
        r[0].json()
    };
    let ok = by_name("a_script");
    assert_eq!(ok["deploy_status_code"], 0, "{ok}");
    assert_eq!(ok["deploy_stdout"], "hi there from script\n");
    assert_eq!(ok["result"], "42");
    let unknown = by_name("b_unknown");
    assert_eq!(unknown["deploy_status_code"], 1);
    assert!(
        unknown["deploy_stderr"]
            .as_str()
            .unwrap()
            .contains("\"puppet\""),
        "{unknown}"
    );
    let bad = by_name("c_badplan");
    assert_eq!(bad["deploy_status_code"], 1);
    assert!(
        bad["deploy_stderr"].as_str().unwrap().contains("version"),
        "{bad}"
    );

    // Heat's initial document was written where heat-cfntools writes it.
    let written: Value =
        serde_json::from_slice(&std::fs::read(vm.path("cfn-init-data")).unwrap()).unwrap();
    assert_eq!(written, initial);

    // Killed and restarted: nothing is applied or signalled twice.
    vm.kill();
    vm.start(&cfg);
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        fx.requests_to("/v1/signal/").len(),
        3,
        "a restart re-signalled"
    );
    // It keeps polling cfn with valid signatures.
    let polls = fx.requests_to("/v1/");
    assert!(
        polls
            .iter()
            .filter(|r| r.path == "/v1/")
            .all(|r| r.status == 200),
        "a cfn poll was refused"
    );

    // A new deployment appears later: applied once.
    let url = fx.cfn_signal_url("d_later");
    fx.with(|w| {
        w.metadata["deployments"].as_array_mut().unwrap().push(json!({"id": "d-4", "name": "d_later", "group": "script",
            "config": "#!/bin/sh\necho later\n",
            "inputs": [input("deploy_signal_transport", "CFN_SIGNAL"), input("deploy_signal_id", &url)]}));
        w.metadata_version += 1;
    });
    fx.wait_for(
        "the later deployment's signal",
        Duration::from_secs(40),
        |reqs| {
            reqs.iter()
                .any(|r| r.path == "/v1/signal/d_later" && r.status == 200)
        },
    );
    assert_eq!(
        signals(&fx, "/v1/signal/d_later")[0]["deploy_stdout"],
        "later\n"
    );

    // Secrets never reach the log.
    let log = vm.log();
    for secret in ["s3cr3t-cfn-key", "Signature="] {
        assert!(!log.contains(secret), "the log contains {secret:?}:\n{log}");
    }
    assert!(
        log.contains("no id at all") || log.contains("missing `id`"),
        "the rejected item is reported:\n{log}"
    );
}

/// Each deployment's signal leaves as soon as that deployment is done, not when every
/// deployment of the document has been applied: the second script here waits for a file the
/// test writes only once Heat has the first one's signal (it gives up, failing, after 60 s).
#[test]
fn a_signal_is_sent_while_the_next_deployment_still_runs() {
    require_docker();
    let fx = Fixture::start();
    let initial = cfn_world(&fx);
    let vm_dir = tempfile::tempdir().unwrap();
    let flag = vm_dir.path().join("first-signal-seen");
    let script = |id: &str, name: &str, body: String| {
        json!({"id": id, "name": name, "group": "script", "config": body,
            "inputs": [input("deploy_signal_transport", "CFN_SIGNAL"),
                input("deploy_signal_id", &fx.cfn_signal_url(name)), input("deploy_signal_verb", "POST")]})
    };
    let mut metadata = initial.clone();
    metadata["deployments"] = json!([
        script("s-1", "first", "#!/bin/sh\necho first\n".into()),
        script("s-2", "second", format!(
            "#!/bin/sh\nfor i in $(seq 600); do [ -e {f} ] && {{ echo second; exit 0; }}; sleep 0.1; done\nexit 1\n",
            f = flag.display()
        )),
    ]);
    fx.with(|w| w.metadata = metadata);
    let mut vm = Vm::new();
    let meta = json!({"uuid": "33333333-4444", "name": "vm3", "meta": {}});
    let drive = vm.config_drive(&meta, &user_data(&initial));
    let cfg = vm.config(&fx, &drive);
    vm.start(&cfg);
    fx.wait_for(
        "the first deployment's signal while the second runs",
        Duration::from_secs(40),
        |reqs| {
            reqs.iter()
                .any(|r| r.path == "/v1/signal/first" && r.status == 200)
        },
    );
    assert!(
        fx.requests_to("/v1/signal/second").is_empty(),
        "the second finished before its flag existed"
    );
    std::fs::write(&flag, "").unwrap();
    fx.wait_for(
        "the second deployment's signal",
        Duration::from_secs(40),
        |reqs| {
            reqs.iter()
                .any(|r| r.path == "/v1/signal/second" && r.status == 200)
        },
    );
    assert_eq!(
        signals(&fx, "/v1/signal/second")[0]["deploy_status_code"],
        0
    );
    assert_eq!(
        signals(&fx, "/v1/signal/first")[0]["deploy_stdout"],
        "first\n"
    );
}

#[test]
fn solum_deployment_over_temp_url_deploys_the_app_and_signals_wait_condition() {
    require_docker();
    let fx = Fixture::start();
    let port = free_port();
    let name = unique_name("heatapp");
    let mut vm = Vm::new();
    let src = vm.path("app");
    solum_tests::write_greeting_app(&src);
    let planfile = format!(
        "version: 1\nname: {name}\nartifacts:\n- name: web\n  artifact_type: heroku\n  content:\n    href: {}\n  ports: {port}\nparameters:\n  GREETING: from-planfile\n",
        src.display()
    );
    let initial = json!({"os-collect-config": {"collectors": ["request"], "request": {"metadata_url": fx.temp_url("metadata", "GET")}}});
    let metadata = json!({"deployments": [{"id": "sol-1", "name": "app", "group": "solum", "config": planfile,
        "outputs": [{"name": "url"}],
        "inputs": [input("GREETING", "from-heat"), input("deploy_action", "CREATE"),
            input("deploy_signal_transport", "TEMP_URL_SIGNAL"), input("deploy_signal_id", &fx.temp_url("signal-app", "PUT")),
            input("deploy_signal_verb", "PUT")]}]});
    fx.with(|w| w.metadata = metadata);
    let meta = json!({"uuid": "uuid-2", "name": "vm2", "meta": {
        "solum_wait_url": fx.url("/heat/v1/p/stacks/app-stack/sid/resources/wait_handle/signal"),
        "solum_wait_token": "tok-wait",
        "solum_registrar_url": fx.url("/registrar"), "solum_registrar_token": "reg-token"}});
    fx.with(|w| w.tokens.push("tok-wait".into()));
    let drive = vm.config_drive(&meta, &user_data(&initial));
    let cfg = vm.config(&fx, &drive);
    vm.apps.push(name.clone());
    vm.start(&cfg);

    fx.wait_for("the deployment signal", Duration::from_secs(240), |reqs| {
        reqs.iter()
            .any(|r| r.path.ends_with("/signal-app") && r.status == 200)
    });
    let sig = signals(&fx, "/swift/v1/AUTH_p/c/signal-app");
    assert_eq!(sig.len(), 1);
    assert_eq!(sig[0]["deploy_status_code"], 0, "{}", sig[0]);
    let url = sig[0]["url"].as_str().expect("url output").to_string();
    assert_eq!(url, format!("http://127.0.0.1:{port}/"));
    assert_eq!(
        wait_http(&url, Duration::from_secs(10)).unwrap().body,
        "from-heat",
        "Heat inputs override parameters"
    );

    fx.wait_for("the wait condition", Duration::from_secs(30), |reqs| {
        reqs.iter()
            .any(|r| r.path.ends_with("/wait_handle/signal") && r.status == 200)
    });
    let wait = fx.requests_to("/heat/v1/p/stacks/app-stack/sid/resources/wait_handle/signal");
    assert_eq!(
        wait[0].headers.get("x-auth-token").map(String::as_str),
        Some("tok-wait")
    );
    assert_eq!(wait[0].json()["status"], "SUCCESS");

    // Registration, then beats with increasing sequence numbers.
    fx.wait_for("two health beats", Duration::from_secs(20), |reqs| {
        reqs.iter().filter(|r| r.path.ends_with("/beats")).count() >= 2
    });
    let reg = fx.requests_to("/registrar/v1/agents");
    let reg: Vec<_> = reg
        .iter()
        .filter(|r| r.path == "/registrar/v1/agents")
        .collect();
    assert_eq!(reg.len(), 1);
    assert_eq!(reg[0].json()["instance_uuid"], "uuid-2");
    assert_eq!(
        reg[0].headers.get("x-auth-token").map(String::as_str),
        Some("reg-token")
    );
    let seqs: Vec<u64> = fx
        .requests_to("/registrar/v1/agents/uuid-2/beats")
        .iter()
        .map(|r| r.json()["seq"].as_u64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[1] > w[0]), "{seqs:?}");

    // The local status API answers what `status --json` answers.
    let answer = {
        use std::io::{Read, Write};
        let mut sock =
            std::os::unix::net::UnixStream::connect(vm.path("status.sock")).expect("status socket");
        sock.write_all(b"GET /status HTTP/1.0\r\n\r\n").unwrap();
        let mut text = String::new();
        sock.read_to_string(&mut text).unwrap();
        text
    };
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    let v: Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["apps"][0]["app"], name.as_str(), "{v}");
    assert_eq!(v["apps"][0]["state"], "DEPLOYMENT_COMPLETE");

    // SUSPEND stops the app, RESUME starts it again, DELETE removes it: each a new id, as
    // Heat makes them, each signalled.
    let action = |id: &str, action: &str, nth: usize| {
        fx.with(|w| {
            let d = &mut w.metadata["deployments"][0];
            d["id"] = json!(id);
            d["inputs"][1]["value"] = json!(action);
            w.metadata_version += 1;
        });
        fx.wait_for(
            &format!("the {action} signal"),
            Duration::from_secs(60),
            |reqs| {
                reqs.iter()
                    .filter(|r| r.path.ends_with("/signal-app") && r.status == 200)
                    .count()
                    >= nth
            },
        );
        let sigs = signals(&fx, "/swift/v1/AUTH_p/c/signal-app");
        assert_eq!(
            sigs[nth - 1]["deploy_status_code"],
            0,
            "{action}: {}",
            sigs[nth - 1]
        );
    };
    let state_of = || -> Value {
        let out = Command::new(env!("CARGO_BIN_EXE_solum-agent"))
            .args([
                "--state-dir",
                vm.path("state").to_str().unwrap(),
                "status",
                "--json",
            ])
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["apps"][0]["state"].clone()
    };
    action("sol-s", "SUSPEND", 2);
    assert_eq!(state_of(), "STOPPED");
    assert!(
        solum_tests::http_get(&url, Duration::from_secs(2))
            .map(|r| r.status >= 500)
            .unwrap_or(true),
        "a suspended app answers"
    );
    action("sol-r", "RESUME", 3);
    assert_eq!(
        wait_http(&url, Duration::from_secs(30)).unwrap().body,
        "from-heat"
    );
    action("sol-2", "DELETE", 4);
    let statuses = Command::new(env!("CARGO_BIN_EXE_solum-agent"))
        .args([
            "--state-dir",
            vm.path("state").to_str().unwrap(),
            "status",
            "--json",
        ])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&statuses.stdout).unwrap();
    assert!(v["apps"].as_array().unwrap().is_empty(), "{v}");
}

#[test]
fn heat_transport_with_keystone_signals_survive_500s_and_restarts_on_an_iso_config_drive() {
    require_docker();
    require_program("genisoimage");
    let fx = Fixture::start();
    fx.with(|w| {
        w.users
            .insert("stack-user".into(), ("p4ssw0rd-heat".into(), "proj".into()));
        w.resource = "server".into();
        w.fail_signals = 12; // more than one round of 10 tries
    });
    let initial = json!({"os-collect-config": {"collectors": ["heat"], "heat": {
        "auth_url": fx.url("/v3"), "user_id": "stack-user", "password": "p4ssw0rd-heat", "project_id": "proj",
        "stack_id": "app-stack/sid", "resource_name": "server", "region_name": "RegionOne"}}});
    let deployment = json!({"id": "h-1", "name": "hs", "group": "script", "config": "#!/bin/sh\necho via heat\n",
        "inputs": [input("deploy_signal_transport", "HEAT_SIGNAL"), input("deploy_auth_url", &fx.url("/v3")),
            input("deploy_user_id", "stack-user"), input("deploy_password", "p4ssw0rd-heat"),
            input("deploy_project_id", "proj"), input("deploy_stack_id", "app-stack/sid"),
            input("deploy_resource_name", "hs")]});
    fx.with(|w| w.metadata = json!({"deployments": [deployment]}));

    let mut vm = Vm::new();
    let dir = vm.config_drive(
        &json!({"uuid": "uuid-3", "name": "vm3"}),
        &user_data(&initial),
    );
    let iso = vm.path("config-drive.iso");
    solum_tests::run_ok(Command::new("genisoimage").args([
        "-quiet",
        "-R",
        "-J",
        "-V",
        "config-2",
        "-o",
        iso.to_str().unwrap(),
        dir.to_str().unwrap(),
    ]));
    std::fs::remove_dir_all(&dir).unwrap();
    let cfg = vm.config(&fx, &iso);
    vm.start(&cfg);

    // The first round of 10 tries meets 500s only; kill the agent in the middle of it.
    fx.wait_for(
        "some failed signal tries",
        Duration::from_secs(60),
        |reqs| {
            reqs.iter()
                .filter(|r| r.path.ends_with("/resources/hs/signal") && r.status == 500)
                .count()
                >= 3
        },
    );
    vm.kill();
    assert!(signals(
        &fx,
        "/heat/v1/proj/stacks/app-stack/sid/resources/hs/signal"
    )
    .is_empty());
    vm.start(&cfg);
    fx.wait_for(
        "the signal delivered after the restart",
        Duration::from_secs(120),
        |reqs| {
            reqs.iter()
                .any(|r| r.path.ends_with("/resources/hs/signal") && r.status == 200)
        },
    );
    std::thread::sleep(Duration::from_secs(3));
    let ok = signals(
        &fx,
        "/heat/v1/proj/stacks/app-stack/sid/resources/hs/signal",
    );
    assert_eq!(ok.len(), 1, "delivered exactly once");
    assert_eq!(ok[0]["deploy_stdout"], "via heat\n");
    // The ISO was mounted read-only and unmounted again.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains("solum-config-drive-"),
        "a config drive mount was left behind"
    );
    let log = vm.log();
    assert!(
        !log.contains("p4ssw0rd-heat"),
        "the password reached the log"
    );
}

#[test]
fn collect_merges_the_sources() {
    let fx = Fixture::start();
    let initial = cfn_world(&fx);
    fx.with(|w| w.metadata = json!({"deployments": [{"id": "x", "name": "n", "group": "script", "config": "#!/bin/sh\n"}]}));
    let vm = Vm::new();
    let drive = vm.config_drive(&json!({"uuid": "u", "name": "n"}), &user_data(&initial));
    std::fs::create_dir_all(vm.path("local-data")).unwrap();
    std::fs::write(vm.path("local-data/extra.json"), r#"{"extra": true}"#).unwrap();
    let cfg = vm.config(&fx, &drive);
    let out = solum_tests::run_ok(Command::new(env!("CARGO_BIN_EXE_solum-agent")).args([
        "--config",
        cfg.to_str().unwrap(),
        "collect",
    ]));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["deployments"][0]["id"], "x", "{v}");
    assert_eq!(v["extra"], true);
    assert_eq!(
        v["os-collect-config"]["collectors"],
        json!(["ec2", "cfn", "local"])
    );
}

/// No config drive and the metadata service down at start: the agent retries, finds it when it
/// comes back, applies the deployment, and rides out a restart of the services mid-poll.
/// It also tells systemd it is ready.
#[test]
fn metadata_service_down_at_start_and_services_restarted_mid_poll() {
    require_docker();
    let mut fx = Fixture::start();
    let initial = cfn_world(&fx);
    fx.with(|w| {
        w.nova_down = true;
        w.meta_data = Some(json!({"uuid": "uuid-4", "name": "vm4", "meta": {}}));
        w.user_data = Some(user_data(&initial));
        w.metadata = json!({"deployments": []});
    });
    let mut vm = Vm::new();
    // An empty directory as the config drive: nothing there, so the metadata service is used.
    std::fs::create_dir_all(vm.path("no-drive")).unwrap();
    let cfg = vm.config(&fx, &vm.path("no-drive"));
    let notify = std::os::unix::net::UnixDatagram::bind(vm.path("notify.sock")).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let log = std::fs::File::create(vm.path("agent.log")).unwrap();
    vm.child = Some(
        Command::new(env!("CARGO_BIN_EXE_solum-agent"))
            .args(["--config", cfg.to_str().unwrap(), "-vv", "run"])
            .env("NOTIFY_SOCKET", vm.path("notify.sock"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    fx.wait_for(
        "a few failed metadata tries",
        Duration::from_secs(30),
        |reqs| {
            reqs.iter()
                .filter(|r| r.path == "/openstack/latest/meta_data.json" && r.status == 500)
                .count()
                >= 2
        },
    );
    fx.with(|w| w.nova_down = false);
    let mut buf = [0u8; 256];
    let n = notify.recv(&mut buf).expect("READY=1 from the agent");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("READY=1"));
    fx.wait_for("cfn polls", Duration::from_secs(30), |reqs| {
        reqs.iter().any(|r| r.path == "/v1/" && r.status == 200)
    });

    // The services go away for 3 s and come back; meanwhile a deployment appears.
    fx.restart(Duration::from_secs(3));
    let url = fx.cfn_signal_url("after_restart");
    fx.with(|w| {
        w.metadata = json!({"deployments": [{"id": "r-1", "name": "after_restart", "group": "script",
            "config": "#!/bin/sh\necho survived\n",
            "inputs": [input("deploy_signal_transport", "CFN_SIGNAL"), input("deploy_signal_id", &url)]}]});
        w.metadata_version += 1;
    });
    fx.wait_for(
        "the deployment after the restart",
        Duration::from_secs(60),
        |reqs| {
            reqs.iter()
                .any(|r| r.path == "/v1/signal/after_restart" && r.status == 200)
        },
    );
    assert_eq!(
        signals(&fx, "/v1/signal/after_restart")[0]["deploy_stdout"],
        "survived\n"
    );
    assert!(vm.log().contains("cfn"), "the failed polls are logged");
}

/// Issue 12 item 2: a server without Nova (no config drive, a metadata service that never
/// answers) whose transport comes from local-data: the deployment is applied and signalled
/// while the metadata service is still being tried in the background.
#[test]
fn no_nova_local_data_polls_at_once() {
    let fx = Fixture::start();
    let occ = cfn_world(&fx);
    let url = fx.cfn_signal_url("early");
    fx.with(|w| {
        w.metadata = json!({"deployments": [{"id": "e-1", "name": "early", "group": "script",
            "config": "#!/bin/sh\necho early\n",
            "inputs": [input("deploy_signal_transport", "CFN_SIGNAL"), input("deploy_signal_id", &url)]}]});
    });
    let mut vm = Vm::new();
    std::fs::create_dir_all(vm.path("no-drive")).unwrap();
    std::fs::create_dir_all(vm.path("local-data")).unwrap();
    let f = vm.path("local-data/occ.json");
    std::fs::write(&f, occ.to_string()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    // A metadata service that never answers: a port nothing listens on.
    let cfg = vm.config(&fx, &vm.path("no-drive"));
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        &format!("metadata_url: {}", fx.url("")),
        &format!("metadata_url: http://127.0.0.1:{}", free_port()),
    );
    std::fs::write(&cfg, text).unwrap();
    vm.start(&cfg);
    fx.wait_for("the early signal", Duration::from_secs(60), |reqs| {
        reqs.iter()
            .any(|r| r.path == "/v1/signal/early" && r.status == 200)
    });
    assert_eq!(
        signals(&fx, "/v1/signal/early")[0]["deploy_stdout"],
        "early\n"
    );
    let log = vm.log();
    assert!(
        !log.contains("no Nova metadata"),
        "the signal went out before the metadata service's tries ended:\n{log}"
    );
}

/// Issue 11 item 5, end to end: the document names `request` and `local`, and carries an
/// incomplete `heat` block (a leftover); the request transport runs and its deployment is
/// applied and signalled, the heat block is reported once.
#[test]
fn incomplete_block_for_unselected_collector_runs_the_others() {
    let fx = Fixture::start();
    let url = fx.cfn_signal_url("valid");
    fx.with(|w| {
        w.metadata = json!({"deployments": [{"id": "v-1", "name": "valid", "group": "script",
            "config": "#!/bin/sh\necho valid\n",
            "inputs": [input("deploy_signal_transport", "CFN_SIGNAL"), input("deploy_signal_id", &url)]}]});
    });
    let initial = json!({"os-collect-config": {"collectors": ["request", "local"],
        "request": {"metadata_url": fx.temp_url("metadata", "GET")},
        "heat": {"password": "leftover-secret"}}});
    let mut vm = Vm::new();
    let drive = vm.config_drive(
        &json!({"uuid": "u5", "name": "vm5", "meta": {}}),
        &user_data(&initial),
    );
    let cfg = vm.config(&fx, &drive);
    vm.start(&cfg);
    fx.wait_for(
        "the valid deployment's signal",
        Duration::from_secs(60),
        |reqs| {
            reqs.iter()
                .any(|r| r.path == "/v1/signal/valid" && r.status == 200)
        },
    );
    let log = vm.log();
    assert_eq!(
        log.matches("/os-collect-config/heat: not polled: heat is not named in collectors")
            .count(),
        1,
        "{log}"
    );
    assert!(!log.contains("leftover-secret"), "{log}");
}

/// Issue 10: an agent that cannot start its work tells Heat at once. The Docker engine does not
/// answer (DOCKER_HOST names a socket nothing listens on) for `docker_wait`: the wait
/// condition gets one FAILURE naming the endpoint, and the agent keeps running.
#[test]
fn docker_not_answering_fails_the_wait_condition_with_the_reason() {
    let fx = Fixture::start();
    fx.with(|w| w.tokens.push("wait-token".into()));
    let mut vm = Vm::new();
    let wait_url = fx.url("/heat/v1/p/stacks/st/1/resources/wait_handle/signal");
    let drive = vm.config_drive(
        &json!({"uuid": "u-docker", "name": "vm", "meta": {
            "solum_wait_url": wait_url, "solum_wait_token": "wait-token"}}),
        b"",
    );
    let cfg = vm.config(&fx, &drive);
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("docker_wait: 2\n");
    std::fs::write(&cfg, text).unwrap();
    let dead = vm.path("no-docker.sock");
    let log = std::fs::File::create(vm.path("agent.log")).unwrap();
    vm.child = Some(
        Command::new(env!("CARGO_BIN_EXE_solum-agent"))
            .args(["--config", cfg.to_str().unwrap(), "run"])
            .env("DOCKER_HOST", format!("unix://{}", dead.display()))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    fx.wait_for(
        "the wait condition's FAILURE",
        Duration::from_secs(60),
        |reqs| reqs.iter().any(|r| r.path.ends_with("/wait_handle/signal")),
    );
    std::thread::sleep(Duration::from_secs(8));
    let waits = fx.requests_to("/heat/v1/p/stacks/st/1/resources/wait_handle/signal");
    assert_eq!(waits.len(), 1, "one FAILURE, not one per retry");
    let body = waits[0].json();
    assert_eq!(body["status"], "FAILURE", "{body}");
    let reason = body["reason"].as_str().unwrap();
    assert!(
        reason.contains("Docker engine") && reason.contains("no-docker.sock"),
        "{reason}"
    );
    assert!(
        vm.child.as_mut().unwrap().try_wait().unwrap().is_none(),
        "the agent gave up instead of waiting for Docker:\n{}",
        vm.log()
    );
}

/// Issue 10: a metadata document the agent cannot use (deployments not a list) fails the wait
/// condition at once, with the reason, instead of leaving Heat to its timeout.
#[test]
fn an_unusable_metadata_document_fails_the_wait_condition() {
    require_docker();
    let fx = Fixture::start();
    fx.with(|w| {
        w.tokens.push("wait-token".into());
        w.metadata = json!({"deployments": "not a list"});
    });
    let initial = json!({"os-collect-config": {"collectors": ["request", "local"],
        "request": {"metadata_url": fx.temp_url("metadata", "GET")}}});
    let mut vm = Vm::new();
    let wait_url = fx.url("/heat/v1/p/stacks/st/1/resources/wait_handle/signal");
    let drive = vm.config_drive(
        &json!({"uuid": "u-bad", "name": "vm", "meta": {
            "solum_wait_url": wait_url, "solum_wait_token": "wait-token"}}),
        &user_data(&initial),
    );
    let cfg = vm.config(&fx, &drive);
    vm.start(&cfg);
    fx.wait_for(
        "the wait condition's FAILURE",
        Duration::from_secs(60),
        |reqs| reqs.iter().any(|r| r.path.ends_with("/wait_handle/signal")),
    );
    let body = fx.requests_to("/heat/v1/p/stacks/st/1/resources/wait_handle/signal")[0].json();
    assert_eq!(body["status"], "FAILURE", "{body}");
    assert!(
        body["reason"].as_str().unwrap().contains("deployments"),
        "{body}"
    );
}

/// Issue 11, reproduction 4: deployment ids of 252 alphanumerics and of `"a."` × 65 stopped the
/// daemon (`File name too long (os error 36)`) and no deployment beside them ran. Now each id
/// maps to a bounded file name and all of them run and are signalled; a deployment whose
/// record cannot be kept (its record path taken by a directory) fails alone with the reason.
#[test]
fn deployment_id_of_130_to_255_characters_runs_beside_the_others() {
    let fx = Fixture::start();
    let initial = cfn_world(&fx);
    let script = |id: &str, name: &str| {
        json!({"id": id, "name": name, "group": "script",
            "config": format!("#!/bin/sh\necho {name}\n"),
            "inputs": [input("deploy_signal_transport", "CFN_SIGNAL"),
                input("deploy_signal_id", &fx.cfn_signal_url(name))]})
    };
    let mut metadata = initial.clone();
    metadata["deployments"] = json!([
        script("d-1", "a_valid"),
        script(&"a".repeat(252), "b_long"),
        script(&"a.".repeat(65), "c_dotted"),
        script("d-blocked", "d_blocked"),
        script("d-5", "e_valid"),
    ]);
    fx.with(|w| w.metadata = metadata);
    let mut vm = Vm::new();
    let drive = vm.config_drive(
        &json!({"uuid": "u4", "name": "vm4", "meta": {}}),
        &user_data(&initial),
    );
    std::fs::create_dir_all(vm.path("state/deployments/d-blocked.json")).unwrap();
    let cfg = vm.config(&fx, &drive);
    vm.start(&cfg);
    fx.wait_for("five deployment signals", Duration::from_secs(60), |reqs| {
        reqs.iter()
            .filter(|r| r.path.starts_with("/v1/signal/") && r.status == 200)
            .count()
            >= 5
    });
    for name in ["a_valid", "b_long", "c_dotted", "e_valid"] {
        let s = signals(&fx, &format!("/v1/signal/{name}"));
        assert_eq!(s.len(), 1, "{name}: {s:?}");
        assert_eq!(s[0]["deploy_status_code"], 0, "{name}: {}", s[0]);
        assert_eq!(s[0]["deploy_stdout"], format!("{name}\n"));
    }
    let blocked = signals(&fx, "/v1/signal/d_blocked");
    assert_eq!(blocked.len(), 1, "{blocked:?}");
    assert_eq!(blocked[0]["deploy_status_code"], 1);
    assert!(
        blocked[0]["deploy_stderr"]
            .as_str()
            .unwrap()
            .contains("could not keep the state of this deployment"),
        "{}",
        blocked[0]
    );
    // The daemon is still running and polling.
    let child = vm.child.as_mut().unwrap();
    assert!(child.try_wait().unwrap().is_none(), "{}", vm.log());
    let log = vm.log();
    assert!(!log.contains("File name too long"), "{log}");
}
