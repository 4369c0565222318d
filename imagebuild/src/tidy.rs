//! What disk-image-create does to the tree after cleanup.d (its
//! `finalise_base`), so images of DIB's elements come out as DIB makes them:
//! whatever elements mounted below the tree (pip-cache, pypi) is unmounted,
//! `/tmp` is emptied, the files under `/var/log` are truncated and
//! `/root/**/*.log` deleted. Never follows a symlink out of the tree.

use crate::cmd::{self, CmdError};
use crate::mounts;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The tree could not be tidied.
#[derive(Debug, thiserror::Error)]
pub enum TidyError {
    #[error("unmounting what an element mounted below the tree: {0}")]
    Unmount(#[from] CmdError),
    #[error("tidying {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn ioe(path: &Path) -> impl FnOnce(std::io::Error) -> TidyError + '_ {
    move |source| TidyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A real directory of the tree (not a symlink), if there is one.
fn real_dir(root: &Path, rel: &str) -> Option<PathBuf> {
    let mut p = root.to_path_buf();
    for part in rel.split('/') {
        p.push(part);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {}
            _ => return None,
        }
    }
    Some(p)
}

/// Detach whatever is mounted below `dir` (not `dir` itself), deepest
/// first, as DIB's unmount_dir does for the mounts elements leave (`umount
/// -l`: gone from the tree at once). Returns what it took down.
pub fn unmount_below(dir: &Path) -> Result<Vec<PathBuf>, TidyError> {
    let mut left = mounts::mounts_below(dir);
    left.retain(|m| m != dir);
    left.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
    for m in &left {
        cmd::run(Command::new("umount").arg("-l").arg(m))?;
    }
    Ok(left)
}

/// Tidy the finished tree at `root` (nothing of the builder's own is
/// mounted there any more). Returns the mounts it took down.
pub fn tidy(root: &Path) -> Result<Vec<PathBuf>, TidyError> {
    let left = unmount_below(root)?;
    if let Some(tmp) = real_dir(root, "tmp") {
        for entry in fs::read_dir(&tmp).map_err(ioe(&tmp))? {
            let path = entry.map_err(ioe(&tmp))?.path();
            let meta = fs::symlink_metadata(&path).map_err(ioe(&path))?;
            if meta.is_dir() {
                fs::remove_dir_all(&path).map_err(ioe(&path))?;
            } else {
                fs::remove_file(&path).map_err(ioe(&path))?;
            }
        }
    }
    if let Some(log) = real_dir(root, "var/log") {
        for entry in walkdir::WalkDir::new(&log).follow_links(false) {
            let Ok(entry) = entry else { continue };
            if entry.file_type().is_file() {
                let f = fs::OpenOptions::new()
                    .write(true)
                    .open(entry.path())
                    .map_err(ioe(entry.path()))?;
                f.set_len(0).map_err(ioe(entry.path()))?;
            }
        }
    }
    if let Some(home) = real_dir(root, "root") {
        for entry in walkdir::WalkDir::new(&home).follow_links(false) {
            let Ok(entry) = entry else { continue };
            let is_log = entry.file_name().to_string_lossy().ends_with(".log");
            if entry.file_type().is_file() && is_log {
                fs::remove_file(entry.path()).map_err(ioe(entry.path()))?;
            }
        }
    }
    Ok(left)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmp_emptied_logs_truncated_and_links_not_followed() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        let outside = t.path().join("outside");
        fs::create_dir_all(root.join("tmp/sub")).unwrap();
        fs::create_dir_all(root.join("var/log/apt")).unwrap();
        fs::create_dir_all(root.join("root/.cache")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("keep.log"), "keep").unwrap();
        fs::write(root.join("tmp/sub/f"), "x").unwrap();
        fs::write(root.join("tmp/f"), "x").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("tmp/link")).unwrap();
        fs::write(root.join("var/log/apt/history.log"), "lots").unwrap();
        std::os::unix::fs::symlink(outside.join("keep.log"), root.join("var/log/link.log"))
            .unwrap();
        fs::write(root.join("root/.cache/pip.log"), "x").unwrap();
        fs::write(root.join("root/notes.txt"), "x").unwrap();
        let unmounted = tidy(&root).unwrap();
        assert!(unmounted.is_empty());
        assert_eq!(fs::read_dir(root.join("tmp")).unwrap().count(), 0);
        assert_eq!(
            fs::read(root.join("var/log/apt/history.log"))
                .unwrap()
                .len(),
            0
        );
        assert!(!root.join("root/.cache/pip.log").exists());
        assert!(root.join("root/notes.txt").exists());
        assert_eq!(
            fs::read_to_string(outside.join("keep.log")).unwrap(),
            "keep"
        );
        // /tmp as a link out of the tree is left alone.
        fs::remove_dir(root.join("tmp")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("tmp")).unwrap();
        tidy(&root).unwrap();
        assert!(outside.join("keep.log").exists());
    }
}
