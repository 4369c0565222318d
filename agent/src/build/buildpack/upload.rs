//! The archive uploaded into the build container: the source at /tmp/build (without `.git`),
//! the buildpacks under /tmp/buildpacks with their order, one file per variable in /tmp/env,
//! and the driver script; every entry owned by uid/gid 32767. Written to a file (the source
//! may be large) and streamed to the engine from there.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use tar::{Builder, EntryType, Header};

use super::plan::Selection;
use crate::build::BuildError;
use crate::stack::APP_UID;

/// The driver script run in the build container.
pub const DRIVER: &str = include_str!("driver.sh");

/// Directory name of the `i`-th buildpack under /tmp/buildpacks.
pub fn pack_dir_name(i: usize) -> String {
    format!("{i:02}")
}

/// The `.order` file the driver reads: the mode, then the buildpack directories.
pub fn order_file(selection: &Selection) -> String {
    let mut out = format!("{}\n", selection.mode.as_str());
    for i in 0..selection.packs.len() {
        out.push_str(&pack_dir_name(i));
        out.push('\n');
    }
    out
}

/// Checks that `key` can be a file name in ENV_DIR (and an environment variable).
pub fn check_env_key(key: &str) -> Result<(), BuildError> {
    let mut chars = key.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(BuildError::Other(format!(
            "parameter {key:?} is not a valid environment variable name (letters, digits, `_`; not starting with a digit)"
        )))
    }
}

fn header(kind: EntryType, mode: u32, size: u64) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_uid(APP_UID.into());
    h.set_gid(APP_UID.into());
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h
}

fn append_bytes<W: Write>(
    b: &mut Builder<W>,
    path: &str,
    mode: u32,
    data: &[u8],
) -> std::io::Result<()> {
    let mut h = header(EntryType::Regular, mode, data.len() as u64);
    b.append_data(&mut h, path, data)
}

/// Appends the tree `src` under `prefix`, `.git` directories left out, symlinks kept.
fn append_tree<W: Write>(b: &mut Builder<W>, src: &Path, prefix: &str) -> std::io::Result<()> {
    let walk = walkdir::WalkDir::new(src)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || e.file_name() != ".git");
    for entry in walk {
        let entry = entry.map_err(std::io::Error::other)?;
        let rel = entry
            .path()
            .strip_prefix(src)
            .map_err(std::io::Error::other)?;
        let path = if rel.as_os_str().is_empty() {
            prefix.to_string()
        } else {
            format!("{prefix}/{}", rel.display())
        };
        let meta = entry.path().symlink_metadata()?;
        // The owner (32767) must be able to read everything and enter every directory.
        let mode = meta.permissions().mode() & 0o7777;
        let ft = meta.file_type();
        if ft.is_dir() {
            let mut h = header(EntryType::Directory, mode | 0o700, 0);
            b.append_data(&mut h, format!("{path}/"), std::io::empty())?;
        } else if ft.is_symlink() {
            let target = std::fs::read_link(entry.path())?;
            let mut h = header(EntryType::Symlink, 0o777, 0);
            b.append_link(&mut h, &path, &target)?;
        } else if ft.is_file() {
            let mut h = header(EntryType::Regular, mode | 0o600, meta.len());
            b.append_data(&mut h, &path, std::fs::File::open(entry.path())?)?;
        }
        // Sockets, fifos and devices have no place in a build: skipped.
    }
    Ok(())
}

