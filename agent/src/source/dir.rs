//! Copying a local source directory: modes kept, symlinks copied as symlinks and never
//! followed, `.git` left out, special files (sockets, fifos, devices) skipped.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use walkdir::WalkDir;

use super::SourceError;

/// Copies the tree at `src` into the existing empty directory `dest`. `skip` (the staging
/// directory, when it lies inside `src`) is not copied.
pub(super) fn copy_tree(src: &Path, dest: &Path, skip: &Path) -> Result<(), SourceError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source: std::io::Error| SourceError::Io { path, source }
    };
    let meta = fs::metadata(src).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            SourceError::Invalid(format!("source directory {} does not exist", src.display()))
        }
        _ => SourceError::Io {
            path: src.to_path_buf(),
            source: e,
        },
    })?;
    if !meta.is_dir() {
        return Err(SourceError::Invalid(format!(
            "source {} is not a directory",
            src.display()
        )));
    }
    let src = fs::canonicalize(src).map_err(io(src))?;
    let skip = fs::canonicalize(skip).unwrap_or_else(|_| skip.to_path_buf());
    let walk = WalkDir::new(&src)
        .follow_links(false)
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".git" && e.path() != skip);
    for entry in walk {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(&src).to_path_buf();
            SourceError::Io {
                path,
                source: e.into(),
            }
        })?;
        let rel = entry
            .path()
            .strip_prefix(&src)
            .map_err(|e| SourceError::Other(e.to_string()))?;
        let to = dest.join(rel);
        let ft = entry.file_type();
        if ft.is_dir() {
            fs::create_dir(&to).map_err(io(&to))?;
            let mode = entry
                .metadata()
                .map_err(|e| SourceError::Io {
                    path: entry.path().into(),
                    source: e.into(),
                })?
                .permissions()
                .mode();
            // Owner keeps rwx so the tree can be filled and removed again.
            fs::set_permissions(&to, fs::Permissions::from_mode((mode & 0o777) | 0o700))
                .map_err(io(&to))?;
        } else if ft.is_symlink() {
            let target = fs::read_link(entry.path()).map_err(io(entry.path()))?;
            symlink(&target, &to).map_err(io(&to))?;
        } else if ft.is_file() {
            // fs::copy copies the permission bits too.
            fs::copy(entry.path(), &to).map_err(io(entry.path()))?;
        } else {
            tracing::warn!(path = %entry.path().display(), "skipping special file (socket, fifo or device) in source directory");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn copies_modes_and_links_without_git() {
        let src = tempfile::tempdir().unwrap();
        let s = src.path();
        fs::create_dir_all(s.join("bin")).unwrap();
        fs::create_dir_all(s.join(".git/refs")).unwrap();
        fs::write(s.join(".git/HEAD"), "x").unwrap();
        fs::write(s.join("bin/run"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(s.join("bin/run"), fs::Permissions::from_mode(0o750)).unwrap();
        symlink("/etc/passwd", s.join("outside")).unwrap();
        symlink("bin/run", s.join("inside")).unwrap();
        let out = tempfile::tempdir().unwrap();
        copy_tree(s, out.path(), Path::new("/nonexistent")).unwrap();
        let d = out.path();
        assert!(!d.join(".git").exists());
        assert_eq!(
            fs::read_to_string(d.join("bin/run")).unwrap(),
            "#!/bin/sh\n"
        );
        assert_eq!(
            fs::metadata(d.join("bin/run"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o750
        );
        assert_eq!(
            fs::read_link(d.join("outside")).unwrap(),
            Path::new("/etc/passwd")
        );
        assert!(fs::symlink_metadata(d.join("outside"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            fs::read_link(d.join("inside")).unwrap(),
            Path::new("bin/run")
        );
        assert_eq!(
            super::super::tree_hash(s).unwrap(),
            super::super::tree_hash(d).unwrap()
        );
    }

    #[test]
    fn missing_source_is_clear() {
        let out = tempfile::tempdir().unwrap();
        let err =
            copy_tree(Path::new("/nonexistent/solum-src"), out.path(), out.path()).unwrap_err();
        assert!(
            err.to_string()
                .contains("source directory /nonexistent/solum-src does not exist"),
            "{err}"
        );
    }
}
