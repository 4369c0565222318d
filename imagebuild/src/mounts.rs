//! Mounts and the chroot as RAII guards: every mount made is unmounted on
//! drop, in reverse order, on success, error and interrupt alike.

use crate::cmd::{self, CmdError};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A mount-related failure.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error(transparent)]
    Cmd(#[from] CmdError),
    #[error("{path}: {what}")]
    Unsafe { path: PathBuf, what: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn ioe(path: &Path) -> impl FnOnce(std::io::Error) -> MountError + '_ {
    move |source| MountError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One mount, unmounted when dropped.
#[derive(Debug)]
pub struct Mount {
    target: PathBuf,
}

impl Mount {
    /// `mount ARGS... TARGET`.
    pub fn new(args: &[&str], target: &Path) -> Result<Mount, MountError> {
        cmd::run(Command::new("mount").args(args).arg(target))?;
        Ok(Mount {
            target: target.to_path_buf(),
        })
    }

    pub fn target(&self) -> &Path {
        &self.target
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if cmd::run(Command::new("umount").arg(&self.target)).is_err() {
            // Busy (a straggler process): detach it; the namespace ends with us.
            if let Err(e) = cmd::run(Command::new("umount").arg("-l").arg(&self.target)) {
                tracing::warn!("{e}");
            }
        }
    }
}

/// A directory inside `root` that is a real directory, not a symlink that
/// could point out of the tree. Created (0755) when missing.
pub fn safe_dir(root: &Path, rel: &str) -> Result<PathBuf, MountError> {
    let mut cur = root.to_path_buf();
    for part in rel.split('/').filter(|p| !p.is_empty()) {
        cur.push(part);
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(MountError::Unsafe {
                    path: cur,
                    what: "is a symlink; refusing to mount over it".into(),
                })
            }
            Ok(m) if !m.is_dir() => {
                return Err(MountError::Unsafe {
                    path: cur,
                    what: "is not a directory".into(),
                })
            }
            Ok(_) => {}
            Err(_) => {
                fs::create_dir(&cur).map_err(ioe(&cur))?;
            }
        }
    }
    Ok(cur)
}

/// A file created for the duration of the chroot and removed afterwards,
/// with whatever it replaced put back.
/// If the build replaced the file (e.g. a package made resolv.conf a
/// symlink), the build's version is kept and the saved one dropped.
#[derive(Debug)]
struct Swapped {
    path: PathBuf,
    saved: Option<PathBuf>,
    contents: Vec<u8>,
}

impl Swapped {
    fn put(path: PathBuf, contents: &[u8], mode: u32) -> Result<Swapped, MountError> {
        use std::os::unix::fs::PermissionsExt;
        let saved = if fs::symlink_metadata(&path).is_ok() {
            let s = path.with_extension("solum-orig");
            fs::rename(&path, &s).map_err(ioe(&path))?;
            Some(s)
        } else {
            None
        };
        let guard = Swapped {
            path,
            saved,
            contents: contents.to_vec(),
        };
        fs::write(&guard.path, contents).map_err(ioe(&guard.path))?;
        fs::set_permissions(&guard.path, fs::Permissions::from_mode(mode))
            .map_err(ioe(&guard.path))?;
        Ok(guard)
    }
}

impl Drop for Swapped {
    fn drop(&mut self) {
        let ours = fs::symlink_metadata(&self.path)
            .map(|m| m.is_file())
            .unwrap_or(false)
            && fs::read(&self.path)
                .map(|c| c == self.contents)
                .unwrap_or(false);
        if !ours && fs::symlink_metadata(&self.path).is_ok() {
            if let Some(s) = &self.saved {
                let _ = fs::remove_file(s);
            }
            return;
        }
        let _ = fs::remove_file(&self.path);
        if let Some(s) = &self.saved {
            if let Err(e) = fs::rename(s, &self.path) {
                tracing::warn!("cannot restore {}: {e}", self.path.display());
            }
        }
    }
}

/// The tree made ready for chrooted scripts: /proc, /dev, /dev/pts, a
/// read-only /sys, the hooks at /tmp/in_target.d, optionally the apt
/// archive cache, the host's resolv.conf and a policy-rc.d that keeps
/// services from starting. All undone on drop.
#[derive(Debug)]
pub struct Chroot {
    root: PathBuf,
    mounts: Vec<Mount>,
    files: Vec<Swapped>,
    /// Directories made for `keep_dns`, removed (when empty) on drop.
    made_dirs: Vec<PathBuf>,
    host_resolv: Vec<u8>,
}

