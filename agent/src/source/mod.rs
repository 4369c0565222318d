//! Fetching an app's (or a buildpack's) source: a git remote at a revision, a local directory,
//! or a tarball URL verified by sha256. Extraction never writes outside its destination.
//!
//! Layout: `classify` (pure: what a string names), `git`, `dir`, `tarball` + `extract` (one per
//! kind of source; `headers` walks a tarball's headers before `extract` reads it), `hash` (`tree_hash`), `fetch` works in a
//! staging directory next to `dest` and renames it into place only on success, so a failed
//! fetch leaves no partial `dest` behind.

mod classify;
mod dir;
mod extract;
mod git;
mod hash;
mod headers;
mod spec;
mod tarball;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use classify::is_sha256_hex;
pub use extract::{extract as extract_tarball, Limits};
pub use hash::{tree_hash, tree_hash_except};
pub use spec::{Secret, SourceSpec};

/// A fetched source tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub dir: PathBuf,
    /// The commit sha for git, else `sha256:<tree hash>`.
    pub version: String,
}

/// Why a source could not be fetched. Messages never contain tokens or URL passwords.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    Other(String),
    /// The source string or spec is unusable (bad URL, bad sum, missing directory).
    #[error("{0}")]
    Invalid(String),
    /// A git command failed; the message is git's last stderr line, redacted.
    #[error("{0}")]
    Git(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("destination {0} exists and is not an empty directory")]
    DestNotEmpty(PathBuf),
    #[error("download of {url} failed: {message}")]
    Download { url: String, message: String },
    #[error("sha256 mismatch for {url}: expected {expected}, got {actual}")]
    Checksum {
        url: String,
        expected: String,
        actual: String,
    },
    #[error("tarball {tarball}: entry {entry}: {reason}")]
    UnsafeEntry {
        tarball: String,
        entry: String,
        reason: String,
    },
    #[error("tarball {tarball}: {reason}")]
    Tarball { tarball: String, reason: String },
}

/// Classifies a source string the way Planfile `href`s and buildpack URLs are written:
/// `.tar`/`.tgz`/`.tar.gz` URLs are tarballs (`#sha256=<hex>` verifies), paths and `file://`
/// directories are directories (relative ones resolved against `base`), everything else is a
/// git remote with an optional `#<revision>`. Paths and `file://` URLs ending in `.git` or
/// carrying a `#<revision>` are git repositories; local tarball paths become `file://` URLs.
/// Lenient: problems (a bad `#sha256=`, an unknown scheme) surface in `fetch`; use
/// `classify_checked` to catch them early.
pub fn classify(href: &str, base: &Path) -> SourceSpec {
    classify::classify(href, base)
}

/// `classify`, but an empty string, an unsupported URL scheme, a malformed `#sha256=` or a
/// revision or URL that git could take for an option is an error.
pub fn classify_checked(href: &str, base: &Path) -> Result<SourceSpec, SourceError> {
    classify::classify_checked(href, base)
}

/// Fetches `spec` into `dest` (created; must not exist or be empty).
pub async fn fetch(
    spec: &SourceSpec,
    token: Option<&Secret>,
    dest: &Path,
) -> Result<Fetched, SourceError> {
    fetch_with_limits(spec, token, dest, &Limits::default()).await
}

/// `fetch` with explicit limits for tarball extraction.
pub async fn fetch_with_limits(
    spec: &SourceSpec,
    token: Option<&Secret>,
    dest: &Path,
    limits: &Limits,
) -> Result<Fetched, SourceError> {
    let staging = Staging::new(dest)?;
    let tree = staging.tree();
    let version = match spec {
        SourceSpec::Git { url, revision } => {
            let url = classify::git_url_for_fetch(url);
            git::fetch(&url, revision.as_deref(), token, &tree).await?
        }
        SourceSpec::Dir { path } => {
            let (src, to, skip) = (path.clone(), tree.clone(), staging.dir.path().to_path_buf());
            blocking(move || dir::copy_tree(&src, &to, &skip)).await?;
            format!("sha256:{}", hash_blocking(&tree).await?)
        }
        SourceSpec::Tarball { url, sha256 } => {
            let sum =
                tarball::fetch(url, sha256.as_deref(), &tree, staging.dir.path(), limits).await?;
            format!("sha256:{sum}")
        }
    };
    staging.finish(dest)?;
    Ok(Fetched {
        dir: dest.to_path_buf(),
        version,
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SourceError> + Send + 'static,
) -> Result<T, SourceError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SourceError::Other(format!("background task failed: {e}")))?
}

async fn hash_blocking(dir: &Path) -> Result<String, SourceError> {
    let d = dir.to_path_buf();
    blocking(move || {
        tree_hash(&d).map_err(|source| SourceError::Io {
            path: d.clone(),
            source,
        })
    })
    .await
}

/// A temp directory next to `dest` (same file system, so the final rename is atomic); removed
/// with everything in it unless `finish` moved the tree out.
struct Staging {
    dir: tempfile::TempDir,
}

impl Staging {
    fn new(dest: &Path) -> Result<Self, SourceError> {
        match std::fs::read_dir(dest) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(SourceError::DestNotEmpty(dest.to_path_buf()));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
                return Err(SourceError::DestNotEmpty(dest.to_path_buf()))
            }
            Err(source) => {
                return Err(SourceError::Io {
                    path: dest.to_path_buf(),
                    source,
                })
            }
        }
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(|source| SourceError::Io {
            path: parent.clone(),
            source,
        })?;
        let dir = tempfile::Builder::new()
            .prefix(".solum-fetch-")
            .tempdir_in(&parent)
            .map_err(|source| SourceError::Io {
                path: parent.clone(),
                source,
            })?;
        let tree = dir.path().join("tree");
        std::fs::create_dir(&tree).map_err(|source| SourceError::Io {
            path: tree.clone(),
            source,
        })?;
        Ok(Staging { dir })
    }

    fn tree(&self) -> PathBuf {
        self.dir.path().join("tree")
    }

    /// Moves the fetched tree to `dest` (replacing it if it is an empty directory).
    fn finish(self, dest: &Path) -> Result<(), SourceError> {
        std::fs::rename(self.tree(), dest).map_err(|source| SourceError::Io {
            path: dest.to_path_buf(),
            source,
        })
    }
}
