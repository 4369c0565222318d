//! Safe tarball extraction (gzip or plain tar, sniffed): every entry must stay inside the
//! destination. Refused: absolute paths, `..`, paths through symlinks, symlinks and hardlinks
//! whose target leaves the tree, device files and fifos; limited total size and entry count.
//! A single top-level directory (GitHub-style archives) is stripped, unless it is content
//! itself (`bin/` of a buildpack, `src/`...).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek};
use std::os::unix::fs::{symlink, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use flate2::read::MultiGzDecoder;
use tar::EntryType;

use super::SourceError;

/// Limits against tar and gzip bombs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total bytes of file contents extracted (and of a downloaded tarball).
    pub max_bytes: u64,
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 2 << 30,
            max_entries: 200_000,
        }
    }
}

/// Extracts the tarball file `archive` into `dest` (an existing empty directory); `name` is how
/// messages call the tarball. Then strips a single top-level directory.
pub fn extract(
    archive: &Path,
    name: &str,
    dest: &Path,
    limits: &Limits,
) -> Result<(), SourceError> {
    let fail = |reason: String| SourceError::Tarball {
        tarball: name.to_owned(),
        reason,
    };
    let open = || -> Result<Box<dyn Read>, SourceError> {
        let mut file = File::open(archive).map_err(|e| fail(format!("cannot open: {e}")))?;
        let mut magic = [0u8; 6];
        let n = read_up_to(&mut file, &mut magic).map_err(|e| fail(format!("cannot read: {e}")))?;
        file.rewind()
            .map_err(|e| fail(format!("cannot read: {e}")))?;
        let magic = &magic[..n];
        if magic.starts_with(&[0x1f, 0x8b]) {
            Ok(Box::new(MultiGzDecoder::new(BufReader::new(file))))
        } else if magic.starts_with(b"BZh")
            || magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0])
            || magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        {
            Err(fail(
                "unsupported compression (only gzip or plain tar)".into(),
            ))
        } else {
            Ok(Box::new(BufReader::new(file)))
        }
    };
    super::headers::check(open()?, limits.max_entries).map_err(|r| match r {
        super::headers::Refused::Invalid(m) | super::headers::Refused::Unsafe(m) => fail(m),
    })?;
    let reader = open()?;
    let mut x = Extractor {
        name,
        root: dest,
        limits,
        bytes: 0,
        entries: 0,
        dirs: Vec::new(),
    };
    x.run(reader)?;
    strip_single_top_dir(dest)
        .map_err(|e| fail(format!("cannot strip the top-level directory: {e}")))?;
    check_links(dest, name)
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

struct Extractor<'a> {
    name: &'a str,
    root: &'a Path,
    limits: &'a Limits,
    bytes: u64,
    entries: u64,
    /// Directories and their modes, applied at the end (a read-only dir must be filled first).
    dirs: Vec<(PathBuf, u32)>,
}

