//! Which buildpacks take part in a build, and how: `auto` tries the installed ones in name
//! order (the first to detect wins), a `.buildpacks` file runs every listed one in order, a
//! named language pack runs that one (installed name, URL or directory).

use std::path::{Path, PathBuf};

use crate::build::{BuildError, BuildRequest};
use crate::planfile::LanguagePack;
use crate::source::{self, SourceSpec};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Run `bin/detect` of each in order; the first that claims the app is the only one used.
    DetectFirst,
    /// Use every one, in order (detect only names them).
    All,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::DetectFirst => "detect-first",
            Mode::All => "all",
        }
    }
}

/// One buildpack on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buildpack {
    /// How users know it: the installed name, or the URL/path it came from.
    pub name: String,
    pub dir: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub mode: Mode,
    pub packs: Vec<Buildpack>,
}

/// `.buildpacks` files larger than this are refused (a line per buildpack).
const MAX_BUILDPACKS_FILE: usize = 64 << 10;

/// The entries of a `.buildpacks` file: one URL per line, `#` comments and blanks skipped.
pub fn parse_buildpacks_file(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// A name that can only mean an installed buildpack directory.
pub fn is_installed_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// The installed buildpacks (subdirectories of `dir`, hidden ones skipped), in name order.
pub fn installed(dir: &Path) -> Result<Vec<Buildpack>, BuildError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        BuildError::io(
            format!("reading the buildpacks directory {}", dir.display()),
            e,
        )
    })?;
    let mut packs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| BuildError::io(format!("reading {}", dir.display()), e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') && entry.path().is_dir() {
            packs.push(Buildpack {
                name,
                dir: entry.path(),
            });
        }
    }
    packs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(packs)
}

/// Decides the buildpacks of `req`, fetching remote ones into `req.work_dir/buildpacks`.
pub async fn select(req: &BuildRequest) -> Result<Selection, BuildError> {
    match &req.language_pack {
        LanguagePack::Named(spec) => Ok(Selection {
            mode: Mode::All,
            packs: vec![resolve(spec, req, 0, &req.buildpacks_dir).await?],
        }),
        LanguagePack::Auto => {
            let listed = req.source_dir.join(".buildpacks");
            if listed.is_file() {
                let text = solum_limits::read_text(&listed, MAX_BUILDPACKS_FILE)
                    .map_err(|e| BuildError::Other(e.to_string()))?;
                let urls = parse_buildpacks_file(&text);
                if !urls.is_empty() {
                    let mut packs = Vec::new();
                    for (i, url) in urls.iter().enumerate() {
                        let pack = match installed_named(url, req) {
                            Some(pack) => pack,
                            None => {
                                // The source is untrusted: no host paths.
                                check_inside_source(url, &req.source_dir).map_err(|e| {
                                    BuildError::Other(format!("{}: {e}", listed.display()))
                                })?;
                                fetched(url, req, i, &req.source_dir).await?
                            }
                        };
                        packs.push(pack);
                    }
                    return Ok(Selection {
                        mode: Mode::All,
                        packs,
                    });
                }
            }
            let packs = installed(&req.buildpacks_dir)?;
            if packs.is_empty() {
                return Err(BuildError::Other(format!(
                    "no buildpacks installed in {}",
                    req.buildpacks_dir.display()
                )));
            }
            Ok(Selection {
                mode: Mode::DetectFirst,
                packs,
            })
        }
    }
}

/// An installed buildpack by name, else a fetched URL or a directory (relative to `base`).
async fn resolve(
    spec: &str,
    req: &BuildRequest,
    index: usize,
    base: &Path,
) -> Result<Buildpack, BuildError> {
    match installed_named(spec, req) {
        Some(pack) => Ok(pack),
        None => fetched(spec, req, index, base).await,
    }
}

/// The installed buildpack `spec` names, if it is a plain name of one.
fn installed_named(spec: &str, req: &BuildRequest) -> Option<Buildpack> {
    let dir = req.buildpacks_dir.join(spec);
    (is_installed_name(spec) && dir.is_dir()).then(|| Buildpack {
        name: spec.to_string(),
        dir,
    })
}