/// Where a symlink at `base` (relative to the root) pointing at `target`
/// lands inside the root, as the chroot resolves it (`..` stops at the root).
fn in_root(base: &Path, target: &Path) -> PathBuf {
    use std::path::Component;
    let joined = if target.is_absolute() {
        target.to_path_buf()
    } else {
        base.join(target)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

pub use crate::dibenv::IN_TARGET;

impl Chroot {
    pub fn enter(
        root: &Path,
        hooks: &Path,
        apt_cache: Option<&Path>,
    ) -> Result<Chroot, MountError> {
        let mut c = Chroot {
            root: root.to_path_buf(),
            mounts: Vec::new(),
            files: Vec::new(),
            made_dirs: Vec::new(),
            host_resolv: Vec::new(),
        };
        let m = |args: &[&str], rel: &str, c: &mut Chroot| -> Result<(), MountError> {
            let dir = safe_dir(root, rel)?;
            c.mounts.push(Mount::new(args, &dir)?);
            Ok(())
        };
        m(&["-t", "proc", "proc"], "proc", &mut c)?;
        m(&["--bind", "/dev"], "dev", &mut c)?;
        m(&["--bind", "/dev/pts"], "dev/pts", &mut c)?;
        m(
            &["-t", "sysfs", "-o", "ro,nosuid,nodev,noexec", "sysfs"],
            "sys",
            &mut c,
        )?;
        let hooks_s = hooks.to_string_lossy().into_owned();
        m(
            &["--bind", &hooks_s],
            IN_TARGET.trim_start_matches('/'),
            &mut c,
        )?;
        if let Some(cache) = apt_cache {
            let s = cache.to_string_lossy().into_owned();
            m(&["--bind", &s], "var/cache/apt/archives", &mut c)?;
        }
        let etc = safe_dir(root, "etc")?;
        let resolv = fs::read("/etc/resolv.conf").unwrap_or_default();
        c.files
            .push(Swapped::put(etc.join("resolv.conf"), &resolv, 0o644)?);
        c.host_resolv = resolv;
        let sbin = safe_dir(root, "usr/sbin")?;
        c.files.push(Swapped::put(
            sbin.join("policy-rc.d"),
            b"#!/bin/sh\n# solum-image: no services start during the build\nexit 101\n",
            0o755,
        )?);
        Ok(c)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Keep name resolution working for the rest of the session: when a
    /// package replaced /etc/resolv.conf by a symlink whose target is not in
    /// the tree (systemd-resolved's stub under /run), the host's resolv.conf
    /// goes at the target until the chroot ends.
    pub fn keep_dns(&mut self) -> Result<(), MountError> {
        let Ok(target) = fs::read_link(self.root.join("etc/resolv.conf")) else {
            return Ok(());
        };
        let rel = in_root(Path::new("etc"), &target);
        let dest = self.root.join(&rel);
        if rel.as_os_str().is_empty() || fs::symlink_metadata(&dest).is_ok() {
            return Ok(());
        }
        let mut dir = self.root.clone();
        for part in rel.parent().into_iter().flat_map(|p| p.components()) {
            dir.push(part);
            match fs::symlink_metadata(&dir) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Ok(()), // a link or a file on the way: leave it
                Err(_) => {
                    fs::create_dir(&dir).map_err(ioe(&dir))?;
                    self.made_dirs.push(dir.clone());
                }
            }
        }
        let resolv = self.host_resolv.clone();
        self.files.push(Swapped::put(dest, &resolv, 0o644)?);
        Ok(())
    }
}

impl Drop for Chroot {
    fn drop(&mut self) {
        while let Some(f) = self.files.pop() {
            drop(f);
        }
        while let Some(d) = self.made_dirs.pop() {
            let _ = fs::remove_dir(d);
        }
        while let Some(m) = self.mounts.pop() {
            drop(m);
        }
        let _ = fs::remove_dir(self.root.join(IN_TARGET.trim_start_matches('/')));
    }
}

/// Mount points at or below `dir` listed in /proc/self/mountinfo.
pub fn mounts_below(dir: &Path) -> Vec<PathBuf> {
    let Ok(text) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(p.replace("\\040", " ")))
        .filter(|p| p.starts_with(dir))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_dir_refuses_symlinks_out_of_tree() {
        let t = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/", t.path().join("proc")).unwrap();
        let e = safe_dir(t.path(), "proc").unwrap_err();
        assert!(e.to_string().contains("is a symlink"), "{e}");
        let d = safe_dir(t.path(), "a/b").unwrap();
        assert!(d.is_dir());
    }

    #[test]
    fn resolv_conf_links_land_in_the_root() {
        assert_eq!(
            in_root(
                Path::new("etc"),
                Path::new("../run/systemd/resolve/stub-resolv.conf")
            ),
            Path::new("run/systemd/resolve/stub-resolv.conf")
        );
        assert_eq!(
            in_root(Path::new("etc"), Path::new("/run/x")),
            Path::new("run/x")
        );
        assert_eq!(
            in_root(Path::new("etc"), Path::new("../../../../x")),
            Path::new("x")
        );
    }

    #[test]
    fn swapped_file_restored() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("resolv.conf");
        fs::write(&p, "orig").unwrap();
        {
            let _g = Swapped::put(p.clone(), b"temp", 0o644).unwrap();
            assert_eq!(fs::read_to_string(&p).unwrap(), "temp");
        }
        assert_eq!(fs::read_to_string(&p).unwrap(), "orig");
        // Replaced by the build: the build's version stays, the backup goes.
        {
            let _g = Swapped::put(p.clone(), b"temp", 0o644).unwrap();
            fs::remove_file(&p).unwrap();
            std::os::unix::fs::symlink("../run/stub", &p).unwrap();
        }
        assert_eq!(fs::read_link(&p).unwrap(), Path::new("../run/stub"));
        assert!(!p.with_extension("solum-orig").exists());
        let q = t.path().join("new");
        drop(Swapped::put(q.clone(), b"x", 0o755).unwrap());
        assert!(!q.exists());
    }
}
