//! Real OpenStack services for the end-to-end suites, through the project's one way to start
//! them, `scripts/openstack-harness.sh`: Keystone plus the services asked for, on 127.0.0.1,
//! their state in a temp dir; a watcher started by the harness stops every process it started
//! and removes the dir once this test process is gone (on every exit path, a panic or a kill
//! included). Fails, never skips, when the harness cannot start.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

/// A started harness: its admin environment (an openrc) and the URLs it serves.
#[derive(Debug, Clone)]
pub struct Harness {
    pub dir: PathBuf,
    /// `OS_AUTH_URL`, `OS_USERNAME`, `OS_PASSWORD`, ... as the harness prints them.
    pub env: BTreeMap<String, String>,
    /// `KEYSTONE_URL`, `GLANCE_URL`, `HEAT_URL`, `HEAT_CFN_URL`, `STUB_URL` as started.
    pub urls: BTreeMap<String, String>,
}

impl Harness {
    /// Starts Keystone and `services` (comma-separated: `glance`, `heat`).
    pub fn start(services: &str) -> Result<Harness, String> {
        let script = crate::repo_root().join("scripts/openstack-harness.sh");
        let dir = std::env::temp_dir().join(crate::unique_name("solum-openstack"));
        let out = Command::new("bash")
            .arg(&script)
            .arg("start")
            .arg(&dir)
            .args(["--watch", &std::process::id().to_string()])
            .args(["--services", services])
            .output()
            .map_err(|e| format!("running {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "the OpenStack harness ({services}) did not start:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let env = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let urls = std::fs::read_to_string(dir.join("urls"))
            .map_err(|e| format!("{}: {e}", dir.join("urls").display()))?
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Ok(Harness { dir, env, urls })
    }

    pub fn url(&self, key: &str) -> &str {
        self.urls
            .get(key)
            .unwrap_or_else(|| panic!("the harness has no {key}"))
    }

    pub fn env(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("the harness printed no {key}"))
    }
}

/// heat-agents' hooks from its PyPI sdist (13.0.0), unchanged: the directory holding
/// `heat-config-*/install.d/hook-*.py`. Fetched once into the harness's cache by the harness.
pub fn heat_agents() -> Result<PathBuf, String> {
    let script = crate::repo_root().join("scripts/openstack-harness.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("heat-agents")
        .output()
        .map_err(|e| format!("running {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "fetching heat-agents failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    ))
}
