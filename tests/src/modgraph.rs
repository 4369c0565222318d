//! The module graph of a crate, read from its source as text: an edge `a → b` between two
//! sibling modules (children of the same parent, the crate root included) for every path
//! `crate::…`, `super::…` or `self::…` written in `a` (or below it) that names `b` (or something
//! below it). Test code (`tests.rs` files and everything after a `#[cfg(test)]` line) is left
//! out: tests may reach across layers. Paths through re-exports (`pub use`) are not followed;
//! the edge goes to the module the path names.
//!
//! `tests/tests/module_cycles.rs` fails on any cycle in `agent`, `imagebuild` and `ignition`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One edge with where it was seen first (`file:line`).
pub type Edges = BTreeMap<(Vec<String>, String, String), String>;

/// The sibling edges of the library whose root is `src/lib.rs`, keyed by (parent module path,
/// from, to).
pub fn edges(src: &Path) -> Edges {
    let mut out = Edges::new();
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("reading lib.rs");
    let top = declared_mods(&lib);
    let mut files = Vec::new();
    for m in &top {
        collect_files(src, m, &mut files);
    }
    for file in files {
        let rel = file.strip_prefix(src).expect("below src");
        let module = module_path(rel);
        if rel.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("reading a source file");
        for (line_no, target) in paths_in(&text) {
            let Some(abs) = resolve(&module, rel, &target) else {
                continue;
            };
            let k = module.iter().zip(&abs).take_while(|(a, b)| a == b).count();
            if k >= module.len() || k >= abs.len() {
                continue;
            }
            let parent = &module[..k];
            if !is_module(src, parent, &abs[k]) {
                continue;
            }
            out.entry((parent.to_vec(), module[k].clone(), abs[k].clone()))
                .or_insert_with(|| format!("{}:{}", rel.display(), line_no));
        }
    }
    out
}

/// The cycles of `edges`: each strongly connected component of more than one module, as one
/// cycle through it with the place each edge was seen.
pub fn cycles(edges: &Edges) -> Vec<String> {
    let mut by_parent: BTreeMap<&Vec<String>, BTreeMap<&str, Vec<&str>>> = BTreeMap::new();
    for (parent, from, to) in edges.keys() {
        by_parent
            .entry(parent)
            .or_default()
            .entry(from)
            .or_default()
            .push(to);
    }
    let mut out = Vec::new();
    for (parent, graph) in by_parent {
        for scc in sccs(&graph) {
            if scc.len() < 2 {
                continue;
            }
            let cycle = one_cycle(&graph, &scc);
            let level = if parent.is_empty() {
                "crate".to_string()
            } else {
                parent.join("::")
            };
            let mut text = format!("in {level}: {} modules {{{}}}: ", scc.len(), scc.join(", "));
            for w in cycle.windows(2) {
                let seen = &edges[&(parent.clone(), w[0].to_string(), w[1].to_string())];
                text.push_str(&format!("{} → {} ({seen}); ", w[0], w[1]));
            }
            text = text.trim_end_matches("; ").to_string();
            text.push_str("\n    every edge inside it:");
            for ((p, from, to), seen) in edges {
                if p == parent && scc.contains(&from.as_str()) && scc.contains(&to.as_str()) {
                    text.push_str(&format!(" {from} → {to} ({seen});"));
                }
            }
            out.push(text);
        }
    }
    out
}

fn sccs<'a>(graph: &BTreeMap<&'a str, Vec<&'a str>>) -> Vec<Vec<&'a str>> {
    // Kosaraju: order by finish time, then walk the reversed graph.
    let mut nodes: BTreeSet<&str> = graph.keys().copied().collect();
    nodes.extend(graph.values().flatten().copied());
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    for &n in &nodes {
        finish(n, graph, &mut seen, &mut order);
    }
    let mut rev: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (&a, bs) in graph {
        for &b in bs {
            rev.entry(b).or_default().push(a);
        }
    }
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for &n in order.iter().rev() {
        if done.contains(n) {
            continue;
        }
        let mut comp = Vec::new();
        let mut stack = vec![n];
        done.insert(n);
        while let Some(x) = stack.pop() {
            comp.push(x);
            for &y in rev.get(x).into_iter().flatten() {
                if done.insert(y) {
                    stack.push(y);
                }
            }
        }
        comp.sort_unstable();
        out.push(comp);
    }
    out
}

