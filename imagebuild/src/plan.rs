//! The build plan: pure data saying everything a build will do, printable
//! as text or JSON (`--dry-run`), and hashed (see `hash`) to key the tree cache.
//! Also the pure steps that shape it: merging hooks, ordering files and
//! turning package-installs entries into per-phase install/uninstall steps.

use crate::inputs::Input;
use crate::packages::{PackageEntry, PkgMap, Target};
use crate::phase::{Phase, Place};
use crate::runparts;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

/// A resolved element as the plan records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanElement {
    pub name: String,
    pub path: PathBuf,
    pub deps: Vec<String>,
    pub provides: Vec<String>,
}

/// A file contributed by an element (environment.d fragment, static/ or
/// bin/ file, hook script).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElementFile {
    /// Name or path relative to the element's sub-directory.
    pub name: String,
    pub element: String,
    pub source: PathBuf,
    /// For an install-types script: the `<prefix>-<type>-install`
    /// directory of the phase it comes from (DIB links its files into the
    /// phase directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<String>,
}

/// How the base tree is made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum RootTree {
    /// The builder runs mmdebstrap (or debootstrap) itself, with a cache.
    Debian {
        release: String,
        arch: String,
        variant: String,
        include: Vec<String>,
        mirror: String,
        /// One-line apt sources (`deb URI SUITE COMPONENT...`): the release,
        /// its updates and its security suite, so the tree starts current.
        sources: Vec<String>,
    },
    /// An element's root.d makes the tree.
    Elements,
}

/// Install or remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PkgAction {
    Install,
    Uninstall,
}

/// Early (before the phase's scripts) or late (after them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum When {
    Early,
    Late,
}

/// One package, mapped, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedPackage {
    pub package: String,
    pub generic: String,
    pub element: String,
}

/// An apt-get install/remove run inside the chroot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageStep {
    pub phase: Phase,
    pub when: When,
    pub action: PkgAction,
    pub packages: Vec<PlannedPackage>,
}

/// A phase with its merged, ordered, runnable scripts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhasePlan {
    pub phase: Phase,
    pub place: Place,
    pub scripts: Vec<ElementFile>,
}

/// Everything a build will do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub image_name: String,
    pub outputs: Vec<String>,
    pub distro: String,
    pub release: String,
    pub arch: String,
    pub elements: Vec<PlanElement>,
    /// virtual name -> element providing it
    pub provided: BTreeMap<String, String>,
    pub root_tree: RootTree,
    /// `DIB_*`/`SOLUM_*` and the builder's variables, given to every script
    /// (not secrets; see `secret_env_digest`).
    pub env: BTreeMap<String, String>,
    /// The caller's other variables that scripts get (DIB passes its whole
    /// environment), secret-looking ones left out (see `secret_env_digest`).
    pub passed_env: BTreeMap<String, String>,
    /// Names of the secret-looking variables scripts get.
    pub secret_vars: Vec<String>,
    /// sha256 of the secret-looking variables, so they key the cache without being shown.
    pub secret_env_digest: String,
    /// Files and directories outside the elements that a build reads: those
    /// `DIB_*`/`SOLUM_*` variables name, and host files elements read.
    pub inputs: Vec<Input>,
    /// install-types: the `<prefix>-<type>-install` directories whose
    /// scripts run in install.d, as `(element, directory)`.
    pub install_type_dirs: Vec<(String, String)>,
    /// Units from elements' `init-scripts/systemd/`, for /usr/lib/systemd/system.
    pub init_scripts: Vec<ElementFile>,
    pub environment_d: Vec<ElementFile>,
    pub packages: Vec<PackageStep>,
    /// element -> generic name -> packages, for the in-chroot `pkg-map` helper.
    pub pkg_maps: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    pub static_files: Vec<ElementFile>,
    pub bin_files: Vec<ElementFile>,
    pub phases: Vec<PhasePlan>,
}

/// Two elements ship a file of the same name into one merged directory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} '{name}' is in both element '{first}' and element '{second}'")]
pub struct Duplicate {
    pub what: String,
    pub name: String,
    pub first: String,
    pub second: String,
}

/// Merge per-element file lists into one, refusing duplicate names, and
/// order them with `LANG=C sort -n`.
pub fn merge_sorted(what: &str, files: Vec<ElementFile>) -> Result<Vec<ElementFile>, Duplicate> {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for f in &files {
        if let Some(first) = seen.insert(&f.name, &f.element) {
            return Err(Duplicate {
                what: what.to_string(),
                name: f.name.clone(),
                first: first.to_string(),
                second: f.element.clone(),
            });
        }
    }
    let mut files = files;
    files.sort_by(|a, b| runparts::sort_n_cmp(&a.name, &b.name));
    Ok(files)
}

