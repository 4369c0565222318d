//! What a build reads from the host besides its elements, so that the plan
//! hash covers it (pure: the hash reads the files).
//!
//! - Every file or directory a `DIB_*` or `SOLUM_*` variable names, whatever
//!   the variable's suffix (`DIB_FAIL2BAN_CONF`, `DIB_APT_SOURCES`,
//!   `DIB_DEV_USER_AUTHORIZED_KEYS`, `DIB_BLOCK_DEVICE_CONFIG=file://...`):
//!   a value that looks like a path (it has a `/`, starts with `~/` or
//!   `file://`, or names something that exists relative to the current
//!   directory) is an input, present or not, so that making it later also
//!   changes the hash. URLs are not files.
//! - The host files diskimage-builder's own elements read without a
//!   variable naming them (`~/.ssh/authorized_keys` for local-config ...),
//!   when the element is in the build.
//!
//! Variables that name where a build writes, or only where the builder finds
//! things it hashes anyway (`NOT_INPUTS`), are not inputs.

use serde::ser::SerializeStruct;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One input of the plan hash.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Input {
    /// Absolute path (a file or a directory, hashed whole).
    pub path: PathBuf,
    /// Why: `$VAR` or `element NAME`.
    pub why: String,
    /// The path is hidden when shown (it came from a secret-looking variable).
    pub hidden: bool,
}

impl Serialize for Input {
    /// A hidden path is not written out (it is a secret variable's value).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Input", 2)?;
        if self.hidden {
            st.serialize_field("path", "(hidden)")?;
        } else {
            st.serialize_field("path", &self.path)?;
        }
        st.serialize_field("why", &self.why)?;
        st.end()
    }
}

/// Variables whose values are places the build writes or its own state, or
/// the elements directory (the elements a build uses are hashed one by one):
/// never inputs.
pub const NOT_INPUTS: &[&str] = &[
    "DIB_MANIFEST_SAVE_DIR",
    "DIB_IMAGE_CACHE",
    "DIB_LOCKFILES",
    "SOLUM_IMAGE_TEST_CACHE",
    "SOLUM_IMAGE_ELEMENTS_DIR",
];

/// Host files DIB's own elements read by themselves, by element name (`~`
/// is the caller's HOME, `@cache/` the image cache, `$DIB_IMAGE_CACHE`).
pub const ELEMENT_HOST_FILES: &[(&str, &[&str])] = &[
    ("local-config", &["~/.ssh/authorized_keys"]),
    ("devuser", &["~/.ssh/id_rsa.pub", "~/.ssh/id_dsa.pub"]),
    ("openstack-ci-mirrors", &["/etc/ci/mirror_info.sh"]),
    // A local PyPI mirror pip installs from during the build.
    ("pypi", &["@cache/pypi/mirror"]),
];

fn expand(token: &str, home: Option<&Path>, cwd: &Path) -> Option<PathBuf> {
    let token = token.strip_prefix("file://").unwrap_or(token);
    if token.is_empty() || token.contains("://") {
        return None;
    }
    let p = if let Some(rest) = token.strip_prefix("~/") {
        home?.join(rest)
    } else {
        cwd.join(token)
    };
    Some(normalize(&p))
}

/// `a/./b/../c` to `a/c`, without touching the file system.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn looks_like_path(token: &str) -> bool {
    !token.contains("://") && (token.contains('/') || token.starts_with('~'))
        || token.starts_with("file://")
}

/// The inputs named by `vars` (a plan's variables, secret ones included:
/// their paths are hidden). `exists` says whether a path is there (the
/// caller passes the file system's answer; tests pass their own).
pub fn from_variables(
    vars: &BTreeMap<String, String>,
    secret: impl Fn(&str) -> bool,
    home: Option<&Path>,
    cwd: &Path,
    exists: impl Fn(&Path) -> bool,
) -> Vec<Input> {
    let mut out = Vec::new();
    for (k, v) in vars {
        let ours = k.starts_with("DIB_") || k.starts_with("SOLUM_");
        if !ours || NOT_INPUTS.contains(&k.as_str()) {
            continue;
        }
        for token in v.split_whitespace() {
            let Some(path) = expand(token, home, cwd) else {
                continue;
            };
            if looks_like_path(token) || exists(&path) {
                out.push(Input {
                    path,
                    why: format!("${k}"),
                    hidden: secret(k),
                });
            }
        }
    }
    out.sort();
    out.dedup_by(|a, b| a.path == b.path);
    out
}

/// The host files read by the named elements (`cache`: the image cache).
pub fn from_elements<'a>(
    elements: impl IntoIterator<Item = &'a str>,
    home: Option<&Path>,
    cache: &Path,
) -> Vec<Input> {
    let mut out = Vec::new();
    for name in elements {
        for (el, files) in ELEMENT_HOST_FILES {
            if *el != name {
                continue;
            }
            for f in *files {
                let path = match f.strip_prefix("@cache/") {
                    Some(rest) => Some(cache.join(rest)),
                    None => expand(f, home, Path::new("/")),
                };
                if let Some(path) = path {
                    out.push(Input {
                        path,
                        why: format!("element {name}"),
                        hidden: false,
                    });
                }
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> BTreeMap<String, String> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn any_dib_variable_naming_a_file_is_an_input_whatever_its_suffix() {
        let v = vars(&[
            ("DIB_FAIL2BAN_CONF", "/etc/jail.local"),
            ("DIB_DEV_USER_AUTHORIZED_KEYS", "~/keys.pub"),
            ("DIB_BLOCK_DEVICE_CONFIG", "file://conf/bd.yaml"),
            ("DIB_DEB_UPDATES_CONF", "updates.conf"),
            ("DIB_MODPROBE_BLACKLIST", "nouveau floppy"),
            ("DIB_DISTRIBUTION_MIRROR", "http://deb.debian.org/debian"),
            ("DIB_MANIFEST_SAVE_DIR", "/out/x.d"),
            ("SOLUM_AGENT_BINARY", "/w/target/release/solum-agent"),
            ("HOME", "/root"),
        ]);
        let exists = |p: &Path| p == Path::new("/work/updates.conf");
        let got = from_variables(
            &v,
            |k| k.contains("_KEY"),
            Some(Path::new("/root")),
            Path::new("/work"),
            exists,
        );
        let shown: Vec<(String, &str, bool)> = got
            .iter()
            .map(|i| (i.path.display().to_string(), i.why.as_str(), i.hidden))
            .collect();
        assert_eq!(
            shown,
            vec![
                ("/etc/jail.local".into(), "$DIB_FAIL2BAN_CONF", false),
                (
                    "/root/keys.pub".into(),
                    "$DIB_DEV_USER_AUTHORIZED_KEYS",
                    true
                ),
                (
                    "/w/target/release/solum-agent".into(),
                    "$SOLUM_AGENT_BINARY",
                    false
                ),
                (
                    "/work/conf/bd.yaml".into(),
                    "$DIB_BLOCK_DEVICE_CONFIG",
                    false
                ),
                ("/work/updates.conf".into(), "$DIB_DEB_UPDATES_CONF", false),
            ]
        );
    }

    #[test]
    fn element_host_files_only_for_elements_in_the_build() {
        let cache = Path::new("/c");
        let got = from_elements(["base", "local-config"], Some(Path::new("/home/u")), cache);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].path, Path::new("/home/u/.ssh/authorized_keys"));
        assert_eq!(got[0].why, "element local-config");
        assert!(from_elements(["devuser"], None, cache).is_empty());
        let got = from_elements(["pypi"], None, cache);
        assert_eq!(got[0].path, Path::new("/c/pypi/mirror"));
    }
}
