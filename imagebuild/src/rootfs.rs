//! Making and packing root trees: the Debian base tree by mmdebstrap (or
//! debootstrap) with the apt archive cache, cached as a tarball; unpacking
//! a tarball into a tree; packing a tree into a tarball.

use crate::cache::{self, Cache, CacheError};
use crate::cmd::{self, CmdError};
use crate::plan::RootTree;
use crate::progress;
use solum_edge::bootstrap::{self, Bootstrapper, Debian};
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

/// Files mmdebstrap/debootstrap copy from the build host, removed from base trees.
const HOST_FILES: &str = "\"$1\"/etc/resolv.conf \"$1\"/etc/hostname";

/// The mmdebstrap command making a base tree in the directory `target`
/// (pure). The downloaded packages go to (and come from) `archives`.
pub fn mmdebstrap_command(tree: &RootTree, archives: &Path, target: &Path) -> Option<Command> {
    let RootTree::Debian {
        release,
        arch,
        variant,
        include,
        sources,
        ..
    } = tree
    else {
        return None;
    };
    let a = archives.display().to_string();
    let mut c = Command::new("mmdebstrap");
    c.arg(format!("--variant={variant}"))
        .arg(format!("--arch={arch}"))
        .arg("--mode=root")
        .arg("--format=directory")
        // Keep apt lists so install-packages works offline; keep downloads
        // until they are synced to the cache.
        .arg("--skip=cleanup/apt/lists")
        .arg("--skip=download/empty")
        // No fsync per file (as install-packages and DIB): the tree is packed
        // into the cache and written into a disk image afterwards anyway.
        .arg("--dpkgopt=force-unsafe-io")
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
    c.arg(release).arg(target);
    c.args(sources);
    Some(c)
}

/// Lay the Debian base tree of `tree` into the empty directory `root`: from
/// the base-tree cache, or made there by mmdebstrap (debootstrap as a
/// fallback) and then cached. Returns false when `tree` is not made by the
/// builder (root.d scripts make it).
pub fn lay_base(
    cache: &Cache,
    tree: &RootTree,
    offline: bool,
    root: &Path,
) -> Result<bool, RootfsError> {
    let RootTree::Debian {
        release,
        arch,
        variant,
        include,
        mirror,
        ..
    } = tree
    else {
        return Ok(false);
    };
    let key = cache::base_key(tree);
    let dest = cache.base_tar(release, arch, &key)?;
    let _lock = cache.lock(&format!("base-{key}"))?;
    if dest.is_file() {
        progress::line(&format!(
            "solum-image: base tree from cache {}",
            dest.display()
        ));
        progress::step(&format!("base tree: unpacking {release}"));
        unpack(&dest, root)?;
        return Ok(true);
    }
    if offline {
        return Err(RootfsError::NotCached {
            release: release.clone(),
            arch: arch.clone(),
            path: dest,
        });
    }
    let archives = cache.apt_archives(release, arch)?;
    progress::line(&format!(
        "solum-image: making the {release} base tree (not cached yet)"
    ));
    progress::step(&format!("base tree: bootstrapping {release}"));
    // Made in place (no tarball to unpack), then packed for the cache: packing
    // reads what is still in the page cache; unpacking would write it all again.
    match Bootstrapper::find() {
        Some(Bootstrapper::Mmdebstrap) => {
            let c = mmdebstrap_command(tree, &archives, root).ok_or(RootfsError::NoBootstrapper)?;
            bootstrap::run_blocking(c, &cmd::to_progress("  mmdebstrap: "), 20)?;
        }
        Some(Bootstrapper::Debootstrap) => {
            debootstrap(release, arch, variant, include, mirror, &archives, root)?
        }
        None => return Err(RootfsError::NoBootstrapper),
    }
    let part = cache::partial(&dest);
    if let Err(e) = pack(root, &part) {
        let _ = fs::remove_file(&part);
        return Err(e);
    }
    fs::rename(&part, &dest).map_err(ioe(&dest))?;
    Ok(true)
}