impl Extractor<'_> {
    fn err(&self, entry: &Path, reason: impl Into<String>) -> SourceError {
        SourceError::UnsafeEntry {
            tarball: self.name.to_owned(),
            entry: entry.display().to_string(),
            reason: reason.into(),
        }
    }

    fn run(&mut self, reader: Box<dyn Read>) -> Result<(), SourceError> {
        let fail = |e: io::Error| SourceError::Tarball {
            tarball: self.name.to_owned(),
            reason: format!("not a valid tar archive: {e}"),
        };
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries().map_err(fail)? {
            let entry = entry.map_err(fail)?;
            self.entries += 1;
            if self.entries > self.limits.max_entries {
                return Err(SourceError::Tarball {
                    tarball: self.name.to_owned(),
                    reason: format!("more than {} entries", self.limits.max_entries),
                });
            }
            self.entry(entry)?;
        }
        for (dir, mode) in self.dirs.iter().rev() {
            fs::set_permissions(dir, fs::Permissions::from_mode((mode & 0o777) | 0o700))
                .map_err(|e| self.err(dir, e.to_string()))?;
        }
        Ok(())
    }

    fn entry<R: Read>(&mut self, mut entry: tar::Entry<R>) -> Result<(), SourceError> {
        let raw = entry
            .path()
            .map_err(|e| self.err(Path::new("?"), format!("bad path: {e}")))?
            .into_owned();
        let rel = clean_relative(&raw).map_err(|reason| self.err(&raw, reason))?;
        if rel.as_os_str().is_empty() {
            return Ok(()); // "./" itself
        }
        self.check_no_symlink_parents(&raw, &rel)?;
        let to = self.root.join(&rel);
        let mode = entry.header().mode().unwrap_or(0o644);
        match entry.header().entry_type() {
            EntryType::Directory => {
                match fs::symlink_metadata(&to) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => return Err(self.err(&raw, "a directory replaces an existing entry")),
                    Err(_) => fs::create_dir_all(&to).map_err(|e| self.err(&raw, e.to_string()))?,
                }
                self.dirs.push((to, mode));
            }
            EntryType::Regular | EntryType::Continuous => {
                self.make_parent(&raw, &to)?;
                self.replaceable(&raw, &to)?;
                let size = entry.header().size().unwrap_or(0);
                if self.bytes.saturating_add(size) > self.limits.max_bytes {
                    return Err(self.too_big());
                }
                let mut out = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode((mode & 0o777) | 0o600)
                    .open(&to)
                    .map_err(|e| self.err(&raw, e.to_string()))?;
                let budget = self.limits.max_bytes - self.bytes;
                let written = io::copy(&mut (&mut entry).take(budget + 1), &mut out)
                    .map_err(|e| self.err(&raw, e.to_string()))?;
                if written > budget {
                    return Err(self.too_big());
                }
                self.bytes += written;
                // Explicit, since the umask may have cleared bits given to `mode`.
                fs::set_permissions(&to, fs::Permissions::from_mode((mode & 0o777) | 0o600))
                    .map_err(|e| self.err(&raw, e.to_string()))?;
            }
            EntryType::Symlink => {
                let target = self.link_target(&entry, &raw)?;
                if !link_stays_inside(&rel, &target) {
                    return Err(self.err(
                        &raw,
                        format!("symlink to {} leaves the tree", target.display()),
                    ));
                }
                self.make_parent(&raw, &to)?;
                self.replaceable(&raw, &to)?;
                symlink(&target, &to).map_err(|e| self.err(&raw, e.to_string()))?;
            }
            EntryType::Link => {
                let target = self.link_target(&entry, &raw)?;
                let target_rel = clean_relative(&target).map_err(|r| {
                    self.err(&raw, format!("hardlink target {}: {r}", target.display()))
                })?;
                self.check_no_symlink_parents(&raw, &target_rel)?;
                let from = self.root.join(&target_rel);
                match fs::symlink_metadata(&from) {
                    Ok(m) if m.is_file() => {}
                    _ => {
                        return Err(self.err(
                            &raw,
                            format!(
                                "hardlink target {} is not a file extracted before it",
                                target.display()
                            ),
                        ))
                    }
                }
                self.make_parent(&raw, &to)?;
                self.replaceable(&raw, &to)?;
                fs::hard_link(&from, &to).map_err(|e| self.err(&raw, e.to_string()))?;
            }
            EntryType::Char | EntryType::Block => {
                return Err(self.err(&raw, "device files are not allowed"))
            }
            EntryType::Fifo => return Err(self.err(&raw, "fifos are not allowed")),
            // PAX and GNU long-name headers are consumed by `tar` itself; skip any others.
            EntryType::XGlobalHeader
            | EntryType::XHeader
            | EntryType::GNULongName
            | EntryType::GNULongLink => {}
            other => return Err(self.err(&raw, format!("unsupported entry type {other:?}"))),
        }
        Ok(())
    }

    fn too_big(&self) -> SourceError {
        SourceError::Tarball {
            tarball: self.name.to_owned(),
            reason: format!("extracts to more than {} bytes", self.limits.max_bytes),
        }
    }

    fn link_target<R: Read>(
        &self,
        entry: &tar::Entry<R>,
        raw: &Path,
    ) -> Result<PathBuf, SourceError> {
        match entry.link_name() {
            Ok(Some(t)) if !t.as_os_str().is_empty() => Ok(t.into_owned()),
            Ok(_) => Err(self.err(raw, "link without a target")),
            Err(e) => Err(self.err(raw, format!("bad link target: {e}"))),
        }
    }

    /// Refuses to write through a symlink made by an earlier entry.
    fn check_no_symlink_parents(&self, raw: &Path, rel: &Path) -> Result<(), SourceError> {
        let mut at = self.root.to_path_buf();
        let parents: Vec<_> = rel.components().collect();
        for c in parents.iter().take(parents.len().saturating_sub(1)) {
            at.push(c);
            match fs::symlink_metadata(&at) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(self.err(raw, "path goes through a symlink"))
                }
                Ok(m) if !m.is_dir() => {
                    return Err(self.err(raw, "a parent of this entry is not a directory"))
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn make_parent(&self, raw: &Path, to: &Path) -> Result<(), SourceError> {
        match to.parent() {
            Some(p) => fs::create_dir_all(p).map_err(|e| self.err(raw, e.to_string())),
            None => Ok(()),
        }
    }

    /// A later entry may replace an earlier file or link (tar appends updates), never a directory.
    fn replaceable(&self, raw: &Path, to: &Path) -> Result<(), SourceError> {
        match fs::symlink_metadata(to) {
            Ok(m) if m.is_dir() => Err(self.err(raw, "replaces a directory")),
            Ok(_) => fs::remove_file(to).map_err(|e| self.err(raw, e.to_string())),
            Err(_) => Ok(()),
        }
    }
}

/// The entry path relative to the root: no root, no prefix, no `..`; `.` dropped.
fn clean_relative(p: &Path) -> Result<PathBuf, &'static str> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => return Err("'..' in path leaves the destination"),
            Component::RootDir | Component::Prefix(_) => return Err("absolute path"),
        }
    }
    Ok(out)
}

