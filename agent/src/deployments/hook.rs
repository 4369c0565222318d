//! Any other `group`, as heat-config (heat-agents' `55-heat-config`) runs it: the executable
//! `<hooks dir>/<group>` (the group's name kept to letters, digits, `-` and `_`; default dir
//! `/var/lib/heat-config/hooks`, where heat-agents' elements install `json-file`, `hiera`,
//! `docker-compose`, `ansible`, `puppet`...) gets the deployment as JSON on stdin (its `String`
//! inputs made strings first, as heat-config does) and the agent's own environment (heat-config
//! adds nothing; each hook reads its `HEAT_*` variables from there) with `HEAT_SHELL_CONFIG`
//! naming the heat-config file the agent wrote (`refresh`). Its stdout, when it is a
//! JSON object, is the signal (`deploy_stdout`, `deploy_stderr`, `deploy_status_code` and one
//! key per output); otherwise the signal is its stdout, stderr and exit code. heat-config waits
//! for a hook forever; the agent gives it `Hooks::timeout` (an hour by default) and kills it.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::Outcome;
use crate::heat::deployment::Deployment;

pub const DEFAULT_DIR: &str = "/var/lib/heat-config/hooks";
/// os-refresh-config's phase directories (`refresh` works in them).
pub const DEFAULT_REFRESH_DIR: &str = "/usr/libexec/os-refresh-config";
/// The heat-config file hooks read, `HEAT_SHELL_CONFIG`.
pub const DEFAULT_HEAT_CONFIG_FILE: &str = "/var/run/heat-config/heat-config";

/// Bytes of a hook's stdout and of its stderr that are kept (the rest is read and dropped).
pub const MAX_OUTPUT: usize = 16 << 20;

/// Where hooks live, how long one may run, and the os-refresh-config side they rely on
/// (`refresh`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hooks {
    pub dir: PathBuf,
    pub timeout: Duration,
    /// os-refresh-config's phase directories (`DEFAULT_REFRESH_DIR`).
    pub refresh_dir: PathBuf,
    /// The heat-config file, `HEAT_SHELL_CONFIG` (`DEFAULT_HEAT_CONFIG_FILE`).
    pub heat_config_file: PathBuf,
}

impl Default for Hooks {
    fn default() -> Self {
        Hooks {
            dir: PathBuf::from(DEFAULT_DIR),
            timeout: Duration::from_secs(3600),
            refresh_dir: PathBuf::from(DEFAULT_REFRESH_DIR),
            heat_config_file: PathBuf::from(DEFAULT_HEAT_CONFIG_FILE),
        }
    }
}

impl Hooks {
    /// The hook for `group`, if one is installed (heat-config's name sanitising).
    pub fn find(&self, group: &str) -> Option<PathBuf> {
        let name: String = group
            .chars()
            .filter(|c| *c == '-' || *c == '_' || c.is_alphanumeric())
            .collect();
        if name.is_empty() {
            return None;
        }
        let path = self.dir.join(name);
        path.is_file().then_some(path)
    }
}

/// Runs `hook` for `d` (the deployment item as Heat sent it, `raw`), in `work`.
pub async fn run(hooks: &Hooks, hook: &Path, raw: &Value, work: &Path) -> Outcome {
    match run_inner(hooks, hook, raw, work).await {
        Ok(o) => o,
        Err(e) => Outcome::failed(format!("hook {}: {e}", hook.display())),
    }
}

