//! Issue 11, reproduction 7: a signal during `solum-agent stack build` orphaned mmdebstrap,
//! which left `/proc`, `/sys`, `/dev/pts`, `/dev/shm` mounted under `/tmp/mmdebstrap.*` in the
//! host's namespace, about 300 MB behind, and `/tmp/solum-stack-*` directories. Each test runs
//! the real binary with the real mmdebstrap, under image tags of its own (the shared
//! `solum/stack-*` images are never touched), signals it while mmdebstrap runs, and asserts:
//! no process left, no mount under its TMPDIR, no directory left.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use solum_tests::{require_docker, require_program, require_root, unique_name};

struct Build {
    dir: tempfile::TempDir,
    child: Child,
    tag: String,
}

impl Drop for Build {
    /// Whatever happened, no agent and no image of this test's own tags stay.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for flavor in ["build", "run"] {
            let _ = Command::new("docker")
                .args([
                    "rmi",
                    "-f",
                    &format!("solum-test/{}-{flavor}:bookworm", self.tag),
                ])
                .output();
        }
    }
}

impl Build {
    /// `solum-agent stack build --force` with stack images named after `tag`, TMPDIR private.
    fn start(tag: &str) -> Build {
        require_root();
        require_docker();
        require_program("mmdebstrap");
        let dir = tempfile::tempdir().unwrap();
        let cfg = solum_tests::stack_test_config(dir.path(), tag);
        let child = Command::new(env!("CARGO_BIN_EXE_solum-agent"))
            .args([
                "--config",
                cfg.to_str().unwrap(),
                "stack",
                "build",
                "--force",
                // Only this test's stack images: the shared services image is not rebuilt.
                "--no-services",
            ])
            .env("TMPDIR", dir.path().join("tmp"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("agent.log")).unwrap())
            .spawn()
            .expect("starting solum-agent stack build");
        Build {
            dir,
            child,
            tag: tag.to_string(),
        }
    }

    fn tmp(&self) -> PathBuf {
        self.dir.path().join("tmp")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("agent.log")).unwrap_or_default()
    }

    /// Pids of processes whose command line or working tree mentions our TMPDIR (the
    /// bootstrapper, its apt and dpkg, the customize hook).
    fn processes(&self) -> Vec<(u32, String)> {
        let tmp = self.tmp().display().to_string();
        let mut out = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let cmdline = std::fs::read(entry.path().join("cmdline"))
                .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
                .unwrap_or_default();
            let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
            let in_env = String::from_utf8_lossy(&environ).contains(&format!("TMPDIR={tmp}"));
            if cmdline.contains(&tmp) || in_env {
                out.push((pid, cmdline));
            }
        }
        out
    }

    /// The pid of the running mmdebstrap, once there is one.
    fn mmdebstrap(&self) -> Option<u32> {
        self.processes()
            .into_iter()
            .find(|(_, c)| c.contains("mmdebstrap"))
            .map(|(p, _)| p)
    }

    /// Waits (up to `limit`) until `ready` holds for the mmdebstrap pid.
    fn wait_for_mmdebstrap(&mut self, limit: Duration, ready: impl Fn(u32) -> bool) -> u32 {
        let started = Instant::now();
        loop {
            if let Some(pid) = self.mmdebstrap().filter(|p| ready(*p)) {
                return pid;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "stack build ended ({status}) before the signal:\n{}",
                    self.log()
                );
            }
            assert!(
                started.elapsed() < limit,
                "mmdebstrap not ready after {limit:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Sends `sig`, waits for the agent to exit, then asserts nothing is left.
    fn signal_and_check(mut self, sig: i32) {
        // SAFETY: kill has no memory preconditions; the pid is our child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
        let started = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = self.child.kill();
                panic!(
                    "the agent did not exit within 60 s of signal {sig}:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let log = self.log();
        assert_eq!(status.code(), Some(128 + sig), "{log}");
        assert!(log.contains(&format!("signal {sig}")), "{log}");
        // Stragglers get a moment: the group was SIGKILLed at the latest when the agent exited.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.processes().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(self.processes(), vec![], "processes left behind:\n{log}");
        let tmp = self.tmp().display().to_string();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let left: Vec<&str> = mounts
            .lines()
            .filter(|l| l.contains(&tmp) || l.contains("/mmdebstrap."))
            .collect();
        assert!(left.is_empty(), "mounts left behind: {left:#?}");
        let entries: Vec<_> = std::fs::read_dir(self.tmp()).unwrap().flatten().collect();
        assert!(
            entries.is_empty(),
            "left in TMPDIR: {:?}\n{log}",
            entries.iter().map(|e| e.path()).collect::<Vec<_>>()
        );
    }
}

/// Whether `pid` has mounted something of its tree (in its own mount namespace).
fn has_tree_mounts(pid: u32, tmp: &Path) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .map(|m| {
            m.lines()
                .any(|l| l.contains(&tmp.display().to_string()) && l.contains("proc"))
        })
        .unwrap_or(false)
}

#[test]
fn sigterm_during_stack_build_leaves_no_process_mount_or_directory() {
    let tag = unique_name("sigterm");
    let mut b = Build::start(&tag);
    let tmp = b.tmp();
    // Signalled once mmdebstrap has mounted /proc in its tree: the state that leaked before.
    let pid = b.wait_for_mmdebstrap(Duration::from_secs(300), |pid| has_tree_mounts(pid, &tmp));
    // Its mounts are in its own namespace, never in ours.
    let ours = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !ours.contains(&tmp.display().to_string()),
        "mmdebstrap {pid} mounts in the host's namespace"
    );
    b.signal_and_check(libc::SIGTERM);
}

#[test]
fn sigint_and_sighup_during_stack_build_leave_nothing_either() {
    for sig in [libc::SIGINT, libc::SIGHUP] {
        let tag = unique_name("sig");
        let mut b = Build::start(&tag);
        b.wait_for_mmdebstrap(Duration::from_secs(120), |_| true);
        b.signal_and_check(sig);
    }
}
