//! `tree_hash`: one sha256 over a directory tree that ignores mtimes, owners and `.git`, and
//! covers relative paths, entry types, the executable bit, file contents and symlink targets.

use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use sha2::{Digest, Sha256};
use walkdir::WalkDir;

/// A sha256 (hex) over the tree: sorted relative paths, file modes, contents and link targets,
/// `.git` excluded. Same tree, same hash, whatever the mtimes.
pub fn tree_hash(dir: &Path) -> io::Result<String> {
    tree_hash_except(dir, None)
}

/// `tree_hash` leaving out one file given by its path relative to `dir` (the Planfile that
/// was deployed from inside its own source: what the build takes from it is keyed apart, so
/// a change of e.g. `instances` alone is not a new build).
pub fn tree_hash_except(dir: &Path, except: Option<&Path>) -> io::Result<String> {
    let mut h = Sha256::new();
    let walk = WalkDir::new(dir)
        .follow_links(false)
        .sort_by_file_name()
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".git");
    for entry in walk {
        let entry = entry.map_err(io::Error::other)?;
        let rel = entry.path().strip_prefix(dir).map_err(io::Error::other)?;
        let ft = entry.file_type();
        if ft.is_file() && except == Some(rel) {
            continue;
        }
        // Each record: a type tag, the length-prefixed path, then type-specific data.
        if ft.is_dir() {
            record(&mut h, b'd', rel.as_os_str().as_bytes());
        } else if ft.is_symlink() {
            record(&mut h, b'l', rel.as_os_str().as_bytes());
            let target = std::fs::read_link(entry.path())?;
            field(&mut h, target.as_os_str().as_bytes());
        } else if ft.is_file() {
            let exec = entry
                .metadata()
                .map_err(io::Error::other)?
                .permissions()
                .mode()
                & 0o111
                != 0;
            record(
                &mut h,
                if exec { b'x' } else { b'f' },
                rel.as_os_str().as_bytes(),
            );
            let mut content = Sha256::new();
            io::copy(&mut File::open(entry.path())?, &mut content)?;
            h.update(content.finalize());
        } else {
            record(&mut h, b'o', rel.as_os_str().as_bytes());
        }
    }
    Ok(hex::encode(h.finalize()))
}

fn record(h: &mut Sha256, tag: u8, path: &[u8]) {
    h.update([tag]);
    field(h, path);
}

fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    fn make(root: &Path) {
        fs::create_dir_all(root.join("src/sub")).unwrap();
        fs::write(root.join("README"), "hi").unwrap();
        fs::write(root.join("src/main.py"), "print(1)").unwrap();
        fs::write(root.join("run.sh"), "#!/bin/sh").unwrap();
        fs::set_permissions(root.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        symlink("../README", root.join("src/link")).unwrap();
    }

    fn hash(root: &Path) -> String {
        tree_hash(root).unwrap()
    }

    #[test]
    fn same_tree_same_hash_and_changes_change_it() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        make(a.path());
        std::thread::sleep(std::time::Duration::from_millis(20));
        make(b.path());
        let base = hash(a.path());
        assert_eq!(base.len(), 64);
        assert_eq!(base, hash(b.path()), "same tree, other mtimes");

        // .git is ignored.
        fs::create_dir_all(b.path().join(".git/objects")).unwrap();
        fs::write(b.path().join(".git/HEAD"), "ref").unwrap();
        assert_eq!(base, hash(b.path()));

        // Non-exec mode bits are ignored, the exec bit is not.
        fs::set_permissions(b.path().join("README"), fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(base, hash(b.path()));
        fs::set_permissions(b.path().join("README"), fs::Permissions::from_mode(0o700)).unwrap();
        let mode_changed = hash(b.path());
        assert_ne!(base, mode_changed);
        fs::set_permissions(b.path().join("README"), fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(base, hash(b.path()));

        fs::write(b.path().join("src/main.py"), "print(2)").unwrap();
        assert_ne!(base, hash(b.path()), "content change");
        fs::write(b.path().join("src/main.py"), "print(1)").unwrap();

        fs::rename(b.path().join("src/main.py"), b.path().join("src/app.py")).unwrap();
        assert_ne!(base, hash(b.path()), "rename");
        fs::rename(b.path().join("src/app.py"), b.path().join("src/main.py")).unwrap();
        assert_eq!(base, hash(b.path()));

        fs::remove_file(b.path().join("src/link")).unwrap();
        symlink("../run.sh", b.path().join("src/link")).unwrap();
        assert_ne!(base, hash(b.path()), "symlink target");
        fs::remove_file(b.path().join("src/link")).unwrap();
        symlink("../README", b.path().join("src/link")).unwrap();

        fs::create_dir(b.path().join("empty")).unwrap();
        assert_ne!(base, hash(b.path()), "empty dir");
    }

    #[test]
    fn missing_dir_is_an_error() {
        assert!(tree_hash(Path::new("/nonexistent/solum-test-dir")).is_err());
    }
}
