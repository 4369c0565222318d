//! Build contexts: the tar the Docker client sends to `POST /build`. Walks a directory
//! honouring its `.dockerignore` (rules in `dockerignore`), never follows symlinks, always
//! sends the Dockerfile and `.dockerignore`, and writes the tar to an anonymous temp file so a
//! big context never sits in memory. The walk is also used to hash a tree (language packs).

pub mod dockerignore;

use std::fs::{File, Metadata};
use std::io::{self, Read, Seek, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use tar::{EntryType, Header, HeaderMode};

use self::dockerignore::Rules;
use super::BuildError;

/// The Dockerfile name the builders use (at the context root).
pub const DOCKERFILE: &str = "Dockerfile";
const DOCKERIGNORE: &str = ".dockerignore";
/// A larger `.dockerignore` is refused.
const MAX_DOCKERIGNORE_BYTES: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("{path}: {source}")]
    Pattern {
        path: PathBuf,
        source: dockerignore::PatternError,
    },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("build context: extra file path {path:?} must be relative, without `..`")]
    BadExtraPath { path: String },
    #[error("{path}: file changed size while it was being sent ({expected} bytes expected)")]
    Changed { path: PathBuf, expected: u64 },
}

impl From<ContextError> for BuildError {
    fn from(e: ContextError) -> Self {
        match e {
            ContextError::Io { path, source } => {
                BuildError::io(format!("build context {}", path.display()), source)
            }
            other => BuildError::Other(other.to_string()),
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ContextError + '_ {
    move |source| ContextError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A file that is not in the directory but goes into the tar (a generated Dockerfile, a
/// language pack's `build.sh`). Replaces a context file of the same path.
#[derive(Debug, Clone, Copy)]
pub struct ExtraFile<'a> {
    /// Relative `/`-separated path inside the tar.
    pub path: &'a str,
    pub contents: &'a [u8],
    pub mode: u32,
}

/// A finished context tar, rewound and ready to stream.
#[derive(Debug)]
pub struct ContextTar {
    pub file: File,
    /// Size of the tar in bytes.
    pub len: u64,
    /// Number of entries (files, directories, symlinks) in the tar.
    pub entries: u64,
}

/// One path of the context that survived `.dockerignore`.
#[derive(Debug)]
pub struct ContextEntry {
    /// Relative path from the context root (`/`-separated as bytes on Unix).
    pub rel: PathBuf,
    /// Absolute (or caller-relative) path on disk.
    pub path: PathBuf,
    /// `symlink_metadata`: symlinks are reported as symlinks.
    pub metadata: Metadata,
}

/// Tars `dir` as a Docker build context (see the module comment), plus `extra` files, into an
/// anonymous temp file in `scratch`.
pub fn context_tar(
    dir: &Path,
    extra: &[ExtraFile<'_>],
    scratch: &Path,
) -> Result<ContextTar, ContextError> {
    context_tar_under(dir, "", extra, scratch)
}

/// Like [`context_tar`], but the directory's contents go under `prefix/` in the tar (the
/// `.dockerignore` of `dir` still applies to them); `extra` paths stay at the root.
pub fn context_tar_under(
    dir: &Path,
    prefix: &str,
    extra: &[ExtraFile<'_>],
    scratch: &Path,
) -> Result<ContextTar, ContextError> {
    for e in extra
        .iter()
        .map(|e| e.path)
        .chain((!prefix.is_empty()).then_some(prefix))
    {
        if !is_safe_relative(e) {
            return Err(ContextError::BadExtraPath {
                path: e.to_string(),
            });
        }
    }
    std::fs::create_dir_all(scratch).map_err(io_err(scratch))?;
    let file = tempfile::tempfile_in(scratch).map_err(io_err(scratch))?;
    let mut builder = tar::Builder::new(io::BufWriter::new(file));
    let mut entries = 0u64;
    let prefix_path = Path::new(prefix);
    if !prefix.is_empty() {
        let mut h = Header::new_gnu();
        h.set_entry_type(EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_mtime(0);
        builder
            .append_data(&mut h, prefix_path, io::empty())
            .map_err(io_err(dir))?;
        entries += 1;
    }
    let replaced = |rel: &Path| {
        extra
            .iter()
            .any(|e| prefix_path.join(rel) == Path::new(e.path))
    };
    walk_context(dir, |entry| {
        if replaced(&entry.rel) {
            return Ok(());
        }
        append_entry(&mut builder, &prefix_path.join(&entry.rel), entry)?;
        entries += 1;
        Ok(())
    })?;
    for e in extra {
        let mut h = Header::new_gnu();
        h.set_entry_type(EntryType::Regular);
        h.set_mode(e.mode);
        h.set_size(e.contents.len() as u64);
        h.set_mtime(0);
        builder
            .append_data(&mut h, e.path, e.contents)
            .map_err(io_err(Path::new(e.path)))?;
        entries += 1;
    }
    let writer = builder.into_inner().map_err(io_err(scratch))?;
    let mut file = writer.into_inner().map_err(|e| ContextError::Io {
        path: scratch.to_path_buf(),
        source: e.into_error(),
    })?;
    file.flush().map_err(io_err(scratch))?;
    let len = file.stream_position().map_err(io_err(scratch))?;
    file.rewind().map_err(io_err(scratch))?;
    Ok(ContextTar { file, len, entries })
}

/// Reads the `.dockerignore` of `dir` (absent = no rules), with the build files kept.
pub fn read_rules(dir: &Path) -> Result<Rules, ContextError> {
    let path = dir.join(DOCKERIGNORE);
    // Never a link out of the source (its text would show in errors), never huge.
    match std::fs::symlink_metadata(&path) {
        Ok(m) if !m.is_file() => {
            return Err(ContextError::Io {
                path,
                source: io::Error::other("not a regular file (links are not followed)"),
            })
        }
        Ok(m) if m.len() > MAX_DOCKERIGNORE_BYTES => {
            return Err(ContextError::Io {
                path,
                source: io::Error::other(format!(
                    "{} bytes, over the {MAX_DOCKERIGNORE_BYTES} byte limit",
                    m.len()
                )),
            })
        }
        _ => {}
    }
    let mut rules = match std::fs::read(&path) {
        Ok(bytes) => Rules::parse(&String::from_utf8_lossy(&bytes)).map_err(|source| {
            ContextError::Pattern {
                path: path.clone(),
                source,
            }
        })?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Rules::default(),
        Err(source) => return Err(ContextError::Io { path, source }),
    };
    rules.keep_build_files(DOCKERFILE);
    Ok(rules)
}

/// Visits every path of `dir` that its `.dockerignore` keeps, parents before children, in
/// byte order of names (as Go's `filepath.Walk`). Excluded directories are skipped unless a
/// `!` pattern may re-include something below them; then the directory itself is not
/// visited but its kept children are (Docker does the same).
pub fn walk_context(
    dir: &Path,
    mut visit: impl FnMut(&ContextEntry) -> Result<(), ContextError>,
) -> Result<(), ContextError> {
    let rules = read_rules(dir)?;
    let meta = std::fs::metadata(dir).map_err(io_err(dir))?;
    if !meta.is_dir() {
        return Err(ContextError::Io {
            path: dir.to_path_buf(),
            source: io::Error::other("not a directory"),
        });
    }
    walk_dir(dir, Path::new(""), &rules, &mut visit)
}

fn walk_dir(
    root: &Path,
    rel_dir: &Path,
    rules: &Rules,
    visit: &mut impl FnMut(&ContextEntry) -> Result<(), ContextError>,
) -> Result<(), ContextError> {
    let abs_dir = root.join(rel_dir);
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&abs_dir).map_err(io_err(&abs_dir))? {
        names.push(entry.map_err(io_err(&abs_dir))?.file_name());
    }
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for name in names {
        let rel = rel_dir.join(&name);
        let path = root.join(&rel);
        let metadata = std::fs::symlink_metadata(&path).map_err(io_err(&path))?;
        let rel_str = String::from_utf8_lossy(rel.as_os_str().as_bytes()).into_owned();
        let is_dir = metadata.is_dir();
        if rules.excludes(&rel_str) {
            if is_dir && rules.may_include_under(&rel_str) {
                walk_dir(root, &rel, rules, visit)?;
            }
            continue;
        }
        let ft = metadata.file_type();
        if !(is_dir || ft.is_file() || ft.is_symlink()) {
            continue; // sockets, fifos, devices: Docker cannot send them either
        }
        visit(&ContextEntry {
            rel: rel.clone(),
            path,
            metadata,
        })?;
        if is_dir {
            walk_dir(root, &rel, rules, visit)?;
        }
    }
    Ok(())
}

fn append_entry<W: Write>(
    builder: &mut tar::Builder<W>,
    name: &Path,
    entry: &ContextEntry,
) -> Result<(), ContextError> {
    let mut h = Header::new_gnu();
    h.set_metadata_in_mode(&entry.metadata, HeaderMode::Complete);
    // The Docker CLI sends every file as root:root.
    h.set_uid(0);
    h.set_gid(0);
    let ft = entry.metadata.file_type();
    let err = io_err(&entry.path);
    if ft.is_symlink() {
        let target = std::fs::read_link(&entry.path).map_err(io_err(&entry.path))?;
        h.set_size(0);
        builder.append_link(&mut h, name, target).map_err(err)
    } else if ft.is_dir() {
        h.set_size(0);
        builder.append_data(&mut h, name, io::empty()).map_err(err)
    } else {
        let file = File::open(&entry.path).map_err(io_err(&entry.path))?;
        let expected = entry.metadata.len();
        let mut reader = Exact {
            inner: file.take(expected),
            left: expected,
        };
        match builder.append_data(&mut h, name, &mut reader) {
            Ok(()) if reader.left == 0 => Ok(()),
            Ok(()) => Err(ContextError::Changed {
                path: entry.path.clone(),
                expected,
            }),
            Err(e) => Err(err(e)),
        }
    }
}

/// Counts what is read so a file that shrank while being tarred is caught.
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self.left.saturating_sub(n as u64);
        Ok(n)
    }
}

fn is_safe_relative(p: &str) -> bool {
    !p.is_empty()
        && Path::new(p)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_paths_must_stay_inside() {
        for (p, ok) in [
            ("Dockerfile", true),
            ("a/b", true),
            ("../x", false),
            ("/etc/x", false),
            ("", false),
            ("./x", false),
        ] {
            assert_eq!(is_safe_relative(p), ok, "{p}");
        }
    }
}
