//! The merged hooks directory (TMP_HOOKS_PATH, /tmp/in_target.d in the
//! chroot), laid out as disk-image-create lays it out: every element's
//! sub-directories merged (phase directories whole, so scripts find their
//! companion files beside them; environment.d, init-scripts/, static/,
//! bin/ ... too) and its top-level files, install-types' choices linked into
//! install.d. The builder's own files live apart in `.solum/`: the script
//! runner and the environment.d order, the helpers (`bin/`: install-packages,
//! pkg-map; `host-bin/`: a `sudo` for host-side scripts when the builder runs
//! as root), the resolved pkg-maps and static/ + bin/ + init-scripts/ as one
//! tarball.

use crate::dibenv::OWN_DIR;
use crate::plan::{ElementFile, Plan};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A failure writing the hooks directory.
#[derive(Debug, thiserror::Error)]
pub enum HooksError {
    #[error("preparing hooks in {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("'{name}' is in both element '{first}' and element '{second}' (one hooks directory holds both, as in diskimage-builder)")]
    Duplicate {
        name: String,
        first: String,
        second: String,
    },
}

fn herr(path: &Path) -> impl FnOnce(std::io::Error) -> HooksError + '_ {
    move |source| HooksError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Helper commands shipped to scripts (in `.solum/bin`, first on PATH).
pub const HELPERS: &[(&str, &str)] = &[
    (
        "install-packages",
        include_str!("../helpers/install-packages"),
    ),
    ("pkg-map", include_str!("../helpers/pkg-map")),
    ("apt-get", include_str!("../helpers/apt-get")),
];
/// `sudo` for host-side scripts of a build running as root (`.solum/host-bin`).
pub const SUDO: &str = include_str!("../helpers/sudo");
/// The wrapper that sources environment.d then execs one script.
pub const RUN_SCRIPT: &str = include_str!("../helpers/dib-run-script");
/// Name of the static/ + bin/ + init-scripts tarball inside `.solum/`.
pub const FILES_TAR: &str = "files.tar";

fn mkdir(p: &Path) -> Result<(), HooksError> {
    fs::create_dir_all(p).map_err(herr(p))?;
    fs::set_permissions(p, fs::Permissions::from_mode(0o755)).map_err(herr(p))
}

fn write(p: &Path, data: &[u8], mode: u32) -> Result<(), HooksError> {
    fs::write(p, data).map_err(herr(p))?;
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).map_err(herr(p))
}

/// Copy one entry as `cp -a` does (a symlink as a symlink), replacing what
/// is at `dest` unless both are directories (then they merge).
fn copy_entry(src: &Path, dest: &Path) -> Result<(), HooksError> {
    let meta = fs::symlink_metadata(src).map_err(herr(src))?;
    let ft = meta.file_type();
    if ft.is_dir() {
        return merge_dir(src, dest, None);
    }
    if fs::symlink_metadata(dest).is_ok() {
        if dest.is_dir() && !dest.is_symlink() {
            fs::remove_dir_all(dest).map_err(herr(dest))?;
        } else {
            fs::remove_file(dest).map_err(herr(dest))?;
        }
    }
    if ft.is_symlink() {
        let target = fs::read_link(src).map_err(herr(src))?;
        std::os::unix::fs::symlink(&target, dest).map_err(herr(dest))
    } else if ft.is_file() {
        fs::copy(src, dest).map_err(herr(src))?;
        Ok(())
    } else {
        // Sockets, fifos, devices: nothing a hook can use.
        Ok(())
    }
}

/// Merge directory `src` into `dest`. With `owners` (the first level of an
/// element sub-directory), a file name already there from another element
/// is an error, as DIB's copy_hooks_not_overwrite makes it.
fn merge_dir(
    src: &Path,
    dest: &Path,
    mut owners: Option<(&mut BTreeMap<PathBuf, String>, &str)>,
) -> Result<(), HooksError> {
    if !dest.is_dir() {
        mkdir(dest)?;
    }
    let mut entries: Vec<PathBuf> = fs::read_dir(src)
        .map_err(herr(src))?
        .map(|e| e.map(|e| e.path()).map_err(herr(src)))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for entry in entries {
        let Some(name) = entry.file_name() else {
            continue;
        };
        let to = dest.join(name);
        let is_dir = fs::symlink_metadata(&entry)
            .map(|m| m.is_dir())
            .unwrap_or(false);
        if let Some((owners, element)) = owners.as_mut() {
            if !is_dir {
                if let Some(first) = owners.get(&to) {
                    return Err(HooksError::Duplicate {
                        name: to
                            .strip_prefix(dest.parent().unwrap_or(dest))
                            .unwrap_or(&to)
                            .display()
                            .to_string(),
                        first: first.clone(),
                        second: element.to_string(),
                    });
                }
                owners.insert(to.clone(), element.to_string());
            }
        }
        copy_entry(&entry, &to)?;
    }
    Ok(())
}

