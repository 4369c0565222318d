//! package-installs.yaml/.json and pkg-map: parsing and selection, pure.
//!
//! `parse_package_installs` turns an element's file into entries;
//! `PkgMap::map` applies the element's pkg-map (release > distro > family >
//! default, most specific wins); `Target::selects` applies `arch`,
//! `not-arch`, `when`, `installtype` and `dib_python_version` against the
//! build's target, as DIB's package-installs-squash does.

use crate::phase::Phase;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Element files (package-installs, pkg-map, element-deps, element-provides) larger than this
/// are refused before they are read further.
pub const MAX_FILE_BYTES: usize = 1 << 20;

/// What an element's package-installs or pkg-map may cost (text, values, nesting) before it is
/// built: the shared budget every parser of the project uses.
const BUDGET: solum_limits::Budget = solum_limits::Budget::DEFAULT.with_max_bytes(MAX_FILE_BYTES);

/// A malformed package-installs or pkg-map file.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct PackageError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

/// Comparison in a `when` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CondOp {
    #[serde(rename = "=")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
}

/// One `when: "VAR=value"` / `"VAR!=value"` condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    pub var: String,
    pub op: CondOp,
    pub value: String,
}

/// One package line of a package-installs file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageEntry {
    pub name: String,
    pub phase: Phase,
    pub uninstall: bool,
    pub build_only: bool,
    pub arch: Option<Vec<String>>,
    pub not_arch: Option<Vec<String>>,
    pub when: Vec<Condition>,
    /// Only when the element's install type (install-types) is this.
    pub installtype: Option<String>,
    /// Only when `DIB_PYTHON_VERSION` is this (dib-python).
    pub dib_python_version: Option<String>,
}

/// What the build targets, for selection and mapping.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub distro: String,
    pub family: String,
    pub release: String,
    pub arch: String,
    /// Variables visible to `when` conditions; unset ones read as "".
    pub env: BTreeMap<String, String>,
}

impl Target {
    /// An element's install type, as DIB's install-types element decides
    /// it: `DIB_INSTALLTYPE_<element with - as _>`, else
    /// `DIB_DEFAULT_INSTALLTYPE`, else `source`.
    pub fn install_type(&self, element: &str) -> &str {
        let var = format!("DIB_INSTALLTYPE_{}", element.replace('-', "_"));
        self.env
            .get(&var)
            .or_else(|| self.env.get("DIB_DEFAULT_INSTALLTYPE"))
            .map(String::as_str)
            .filter(|v| !v.is_empty())
            .unwrap_or("source")
    }

    /// Whether an entry of `element`'s package-installs applies to this target.
    pub fn selects(&self, element: &str, e: &PackageEntry) -> bool {
        if let Some(t) = &e.installtype {
            if t != self.install_type(element) {
                return false;
            }
        }
        if let Some(v) = &e.dib_python_version {
            let have = self
                .env
                .get("DIB_PYTHON_VERSION")
                .map(String::as_str)
                .unwrap_or("");
            if v != have {
                return false;
            }
        }
        if let Some(archs) = &e.arch {
            if !archs.iter().any(|a| a == &self.arch) {
                return false;
            }
        }
        if let Some(archs) = &e.not_arch {
            if archs.iter().any(|a| a == &self.arch) {
                return false;
            }
        }
        e.when.iter().all(|c| {
            let v = self.env.get(&c.var).map(String::as_str).unwrap_or("");
            match c.op {
                CondOp::Eq => v == c.value,
                CondOp::Ne => v != c.value,
            }
        })
    }
}

/// Which parser a file needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

fn err(file: &Path, line: Option<usize>, message: impl Into<String>) -> PackageError {
    PackageError {
        file: file.to_path_buf(),
        line,
        message: message.into(),
    }
}

/// First line (1-based) on which `key` appears as a mapping key.
fn line_of(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let t = l.trim_start().trim_start_matches("- ");
            let t = t.trim_start_matches(['"', '\'']);
            t.strip_prefix(key)
                .map(|r| {
                    r.trim_start_matches(['"', '\''])
                        .trim_start()
                        .starts_with(':')
                })
                .unwrap_or(false)
        })
        .map(|i| i + 1)
}

