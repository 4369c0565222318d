//! Reading resolved elements into a `Plan`: environment.d, package-installs,
//! pkg-map, static/, bin/, init-scripts/, phase hooks and install-types
//! directories, the caller's variables and the host files the build reads.
//! The only I/O of planning (with `envprobe`, which it calls).

use crate::dibenv;
use crate::element::Element;
use crate::envprobe::{self, ProbeError};
use crate::inputs;
use crate::packages::{self, Format, PackageEntry, PackageError, PkgMap, Target};
use crate::phase::Phase;
use crate::plan::{self, Duplicate, ElementFile, PhasePlan, Plan, PlanElement, RootTree};
use crate::resolve::Resolved;
use crate::runparts;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Why a plan cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Read(#[from] solum_limits::ReadError),
    #[error(transparent)]
    Packages(#[from] PackageError),
    #[error(transparent)]
    Duplicate(#[from] Duplicate),
    #[error(
        "element '{element}' has both package-installs.yaml and package-installs.json; keep one"
    )]
    TwoPackageFiles { element: String },
    #[error("bad package name '{name}' (from {from})")]
    BadPackage { name: String, from: String },
    #[error("{path}: file name is not valid UTF-8")]
    BadFileName { path: PathBuf },
    #[error(transparent)]
    Probe(#[from] ProbeError),
}

/// What the caller decides about a build.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    pub image_name: String,
    pub outputs: Vec<String>,
    pub release: String,
    pub arch: String,
    pub extra_packages: Vec<String>,
    /// The process environment (all of it; the plan keeps what it needs).
    pub env: BTreeMap<String, String>,
    /// `DIB_ARGS`: the arguments that shape the tree, in disk-image-create's syntax.
    pub args: String,
    /// The builder's own elements directory (`element::BUILTIN` come from it).
    pub builtin_dir: Option<PathBuf>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CollectError + '_ {
    move |source| CollectError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Directory entries (name, path), or none if the directory is absent.
fn list_dir(dir: &Path) -> Result<Vec<(String, PathBuf)>, CollectError> {
    let rd = match fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir)(e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        let name = entry
            .file_name()
            .to_str()
            .map(String::from)
            .ok_or_else(|| CollectError::BadFileName { path: path.clone() })?;
        out.push((name, path));
    }
    out.sort();
    Ok(out)
}

fn is_executable_file(path: &Path) -> bool {
    fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn file(name: &str, element: &str, source: &Path) -> ElementFile {
    ElementFile {
        name: name.to_string(),
        element: element.to_string(),
        source: source.to_path_buf(),
        within: None,
    }
}

/// Files under `dir`, recursively, as paths relative to it (sorted).
fn tree_files(dir: &Path, element: &str) -> Result<Vec<ElementFile>, CollectError> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name().min_depth(1) {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(dir).to_path_buf();
            CollectError::Io {
                path,
                source: e
                    .into_io_error()
                    .unwrap_or_else(|| std::io::Error::other("loop in directory tree")),
            }
        })?;
        if entry.file_type().is_dir() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(dir)
            .ok()
            .and_then(Path::to_str)
            .ok_or_else(|| CollectError::BadFileName {
                path: entry.path().to_path_buf(),
            })?;
        out.push(file(rel, element, entry.path()));
    }
    Ok(out)
}

fn package_file(el: &Element) -> Result<Option<(PathBuf, Format)>, CollectError> {
    let yaml = el.path.join("package-installs.yaml");
    let json = el.path.join("package-installs.json");
    match (yaml.is_file(), json.is_file()) {
        (true, true) => Err(CollectError::TwoPackageFiles {
            element: el.name.clone(),
        }),
        (true, false) => Ok(Some((yaml, Format::Yaml))),
        (false, true) => Ok(Some((json, Format::Json))),
        (false, false) => Ok(None),
    }
}

