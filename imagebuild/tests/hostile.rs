//! Issue 11's reproductions against `solum-image`: element files and Butane written to cost
//! gigabytes or minutes. Each must be refused in under 5 s and 256 MiB (measured on the
//! child like `/usr/bin/time -v`) with an error naming the file.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use solum_tests::measure::{self, Measured};

const BIN: &str = env!("CARGO_BIN_EXE_solum-image");

fn elements() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/elements")
}

/// `s: &s <500,000 A>` then `n` keys each an alias of it.
fn alias_fanout(n: usize) -> String {
    let mut text = format!("s: &s {}\n", "A".repeat(500_000));
    for i in 0..n {
        text.push_str(&format!("p{i}: *s\n"));
    }
    text
}

fn deep_flow(depth: usize) -> String {
    format!("{}{}\n", "[".repeat(depth), "]".repeat(depth))
}

/// `solum-image build --dry-run debian-minimal test-hostile` with `file` holding `text` in the
/// element; returns the run and the file's path.
fn dry_run_with(file: &str, text: &str) -> (Measured, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let el = dir.path().join("test-hostile");
    std::fs::create_dir_all(&el).expect("element dir");
    let path = el.join(file);
    std::fs::write(&path, text).expect("write");
    let search = format!("{}:{}", dir.path().display(), elements().display());
    let m = measure::run(
        Command::new(BIN)
            .args(["build", "-o"])
            .arg(dir.path().join("out"))
            .args(["-n", "--dry-run", "debian-minimal", "test-hostile"])
            .env("ELEMENTS_PATH", search),
        Duration::from_secs(60),
    );
    (m, path, dir)
}

fn assert_refused(m: &Measured, file: &Path, what: &str) {
    assert_ne!(m.code, Some(0), "accepted:\n{}", m.stdout);
    assert!(
        m.stderr.contains(&file.display().to_string()),
        "the error does not name {}:\n{}",
        file.display(),
        m.stderr
    );
    assert!(
        m.stderr.contains(what),
        "the error lacks {what:?}:\n{}",
        m.stderr
    );
    m.assert_within_budget();
}

#[test]
fn package_installs_alias_fanout_of_a_long_scalar_is_refused() {
    // 430 KB that expanded to about 1 GB before.
    let (m, file, _d) = dry_run_with("package-installs.yaml", &alias_fanout(16_000));
    assert_refused(&m, &file, "an alias counts by what it expands to");
}

#[test]
fn package_installs_deep_flow_nesting_is_refused() {
    let (m, file, _d) = dry_run_with("package-installs.yaml", &deep_flow(100_000));
    assert_refused(&m, &file, "nested deeper than 128 levels at line 1");
}

#[test]
fn package_installs_json_deep_nesting_is_refused() {
    let (m, file, _d) = dry_run_with("package-installs.json", &deep_flow(100_000));
    assert_refused(&m, &file, "nested deeper than 128 levels at line 1");
}

#[test]
fn package_name_that_is_a_path_is_refused() {
    let (m, file, _d) = dry_run_with("package-installs.yaml", "../../../etc/passwd:\n");
    assert_refused(&m, &file, "bad package name '../../../etc/passwd'");
    let m = measure::run(
        Command::new(BIN)
            .args(["build", "-o", "/nonexistent/out", "--dry-run", "-p"])
            .args(["../../../etc/passwd", "debian-minimal"])
            .env("ELEMENTS_PATH", elements()),
        Duration::from_secs(60),
    );
    assert_ne!(m.code, Some(0), "accepted:\n{}", m.stdout);
    assert!(
        m.stderr
            .contains("bad package name '../../../etc/passwd' (from -p)"),
        "{}",
        m.stderr
    );
}

#[test]
fn huge_element_file_is_refused_unread() {
    let (m, file, _d) = dry_run_with("element-deps", &"debian-minimal\n".repeat((2 << 20) / 15));
    assert_refused(&m, &file, "larger than the 1048576 byte limit");
}

fn butane(text: &str) -> (Measured, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let bu = dir.path().join("config.bu");
    std::fs::write(&bu, text).expect("write");
    let m = measure::run(
        Command::new(BIN)
            .args(["ignition", "--butane"])
            .arg(&bu)
            .arg("-o")
            .arg(dir.path().join("config.ign")),
        Duration::from_secs(60),
    );
    (m, bu, dir)
}

#[test]
fn butane_alias_fanout_of_a_long_scalar_is_refused() {
    // Took `solum-image ignition --butane` to 2.35 GB before.
    let mut text = format!(
        "variant: fcos\nversion: 1.4.0\nx: &s {}\nkernel_arguments:\n  should_exist:\n",
        "A".repeat(500_000)
    );
    for _ in 0..20_000 {
        text.push_str("    - *s\n");
    }
    let (m, file, _d) = butane(&text);
    assert_refused(&m, &file, "an alias counts by what it expands to");
}

#[test]
fn butane_deep_flow_nesting_is_refused() {
    let text = format!("variant: fcos\nversion: 1.4.0\nx: {}", deep_flow(100_000));
    let (m, file, _d) = butane(&text);
    assert_refused(&m, &file, "nested deeper than 128 levels at line 3");
}
