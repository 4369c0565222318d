//! `solum-image build ... --upload` end to end: a real VM disk (debian-minimal vm, qcow2) built
//! and uploaded to a real Keystone + Glance (scripts/openstack-harness.sh, started here with a
//! size cap that fits a disk); the image is active with the file's sha512. FAILS, never skips,
//! when root, mmdebstrap or the harness are missing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha512};

const BIN: &str = env!("CARGO_BIN_EXE_solum-image");

fn cache_dir() -> PathBuf {
    std::env::var_os("SOLUM_IMAGE_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/solum-image-test-cache"))
}

/// Starts Keystone + Glance; they stop (and their directory goes) when this process ends.
fn harness(dir: &Path) -> BTreeMap<String, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/openstack-harness.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("start")
        .arg(dir)
        .arg("--watch")
        .arg(std::process::id().to_string())
        .env("SOLUM_GLANCE_SIZE_CAP", (4u64 << 30).to_string())
        .output()
        .expect("running scripts/openstack-harness.sh");
    assert!(
        out.status.success(),
        "the Keystone + Glance harness did not start:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn build_then_upload_in_one_command() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test needs root (chroot)"
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = harness(&tmp.path().join("openstack"));
    let name = format!("solum-test-build-upload-{}", std::process::id());
    let out_base = tmp.path().join(&name);
    let mut cmd = Command::new(BIN);
    cmd.arg("build")
        .arg("-o")
        .arg(&out_base)
        .args([
            "-t",
            "qcow2",
            "--upload",
            "--property",
            "solum_test=yes",
            "debian-minimal",
            "vm",
        ])
        .env("DIB_IMAGE_CACHE", cache_dir());
    for (k, _) in std::env::vars() {
        if k.starts_with("OS_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .envs(&env)
        .output()
        .expect("run solum-image build --upload");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "build --upload failed:\n{stderr}");
    assert!(
        !stderr.contains(&env["OS_PASSWORD"]),
        "the password reached the output"
    );
    let id = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or("")
        .trim()
        .to_string();
    assert_eq!(
        id.len(),
        36,
        "the image id is printed: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Glance's own view, through the real client of the same harness.
    let qcow2 = PathBuf::from(format!("{}.qcow2", out_base.display()));
    let ours = hex::encode(Sha512::digest(std::fs::read(&qcow2).expect("the qcow2")));
    let venv = std::env::var("SOLUM_OPENSTACK_VENV")
        .unwrap_or_else(|_| "/var/cache/solum-test/openstack-venv".into());
    // Through the venv's python: its scripts' shebangs may name the directory it was made in.
    let show = Command::new(format!("{venv}/bin/python"))
        .arg(format!("{venv}/bin/openstack"))
        .args(["image", "show", "-f", "json", &id])
        .envs(&env)
        .output()
        .expect("openstack image show");
    assert!(
        show.status.success(),
        "{}",
        String::from_utf8_lossy(&show.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&show.stdout).expect("json");
    assert_eq!(v["status"], "active", "{v}");
    assert_eq!(v["disk_format"], "qcow2", "{v}");
    assert_eq!(v["name"], name.as_str(), "{v}");
    // The OpenStack client lists os_hash_value among the properties.
    assert_eq!(v["properties"]["os_hash_value"], ours.as_str(), "{v}");
    let props = v["properties"].to_string();
    assert!(
        props.contains("solum_test") && props.contains("os_distro"),
        "{props}"
    );
}
