//! Where long work (builds, stack images) reports its progress: a leaf module, so that every
//! stage can take a [`LogFn`] without depending on another stage.
//!
//! A spinner on a terminal for the agent's long steps of unknown length (making the stack
//! images: bootstrap, then import): the step and its elapsed time on the last line of stderr,
//! the log lines printed above it. Nothing is drawn when stderr is not a terminal (the daemon
//! under systemd, CI, a pipe): the log lines are then exactly what they were. Nothing here
//! writes to stdout, so `--json` output is never mixed with it.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

/// Where build output (compile logs, Docker build stream) goes, one line at a time.
/// The CLI prints it to stderr; the daemon keeps it for the deployment signal.
pub type LogFn = Arc<dyn Fn(&str) + Send + Sync>;

/// A spinner that clears itself when dropped.
pub struct Spinner(Option<ProgressBar>);

impl Spinner {
    /// Drawn only when stderr is a terminal.
    pub fn new(message: &str) -> Spinner {
        if std::io::stderr().is_terminal() {
            Spinner::drawn(message)
        } else {
            Spinner(None)
        }
    }

    /// Drawn whatever stderr is (for tests: indicatif itself hides it off a terminal).
    fn drawn(message: &str) -> Spinner {
        let bar = ProgressBar::new_spinner();
        if let Ok(s) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            bar.set_style(s);
        }
        bar.set_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        Spinner(Some(bar))
    }

    /// Whether it is drawn.
    pub fn shown(&self) -> bool {
        self.0.is_some()
    }

    /// A new step: its message, its elapsed time from zero.
    pub fn step(&self, message: &str) {
        if let Some(b) = &self.0 {
            b.set_message(message.to_string());
            b.reset_elapsed();
        }
    }

    /// `log`, with the spinner taken away while each line is written.
    pub fn wrap(&self, log: &LogFn) -> LogFn {
        match &self.0 {
            None => log.clone(),
            Some(bar) => {
                let (bar, log) = (bar.clone(), log.clone());
                Arc::new(move |line: &str| bar.suspend(|| log(line)))
            }
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(b) = self.0.take() {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn lines_pass_through_with_or_without_a_spinner() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let log: LogFn = Arc::new(move |l: &str| sink.lock().unwrap().push(l.to_string()));
        // Under `cargo test` stderr is captured, not a terminal: nothing drawn.
        let off = Spinner::new("bootstrap");
        assert!(!off.shown());
        off.wrap(&log)("one");
        let on = Spinner::drawn("bootstrap");
        assert!(on.shown());
        on.step("import");
        on.wrap(&log)("two");
        drop(on);
        assert_eq!(*seen.lock().unwrap(), vec!["one", "two"]);
    }
}
