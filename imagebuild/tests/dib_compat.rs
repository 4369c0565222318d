//! An element written for diskimage-builder, using only DIB's documented
//! format (`tests/elements/test-dib-style`: element-deps on package-installs
//! and pkg-map, environment.d, package-installs.yaml through pkg-map with
//! arch/not-arch/build-only, extra-data.d via `$TMP_HOOKS_PATH`, install.d,
//! post-install.d, finalise.d, the `install-packages -m` and `pkg-map`
//! helpers) builds unchanged with solum-image and has its effects.
//! (`bench/image-dib-compat.sh` builds the same element with DIB and
//! compares.) Needs root and mmdebstrap; FAILS, never skips, without them.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_solum-image");

fn cache_dir() -> PathBuf {
    std::env::var_os("SOLUM_IMAGE_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/solum-image-test-cache"))
}

/// Every entry of a tar archive by path, with the text of the regular
/// files under `prefix` (other entries have "").
fn tar_files(archive: &Path, prefix: &str) -> Vec<(String, String)> {
    let f = std::fs::File::open(archive).expect("open tar");
    let mut a = tar::Archive::new(f);
    let mut out = Vec::new();
    for e in a.entries().expect("entries") {
        let mut e = e.expect("entry");
        let p = e.path().expect("path").to_string_lossy().into_owned();
        let p = p.trim_start_matches("./").to_string();
        let mut s = String::new();
        if p.starts_with(prefix) && e.header().entry_type().is_file() {
            let mut b = Vec::new();
            e.read_to_end(&mut b).expect("read");
            s = String::from_utf8_lossy(&b).into_owned();
        }
        out.push((p, s));
    }
    out
}

fn file<'a>(files: &'a [(String, String)], name: &str) -> &'a str {
    files
        .iter()
        .find(|(p, _)| p == name)
        .map(|(_, s)| s.as_str())
        .unwrap_or_else(|| panic!("{name} not in the tree"))
}

#[test]
fn dib_style_element_builds_unchanged() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "needs root (mounts, chroot)");
    let have = Command::new("sh")
        .args(["-c", "command -v mmdebstrap || command -v debootstrap"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(have, "mmdebstrap or debootstrap must be installed");

    let dir = tempfile::Builder::new()
        .prefix("solum-image-it-dibstyle-")
        .tempdir()
        .expect("temp dir");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).expect("tmp");
    let out = dir.path().join("solum-image-it-dib-style");
    let nonce = format!("dibstyle-{}", std::process::id());
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/elements");
    let command = |extra: &[&str]| {
        let mut c = Command::new(BIN);
        c.arg("build")
            .arg("-o")
            .arg(&out)
            .args(["-n", "-t", "tar"])
            .args(extra)
            .args(["debian-minimal", "test-dib-style"])
            .env("ELEMENTS_PATH", &fixtures)
            .env("DIB_IMAGE_CACHE", cache_dir())
            // Forces a fresh final tree (the base tree stays cached).
            .env("DIB_SOLUM_TEST_NONCE", &nonce)
            .env("TMPDIR", &tmp)
            .env("SOLUM_IMAGE_SHARED_MOUNTS", "1")
            .env_remove("DIB_STYLE_GREETING");
        c
    };
    let plan = command(&["--dry-run", "--json"]).output().expect("dry-run");
    assert!(
        plan.status.success(),
        "{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&plan.stdout).expect("plan json");
    let hash = v["hash"].as_str().expect("hash").to_string();
    struct Tree(String);
    impl Drop for Tree {
        fn drop(&mut self) {
            let _ =
                std::fs::remove_dir_all(cache_dir().join(format!("solum-image/trees/{}", self.0)));
        }
    }
    let _tree = Tree(hash);

    let b = command(&[]).output().expect("run solum-image");
    let err = String::from_utf8_lossy(&b.stderr);
    assert!(b.status.success(), "build failed:\n{err}");
    // Every phase of the element ran, in DIB's order.
    let order: Vec<usize> = [
        "extra-data.d 50-dib-style",
        "install.d 50-dib-style",
        "post-install.d 50-dib-style",
        "finalise.d 50-dib-style",
    ]
    .iter()
    .map(|s| {
        err.find(s)
            .unwrap_or_else(|| panic!("{s} did not run:\n{err}"))
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "order: {err}");

    // Nothing left mounted or behind in TMPDIR.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let t = tmp.to_string_lossy().into_owned();
    assert!(!mounts.lines().any(|l| l.contains(&t)), "mounts left");
    assert_eq!(std::fs::read_dir(&tmp).expect("tmp").count(), 0);

    let tarball = out.with_extension("tar");
    let files = tar_files(&tarball, "etc/dib-style/");
    assert_eq!(
        file(&files, "etc/dib-style/install"),
        "distro=debian release=bookworm arch=amd64\n\
         greeting=hello-from-environment-d\n\
         extra-data greeting=hello-from-environment-d\n\
         mapped=tree\n\
         tree\n"
    );
    assert_eq!(
        file(&files, "etc/dib-style/post-install"),
        "file=install ok installed\nbc=install ok installed\n"
    );
    // build-only: installed for the build, gone from the image.
    assert_eq!(file(&files, "etc/dib-style/finalise"), "lz4=absent\n");
    let has = |n: &str| files.iter().any(|(p, _)| p == n);
    assert!(has("usr/bin/tree"), "package-installs via pkg-map");
    assert!(has("usr/bin/bc"), "arch: amd64 entry");
    assert!(has("usr/bin/file"), "install-packages -m");
    assert!(!has("usr/bin/lz4"), "build-only package left in the image");
    // The hooks (and the extra data handed over in them) stay out of the image.
    assert!(!files.iter().any(|(p, _)| p.starts_with("tmp/in_target.d/")));
}