/// Make the plan for resolved elements.
pub fn collect(resolved: &Resolved<'_>, opts: &PlanOptions) -> Result<Plan, CollectError> {
    let distro = "debian".to_string();
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let mut passed_env: BTreeMap<String, String> = BTreeMap::new();
    let mut secret_vars = Vec::new();
    let mut secrets = Sha256::new();
    for (k, v) in &opts.env {
        if !dibenv::passes(k) {
            continue;
        }
        if dibenv::is_secret_name(k) {
            secrets.update(format!("{k}={v}\0"));
            secret_vars.push(k.clone());
        } else if k.starts_with("DIB_") || k.starts_with("SOLUM_") {
            env.insert(k.clone(), v.clone());
        } else {
            passed_env.insert(k.clone(), v.clone());
        }
    }
    let default_install_type = opts
        .env
        .get("DIB_DEFAULT_INSTALLTYPE")
        .filter(|v| !v.is_empty())
        .cloned()
        .unwrap_or_else(|| "source".into());
    for (k, v) in [
        ("DIB_RELEASE", opts.release.clone()),
        ("DISTRO_NAME", distro.clone()),
        ("ARCH", opts.arch.clone()),
        ("IMAGE_NAME", opts.image_name.clone()),
        ("DIB_INIT_SYSTEM", "systemd".into()),
        ("DIB_DEFAULT_INSTALLTYPE", default_install_type),
        ("DIB_ARGS", opts.args.clone()),
        // What disk-image-create exports for every script.
        ("LC_ALL", "C".into()),
        ("FS_TYPE", "ext4".into()),
        ("DIB_ROOT_FSTYPE", "ext4".into()),
        ("DIB_BOOT_LABEL", String::new()),
        ("DIB_MOUNTPOINTS", "/".into()),
        ("DIB_PYTHON_EXEC", "python3".into()),
    ] {
        env.insert(k.to_string(), v);
    }
    env.insert(
        "DIB_ROOT_LABEL".into(),
        opts.env
            .get("DIB_ROOT_LABEL")
            .cloned()
            .unwrap_or_else(|| "cloudimg-rootfs".into()),
    );
    let home = opts.env.get("HOME").map(PathBuf::from);
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let mut inputs = inputs::from_variables(
        &opts.env,
        dibenv::is_secret_name,
        home.as_deref(),
        &cwd,
        |p| p.exists(),
    );
    // The image cache as the build will find it (main's default too).
    let cache = opts
        .env
        .get("DIB_IMAGE_CACHE")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".cache/image-create")))
        .unwrap_or_else(|| PathBuf::from("/nonexistent"));
    inputs.extend(inputs::from_elements(
        resolved.elements.iter().map(|e| e.name.as_str()),
        home.as_deref(),
        &cache,
    ));
    inputs.sort();
    inputs.dedup_by(|a, b| a.path == b.path);

    let mut env_files = Vec::new();
    let mut static_files = Vec::new();
    let mut bin_files = Vec::new();
    let mut init_scripts = Vec::new();
    let mut entries: Vec<(String, PackageEntry)> = Vec::new();
    let mut maps: BTreeMap<String, PkgMap> = BTreeMap::new();
    let mut hooks: BTreeMap<Phase, Vec<ElementFile>> = BTreeMap::new();
    // install-types: (element, directory, prefix, type, path)
    let mut type_dirs: Vec<(String, String, String, String, PathBuf)> = Vec::new();
    for el in &resolved.elements {
        for (name, path) in list_dir(&el.path.join("environment.d"))? {
            if runparts::is_env_name(&name) && path.is_file() {
                env_files.push(file(&name, &el.name, &path));
            }
        }
        if let Some((path, format)) = package_file(el)? {
            let text = solum_limits::read_text(&path, packages::MAX_FILE_BYTES)?;
            for e in packages::parse_package_installs(&text, &path, format)? {
                entries.push((el.name.clone(), e));
            }
        }
        let map_path = el.path.join("pkg-map");
        if map_path.is_file() {
            let text = solum_limits::read_text(&map_path, packages::MAX_FILE_BYTES)?;
            maps.insert(el.name.clone(), PkgMap::parse(&text, &map_path)?);
        }
        static_files.extend(tree_files(&el.path.join("static"), &el.name)?);
        init_scripts.extend(tree_files(
            &el.path.join("init-scripts").join("systemd"),
            &el.name,
        )?);
        for (name, path) in list_dir(&el.path.join("bin"))? {
            if path.is_file() {
                bin_files.push(file(&name, &el.name, &path));
            }
        }
        for phase in Phase::ALL {
            for (name, path) in list_dir(&el.path.join(phase.dir_name()))? {
                if phase == Phase::Install && path.is_dir() {
                    if let Some((prefix, kind)) = install_type_dir(&name) {
                        type_dirs.push((el.name.clone(), name.clone(), prefix, kind, path.clone()));
                    }
                }
                hooks
                    .entry(phase)
                    .or_default()
                    .push(file(&name, &el.name, &path));
            }
        }
    }
    for p in &opts.extra_packages {
        if !packages::is_package_name(p) {
            return Err(CollectError::BadPackage {
                name: p.clone(),
                from: "-p".into(),
            });
        }
        entries.push((
            "(command line -p)".to_string(),
            PackageEntry {
                name: p.clone(),
                phase: Phase::Install,
                uninstall: false,
                build_only: false,
                arch: None,
                not_arch: None,
                when: Vec::new(),
                installtype: None,
                dib_python_version: None,
            },
        ));
    }
    let os = resolved
        .provided
        .get("operating-system")
        .map(String::as_str);
    let root_tree = if os == Some("debian-minimal") {
        let var = |k: &str, default: &str| {
            env.get(k)
                .filter(|v| !v.is_empty())
                .cloned()
                .unwrap_or_else(|| default.to_string())
        };
        let mirror = var("DIB_DISTRIBUTION_MIRROR", "http://deb.debian.org/debian");
        let sources = plan::debian_sources(
            &opts.release,
            &mirror,
            &var(
                "DIB_DEBIAN_SECURITY_MIRROR",
                "http://deb.debian.org/debian-security",
            ),
            &var("DIB_DEBIAN_COMPONENTS", "main"),
        );
        RootTree::Debian {
            release: opts.release.clone(),
            arch: opts.arch.clone(),
            variant: "minbase".into(),
            include: Vec::new(),
            mirror,
            sources,
        }
    } else {
        RootTree::Elements
    };
    secret_vars.sort();
    let mut plan = Plan {
        image_name: opts.image_name.clone(),
        outputs: opts.outputs.clone(),
        distro: distro.clone(),
        release: opts.release.clone(),
        arch: opts.arch.clone(),
        elements: resolved
            .elements
            .iter()
            .map(|e| PlanElement {
                name: e.name.clone(),
                path: e.path.clone(),
                deps: e.deps.clone(),
                provides: e.provides.clone(),
            })
            .collect(),
        provided: resolved.provided.clone(),
        root_tree,
        env,
        passed_env,
        secret_vars,
        secret_env_digest: hex::encode(secrets.finalize()),
        inputs,
        install_type_dirs: Vec::new(),
        init_scripts: merge_tree("init-scripts/systemd file", init_scripts)?,
        environment_d: plan::merge_sorted("environment.d file", env_files)?,
        packages: Vec::new(),
        pkg_maps: BTreeMap::new(),
        static_files: merge_tree("static/ file", static_files)?,
        bin_files: plan::merge_sorted("bin/ file", bin_files)?,
        phases: Vec::new(),
    };

    // What package-installs and install-types see: the environment after
    // the environment.d fragments, as in DIB's extra-data.d.
    let target = Target {
        distro,
        family: "debian".into(),
        release: opts.release.clone(),
        arch: opts.arch.clone(),
        env: probe_env(&plan, &opts.env)?,
    };
    let steps = plan::package_steps(&entries, &maps, &target);
    for st in &steps {
        for p in &st.packages {
            if !packages::is_package_name(&p.package) {
                return Err(CollectError::BadPackage {
                    name: p.package.clone(),
                    from: format!("pkg-map of element '{}' for '{}'", p.element, p.generic),
                });
            }
        }
    }
    for (element, dir, prefix, kind, path) in type_dirs {
        if target.install_type(&prefix) != kind {
            continue;
        }
        for (name, source) in list_dir(&path)? {
            let mut f = file(&name, &element, &source);
            f.within = Some(dir.clone());
            hooks.entry(Phase::Install).or_default().push(f);
        }
        plan.install_type_dirs.push((element, dir));
    }
    for phase in Phase::ALL {
        let all = plan::merge_sorted(
            &format!("{phase} script"),
            hooks.remove(&phase).unwrap_or_default(),
        )?;
        let scripts = all
            .into_iter()
            .filter(|f| runparts::is_hook_name(&f.name) && is_executable_file(&f.source))
            .collect();
        plan.phases.push(PhasePlan {
            phase,
            place: phase.place(),
            scripts,
        });
    }
    plan.packages = steps;
    plan.pkg_maps = maps
        .iter()
        .map(|(k, m)| (k.clone(), m.flatten(&target)))
        .collect();
    Ok(plan)
}

