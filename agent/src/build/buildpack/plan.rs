//! Which buildpacks take part in a build, and how: `auto` tries the installed ones in name
//! order (the first to detect wins), a `.buildpacks` file runs every listed one in order, a
//! named language pack runs that one (installed name, URL or directory).

use std::path::{Path, PathBuf};

use super::fetch;
use crate::build::{BuildError, BuildRequest};
use crate::planfile::LanguagePack;

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
fn is_plain_name(s: &str) -> bool {
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
                                fetch::check_inside_source(url, &req.source_dir).map_err(|e| {
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
    (is_plain_name(spec) && dir.is_dir()).then(|| Buildpack {
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
    let dir = fetch::fetch(spec, base, &dest).await?;
    Ok(Buildpack {
        name: fetch::redact(spec),
        dir,
    })
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
    fn plain_names() {
        assert!(is_plain_name("python"));
        assert!(!is_plain_name("../python"));
        assert!(!is_plain_name("https://x/y.git"));
        assert!(!is_plain_name(".."));
    }
}