async fn run_inner(
    hooks: &Hooks,
    hook: &Path,
    raw: &Value,
    work: &Path,
) -> std::io::Result<Outcome> {
    let mode = std::fs::metadata(hook)?.permissions().mode();
    if mode & 0o002 != 0 {
        return Ok(Outcome::failed(format!(
            "hook {} is world-writable: refused (anyone could make the agent run anything)",
            hook.display()
        )));
    }
    if mode & 0o111 == 0 {
        return Ok(Outcome::failed(format!(
            "hook {} is not executable",
            hook.display()
        )));
    }
    std::fs::create_dir_all(work)?;
    std::fs::set_permissions(work, std::fs::Permissions::from_mode(0o700))?;
    let input = serde_json::to_vec(&stdin_document(raw)).unwrap_or_default();
    let mut child = tokio::process::Command::new(hook)
        .current_dir(work)
        .env("HEAT_SHELL_CONFIG", &hooks.heat_config_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        // Its own process group, so that a timeout kills what it started too.
        .process_group(0)
        .spawn()?;
    let pgid = child.id();
    // Dropped with the deployment (the agent stopping): the whole group goes.
    let mut group = solum_edge::interrupt::ChildGroup::new(pgid);
    let mut stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let feed = async move {
        if let Some(s) = stdin.as_mut() {
            // A hook that exits without reading its input is its own business.
            let _ = s.write_all(&input).await;
            let _ = s.shutdown().await;
        }
        drop(stdin);
    };
    let finished = async {
        let (_, out, err, status) = tokio::join!(
            feed,
            read_bounded(stdout),
            read_bounded(stderr),
            child.wait()
        );
        status.map(|s| (out, err, s))
    };
    let result = tokio::time::timeout(hooks.timeout, finished).await;
    let (out, err, status) = match result {
        Ok(r) => {
            group.disarm();
            r?
        }
        Err(_) => {
            group.signal(libc::SIGKILL);
            let _ = child.kill().await;
            return Ok(Outcome::failed(format!(
                "hook {} did not finish within {} s and was killed",
                hook.display(),
                hooks.timeout.as_secs()
            )));
        }
    };
    // A hook killed by a signal has no code: non-zero, as heat-config reports it.
    let code = status.code().map(i64::from).unwrap_or(-1);
    Ok(outcome(&out, &err, code))
}

async fn read_bounded<R: AsyncRead + Unpin>(r: Option<R>) -> Vec<u8> {
    let Some(mut r) = r else { return Vec::new() };
    let mut kept = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = MAX_OUTPUT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    kept
}

/// The deployment as heat-config hands it to a hook: `String` inputs whose value is not a
/// string are turned into one the way Python's `str()` writes it.
pub fn stdin_document(raw: &Value) -> Value {
    let mut doc = raw.clone();
    if let Some(Value::Array(inputs)) = doc.get_mut("inputs") {
        for i in inputs.iter_mut() {
            let is_string_type = i.get("type").and_then(Value::as_str) == Some("String");
            if let (true, Some(v)) = (is_string_type, i.get_mut("value")) {
                if !v.is_string() {
                    *v = Value::String(python_str(v));
                }
            }
        }
    }
    doc
}

/// Python's `str()` of a value decoded from JSON.
fn python_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => python_repr(other),
    }
}

fn python_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(0.0);
            if f.fract() == 0.0 && f.abs() < 1e16 {
                format!("{f:.1}")
            } else {
                format!("{f}")
            }
        }
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            let q = if s.contains('\'') && !s.contains('"') {
                '"'
            } else {
                '\''
            };
            let mut out = String::from(q);
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if c == q => {
                        out.push('\\');
                        out.push(c);
                    }
                    c => out.push(c),
                }
            }
            out.push(q);
            out
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(python_repr).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!(
                    "{}: {}",
                    python_repr(&Value::String(k.clone())),
                    python_repr(v)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// heat-config's reading of a hook's result.
pub fn outcome(stdout: &[u8], stderr: &[u8], code: i64) -> Outcome {
    let raw = || Outcome {
        stdout: String::from_utf8_lossy(stdout).into_owned(),
        stderr: String::from_utf8_lossy(stderr).into_owned(),
        status_code: code,
        outputs: BTreeMap::new(),
    };
    if stdout.is_empty() {
        return raw();
    }
    let budget = solum_limits::Budget::DEFAULT;
    let Ok(Value::Object(m)) = solum_limits::json::from_slice::<Value>(stdout, &budget) else {
        return raw();
    };
    from_signal(m)
}

fn from_signal(mut m: Map<String, Value>) -> Outcome {
    let text = |v: Option<Value>| match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
    };
    let stdout = text(m.remove("deploy_stdout"));
    let stderr = text(m.remove("deploy_stderr"));
    let status_code = match m.remove("deploy_status_code") {
        None | Some(Value::Null) => 0,
        Some(Value::Number(n)) => n.as_i64().unwrap_or(1),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(1),
        Some(Value::Bool(b)) => i64::from(b),
        Some(_) => 1,
    };
    Outcome {
        stdout,
        stderr,
        status_code,
        outputs: m.into_iter().collect(),
    }
}

