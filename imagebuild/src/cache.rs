//! The image cache under DIB_IMAGE_CACHE: the apt archive per release, base
//! trees (tarballs) keyed by (release, arch, variant, packages, sources), final
//! trees (directories, read in place by the disk and tar outputs) keyed by plan
//! hash; entries appear only complete (temp name + rename), makers hold an
//! exclusive lock so concurrent builds do not collide, and leftovers of killed
//! builds are swept.

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

    /// Where the final tree of a plan lives: a directory, complete when it
    /// exists under this name.
    pub fn tree_dir(&self, plan_hash: &str) -> Result<PathBuf, CacheError> {
        Ok(self.dir("solum-image/trees")?.join(plan_hash))
    }

    /// Where a build makes its tree: on the file system of the tree cache, so
    /// the finished tree is renamed into it, never copied. `TMPDIR` when it is
    /// on that file system (it may be a tmpfs elsewhere), else
    /// `solum-image/work` in the cache.
    pub fn work_parent(&self) -> Result<PathBuf, CacheError> {
        let trees = self.dir("solum-image/trees")?;
        let tmp = std::env::temp_dir();
        if same_fs(&tmp, &trees) {
            return Ok(tmp);
        }
        self.dir("solum-image/work")
    }

    /// Remove what killed builds left in `solum-image/work` (directories
    /// named by `work_prefix` for a process that is gone, with nothing
    /// mounted below them); returns what was removed.
    pub fn sweep_work(&self) -> Vec<PathBuf> {
        let dir = self.root.join("solum-image/work");
        let Ok(entries) = fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut gone = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(pid) = work_pid(&name) else { continue };
            let p = e.path();
            if pid_alive(pid) || !crate::mounts::mounts_below(&p).is_empty() {
                continue;
            }
            if fs::remove_dir_all(&p).is_ok() {
                gone.push(p);
            }
        }
        gone
    }

    /// Remove all but the `keep` most recent cached final trees (never
    /// `current`), and what the earlier cache format left: tree tarballs and
    /// their `*.part-PID` of dead processes (trees are renamed in whole now);
    /// returns what was removed.
    pub fn prune_trees(&self, keep: usize, current: &Path) -> Result<Vec<PathBuf>, CacheError> {
        let dir = self.dir("solum-image/trees")?;
        let mut trees = Vec::new();
        let mut doomed = Vec::new();
        for e in fs::read_dir(&dir).map_err(cerr(&dir))? {
            let e = e.map_err(cerr(&dir))?;
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(USED_SUFFIX) {
                continue;
            }
            if let Some(pid) = partial_pid(&name) {
                if !pid_alive(pid) {
                    doomed.push(p);
                }
            } else if name.ends_with(".tar") || name.ends_with(".tar.sha256") {
                doomed.push(p);
            } else if e.file_type().is_ok_and(|t| t.is_dir()) {
                let mtime = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
                let used = mtime(&used_stamp(&p))
                    .max(mtime(&p))
                    .unwrap_or(std::time::UNIX_EPOCH);
                trees.push((p, used));
            }
        }
        doomed.extend(trees_to_prune(trees, keep, current));
        for p in &doomed {
            if p.is_dir() {
                let _ = fs::remove_dir_all(p);
                let _ = fs::remove_file(used_stamp(p));
            } else {
                let _ = fs::remove_file(p);
            }
        }
        Ok(doomed)
    }

    /// Mark `tree` as just used (pruning keeps the most recently used). The
    /// stamp is a file beside it: the tree itself is never changed.
    pub fn touch(&self, tree: &Path) {
        let _ = fs::write(used_stamp(tree), b"");
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

const USED_SUFFIX: &str = ".used";

/// The file whose mtime says when a cached tree was last used.
fn used_stamp(tree: &Path) -> PathBuf {
    let mut s = tree.as_os_str().to_owned();
    s.push(USED_SUFFIX);
    PathBuf::from(s)
}

/// The prefix of a build directory: it names the building process, so a
/// later build can tell a killed build's leftovers from a running one's.
/// The random part follows a `.`, as in DIB's `dib_build.XXXXXXXX`:
/// elements derive names from what follows the last `.` of the build
/// directory (source-repositories' git manifest does).
pub fn work_prefix(what: &str) -> String {
    format!("solum-image-{what}-{}.", std::process::id())
}

/// The PID in a `work_prefix` name, or in the `solum-image-WHAT-PID-RANDOM`
/// names of earlier versions (pure).
pub fn work_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("solum-image-")?;
    let (_what, rest) = rest.split_once('-')?;
    let (pid, random) = rest.split_once(['.', '-'])?;
    if random.is_empty() {
        return None;
    }
    pid.parse().ok()
}

