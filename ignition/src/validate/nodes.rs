//! Files, directories and links: paths, modes, owners, duplicates (one key space for all
//! three), paths below a configured link, and hard links to directories.

use std::collections::HashSet;

use super::{dups, resource};
use crate::report::{join, Report};
use crate::types::{NodeGroup, NodeUser, Storage};
use crate::version::Version;

/// Go's `path.Clean` for the forms we need to compare with.
pub(crate) fn clean(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".to_string(),
        (false, false) => body,
    }
}

/// A path must be given, absolute and already clean.
pub(crate) fn check_path(p: &str, ptr: &str, r: &mut Report) {
    if p.is_empty() {
        r.error(ptr, "path not specified");
    } else if !p.starts_with('/') {
        r.error(ptr, "path not absolute");
    } else if clean(p) != p {
        r.error(ptr, "path is not fully simplified");
    }
}

fn check_mode(mode: Option<i64>, ptr: &str, v: Version, r: &mut Report) {
    let Some(m) = mode else { return };
    let mp = join(ptr, "mode");
    if !(0..=0o7777).contains(&m) {
        r.error(&mp, "illegal file mode");
    }
    if v < Version::V3_4 && m & 0o7000 != 0 {
        r.warn(
            &mp,
            "setuid/setgid/sticky bits are not supported in spec versions older than 3.4.0",
        );
    }
}

fn check_owner(user: &NodeUser, group: &NodeGroup, ptr: &str, r: &mut Report) {
    if user.id.is_some() && user.name.as_deref().is_some_and(|n| !n.is_empty()) {
        r.error(join(ptr, "user"), "cannot set both id and name");
    }
    if group.id.is_some() && group.name.as_deref().is_some_and(|n| !n.is_empty()) {
        r.error(join(ptr, "group"), "cannot set both id and name");
    }
}

pub(super) fn validate(s: &Storage, v: Version, r: &mut Report) {
    for (i, d) in s.directories.iter().enumerate() {
        let p = join("/storage/directories", i);
        check_path(&d.path, &join(&p, "path"), r);
        check_owner(&d.user, &d.group, &p, r);
        check_mode(d.mode, &p, v, r);
    }
    for (i, f) in s.files.iter().enumerate() {
        let p = join("/storage/files", i);
        check_path(&f.path, &join(&p, "path"), r);
        check_owner(&f.user, &f.group, &p, r);
        check_mode(f.mode, &p, v, r);
        if f.overwrite == Some(true) && f.contents.source.is_none() {
            r.error(
                join(&p, "overwrite"),
                "overwrite must be false if source is unspecified",
            );
        }
        resource(&f.contents, &join(&p, "contents"), v, r);
        for (j, a) in f.append.iter().enumerate() {
            resource(a, &join(&join(&p, "append"), j), v, r);
        }
    }
    for (i, l) in s.links.iter().enumerate() {
        let p = join("/storage/links", i);
        check_path(&l.path, &join(&p, "path"), r);
        check_owner(&l.user, &l.group, &p, r);
    }
    // `path` starts with `link + "/"` for some link: look up every prefix that ends before a
    // slash (linear in the path instead of in the number of links).
    let link_paths: HashSet<&str> = s.links.iter().map(|l| l.path.as_str()).collect();
    let below_link = |path: &str| {
        path.match_indices('/')
            .any(|(i, _)| link_paths.contains(&path[..i]))
    };
    let dir_paths: HashSet<&str> = s.directories.iter().map(|d| d.path.as_str()).collect();
    for (i, d) in s.directories.iter().enumerate() {
        if below_link(&d.path) {
            r.error(
                join("/storage/directories", i),
                "directory path includes link in config",
            );
        }
    }
    for (i, f) in s.files.iter().enumerate() {
        if below_link(&f.path) {
            r.error(
                join("/storage/files", i),
                "file path includes link in config",
            );
        }
    }
    for (i, l) in s.links.iter().enumerate() {
        let p = join("/storage/links", i);
        if below_link(&l.path) {
            r.error(&p, "link path includes link in config");
        }
        // Before 3.3.0 an empty target passes validation (and fails at first boot).
        let Some(target) = l.target.as_deref().filter(|t| !t.is_empty()) else {
            if v >= Version::V3_3 {
                r.error(join(&p, "target"), "link target is required");
            }
            continue;
        };
        if l.hard != Some(true) {
            continue;
        }
        let mut t = clean(target);
        if !t.starts_with('/') {
            t = clean(&format!("{}/{}", l.path, target));
        }
        if dir_paths.contains(t.as_str()) {
            r.error(&p, "hard link target is a directory");
        }
    }
    let keys = s
        .directories
        .iter()
        .map(|d| &d.path)
        .chain(s.files.iter().map(|f| &f.path))
        .chain(s.links.iter().map(|l| &l.path));
    let mut r2 = Report::default();
    dups(keys, "", &mut r2);
    let (nd, nf) = (s.directories.len(), s.files.len());
    for e in r2.entries {
        let idx: usize = e.pointer.trim_start_matches('/').parse().unwrap_or(0);
        let ptr = if idx < nd {
            join("/storage/directories", idx)
        } else if idx < nd + nf {
            join("/storage/files", idx - nd)
        } else {
            join("/storage/links", idx - nd - nf)
        };
        r.error(ptr, e.message);
    }
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn clean_matches_go() {
        for (i, o) in [
            ("/a/../b", "/b"),
            ("/a/", "/a"),
            ("//a", "/a"),
            ("/", "/"),
            ("/a/./b", "/a/b"),
            ("../d", "../d"),
            ("/..", "/"),
            ("a/..", "."),
        ] {
            assert_eq!(clean(i), o, "{i}");
        }
    }
}
