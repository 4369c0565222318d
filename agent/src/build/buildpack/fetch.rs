//! Fetching a buildpack named by URL onto this host: a local directory (used in place), a
//! tarball (`.tgz`, `.tar.gz`, `.tar`; http(s) or file URL) or a git remote with an optional
//! `#ref`. One entry point, so it can move onto `crate::source::fetch` once that lands.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::build::BuildError;

/// `url` with any `user:password@` removed, for logs and errors.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => url.to_string(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Dir(PathBuf),
    Tarball(String),
    Git { url: String, rev: Option<String> },
}

/// What `spec` names; relative directories resolve against `base`.
pub fn classify(spec: &str, base: &Path) -> Kind {
    let (url, rev) = match spec.split_once('#') {
        Some((u, r)) if !r.is_empty() => (u, Some(r.to_string())),
        Some((u, _)) => (u, None),
        None => (spec, None),
    };
    let lower = url.to_ascii_lowercase();
    if lower.ends_with(".tgz") || lower.ends_with(".tar.gz") || lower.ends_with(".tar") {
        return Kind::Tarball(url.to_string());
    }
    // A revision or a `.git` suffix can only mean git, even for a local path.
    if rev.is_some() || lower.ends_with(".git") {
        return Kind::Git {
            url: url.to_string(),
            rev,
        };
    }
    if let Some(path) = url.strip_prefix("file://") {
        return Kind::Dir(PathBuf::from(path));
    }
    if url.starts_with('/') || url.starts_with("./") || url.starts_with("../") || !url.contains(':')
    {
        return Kind::Dir(base.join(url));
    }
    Kind::Git {
        url: url.to_string(),
        rev,
    }
}

/// Checks an entry of the source's `.buildpacks` (untrusted, like all the source): a remote
/// URL (`http(s)://`, `git://`, `ssh://`, `user@host:path`), or a relative path that stays
/// inside `source` (no `..`, no symlink out of it). A host path (absolute, `file://`, `..`, a
/// link leading out) is refused: it would upload a host directory into the build.
pub fn check_inside_source(spec: &str, source: &Path) -> Result<(), String> {
    let shown = redact(spec);
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

/// Fetches `spec` (into `dest` when it is not a local directory) and returns the buildpack's
/// directory.
pub async fn fetch(spec: &str, base: &Path, dest: &Path) -> Result<PathBuf, BuildError> {
    let shown = redact(spec);
    let dir = match classify(spec, base) {
        Kind::Dir(dir) => {
            if !dir.is_dir() {
                return Err(BuildError::Other(format!(
                    "buildpack {shown}: {} is not a directory",
                    dir.display()
                )));
            }
            dir
        }
        Kind::Tarball(_) => {
            // Through the source fetcher: `#sha256=` verified, extraction confined to `dest`.
            let tarball = crate::source::classify(spec, base);
            let fetched = crate::source::fetch(&tarball, None, dest)
                .await
                .map_err(|e| BuildError::Other(format!("buildpack {shown}: {e}")))?;
            single_top_dir(&fetched.dir)
        }
        Kind::Git { url, rev } => {
            git(
                "clone",
                &["clone", "--quiet", "--", &url, &dest.to_string_lossy()],
                None,
                &shown,
            )
            .await?;
            if let Some(rev) = rev {
                git(
                    "checkout",
                    &[
                        "-c",
                        "advice.detachedHead=false",
                        "checkout",
                        "--quiet",
                        &rev,
                        "--",
                    ],
                    Some(dest),
                    &shown,
                )
                .await?;
            }
            dest.to_path_buf()
        }
    };
    if !dir.join("bin").join("compile").is_file() {
        return Err(BuildError::Other(format!(
            "buildpack {shown}: no bin/compile in {}",
            dir.display()
        )));
    }
    Ok(dir)
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

async fn git(what: &str, args: &[&str], cwd: Option<&Path>, shown: &str) -> Result<(), BuildError> {
    let mut cmd = tokio::process::Command::new("git");
    cmd.args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    let out = solum_edge::cmd::output(&mut cmd)
        .await
        .map_err(|e| BuildError::io("running git", e))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(BuildError::Other(format!(
        "buildpack {shown}: git {what} failed: {}",
        redact(stderr.trim())
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_like_buildpack_urls() {
        let base = Path::new("/src");
        assert_eq!(classify("./bp", base), Kind::Dir("/src/./bp".into()));
        assert_eq!(classify("/opt/bp", base), Kind::Dir("/opt/bp".into()));
        assert_eq!(
            classify("file:///opt/bp", base),
            Kind::Dir("/opt/bp".into())
        );
        assert_eq!(
            classify("https://h/x.tgz", base),
            Kind::Tarball("https://h/x.tgz".into())
        );
        assert_eq!(
            classify("file:///t/x.tar.gz", base),
            Kind::Tarball("file:///t/x.tar.gz".into())
        );
        assert_eq!(
            classify("https://h/r.git#v2", base),
            Kind::Git {
                url: "https://h/r.git".into(),
                rev: Some("v2".into())
            }
        );
        assert_eq!(
            classify("git@h:r.git", base),
            Kind::Git {
                url: "git@h:r.git".into(),
                rev: None
            }
        );
        assert_eq!(
            classify("/srv/bp#main", base),
            Kind::Git {
                url: "/srv/bp".into(),
                rev: Some("main".into())
            }
        );
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

    #[test]
    fn redacts_credentials() {
        assert_eq!(redact("https://user:tok@h/r.git"), "https://h/r.git");
        assert_eq!(redact("./bp"), "./bp");
    }

    #[tokio::test]
    async fn fetches_a_git_buildpack_at_a_ref_and_a_tarball() {
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
        let dir = fetch(
            &format!("file://{}#v1", repo.display()),
            tmp.path(),
            &tmp.path().join("g"),
        )
        .await
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("bin/compile")).unwrap(),
            "#!/bin/sh\necho v1\n"
        );
        let e = fetch(
            &format!("file://{}#nope", repo.display()),
            tmp.path(),
            &tmp.path().join("h"),
        )
        .await
        .unwrap_err();
        assert!(e.to_string().contains("git checkout failed"), "{e}");

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
        let dir = fetch(
            &format!("file://{}", tar_path.display()),
            tmp.path(),
            &tmp.path().join("t"),
        )
        .await
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("bin/compile")).unwrap(),
            "#!/bin/sh\necho v2\n"
        );
    }
}