fn finish<'a>(
    n: &'a str,
    graph: &BTreeMap<&'a str, Vec<&'a str>>,
    seen: &mut BTreeSet<&'a str>,
    order: &mut Vec<&'a str>,
) {
    if !seen.insert(n) {
        return;
    }
    for &m in graph.get(n).into_iter().flatten() {
        finish(m, graph, seen, order);
    }
    order.push(n);
}

/// A shortest cycle from the component's first module back to it, inside the component.
fn one_cycle<'a>(graph: &BTreeMap<&'a str, Vec<&'a str>>, scc: &[&'a str]) -> Vec<&'a str> {
    let start = scc[0];
    let inside: BTreeSet<&str> = scc.iter().copied().collect();
    let mut prev: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(x) = queue.pop_front() {
        for &y in graph.get(x).into_iter().flatten() {
            if !inside.contains(y) {
                continue;
            }
            if y == start {
                let mut path = vec![start, x];
                let mut at = x;
                while at != start {
                    at = prev[at];
                    path.push(at);
                }
                path.reverse();
                return path;
            }
            if let std::collections::btree_map::Entry::Vacant(e) = prev.entry(y) {
                e.insert(x);
                queue.push_back(y);
            }
        }
    }
    vec![start]
}

fn declared_mods(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter_map(|l| {
            let l = l.strip_prefix("pub ").unwrap_or(l);
            let l = l.strip_prefix("pub(crate) ").unwrap_or(l);
            l.strip_prefix("mod ")?
                .strip_suffix(';')
                .map(str::to_string)
        })
        .collect()
}

fn collect_files(dir: &Path, name: &str, out: &mut Vec<PathBuf>) {
    let file = dir.join(format!("{name}.rs"));
    if file.is_file() {
        out.push(file);
    }
    let sub = dir.join(name);
    if !sub.is_dir() {
        return;
    }
    if sub.join("mod.rs").is_file() {
        out.push(sub.join("mod.rs"));
    }
    let mut names = BTreeSet::new();
    for e in std::fs::read_dir(&sub).expect("reading a module directory") {
        let p = e.expect("a directory entry").path();
        let Some(stem) = p.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
            continue;
        };
        if p.is_dir() || (p.extension().is_some_and(|e| e == "rs") && stem != "mod") {
            names.insert(stem);
        }
    }
    for n in names {
        collect_files(&sub, &n, out);
    }
}

/// `runtime/mod.rs` → `[runtime]`, `runtime/health.rs` → `[runtime, health]`.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.strip_suffix(".rs").unwrap_or(&last);
    if stem != "mod" {
        parts.push(stem.to_string());
    }
    parts
}

fn is_module(src: &Path, parent: &[String], name: &str) -> bool {
    let mut dir = src.to_path_buf();
    for p in parent {
        dir.push(p);
    }
    dir.join(format!("{name}.rs")).is_file() || dir.join(name).join("mod.rs").is_file()
}

/// A path as written: its prefix (`crate`, `super` repeated, `self`) and the names after it.
#[derive(Debug)]
struct Written {
    supers: usize,
    is_crate: bool,
    names: Vec<String>,
}

fn resolve(module: &[String], _rel: &Path, w: &Written) -> Option<Vec<String>> {
    let mut base: Vec<String> = if w.is_crate {
        Vec::new()
    } else {
        if w.supers > module.len() {
            return None;
        }
        module[..module.len() - w.supers].to_vec()
    };
    base.extend(w.names.iter().cloned());
    Some(base)
}

