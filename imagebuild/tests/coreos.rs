//! The `coreos-like` element set end to end: build the image (`coreos-like solum-agent`; root,
//! mmdebstrap or the warm cache, real chroot), make an app VM config with
//! `solum-image ignition --agent-installed`, add a
//! marker file and unit, boot it once with `solum-image boot --ignition` (qemu TCG, fw_cfg,
//! restricted user networking) and read the serial console: Ignition wrote the file, created
//! the user with its key, enabled and started the units, the agent ran, and
//! `ignition.firstboot` was removed from the boot entry. FAILS (never skips) when root,
//! mmdebstrap/debootstrap, qemu or the agent binary are missing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_solum-image");
const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl op@coreos-test";

fn shared_cache() -> PathBuf {
    std::env::var_os("SOLUM_IMAGE_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/solum-image-test-cache"))
}

/// This test's own image cache: other builds share the apt archive (and its lock) of the
/// shared cache, so only the base trees are taken from it (hard links, same filesystem).
fn cache_dir() -> PathBuf {
    let own = std::env::var_os("SOLUM_COREOS_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/solum-coreos-test-cache"));
    let base = own.join("solum-image/base");
    std::fs::create_dir_all(&base).expect("cache dir");
    if let Ok(entries) = std::fs::read_dir(shared_cache().join("solum-image/base")) {
        for e in entries.filter_map(Result::ok) {
            let name = e.file_name();
            let to = base.join(&name);
            if name.to_string_lossy().ends_with(".tar")
                && !to.exists()
                && std::fs::hard_link(e.path(), &to).is_err()
            {
                let _ = std::fs::copy(e.path(), &to);
            }
        }
    }
    own
}

fn require_tools() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "this test needs root (chroot, mounts)");
    for tool in [
        "command -v mmdebstrap || command -v debootstrap",
        "command -v qemu-system-x86_64",
        "command -v ignition-validate",
    ] {
        let ok = Command::new("sh")
            .args(["-c", tool])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(ok, "missing tool: `{tool}` found nothing");
    }
}

fn agent_binary() -> PathBuf {
    let p = std::env::var_os("SOLUM_AGENT_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/solum-agent")
        });
    assert!(
        p.is_file(),
        "{}: no agent binary (cargo build --release -p solum-agent, or set SOLUM_AGENT_BINARY)",
        p.display()
    );
    p
}

/// Stops `solum-image boot` (SIGTERM: it stops qemu and removes its temp files).
struct Booted(Child);

