//! solum-agent's own inputs: the Planfile, source tarballs, `.dockerignore`, buildpack output.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use solum_agent::build::buildpack::{parse_buildpacks_file, release};
use solum_agent::build::context::dockerignore::{clean, Rules};
use solum_agent::planfile;
use solum_agent::source::{extract_tarball, Limits};

use super::utf8;

/// `planfile::load` reads UTF-8 text of at most 1 MiB, then parses it.
pub fn planfile(data: &[u8]) {
    if data.len() as u64 > planfile::MAX_PLANFILE_BYTES {
        return;
    }
    let Some(text) = utf8(data) else { return };
    if let Ok(plan) = planfile::parse(Path::new("/fuzz/Planfile"), text) {
        let _ = format!("{plan:?}");
    }
}

/// Extracts the input as a source tarball into `work/root/dest`, then checks that everything
/// it wrote is inside `dest`: nothing else under `work`, no link to the archive, no symlink
/// that leaves `dest`, no device file or fifo.
pub fn source_tarball(data: &[u8]) {
    let work = tempfile::tempdir().expect("a temporary directory");
    let archive = work.path().join("archive.tar");
    std::fs::write(&archive, data).expect("writing the archive");
    let root = work.path().join("root");
    let dest = root.join("dest");
    std::fs::create_dir_all(&dest).expect("making dest");
    let limits = Limits {
        max_bytes: 16 << 20,
        max_entries: 10_000,
    };
    let _ = extract_tarball(&archive, "fuzz.tar", &dest, &limits);
    check_confined(work.path(), &archive, &root, &dest);
    // A tree made unwritable by the archive's modes must still be removable.
    for e in walkdir::WalkDir::new(&root).into_iter().flatten() {
        if e.file_type().is_dir() {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(0o700));
        }
    }
}

fn check_confined(work: &Path, archive: &Path, root: &Path, dest: &Path) {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let top: Vec<PathBuf> = std::fs::read_dir(work)
        .expect("reading work")
        .map(|e| e.expect("entry").path())
        .collect();
    for p in &top {
        assert!(
            p == archive || p == root,
            "extraction wrote {}",
            p.display()
        );
    }
    let meta = std::fs::symlink_metadata(archive).expect("the archive is still there");
    assert_eq!(meta.nlink(), 1, "the archive was hard-linked from the tree");
    for e in walkdir::WalkDir::new(root).follow_links(false) {
        let e = e.expect("walking the tree");
        let p = e.path();
        if p == root {
            continue;
        }
        assert!(p.starts_with(dest), "extraction wrote {}", p.display());
        let ft = e.file_type();
        assert!(
            !(ft.is_block_device() || ft.is_char_device() || ft.is_fifo() || ft.is_socket()),
            "special file {}",
            p.display()
        );
        if ft.is_symlink() {
            let target = std::fs::read_link(p).expect("reading a link");
            let rel = p.strip_prefix(dest).expect("inside dest");
            assert!(
                lexically_inside(rel, &target),
                "symlink {} -> {} leaves the tree",
                p.display(),
                target.display()
            );
        }
    }
}

/// Whether a symlink at `link` (relative to the tree) pointing to `target` stays inside the
/// tree, resolving `..` lexically (symlinks in the way were refused by the extractor).
fn lexically_inside(link: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: i64 = link.components().count() as i64 - 1;
    for c in target.components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            _ => return false,
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

/// `.dockerignore` as `build::context::read_rules` reads it, then matched against fixed paths
/// and against the input's own lines as paths.
pub fn dockerignore(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(mut rules) = Rules::parse(&text) else {
        return;
    };
    rules.keep_build_files("Dockerfile");
    const PATHS: &[&str] = &[
        "Dockerfile",
        ".dockerignore",
        "a",
        "a/b",
        "a/b/c.txt",
        "src/main.rs",
        "node_modules/x/y/z.js",
        ".git/HEAD",
        "deep/a/b/c/d/e/f/g",
    ];
    for p in PATHS {
        rules.excludes(p);
        rules.may_include_under(p);
    }
    for line in text.lines().take(32) {
        let p = clean(line.trim().trim_start_matches('!'));
        let p = p.trim_start_matches('/');
        if !p.is_empty() {
            rules.excludes(p);
            rules.may_include_under(p);
        }
    }
    rules.has_exclusions();
}

/// What a buildpack build reads back from the container: `bin/release` output, the app's
/// Procfile and `.buildpacks` (all read as lossy text), then the process table and the image
/// environment made of them.
pub fn buildpack(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let procfile = release::parse_procfile(&text, "Procfile").unwrap_or_default();
    if let Ok(rel) = release::parse_release(&text, "fuzz") {
        let _ = release::image_env(&rel.config_vars);
        if let Ok(all) = release::processes(&procfile, &rel, Some("./run")) {
            release::release_file(&all, &procfile);
        }
        let _ = release::processes(&BTreeMap::new(), &rel, None);
    }
    parse_buildpacks_file(&text);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_containment() {
        assert!(lexically_inside(Path::new("a/l"), Path::new("../b")));
        assert!(lexically_inside(Path::new("a/l"), Path::new("x/../y")));
        assert!(!lexically_inside(Path::new("l"), Path::new("../b")));
        assert!(!lexically_inside(Path::new("a/l"), Path::new("/etc")));
        assert!(!lexically_inside(Path::new("a/l"), Path::new("../../b")));
    }
}