/// Turn selected package-installs entries into ordered install/uninstall
/// steps: installs early in their phase, `uninstall: true` entries after
/// the installs of their phase, build-only packages removed late in
/// post-install.d. `maps` gives each element's pkg-map.
pub fn package_steps(
    entries: &[(String, PackageEntry)],
    maps: &BTreeMap<String, PkgMap>,
    target: &Target,
) -> Vec<PackageStep> {
    let mut steps: BTreeMap<(Phase, When, u8), Vec<PlannedPackage>> = BTreeMap::new();
    let empty = PkgMap::default();
    for (element, e) in entries {
        if !target.selects(element, e) {
            continue;
        }
        let map = maps.get(element).unwrap_or(&empty);
        for package in map.map(&e.name, target) {
            let p = PlannedPackage {
                package,
                generic: e.name.clone(),
                element: element.clone(),
            };
            if e.uninstall {
                steps.entry((e.phase, When::Early, 1)).or_default().push(p);
            } else {
                if e.build_only {
                    steps
                        .entry((Phase::PostInstall, When::Late, 1))
                        .or_default()
                        .push(p.clone());
                }
                steps.entry((e.phase, When::Early, 0)).or_default().push(p);
            }
        }
    }
    steps
        .into_iter()
        .map(|((phase, when, kind), mut packages)| {
            packages.sort_by(|a, b| a.package.cmp(&b.package));
            packages.dedup_by(|a, b| a.package == b.package);
            PackageStep {
                phase,
                when,
                action: if kind == 0 {
                    PkgAction::Install
                } else {
                    PkgAction::Uninstall
                },
                packages,
            }
        })
        .collect()
}

/// The apt sources of a Debian tree (pure): the release from `mirror`, plus
/// `RELEASE-updates` and `RELEASE-security` (from `security_mirror`) for the
/// releases that have them (not sid/unstable/experimental). `components` is
/// DIB's `DIB_DEBIAN_COMPONENTS`, comma- or space-separated.
pub fn debian_sources(
    release: &str,
    mirror: &str,
    security_mirror: &str,
    components: &str,
) -> Vec<String> {
    let comps: Vec<&str> = components
        .split([',', ' '])
        .filter(|c| !c.is_empty())
        .collect();
    let comps = if comps.is_empty() {
        "main".to_string()
    } else {
        comps.join(" ")
    };
    let mut lines = vec![format!("deb {mirror} {release} {comps}")];
    if !matches!(release, "sid" | "unstable" | "experimental" | "rc-buggy") {
        lines.push(format!("deb {mirror} {release}-updates {comps}"));
        lines.push(format!("deb {security_mirror} {release}-security {comps}"));
    }
    lines
}