/// heat-config's `group: component`: the config holds `configs`, each with the `actions` it
/// serves and the `tool` (group) that runs it; the one for this action is run. None: nothing
/// for this action (heat-config skips it).
pub fn component(d: &Deployment, raw: &Value, action: &str) -> Option<(Deployment, Value)> {
    let configs = d.config.get("configs")?.as_array()?;
    let chosen = configs.iter().find(|c| {
        c.get("actions")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(action)))
    })?;
    let tool = chosen.get("tool")?.as_str()?.to_string();
    let config = chosen.get("config").cloned().unwrap_or(Value::Null);
    let mut d = d.clone();
    d.group = tool.clone();
    d.config = config.clone();
    let mut raw = raw.clone();
    if let Value::Object(m) = &mut raw {
        m.insert("group".into(), Value::String(tool));
        m.insert("config".into(), config);
    }
    Some((d, raw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn string_inputs_become_strings_as_python_writes_them() {
        let doc = stdin_document(&json!({"id": "1", "inputs": [
            {"name": "n", "type": "String", "value": 5},
            {"name": "f", "type": "String", "value": 1.0},
            {"name": "b", "type": "String", "value": true},
            {"name": "z", "type": "String", "value": null},
            {"name": "l", "type": "String", "value": [1, "a", {"k": false}]},
            {"name": "kept", "type": "Number", "value": 5},
            {"name": "s", "type": "String", "value": "it's"}]}));
        let values: Vec<&Value> = doc["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| &i["value"])
            .collect();
        assert_eq!(
            values,
            [
                &json!("5"),
                &json!("1.0"),
                &json!("True"),
                &json!("None"),
                &json!("[1, 'a', {'k': False}]"),
                &json!(5),
                &json!("it's")
            ]
        );
    }

    #[test]
    fn results_are_read_as_heat_config_reads_them() {
        let o = outcome(
            br#"{"deploy_stdout": "hi", "deploy_stderr": "", "deploy_status_code": 0, "result": "x"}"#,
            b"log",
            0,
        );
        assert_eq!(o.stdout, "hi");
        assert_eq!(o.status_code, 0);
        assert_eq!(o.outputs["result"], json!("x"));
        // Not JSON: stdout, stderr and the exit code.
        let o = outcome(b"plain", b"oops", 3);
        assert_eq!(
            (o.stdout.as_str(), o.stderr.as_str(), o.status_code),
            ("plain", "oops", 3)
        );
        // A failing hook's JSON wins over its exit code, as in heat-config.
        let o = outcome(br#"{"deploy_status_code": 6}"#, b"", 1);
        assert_eq!(o.status_code, 6);
        let o = outcome(b"[1]", b"", 0);
        assert_eq!(o.stdout, "[1]");
        let o = outcome(b"", b"", 2);
        assert_eq!(o.status_code, 2);
    }

    #[test]
    fn hook_names_are_sanitised_like_heat_config() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("json-file"), "#!/bin/sh\n").unwrap();
        let hooks = Hooks {
            dir: dir.path().into(),
            ..Hooks::default()
        };
        assert_eq!(
            hooks.find("../json-file"),
            Some(dir.path().join("json-file"))
        );
        assert_eq!(hooks.find("puppet"), None);
        assert_eq!(hooks.find("../.."), None);
    }

    async fn run_sh(script: &str, timeout: Duration) -> Outcome {
        let dir = tempfile::tempdir().unwrap();
        let hook = dir.path().join("h");
        std::fs::write(&hook, script).unwrap();
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
        let hooks = Hooks {
            dir: dir.path().into(),
            timeout,
            ..Hooks::default()
        };
        run(
            &hooks,
            &hook,
            &json!({"id": "d1", "group": "h", "inputs": [], "config": "c"}),
            &dir.path().join("work"),
        )
        .await
    }

    #[tokio::test]
    async fn a_hook_reads_the_deployment_and_answers_json() {
        let o = run_sh(
            "#!/bin/sh\nin=$(cat)\nprintf '{\"deploy_stdout\": \"%s\", \"deploy_status_code\": 0, \"out\": 1}' \"$(printf %s \"$in\" | tr -d '\"')\"\n",
            Duration::from_secs(30),
        )
        .await;
        assert_eq!(o.status_code, 0, "{o:?}");
        assert!(o.stdout.contains("id:d1"), "{o:?}");
        assert_eq!(o.outputs["out"], json!(1));
    }

    #[tokio::test]
    async fn world_writable_hooks_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let hook = dir.path().join("h");
        std::fs::write(&hook, "#!/bin/sh\necho ran\n").unwrap();
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o777)).unwrap();
        let hooks = Hooks {
            dir: dir.path().into(),
            ..Hooks::default()
        };
        let o = run(&hooks, &hook, &json!({"id": "d"}), &dir.path().join("w")).await;
        assert_ne!(o.status_code, 0);
        assert!(o.stderr.contains("world-writable"), "{o:?}");
        assert!(!o.stdout.contains("ran"));
    }

    #[tokio::test]
    async fn a_hook_that_hangs_is_killed() {
        let o = run_sh("#!/bin/sh\nsleep 30\n", Duration::from_millis(300)).await;
        assert_ne!(o.status_code, 0);
        assert!(o.stderr.contains("did not finish"), "{o:?}");
        let o = run_sh("#!/bin/sh\nexit 0\n", Duration::from_secs(5)).await;
        assert_eq!(o.status_code, 0);
    }
}
