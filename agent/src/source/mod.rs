//! Fetching an app's (or a buildpack's) source: a git remote at a revision, a local directory,
//! or a tarball URL verified by sha256. Extraction never writes outside its destination.

use std::path::{Path, PathBuf};

use crate::planfile::{Secret, SourceSpec};

/// A fetched source tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub dir: PathBuf,
    /// The commit sha for git, else `sha256:<tree hash>`.
    pub version: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    Other(String),
}

/// Classifies a source string the way Planfile `href`s and buildpack URLs are written:
/// `.tar`/`.tgz`/`.tar.gz` URLs are tarballs (`#sha256=<hex>` verifies), paths and `file://`
/// directories are directories (relative ones resolved against `base`), everything else is a
/// git remote with an optional `#<revision>`.
pub fn classify(href: &str, base: &Path) -> SourceSpec {
    let _ = (href, base);
    unimplemented!("source::classify")
}

/// Fetches `spec` into `dest` (created; must not exist or be empty).
pub async fn fetch(
    spec: &SourceSpec,
    token: Option<&Secret>,
    dest: &Path,
) -> Result<Fetched, SourceError> {
    let _ = (spec, token, dest);
    unimplemented!("source::fetch")
}

/// A sha256 (hex) over the tree: sorted relative paths, file modes, contents and link targets,
/// `.git` excluded. Same tree, same hash, whatever the mtimes.
pub fn tree_hash(dir: &Path) -> std::io::Result<String> {
    let _ = dir;
    unimplemented!("source::tree_hash")
}
