//! The corpus (tests/corpus/{valid,invalid,stricter}/*.ign) through our validator and through
//! Ignition's `ignition-validate`: they must agree on valid/invalid for every file, except
//! `stricter/`, where only we reject (embedded contents vs their hash). ignition-validate 2.14
//! knows 3.4.0 only as "3.4.0-experimental", so 3.4.0 configs are rewritten for its run.

mod common;

use std::path::{Path, PathBuf};

fn corpus(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("reading {}: {e}", root.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "ign"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", root.display());
    files
}

fn ours(bytes: &[u8]) -> bool {
    solum_ignition::check(bytes).is_ok_and(|r| !r.is_fatal())
}

/// Runs every file of `dir`; `expect` = (our verdict, ignition-validate's verdict).
fn check(dir: &str, expect: (bool, bool)) {
    let mut wrong = Vec::new();
    for path in corpus(dir) {
        let bytes = std::fs::read(&path).expect("reading corpus file");
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if ours(&bytes) != expect.0 {
            wrong.push(format!("{name}: ours says valid={}", !expect.0));
        }
        let (theirs, _) = common::ignition_validate(&bytes);
        if theirs != expect.1 {
            wrong.push(format!("{name}: ignition-validate says valid={theirs}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{dir}: disagreements:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn valid_configs_are_valid_for_both() {
    check("valid", (true, true));
}

#[test]
fn invalid_configs_are_invalid_for_both() {
    check("invalid", (false, false));
}

#[test]
fn stricter_configs_are_rejected_only_by_us() {
    check("stricter", (false, true));
}
