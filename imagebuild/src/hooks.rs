//! The merged hooks directory (TMP_HOOKS_PATH, /tmp/in_target.d in the
//! chroot): every phase's scripts, environment.d and its order, the DIB
//! helper commands, resolved pkg-maps, and static/ + bin/ as one tarball.

use crate::plan::{ElementFile, Plan};
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A failure writing the hooks directory.
#[derive(Debug, thiserror::Error)]
#[error("preparing hooks in {path}: {source}")]
pub struct HooksError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

fn herr(path: &Path) -> impl FnOnce(std::io::Error) -> HooksError + '_ {
    move |source| HooksError {
        path: path.to_path_buf(),
        source,
    }
}

/// Helper commands shipped to scripts (in `bin/`, first on PATH).
pub const HELPERS: &[(&str, &str)] = &[
    (
        "install-packages",
        include_str!("../helpers/install-packages"),
    ),
    ("pkg-map", include_str!("../helpers/pkg-map")),
];
/// The wrapper that sources environment.d then execs one script.
pub const RUN_SCRIPT: &str = include_str!("../helpers/dib-run-script");
/// Name of the static/ + bin/ tarball inside the hooks directory.
pub const FILES_TAR: &str = "files.tar";

fn mkdir(p: &Path) -> Result<(), HooksError> {
    fs::create_dir_all(p).map_err(herr(p))?;
    fs::set_permissions(p, fs::Permissions::from_mode(0o755)).map_err(herr(p))
}

fn write(p: &Path, data: &[u8], mode: u32) -> Result<(), HooksError> {
    fs::write(p, data).map_err(herr(p))?;
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).map_err(herr(p))
}

fn copy(f: &ElementFile, dest: &Path) -> Result<(), HooksError> {
    let mode = fs::metadata(&f.source)
        .map_err(herr(&f.source))?
        .permissions()
        .mode();
    let data = fs::read(&f.source).map_err(herr(&f.source))?;
    write(dest, &data, mode & 0o7777 | 0o444)
}

/// Write the hooks directory for `plan` into `dir` (which must exist).
pub fn prepare(plan: &Plan, dir: &Path) -> Result<(), HooksError> {
    mkdir(dir)?;
    for p in &plan.phases {
        let d = dir.join(p.phase.dir_name());
        mkdir(&d)?;
        for s in &p.scripts {
            copy(s, &d.join(&s.name))?;
        }
    }
    let env_dir = dir.join("environment.d");
    mkdir(&env_dir)?;
    let mut list = String::new();
    for f in &plan.environment_d {
        copy(f, &env_dir.join(&f.name))?;
        list.push_str(&f.name);
        list.push('\n');
    }
    write(&dir.join("environment.list"), list.as_bytes(), 0o644)?;
    write(&dir.join("dib-run-script"), RUN_SCRIPT.as_bytes(), 0o755)?;
    let bin = dir.join("bin");
    mkdir(&bin)?;
    for (name, text) in HELPERS {
        write(&bin.join(name), text.as_bytes(), 0o755)?;
    }
    let maps = dir.join("pkg-map.d");
    mkdir(&maps)?;
    for (element, map) in &plan.pkg_maps {
        let mut text = String::new();
        for (generic, pkgs) in map {
            text.push_str(generic);
            for p in pkgs {
                text.push(' ');
                text.push_str(p);
            }
            text.push('\n');
        }
        write(&maps.join(element), text.as_bytes(), 0o644)?;
    }
    write_files_tar(plan, &dir.join(FILES_TAR))
}

/// static/ files at their paths and bin/ files under usr/local/bin, owned
/// by root, modes kept.
fn write_files_tar(plan: &Plan, dest: &Path) -> Result<(), HooksError> {
    let file = fs::File::create(dest).map_err(herr(dest))?;
    let mut b = tar::Builder::new(file);
    let entries = plan.static_files.iter().map(|f| (f.name.clone(), f)).chain(
        plan.bin_files
            .iter()
            .map(|f| (format!("usr/local/bin/{}", f.name), f)),
    );
    for (name, f) in entries {
        let meta = fs::symlink_metadata(&f.source).map_err(herr(&f.source))?;
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_mode(meta.permissions().mode() & 0o7777);
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&f.source).map_err(herr(&f.source))?;
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, &name, &target)
                .map_err(herr(&f.source))?;
        } else {
            let data = fs::read(&f.source).map_err(herr(&f.source))?;
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(data.len() as u64);
            b.append_data(&mut h, &name, data.as_slice())
                .map_err(herr(&f.source))?;
        }
    }
    let mut file = b.into_inner().map_err(herr(dest))?;
    file.flush().map_err(herr(dest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_are_bash_syntax_clean() {
        for (name, text) in HELPERS
            .iter()
            .chain([("dib-run-script", RUN_SCRIPT)].iter())
        {
            let out = std::process::Command::new("bash")
                .args(["-n", "-c", text])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
