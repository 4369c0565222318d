//! The one external-command runner. Errors carry the whole command line and
//! the tail of its output, so a failure says what ran and why it failed.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};

/// A command that could not start or did not succeed.
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
}

fn quote(s: &str) -> String {
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
pub fn describe(cmd: &Command) -> String {
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

/// Run to completion, capturing stdout; stderr is kept for the error.
pub fn run(cmd: &mut Command) -> Result<Vec<u8>, CmdError> {
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
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(CmdError::Failed {
        cmdline,
        status: status_text(&out.status),
        code: out.status.code(),
        tail: last_lines(&stderr, 20),
    })
}

/// Run like `run`, handing each piece of its stdout to `report` as it
/// comes (a tool's progress output); stderr is kept for the error.
pub fn run_reporting(cmd: &mut Command, report: &mut dyn FnMut(&str)) -> Result<(), CmdError> {
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
    Err(CmdError::Failed {
        cmdline,
        status: status_text(&status),
        code: status.code(),
        tail: last_lines(&String::from_utf8_lossy(&stderr), 20),
    })
}

/// The last `n` lines of a text.
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Wait for a child; on interrupt, SIGTERM its process group, then
/// SIGKILL it if it has not ended after 10 s.
fn wait_interruptible(child: &mut std::process::Child) -> std::io::Result<ExitStatus> {
    let pgid = child.id() as libc::pid_t;
    let mut term_sent: Option<std::time::Instant> = None;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if crate::namespace::interrupted() {
            match term_sent {
                None => {
                    // SAFETY: signalling our own child's process group.
                    unsafe { libc::kill(-pgid, libc::SIGTERM) };
                    term_sent = Some(std::time::Instant::now());
                }
                Some(t) if t.elapsed() > std::time::Duration::from_secs(10) => {
                    // SAFETY: as above.
                    unsafe { libc::kill(-pgid, libc::SIGKILL) };
                }
                Some(_) => {}
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Run with stdout and stderr streamed to our stderr (prefixed), keeping
/// the last `keep` lines for the error.
pub fn run_streamed(cmd: &mut Command, prefix: &str, keep: usize) -> Result<(), CmdError> {
    run_streamed_hiding(cmd, prefix, keep, &[])
}

/// `run_streamed`, with every occurrence of the `secrets` replaced by `***`
/// in what is shown and kept (a build's passwords never reach its log).
pub fn run_streamed_hiding(
    cmd: &mut Command,
    prefix: &str,
    keep: usize,
    secrets: &[String],
) -> Result<(), CmdError> {
    use std::os::unix::process::CommandExt;
    let cmdline = describe(cmd);
    // Its own process group, so an interrupt can stop the whole script tree.
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|source| CmdError::Spawn {
            cmdline: cmdline.clone(),
            source,
        })?;
    let tail: Arc<Mutex<VecDeque<String>>> = Arc::new(Mutex::new(VecDeque::new()));
    let pump = |r: Box<dyn Read + Send>| {
        let tail = Arc::clone(&tail);
        let prefix = prefix.to_string();
        let secrets = secrets.to_vec();
        std::thread::spawn(move || {
            for line in BufReader::new(r).split(b'\n') {
                let Ok(line) = line else { break };
                let line = crate::dibenv::redact(&String::from_utf8_lossy(&line), &secrets);
                crate::progress::line(&format!("{prefix}{line}"));
                if let Ok(mut t) = tail.lock() {
                    t.push_back(line);
                    while t.len() > keep {
                        t.pop_front();
                    }
                }
            }
        })
    };
    let mut threads = Vec::new();
    if let Some(o) = child.stdout.take() {
        threads.push(pump(Box::new(o)));
    }
    if let Some(e) = child.stderr.take() {
        threads.push(pump(Box::new(e)));
    }
    let status = wait_interruptible(&mut child).map_err(|source| CmdError::Spawn {
        cmdline: cmdline.clone(),
        source,
    })?;
    for t in threads {
        let _ = t.join();
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn streamed_keeps_tail() {
        let e = run_streamed(
            Command::new("sh").args(["-c", "for i in $(seq 1 30); do echo line$i; done; exit 2"]),
            "  ",
            20,
        )
        .unwrap_err();
        match e {
            CmdError::Failed { code, tail, .. } => {
                assert_eq!(code, Some(2));
                let lines: Vec<&str> = tail.lines().collect();
                assert_eq!(lines.len(), 20);
                assert_eq!(lines[0], "line11");
                assert_eq!(lines[19], "line30");
            }
            other => panic!("unexpected {other}"),
        }
        assert!(run_streamed(Command::new("true").arg("x"), "", 5).is_ok());
        let e = run_streamed_hiding(
            Command::new("sh").args(["-c", "echo pw=hunter22; exit 1"]),
            "",
            5,
            &["hunter22".to_string()],
        )
        .unwrap_err();
        assert!(e.to_string().ends_with("pw=***"), "{e}");
        assert!(matches!(
            run(&mut Command::new("/nonexistent/x")),
            Err(CmdError::Spawn { .. })
        ));
    }
}