/// `spec` fetched (a URL) or found (a directory relative to `base`).
async fn fetched(
    spec: &str,
    req: &BuildRequest,
    index: usize,
    base: &Path,
) -> Result<Buildpack, BuildError> {
    let dest = req.work_dir.join("buildpacks").join(format!("{index:02}"));
    fetch(spec, base, &dest).await
}

/// The buildpack `spec` names: a local directory (relative ones against `base`) used in place,
/// or a tarball or git remote fetched into `dest` through `source::fetch` (a tarball's one top
/// directory unwrapped). It must have a `bin/compile`.
pub async fn fetch(spec: &str, base: &Path, dest: &Path) -> Result<Buildpack, BuildError> {
    let name = solum_edge::redact::text(spec);
    let dir = match source::classify(spec, base) {
        SourceSpec::Dir { path } => {
            if !path.is_dir() {
                return Err(BuildError::Other(format!(
                    "buildpack {name}: {} is not a directory",
                    path.display()
                )));
            }
            path
        }
        remote => {
            let fetched = source::fetch(&remote, None, dest)
                .await
                .map_err(|e| BuildError::Other(format!("buildpack {name}: {e}")))?;
            match remote {
                SourceSpec::Tarball { .. } => single_top_dir(&fetched.dir),
                _ => fetched.dir,
            }
        }
    };
    Buildpack::checked(name, dir)
}

impl Buildpack {
    /// A buildpack in `dir`, which must hold `bin/compile`.
    pub fn checked(name: String, dir: PathBuf) -> Result<Buildpack, BuildError> {
        if !dir.join("bin").join("compile").is_file() {
            return Err(BuildError::Other(format!(
                "buildpack {name}: no bin/compile in {}",
                dir.display()
            )));
        }
        Ok(Buildpack { name, dir })
    }
}

/// Tarballs often wrap the buildpack in one top directory.
fn single_top_dir(dest: &Path) -> PathBuf {
    if dest.join("bin").is_dir() {
        return dest.to_path_buf();
    }
    let entries: Vec<_> = std::fs::read_dir(dest)
        .map(|rd| rd.flatten().collect())
        .unwrap_or_default();
    match entries.as_slice() {
        [only] if only.path().is_dir() => only.path(),
        _ => dest.to_path_buf(),
    }
}

