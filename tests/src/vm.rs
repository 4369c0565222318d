//! An app VM under qemu (TCG) as the end-to-end suites boot it: a copy-on-write overlay of the
//! built image (so a power cut and a reboot use the same disk), a config drive, user
//! networking with `restrict=on` where the only address the guest reaches is the metadata
//! address, answered by a fixture on the host's loopback through a per-connection relay
//! (`solum-relay`), and guest ports forwarded back to 127.0.0.1. The serial console goes to a
//! file that tests read. The VM is killed (a power cut) on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How to boot.
#[derive(Debug, Clone)]
pub struct VmSpec {
    pub disk: PathBuf,
    /// An iso9660 config drive (label config-2).
    pub config_drive: Option<PathBuf>,
    /// An Ignition config passed through fw_cfg.
    pub ignition: Option<PathBuf>,
    pub memory_mb: u32,
    pub cpus: u32,
    /// The fixture's loopback port, answered at http://169.254.169.254 in the guest.
    pub metadata_port: u16,
    /// The `solum-relay` binary.
    pub relay: PathBuf,
    /// (host port on 127.0.0.1, guest port).
    pub forwards: Vec<(u16, u16)>,
    pub console: PathBuf,
}

/// A running VM.
pub struct Vm {
    child: Option<Child>,
    pub console: PathBuf,
    pub started: Instant,
}

/// qemu's arguments for `spec` (pure).
pub fn qemu_args(spec: &VmSpec) -> Vec<String> {
    let mut net = format!(
        "user,id=n0,restrict=on,net=169.254.169.0/24,host=169.254.169.2,\
         guestfwd=tcp:169.254.169.254:80-cmd:{} 127.0.0.1 {}",
        spec.relay.display(),
        spec.metadata_port
    );
    for (host, guest) in &spec.forwards {
        net.push_str(&format!(",hostfwd=tcp:127.0.0.1:{host}-:{guest}"));
    }
    let mut a: Vec<String> = vec![
        "-m".into(),
        spec.memory_mb.to_string(),
        "-smp".into(),
        spec.cpus.to_string(),
        "-accel".into(),
        "tcg,thread=multi".into(),
        "-display".into(),
        "none".into(),
        "-monitor".into(),
        "none".into(),
        "-serial".into(),
        format!("file:{}", spec.console.display()),
        "-drive".into(),
        format!("file={},format=qcow2,if=virtio", spec.disk.display()),
        "-netdev".into(),
        net,
        "-device".into(),
        "virtio-net-pci,netdev=n0".into(),
        "-device".into(),
        "virtio-rng-pci".into(),
    ];
    if let Some(iso) = &spec.config_drive {
        a.push("-drive".into());
        a.push(format!(
            "file={},format=raw,if=virtio,readonly=on",
            iso.display()
        ));
    }
    if let Some(ign) = &spec.ignition {
        a.push("-fw_cfg".into());
        a.push(format!("name=opt/com.coreos/config,file={}", ign.display()));
    }
    a
}

impl Vm {
    /// Powers the VM on. The console file is written anew: give each boot its own.
    pub fn start(spec: &VmSpec) -> Vm {
        for p in [&spec.disk, &spec.relay] {
            assert!(p.exists(), "{} does not exist", p.display());
        }
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.args(qemu_args(spec))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        // The VM dies with the test thread that started it, even when the test is killed.
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .expect("qemu-system-x86_64 must be installed (scripts/setup.sh)");
        Vm {
            child: Some(child),
            console: spec.console.clone(),
            started: Instant::now(),
        }
    }

    /// A power cut: SIGKILL to qemu, nothing flushed by the guest.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn console_text(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.console).unwrap_or_default()).into_owned()
    }

    /// Waits until the console holds `needle` (counting only text after `from` bytes); returns
    /// the seconds since power-on.
    pub fn wait_console(&mut self, needle: &str, from: usize, timeout: Duration) -> f64 {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.console_text();
            if text.get(from..).is_some_and(|t| t.contains(needle)) {
                return self.started.elapsed().as_secs_f64();
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    panic!(
                        "qemu exited ({st}) before the console showed {needle:?}:\n{}",
                        tail(&text, 40)
                    );
                }
            }
            assert!(
                Instant::now() < deadline,
                "the console did not show {needle:?} within {timeout:?}; its last lines:\n{}",
                tail(&text, 40)
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    pub fn seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A qcow2 overlay of `base` with `size` (e.g. "6G"): the VM's own disk.
pub fn overlay(base: &Path, out: &Path, size: &str) {
    run(Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
        .arg(base)
        .arg(out)
        .arg(size));
}

/// An iso9660 config drive (label `config-2`, Rock Ridge and Joliet) of the tree `dir`.
pub fn config_drive_iso(dir: &Path, out: &Path) {
    run(Command::new("genisoimage")
        .args(["-quiet", "-r", "-J", "-V", "config-2", "-o"])
        .arg(out)
        .arg(dir));
}

/// A fresh ed25519 key pair; returns (private key path, public key text).
pub fn ssh_key(dir: &Path) -> (PathBuf, String) {
    let key = dir.join("id_ed25519");
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "solum-test", "-f"])
        .arg(&key));
    let public = std::fs::read_to_string(key.with_extension("pub")).expect("public key");
    (key, public)
}

/// Runs `command` as `user` over ssh on 127.0.0.1:`port` with `key`.
pub fn ssh(port: u16, key: &Path, user: &str, command: &str) -> Output {
    Command::new("ssh")
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=20",
            "-i",
        ])
        .arg(key)
        .args([
            "-p",
            &port.to_string(),
            &format!("{user}@127.0.0.1"),
            command,
        ])
        .stdin(Stdio::null())
        .output()
        .expect("ssh (openssh-client) must be installed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guest_reaches_only_the_metadata_address_and_its_forwards() {
        let spec = VmSpec {
            disk: "/d/vm.qcow2".into(),
            config_drive: Some("/d/cd.iso".into()),
            ignition: None,
            memory_mb: 2048,
            cpus: 2,
            metadata_port: 4321,
            relay: "/bin/relay".into(),
            forwards: vec![(2222, 22), (8080, 80)],
            console: "/d/console.log".into(),
        };
        let a = qemu_args(&spec).join(" ");
        assert!(a.contains("-netdev user,id=n0,restrict=on,net=169.254.169.0/24,host=169.254.169.2,guestfwd=tcp:169.254.169.254:80-cmd:/bin/relay 127.0.0.1 4321,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=tcp:127.0.0.1:8080-:80"), "{a}");
        assert!(a.contains("-accel tcg"));
        assert!(a.contains("file=/d/cd.iso,format=raw,if=virtio,readonly=on"));
        assert!(a.contains("-serial file:/d/console.log"));
    }
}
