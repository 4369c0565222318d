//! Making and packing root trees: the Debian base tree by mmdebstrap (or
//! debootstrap) with the apt archive cache, cached as a tarball; unpacking
//! a tarball into a tree; packing a tree into a tarball.

use crate::cache::{self, Cache, CacheError};
use crate::cmd::{self, CmdError};
use crate::plan::RootTree;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Why a root tree could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error(transparent)]
    Cmd(#[from] CmdError),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "--offline: no cached base tree for {release}/{arch} at {path}; build once online first"
    )]
    NotCached {
        release: String,
        arch: String,
        path: PathBuf,
    },
    #[error("neither mmdebstrap nor debootstrap is installed")]
    NoBootstrapper,
}

fn ioe(path: &Path) -> impl FnOnce(std::io::Error) -> RootfsError + '_ {
    move |source| RootfsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn have(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
        .unwrap_or(false)
}

/// Files mmdebstrap/debootstrap copy from the build host, removed from base trees.
const HOST_FILES: &str = "\"$1\"/etc/resolv.conf \"$1\"/etc/hostname";

/// The mmdebstrap command for a base tree, writing a tarball (pure).
pub fn mmdebstrap_command(tree: &RootTree, archives: &Path, out: &Path) -> Option<Command> {
    let RootTree::Debian {
        release,
        arch,
        variant,
        include,
        mirror,
    } = tree
    else {
        return None;
    };
    let a = archives.display().to_string();
    let mut c = Command::new("mmdebstrap");
    c.arg(format!("--variant={variant}"))
        .arg(format!("--arch={arch}"))
        .arg("--mode=root")
        .arg("--format=tar")
        // Keep apt lists so install-packages works offline; keep downloads
        // until they are synced to the cache.
        .arg("--skip=cleanup/apt/lists")
        .arg("--skip=download/empty")
        .arg("--setup-hook=mkdir -p \"$1\"/var/cache/apt/archives/")
        .arg(format!("--setup-hook=sync-in {a} /var/cache/apt/archives/"))
        .arg(format!(
            "--customize-hook=sync-out /var/cache/apt/archives {a}"
        ))
        .arg("--customize-hook=rm -f \"$1\"/var/cache/apt/archives/*.deb")
        // The build host's name and DNS do not belong in an image.
        .arg(format!("--customize-hook=rm -f {HOST_FILES}"));
    if !include.is_empty() {
        c.arg(format!("--include={}", include.join(",")));
    }
    c.arg(release).arg(out).arg(mirror);
    Some(c)
}

/// Make sure the base tarball for `tree` is cached; return its path.
pub fn ensure_base(
    cache: &Cache,
    tree: &RootTree,
    offline: bool,
) -> Result<Option<PathBuf>, RootfsError> {
    let RootTree::Debian {
        release,
        arch,
        variant,
        include,
        mirror,
    } = tree
    else {
        return Ok(None);
    };
    let key = cache::base_key(tree);
    let dest = cache.base_tar(release, arch, &key)?;
    let _lock = cache.lock(&format!("base-{key}"))?;
    if dest.is_file() {
        eprintln!("solum-image: base tree from cache {}", dest.display());
        return Ok(Some(dest));
    }
    if offline {
        return Err(RootfsError::NotCached {
            release: release.clone(),
            arch: arch.clone(),
            path: dest,
        });
    }
    let archives = cache.apt_archives(release, arch)?;
    let part = cache::partial(&dest);
    eprintln!("solum-image: making the {release} base tree (not cached yet)");
    let result = if have("mmdebstrap") {
        let mut c =
            mmdebstrap_command(tree, &archives, &part).ok_or(RootfsError::NoBootstrapper)?;
        cmd::run_streamed(&mut c, "  mmdebstrap: ", 20).map_err(RootfsError::from)
    } else if have("debootstrap") {
        debootstrap_tar(release, arch, variant, include, mirror, &archives, &part)
    } else {
        Err(RootfsError::NoBootstrapper)
    };
    if let Err(e) = result {
        let _ = fs::remove_file(&part);
        return Err(e);
    }
    fs::rename(&part, &dest).map_err(ioe(&dest))?;
    Ok(Some(dest))
}