impl Drop for Booted {
    fn drop(&mut self) {
        // SAFETY: kill on our own child's pid.
        unsafe {
            libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM);
        }
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const MARKER_SCRIPT: &str = r#"#!/bin/sh
# Reports what Ignition did, on the serial console.
key=$(cat /home/solum/.ssh/authorized_keys 2>/dev/null | grep -c coreos-test)
echo "SOLUM-MARKER file=$(cat /etc/solum-test/written-by-ignition) user=$(getent passwd solum | cut -d: -f1) key=$key firstboot-left=$(grep -c 'ignition\.firstboot' /boot/grub/grub.cfg) agent-file=$(test -x /usr/local/bin/solum-agent && echo yes) agent=$(systemctl is-active solum-agent.service) agent-config=$(test -f /etc/solum-agent/config.yaml && echo yes) agent-dropin=$(systemctl show -P DropInPaths solum-agent.service | grep -c 50-console)"
"#;

fn config(dir: &Path) -> PathBuf {
    let app = dir.join("app.ign");
    let out = Command::new(BIN)
        .arg("ignition")
        // The image has the agent (solum-agent element): fw_cfg reads a multi-megabyte
        // config (the embedded agent) far too slowly under TCG; the unit and config still
        // come from Ignition.
        .arg("--agent-installed")
        .args(["--ssh-key", KEY, "-o"])
        .arg(&app)
        .output()
        .expect("solum-image ignition");
    assert!(
        out.status.success(),
        "ignition --agent: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&app).expect("read")).expect("json");
    let marker = |path: &str, data: &[u8], mode: u32| {
        serde_json::to_value(solum_ignition::File::from_bytes(path, data, mode)).expect("file")
    };
    let files = cfg["storage"]["files"].as_array_mut().expect("files");
    files.push(marker(
        "/etc/solum-test/written-by-ignition",
        b"ignition-wrote-this",
        0o644,
    ));
    files.push(marker(
        "/usr/local/bin/solum-test-marker",
        MARKER_SCRIPT.as_bytes(),
        0o755,
    ));
    let units = cfg["systemd"]["units"].as_array_mut().expect("units");
    units.push(serde_json::json!({
        "name": "solum-test-marker.service",
        "enabled": true,
        "contents": "[Unit]\nDescription=solum test marker\nAfter=solum-agent.service solum-ignition-firstboot-done.service\n\n[Service]\nType=oneshot\nExecStart=/usr/local/bin/solum-test-marker\nStandardOutput=journal+console\n\n[Install]\nWantedBy=multi-user.target\n"
    }));
    // The agent's own output on the console too (a dropin written by Ignition).
    for u in units.iter_mut() {
        if u["name"] == "solum-agent.service" {
            u["dropins"] = serde_json::json!([{
                "name": "50-console.conf",
                "contents": "[Service]\nStandardOutput=journal+console\nStandardError=journal+console\n"
            }]);
        }
    }
    let path = dir.join("test.ign");
    std::fs::write(&path, serde_json::to_vec_pretty(&cfg).expect("json")).expect("write");
    let v = Command::new("ignition-validate")
        .arg(&path)
        .output()
        .expect("ignition-validate");
    assert!(
        v.status.success(),
        "ignition-validate: {}",
        String::from_utf8_lossy(&v.stderr)
    );
    path
}

#[test]
fn coreos_like_first_boot_runs_ignition() {
    require_tools();
    let dir = tempfile::Builder::new()
        .prefix("solum-coreos-it-")
        .tempdir_in("/var/tmp")
        .expect("tmp");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).expect("tmp");
    let out = dir.path().join("coreos");
    let t0 = Instant::now();
    let build = Command::new(BIN)
        .args(["build", "-t", "raw", "-o"])
        .arg(&out)
        .args(["coreos-like", "solum-agent"])
        .env("SOLUM_AGENT_BINARY", agent_binary())
        .env("DIB_IMAGE_CACHE", cache_dir())
        .env("TMPDIR", &tmp)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("solum-image build");
    assert!(
        build.status.success(),
        "build failed:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    eprintln!("build: {:?}", t0.elapsed());
    let image = dir.path().join("coreos.raw");
    assert!(image.is_file(), "no {}", image.display());

    let ign = config(dir.path());
    let log = dir.path().join("serial.log");
    let child = Command::new(BIN)
        .arg("boot")
        .arg(&image)
        .arg("--ignition")
        .arg(&ign)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).expect("log"))
        .stderr(Stdio::null())
        .spawn()
        .expect("solum-image boot");
    let booted = Booted(child);
    let t1 = Instant::now();
    let limit = Duration::from_secs(
        std::env::var("SOLUM_COREOS_BOOT_LIMIT")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(400),
    );
    let mut serial = String::new();
    while t1.elapsed() < limit {
        serial = String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned();
        if serial.contains("SOLUM-MARKER") && serial.contains("login:") {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(booted);
    eprintln!("boot: {:?}", t1.elapsed());
    let tail = || {
        serial
            .lines()
            .rev()
            .take(60)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    };
    let line = serial
        .lines()
        .find(|l| l.contains("SOLUM-MARKER file="))
        .unwrap_or_else(|| panic!("no marker line; serial tail:\n{}", tail()));
    assert!(line.contains("file=ignition-wrote-this"), "{line}");
    assert!(line.contains("user=solum"), "{line}");
    assert!(line.contains("key=1"), "{line}");
    assert!(line.contains("agent-file=yes"), "{line}");
    assert!(line.contains("firstboot-left=0"), "{line}");
    assert!(
        serial.contains("Ignition (files)"),
        "Ignition's files stage not seen"
    );
    assert!(!serial.contains("emergency"), "emergency mode:\n{}", tail());
    assert!(
        serial.contains("first boot done, ignition.firstboot removed"),
        "firstboot-done unit did not run"
    );
    // The agent's unit (as Ignition wrote it, with its dropin) is active: Type=notify, so the
    // agent reached Docker and said READY.
    assert!(line.contains("agent=active"), "{line}\n{}", tail());
    assert!(line.contains("agent-config=yes"), "{line}");
    assert!(line.contains("agent-dropin=1"), "{line}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(
        !mounts.contains(dir.path().to_string_lossy().as_ref()),
        "mounts left behind"
    );
}
