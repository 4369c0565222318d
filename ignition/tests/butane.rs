//! Butane samples (tests/butane/*.bu) converted with `butane_to_ignition`, with `local` files
//! read from the same directory; the Ignition JSON must be valid for us and for
//! `ignition-validate` (which must be installed).

mod common;

use std::path::{Path, PathBuf};

use solum_ignition::butane::check_local_name;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/butane")
}

fn convert(name: &str) -> String {
    let yaml = std::fs::read_to_string(dir().join(name)).expect("reading sample");
    let resolve = |local: &str| {
        check_local_name(local)?;
        std::fs::read(dir().join(local)).map_err(|e| e.to_string())
    };
    let (cfg, warnings) = solum_ignition::butane_to_ignition(&yaml, &resolve)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(warnings.is_empty(), "{name}: {warnings:?}");
    solum_ignition::to_json_pretty(&cfg)
}

fn check(name: &str, version: &str, must_contain: &[&str]) {
    let json = convert(name);
    assert!(
        json.contains(&format!("\"version\": \"{version}\"")),
        "{json}"
    );
    for s in must_contain {
        assert!(json.contains(s), "{name}: {s:?} not in\n{json}");
    }
    let ours = solum_ignition::check(json.as_bytes()).expect("parses");
    assert!(!ours.is_fatal(), "{ours}");
    let (valid, stderr) = common::ignition_validate(json.as_bytes());
    assert!(
        !stderr.contains("warning"),
        "ignition-validate warned:\n{stderr}"
    );
    assert!(
        valid,
        "ignition-validate rejects the output of {name}:\n{json}"
    );
}

#[test]
fn webapp_sample() {
    check(
        "webapp.bu",
        "3.3.0",
        &[
            "\"mode\": 493",
            "\"compression\": \"gzip\"",
            "\"name\": \"autologin.conf\"",
            "--autologin core",
            "console=ttyS0",
        ],
    );
}

#[test]
fn minimal_1_0_sample() {
    check("minimal-1.0.bu", "3.0.0", &["\"source\": \"data:,box1\""]);
}

#[test]
fn spec_3_4_sample() {
    check("hello-1.5.bu", "3.4.0", &["\"mode\": 493"]);
}