/// Every element's directories and top-level files into `dir`, as DIB's
/// generate_hooks copies them (`tests` and `__pycache__` left out).
fn copy_elements(plan: &Plan, dir: &Path) -> Result<(), HooksError> {
    let mut owners: BTreeMap<PathBuf, String> = BTreeMap::new();
    for el in &plan.elements {
        let mut entries: Vec<PathBuf> = fs::read_dir(&el.path)
            .map_err(herr(&el.path))?
            .map(|e| e.map(|e| e.path()).map_err(herr(&el.path)))
            .collect::<Result<_, _>>()?;
        entries.sort();
        for entry in entries {
            let Some(name) = entry.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if name == OWN_DIR {
                continue;
            }
            // Directories are followed at this level (DIB's `find -follow`).
            if entry.is_dir() {
                if name == "tests" || name == "__pycache__" {
                    continue;
                }
                merge_dir(&entry, &dir.join(name), Some((&mut owners, &el.name)))?;
            } else if entry.is_file() && !name.ends_with(".pyc") {
                copy_entry(&entry, &dir.join(name))?;
            }
        }
    }
    Ok(())
}

/// Write the hooks directory for `plan` into `dir` (which must exist).
pub fn prepare(plan: &Plan, dir: &Path) -> Result<(), HooksError> {
    mkdir(dir)?;
    copy_elements(plan, dir)?;
    for p in &plan.phases {
        let d = dir.join(p.phase.dir_name());
        mkdir(&d)?;
        // install-types: DIB links the chosen directory's files into the phase.
        for s in &p.scripts {
            if let Some(within) = &s.within {
                let link = d.join(&s.name);
                if fs::symlink_metadata(&link).is_ok() {
                    fs::remove_file(&link).map_err(herr(&link))?;
                }
                std::os::unix::fs::symlink(Path::new(within).join(&s.name), &link)
                    .map_err(herr(&link))?;
            }
        }
    }
    mkdir(&dir.join("environment.d"))?;
    let own = dir.join(OWN_DIR);
    mkdir(&own)?;
    let mut list = String::new();
    for f in &plan.environment_d {
        list.push_str(&f.name);
        list.push('\n');
    }
    write(&own.join("environment.list"), list.as_bytes(), 0o644)?;
    write(&own.join("dib-run-script"), RUN_SCRIPT.as_bytes(), 0o755)?;
    let bin = own.join("bin");
    mkdir(&bin)?;
    for (name, text) in HELPERS {
        write(&bin.join(name), text.as_bytes(), 0o755)?;
    }
    let host_bin = own.join("host-bin");
    mkdir(&host_bin)?;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        write(&host_bin.join("sudo"), SUDO.as_bytes(), 0o755)?;
    }
    let maps = own.join("pkg-map.d");
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
    write_files_tar(plan, &own.join(FILES_TAR))
}