/// Every `crate::`, `super::` and `self::` path in the text outside comments and strings, up to
/// the first `#[cfg(test)]`, with its line number; `use` groups are expanded.
fn paths_in(text: &str) -> Vec<(usize, Written)> {
    let code = strip(text);
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let at_word = i == 0
            || !(b[i - 1].is_ascii_alphanumeric()
                || b[i - 1] == b'_'
                || b[i - 1] == b'$'
                || b[i - 1] == b':');
        if at_word {
            for (kw, is_crate, is_super) in [
                ("crate::", true, false),
                ("super::", false, true),
                ("self::", false, false),
            ] {
                if code[i..].starts_with(kw) {
                    let line = code[..i].matches('\n').count() + 1;
                    let mut j = i + kw.len();
                    let mut supers = usize::from(is_super);
                    while is_super && code[j..].starts_with("super::") {
                        supers += 1;
                        j += "super::".len();
                    }
                    let mut trees = Vec::new();
                    tree(&code, &mut j, Vec::new(), &mut trees);
                    for names in trees {
                        out.push((
                            line,
                            Written {
                                supers,
                                is_crate,
                                names,
                            },
                        ));
                    }
                    i = j;
                    break;
                }
            }
        }
        i += 1;
    }
    out
}

/// Parses `a::b::{c, d::e}` from `*j` into its leaf paths (`[a, b, c]`, `[a, b, d, e]`).
fn tree(code: &str, j: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let b = code.as_bytes();
    let mut path = prefix;
    loop {
        while *j < b.len() && b[*j].is_ascii_whitespace() {
            *j += 1;
        }
        if *j < b.len() && b[*j] == b'{' {
            *j += 1;
            loop {
                tree(code, j, path.clone(), out);
                while *j < b.len() && b[*j].is_ascii_whitespace() {
                    *j += 1;
                }
                if *j < b.len() && b[*j] == b',' {
                    *j += 1;
                    continue;
                }
                if *j < b.len() && b[*j] == b'}' {
                    *j += 1;
                }
                return;
            }
        }
        let start = *j;
        while *j < b.len() && (b[*j].is_ascii_alphanumeric() || b[*j] == b'_') {
            *j += 1;
        }
        let name = &code[start..*j];
        if name.is_empty() || name == "self" {
            break;
        }
        path.push(name.to_string());
        if code[*j..].starts_with("::") {
            *j += 2;
            continue;
        }
        // `as alias` and the rest of the item are not part of the path.
        break;
    }
    if !path.is_empty() {
        out.push(path);
    }
}

/// The text with comments and string literals blanked (newlines kept) and cut at the first
/// `#[cfg(test)]`.
fn strip(text: &str) -> String {
    let cut = text.find("#[cfg(test)]").unwrap_or(text.len());
    let b = &text.as_bytes()[..cut];
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if b[i] == b'\n' {
                        out.push(b'\n');
                    }
                    i += 1;
                }
            }
        } else if b[i] == b'r'
            && (b[i + 1..].starts_with(b"\"") || b[i + 1..].starts_with(b"#"))
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            // Raw string r"…" or r#"…"#.
            let mut k = i + 1;
            let mut hashes = 0;
            while k < b.len() && b[k] == b'#' {
                hashes += 1;
                k += 1;
            }
            if k < b.len() && b[k] == b'"' {
                let mut end = vec![b'"'];
                end.extend(std::iter::repeat_n(b'#', hashes));
                k += 1;
                while k < b.len() && !b[k..].starts_with(&end) {
                    if b[k] == b'\n' {
                        out.push(b'\n');
                    }
                    k += 1;
                }
                i = (k + end.len()).min(b.len());
                out.push(b' ');
            } else {
                out.push(b[i]);
                i += 1;
            }
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                if i < b.len() && b[i] == b'\n' {
                    out.push(b'\n');
                }
                i += 1;
            }
            i += 1;
            out.push(b' ');
        } else if b[i] == b'\'' && i + 2 < b.len() && (b[i + 2] == b'\'' || b[i + 1] == b'\\') {
            // A char literal ('"', '\'', '\n'); lifetimes are left alone.
            i += 1;
            if b[i] == b'\\' {
                i += 1;
            }
            while i < b.len() && b[i] != b'\'' {
                i += 1;
            }
            i += 1;
            out.push(b' ');
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
