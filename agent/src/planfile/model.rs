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
    /// `services:` (and services fulfilled inline in a requirement), each id once, in the
    /// order written. Every artifact's requirement names one of them.
    pub services: Vec<Service>,
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
    /// `requirements:`: the services this artifact's app uses (each names a `Plan::services` id).
    pub requirements: Vec<Requirement>,
    /// How many containers of each process type run (`instances: N` or `{web: 3, worker: 1}`).
    pub instances: Instances,
}

/// The most containers of one process type an app may ask for.
pub const MAX_INSTANCES: u16 = 64;

/// How many containers of each process type run: `default` for any type not named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instances {
    /// 1..=MAX_INSTANCES.
    pub default: u16,
    /// Process type -> count (1..=MAX_INSTANCES).
    pub per_process: BTreeMap<String, u16>,
}

impl Default for Instances {
    fn default() -> Self {
        Instances {
            default: 1,
            per_process: BTreeMap::new(),
        }
    }
}

impl Instances {
    /// The number of containers of `process`.
    pub fn of(&self, process: &str) -> u16 {
        self.per_process
            .get(process)
            .copied()
            .unwrap_or(self.default)
    }
}

/// A service of the plan (CAMP's `services[]`): run locally in the app VM by the agent, or
/// bound to one that runs elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// `id` (what `fulfillment: "id:<id>"` names); the name rule of apps (no `/`, no `..`).
    pub id: String,
    /// `name`: what a person reads, and the `<NAME>_URL` variable of the app.
    pub name: String,
    pub kind: ServiceKind,
    pub binding: Binding,
}

/// `characteristic_type` of a service: the protocol it speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServiceKind {
    Postgresql,
    /// MariaDB (the MySQL protocol).
    Mysql,
    Rabbitmq,
    Redis,
}

impl ServiceKind {
    pub const ALL: [ServiceKind; 4] = [
        ServiceKind::Postgresql,
        ServiceKind::Mysql,
        ServiceKind::Rabbitmq,
        ServiceKind::Redis,
    ];

    /// The `characteristic_type` word.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceKind::Postgresql => "postgresql",
            ServiceKind::Mysql => "mysql",
            ServiceKind::Rabbitmq => "rabbitmq",
            ServiceKind::Redis => "redis",
        }
    }

    pub fn parse(word: &str) -> Option<ServiceKind> {
        ServiceKind::ALL.into_iter().find(|k| k.as_str() == word)
    }
}

/// Where a service runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// A container of the agent's service image in the app VM, data on a named volume.
    Local,
    /// Elsewhere (a Trove database, a hosted queue): its URL, credentials included, is the
    /// value of the plan parameter (or Heat input) `url_parameter`, a secret: never logged.
    Bound { url_parameter: String },
}

/// One `requirements[]` entry of an artifact, its fulfillment resolved to a service id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// CAMP's `requirement_type` (free text, e.g. `cache`, `database`).
    pub requirement_type: String,
    /// The `Service::id` that fulfills it.
    pub service: String,
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
    /// The service a requirement names (always present in a parsed plan).
    pub fn service(&self, id: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.id == id)
    }

    /// The services an artifact requires, in its requirements' order, each once.
    pub fn services_of<'a>(&'a self, artifact: &'a Artifact) -> Vec<&'a Service> {
        let mut out: Vec<&Service> = Vec::new();
        for r in &artifact.requirements {
            if let Some(s) = self.service(&r.service) {
                if !out.iter().any(|o| o.id == s.id) {
                    out.push(s);
                }
            }
        }
        out
    }

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