fn parse_value(text: &str, file: &Path, format: Format) -> Result<Value, PackageError> {
    match format {
        Format::Json => solum_limits::json::from_slice(text.as_bytes(), &BUDGET)
            .map_err(|e| err(file, e.line(), format!("invalid JSON: {e}"))),
        Format::Yaml => solum_limits::yaml::from_str::<Value>(text, &BUDGET)
            .map_err(|e| err(file, e.line(), format!("invalid YAML: {e}"))),
    }
}

fn string_list(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) => Some(
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
        ),
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().map(|s| s.trim().to_string()))
            .collect(),
        _ => None,
    }
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" => Some(true),
            "false" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Parse `VAR=value` or `VAR != value`.
pub fn parse_condition(s: &str) -> Option<Condition> {
    let (var, op, value) = if let Some((a, b)) = s.split_once("!=") {
        (a, CondOp::Ne, b)
    } else {
        let (a, b) = s.split_once('=')?;
        (a, CondOp::Eq, b)
    };
    let (var, value) = (var.trim(), value.trim());
    let var_ok = !var.is_empty() && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !var_ok || value.contains(char::is_whitespace) {
        return None;
    }
    Some(Condition {
        var: var.to_string(),
        op,
        value: value.to_string(),
    })
}

fn parse_entry(
    name: &str,
    attrs: &serde_json::Map<String, Value>,
    text: &str,
    file: &Path,
) -> Result<PackageEntry, PackageError> {
    let line = line_of(text, name);
    let bad = |what: String| err(file, line, format!("package '{name}': {what}"));
    let mut e = PackageEntry {
        name: name.to_string(),
        phase: Phase::Install,
        uninstall: false,
        build_only: false,
        arch: None,
        not_arch: None,
        when: Vec::new(),
        installtype: None,
        dib_python_version: None,
    };
    for (k, v) in attrs {
        match k.as_str() {
            "phase" => {
                let p = v
                    .as_str()
                    .and_then(Phase::from_name)
                    .ok_or_else(|| bad(format!("unknown phase {v}")))?;
                if !p.takes_packages() {
                    return Err(bad(format!(
                        "phase {p} cannot install packages (use pre-install.d, install.d or post-install.d)"
                    )));
                }
                e.phase = p;
            }
            "uninstall" => {
                e.uninstall = as_bool(v)
                    .ok_or_else(|| bad(format!("uninstall must be a boolean, not {v}")))?
            }
            "build-only" => {
                e.build_only = as_bool(v)
                    .ok_or_else(|| bad(format!("build-only must be a boolean, not {v}")))?
            }
            "arch" => {
                e.arch = Some(
                    string_list(v).ok_or_else(|| bad(format!("arch must be a list, not {v}")))?,
                )
            }
            "not-arch" => {
                e.not_arch = Some(
                    string_list(v)
                        .ok_or_else(|| bad(format!("not-arch must be a list, not {v}")))?,
                )
            }
            "when" => {
                let items: Vec<String> = match v {
                    Value::String(s) => vec![s.clone()],
                    Value::Array(a) => a
                        .iter()
                        .map(|x| x.as_str().map(String::from))
                        .collect::<Option<_>>()
                        .ok_or_else(|| bad("when must be a string or a list of strings".into()))?,
                    _ => return Err(bad("when must be a string or a list of strings".into())),
                };
                for s in items {
                    e.when.push(parse_condition(&s).ok_or_else(|| {
                        bad(format!(
                            "bad condition '{s}' (expected VAR=value or VAR!=value)"
                        ))
                    })?);
                }
            }
            "installtype" => match v.as_str() {
                Some(t) if is_word(t) => e.installtype = Some(t.to_string()),
                _ => {
                    return Err(bad(format!(
                        "installtype must be a word such as package or source, not {v}"
                    )))
                }
            },
            "dib_python_version" => {
                let version = match v {
                    Value::Number(n) => n.to_string(),
                    Value::String(s) => s.trim().to_string(),
                    _ => String::new(),
                };
                if !is_word(&version) {
                    return Err(bad(format!(
                        "dib_python_version must be a version such as 3, not {v}"
                    )));
                }
                e.dib_python_version = Some(version);
            }
            other => return Err(bad(format!("unknown key '{other}'"))),
        }
    }
    Ok(e)
}