impl Plan {
    /// Human-readable rendering for `--dry-run`.
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "image: {}  outputs: {}",
            self.image_name,
            self.outputs.join(",")
        );
        let _ = writeln!(s, "target: {} {} {}", self.distro, self.release, self.arch);
        match &self.root_tree {
            RootTree::Debian {
                release,
                arch,
                variant,
                include,
                sources,
                ..
            } => {
                let _ = writeln!(
                    s,
                    "root tree: mmdebstrap --variant={variant} --arch={arch}{} {release}",
                    if include.is_empty() {
                        String::new()
                    } else {
                        format!(" --include={}", include.join(","))
                    }
                );
                for line in sources {
                    let _ = writeln!(s, "  {line}");
                }
            }
            RootTree::Elements => {
                let _ = writeln!(s, "root tree: made by root.d scripts");
            }
        }
        let _ = writeln!(s, "variables:");
        for (k, v) in &self.env {
            let _ = writeln!(s, "  {k}={v}");
        }
        if !self.passed_env.is_empty() {
            let _ = writeln!(s, "passed from the caller's environment:");
            for (k, v) in &self.passed_env {
                let _ = writeln!(s, "  {k}={v}");
            }
        }
        if !self.secret_vars.is_empty() {
            let _ = writeln!(
                s,
                "secret variables (passed, hashed, never shown): {}",
                self.secret_vars.join(" ")
            );
        }
        let _ = writeln!(s, "elements:");
        for e in &self.elements {
            let _ = writeln!(s, "  {:<20} {}", e.name, e.path.display());
        }
        for (v, p) in &self.provided {
            let _ = writeln!(s, "  ({v} provided by {p})");
        }
        if !self.environment_d.is_empty() {
            let _ = writeln!(s, "environment.d:");
            for f in &self.environment_d {
                let _ = writeln!(s, "  {:<30} [{}]", f.name, f.element);
            }
        }
        for (element, dir) in &self.install_type_dirs {
            let _ = writeln!(s, "install-types: install.d/{dir} [{element}]");
        }
        for (label, files) in [
            ("static/", &self.static_files),
            ("bin/", &self.bin_files),
            ("init-scripts/systemd/", &self.init_scripts),
        ] {
            if !files.is_empty() {
                let _ = writeln!(s, "{label}:");
                for f in files {
                    let _ = writeln!(s, "  {:<30} [{}]", f.name, f.element);
                }
            }
        }
        let _ = writeln!(s, "phases:");
        for p in &self.phases {
            let place = match p.place {
                Place::Outside => "outside",
                Place::Chroot => "in chroot",
            };
            let steps: Vec<&PackageStep> = self
                .packages
                .iter()
                .filter(|st| st.phase == p.phase)
                .collect();
            if p.scripts.is_empty() && steps.is_empty() {
                continue;
            }
            let _ = writeln!(s, "  {} ({place})", p.phase);
            let pkg_line = |st: &PackageStep| {
                let verb = match st.action {
                    PkgAction::Install => "install",
                    PkgAction::Uninstall => "uninstall",
                };
                let names: Vec<&str> = st.packages.iter().map(|x| x.package.as_str()).collect();
                format!("    [{verb}] {}", names.join(" "))
            };
            for st in steps.iter().filter(|st| st.when == When::Early) {
                let _ = writeln!(s, "{}", pkg_line(st));
            }
            for sc in &p.scripts {
                let from = sc
                    .within
                    .as_deref()
                    .map(|w| format!(" (from {w})"))
                    .unwrap_or_default();
                let _ = writeln!(s, "    {:<30} [{}]{from}", sc.name, sc.element);
            }
            for st in steps.iter().filter(|st| st.when == When::Late) {
                let _ = writeln!(s, "{}", pkg_line(st));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packages::{parse_package_installs, Format};
    use std::path::Path;

    fn f(name: &str, element: &str) -> ElementFile {
        ElementFile {
            name: name.into(),
            element: element.into(),
            source: PathBuf::from(format!("/e/{element}/{name}")),
            within: None,
        }
    }

    #[test]
    fn merge_orders_across_elements() {
        let got = merge_sorted(
            "install.d script",
            vec![f("50-b", "x"), f("10-a", "y"), f("9-c", "x"), f("zz", "y")],
        )
        .unwrap();
        let names: Vec<&str> = got.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, vec!["zz", "9-c", "10-a", "50-b"]);
    }

    #[test]
    fn merge_refuses_duplicates_naming_both() {
        let e = merge_sorted("install.d script", vec![f("10-a", "x"), f("10-a", "y")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "install.d script '10-a' is in both element 'x' and element 'y'"
        );
    }

    #[test]
    fn package_steps_by_phase() {
        let target = Target {
            distro: "debian".into(),
            family: "debian".into(),
            release: "bookworm".into(),
            arch: "amd64".into(),
            env: BTreeMap::new(),
        };
        let text = "curl:\ngcc:\n  build-only: true\n  phase: pre-install.d\nnano:\n  uninstall: true\n  phase: post-install.d\nppc-only:\n  arch: ppc64el\npython:\n";
        let es = parse_package_installs(text, Path::new("p.yaml"), Format::Yaml).unwrap();
        let entries: Vec<(String, PackageEntry)> =
            es.into_iter().map(|e| ("el".to_string(), e)).collect();
        let mut maps = BTreeMap::new();
        maps.insert(
            "el".to_string(),
            PkgMap::parse(
                r#"{"default": {"python": "python3 python3-yaml"}}"#,
                Path::new("m"),
            )
            .unwrap(),
        );
        let steps = package_steps(&entries, &maps, &target);
        let summary: Vec<(Phase, When, PkgAction, Vec<&str>)> = steps
            .iter()
            .map(|s| {
                (
                    s.phase,
                    s.when,
                    s.action,
                    s.packages.iter().map(|p| p.package.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    Phase::PreInstall,
                    When::Early,
                    PkgAction::Install,
                    vec!["gcc"]
                ),
                (
                    Phase::Install,
                    When::Early,
                    PkgAction::Install,
                    vec!["curl", "python3", "python3-yaml"]
                ),
                (
                    Phase::PostInstall,
                    When::Early,
                    PkgAction::Uninstall,
                    vec!["nano"]
                ),
                (
                    Phase::PostInstall,
                    When::Late,
                    PkgAction::Uninstall,
                    vec!["gcc"]
                ),
            ]
        );
        assert_eq!(steps[1].packages[1].generic, "python");
    }
}
