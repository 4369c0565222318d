//! The plan hash: sha256 over the plan's JSON, every file of every element
//! (relative path, type, mode, content or link target) and every input file.
//! It keys the final-tree cache: equal hashes mean equal builds.

use crate::plan::Plan;
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A file the hash needed could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {path} for the plan hash: {source}")]
pub struct HashError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

fn herr(path: &Path) -> impl FnOnce(std::io::Error) -> HashError + '_ {
    move |source| HashError {
        path: path.to_path_buf(),
        source,
    }
}

fn hash_file(h: &mut Sha256, path: &Path) -> Result<(), HashError> {
    let mut f = fs::File::open(path).map_err(herr(path))?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).map_err(herr(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(())
}

fn hash_tree(h: &mut Sha256, dir: &Path) -> Result<(), HashError> {
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.map_err(|e| HashError {
            path: e.path().unwrap_or(dir).to_path_buf(),
            source: e
                .into_io_error()
                .unwrap_or_else(|| std::io::Error::other("loop in directory tree")),
        })?;
        let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        let meta = entry
            .path()
            .symlink_metadata()
            .map_err(herr(entry.path()))?;
        h.update(rel.as_os_str().as_encoded_bytes());
        h.update([0]);
        h.update(format!("{:o}\0", meta.permissions().mode()));
        if meta.file_type().is_symlink() {
            let target = fs::read_link(entry.path()).map_err(herr(entry.path()))?;
            h.update(b"L");
            h.update(target.as_os_str().as_encoded_bytes());
        } else if meta.is_file() {
            h.update(format!("F{}\0", meta.len()));
            hash_file(h, entry.path())?;
        } else {
            h.update(b"D");
        }
        h.update([0]);
    }
    Ok(())
}

impl Plan {
    /// sha256 (hex) of the plan and everything it reads.
    pub fn hash(&self) -> Result<String, HashError> {
        let mut h = Sha256::new();
        // Output types do not change the tree: leave them out.
        let mut for_hash = self.clone();
        for_hash.outputs.clear();
        let json = serde_json::to_vec(&for_hash).map_err(|e| HashError {
            path: PathBuf::from("<plan>"),
            source: std::io::Error::other(e),
        })?;
        h.update(b"solum-image plan v1\0");
        h.update(&json);
        for e in &self.elements {
            h.update(format!("\0element {}\0", e.name));
            hash_tree(&mut h, &e.path)?;
        }
        for input in &self.inputs {
            h.update(b"\0input\0");
            h.update(input.as_os_str().as_encoded_bytes());
            if input.is_file() {
                hash_file(&mut h, input)?;
            } else {
                h.update(b"\0missing");
            }
        }
        Ok(hex::encode(h.finalize()))
    }
}