/// static/ files at their paths, bin/ files under usr/local/bin and
/// init-scripts/systemd/ under usr/lib/systemd/system (where
/// dib-init-system puts them), owned by root, modes kept.
fn write_files_tar(plan: &Plan, dest: &Path) -> Result<(), HooksError> {
    let file = fs::File::create(dest).map_err(herr(dest))?;
    let mut b = tar::Builder::new(file);
    let entries: Vec<(String, &ElementFile)> = plan
        .static_files
        .iter()
        .map(|f| (f.name.clone(), f))
        .chain(
            plan.bin_files
                .iter()
                .map(|f| (format!("usr/local/bin/{}", f.name), f)),
        )
        .chain(
            plan.init_scripts
                .iter()
                .map(|f| (format!("usr/lib/systemd/system/{}", f.name), f)),
        )
        .collect();
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
    use std::collections::BTreeMap as Map;

    fn write_file(p: &Path, text: &str, mode: u32) {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
        fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn plan_for(root: &Path, env: &[(&str, &str)]) -> Plan {
        let opts = crate::collect::PlanOptions {
            image_name: "img".into(),
            outputs: vec!["tar".into()],
            release: "bookworm".into(),
            arch: "amd64".into(),
            extra_packages: vec![],
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Map<_, _>>(),
            args: String::new(),
            builtin_dir: None,
        };
        crate::planner::make_plan(
            &[root.to_path_buf()],
            &["os".into(), "a".into(), "b".into()],
            true,
            &opts,
        )
        .unwrap()
    }

    #[test]
    fn hooks_are_laid_out_as_dib_lays_them_out() {
        let t = tempfile::tempdir().unwrap();
        let e = t.path().join("elements");
        write_file(&e.join("os/element-provides"), "operating-system\n", 0o644);
        // a: a script with its companion file, a unit, tests left out.
        write_file(
            &e.join("a/install.d/10-a"),
            "#!/bin/sh\n. $(dirname $0)/a-helper.sh\n",
            0o755,
        );
        write_file(&e.join("a/install.d/a-helper.sh"), "true\n", 0o644);
        write_file(
            &e.join("a/init-scripts/systemd/a.service"),
            "[Unit]\n",
            0o644,
        );
        write_file(&e.join("a/tests/test_a.py"), "", 0o644);
        write_file(&e.join("a/svc-map"), "a: {}\n", 0o644);
        write_file(&e.join("a/modprobe.d/a.conf"), "blacklist a\n", 0o644);
        // b: install-types directories, one chosen.
        write_file(
            &e.join("b/install.d/b-source-install/20-b"),
            "#!/bin/sh\n",
            0o755,
        );
        write_file(
            &e.join("b/install.d/b-package-install/20-b"),
            "#!/bin/sh\n",
            0o755,
        );
        write_file(&e.join("b/static/etc/b.conf"), "b\n", 0o644);
        let plan = plan_for(&e, &[]);
        assert_eq!(
            plan.install_type_dirs,
            vec![("b".to_string(), "b-source-install".to_string())]
        );
        let hooks = t.path().join("hooks");
        prepare(&plan, &hooks).unwrap();
        assert!(hooks.join("install.d/a-helper.sh").is_file());
        assert!(hooks.join("init-scripts/systemd/a.service").is_file());
        assert!(hooks.join("modprobe.d/a.conf").is_file());
        assert!(hooks.join("svc-map").is_file());
        assert!(hooks.join("static/etc/b.conf").is_file());
        assert!(!hooks.join("tests").exists());
        assert_eq!(
            fs::read_link(hooks.join("install.d/20-b")).unwrap(),
            Path::new("b-source-install/20-b")
        );
        assert!(hooks.join("install.d/b-package-install/20-b").is_file());
        assert!(hooks.join(".solum/dib-run-script").is_file());
        assert!(hooks.join(".solum/bin/install-packages").is_file());
        // init-scripts/systemd go where dib-init-system puts them.
        let f = fs::File::open(hooks.join(".solum/files.tar")).unwrap();
        let names: Vec<String> = tar::Archive::new(f)
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert!(
            names.contains(&"usr/lib/systemd/system/a.service".to_string()),
            "{names:?}"
        );
        assert!(names.contains(&"etc/b.conf".to_string()), "{names:?}");
        // The other install type, by variable.
        let plan = plan_for(&e, &[("DIB_INSTALLTYPE_b", "package")]);
        assert_eq!(plan.install_type_dirs[0].1, "b-package-install");

        // Two elements with one file name in a directory: refused, both named.
        write_file(&e.join("b/modprobe.d/a.conf"), "blacklist b\n", 0o644);
        let plan = plan_for(&e, &[]);
        let err = prepare(&plan, &t.path().join("hooks2")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "'modprobe.d/a.conf' is in both element 'a' and element 'b' (one hooks directory holds both, as in diskimage-builder)"
        );
    }

    #[test]
    fn helpers_are_bash_syntax_clean() {
        for (name, text) in HELPERS
            .iter()
            .chain([("dib-run-script", RUN_SCRIPT), ("sudo", SUDO)].iter())
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
