//! The one external-command runner of both binaries. Errors carry the whole command line and
//! the tail of the command's output, so a failure says what ran and why it failed.
//!
//! - `run`: a short command to its end, stdout returned, stderr kept for the error;
//!   `run_reporting` the same with stdout handed to the caller as it comes (progress).
//! - `output`: `Command::output` in the child's own process group, the whole group SIGKILLed
//!   when the future is dropped (a cancelled deploy leaves no process behind).
//! - `run_streamed` (async) and `run_streamed_blocking` (for synchronous programs): stdout and
//!   stderr handed line by line to the caller (secrets hidden), the last lines kept for the
//!   error, the child in its own process group (optionally its own private mount namespace);
//!   on SIGINT, SIGTERM or SIGHUP (`interrupt`) the group gets SIGTERM, then SIGKILL after a
//!   grace; dropped, it gets SIGKILL.

use std::collections::VecDeque;
use std::process::{ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use crate::interrupt;

/// A command that could not start, did not succeed or was stopped.
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    #[error("cannot run `{cmdline}`: {source}")]
    Spawn {
        cmdline: String,
        source: std::io::Error,
    },
    #[error("`{cmdline}` failed ({status}){}", if tail.is_empty() { String::new() } else { format!(":\n{tail}") })]
    Failed {
        cmdline: String,
        status: String,
        /// Exit code, if it exited (not killed).
        code: Option<i32>,
        tail: String,
    },
    #[error("`{cmdline}` stopped: signal {signal} received")]
    Interrupted { cmdline: String, signal: i32 },
}

/// A word as a shell would read it back: bare when it is plain, else in single quotes.
pub fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The command line as a shell would show it.
pub fn describe(cmd: &std::process::Command) -> String {
    let mut parts = vec![quote(&cmd.get_program().to_string_lossy())];
    parts.extend(cmd.get_args().map(|a| quote(&a.to_string_lossy())));
    parts.join(" ")
}

/// How a process ended, in words.
pub fn status_text(s: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "unknown status".into(),
    }
}

/// The last `n` lines of a text.
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The error for a command that ended with `status`, its stderr (or output) `text` quoted.
pub fn failed(cmdline: String, status: &ExitStatus, text: &[u8], keep: usize) -> CmdError {
    CmdError::Failed {
        cmdline,
        status: status_text(status),
        code: status.code(),
        tail: last_lines(&String::from_utf8_lossy(text), keep),
    }
}

/// Run to completion, capturing stdout; stderr is kept for the error.
pub fn run(cmd: &mut std::process::Command) -> Result<Vec<u8>, CmdError> {
    let cmdline = describe(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| CmdError::Spawn {
            cmdline: cmdline.clone(),
            source,
        })?;
    if out.status.success() {
        return Ok(out.stdout);
    }
    Err(failed(cmdline, &out.status, &out.stderr, 20))
}

/// Run like `run`, handing each piece of its stdout to `report` as it comes (a tool's progress
/// output, e.g. `qemu-img convert -p`); stderr is kept for the error.
pub fn run_reporting(
    cmd: &mut std::process::Command,
    report: &mut dyn FnMut(&str),
) -> Result<(), CmdError> {
    use std::io::Read;
    let cmdline = describe(cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| CmdError::Spawn {
            cmdline: cmdline.clone(),
            source,
        })?;
    let err = child.stderr.take();
    let errors = std::thread::spawn(move || {
        let mut s = Vec::new();
        if let Some(mut e) = err {
            let _ = e.read_to_end(&mut s);
        }
        s
    });
    if let Some(mut out) = child.stdout.take() {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = out.read(&mut buf) {
            report(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    let status = child.wait().map_err(|source| CmdError::Spawn {
        cmdline: cmdline.clone(),
        source,
    })?;
    let stderr = errors.join().unwrap_or_default();
    if status.success() {
        return Ok(());
    }
    Err(failed(cmdline, &status, &stderr, 20))
}

/// `cmd` run to its end in its own process group with stdin closed and its output captured,
/// like `Command::output`; dropped before the end (a cancelled deploy, the agent stopping),
/// the whole group gets SIGKILL, not only the child.
pub async fn output(cmd: &mut tokio::process::Command) -> std::io::Result<std::process::Output> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let child = cmd.spawn()?;
    let mut group = interrupt::ChildGroup::new(child.id());
    let out = child.wait_with_output().await;
    group.disarm();
    out
}

/// How `run_streamed` runs a command.
pub struct Streamed<'a> {
    /// Called with each line of output (secrets hidden), and with a notice when a signal
    /// stops the command.
    pub line: &'a (dyn Fn(&str) + Send + Sync),
    /// Lines of output kept for the error.
    pub keep: usize,
    /// Replaced by `***` wherever they appear in the output.
    pub secrets: &'a [String],
    /// How long the group gets after SIGTERM before SIGKILL when a signal arrives.
    pub grace: Duration,
    /// In a private mount namespace of its own: what it mounts is never seen by the host and
    /// goes away with its processes (bootstrappers).
    pub private_mounts: bool,
}

impl Streamed<'_> {
    fn hide(&self, line: &str) -> String {
        crate::redact::secrets(line, self.secrets)
    }
}

