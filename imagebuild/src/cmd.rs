//! The image builder's side of `solum_edge::cmd`, the one command runner: errors carry the
//! whole command line and the tail of its output. Streamed commands show their output on
//! stderr behind a prefix and, on SIGINT/SIGTERM/SIGHUP, get SIGTERM for their whole process
//! group, then SIGKILL after 10 s.

use std::process::Command;
use std::time::Duration;

pub use solum_edge::cmd::{
    describe, failed, last_lines, quote, run, run_reporting, status_text, CmdError,
};
use solum_edge::cmd::{run_streamed_blocking, Streamed};

/// How long an interrupted command's group gets after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Every line to stderr behind `prefix`, above the progress line when one is drawn.
pub fn to_progress(prefix: &str) -> impl Fn(&str) + Send + Sync + '_ {
    move |line: &str| crate::progress::line(&format!("{prefix}{line}"))
}

/// Run with stdout and stderr streamed to our stderr (prefixed), keeping
/// the last `keep` lines for the error.
pub fn run_streamed(cmd: Command, prefix: &str, keep: usize) -> Result<(), CmdError> {
    run_streamed_hiding(cmd, prefix, keep, &[])
}

/// `run_streamed`, with every occurrence of the `secrets` replaced by `***`
/// in what is shown and kept (a build's passwords never reach its log).
pub fn run_streamed_hiding(
    cmd: Command,
    prefix: &str,
    keep: usize,
    secrets: &[String],
) -> Result<(), CmdError> {
    let line = to_progress(prefix);
    run_streamed_blocking(
        cmd,
        &Streamed {
            line: &line,
            keep,
            secrets,
            grace: STOP_GRACE,
            private_mounts: false,
        },
    )
}