/// Letters, digits, `.`, `_` and `-`.
fn is_word(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Whether a string can be handed to apt-get as a package: a name by Debian's rule (policy
/// 5.6.1: lower-case letters, digits, `+`, `-`, `.`, at least two characters, starting with a
/// letter or digit), then optionally `:arch`, then optionally `=version` or `/release`. So no
/// option (`-o...`), no path (`../../etc/passwd`, `./x.deb`), nothing a shell would read.
pub fn is_package_name(s: &str) -> bool {
    let lower = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    with_suffixes(s, |name| {
        name.len() >= 2
            && name.bytes().next().is_some_and(lower)
            && name.bytes().all(|b| lower(b) || b"+-.".contains(&b))
    })
}

/// Whether a package-installs key can be a generic name (mapped through pkg-map, as DIB's
/// `dib_style_tree`): `is_package_name`'s shape, the name part also allowing upper case and
/// `_` and one character. What apt finally gets is checked with `is_package_name`.
pub fn is_generic_name(s: &str) -> bool {
    with_suffixes(s, |name| {
        name.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-._".contains(&b))
    })
}

/// `name[:arch][=version|/release]` with `name_ok` deciding the name part.
fn with_suffixes(s: &str, name_ok: impl Fn(&str) -> bool) -> bool {
    let (rest, suffix) = match s.find(['=', '/']) {
        Some(i) => (&s[..i], Some(&s[i..])),
        None => (s, None),
    };
    let (name, arch) = match rest.split_once(':') {
        Some((n, a)) => (n, Some(a)),
        None => (rest, None),
    };
    let lower = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let arch_ok = arch.is_none_or(|a| !a.is_empty() && a.bytes().all(|b| lower(b) || b == b'-'));
    let suffix_ok = match suffix {
        None => true,
        // A Debian version: starts with a digit; letters, digits, `.+~:-`.
        Some(v) if v.starts_with('=') => {
            let v = &v[1..];
            v.bytes().next().is_some_and(|b| b.is_ascii_digit())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".+~:-".contains(&b))
        }
        // A release (suite or codename): letters, digits, `.+_-`, no further `/`.
        Some(r) => {
            let r = &r[1..];
            !r.is_empty()
                && r.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".+_-".contains(&b))
        }
    };
    name_ok(name) && arch_ok && suffix_ok
}

/// Parse one package-installs file. Entries come out sorted by package name.
pub fn parse_package_installs(
    text: &str,
    file: &Path,
    format: Format,
) -> Result<Vec<PackageEntry>, PackageError> {
    let root = parse_value(text, file, format)?;
    let map = match root {
        Value::Null => return Ok(Vec::new()),
        Value::Object(m) => m,
        other => {
            return Err(err(
                file,
                Some(1),
                format!(
                    "expected a mapping of package names, found {}",
                    kind(&other)
                ),
            ))
        }
    };
    let mut out = Vec::new();
    for (name, v) in &map {
        if !is_generic_name(name) {
            return Err(err(
                file,
                line_of(text, name),
                format!("bad package name '{name}'"),
            ));
        }
        let attr_sets: Vec<&serde_json::Map<String, Value>> = match v {
            Value::Null => {
                out.push(parse_entry(name, &serde_json::Map::new(), text, file)?);
                continue;
            }
            Value::Object(m) => vec![m],
            Value::Array(a) => a
                .iter()
                .map(|x| x.as_object())
                .collect::<Option<_>>()
                .ok_or_else(|| {
                    err(
                        file,
                        line_of(text, name),
                        format!("package '{name}': list entries must be mappings"),
                    )
                })?,
            other => {
                return Err(err(
                    file,
                    line_of(text, name),
                    format!(
                        "package '{name}': expected nothing or a mapping, found {}",
                        kind(other)
                    ),
                ))
            }
        };
        for attrs in attr_sets {
            out.push(parse_entry(name, attrs, text, file)?);
        }
    }
    Ok(out)
}

