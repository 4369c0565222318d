//! A deploy's work directory (`apps/<app>/work/deploy-*`: the fetched source, buildpacks,
//! the upload archive) and sweeping those that a killed deploy left behind. A live one holds
//! an exclusive `flock` on its `.lock` for as long as it exists, released by the kernel when
//! its process dies, so the sweep at the next start never touches a deploy that is running
//! (another agent process, the daemon beside a CLI deploy).

use crate::state::layout;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

const PREFIX: &str = "deploy-";
const LOCK: &str = ".lock";
/// A work directory without its lock file is only that young while being created.
const UNLOCKED_GRACE: Duration = Duration::from_secs(60);

/// A work directory, removed on drop, locked while it lives.
pub struct WorkDir {
    dir: tempfile::TempDir,
    _lock: File,
}

impl WorkDir {
    /// Makes and locks a new work directory in `base`.
    pub fn create(base: &Path) -> std::io::Result<WorkDir> {
        std::fs::create_dir_all(base)?;
        let dir = tempfile::Builder::new().prefix(PREFIX).tempdir_in(base)?;
        let lock = File::create(dir.path().join(LOCK))?;
        if !try_lock(&lock) {
            return Err(std::io::Error::other("cannot lock a new work directory"));
        }
        Ok(WorkDir { dir, _lock: lock })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

fn try_lock(f: &File) -> bool {
    // SAFETY: flock on a descriptor we own; no memory is involved.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// Whether the work directory `dir` belongs to no live deploy.
fn is_stale(dir: &Path) -> bool {
    match File::open(dir.join(LOCK)) {
        Ok(f) => try_lock(&f),
        Err(_) => std::fs::metadata(dir)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > UNLOCKED_GRACE),
    }
}

/// Removes the work directories of dead deploys under every app's work directory of the state
/// directory `root`; returns those removed. Errors (a read-only state directory) leave things as
/// they are.
pub fn sweep(root: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(layout::apps(root)) else {
        return removed;
    };
    for app in entries.flatten() {
        let work = layout::app_work(root, &app.file_name().to_string_lossy());
        let Ok(works) = std::fs::read_dir(work) else {
            continue;
        };
        for w in works.flatten() {
            let path = w.path();
            let ours = w.file_name().to_string_lossy().starts_with(PREFIX);
            let is_dir = w.file_type().is_ok_and(|t| t.is_dir());
            if ours && is_dir && is_stale(&path) && std::fs::remove_dir_all(&path).is_ok() {
                removed.push(path);
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_directories_stay_dead_ones_go() {
        let d = tempfile::tempdir().unwrap();
        let base = layout::app_work(d.path(), "web");
        let live = WorkDir::create(&base).unwrap();
        std::fs::write(live.path().join("x"), "x").unwrap();
        // A killed deploy: its lock file exists, nobody holds it.
        let dead = base.join("deploy-dead");
        std::fs::create_dir_all(dead.join("src")).unwrap();
        File::create(dead.join(LOCK)).unwrap();
        // One being created this instant: no lock file yet, young.
        let young = base.join("deploy-young");
        std::fs::create_dir_all(&young).unwrap();
        let other = base.join("not-ours");
        std::fs::create_dir_all(&other).unwrap();
        assert_eq!(sweep(d.path()), vec![dead.clone()]);
        assert!(live.path().join("x").exists() && young.exists() && other.exists());
        let path = live.path().to_path_buf();
        drop(live);
        assert!(!path.exists());
    }
}
