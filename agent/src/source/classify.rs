//! Telling what kind of source a string names (git remote, local directory, tarball URL).
//! Pure: no file system access beyond making a relative local tarball path absolute.

use std::path::{Component, Path, PathBuf};

use super::SourceSpec;

use super::SourceError;

/// URL schemes handed to git.
const GIT_SCHEMES: &[&str] = &["http", "https", "ssh", "git", "file", "git+ssh", "ssh+git"];

const TARBALL_SUFFIXES: &[&str] = &[".tar", ".tar.gz", ".tgz"];

/// Is `s` 64 lowercase-or-uppercase hex digits?
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Classifies leniently: always gives a spec; problems surface when fetching.
pub(super) fn classify(href: &str, base: &Path) -> SourceSpec {
    classify_inner(href, base).0
}

/// Classifies strictly: unknown schemes, a bad `#sha256=`, a revision or URL that git could
/// take for an option, and empty strings are errors.
pub(super) fn classify_checked(href: &str, base: &Path) -> Result<SourceSpec, SourceError> {
    match classify_inner(href, base) {
        (spec, None) => Ok(spec),
        (_, Some(problem)) => Err(SourceError::Invalid(format!(
            "source {}: {problem}",
            shown(href.trim())
        ))),
    }
}

/// An href for messages: the URL redacted, its `#` part (Solum's revision or `sha256=`, never
/// sent anywhere) kept as written.
fn shown(href: &str) -> String {
    match href.split_once('#') {
        Some((url, rest)) => format!("{}#{rest}", solum_edge::redact::url(url)),
        None => solum_edge::redact::url(href),
    }
}

fn classify_inner(href: &str, base: &Path) -> (SourceSpec, Option<String>) {
    let href = href.trim();
    if href.is_empty() {
        return (
            SourceSpec::Dir {
                path: base.to_path_buf(),
            },
            Some("empty".into()),
        );
    }
    let (main, frag) = match href.split_once('#') {
        Some((m, f)) => (m, Some(f).filter(|f| !f.is_empty())),
        None => (href, None),
    };
    let scheme = scheme_of(main);
    if is_tarball(main, scheme.as_deref()) {
        return tarball(main, frag, scheme.as_deref(), base);
    }
    let mut problem = None;
    if let Some(rev) = frag {
        if rev.starts_with('-') || rev.chars().any(|c| c.is_whitespace() || c.is_control()) {
            problem = Some(format!("invalid revision {rev:?}"));
        }
    }
    let git = |url: String, problem: Option<String>| {
        (
            SourceSpec::Git {
                url,
                revision: frag.map(str::to_owned),
            },
            problem,
        )
    };
    match scheme.as_deref() {
        Some("file") => {
            let Some(path) = url::Url::parse(main)
                .ok()
                .and_then(|u| u.to_file_path().ok())
            else {
                return git(main.to_owned(), Some("not a valid file:// URL".into()));
            };
            if main.ends_with(".git") || frag.is_some() {
                git(main.to_owned(), problem)
            } else {
                (SourceSpec::Dir { path }, problem)
            }
        }
        Some(s) if GIT_SCHEMES.contains(&s) => git(main.to_owned(), problem),
        Some(s) => git(
            main.to_owned(),
            Some(format!("unsupported URL scheme {s}://")),
        ),
        None if main.starts_with('-') => {
            git(main.to_owned(), Some("must not start with '-'".into()))
        }
        None if is_scp_like(main) => git(main.to_owned(), problem),
        None => {
            let path = normalize(&base.join(main));
            if main.ends_with(".git") || frag.is_some() {
                git(path.to_string_lossy().into_owned(), problem)
            } else {
                (SourceSpec::Dir { path }, problem)
            }
        }
    }
}

fn tarball(
    main: &str,
    frag: Option<&str>,
    scheme: Option<&str>,
    base: &Path,
) -> (SourceSpec, Option<String>) {
    let mut problem = None;
    let sha256 = match frag {
        None => None,
        Some(f) => match f.strip_prefix("sha256=") {
            Some(sum) => {
                if !is_sha256_hex(sum) {
                    problem = Some("#sha256= must be followed by 64 hexadecimal digits".to_owned());
                }
                Some(sum.to_ascii_lowercase())
            }
            None => {
                problem = Some(format!(
                    "unknown fragment #{f} for a tarball (expected #sha256=<64 hex digits>)"
                ));
                None
            }
        },
    };
    let url = match scheme {
        Some("http" | "https" | "file") => main.to_owned(),
        Some(s) => {
            problem = Some(format!(
                "unsupported URL scheme {s}:// for a tarball (use http, https or file)"
            ));
            main.to_owned()
        }
        None => {
            let path = normalize(&base.join(main));
            let abs = std::path::absolute(&path).unwrap_or(path);
            match url::Url::from_file_path(&abs) {
                Ok(u) => u.to_string(),
                Err(()) => {
                    problem = Some("cannot make a file:// URL of this path".to_owned());
                    main.to_owned()
                }
            }
        }
    };
    (SourceSpec::Tarball { url, sha256 }, problem)
}

/// git runs inside the destination, so a relative local repository path (possible when a
/// Planfile was parsed with a relative path) is made absolute against the current directory.
pub(super) fn git_url_for_fetch(url: &str) -> String {
    let local = scheme_of(url).is_none() && !is_scp_like(url) && Path::new(url).is_relative();
    match local.then(|| std::path::absolute(url)) {
        Some(Ok(abs)) => abs.to_string_lossy().into_owned(),
        _ => url.to_owned(),
    }
}

/// The lowercased scheme of `scheme://...`, if the string has one.
fn scheme_of(s: &str) -> Option<String> {
    let (scheme, _) = s.split_once("://")?;
    let valid = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    valid.then(|| scheme.to_ascii_lowercase())
}

