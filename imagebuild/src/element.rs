//! Finding elements on disk: the search path and each element's
//! `element-deps` / `element-provides`. Only reads; resolution is in `resolve`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// A problem reading an element directory.
#[derive(Debug, thiserror::Error)]
pub enum ElementError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Read(#[from] solum_limits::ReadError),
    #[error("{path}:{line}: bad element name '{name}' (letters, digits, '_', '-', '.' only)")]
    BadName {
        path: PathBuf,
        line: usize,
        name: String,
    },
}

/// One element found on the search path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub path: PathBuf,
    pub deps: Vec<String>,
    pub provides: Vec<String>,
}

/// Elements whose work the builder does itself (package installs through
/// pkg-map): diskimage-builder's own versions of them would install every
/// package a second time through its Python, so the builder's always win.
pub const BUILTIN: &[&str] = &["package-installs", "pkg-map"];

/// All elements visible on a search path; the first directory holding a
/// name wins.
#[derive(Debug, Clone, Default)]
pub struct ElementIndex {
    elements: BTreeMap<String, Element>,
}

/// The search path: ELEMENTS_PATH entries (colon-separated, empty ones
/// ignored) then the project's own elements directory.
pub fn search_path(elements_path: Option<&str>, project_elements: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = elements_path
        .unwrap_or("")
        .split(':')
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .collect();
    if !dirs.iter().any(|d| d == project_elements) {
        dirs.push(project_elements.to_path_buf());
    }
    dirs
}

/// Whether a string is a valid element name.
pub fn is_element_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ElementError + '_ {
    move |source| ElementError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Read a one-name-a-line file; missing file = empty. `#` starts a comment.
fn read_names(path: &Path) -> Result<Vec<String>, ElementError> {
    let text = match solum_limits::read_text(path, crate::packages::MAX_FILE_BYTES) {
        Ok(t) => t,
        Err(e) if e.is_not_found() => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    parse_names(&text, path)
}

/// The names of an `element-deps` / `element-provides` text, one a line, `#` starting a
/// comment, duplicates dropped; `path` names the file in errors (pure).
pub fn parse_names(text: &str, path: &Path) -> Result<Vec<String>, ElementError> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, line) in text.lines().enumerate() {
        let name = line.split('#').next().unwrap_or("").trim();
        if name.is_empty() {
            continue;
        }
        if !is_element_name(name) {
            return Err(ElementError::BadName {
                path: path.to_path_buf(),
                line: i + 1,
                name: name.to_string(),
            });
        }
        if seen.insert(name) {
            out.push(name.to_string());
        }
    }
    Ok(out)
}

impl Element {
    /// Read one element directory.
    pub fn load(name: &str, path: &Path) -> Result<Element, ElementError> {
        Ok(Element {
            name: name.to_string(),
            path: path.to_path_buf(),
            deps: read_names(&path.join("element-deps"))?,
            provides: read_names(&path.join("element-provides"))?,
        })
    }
}