/// Does the symlink at `link` (relative to the root) with `target` stay inside the root?
/// Targets must be relative, with all `..` first: `../../a/b`. A `..` after a normal component
/// could climb out of another symlink's target, so it is refused.
fn link_stays_inside(link: &Path, target: &Path) -> bool {
    let mut depth = link.components().count().saturating_sub(1) as i64;
    let mut descended = false;
    for c in target.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if descended => return false,
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            Component::Normal(_) => descended = true,
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// Directories that are content, not a wrapper: a tarball holding only `bin/` is a buildpack
/// (or an app) whose root is the tarball's root, not a GitHub-style `<repo>-<ref>/` archive.
const CONTENT_DIRS: &[&str] = &["bin", "src", "lib", "app", "public", "static", "www"];

/// Whether a lone top-level directory named `name` wraps the tree (and is stripped).
pub(crate) fn is_wrapper_dir(name: &std::ffi::OsStr) -> bool {
    !CONTENT_DIRS.iter().any(|d| name == *d)
}

/// If `dest` holds exactly one entry and it is a real directory that wraps the tree (see
/// `is_wrapper_dir`), moves its contents up.
fn strip_single_top_dir(dest: &Path) -> io::Result<()> {
    let mut entries = fs::read_dir(dest)?;
    let (Some(only), None) = (entries.next().transpose()?, entries.next().transpose()?) else {
        return Ok(());
    };
    if !only.file_type()?.is_dir() || !is_wrapper_dir(&only.file_name()) {
        return Ok(());
    }
    // Rename the top dir aside first: it may contain an entry with its own name.
    let aside = dest.join(format!(".solum-strip-{}", std::process::id()));
    fs::rename(only.path(), &aside)?;
    for e in fs::read_dir(&aside)? {
        let e = e?;
        fs::rename(e.path(), dest.join(e.file_name()))?;
    }
    fs::remove_dir(&aside)
}

/// After stripping, every symlink must still stay inside the (new) root.
fn check_links(root: &Path, name: &str) -> Result<(), SourceError> {
    for e in walkdir::WalkDir::new(root).min_depth(1).follow_links(false) {
        let e = e.map_err(|e| SourceError::Tarball {
            tarball: name.to_owned(),
            reason: e.to_string(),
        })?;
        if e.file_type().is_symlink() {
            let rel = e.path().strip_prefix(root).unwrap_or(e.path());
            let target = fs::read_link(e.path()).map_err(|err| SourceError::Io {
                path: e.path().into(),
                source: err,
            })?;
            if !link_stays_inside(rel, &target) {
                return Err(SourceError::UnsafeEntry {
                    tarball: name.to_owned(),
                    entry: rel.display().to_string(),
                    reason: format!(
                        "symlink to {} leaves the tree once the top-level directory is stripped",
                        target.display()
                    ),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(
            clean_relative(Path::new("./a/b")).unwrap(),
            Path::new("a/b")
        );
        assert_eq!(clean_relative(Path::new("./")).unwrap(), Path::new(""));
        assert!(clean_relative(Path::new("/etc/x")).is_err());
        assert!(clean_relative(Path::new("a/../../x")).is_err());
        assert!(clean_relative(Path::new("../x")).is_err());
    }

    #[test]
    fn link_targets() {
        let ok = [
            ("a", "b"),
            ("d/a", "../b"),
            ("d/e/a", "../../b/c"),
            ("a", "./b"),
            ("d/a", ".."),
            ("a", "."),
        ];
        for (link, target) in ok {
            assert!(
                link_stays_inside(Path::new(link), Path::new(target)),
                "{link} -> {target}"
            );
        }
        let bad = [
            ("a", "../x"),
            ("d/a", "../../x"),
            ("a", "/etc"),
            ("a", "b/../../x"),
            ("d/a", "b/.."),
            ("a", ".."),
        ];
        for (link, target) in bad {
            assert!(
                !link_stays_inside(Path::new(link), Path::new(target)),
                "{link} -> {target}"
            );
        }
    }
}
