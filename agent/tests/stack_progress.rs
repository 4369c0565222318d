//! `solum-agent stack build` on a terminal: a spinner names the step (bootstrap, then import)
//! and its elapsed time below the log lines. Run under a pseudo-terminal (util-linux `script`)
//! with the real mmdebstrap and Docker, under image tags of its own (the shared
//! `solum/stack-*` images and the services image are never touched: `--no-services`).

use std::process::Command;

use solum_tests::{require_docker, require_program, require_root, unique_name};

/// Removes this test's images.
struct Images(Vec<String>);

impl Drop for Images {
    fn drop(&mut self) {
        for image in &self.0 {
            let _ = Command::new("docker").args(["rmi", "-f", image]).output();
        }
    }
}

#[test]
fn stack_build_shows_the_step_and_its_time_on_a_terminal() {
    require_root();
    require_docker();
    require_program("mmdebstrap");
    require_program("script");
    let tag = unique_name("progress");
    let (build, run) = (
        format!("solum-test/{tag}-build:bookworm"),
        format!("solum-test/{tag}-run:bookworm"),
    );
    let _images = Images(vec![build.clone(), run.clone()]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = solum_tests::stack_test_config(dir.path(), &tag);
    let line = format!(
        "'{}' --config '{}' stack build --no-services",
        env!("CARGO_BIN_EXE_solum-agent"),
        cfg.display()
    );
    let typescript = dir.path().join("typescript");
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &line])
        .arg(&typescript)
        .env("TMPDIR", dir.path().join("tmp"))
        .output()
        .expect("script (util-linux)");
    let shown = String::from_utf8_lossy(&std::fs::read(&typescript).unwrap()).into_owned();
    assert!(out.status.success(), "stack build failed:\n{shown}");
    for image in [&run, &build] {
        for step in [
            format!("{image}: bootstrap (bookworm) "),
            format!("{image}: import "),
        ] {
            assert!(shown.contains(&step), "no spinner for '{step}':\n{shown}");
        }
    }
    // The elapsed time moves while mmdebstrap works (seconds, at least).
    assert!(
        shown.contains(&format!("{run}: bootstrap (bookworm) 1s"))
            || shown.contains(&format!("{run}: bootstrap (bookworm) 2s")),
        "{shown}"
    );
    // The log lines are still there, whole.
    assert!(
        shown.contains(&format!("-----> importing {run}\r\n")),
        "{shown}"
    );
    // The images are the images a plain run makes.
    for image in [&run, &build] {
        let o = Command::new("docker")
            .args(["image", "inspect", image])
            .output()
            .unwrap();
        assert!(o.status.success(), "{image} missing");
    }
}
