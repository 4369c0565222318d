//! Running a command under a budget and measuring it like `/usr/bin/time -v`: wall time and
//! the child's peak resident memory (`wait4`'s `ru_maxrss`). The hostile-input tests assert
//! with it that a reproduction ends in under 5 s and 256 MiB.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one run cost and printed.
#[derive(Debug)]
pub struct Measured {
    /// The exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub wall: Duration,
    /// Peak resident set size in KiB.
    pub max_rss_kib: u64,
}

/// The budget every hostile-input reproduction must end within.
pub const WALL_BUDGET: Duration = Duration::from_secs(5);
pub const RSS_BUDGET_KIB: u64 = 256 * 1024;

impl Measured {
    /// Panics unless the run ended within `WALL_BUDGET` and `RSS_BUDGET_KIB`.
    pub fn assert_within_budget(&self) {
        assert!(
            self.wall < WALL_BUDGET && self.max_rss_kib < RSS_BUDGET_KIB,
            "over budget: {:?} wall, {} KiB max RSS (budget {WALL_BUDGET:?}, {RSS_BUDGET_KIB} KiB)\n{}",
            self.wall,
            self.max_rss_kib,
            self.stderr
        );
    }
}

/// Runs `cmd` to its end (stdin closed, output captured), killing it after `timeout`.
pub fn run(cmd: &mut Command, timeout: Duration) -> Measured {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let pid = child.id() as libc::pid_t;
    let pipe = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut s);
            }
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = pipe(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let err = pipe(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let watchdog = {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            if rx.recv_timeout(timeout).is_err() {
                // SAFETY: kill has no memory preconditions; the pid is our unreaped child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        });
        (tx, t)
    };
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; status and usage are valid for writes.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    let wall = started.elapsed();
    let _ = watchdog.0.send(());
    let _ = watchdog.1.join();
    // The child is reaped: std must not wait for it again.
    std::mem::forget(child);
    Measured {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        wall,
        max_rss_kib: usage.ru_maxrss as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_child() {
        let m = run(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(10),
        );
        assert_eq!(m.code, Some(3));
        assert_eq!(m.stdout, "out\n");
        assert_eq!(m.stderr, "err\n");
        assert!(m.max_rss_kib > 0);
        m.assert_within_budget();
        let m = run(Command::new("sleep").arg("30"), Duration::from_millis(200));
        assert_eq!(m.code, None);
        assert!(m.wall < Duration::from_secs(10));
    }
}
