//! The Debian bootstrap both binaries make trees with: mmdebstrap when it is installed,
//! debootstrap as the fall-back, their shared arguments (pure), and running either in its own
//! process group and private mount namespace (what it mounts in the tree is never seen by the
//! host and goes away with it), stopped gracefully on a signal (`cmd::run_streamed`).

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use crate::cmd::{self, CmdError, Streamed};

/// Which program makes the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bootstrapper {
    Mmdebstrap,
    Debootstrap,
}

impl Bootstrapper {
    /// mmdebstrap if it is on PATH, else debootstrap if it is, else none.
    pub fn find() -> Option<Bootstrapper> {
        if on_path("mmdebstrap") {
            Some(Bootstrapper::Mmdebstrap)
        } else if on_path("debootstrap") {
            Some(Bootstrapper::Debootstrap)
        } else {
            None
        }
    }

    pub fn program(self) -> &'static str {
        match self {
            Bootstrapper::Mmdebstrap => "mmdebstrap",
            Bootstrapper::Debootstrap => "debootstrap",
        }
    }
}

/// Is `program` on PATH?
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// What goes into a Debian tree, as both programs take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Debian<'a> {
    pub variant: &'a str,
    /// None: the host's architecture.
    pub arch: Option<&'a str>,
    pub include: &'a [&'a str],
}

impl Debian<'_> {
    /// `--variant=`, `--arch=` and `--include=` (pure).
    pub fn args(&self) -> Vec<OsString> {
        let mut v: Vec<OsString> = vec![format!("--variant={}", self.variant).into()];
        if let Some(a) = self.arch {
            v.push(format!("--arch={a}").into());
        }
        if !self.include.is_empty() {
            v.push(format!("--include={}", self.include.join(",")).into());
        }
        v
    }

    /// debootstrap's arguments making `root` (pure); `cache_dir` keeps the downloaded
    /// packages.
    pub fn debootstrap_args(
        &self,
        cache_dir: Option<&Path>,
        release: &str,
        root: &Path,
        mirror: &str,
    ) -> Vec<OsString> {
        let mut v = self.args();
        if let Some(c) = cache_dir {
            v.push(format!("--cache-dir={}", c.display()).into());
        }
        v.extend([release.into(), root.into(), mirror.into()]);
        v
    }
}

/// How long a stopped bootstrapper gets to clean up (unmount, remove its directories) after
/// SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(20);

/// The command running `program` with `args`, `TMPDIR` set to `tmp` when given (its
/// temporary directories are then removed with the caller's).
pub fn command(program: &str, args: &[OsString], tmp: Option<&Path>) -> std::process::Command {
    let mut c = std::process::Command::new(program);
    c.args(args);
    if let Some(t) = tmp {
        c.env("TMPDIR", t);
    }
    c
}

fn streamed<'a>(line: &'a (dyn Fn(&str) + Send + Sync), keep: usize) -> Streamed<'a> {
    Streamed {
        line,
        keep,
        secrets: &[],
        grace: STOP_GRACE,
        private_mounts: true,
    }
}

/// Runs a bootstrapper (or a step of the fall-back) with its output to `line` and the last
/// `keep` lines in its error; see the module's description.
pub async fn run(
    c: std::process::Command,
    line: &(dyn Fn(&str) + Send + Sync),
    keep: usize,
) -> Result<(), CmdError> {
    cmd::run_streamed(tokio::process::Command::from(c), &streamed(line, keep)).await
}

/// `run` for a program without a tokio runtime.
pub fn run_blocking(
    c: std::process::Command,
    line: &(dyn Fn(&str) + Send + Sync),
    keep: usize,
) -> Result<(), CmdError> {
    cmd::run_streamed_blocking(c, &streamed(line, keep))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_arguments() {
        let d = Debian {
            variant: "minbase",
            arch: Some("amd64"),
            include: &["systemd", "udev"],
        };
        let a: Vec<String> = d
            .debootstrap_args(
                Some(Path::new("/c")),
                "bookworm",
                Path::new("/r"),
                "http://m",
            )
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            a,
            [
                "--variant=minbase",
                "--arch=amd64",
                "--include=systemd,udev",
                "--cache-dir=/c",
                "bookworm",
                "/r",
                "http://m"
            ]
        );
        let bare = Debian {
            variant: "minbase",
            arch: None,
            include: &[],
        };
        assert_eq!(bare.args(), [OsString::from("--variant=minbase")]);
        assert!(on_path("sh"));
        assert!(!on_path("solum-no-such-program"));
    }

    #[tokio::test]
    async fn failing_step_reports_its_last_lines_and_tmpdir() {
        let d = tempfile::tempdir().unwrap();
        let args: Vec<OsString> = vec![
            "-c".into(),
            "echo tmp=$TMPDIR; for i in $(seq 1 30); do echo line$i; done; exit 3".into(),
        ];
        let seen = std::sync::Mutex::new(Vec::new());
        let line = |l: &str| seen.lock().unwrap().push(l.to_string());
        let err = run(command("sh", &args, Some(d.path())), &line, 20)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line30") && err.contains("line11") && !err.contains("line10\n"),
            "{err}"
        );
        assert!(err.contains("(exit code 3)"), "{err}");
        assert_eq!(
            seen.lock().unwrap()[0],
            format!("tmp={}", d.path().display())
        );
    }
}
