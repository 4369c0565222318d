//! What os-refresh-config does around heat-config on a server built with heat-agents'
//! elements, for the hooks that rely on it: on every change of the metadata the deployments are
//! written as JSON to the heat-config file (`HEAT_SHELL_CONFIG`, default
//! `/var/run/heat-config/heat-config`, as os-apply-config renders it), and the scripts elements
//! install in os-refresh-config's phase directories (`<dir>/pre-configure.d`, `configure.d`,
//! `migration.d`, `post-configure.d`, default dir `/usr/libexec/os-refresh-config`) run in
//! os-refresh-config's order, the deployments being applied where heat-config's
//! `configure.d/55-heat-config` stands. heat-agents' `docker-compose` hook needs this: its
//! `configure.d/50-heat-config-docker-compose` writes each project's docker-compose.yml from
//! the heat-config file before the hook runs. The scripts the agent itself replaces
//! (`20-os-apply-config`, `55-heat-config`) are not run. A failing script is logged and the
//! others go on (os-refresh-config would stop; one bad element must not stop deployments).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;

use super::hook::Hooks;
use crate::state::write_atomic;

pub use super::hook::{DEFAULT_HEAT_CONFIG_FILE, DEFAULT_REFRESH_DIR as DEFAULT_DIR};

/// Scripts os-refresh-config would run that the agent does itself.
const REPLACED: [&str; 2] = ["20-os-apply-config", "55-heat-config"];
/// Where heat-config stands in `configure.d`.
const HEAT_CONFIG: &str = "55-heat-config";

/// Which scripts: those before heat-config's place, or those after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Before,
    After,
}

/// Writes the deployments (as Heat sent them) to the heat-config file, 0600.
pub fn write_heat_config(path: &Path, deployments: &Value) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let body = serde_json::to_vec(deployments).unwrap_or_else(|_| b"[]".to_vec());
    write_atomic(path, &body)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

/// The scripts of `stage`, in os-refresh-config's order.
pub fn scripts(dir: &Path, stage: Stage) -> Vec<PathBuf> {
    let phases: &[&str] = match stage {
        Stage::Before => &["pre-configure.d", "configure.d"],
        Stage::After => &["configure.d", "migration.d", "post-configure.d"],
    };
    let mut out = Vec::new();
    for phase in phases {
        let Ok(entries) = std::fs::read_dir(dir.join(phase)) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| runnable_name(n) && !REPLACED.contains(&n.as_str()))
            .collect();
        names.sort();
        for n in names {
            let in_stage = match (*phase, stage) {
                ("configure.d", Stage::Before) => n.as_str() < HEAT_CONFIG,
                ("configure.d", Stage::After) => n.as_str() > HEAT_CONFIG,
                _ => true,
            };
            let path = dir.join(phase).join(&n);
            let mode = std::fs::metadata(&path)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.permissions().mode());
            match mode {
                Some(m) if m & 0o002 != 0 => {
                    tracing::error!("{} is world-writable: not run", path.display())
                }
                Some(m) if in_stage && m & 0o111 != 0 => out.push(path),
                _ => {}
            }
        }
    }
    out
}

/// run-parts' rule for names: letters, digits, `_` and `-` only (no editor backups).
fn runnable_name(n: &str) -> bool {
    !n.is_empty()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Runs the scripts of `stage`, each with `hooks.timeout`, `HEAT_SHELL_CONFIG` set.
pub async fn run(hooks: &Hooks, stage: Stage) {
    for script in scripts(&hooks.refresh_dir, stage) {
        let mut cmd = tokio::process::Command::new(&script);
        cmd.env("HEAT_SHELL_CONFIG", &hooks.heat_config_file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let run = solum_edge::cmd::output(&mut cmd);
        match tokio::time::timeout(hooks.timeout, run).await {
            Ok(Ok(out)) if out.status.success() => {
                tracing::info!("{} done", script.display())
            }
            Ok(Ok(out)) => tracing::error!(
                "{} failed ({}): {}",
                script.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Ok(Err(e)) => tracing::error!("{}: {e}", script.display()),
            Err(_) => tracing::error!(
                "{} did not finish within {} s and was killed",
                script.display(),
                hooks.timeout.as_secs()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_run_around_heat_configs_place() {
        let dir = tempfile::tempdir().unwrap();
        for (phase, name, exec) in [
            ("pre-configure.d", "10-pre", true),
            ("configure.d", "20-os-apply-config", true),
            ("configure.d", "50-heat-config-docker-compose", true),
            ("configure.d", "55-heat-config", true),
            ("configure.d", "60-after", true),
            ("configure.d", "40-not-executable", false),
            ("configure.d", "45-backup~", true),
            ("post-configure.d", "99-post", true),
            ("post-configure.d", "98-world-writable", true),
        ] {
            let d = dir.path().join(phase);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(name), "#!/bin/sh\n").unwrap();
            let mode = match (exec, name) {
                (_, "98-world-writable") => 0o777,
                (true, _) => 0o755,
                _ => 0o644,
            };
            std::fs::set_permissions(d.join(name), std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let names = |stage| {
            scripts(dir.path(), stage)
                .iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(Stage::Before),
            ["10-pre", "50-heat-config-docker-compose"]
        );
        assert_eq!(names(Stage::After), ["60-after", "99-post"]);
        assert!(scripts(&dir.path().join("absent"), Stage::Before).is_empty());
    }
}
