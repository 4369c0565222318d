//! Support for `heat.rs`: Heat's REST API as much as the tests need (one Heat per test
//! binary, started through `solum_tests::openstack`), and `Agent`, a `solum-agent run` set up
//! the way a deployed server's operator would set it up.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use solum_tests::openstack::Harness;

pub const LONG: Duration = Duration::from_secs(180);
// ---------------------------------------------------------------------------------------
// Heat's REST API, as much as the tests need.

pub struct Heat {
    pub harness: Harness,
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
}

pub fn heat() -> &'static Heat {
    static H: OnceLock<Result<Heat, String>> = OnceLock::new();
    let h = H.get_or_init(|| {
        let harness = Harness::start("heat")?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Heat {
            harness,
            rt,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .map_err(|e| e.to_string())?,
        })
    });
    match h {
        Ok(h) => h,
        Err(e) => panic!("{e}"),
    }
}

#[derive(Debug, Clone)]
pub struct Stack {
    pub name: String,
    pub id: String,
}

impl Heat {
    /// An admin token and the admin project's id.
    pub fn token(&self) -> (String, String) {
        let h = &self.harness;
        let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": h.env("OS_USERNAME"), "domain": {"id": "default"}, "password": h.env("OS_PASSWORD")}}},
            "scope": {"project": {"name": h.env("OS_PROJECT_NAME"), "domain": {"id": "default"}}}}});
        self.rt.block_on(async {
            let r = self
                .client
                .post(format!("{}/auth/tokens", h.env("OS_AUTH_URL")))
                .json(&body)
                .send()
                .await
                .expect("keystone answers");
            assert!(r.status().is_success(), "keystone auth: {}", r.status());
            let token = r.headers()["x-subject-token"].to_str().unwrap().to_string();
            let v: Value = r.json().await.unwrap();
            (
                token,
                v["token"]["project"]["id"].as_str().unwrap().to_string(),
            )
        })
    }

    /// Heat 27 bug work-around: switching a server from POLL_SERVER_CFN to POLL_SERVER_HEAT,
    /// Heat makes a new password for the stack user but never sets it in Keystone. The admin
    /// sets it, as an operator would.
    pub fn set_password(&self, user_id: &str, password: &str) {
        let (token, _) = self.token();
        let url = format!("{}/users/{user_id}", self.harness.env("OS_AUTH_URL"));
        let status = self.rt.block_on(async {
            self.client
                .patch(&url)
                .header("X-Auth-Token", token)
                .json(&json!({"user": {"password": password}}))
                .send()
                .await
                .expect("keystone answers")
                .status()
        });
        assert!(
            status.is_success(),
            "setting the stack user's password: {status}"
        );
    }

    /// A call to Heat's API under `/v1/{project}`; returns the status and the JSON body.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let (token, project) = self.token();
        let url = format!("{}/v1/{project}{path}", self.harness.url("HEAT_URL"));
        self.rt.block_on(async {
            let mut req = self
                .client
                .request(method.parse().unwrap(), &url)
                .header("X-Auth-Token", token);
            if let Some(b) = body {
                req = req.json(&b);
            }
            let r = req.send().await.expect("heat answers");
            let status = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            (
                status,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            )
        })
    }

    pub fn create(&self, name: &str, template: &str, params: Value) -> Stack {
        let template: Value = serde_norway::from_str(template).expect("template YAML");
        let (status, v) = self.call(
            "POST",
            "/stacks",
            Some(json!({"stack_name": name, "template": template, "parameters": params, "timeout_mins": 10})),
        );
        assert_eq!(status, 201, "stack create: {v}");
        Stack {
            name: name.into(),
            id: v["stack"]["id"].as_str().unwrap().into(),
        }
    }

    pub fn update(&self, s: &Stack, params: Value) {
        let (status, v) = self.call(
            "PATCH",
            &format!("/stacks/{}/{}", s.name, s.id),
            Some(json!({"parameters": params})),
        );
        assert_eq!(status, 202, "stack update: {v}");
    }

    /// A full update (PUT): the only kind Heat takes on a FAILED stack.
    pub fn replace(&self, s: &Stack, template: &str, params: Value) {
        let template: Value = serde_norway::from_str(template).expect("template YAML");
        let (status, v) = self.call(
            "PUT",
            &format!("/stacks/{}/{}", s.name, s.id),
            Some(json!({"template": template, "parameters": params, "timeout_mins": 10})),
        );
        assert_eq!(status, 202, "stack update: {v}");
    }

    pub fn show(&self, s: &Stack) -> Value {
        let (status, v) = self.call("GET", &format!("/stacks/{}/{}", s.name, s.id), None);
        assert_eq!(status, 200, "stack show: {v}");
        v["stack"].clone()
    }

    /// Waits until the stack's status is `want` (or any other final status, which fails).
    pub fn wait(&self, s: &Stack, want: &str, timeout: Duration, agent: &Agent) -> Value {
        let end = Instant::now() + timeout;
        loop {
            let st = self.show(s);
            let status = st["stack_status"].as_str().unwrap_or("").to_string();
            if status == want {
                return st;
            }
            let settled = status.ends_with("_COMPLETE") || status.ends_with("_FAILED");
            if (settled && !status.starts_with(want.split('_').next().unwrap()))
                || status.ends_with("_FAILED")
                || Instant::now() > end
            {
                panic!(
                    "stack {} is {status} ({}), not {want}\n--- agent log\n{}",
                    s.name,
                    st["stack_status_reason"],
                    agent.log()
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    pub fn output(&self, stack: &Value, key: &str) -> Value {
        stack["outputs"]
            .as_array()
            .and_then(|o| o.iter().find(|o| o["output_key"] == key))
            .map(|o| o["output_value"].clone())
            .unwrap_or_else(|| panic!("no output {key}: {stack}"))
    }

    /// The resource's metadata as the server's transports serve it.
    pub fn resource_metadata(&self, s: &Stack, resource: &str) -> Value {
        let end = Instant::now() + LONG;
        loop {
            let (status, v) = self.call(
                "GET",
                &format!("/stacks/{}/{}/resources/{resource}/metadata", s.name, s.id),
                None,
            );
            // Heat adds `collectors` with its transport block; a template may give the block
            // (polling_interval) before that.
            if status == 200
                && v["metadata"]["os-collect-config"]
                    .get("collectors")
                    .is_some()
            {
                return v["metadata"].clone();
            }
            assert!(
                Instant::now() < end,
                "no metadata for {resource}: {status} {v}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    pub fn resource(&self, s: &Stack, resource: &str) -> Value {
        let (status, v) = self.call(
            "GET",
            &format!("/stacks/{}/{}/resources/{resource}", s.name, s.id),
            None,
        );
        assert_eq!(status, 200, "resource show: {v}");
        v["resource"].clone()
    }
}

// ---------------------------------------------------------------------------------------
// The server's side: `solum-agent run` with what an operator hands it.

pub struct Agent {
    dir: tempfile::TempDir,
    child: Option<Child>,
    pub env: Vec<(String, String)>,
    /// `poll_max_interval` (2 s); None: Heat's `polling_interval` or the default.
    pub poll_max: Option<u64>,
}

impl Agent {
    pub fn new() -> Agent {
        let dir = tempfile::tempdir().unwrap();
        for d in ["local-data", "hooks", "no-drive", "refresh/configure.d"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        Agent {
            dir,
            child: None,
            env: Vec::new(),
            poll_max: Some(2),
        }
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// os-collect-config's local-data: `{"os-collect-config": <the server's block>}`.
    pub fn local_data(&self, occ: &Value) {
        let f = self.path("local-data/occ.json");
        std::fs::write(&f, json!({ "os-collect-config": occ }).to_string()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    pub fn start(&mut self) {
        let cfg = self.path("config.yaml");
        std::fs::write(
            &cfg,
            format!(
                "state_dir: {}\nbind_address: 127.0.0.1\nconfig_drive: {}\nmetadata_url: http://127.0.0.1:9\ncfn_init_path: {}\nlocal_data_dir: {}\nos_collect_config_file: {}\nhooks_dir: {}\nrefresh_config_dir: {}\nheat_config_file: {}\nstatus_socket: \"\"\n{}health:\n  start_timeout: 60\n",
                self.path("state").display(),
                self.path("no-drive").display(),
                self.path("cfn-init-data").display(),
                self.path("local-data").display(),
                self.path("os-collect-config.conf").display(),
                self.path("hooks").display(),
                self.path("refresh").display(),
                self.path("heat-config").display(),
                self.poll_max
                    .map(|s| format!("poll_max_interval: {s}\n"))
                    .unwrap_or_default(),
            ),
        )
        .unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("agent.log"))
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_solum-agent"));
        cmd.args(["--config", cfg.to_str().unwrap(), "-v", "run"])
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("starting solum-agent run"));
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("agent.log")).unwrap_or_default()
    }

    pub fn lines(&self, file: &str) -> Vec<String> {
        std::fs::read_to_string(self.path(file))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
        solum_tests::docker_rm_agent(&self.path("state"));
    }
}