/// Checks an entry of the source's `.buildpacks` (untrusted, like all the source): a remote
/// URL (`http(s)://`, `git://`, `ssh://`, `user@host:path`), or a relative path that stays
/// inside `source` (no `..`, no symlink out of it). A host path (absolute, `file://`, `..`, a
/// link leading out) is refused: it would upload a host directory into the build.
pub fn check_inside_source(spec: &str, source: &Path) -> Result<(), String> {
    let shown = solum_edge::redact::text(spec);
    let url = spec.split_once('#').map_or(spec, |(u, _)| u);
    let lower = url.to_ascii_lowercase();
    let remote = ["https://", "http://", "git://", "ssh://"]
        .iter()
        .any(|s| lower.starts_with(s));
    // git's scp-like syntax: `[user@]host:path`, a ':' before any '/'.
    let scp_like = !url.starts_with(['/', '.'])
        && url
            .split_once(':')
            .is_some_and(|(host, _)| !host.is_empty() && !host.contains('/'));
    if remote || (scp_like && !lower.starts_with("file:")) {
        return Ok(());
    }
    let host_path = || {
        format!("buildpack {shown}: names a path outside the source (a `.buildpacks` entry must be a URL or a relative path inside the source)")
    };
    if lower.starts_with("file:") || url.starts_with('/') {
        return Err(host_path());
    }
    let rel = Path::new(url);
    if rel.components().any(|c| {
        !matches!(
            c,
            std::path::Component::Normal(_) | std::path::Component::CurDir
        )
    }) {
        return Err(host_path());
    }
    // Symlinks inside the source may lead out of it: compare the real paths.
    let root = source
        .canonicalize()
        .map_err(|e| format!("the source {}: {e}", source.display()))?;
    match source.join(rel).canonicalize() {
        Ok(real) if real.starts_with(&root) => Ok(()),
        Ok(_) => Err(host_path()),
        Err(e) => Err(format!("buildpack {shown}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buildpacks_file_lines() {
        let text = "# first\nhttps://x/a.git#v1\n\n  ./local  \n";
        assert_eq!(
            parse_buildpacks_file(text),
            ["https://x/a.git#v1", "./local"]
        );
    }

    #[test]
    fn installed_are_sorted_and_skip_hidden_and_files() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["static", "python", ".hidden", "shell"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        std::fs::write(dir.path().join("README.md"), "x").unwrap();
        let names: Vec<String> = installed(dir.path())
            .unwrap()
            .into_iter()
            .map(|b| b.name)
            .collect();
        assert_eq!(names, ["python", "shell", "static"]);
        let e = installed(&dir.path().join("nope")).unwrap_err().to_string();
        assert!(
            e.contains("buildpacks directory") && e.contains("nope"),
            "{e}"
        );
    }

    #[test]
    fn installed_names() {
        assert!(is_installed_name("python"));
        assert!(!is_installed_name("../python"));
        assert!(!is_installed_name("https://x/y.git"));
        assert!(!is_installed_name(".."));
    }

    #[test]
    fn buildpacks_entries_stay_inside_the_source() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        std::fs::create_dir_all(src.join("bp/bin")).unwrap();
        std::fs::create_dir_all(d.path().join("host")).unwrap();
        std::os::unix::fs::symlink(d.path().join("host"), src.join("out")).unwrap();
        std::os::unix::fs::symlink("bp", src.join("in")).unwrap();
        for ok in [
            "./bp",
            "bp",
            "in",
            "https://h/bp.git#v1",
            "git@h:bp.git",
            "ssh://h/bp.git",
            "https://h/bp.tgz",
        ] {
            assert_eq!(check_inside_source(ok, &src), Ok(()), "{ok}");
        }
        for bad in [
            "/etc",
            "file:///etc",
            "file:///t/x.tgz",
            "../host",
            "bp/../../host",
            "out",
            "./out/x",
            "/srv/bp#main",
            "/srv/bp.git",
        ] {
            let e = check_inside_source(bad, &src).unwrap_err();
            assert!(
                e.contains("outside the source") || e.contains("No such file"),
                "{bad}: {e}"
            );
        }
    }

    #[tokio::test]
    async fn fetches_a_git_buildpack_at_a_ref_and_a_tarball_through_source_fetch() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        std::fs::create_dir_all(repo.join("bin")).unwrap();
        std::fs::write(repo.join("bin/compile"), "#!/bin/sh\necho v1\n").unwrap();
        let run = |args: &[&str]| {
            let ok = std::process::Command::new("git")
                .args([
                    "-c",
                    "user.name=t",
                    "-c",
                    "user.email=t@t",
                    "-c",
                    "init.defaultBranch=main",
                ])
                .args(args)
                .current_dir(&repo)
                .output()
                .unwrap();
            assert!(ok.status.success(), "{ok:?}");
        };
        run(&["init", "-q"]);
        run(&["add", "-A"]);
        run(&["commit", "-qm", "v1"]);
        run(&["tag", "v1"]);
        std::fs::write(repo.join("bin/compile"), "#!/bin/sh\necho v2\n").unwrap();
        run(&["commit", "-qam", "v2"]);
        let pack = fetch(
            &format!("file://{}#v1", repo.display()),
            tmp.path(),
            &tmp.path().join("g"),
        )
        .await
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(pack.dir.join("bin/compile")).unwrap(),
            "#!/bin/sh\necho v1\n"
        );
        let e = fetch(
            &format!("file://{}#nope", repo.display()),
            tmp.path(),
            &tmp.path().join("h"),
        )
        .await
        .unwrap_err();
        let e = e.to_string();
        assert!(
            e.starts_with("buildpack file://") && e.contains("nope"),
            "{e}"
        );

        let tar_path = tmp.path().join("bp.tgz");
        let status = std::process::Command::new("tar")
            .args([
                "-czf",
                &tar_path.to_string_lossy(),
                "-C",
                &tmp.path().to_string_lossy(),
                "repo",
            ])
            .status()
            .unwrap();
        assert!(status.success());
        let pack = fetch(
            &format!("file://{}", tar_path.display()),
            tmp.path(),
            &tmp.path().join("t"),
        )
        .await
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(pack.dir.join("bin/compile")).unwrap(),
            "#!/bin/sh\necho v2\n"
        );
    }
}
