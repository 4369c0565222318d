//! Reading resolved elements into a `Plan`: environment.d, package-installs,
//! pkg-map, static/, bin/ and phase hooks. The only I/O of planning.

use crate::element::Element;
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
}

/// Variables the builder sets for scripts but that do not change the result.
const RUNTIME_ONLY: &[&str] = &["DIB_OFFLINE", "DIB_DEBUG_TRACE", "DIB_IMAGE_CACHE"];

/// Whether a variable's value must not be printed.
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    [
        "PASSWORD",
        "PASSWD",
        "TOKEN",
        "SECRET",
        "CREDENTIAL",
        "PRIVATE",
        "_KEY",
    ]
    .iter()
    .any(|s| n.contains(s))
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
    let mut secrets = Sha256::new();
    for (k, v) in &opts.env {
        let ours = k.starts_with("DIB_") || k.starts_with("SOLUM_");
        if !ours || RUNTIME_ONLY.contains(&k.as_str()) {
            continue;
        }
        if is_secret_name(k) {
            secrets.update(format!("{k}={v}\0"));
        } else {
            env.insert(k.clone(), v.clone());
        }
    }
    env.insert("DIB_RELEASE".into(), opts.release.clone());
    env.insert("DISTRO_NAME".into(), distro.clone());
    env.insert("ARCH".into(), opts.arch.clone());
    env.insert("IMAGE_NAME".into(), opts.image_name.clone());
    env.insert("DIB_INIT_SYSTEM".into(), "systemd".into());
    env.insert(
        "DIB_ROOT_LABEL".into(),
        opts.env
            .get("DIB_ROOT_LABEL")
            .cloned()
            .unwrap_or_else(|| "cloudimg-rootfs".into()),
    );
    let inputs: Vec<PathBuf> = env
        .iter()
        .filter(|(k, _)| k.ends_with("_BINARY") || k.ends_with("_FILE"))
        .map(|(_, v)| PathBuf::from(v))
        .collect();
    let target = Target {
        distro: distro.clone(),
        family: "debian".into(),
        release: opts.release.clone(),
        arch: opts.arch.clone(),
        env: env.clone(),
    };

    let mut env_files = Vec::new();
    let mut static_files = Vec::new();
    let mut bin_files = Vec::new();
    let mut entries: Vec<(String, PackageEntry)> = Vec::new();
    let mut maps: BTreeMap<String, PkgMap> = BTreeMap::new();
    let mut hooks: BTreeMap<Phase, Vec<ElementFile>> = BTreeMap::new();
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
        for (name, path) in list_dir(&el.path.join("bin"))? {
            if path.is_file() {
                bin_files.push(file(&name, &el.name, &path));
            }
        }
        for phase in Phase::ALL {
            for (name, path) in list_dir(&el.path.join(phase.dir_name()))? {
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
            },
        ));
    }
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
    let mut phases = Vec::new();
    for phase in Phase::ALL {
        let all = plan::merge_sorted(
            &format!("{phase} script"),
            hooks.remove(&phase).unwrap_or_default(),
        )?;
        let scripts = all
            .into_iter()
            .filter(|f| runparts::is_hook_name(&f.name) && is_executable_file(&f.source))
            .collect();
        phases.push(PhasePlan {
            phase,
            place: phase.place(),
            scripts,
        });
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
    Ok(Plan {
        image_name: opts.image_name.clone(),
        outputs: opts.outputs.clone(),
        distro,
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
        secret_env_digest: hex::encode(secrets.finalize()),
        inputs,
        environment_d: plan::merge_sorted("environment.d file", env_files)?,
        packages: steps,
        pkg_maps: maps
            .iter()
            .map(|(k, m)| (k.clone(), m.flatten(&target)))
            .collect(),
        static_files: merge_static(static_files)?,
        bin_files: plan::merge_sorted("bin/ file", bin_files)?,
        phases,
    })
}

/// static/ trees may overlap in directories but not in files.
fn merge_static(files: Vec<ElementFile>) -> Result<Vec<ElementFile>, Duplicate> {
    let mut files = plan::merge_sorted("static/ file", files)?;
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}