fn debootstrap_tar(
    release: &str,
    arch: &str,
    variant: &str,
    include: &[String],
    mirror: &str,
    archives: &Path,
    out: &Path,
) -> Result<(), RootfsError> {
    let dir = tempfile::Builder::new()
        .prefix("solum-image-debootstrap-")
        .tempdir()
        .map_err(ioe(Path::new("/tmp")))?;
    let mut c = Command::new("debootstrap");
    c.arg(format!("--variant={variant}"))
        .arg(format!("--arch={arch}"))
        .arg(format!("--cache-dir={}", archives.display()));
    if !include.is_empty() {
        c.arg(format!("--include={}", include.join(",")));
    }
    c.arg(release).arg(dir.path()).arg(mirror);
    cmd::run_streamed(&mut c, "  debootstrap: ", 20)?;
    for f in ["etc/resolv.conf", "etc/hostname"] {
        let _ = fs::remove_file(dir.path().join(f));
    }
    pack(dir.path(), out)
}

/// Unpack a tree tarball into `root` (as root: owners, modes, xattrs kept).
pub fn unpack(tarball: &Path, root: &Path) -> Result<(), RootfsError> {
    fs::create_dir_all(root).map_err(ioe(root))?;
    cmd::run(
        Command::new("tar")
            .args([
                "--extract",
                "--same-permissions",
                "--numeric-owner",
                "--xattrs",
                "--xattrs-include=*",
            ])
            .arg("--file")
            .arg(tarball)
            .arg("--directory")
            .arg(root),
    )?;
    Ok(())
}

/// Pack `root` into `out` (one file system only: nothing mounted is taken).
pub fn pack(root: &Path, out: &Path) -> Result<(), RootfsError> {
    cmd::run(
        Command::new("tar")
            .args([
                "--create",
                "--numeric-owner",
                "--xattrs",
                "--xattrs-include=*",
                "--one-file-system",
                "--sort=name",
            ])
            .arg("--file")
            .arg(out)
            .arg("--directory")
            .arg(root)
            .arg("."),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mmdebstrap_args() {
        let tree = RootTree::Debian {
            release: "bookworm".into(),
            arch: "amd64".into(),
            variant: "minbase".into(),
            include: vec!["systemd".into(), "udev".into()],
            mirror: "http://deb.debian.org/debian".into(),
        };
        let c = mmdebstrap_command(&tree, Path::new("/c/apt"), Path::new("/c/out.tar")).unwrap();
        let line = cmd::describe(&c);
        assert!(
            line.starts_with("mmdebstrap --variant=minbase --arch=amd64 --mode=root"),
            "{line}"
        );
        assert!(
            line.contains("'--setup-hook=sync-in /c/apt /var/cache/apt/archives/'"),
            "{line}"
        );
        assert!(line.contains("--include=systemd,udev"), "{line}");
        assert!(
            line.ends_with("bookworm /c/out.tar http://deb.debian.org/debian"),
            "{line}"
        );
        assert!(mmdebstrap_command(&RootTree::Elements, Path::new("/"), Path::new("/x")).is_none());
    }

    #[test]
    fn pack_unpack_round_trip() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        fs::create_dir_all(src.join("etc")).unwrap();
        fs::write(src.join("etc/x"), "hello").unwrap();
        std::os::unix::fs::symlink("etc/x", src.join("link")).unwrap();
        let tarball = t.path().join("t.tar");
        pack(&src, &tarball).unwrap();
        let dst = t.path().join("dst");
        unpack(&tarball, &dst).unwrap();
        assert_eq!(fs::read_to_string(dst.join("etc/x")).unwrap(), "hello");
        assert_eq!(fs::read_link(dst.join("link")).unwrap(), Path::new("etc/x"));
        let e = unpack(&t.path().join("missing.tar"), &dst).unwrap_err();
        assert!(e.to_string().contains("`tar --extract"), "{e}");
    }
}