impl ElementIndex {
    /// Scan every directory of the search path. Missing directories are
    /// skipped (as DIB does); unreadable ones are errors.
    pub fn scan(dirs: &[PathBuf]) -> Result<ElementIndex, ElementError> {
        let mut elements = BTreeMap::new();
        for dir in dirs {
            let entries = match fs::read_dir(dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(dir)(e)),
            };
            let mut names = Vec::new();
            for entry in entries {
                let entry = entry.map_err(io(dir))?;
                let path = entry.path();
                let Some(name) = entry.file_name().to_str().map(String::from) else {
                    continue;
                };
                if is_element_name(&name) && path.is_dir() && !elements.contains_key(&name) {
                    names.push((name, path));
                }
            }
            for (name, path) in names {
                let el = Element::load(&name, &path)?;
                elements.insert(name, el);
            }
        }
        Ok(ElementIndex { elements })
    }

    /// Build an index from already-loaded elements (first of a name wins).
    pub fn from_elements(list: impl IntoIterator<Item = Element>) -> ElementIndex {
        let mut elements = BTreeMap::new();
        for e in list {
            elements.entry(e.name.clone()).or_insert(e);
        }
        ElementIndex { elements }
    }

    /// Take the `BUILTIN` elements from `dir` (the builder's own elements)
    /// whatever the search path says.
    pub fn use_builtins(&mut self, dir: &Path) -> Result<(), ElementError> {
        for name in BUILTIN {
            let path = dir.join(name);
            if path.is_dir() {
                self.elements
                    .insert(name.to_string(), Element::load(name, &path)?);
            }
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&Element> {
        self.elements.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.elements.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(p: &Path, text: &str) {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    #[test]
    fn earlier_path_entries_win() {
        let t = tempfile::tempdir().unwrap();
        let a = t.path().join("a");
        let b = t.path().join("b");
        write(&a.join("vm/element-deps"), "from-a\n");
        write(&b.join("vm/element-deps"), "from-b\n");
        write(
            &b.join("only-b/element-provides"),
            "# comment\n\nthing  # trailing\n",
        );
        fs::create_dir_all(a.join(".hidden")).unwrap();
        write(&a.join("not-a-dir"), "x");
        let idx = ElementIndex::scan(&[a.clone(), t.path().join("missing"), b]).unwrap();
        assert_eq!(idx.get("vm").unwrap().deps, vec!["from-a"]);
        assert_eq!(idx.get("vm").unwrap().path, a.join("vm"));
        assert_eq!(idx.get("only-b").unwrap().provides, vec!["thing"]);
        assert_eq!(idx.names().collect::<Vec<_>>(), vec!["only-b", "vm"]);
    }

    #[test]
    fn a_long_name_list_parses_in_linear_time() {
        // 200,000 distinct names: a quadratic duplicate check took minutes.
        let text: String = (0..200_000).map(|i| format!("element-{i}\n")).collect();
        let start = std::time::Instant::now();
        let names = parse_names(&text, Path::new("element-deps")).unwrap();
        assert_eq!(names.len(), 200_000);
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "{:?}",
            start.elapsed()
        );
        let dup = parse_names("a\nb # c\na\n", Path::new("element-deps")).unwrap();
        assert_eq!(dup, vec!["a", "b"]);
    }

    #[test]
    fn bad_dep_names_point_at_file_and_line() {
        let t = tempfile::tempdir().unwrap();
        write(&t.path().join("x/element-deps"), "ok\nnot ok\n");
        let e = ElementIndex::scan(&[t.path().to_path_buf()]).unwrap_err();
        let s = e.to_string();
        assert!(
            s.contains("x/element-deps:2: bad element name 'not ok'"),
            "{s}"
        );
    }

    #[test]
    fn builtins_come_from_the_builder_whatever_the_path_says() {
        let t = tempfile::tempdir().unwrap();
        let dib = t.path().join("dib");
        let own = t.path().join("own");
        write(&dib.join("package-installs/element-deps"), "install-bin\n");
        write(&dib.join("vm/element-deps"), "bootloader\n");
        write(&own.join("package-installs/README.md"), "x");
        write(&own.join("vm/element-deps"), "base\n");
        let mut idx = ElementIndex::scan(&[dib.clone(), own.clone()]).unwrap();
        idx.use_builtins(&own).unwrap();
        assert_eq!(
            idx.get("package-installs").unwrap().path,
            own.join("package-installs")
        );
        assert!(idx.get("package-installs").unwrap().deps.is_empty());
        assert_eq!(idx.get("vm").unwrap().path, dib.join("vm"));
    }

    #[test]
    fn search_path_order() {
        let p = search_path(Some("/one::/two"), Path::new("/proj/elements"));
        assert_eq!(
            p,
            vec![
                PathBuf::from("/one"),
                PathBuf::from("/two"),
                PathBuf::from("/proj/elements")
            ]
        );
        assert_eq!(
            search_path(None, Path::new("/p")),
            vec![PathBuf::from("/p")]
        );
    }
}