fn kind(v: &Value) -> &'static str {
    solum_limits::json::kind(v, "a mapping")
}

type Names = BTreeMap<String, String>;

/// An element's pkg-map file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PkgMap {
    /// distro -> release -> name -> packages
    #[serde(default)]
    pub release: BTreeMap<String, BTreeMap<String, Names>>,
    /// distro -> name -> packages
    #[serde(default)]
    pub distro: BTreeMap<String, Names>,
    /// family -> name -> packages
    #[serde(default)]
    pub family: BTreeMap<String, Names>,
    /// name -> packages
    #[serde(default)]
    pub default: Names,
}

impl PkgMap {
    /// Parse a pkg-map (JSON).
    pub fn parse(text: &str, file: &Path) -> Result<PkgMap, PackageError> {
        solum_limits::json::from_slice(text.as_bytes(), &BUDGET)
            .map_err(|e| err(file, e.line(), format!("invalid pkg-map: {e}")))
    }

    /// Every generic name this map knows, mapped for `t` (for the in-chroot
    /// `pkg-map` helper).
    pub fn flatten(&self, t: &Target) -> BTreeMap<String, Vec<String>> {
        let mut names: Vec<&String> = self.default.keys().collect();
        for m in self.family.values().chain(self.distro.values()) {
            names.extend(m.keys());
        }
        for r in self.release.values() {
            for m in r.values() {
                names.extend(m.keys());
            }
        }
        names
            .into_iter()
            .map(|n| (n.clone(), self.map(n, t)))
            .collect()
    }

