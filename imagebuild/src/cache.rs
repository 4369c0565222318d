//! The image cache under DIB_IMAGE_CACHE: the apt archive per release, base
//! trees keyed by (release, arch, variant, packages, mirror), final trees
//! keyed by plan hash; files appear only complete (temp name + rename) and
//! makers hold an exclusive lock so concurrent builds do not collide.

use crate::plan::RootTree;
use sha2::{Digest, Sha256};
use std::fs;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// A cache directory problem.
#[derive(Debug, thiserror::Error)]
#[error("image cache {path}: {source}")]
pub struct CacheError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

fn cerr(path: &Path) -> impl FnOnce(std::io::Error) -> CacheError + '_ {
    move |source| CacheError {
        path: path.to_path_buf(),
        source,
    }
}

/// The cache layout.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

/// An exclusive flock held until dropped.
#[derive(Debug)]
pub struct Lock {
    _file: fs::File,
}

/// The cache key of a Debian base tree (pure).
pub fn base_key(tree: &RootTree) -> String {
    let json = serde_json::to_string(tree).unwrap_or_default();
    let mut h = Sha256::new();
    h.update(b"solum-image base v2\0");
    h.update(json.as_bytes());
    hex::encode(h.finalize())[..16].to_string()
}

impl Cache {
    pub fn new(root: &Path) -> Cache {
        Cache {
            root: root.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self, rel: &str) -> Result<PathBuf, CacheError> {
        let d = self.root.join(rel);
        fs::create_dir_all(&d).map_err(cerr(&d))?;
        Ok(d)
    }

    /// The apt archive directory for a release and arch.
    pub fn apt_archives(&self, release: &str, arch: &str) -> Result<PathBuf, CacheError> {
        let d = self.dir(&format!("apt/{release}-{arch}"))?;
        fs::create_dir_all(d.join("partial")).map_err(cerr(&d))?;
        Ok(d)
    }

    /// Where a base tree tarball lives.
    pub fn base_tar(&self, release: &str, arch: &str, key: &str) -> Result<PathBuf, CacheError> {
        Ok(self
            .dir("solum-image/base")?
            .join(format!("{release}-{arch}-{key}.tar")))
    }

    /// Where the final tree of a plan lives.
    pub fn tree_tar(&self, plan_hash: &str) -> Result<PathBuf, CacheError> {
        Ok(self
            .dir("solum-image/trees")?
            .join(format!("{plan_hash}.tar")))
    }

    /// Remove all but the `keep` most recent cached final trees (never
    /// `current`); returns what was removed.
    pub fn prune_trees(&self, keep: usize, current: &Path) -> Result<Vec<PathBuf>, CacheError> {
        let dir = self.dir("solum-image/trees")?;
        let mut trees = Vec::new();
        for e in fs::read_dir(&dir).map_err(cerr(&dir))? {
            let e = e.map_err(cerr(&dir))?;
            let p = e.path();
            if p.extension().is_some_and(|x| x == "tar") {
                let mtime = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH);
                trees.push((p, mtime));
            }
        }
        let doomed = trees_to_prune(trees, keep, current);
        for p in &doomed {
            let _ = fs::remove_file(p);
            let mut sum = p.as_os_str().to_owned();
            sum.push(".sha256");
            let _ = fs::remove_file(PathBuf::from(sum));
        }
        Ok(doomed)
    }

    /// Take an exclusive lock named `name` (blocks until free).
    pub fn lock(&self, name: &str) -> Result<Lock, CacheError> {
        let p = self.dir("solum-image/locks")?.join(format!("{name}.lock"));
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(cerr(&p))?;
        // SAFETY: valid fd owned by `file` for the duration of the call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc != 0 {
            return Err(cerr(&p)(std::io::Error::last_os_error()));
        }
        Ok(Lock { _file: file })
    }
}

/// How many final trees the cache keeps by default (DIB_IMAGE_CACHE_TREES).
pub const DEFAULT_TREES_KEPT: usize = 8;

/// Which trees to delete: all but the `keep` newest, never `current` (pure).
pub fn trees_to_prune(
    mut trees: Vec<(PathBuf, std::time::SystemTime)>,
    keep: usize,
    current: &Path,
) -> Vec<PathBuf> {
    trees.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    trees
        .into_iter()
        .filter(|(p, _)| p != current)
        .skip(keep.saturating_sub(1))
        .map(|(p, _)| p)
        .collect()
}

/// A temp name next to `dest` for writing before the final rename.
pub fn partial(dest: &Path) -> PathBuf {
    let mut s = dest.as_os_str().to_owned();
    s.push(format!(".part-{}", std::process::id()));
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(include: &[&str]) -> RootTree {
        RootTree::Debian {
            release: "bookworm".into(),
            arch: "amd64".into(),
            variant: "minbase".into(),
            include: include.iter().map(|s| s.to_string()).collect(),
            mirror: "http://deb.debian.org/debian".into(),
        }
    }

    #[test]
    fn base_key_depends_on_inputs_only() {
        assert_eq!(base_key(&tree(&[])), base_key(&tree(&[])));
        assert_ne!(base_key(&tree(&[])), base_key(&tree(&["systemd"])));
        assert_eq!(base_key(&tree(&[])).len(), 16);
    }

    #[test]
    fn prune_keeps_newest_and_current() {
        use std::time::{Duration, UNIX_EPOCH};
        let t = |p: &str, s: u64| (PathBuf::from(p), UNIX_EPOCH + Duration::from_secs(s));
        let trees = vec![t("a", 1), t("b", 5), t("c", 3), t("d", 4), t("cur", 2)];
        // keep 3 = current + the 2 newest others.
        let gone = trees_to_prune(trees.clone(), 3, Path::new("cur"));
        assert_eq!(gone, vec![PathBuf::from("c"), PathBuf::from("a")]);
        assert_eq!(trees_to_prune(trees.clone(), 0, Path::new("cur")).len(), 4);
        assert!(trees_to_prune(trees, 10, Path::new("cur")).is_empty());
    }

    #[test]
    fn layout_and_lock() {
        let t = tempfile::tempdir().unwrap();
        let c = Cache::new(t.path());
        let a = c.apt_archives("bookworm", "amd64").unwrap();
        assert!(a.join("partial").is_dir());
        let b = c.tree_tar("abc").unwrap();
        assert!(b.ends_with("solum-image/trees/abc.tar"));
        let l = c.lock("x").unwrap();
        drop(l);
        let _again = c.lock("x").unwrap();
        assert!(partial(&b).to_string_lossy().contains("abc.tar.part-"));
    }
}