/// Makes every mount of this process's (new) mount namespace private: `unshare(CLONE_NEWNS)`,
/// then `mount --make-rprivate /`. Only async-signal-safe calls: usable between fork and exec.
/// The error says which step failed.
pub fn private_mount_namespace() -> Result<(), (&'static str, std::io::Error)> {
    // SAFETY: plain syscalls with valid arguments; no memory is shared.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        return Err(("unshare", std::io::Error::last_os_error()));
    }
    let root = c"/";
    let none = c"none";
    // SAFETY: NUL-terminated static strings; null data is allowed.
    let rc = unsafe {
        libc::mount(
            none.as_ptr(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(("mount --make-rprivate /", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Runs `cmd` with its output streamed to `opts.line`; see the module's description.
pub async fn run_streamed(
    mut cmd: tokio::process::Command,
    opts: &Streamed<'_>,
) -> Result<(), CmdError> {
    let cmdline = describe(cmd.as_std());
    if let Some(signal) = interrupt::received() {
        return Err(CmdError::Interrupted { cmdline, signal });
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if opts.private_mounts {
        // SAFETY: only async-signal-safe calls (unshare, mount) between fork and exec.
        unsafe {
            cmd.pre_exec(|| private_mount_namespace().map_err(|(_, e)| e));
        }
    }
    let mut child = cmd.spawn().map_err(|source| CmdError::Spawn {
        cmdline: cmdline.clone(),
        source,
    })?;
    let mut group = interrupt::ChildGroup::new(child.id());
    let _graceful = interrupt::Graceful::new();
    let tail = Mutex::new(VecDeque::with_capacity(opts.keep));
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let wait = async {
        tokio::join!(pump(stdout, opts, &tail), pump(stderr, opts, &tail));
        child.wait().await
    };
    tokio::pin!(wait);
    let status = tokio::select! {
        status = &mut wait => status,
        signal = interrupt::received_async() => {
            let program = cmd.as_std().get_program().to_string_lossy().into_owned();
            (opts.line)(&format!("signal {signal}: stopping {program}"));
            group.stop(&mut wait, opts.grace).await;
            return Err(CmdError::Interrupted { cmdline, signal });
        }
    };
    group.disarm();
    let status = status.map_err(|source| CmdError::Spawn {
        cmdline: cmdline.clone(),
        source,
    })?;
    if status.success() {
        return Ok(());
    }
    let tail = tail
        .lock()
        .map(|t| t.iter().cloned().collect::<Vec<_>>().join("\n"))
        .unwrap_or_default();
    Err(CmdError::Failed {
        cmdline,
        status: status_text(&status),
        code: status.code(),
        tail,
    })
}

async fn pump(
    stream: Option<impl AsyncRead + Unpin>,
    opts: &Streamed<'_>,
    tail: &Mutex<VecDeque<String>>,
) {
    let Some(stream) = stream else { return };
    let mut lines = BufReader::new(stream).split(b'\n');
    while let Ok(Some(line)) = lines.next_segment().await {
        let line = opts.hide(&String::from_utf8_lossy(&line));
        (opts.line)(&line);
        if let Ok(mut t) = tail.lock() {
            t.push_back(line);
            while t.len() > opts.keep {
                t.pop_front();
            }
        }
    }
}

/// `run_streamed` for a program without a tokio runtime (one is made for the command).
/// Signals must have been set up with `interrupt::install_flag` (or `install`).
pub fn run_streamed_blocking(
    cmd: std::process::Command,
    opts: &Streamed<'_>,
) -> Result<(), CmdError> {
    let cmdline = describe(&cmd);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| CmdError::Spawn { cmdline, source })?;
    rt.block_on(run_streamed(tokio::process::Command::from(cmd), opts))
}

/// Every line to stderr behind `prefix` (the image builder's way).
pub fn to_stderr(prefix: &str) -> impl Fn(&str) + Send + Sync + '_ {
    move |line: &str| {
        use std::io::Write;
        let _ = writeln!(std::io::stderr().lock(), "{prefix}{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn opts<'a>(line: &'a (dyn Fn(&str) + Send + Sync), secrets: &'a [String]) -> Streamed<'a> {
        Streamed {
            line,
            keep: 20,
            secrets,
            grace: Duration::from_secs(5),
            private_mounts: false,
        }
    }

    #[test]
    fn describe_quotes() {
        let mut c = Command::new("echo");
        c.args(["a b", "it's", "plain-1.0"]);
        assert_eq!(describe(&c), r"echo 'a b' 'it'\''s' plain-1.0");
    }

    #[test]
    fn failure_shows_command_and_stderr() {
        let e = run(Command::new("sh").args(["-c", "echo oops >&2; exit 4"])).unwrap_err();
        let s = e.to_string();
        assert!(
            s.contains("`sh -c 'echo oops >&2; exit 4'` failed (exit code 4)"),
            "{s}"
        );
        assert!(s.ends_with("oops"), "{s}");
        assert!(matches!(
            run(&mut Command::new("/nonexistent/x")),
            Err(CmdError::Spawn { .. })
        ));
    }

    #[test]
    fn streamed_keeps_a_bounded_tail_and_hides_secrets() {
        let seen = Mutex::new(Vec::new());
        let line = |l: &str| seen.lock().unwrap().push(l.to_string());
        let mut c = Command::new("sh");
        c.args(["-c", "for i in $(seq 1 30); do echo line$i; done; exit 2"]);
        match run_streamed_blocking(c, &opts(&line, &[])).unwrap_err() {
            CmdError::Failed { code, tail, .. } => {
                assert_eq!(code, Some(2));
                let lines: Vec<&str> = tail.lines().collect();
                assert_eq!(lines.len(), 20);
                assert_eq!(lines[0], "line11");
                assert_eq!(lines[19], "line30");
            }
            other => panic!("unexpected {other}"),
        }
        assert_eq!(seen.lock().unwrap().len(), 30);
        let mut c = Command::new("true");
        c.arg("x");
        assert!(run_streamed_blocking(c, &opts(&line, &[])).is_ok());
        let mut c = Command::new("sh");
        c.args(["-c", "echo pw=hunter22; exit 1"]);
        let e = run_streamed_blocking(c, &opts(&line, &["hunter22".to_string()])).unwrap_err();
        assert!(e.to_string().ends_with("pw=***"), "{e}");
        assert!(
            e.to_string()
                .starts_with("`sh -c 'echo pw=hunter22; exit 1'` failed (exit code 1)"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_dropped_run_leaves_no_process() {
        let d = tempfile::tempdir().unwrap();
        let pidfile = d.path().join("pid");
        let mut c = tokio::process::Command::new("sh");
        c.arg("-c")
            .arg(format!("sleep 60 & echo $! > {}; wait", pidfile.display()));
        let line = |_: &str| {};
        let o = opts(&line, &[]);
        let run = run_streamed(c, &o);
        let _ = tokio::time::timeout(Duration::from_millis(500), run).await;
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        // SAFETY: signal 0 only asks whether the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z ");
        assert!(!alive, "the grandchild {pid} outlived the dropped run");
    }
}
