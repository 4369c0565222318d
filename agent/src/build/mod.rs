//! Turning fetched source into a runnable image. Three builders share one request/outcome
//! shape: Heroku buildpacks (`buildpack`), the source's Dockerfile (`dockerfile`) and Solum
//! custom language packs (`langpack`). `workflow` picks one for an artifact and computes its
//! build key; `cache` finds an image already built with that key, so nothing is rebuilt.

pub mod buildpack;
pub mod cache;
pub mod context;
pub mod dockerfile;
pub mod langpack;
pub mod oneoff;
pub mod unittest;

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::planfile::LanguagePack;

pub use crate::progress::LogFn;

/// Everything a builder needs. Pure data; the builders do the I/O.
#[derive(Clone)]
pub struct BuildRequest {
    /// The agent's id: every container of the build carries it (`labels::LABEL_AGENT`).
    pub agent: String,
    /// App name (validated): names images `solum/app-<app>` and the cache volume.
    pub app: String,
    /// The fetched source tree on this host.
    pub source_dir: PathBuf,
    /// A short, stable description of the source (commit sha, tree hash) for SOURCE_VERSION.
    pub source_version: String,
    pub language_pack: LanguagePack,
    /// Plan parameters: ENV_DIR for buildpacks, build args for Dockerfiles.
    pub env: BTreeMap<String, String>,
    /// `run_cmd` of the artifact, if any.
    pub run_cmd: Option<String>,
    /// Directory holding the installed buildpacks (each a subdirectory), tried in name order
    /// for `language_pack: auto`.
    pub buildpacks_dir: PathBuf,
    /// Working directory for this build's scratch files (fetched buildpacks, context tars).
    pub work_dir: PathBuf,
    /// The content hash identifying this build's inputs (computed by `workflow`).
    pub key: String,
    pub log: LogFn,
}

/// What a build yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOutcome {
    /// Image id (`sha256:...`), tagged `solum/app-<app>:<key[..12]>`.
    pub image: String,
    /// Process types and their commands (`web` first if present). For buildpack images the
    /// command is run by the image's `solum-start`; for Dockerfile images `None` means "the
    /// image's own CMD".
    pub processes: BTreeMap<String, Option<String>>,
    /// True when an image with this build key already existed and nothing was built.
    pub cached: bool,
}

/// Errors of the build stage, each with enough context to act on.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("no buildpack detected this app (tried: {tried})")]
    NothingDetected { tried: String },
    #[error("buildpack {buildpack} failed to compile (exit {code}); last lines:\n{tail}")]
    CompileFailed {
        buildpack: String,
        code: i64,
        tail: String,
    },
    #[error("docker build failed at {step}: {message}")]
    DockerfileFailed { step: String, message: String },
    #[error("unit tests failed (`{cmd}` exited {code}); output:\n{output}")]
    UnitTestsFailed {
        cmd: String,
        code: i64,
        output: String,
    },
    #[error("language pack {name}: {message}")]
    LanguagePack { name: String, message: String },
    #[error("stack image {image} is missing; run `solum-agent stack build`")]
    StackMissing { image: String },
    #[error("docker: {0}")]
    Docker(#[from] bollard::errors::Error),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

impl BuildError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        BuildError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Image repository of an app's releases: `solum/app-<app>`.
///
/// Docker repository components are lower-case alphanumerics joined by single separators; app
/// names are freer (capitals, `-_` runs, a trailing `-`). Such a name is normalised (lower-cased,
/// separator runs folded to one `-`, trailing ones dropped) and suffixed with a short hash of the
/// original, so that `App`, `app` and `a--pp` still get distinct repositories.
pub fn image_repo(app: &str) -> String {
    let mut norm = String::with_capacity(app.len());
    for c in app.chars() {
        if c.is_ascii_alphanumeric() {
            norm.push(c.to_ascii_lowercase());
        } else if !norm.ends_with('-') {
            norm.push('-');
        }
    }
    let norm = norm.trim_matches('-');
    if norm == app {
        format!("solum/app-{app}")
    } else {
        use sha2::Digest;
        let h = hex::encode(sha2::Sha256::digest(app.as_bytes()));
        let norm = if norm.is_empty() { "x" } else { norm };
        format!("solum/app-{norm}-{}", &h[..8])
    }
}

/// Label on every image we build: the build key, so a rebuild with the same inputs is skipped.
pub const LABEL_BUILD_KEY: &str = "solum.build-key";
pub use crate::labels::{LABEL_AGENT, LABEL_APP, LABEL_ROLE};

#[cfg(test)]
mod tests {
    /// Docker's grammar for a repository path component.
    fn valid_component(s: &str) -> bool {
        let parts: Vec<&str> = s.split(['.', '_', '-']).collect();
        !s.is_empty()
            && s.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
            })
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric())
            && !s.contains("_-")
            && !s.contains("-_")
            && !s.contains("___")
            && parts.iter().any(|p| !p.is_empty())
    }

    #[test]
    fn image_repos_are_valid_and_distinct() {
        assert_eq!(super::image_repo("web-1"), "solum/app-web-1");
        let names = [
            "Web",
            "WEB",
            "web_",
            "web-",
            "a_-b",
            "a__b",
            "-x",
            "_",
            "UPPER-case_mixed--",
        ];
        let repos: Vec<String> = names.iter().map(|n| super::image_repo(n)).collect();
        for r in &repos {
            let component = r.strip_prefix("solum/").unwrap();
            assert!(valid_component(component), "{r}");
        }
        let mut unique = repos.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), repos.len(), "{repos:?}");
    }
}
