//! The plan hash: sha256 over the plan's JSON, every file of every element
//! (relative path, type, mode, content or link target) and every input file.
//! It keys the final-tree cache: equal hashes mean equal builds.

use crate::plan::Plan;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
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

/// One part of what the plan hash covers, with its own digest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyPart {
    /// What it is: `element NAME (PATH)`, `input PATH ($VAR)` ...
    pub what: String,
    /// sha256 (hex) of its content, or `missing`.
    pub digest: String,
}

fn input_digest(path: &Path) -> Result<String, HashError> {
    let mut h = Sha256::new();
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {
            h.update(b"D");
            hash_tree(&mut h, path)?;
        }
        Ok(_) if path.is_file() => {
            h.update(b"F");
            hash_file(&mut h, path)?;
        }
        Ok(_) if path.is_dir() => {
            h.update(b"D");
            hash_tree(&mut h, path)?;
        }
        Ok(_) => {
            // A dangling link or a special file: its identity, not content.
            h.update(b"O");
            if let Ok(t) = fs::read_link(path) {
                h.update(t.as_os_str().as_encoded_bytes());
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok("missing".into()),
        Err(e) => return Err(herr(path)(e)),
    }
    Ok(hex::encode(h.finalize()))
}

/// Words whose mention in an element's file makes the output name
/// (`IMAGE_NAME`, also the `-o NAME` of `DIB_ARGS`) part of the plan hash.
pub const NAME_WORDS: &[&str] = &["IMAGE_NAME", "DIB_ARGS"];

/// Whether `bytes` contain `word`.
fn mentions(bytes: &[u8], word: &str) -> bool {
    bytes.windows(word.len()).any(|b| b == word.as_bytes())
}

impl Plan {
    /// For each of `words`, the elements with a file (any file) that
    /// mentions it, in plan order; every word is a key.
    pub fn elements_mentioning(
        &self,
        words: &[&str],
    ) -> Result<BTreeMap<String, Vec<String>>, HashError> {
        let mut found: BTreeMap<String, Vec<String>> =
            words.iter().map(|w| (w.to_string(), Vec::new())).collect();
        for e in &self.elements {
            for entry in walkdir::WalkDir::new(&e.path).sort_by_file_name() {
                let entry = entry.map_err(|err| HashError {
                    path: err.path().unwrap_or(&e.path).to_path_buf(),
                    source: err
                        .into_io_error()
                        .unwrap_or_else(|| std::io::Error::other("loop in directory tree")),
                })?;
                if !entry.file_type().is_file() {
                    continue;
                }
                let bytes = fs::read(entry.path()).map_err(herr(entry.path()))?;
                for w in words {
                    let list = found.entry(w.to_string()).or_default();
                    if list.last() != Some(&e.name) && mentions(&bytes, w) {
                        list.push(e.name.clone());
                    }
                }
            }
        }
        Ok(found)
    }

    /// The elements with a file that mentions `IMAGE_NAME` (or `DIB_ARGS`,
    /// which carries it): the output name is part of the plan hash only
    /// when this is not empty, so `-o vm2` reuses the tree of `-o vm`.
    pub fn name_readers(&self) -> Result<Vec<String>, HashError> {
        let mut readers: Vec<String> = self
            .elements_mentioning(NAME_WORDS)?
            .into_values()
            .flatten()
            .collect();
        let order = |n: &String| self.elements.iter().position(|e| &e.name == n);
        readers.sort_by_key(order);
        readers.dedup();
        Ok(readers)
    }

    /// The plan as it would be under any output name (pure).
    fn forget_name(&mut self) {
        let name = std::mem::take(&mut self.image_name);
        if let Some(v) = self.env.get_mut("IMAGE_NAME") {
            v.clear();
        }
        if let Some(args) = self.env.get_mut("DIB_ARGS") {
            let with = format!("-o {name}");
            if let Some(rest) = args.strip_prefix(&with) {
                if rest.is_empty() || rest.starts_with(' ') {
                    *args = format!("-o{rest}");
                }
            }
        }
    }

    /// Everything the plan hash covers besides the plan itself: every
    /// element's files and every input, each with its digest (for
    /// `--dry-run`).
    pub fn key_parts(&self) -> Result<Vec<KeyPart>, HashError> {
        let mut parts = Vec::new();
        for e in &self.elements {
            let mut h = Sha256::new();
            hash_tree(&mut h, &e.path)?;
            parts.push(KeyPart {
                what: format!("element {} ({})", e.name, e.path.display()),
                digest: hex::encode(h.finalize()),
            });
        }
        for input in &self.inputs {
            let shown = if input.hidden {
                "(the path a secret variable names)".to_string()
            } else {
                input.path.display().to_string()
            };
            parts.push(KeyPart {
                what: format!("input {shown} ({})", input.why),
                digest: input_digest(&input.path)?,
            });
        }
        Ok(parts)
    }

    /// sha256 (hex) of the plan and everything it reads.
    pub fn hash(&self) -> Result<String, HashError> {
        let mut h = Sha256::new();
        // Output types do not change the tree: leave them out; nor does
        // the output name when no element reads it.
        let mut for_hash = self.clone();
        for_hash.outputs.clear();
        if self.name_readers()?.is_empty() {
            for_hash.forget_name();
        }
        let json = serde_json::to_vec(&for_hash).map_err(|e| HashError {
            path: PathBuf::from("<plan>"),
            source: std::io::Error::other(e),
        })?;
        h.update(b"solum-image plan v2\0");
        h.update(&json);
        for (i, part) in self.key_parts()?.iter().enumerate() {
            // Hidden paths are in the plan's JSON already; the part's
            // position ties each digest to its input.
            h.update(format!("\0part {i}\0{}\0", part.digest));
        }
        Ok(hex::encode(h.finalize()))
    }
}
