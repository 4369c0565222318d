//! Progress on a terminal: one line at the bottom of stderr, a spinner with
//! the current step and its elapsed time where the length of the work is
//! unknown (the base tree, each phase script, tidying), a bar where it is
//! known (writing the disk, the qcow2, the tar, the box). Every log line
//! goes through `line`, printed above the progress line. Off unless `enable`
//! is called (the binary does so when stderr is a terminal): then nothing
//! is drawn and `line` is a plain `eprintln!`, so logs and CI see exactly the
//! lines they saw before.

use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

static ENABLED: AtomicBool = AtomicBool::new(false);
static CURRENT: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Draw progress from now on (call only when stderr is a terminal).
pub fn enable() {
    ENABLED.store(true, Ordering::SeqCst);
}

/// Whether progress is drawn.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::SeqCst)
}

fn current() -> std::sync::MutexGuard<'static, Option<ProgressBar>> {
    CURRENT.lock().unwrap_or_else(|e| e.into_inner())
}

fn replace(bar: Option<ProgressBar>) {
    if let Some(old) = std::mem::replace(&mut *current(), bar) {
        old.finish_and_clear();
    }
}

/// A log line: above the progress line when one is drawn, else on stderr.
pub fn line(text: &str) {
    match current().as_ref() {
        Some(bar) => bar.println(text),
        None => eprintln!("{text}"),
    }
}

/// A writer for log records (tracing's): each record, written whole and then
/// dropped, becomes one `line` (above the progress line when one is drawn).
#[derive(Default)]
pub struct LineWriter(Vec<u8>);

impl std::io::Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let text = text.strip_suffix('\n').unwrap_or(&text);
        if !text.is_empty() {
            line(text);
        }
    }
}

/// A spinner for a step of unknown length: `⠋ MESSAGE 12s`.
pub fn step(message: &str) {
    if !enabled() {
        return;
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(s) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
        bar.set_style(s);
    }
    bar.set_message(message.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    replace(Some(bar));
}

/// Clear the progress line (the end of a build, or before its summary).
pub fn clear() {
    replace(None);
}

/// A bar over `total` units (bytes unless said otherwise).
fn bar(message: &str, total: u64, template: &str) -> Option<ProgressBar> {
    if !enabled() {
        return None;
    }
    let bar = ProgressBar::new(total.max(1));
    if let Ok(s) = ProgressStyle::with_template(template) {
        bar.set_style(s.progress_chars("=> "));
    }
    bar.set_message(message.to_string());
    bar.enable_steady_tick(Duration::from_millis(200));
    replace(Some(bar.clone()));
    Some(bar)
}

/// A percentage bar; `set` moves it (0.0..=100.0).
pub struct Percent(Option<ProgressBar>);

impl Percent {
    pub fn new(message: &str) -> Percent {
        Percent(bar(
            message,
            1000,
            "{msg} [{bar:30}] {percent:>3}% {elapsed} eta {eta}",
        ))
    }

    pub fn set(&self, percent: f64) {
        if let Some(b) = &self.0 {
            b.set_position((percent.clamp(0.0, 100.0) * 10.0) as u64);
        }
    }
}

/// How a watched file's size is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// Its length (a file written from start to end).
    Length,
    /// The bytes allocated to it (a sparse file written in place).
    Allocated,
}

/// A bar that follows a file being written by something else (a command):
/// its size against the `total` expected, polled until dropped.
pub struct FileBar {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FileBar {
    pub fn new(message: &str, path: &Path, total: u64, measure: Measure) -> FileBar {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = bar(
            message,
            total,
            "{msg} [{bar:30}] {bytes}/{total_bytes} {elapsed} eta {eta}",
        )
        .map(|b| {
            let (stop, path): (_, PathBuf) = (Arc::clone(&stop), path.to_path_buf());
            std::thread::spawn(move || loop {
                // One last look after the stop, so the bar ends where the file did.
                let last = stop.load(Ordering::SeqCst);
                if let Ok(m) = std::fs::metadata(&path) {
                    b.set_position(file_size(&m, measure).min(b.length().unwrap_or(0)));
                }
                if last {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            })
        });
        FileBar { stop, thread }
    }
}

fn file_size(m: &std::fs::Metadata, measure: Measure) -> u64 {
    use std::os::unix::fs::MetadataExt;
    match measure {
        Measure::Length => m.len(),
        Measure::Allocated => m.blocks() * 512,
    }
}

impl Drop for FileBar {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The apparent size of a directory tree's files (what a tar of it holds,
/// near enough), for a bar's total; only walked when progress is drawn.
pub fn tree_bytes(dir: &Path) -> u64 {
    if !enabled() {
        return 0;
    }
    walkdir::WalkDir::new(dir)
        .same_file_system(true)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len().div_ceil(512) * 512 + 512)
        .sum()
}

/// qemu-img's `-p` output: the last `(NN.NN/100%)` in a chunk (pure).
pub fn qemu_img_percent(chunk: &str) -> Option<f64> {
    let start = chunk.rfind('(')?;
    let rest = &chunk[start + 1..];
    let end = rest.find("/100%)")?;
    rest[..end].trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_img_progress_is_read() {
        assert_eq!(qemu_img_percent("    (12.50/100%)\r"), Some(12.5));
        assert_eq!(
            qemu_img_percent("    (0.00/100%)\r    (100.00/100%)\r"),
            Some(100.0)
        );
        assert_eq!(qemu_img_percent("nothing"), None);
        assert_eq!(qemu_img_percent("(x/100%)"), None);
    }

    #[test]
    fn off_by_default_and_lines_still_print() {
        // Not enabled in tests: nothing drawn, no walk.
        assert!(!enabled());
        step("ignored");
        assert!(current().is_none());
        assert_eq!(tree_bytes(Path::new("/")), 0);
        line("a plain line");
        let f = FileBar::new("x", Path::new("/nonexistent"), 10, Measure::Length);
        assert!(f.thread.is_none());
    }
}