/// Writes the upload archive to `out`.
pub fn write_archive(
    out: &Path,
    source: &Path,
    selection: &Selection,
    env: &BTreeMap<String, String>,
) -> Result<(), BuildError> {
    for key in env.keys() {
        check_env_key(key)?;
    }
    let file = std::fs::File::create(out)
        .map_err(|e| BuildError::io(format!("creating {}", out.display()), e))?;
    let mut b = Builder::new(std::io::BufWriter::new(file));
    let ctx = |what: String| move |e: std::io::Error| BuildError::io(what, e);
    append_tree(&mut b, source, "tmp/build")
        .map_err(ctx(format!("archiving the source {}", source.display())))?;
    for (i, pack) in selection.packs.iter().enumerate() {
        append_tree(
            &mut b,
            &pack.dir,
            &format!("tmp/buildpacks/{}", pack_dir_name(i)),
        )
        .map_err(ctx(format!(
            "archiving buildpack {} ({})",
            pack.name,
            pack.dir.display()
        )))?;
    }
    append_bytes(
        &mut b,
        "tmp/buildpacks/.order",
        0o644,
        order_file(selection).as_bytes(),
    )
    .map_err(ctx("archiving the buildpack order".into()))?;
    for (k, v) in env {
        append_bytes(&mut b, &format!("tmp/env/{k}"), 0o600, v.as_bytes())
            .map_err(ctx(format!("archiving ENV_DIR/{k}")))?;
    }
    append_bytes(&mut b, "tmp/driver.sh", 0o755, DRIVER.as_bytes())
        .map_err(ctx("archiving the driver".into()))?;
    let writer = b
        .into_inner()
        .map_err(ctx(format!("writing {}", out.display())))?;
    writer
        .into_inner()
        .map_err(|e| BuildError::io(format!("writing {}", out.display()), e.into_error()))?
        .sync_all()
        .ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::plan::{Buildpack, Mode};
    use super::*;

    #[test]
    fn env_keys() {
        assert!(check_env_key("DATABASE_URL").is_ok());
        assert!(check_env_key("_x1").is_ok());
        for bad in ["", "1A", "A-B", "../x", "A B", "a/b"] {
            let e = check_env_key(bad).unwrap_err().to_string();
            assert!(
                e.contains("not a valid environment variable name"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn archive_has_everything_owned_by_app_and_no_git() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        std::fs::create_dir_all(src.join(".git/objects")).unwrap();
        std::fs::create_dir_all(src.join("lib")).unwrap();
        std::fs::write(src.join(".git/HEAD"), "x").unwrap();
        std::fs::write(src.join("lib/a.py"), "print(1)").unwrap();
        std::os::unix::fs::symlink("lib/a.py", src.join("link")).unwrap();
        let bp = tmp.path().join("bp");
        std::fs::create_dir_all(bp.join("bin")).unwrap();
        std::fs::write(bp.join("bin/compile"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            bp.join("bin/compile"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let sel = Selection {
            mode: Mode::DetectFirst,
            packs: vec![Buildpack {
                name: "x".into(),
                dir: bp,
            }],
        };
        let out = tmp.path().join("up.tar");
        let env = BTreeMap::from([("SECRET".to_string(), "s3".to_string())]);
        write_archive(&out, &src, &sel, &env).unwrap();

        let mut seen = BTreeMap::new();
        let mut ar = tar::Archive::new(std::fs::File::open(&out).unwrap());
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            assert_eq!(
                (e.header().uid().unwrap(), e.header().gid().unwrap()),
                (32767, 32767)
            );
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let mut body = String::new();
            std::io::Read::read_to_string(&mut e, &mut body).unwrap();
            seen.insert(path, (e.header().mode().unwrap(), body));
        }
        assert!(
            seen.keys().all(|p| !p.contains(".git")),
            "{:?}",
            seen.keys()
        );
        assert_eq!(seen["tmp/build/lib/a.py"].1, "print(1)");
        assert!(seen.contains_key("tmp/build/link"));
        assert_eq!(seen["tmp/buildpacks/00/bin/compile"].0 & 0o111, 0o111);
        assert_eq!(seen["tmp/buildpacks/.order"].1, "detect-first\n00\n");
        assert_eq!(seen["tmp/env/SECRET"].1, "s3");
        assert!(seen["tmp/driver.sh"].1.starts_with("#!/bin/bash"));
        assert!(write_archive(
            &out,
            &src,
            &sel,
            &BTreeMap::from([("A/B".to_string(), String::new())])
        )
        .is_err());
    }
}
