//! The CI regression check of the fuzz targets: every file of `corpus/<target>/` (the seeds and
//! every input a fuzzer found) goes through its target once more, and must return without a
//! panic within 1 s. The fuzzers themselves run in `scripts/fuzz.sh`.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The per-input limit afl-fuzz runs with (`-t 1000`), here for unoptimized test builds.
const LIMIT: Duration = Duration::from_secs(1);

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// Runs one input in its own thread: `Err` names a panic or an input over the limit.
fn replay(target: &'static solum_fuzz::Target, file: &Path) -> Result<Duration, String> {
    let data = std::fs::read(file).map_err(|e| format!("cannot read: {e}"))?;
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    std::thread::Builder::new()
        .name(format!("{}:{}", target.name, file.display()))
        .spawn(move || {
            let r = std::panic::catch_unwind(|| (target.run)(&data));
            let _ = tx.send(r.is_ok());
        })
        .map_err(|e| format!("cannot start a thread: {e}"))?;
    match rx.recv_timeout(LIMIT) {
        Ok(true) => Ok(start.elapsed()),
        Ok(false) => Err("panicked (message above)".into()),
        Err(_) => Err(format!("still running after {LIMIT:?}")),
    }
}

#[test]
fn every_corpus_input_passes_its_target_within_a_second() {
    // Panics print their message only: capturing a backtrace (RUST_BACKTRACE=1) costs a debug
    // build hundreds of milliseconds, on inputs whose panic the parser catches too.
    std::panic::set_hook(Box::new(|info| eprintln!("{info}")));
    let mut failures = Vec::new();
    let mut count = 0;
    for target in solum_fuzz::TARGETS {
        for file in files(&corpus().join(target.name)) {
            count += 1;
            match replay(target, &file) {
                Ok(took) => eprintln!("{} {}: {took:?}", target.name, file.display()),
                Err(why) => failures.push(format!("{} {}: {why}", target.name, file.display())),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} inputs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(count >= solum_fuzz::TARGETS.len());
}

#[test]
fn every_target_has_seeds_and_every_corpus_a_target() {
    for target in solum_fuzz::TARGETS {
        let seeds = files(&corpus().join(target.name));
        assert!(!seeds.is_empty(), "corpus/{} has no seed", target.name);
    }
    for dir in std::fs::read_dir(corpus()).expect("corpus/") {
        let name = dir.expect("an entry").file_name();
        let name = name.to_string_lossy();
        assert!(
            solum_fuzz::find(&name).is_some(),
            "corpus/{name} belongs to no target"
        );
    }
}
