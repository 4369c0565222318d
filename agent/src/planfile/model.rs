//! The one model that both Solum input formats (Planfile v1 and app file v1) are parsed into.
//! Pure data: everything downstream (source, build, runtime) reads only these types.

use std::collections::BTreeMap;

// Where the source is and the secret that may fetch it are the source stage's types.
pub use crate::source::{Secret, SourceSpec};

/// A parsed and validated Planfile or app file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The plan's name (`name`), already checked against `^[a-zA-Z0-9-_]{1,100}$`.
    pub name: String,
    pub description: Option<String>,
    /// One app per artifact. A Planfile v1 has one or more; an app file has exactly one.
    pub artifacts: Vec<Artifact>,
    /// `parameters`: environment variables of build and run (build args for Dockerfile builds).
    pub parameters: BTreeMap<String, String>,
    /// Non-fatal findings, e.g. unknown keys, each naming the file, field and line.
    pub warnings: Vec<String>,
}

/// What to build and run: one artifact of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The artifact's own name (`artifacts[].name`; the plan name for an app file).
    pub name: String,
    pub kind: ArtifactKind,
    pub source: SourceSpec,
    pub language_pack: LanguagePack,
    /// Run in the built image before deploy; non-zero exit stops the deploy.
    pub unittest_cmd: Option<String>,
    /// The command of the `web` process when the source has no Procfile (or for Dockerfile
    /// builds, instead of the image's CMD).
    pub run_cmd: Option<String>,
    /// Ports the app listens on in its container; the first is `$PORT`. Never empty.
    pub ports: Vec<Port>,
    /// Token for private repositories; never logged (see `Secret`).
    pub repo_token: Option<Secret>,
}

/// A named (or unnamed) port. `ports: 5000`, `ports: [5000]` and `ports: {http: 5000}` all work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub name: Option<String>,
    pub number: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactKind {
    /// `artifact_type: heroku` (and Solum's aliases): a buildpack or custom language-pack build.
    Buildpack,
    /// `artifact_type: dockerfile`: the source's own Dockerfile.
    Dockerfile,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LanguagePack {
    /// `auto`: detect with the installed buildpacks, in order.
    Auto,
    /// Anything else: the name of an installed buildpack, a buildpack URL (`git-url#ref`,
    /// tarball URL, local directory), or a Solum custom language pack (a repo with a
    /// Dockerfile and `build.sh`). Which one it is gets decided by the build stage.
    Named(String),
}

impl Plan {
    /// The app name of each artifact: the plan name when there is one artifact,
    /// `<plan>-<artifact>` when there are several.
    pub fn app_name(&self, artifact: &Artifact) -> String {
        if self.artifacts.len() == 1 {
            self.name.clone()
        } else {
            format!("{}-{}", self.name, artifact.name)
        }
    }
}