fn is_tarball(main: &str, scheme: Option<&str>) -> bool {
    let path = match scheme {
        Some(_) => url::Url::parse(main)
            .map(|u| u.path().to_owned())
            .unwrap_or_else(|_| main.to_owned()),
        None => main.to_owned(),
    };
    let path = path.to_ascii_lowercase();
    TARBALL_SUFFIXES.iter().any(|s| path.ends_with(s))
}

/// git's rule: `[user@]host:path` is scp-like when a colon comes before any slash.
fn is_scp_like(s: &str) -> bool {
    match (s.find(':'), s.find('/')) {
        (Some(0), _) => false,
        (Some(c), Some(sl)) => c < sl,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// Drops `.` components (keeps `..`: resolving it lexically is wrong across symlinks).
fn normalize(p: &Path) -> PathBuf {
    let out: PathBuf = p.components().filter(|c| *c != Component::CurDir).collect();
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUM: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn git(url: &str, rev: Option<&str>) -> SourceSpec {
        SourceSpec::Git {
            url: url.into(),
            revision: rev.map(Into::into),
        }
    }
    fn dir(p: &str) -> SourceSpec {
        SourceSpec::Dir { path: p.into() }
    }
    fn tgz(url: &str, sha: Option<&str>) -> SourceSpec {
        SourceSpec::Tarball {
            url: url.into(),
            sha256: sha.map(Into::into),
        }
    }

    fn check(href: &str, expected: SourceSpec) {
        let base = Path::new("/plans/app");
        assert_eq!(classify(href, base), expected, "classify({href:?})");
        assert_eq!(
            classify_checked(href, base).ok(),
            Some(expected),
            "classify_checked({href:?})"
        );
    }

    fn check_err(href: &str, expected: &str) {
        let err = classify_checked(href, Path::new("/plans"))
            .expect_err(href)
            .to_string();
        assert!(
            err.contains(expected),
            "{href:?}: {err:?} lacks {expected:?}"
        );
    }

    #[test]
    fn git_remotes() {
        check(
            "https://github.com/example/app.git",
            git("https://github.com/example/app.git", None),
        );
        check(
            "https://github.com/example/app",
            git("https://github.com/example/app", None),
        );
        check(
            "https://github.com/example/app.git#v1.2",
            git("https://github.com/example/app.git", Some("v1.2")),
        );
        check("http://h/x.git#", git("http://h/x.git", None));
        check(
            "ssh://git@h:22/x/y.git#main",
            git("ssh://git@h:22/x/y.git", Some("main")),
        );
        check("git://h/x/y", git("git://h/x/y", None));
        check(
            "git@github.com:x/y.git",
            git("git@github.com:x/y.git", None),
        );
        check(
            "git@github.com:x/y.git#abc123",
            git("git@github.com:x/y.git", Some("abc123")),
        );
        check("file:///srv/repo.git", git("file:///srv/repo.git", None));
        check(
            "file:///srv/repo#feature",
            git("file:///srv/repo", Some("feature")),
        );
        check("/srv/repos/app.git", git("/srv/repos/app.git", None));
        check("../repo#main", git("/plans/app/../repo", Some("main")));
        check(" https://h/x.git ", git("https://h/x.git", None));
    }

    #[test]
    fn directories() {
        check("/srv/app", dir("/srv/app"));
        check("src", dir("/plans/app/src"));
        check("./src/", dir("/plans/app/src"));
        check(".", dir("/plans/app"));
        check("../other", dir("/plans/app/../other"));
        check("file:///srv/app", dir("/srv/app"));
        check("file:///srv/my%20app", dir("/srv/my app"));
        assert_eq!(classify("x", Path::new(".")), dir("x"));
    }

    #[test]
    fn tarballs() {
        check(
            "https://h/a/app.tar.gz",
            tgz("https://h/a/app.tar.gz", None),
        );
        check("http://h/app.TGZ", tgz("http://h/app.TGZ", None));
        check("https://h/app.tar?x=1", tgz("https://h/app.tar?x=1", None));
        check(
            &format!("https://h/app.tgz#sha256={}", SUM.to_uppercase()),
            tgz("https://h/app.tgz", Some(SUM)),
        );
        check("file:///srv/app.tar", tgz("file:///srv/app.tar", None));
        check("/srv/app.tar.gz", tgz("file:///srv/app.tar.gz", None));
        check("pkg/app.tgz", tgz("file:///plans/app/pkg/app.tgz", None));
    }

    #[test]
    fn errors() {
        check_err("", "empty");
        check_err("   ", "empty");
        check_err("https://h/a.tgz#sha256=abc", "64 hexadecimal");
        check_err("https://h/a.tgz#main", "unknown fragment #main");
        check_err("ftp://h/a.tgz", "unsupported URL scheme ftp://");
        check_err("svn://h/repo", "unsupported URL scheme svn://");
        check_err("https://h/x.git#-upload-pack=evil", "invalid revision");
        check_err("https://h/x.git#a b", "invalid revision");
        check_err("--upload-pack=evil", "must not start with '-'");
        check_err("https://user:pw@h/a.tgz#x", "source https://h/a.tgz#x: ");
    }

    #[test]
    fn git_urls_for_fetch() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            git_url_for_fetch("../r.git"),
            cwd.join("../r.git").to_string_lossy()
        );
        for kept in ["/srv/r.git", "https://h/r.git", "git@h:r.git", "file:///r"] {
            assert_eq!(git_url_for_fetch(kept), kept);
        }
    }

    #[test]
    fn sha256_hex() {
        assert!(is_sha256_hex(SUM));
        assert!(!is_sha256_hex(&SUM[1..]));
        assert!(!is_sha256_hex(&SUM.replace('a', "g")));
    }
}
