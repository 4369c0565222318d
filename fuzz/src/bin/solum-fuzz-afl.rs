//! The afl.rs harness: `solum-fuzz-afl TARGET` runs one target under afl-fuzz (persistent
//! mode); `solum-fuzz-afl TARGET --replay FILE...` runs inputs once each, outside afl, and
//! prints the time and peak RSS of each.
//!
//! afl-fuzz cannot see the memory of a persistent-mode target (its children are not its own),
//! so with `SOLUM_FUZZ_PEAK_RSS=FILE` the harness writes its own peak RSS in KiB to FILE
//! whenever it grows (`scripts/fuzz.sh` reports it).

use std::path::PathBuf;

/// This process's peak resident set in KiB.
fn peak_rss_kib() -> i64 {
    // SAFETY: getrusage only writes into the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0;
    }
    usage.ru_maxrss
}

/// Keeps FILE at the largest peak RSS any run of the harness reached.
struct PeakRss {
    file: Option<PathBuf>,
    written: i64,
}

impl PeakRss {
    fn from_env() -> Self {
        let file = std::env::var_os("SOLUM_FUZZ_PEAK_RSS").map(PathBuf::from);
        let written = file
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        PeakRss { file, written }
    }

    fn update(&mut self) {
        let Some(file) = &self.file else { return };
        let now = peak_rss_kib();
        if now > self.written {
            self.written = now;
            let _ = std::fs::write(file, format!("{now}\n"));
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(target) = args.first().and_then(|n| solum_fuzz::find(n)) else {
        eprintln!("usage: solum-fuzz-afl TARGET [--replay FILE...]; targets:");
        for t in solum_fuzz::TARGETS {
            eprintln!("  {:18} {}", t.name, t.about);
        }
        std::process::exit(2);
    };
    if args.get(1).map(String::as_str) == Some("--replay") {
        for f in &args[2..] {
            let data = std::fs::read(f).unwrap_or_else(|e| panic!("{f}: {e}"));
            let start = std::time::Instant::now();
            (target.run)(&data);
            eprintln!(
                "{f}: {} bytes, {:?}, peak RSS {} KiB",
                data.len(),
                start.elapsed(),
                peak_rss_kib()
            );
        }
        return;
    }
    let mut peak = PeakRss::from_env();
    afl::fuzz_nohook!(|data: &[u8]| {
        (target.run)(data);
        peak.update();
    });
}
