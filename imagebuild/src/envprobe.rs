//! What the environment.d fragments export, learnt at planning time by
//! sourcing them in bash as dib-run-parts does (`set -eu -o pipefail`, in
//! order), so that package-installs' `when:`, `installtype` and
//! `dib_python_version` and the install-types selection see what DIB's
//! package-installs-squash and install-types see: the caller's variables,
//! the builder's and the fragments' own defaults (`DIB_PYTHON_VERSION` from
//! dib-python, `DIB_INSTALLTYPE_*` ...). A fragment that fails here would
//! fail every phase of the build: planning stops and names it.

use crate::cmd;
use crate::dibenv;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A fragment could not be sourced.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("environment.d/{name} of element '{element}' fails when sourced ({status}){tail}")]
    Failed {
        name: String,
        element: String,
        status: String,
        tail: String,
    },
    #[error("cannot run bash to read the environment.d fragments: {0}")]
    Spawn(std::io::Error),
}

/// One fragment, in order.
#[derive(Debug, Clone)]
pub struct Fragment<'a> {
    pub name: &'a str,
    pub element: &'a str,
    pub path: &'a Path,
}

const SCRIPT: &str = r#"set -eu
set -o pipefail
for f in "$@"; do
    printf 'solum-image-probe: %s\n' "$f" >&2
    # shellcheck disable=SC1090
    source "$f" >&2
done
printf 'solum-image-probe: done\n' >&2
env -0
"#;

/// Source `fragments` with `env` (the whole environment, nothing
/// inherited) and return every exported variable afterwards.
pub fn probe(
    fragments: &[Fragment<'_>],
    env: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ProbeError> {
    let paths: Vec<PathBuf> = fragments.iter().map(|f| f.path.to_path_buf()).collect();
    let out = Command::new("bash")
        .args(["--noprofile", "--norc", "-c", SCRIPT, "solum-image-probe"])
        .args(&paths)
        .env_clear()
        .envs(env)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(ProbeError::Spawn)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || !stderr.contains("solum-image-probe: done") {
        let last = stderr
            .lines()
            .filter_map(|l| l.strip_prefix("solum-image-probe: "))
            .next_back()
            .unwrap_or("");
        let failed = fragments
            .iter()
            .find(|f| f.path.to_string_lossy() == last)
            .or(fragments.first());
        let secrets = dibenv::secret_values(env);
        let tail = cmd::last_lines(
            &stderr
                .lines()
                .filter(|l| !l.starts_with("solum-image-probe: "))
                .map(|l| dibenv::redact(l, &secrets))
                .collect::<Vec<_>>()
                .join("\n"),
            10,
        );
        return Err(ProbeError::Failed {
            name: failed.map(|f| f.name.to_string()).unwrap_or_default(),
            element: failed.map(|f| f.element.to_string()).unwrap_or_default(),
            status: cmd::status_text(&out.status),
            tail: if tail.is_empty() {
                String::new()
            } else {
                format!(":\n{tail}")
            },
        });
    }
    let mut vars = BTreeMap::new();
    for entry in out.stdout.split(|b| *b == 0) {
        let entry = String::from_utf8_lossy(entry);
        if let Some((k, v)) = entry.split_once('=') {
            vars.insert(k.to_string(), v.to_string());
        }
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_set_defaults_in_order_and_failures_name_the_fragment() {
        let t = tempfile::tempdir().unwrap();
        let a = t.path().join("10-a");
        let b = t.path().join("20-b");
        std::fs::write(
            &a,
            "echo noise\nexport DIB_PYTHON_VERSION=${DIB_PYTHON_VERSION:-3}\nexport X=from-a\n",
        )
        .unwrap();
        std::fs::write(&b, "export Y=\"$X-then-b\"\nunexported=1\n").unwrap();
        let frags = [
            Fragment {
                name: "10-a",
                element: "el",
                path: &a,
            },
            Fragment {
                name: "20-b",
                element: "el",
                path: &b,
            },
        ];
        let env: BTreeMap<String, String> = [("PATH".to_string(), "/usr/bin:/bin".to_string())]
            .into_iter()
            .collect();
        let got = probe(&frags, &env).unwrap();
        assert_eq!(got["DIB_PYTHON_VERSION"], "3");
        assert_eq!(got["Y"], "from-a-then-b");
        assert!(!got.contains_key("unexported"));

        std::fs::write(&b, "echo 'DIB_INIT_SYSTEM is not set!'\nexit 1\n").unwrap();
        let e = probe(&frags, &env).unwrap_err().to_string();
        assert!(
            e.starts_with("environment.d/20-b of element 'el' fails when sourced (exit code 1)"),
            "{e}"
        );
        assert!(e.contains("DIB_INIT_SYSTEM is not set!"), "{e}");
        // What a failing fragment printed is shown, its secrets hidden.
        std::fs::write(&b, "echo \"pw=$DIB_X_PASSWORD\"\nexit 3\n").unwrap();
        let mut with_secret = env.clone();
        with_secret.insert("DIB_X_PASSWORD".into(), "hunter2hunter2".into());
        let e = probe(&frags, &with_secret).unwrap_err().to_string();
        assert!(e.contains("pw=***") && !e.contains("hunter2"), "{e}");
        std::fs::write(&b, "echo $UNSET_VARIABLE\n").unwrap();
        let e = probe(&frags, &env).unwrap_err().to_string();
        assert!(e.contains("20-b"), "{e}");
        assert!(e.contains("unbound variable"), "{e}");
    }
}
