//! `group: script`, as heat-config's script hook runs it: the config is written to a file and
//! executed with every input as an environment variable and `heat_outputs_path` set; each
//! declared output is read back from `$heat_outputs_path.<name>`.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::Outcome;
use crate::heat::deployment::Deployment;

/// Longest a script may run.
pub const TIMEOUT: Duration = Duration::from_secs(3600);

pub async fn run(d: &Deployment, work: &Path) -> Outcome {
    match run_inner(d, work).await {
        Ok(o) => o,
        Err(e) => Outcome::failed(format!("script hook: {e}")),
    }
}

async fn run_inner(d: &Deployment, work: &Path) -> std::io::Result<Outcome> {
    std::fs::create_dir_all(work)?;
    std::fs::set_permissions(work, std::fs::Permissions::from_mode(0o700))?;
    let script = work.join("script");
    std::fs::write(&script, d.config_text())?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700))?;
    let outputs_path = work.join("outputs");
    for o in &d.outputs {
        let _ = std::fs::remove_file(output_file(&outputs_path, &o.name));
    }
    let mut cmd = tokio::process::Command::new(&script);
    cmd.current_dir(work)
        .env("heat_outputs_path", &outputs_path)
        .kill_on_drop(true);
    for input in &d.inputs {
        if is_env_name(&input.name) {
            let value = match &input.value {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            cmd.env(&input.name, value);
        }
    }
    let run = solum_edge::cmd::output(&mut cmd);
    let out = match tokio::time::timeout(TIMEOUT, run).await {
        Ok(r) => r?,
        Err(_) => {
            return Ok(Outcome::failed(format!(
                "script did not finish within {} s",
                TIMEOUT.as_secs()
            )))
        }
    };
    let mut outputs = BTreeMap::new();
    for o in &d.outputs {
        if let Ok(text) = std::fs::read_to_string(output_file(&outputs_path, &o.name)) {
            outputs.insert(o.name.clone(), Value::String(text));
        }
    }
    Ok(Outcome {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        // A script killed by a signal has no code: report it as heat-config does, non-zero.
        status_code: out.status.code().map(i64::from).unwrap_or(-1),
        outputs,
    })
}

fn output_file(base: &Path, name: &str) -> std::path::PathBuf {
    let mut s = base.as_os_str().to_owned();
    s.push(".");
    s.push(name.replace('/', "_"));
    s.into()
}

fn is_env_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn inputs_in_outputs_out() {
        let d = Deployment::parse(
            0,
            &serde_json::json!({"id": "s1", "group": "script",
                "config": "#!/bin/sh\necho \"hello $foo\"\necho oops >&2\nprintf done > \"$heat_outputs_path.result\"\nexit 3\n",
                "inputs": [{"name": "foo", "value": "bar"}, {"name": "bad-name", "value": "x"}],
                "outputs": [{"name": "result"}, {"name": "missing"}]}),
        )
        .unwrap();
        let work = tempfile::tempdir().unwrap();
        let o = run(&d, work.path()).await;
        assert_eq!(o.stdout, "hello bar\n");
        assert_eq!(o.stderr, "oops\n");
        assert_eq!(o.status_code, 3);
        assert_eq!(
            o.outputs,
            BTreeMap::from([("result".to_string(), Value::from("done"))])
        );
    }

    #[tokio::test]
    async fn a_config_that_is_not_executable_is_a_failure() {
        let d = Deployment::parse(
            0,
            &serde_json::json!({"id": "s2", "config": "not a script"}),
        )
        .unwrap();
        let work = tempfile::tempdir().unwrap();
        let o = run(&d, work.path()).await;
        assert_ne!(o.status_code, 0);
        assert!(o.stderr.contains("script hook"), "{}", o.stderr);
    }
}
