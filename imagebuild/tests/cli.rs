//! solum-image's command line with the real tools: the man pages its build script made,
//! rendered by `man -l`; the bash completion run by bash (`build -t` offers the output types);
//! the final error line in the journal's form.

use std::path::{Path, PathBuf};
use std::process::Command;

use solum_tests::cli::{bash_complete, man};
use solum_tests::require_program;

const IMAGE: &str = env!("CARGO_BIN_EXE_solum-image");

fn share() -> PathBuf {
    Path::new(env!("OUT_DIR")).join("share")
}

#[test]
fn man_renders_every_page() {
    require_program("man");
    let dir = share().join("man/man1");
    let found = solum_tests::sorted_names(&dir);
    assert_eq!(
        found,
        [
            "solum-image-boot.1",
            "solum-image-build.1",
            "solum-image-ignition.1",
            "solum-image-upload.1",
            "solum-image.1"
        ]
    );
    for page in &found {
        let shown = man(&dir.join(page));
        assert!(
            shown.contains("NAME") && shown.contains("SYNOPSIS"),
            "{page}: {shown}"
        );
    }
    let main = man(&dir.join("solum-image.1"));
    for sub in ["boot", "build", "ignition", "upload"] {
        assert!(main.contains(&format!("solum-image-{sub}(1)")), "{main}");
    }
    let build = man(&dir.join("solum-image-build.1"));
    assert!(
        build.contains("qcow2") && build.contains("ELEMENT"),
        "{build}"
    );
}

#[test]
fn bash_completion_of_build_t_offers_the_output_types() {
    require_program("bash");
    let script = share().join("bash-completion/completions/solum-image");
    let mut types = bash_complete(&script, &["solum-image", "build", "-t", ""]);
    types.sort();
    assert_eq!(types, ["docker", "qcow2", "raw", "tar", "vagrant"]);
    assert_eq!(
        bash_complete(&script, &["solum-image", "build", "-o", "x", "-t", "q"]),
        ["qcow2"]
    );
    let mut subs = bash_complete(&script, &["solum-image", "b"]);
    subs.sort();
    assert_eq!(subs, ["boot", "build"]);
    let flags = bash_complete(&script, &["solum-image", "upload", "--vis"]);
    assert_eq!(flags, ["--visibility"]);
}

#[test]
fn errors_carry_the_error_priority_in_the_journal() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr");
    let file = std::fs::File::create(&log).unwrap();
    let meta = file.metadata().unwrap();
    let out = Command::new(IMAGE)
        .args(["upload", "/nonexistent/image.qcow2"])
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .stderr(file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = std::fs::read_to_string(&log).unwrap();
    assert!(err.starts_with("<3>solum-image: error: "), "{err}");
    assert!(err.lines().all(|l| l.starts_with("<3>")), "{err}");
    // Elsewhere: the plain line.
    let out = Command::new(IMAGE)
        .args(["upload", "/nonexistent/image.qcow2"])
        .env_remove("JOURNAL_STREAM")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("solum-image: error: "), "{err}");
    assert!(!err.contains('\u{1b}'), "{err:?}");
}