/// `<prefix>-<type>-install` (an install-types directory) to its parts.
fn install_type_dir(name: &str) -> Option<(String, String)> {
    let stem = name.strip_suffix("-install")?;
    let (prefix, kind) = stem.rsplit_once('-')?;
    (!prefix.is_empty() && !kind.is_empty()).then(|| (prefix.to_string(), kind.to_string()))
}

/// The environment the fragments leave, read with the outside view of a
/// build that has not started (paths under a directory that does not exist).
fn probe_env(
    plan: &Plan,
    caller: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, CollectError> {
    let nowhere = Path::new("/nonexistent/solum-image-planning");
    let rt = dibenv::Runtime {
        cache_dir: nowhere,
        elements_path: &[],
        offline: false,
        trace: false,
    };
    let view = dibenv::View::Outside {
        root: &nowhere.join("mnt"),
        hooks: &nowhere.join("hooks"),
        build_dir: nowhere,
        image_dir: &nowhere.join("image"),
    };
    let env = dibenv::script_env(plan, caller, &rt, &view);
    let fragments: Vec<envprobe::Fragment<'_>> = plan
        .environment_d
        .iter()
        .map(|f| envprobe::Fragment {
            name: &f.name,
            element: &f.element,
            path: &f.source,
        })
        .collect();
    Ok(envprobe::probe(&fragments, &env)?)
}

/// static/ and init-scripts/ trees may overlap in directories but not in files.
fn merge_tree(what: &str, files: Vec<ElementFile>) -> Result<Vec<ElementFile>, Duplicate> {
    let mut files = plan::merge_sorted(what, files)?;
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}
