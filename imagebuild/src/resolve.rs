//! Element resolution, pure: from the user's list to the set of elements to
//! run, following element-deps and element-provides exactly as DIB does.
//!
//! Rules: `base` is implied unless `no_base`; dependencies may be mutual;
//! a name provided by an included element is not looked up; a build with no
//! provider of `operating-system` fails; two providers of one name fail; a
//! user-listed element that another provides fails. Errors name the chain of
//! elements that led to the problem.

use crate::element::{Element, ElementIndex};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;

/// Why a set of elements cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("no elements given")]
    NoElements,
    #[error("missing element '{name}' ({chain})")]
    Missing { name: String, chain: Chain },
    #[error("no operating-system element: include one (e.g. debian-minimal) that provides 'operating-system'")]
    NoOperatingSystem,
    #[error("'{name}' is provided by more than one element: {}", providers.iter().map(|(p, c)| format!("'{p}' ({c})")).collect::<Vec<_>>().join(", "))]
    TwoProviders {
        name: String,
        providers: Vec<(String, Chain)>,
    },
    #[error("element '{name}' was listed explicitly but is provided by '{provider}' ({chain})")]
    ListedButProvided {
        name: String,
        provider: String,
        chain: Chain,
    },
}

/// Who wanted an element: the elements from it back to the command line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chain(pub Vec<String>);

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("listed on the command line")
        } else {
            write!(f, "wanted by {}", self.0.join(" <- "))
        }
    }
}

/// The outcome: the elements to run, in discovery order, and who provides what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved<'a> {
    pub elements: Vec<&'a Element>,
    /// virtual name -> providing element
    pub provided: BTreeMap<String, String>,
}