    /// Map a generic name to distro packages (most specific wins). A name
    /// with no mapping is itself; a mapping to "" means no package.
    pub fn map(&self, name: &str, t: &Target) -> Vec<String> {
        let found = self
            .release
            .get(&t.distro)
            .and_then(|r| r.get(&t.release))
            .and_then(|m| m.get(name))
            .or_else(|| self.distro.get(&t.distro).and_then(|m| m.get(name)))
            .or_else(|| self.family.get(&t.family).and_then(|m| m.get(name)))
            .or_else(|| self.default.get(name));
        match found {
            Some(s) => s.split_whitespace().map(String::from).collect(),
            // (names are checked by the caller with `is_package_name`)
            None => vec![name.to_string()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            distro: "debian".into(),
            family: "debian".into(),
            release: "bookworm".into(),
            arch: "amd64".into(),
            env: [("DIB_FOO".to_string(), "yes".to_string())]
                .into_iter()
                .collect(),
        }
    }

    fn parse(text: &str) -> Result<Vec<PackageEntry>, PackageError> {
        parse_package_installs(text, Path::new("/e/x/package-installs.yaml"), Format::Yaml)
    }

    #[test]
    fn null_entries_default_to_install_d() {
        let v = parse("curl:\nvim:\n").unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].name, "curl");
        assert_eq!(v[0].phase, Phase::Install);
        assert!(!v[0].uninstall && !v[0].build_only && v[0].when.is_empty());
    }

    #[test]
    fn all_attributes() {
        let v = parse(
            "gcc:\n  phase: pre-install.d\n  build-only: true\n  arch: amd64, arm64\n\
             nano:\n  uninstall: True\n  phase: post-install.d\n  not-arch: [ppc64el]\n  when:\n    - DIB_FOO = yes\n    - DIB_BAR!=1\n",
        )
        .unwrap();
        let gcc = &v[0];
        assert_eq!(gcc.phase, Phase::PreInstall);
        assert!(gcc.build_only);
        assert_eq!(
            gcc.arch.as_deref(),
            Some(&["amd64".to_string(), "arm64".to_string()][..])
        );
        let nano = &v[1];
        assert!(nano.uninstall);
        assert_eq!(nano.phase, Phase::PostInstall);
        assert_eq!(nano.not_arch.as_deref(), Some(&["ppc64el".to_string()][..]));
        assert_eq!(
            nano.when,
            vec![
                Condition {
                    var: "DIB_FOO".into(),
                    op: CondOp::Eq,
                    value: "yes".into()
                },
                Condition {
                    var: "DIB_BAR".into(),
                    op: CondOp::Ne,
                    value: "1".into()
                },
            ]
        );
        let t = target();
        assert!(t.selects("x", gcc));
        assert!(
            t.selects("x", nano),
            "DIB_FOO=yes and DIB_BAR unset (\"\") != 1"
        );
    }

    #[test]
    fn selection_rules() {
        let t = target();
        let v = parse(
            "aa:\n  arch: arm64\nbb:\n  not-arch: amd64\ncc:\n  when: DIB_FOO=no\ndd:\n  when: DIB_FOO!=no\nee:\n  when: UNSET=\n",
        )
        .unwrap();
        let picked: Vec<&str> = v
            .iter()
            .filter(|e| t.selects("x", e))
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(picked, vec!["dd", "ee"]);
    }

    #[test]
    fn list_of_entries() {
        let v =
            parse("pkg:\n  - phase: install.d\n  - phase: post-install.d\n    uninstall: true\n")
                .unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].phase, Phase::PostInstall);
        assert!(v[1].uninstall);
    }

    #[test]
    fn installtype_and_dib_python_version_as_dib_squashes_them() {
        // pip-and-virtualenv's own file, in part.
        let v = parse(
            "python-pip:\n  installtype: package\n  dib_python_version: 2\n\
             python3-pip:\n  installtype: package\n  dib_python_version: 3\n\
             python3-dev:\n  installtype: source\n  dib_python_version: '3'\n\
             curl:\n",
        )
        .unwrap();
        let picked = |t: &Target| -> Vec<String> {
            v.iter()
                .filter(|e| t.selects("pip-and-virtualenv", e))
                .map(|e| e.name.clone())
                .collect()
        };
        let mut t = target();
        // No DIB_PYTHON_VERSION: entries that name one are left out; the
        // default install type is source.
        assert_eq!(picked(&t), vec!["curl"]);
        t.env.insert("DIB_PYTHON_VERSION".into(), "3".into());
        assert_eq!(picked(&t), vec!["curl", "python3-dev"]);
        t.env.insert(
            "DIB_INSTALLTYPE_pip_and_virtualenv".into(),
            "package".into(),
        );
        assert_eq!(picked(&t), vec!["curl", "python3-pip"]);
        assert_eq!(t.install_type("pip-and-virtualenv"), "package");
        assert_eq!(t.install_type("other"), "source");
        t.env
            .insert("DIB_DEFAULT_INSTALLTYPE".into(), "package".into());
        assert_eq!(t.install_type("other"), "package");
        let e = parse("a:\n  dib_python_version: [3]\n").unwrap_err();
        assert!(e.to_string().contains("dib_python_version must be"), "{e}");
        let e = parse("a:\n  installtype: 'two words'\n").unwrap_err();
        assert!(e.to_string().contains("installtype must be"), "{e}");
    }

    #[test]
    fn empty_file_is_no_packages() {
        assert!(parse("").unwrap().is_empty());
        assert!(parse("# only a comment\n").unwrap().is_empty());
    }

    #[test]
    fn malformed_yaml_names_file_and_line() {
        let e = parse("curl:\nvim:\n  phase: [unclosed\n").unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("/e/x/package-installs.yaml:"), "{s}");
        assert!(e.line.is_some(), "{s}");
    }

    #[test]
    fn semantic_errors_name_line() {
        let e = parse("curl:\nvim:\n  phase: bogus.d\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(
            e.to_string().contains("package 'vim': unknown phase"),
            "{e}"
        );
        let e = parse("aa:\nbb:\n\ncc:\n  colour: red\n").unwrap_err();
        assert_eq!(e.line, Some(4));
        assert!(e.to_string().contains("unknown key 'colour'"), "{e}");
        let e = parse("aa:\n  phase: root.d\n").unwrap_err();
        assert!(e.to_string().contains("cannot install packages"), "{e}");
        let e = parse("aa:\n  when: nonsense\n").unwrap_err();
        assert!(e.to_string().contains("bad condition"), "{e}");
        let e = parse("- a\n- b\n").unwrap_err();
        assert!(e.to_string().contains("expected a mapping"), "{e}");
        let e = parse("aa: 3\n").unwrap_err();
        assert!(e.to_string().contains("found a number"), "{e}");
    }

    #[test]
    fn package_names_checked() {
        assert!(is_package_name("python3-yaml"));
        assert!(is_package_name("libc6:amd64"));
        assert!(is_package_name("hello=2.10-3"));
        assert!(!is_package_name("-oDebug::x=1"));
        assert!(!is_package_name("a;rm"));
        assert!(is_package_name("g++"));
        assert!(is_package_name("linux-image-amd64/bookworm-backports"));
        assert!(is_package_name("hello=1:2.10~rc1+b1"));
        for bad in [
            "../../../etc/passwd",
            "./local.deb",
            "/tmp/x.deb",
            "x",
            "Hello",
            "a/../b",
            "pkg=",
            "pkg=x1",
            "pkg:",
            "pkg/",
            "",
        ] {
            assert!(!is_package_name(bad), "{bad:?} accepted");
        }
        assert!(is_generic_name("dib_style_tree") && is_generic_name("a"));
        for bad in [
            "../../../etc/passwd",
            "./x.deb",
            "/tmp/x.deb",
            "-o",
            "_x",
            "a b",
        ] {
            assert!(!is_generic_name(bad), "{bad:?} accepted as a generic name");
        }
        let e = parse("ok:\n\"-o=x\":\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.to_string().contains("bad package name '-o=x'"), "{e}");
    }

    #[test]
    fn json_format() {
        let f = Path::new("package-installs.json");
        let v = parse_package_installs(
            r#"{"curl": null, "gcc": {"build-only": true}}"#,
            f,
            Format::Json,
        )
        .unwrap();
        assert_eq!(v.len(), 2);
        assert!(v[1].build_only);
        let e = parse_package_installs("{\n\"a\": ,\n}", f, Format::Json).unwrap_err();
        assert_eq!(e.line, Some(2));
    }

    #[test]
    fn pkg_map_most_specific_wins() {
        let m = PkgMap::parse(
            r#"{
              "release": {"debian": {"bookworm": {"a": "a-bookworm"}}},
              "distro": {"debian": {"a": "a-debian", "b": "b-debian"}, "ubuntu": {"c": "c-ubuntu"}},
              "family": {"debian": {"a": "a-fam", "b": "b-fam", "c": "c-fam"}},
              "default": {"a": "a-def", "b": "b-def", "c": "c-def", "d": "d1 d2", "e": ""}
            }"#,
            Path::new("pkg-map"),
        )
        .unwrap();
        let t = target();
        assert_eq!(m.map("a", &t), vec!["a-bookworm"]);
        assert_eq!(m.map("b", &t), vec!["b-debian"]);
        assert_eq!(m.map("c", &t), vec!["c-fam"]);
        assert_eq!(m.map("d", &t), vec!["d1", "d2"]);
        assert!(m.map("e", &t).is_empty());
        assert_eq!(m.map("zzz", &t), vec!["zzz"]);
        let mut other = t.clone();
        other.release = "trixie".into();
        assert_eq!(m.map("a", &other), vec!["a-debian"]);
        let flat = m.flatten(&t);
        assert_eq!(flat.len(), 5);
        assert_eq!(flat["a"], vec!["a-bookworm"]);
        assert!(flat["e"].is_empty());
    }

    #[test]
    fn pkg_map_errors() {
        let e = PkgMap::parse("{\"colour\": {}}", Path::new("/x/pkg-map")).unwrap_err();
        assert!(e.to_string().starts_with("/x/pkg-map:1:"), "{e}");
    }
}