/// The PID in a `partial` name (pure).
pub fn partial_pid(name: &str) -> Option<u32> {
    name.rsplit_once(".part-")?.1.parse().ok()
}

/// Whether a process runs (a zombie, killed but not yet reaped, does not).
fn pid_alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // "PID (COMM) STATE ...": COMM may hold spaces and parentheses.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.trim_start().chars().next());
        !matches!(state, Some('Z' | 'X') | None)
    })
}

/// Whether two existing paths are on one file system (rename works).
pub fn same_fs(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev(),
        _ => false,
    }
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
            sources: vec!["deb http://deb.debian.org/debian bookworm main".into()],
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
        let b = c.tree_dir("abc").unwrap();
        assert!(b.ends_with("solum-image/trees/abc"));
        let l = c.lock("x").unwrap();
        drop(l);
        let _again = c.lock("x").unwrap();
        assert!(partial(&b).to_string_lossy().contains("abc.part-"));
        assert_eq!(
            partial_pid(&partial(&b).file_name().unwrap().to_string_lossy()),
            Some(std::process::id())
        );
        assert_eq!(partial_pid("abc"), None);
        assert_eq!(partial_pid("abc.part-x"), None);
        // TMPDIR is used when it is on the cache's file system.
        let w = c.work_parent().unwrap();
        assert!(same_fs(&w, &c.tree_dir("x").unwrap().with_file_name("")));
    }

    #[test]
    fn work_dirs_name_their_process() {
        let p = work_prefix("build");
        assert_eq!(work_pid(&format!("{p}Ab3xYz")), Some(std::process::id()));
        assert_eq!(work_pid("solum-image-build-12-x"), Some(12));
        assert_eq!(work_pid("solum-image-build-12.x"), Some(12));
        assert_eq!(work_pid("solum-image-build-12."), None);
        assert_eq!(work_pid("solum-image-build-x-y"), None);
        assert_eq!(work_pid("other-build-12-x"), None);
        assert!(pid_alive(std::process::id()));
        assert!(!pid_alive(0));
        let t = tempfile::tempdir().unwrap();
        let c = Cache::new(t.path());
        let work = t.path().join("solum-image/work");
        fs::create_dir_all(work.join("solum-image-build-0-dead/mnt")).unwrap();
        let live = work.join(format!("{p}live"));
        fs::create_dir_all(&live).unwrap();
        fs::create_dir_all(work.join("unrelated")).unwrap();
        assert_eq!(c.sweep_work(), vec![work.join("solum-image-build-0-dead")]);
        assert!(live.is_dir() && work.join("unrelated").is_dir());
    }

    #[test]
    fn prune_sweeps_old_format_and_dead_partials() {
        let t = tempfile::tempdir().unwrap();
        let c = Cache::new(t.path());
        let trees = c.tree_dir("x").unwrap().parent().unwrap().to_path_buf();
        fs::create_dir_all(trees.join("keep")).unwrap();
        fs::write(trees.join("old.tar"), "").unwrap();
        fs::write(trees.join("old.tar.sha256"), "").unwrap();
        // PID 0 never names a live process in /proc.
        fs::create_dir_all(trees.join("dead.part-0")).unwrap();
        let mine = partial(&trees.join("mine"));
        fs::create_dir_all(&mine).unwrap();
        let gone = c.prune_trees(8, &trees.join("keep")).unwrap();
        assert_eq!(gone.len(), 3, "{gone:?}");
        assert!(trees.join("keep").is_dir());
        assert!(mine.is_dir(), "a live build's partial tree was removed");
        assert!(!trees.join("dead.part-0").exists());
    }
}