/// Resolve `requested` against `index`.
pub fn resolve<'a>(
    index: &'a ElementIndex,
    requested: &[String],
    no_base: bool,
) -> Result<Resolved<'a>, ResolveError> {
    if requested.is_empty() {
        return Err(ResolveError::NoElements);
    }
    let mut user: Vec<String> = Vec::new();
    if !no_base {
        user.push("base".to_string());
    }
    for r in requested {
        if !user.contains(r) {
            user.push(r.clone());
        }
    }
    // parent[name] = the element that first wanted it (absent for user-listed).
    let mut parent: BTreeMap<String, String> = BTreeMap::new();
    let chain_of = |parent: &BTreeMap<String, String>, name: &str| {
        let mut c = Vec::new();
        let mut cur = name;
        while let Some(p) = parent.get(cur) {
            if c.contains(p) {
                break;
            }
            c.push(p.clone());
            cur = p;
        }
        Chain(c)
    };
    let mut queue: VecDeque<String> = user.iter().cloned().collect();
    let mut done: Vec<&Element> = Vec::new();
    let mut providers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut unresolved: Vec<String> = Vec::new();
    while let Some(name) = queue.pop_front() {
        if done.iter().any(|e| e.name == name) || providers.contains_key(&name) {
            continue;
        }
        let Some(el) = index.get(&name) else {
            if !unresolved.contains(&name) {
                unresolved.push(name);
            }
            continue;
        };
        for p in &el.provides {
            providers
                .entry(p.clone())
                .or_default()
                .push(el.name.clone());
        }
        for d in &el.deps {
            let known = done.iter().any(|e| &e.name == d)
                || providers.contains_key(d)
                || parent.contains_key(d)
                || user.contains(d);
            if !known {
                parent.insert(d.clone(), el.name.clone());
                queue.push_back(d.clone());
            }
        }
        done.push(el);
    }
    for name in &user {
        if let Some(ps) = providers.get(name) {
            let provider = ps[0].clone();
            let chain = chain_of(&parent, &provider);
            return Err(ResolveError::ListedButProvided {
                name: name.clone(),
                provider,
                chain,
            });
        }
    }
    if let Some(name) = unresolved.into_iter().find(|n| !providers.contains_key(n)) {
        let chain = chain_of(&parent, &name);
        return Err(ResolveError::Missing { name, chain });
    }
    for (name, ps) in &providers {
        if ps.len() > 1 {
            return Err(ResolveError::TwoProviders {
                name: name.clone(),
                providers: ps
                    .iter()
                    .map(|p| (p.clone(), chain_of(&parent, p)))
                    .collect(),
            });
        }
    }
    if !providers.contains_key("operating-system") {
        return Err(ResolveError::NoOperatingSystem);
    }
    // An element that is also provided by another one is not run itself.
    let elements: Vec<&Element> = done
        .into_iter()
        .filter(|e| !providers.contains_key(&e.name))
        .collect();
    let provided = providers
        .into_iter()
        .map(|(k, mut v)| (k, v.remove(0)))
        .collect();
    Ok(Resolved { elements, provided })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// Fixture: each tuple is (name, deps, provides) written as a real tree.
    fn tree(spec: &[(&str, &[&str], &[&str])]) -> (tempfile::TempDir, ElementIndex) {
        let t = tempfile::tempdir().unwrap();
        for (name, deps, provides) in spec {
            let d = t.path().join(name);
            fs::create_dir_all(&d).unwrap();
            if !deps.is_empty() {
                fs::write(d.join("element-deps"), deps.join("\n") + "\n").unwrap();
            }
            if !provides.is_empty() {
                fs::write(d.join("element-provides"), provides.join("\n")).unwrap();
            }
        }
        let idx = ElementIndex::scan(&[t.path().to_path_buf()]).unwrap();
        (t, idx)
    }

    fn names(r: &Resolved<'_>) -> Vec<String> {
        let mut v: Vec<String> = r.elements.iter().map(|e| e.name.clone()).collect();
        v.sort();
        v
    }

    fn req(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    const OS: (&str, &[&str], &[&str]) = ("debian-minimal", &[], &["operating-system"]);

    #[test]
    fn deps_followed_and_base_implied() {
        let (_t, idx) = tree(&[
            OS,
            ("base", &[], &[]),
            ("vm", &["bootloader"], &[]),
            ("bootloader", &[], &[]),
            ("my-app", &["vm"], &[]),
        ]);
        let r = resolve(&idx, &req(&["debian-minimal", "my-app"]), false).unwrap();
        assert_eq!(
            names(&r),
            vec!["base", "bootloader", "debian-minimal", "my-app", "vm"]
        );
        assert_eq!(
            r.provided.get("operating-system").map(String::as_str),
            Some("debian-minimal")
        );
        assert_eq!(r.elements[0].name, "base");
        assert!(r.elements[0].path.ends_with("base"));
    }

    #[test]
    fn no_base_flag() {
        let (_t, idx) = tree(&[OS, ("x", &[], &[])]);
        let r = resolve(&idx, &req(&["debian-minimal", "x"]), true).unwrap();
        assert_eq!(names(&r), vec!["debian-minimal", "x"]);
        // Without -n a missing base is an error.
        let e = resolve(&idx, &req(&["debian-minimal"]), false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "missing element 'base' (listed on the command line)"
        );
    }

    #[test]
    fn missing_element_names_the_chain() {
        let (_t, idx) = tree(&[OS, ("vm", &["foo"], &[]), ("my-app", &["vm"], &[])]);
        let e = resolve(&idx, &req(&["debian-minimal", "my-app"]), true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "missing element 'foo' (wanted by vm <- my-app)"
        );
    }

    #[test]
    fn mutual_dependencies_are_fine() {
        let (_t, idx) = tree(&[OS, ("a", &["b"], &[]), ("b", &["a"], &[])]);
        let r = resolve(&idx, &req(&["debian-minimal", "a"]), true).unwrap();
        assert_eq!(names(&r), vec!["a", "b", "debian-minimal"]);
    }

    #[test]
    fn operating_system_required() {
        let (_t, idx) = tree(&[("x", &[], &[])]);
        assert_eq!(
            resolve(&idx, &req(&["x"]), true).unwrap_err(),
            ResolveError::NoOperatingSystem
        );
    }

    #[test]
    fn os_reached_through_deps_counts() {
        let (_t, idx) = tree(&[OS, ("vm", &["debian-minimal"], &[])]);
        assert!(resolve(&idx, &req(&["vm"]), true).is_ok());
    }

    #[test]
    fn virtual_dependency_satisfied_by_provider() {
        // vm depends on the virtual 'operating-system' which no directory holds.
        let (_t, idx) = tree(&[("vm", &["operating-system"], &[]), OS]);
        let r = resolve(&idx, &req(&["vm", "debian-minimal"]), true).unwrap();
        assert_eq!(names(&r), vec!["debian-minimal", "vm"]);
    }

    #[test]
    fn two_providers_is_an_error_with_chains() {
        let (_t, idx) = tree(&[
            OS,
            ("fedora", &[], &["operating-system"]),
            ("vm", &["fedora"], &[]),
        ]);
        let e = resolve(&idx, &req(&["debian-minimal", "vm"]), true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "'operating-system' is provided by more than one element: \
             'debian-minimal' (listed on the command line), 'fedora' (wanted by vm)"
        );
    }

    #[test]
    fn user_listed_but_provided() {
        let (_t, idx) = tree(&[
            ("debian-full", &[], &["operating-system", "debian-minimal"]),
            OS,
        ]);
        let e = resolve(&idx, &req(&["debian-full", "debian-minimal"]), true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "element 'debian-minimal' was listed explicitly but is provided by 'debian-full' (listed on the command line)"
        );
    }

    #[test]
    fn provided_name_is_not_run_as_element() {
        // 'dhcp' exists as a directory but 'net' provides it: only 'net' runs.
        let (_t, idx) = tree(&[
            OS,
            ("net", &[], &["dhcp"]),
            ("dhcp", &[], &[]),
            ("app", &["net", "dhcp"], &[]),
        ]);
        let r = resolve(&idx, &req(&["debian-minimal", "app"]), true).unwrap();
        assert_eq!(names(&r), vec!["app", "debian-minimal", "net"]);
    }

    #[test]
    fn empty_request() {
        let idx = ElementIndex::default();
        assert_eq!(
            resolve(&idx, &[], false).unwrap_err(),
            ResolveError::NoElements
        );
    }
}
