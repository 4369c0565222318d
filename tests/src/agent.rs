//! One `solum-agent` driven through its command line, as the deploy and services suites use it:
//! a state directory of its own (so its own agent id, supervisor and containers), every
//! command's output kept (to look for secrets in it), and on drop every app it deployed
//! destroyed and every container, volume and image it made removed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::{docker_rm_labelled, require_docker};

pub struct AgentCli {
    bin: PathBuf,
    pub state: tempfile::TempDir,
    /// The apps destroyed on drop (deploys add theirs; a test adds what it deploys otherwise).
    pub apps: Vec<String>,
    /// Everything every command printed, stdout and stderr.
    pub seen: String,
    purge: bool,
}

impl AgentCli {
    /// An agent running `bin` (the test's `env!("CARGO_BIN_EXE_solum-agent")`).
    pub fn new(bin: &str) -> AgentCli {
        require_docker();
        AgentCli {
            bin: PathBuf::from(bin),
            state: tempfile::tempdir().expect("tempdir"),
            apps: Vec::new(),
            seen: String::new(),
            purge: false,
        }
    }

    /// Destroys with `--purge` on drop (the apps' services' data too).
    pub fn purging(mut self) -> AgentCli {
        self.purge = true;
        self
    }

    pub fn cmd(&mut self, args: &[&str]) -> Output {
        let out = Command::new(&self.bin)
            .args([
                "--state-dir",
                self.state.path().to_str().expect("a UTF-8 temp dir"),
                "--bind-address",
                "127.0.0.1",
            ])
            .args(args)
            .env_remove("SOLUM_AGENT_CONFIG")
            .output()
            .expect("running solum-agent");
        self.seen.push_str(&String::from_utf8_lossy(&out.stdout));
        self.seen.push_str(&String::from_utf8_lossy(&out.stderr));
        out
    }

    /// Runs a command that must succeed; returns stdout.
    pub fn ok(&mut self, args: &[&str]) -> String {
        let out = self.cmd(args);
        assert!(
            out.status.success(),
            "solum-agent {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a command that must fail; returns stderr.
    pub fn fails(&mut self, args: &[&str]) -> String {
        let out = self.cmd(args);
        assert!(
            !out.status.success(),
            "solum-agent {args:?} unexpectedly succeeded:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `deploy PLANFILE --json`, which must succeed; its apps are destroyed on drop.
    pub fn deploy_json(&mut self, planfile: &Path) -> serde_json::Value {
        let out = self.ok(&["deploy", planfile.to_str().expect("a UTF-8 path"), "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("deploy --json printed {out:?}: {e}"));
        for app in v["apps"].as_array().expect("apps array") {
            let name = app["app"].as_str().expect("app name").to_string();
            if !self.apps.contains(&name) {
                self.apps.push(name);
            }
        }
        v
    }

    /// Deploys; returns the first app's public URL (without a trailing slash).
    pub fn deploy_url(&mut self, planfile: &Path) -> String {
        self.deploy_json(planfile)["apps"][0]["urls"][0]
            .as_str()
            .expect("a URL")
            .trim_end_matches('/')
            .to_string()
    }

    pub fn agent_id(&self) -> String {
        std::fs::read_to_string(self.state.path().join("agent-id"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    }

    /// Where the agent keeps service `id` of `plan`.
    pub fn service_dir(&self, plan: &str, id: &str) -> PathBuf {
        self.state
            .path()
            .join("services")
            .join(format!("{plan}-{id}"))
    }
}

impl Drop for AgentCli {
    fn drop(&mut self) {
        for app in self.apps.clone() {
            let mut args = vec!["destroy", app.as_str()];
            if self.purge {
                args.push("--purge");
            }
            let _ = self.cmd(&args);
        }
        let sh = |script: String| {
            let _ = Command::new("sh").arg("-c").arg(script).output();
        };
        let id = self.agent_id();
        if !id.is_empty() {
            docker_rm_labelled(&format!("solum.agent={id}"));
            sh(format!(
                "docker volume ls -q --filter label=solum.agent={id} | xargs -r docker volume rm -f"
            ));
        }
        for app in &self.apps {
            sh(format!(
                "docker images -q --filter label=solum.app={app} | xargs -r docker rmi -f; \
                 docker volume rm -f solum-cache-{app}"
            ));
        }
    }
}