fn debootstrap(
    release: &str,
    arch: &str,
    variant: &str,
    include: &[String],
    mirror: &str,
    archives: &Path,
    root: &Path,
) -> Result<(), RootfsError> {
    let include: Vec<&str> = include.iter().map(String::as_str).collect();
    let debian = Debian {
        variant,
        arch: Some(arch),
        include: &include,
    };
    let args = debian.debootstrap_args(Some(archives), release, root, mirror);
    let c = bootstrap::command("debootstrap", &args, None);
    bootstrap::run_blocking(c, &cmd::to_progress("  debootstrap: "), 20)?;
    for f in ["etc/resolv.conf", "etc/hostname"] {
        let _ = fs::remove_file(root.join(f));
    }
    Ok(())
}

/// Unpack a tarball into `root` (as root: owners, modes, xattrs kept).
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

/// How every tree tarball is made: owners by number, xattrs, one file system
/// only (nothing mounted is taken), names sorted and no access or change
/// times (the pax format that xattrs need would record them): the same tree
/// always gives the same tarball.
const TAR_CREATE: &[&str] = &[
    "--create",
    "--numeric-owner",
    "--xattrs",
    "--xattrs-include=*",
    "--pax-option=delete=atime,delete=ctime",
    "--one-file-system",
    "--sort=name",
];

/// The same as a shell command writing the tarball of the directory `$1` to
/// stdout (for pipelines).
pub const TAR_CREATE_SH: &str = "tar --create --numeric-owner --xattrs '--xattrs-include=*' \
     --pax-option=delete=atime,delete=ctime --one-file-system --sort=name --directory \"$1\" .";

/// Pack `root` into `out`.
pub fn pack(root: &Path, out: &Path) -> Result<(), RootfsError> {
    cmd::run(
        Command::new("tar")
            .args(TAR_CREATE)
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
            sources: crate::plan::debian_sources(
                "bookworm",
                "http://deb.debian.org/debian",
                "http://deb.debian.org/debian-security",
                "main",
            ),
        };
        let c = mmdebstrap_command(&tree, Path::new("/c/apt"), Path::new("/c/root")).unwrap();
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
        assert!(line.contains("--format=directory"), "{line}");
        assert!(
            line.ends_with(
                "bookworm /c/root 'deb http://deb.debian.org/debian bookworm main' \
                 'deb http://deb.debian.org/debian bookworm-updates main' \
                 'deb http://deb.debian.org/debian-security bookworm-security main'"
            ),
            "{line}"
        );
        assert!(mmdebstrap_command(&RootTree::Elements, Path::new("/"), Path::new("/x")).is_none());
    }

    #[test]
    fn shell_tar_matches_pack() {
        for flag in TAR_CREATE {
            let shown = if flag.contains('*') {
                format!("'{flag}'")
            } else {
                flag.to_string()
            };
            assert!(TAR_CREATE_SH.contains(&shown), "{flag}");
        }
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
        // Reading the tree (atime) or chmod to the same mode (ctime) changes nothing.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let again = t.path().join("again.tar");
        fs::read(src.join("etc/x")).unwrap();
        let mode = fs::metadata(src.join("etc/x")).unwrap().permissions();
        fs::set_permissions(src.join("etc/x"), mode).unwrap();
        pack(&src, &again).unwrap();
        assert_eq!(fs::read(&tarball).unwrap(), fs::read(&again).unwrap());
        let dst = t.path().join("dst");
        unpack(&tarball, &dst).unwrap();
        assert_eq!(fs::read_to_string(dst.join("etc/x")).unwrap(), "hello");
        assert_eq!(fs::read_link(dst.join("link")).unwrap(), Path::new("etc/x"));
        let e = unpack(&t.path().join("missing.tar"), &dst).unwrap_err();
        assert!(e.to_string().contains("`tar --extract"), "{e}");
    }
}
