//! The deploy pipeline: Planfile -> source -> build -> unit tests -> release -> record.
//!
//! One function per stage, each taking the data the previous one produced. The only state this
//! module writes is the app record (`state::AppRecord`), after the runtime has switched to the
//! new release; a failure at any stage records `last_error` and leaves the serving release alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bollard::Docker;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::build::{self, BuildError, BuildOutcome, BuildRequest, LogFn};
use crate::config::Config;
use crate::planfile::{self, Artifact, ArtifactKind, LanguagePack, Plan, PlanError, SourceSpec};
use crate::runtime::{AppState, AppStatus, ReleaseSpec, Runtime, RuntimeError};
use crate::services::{self, ServiceError, Services};
use crate::source::{self, SourceError};
use crate::stack::{self, StackError};
use crate::state::{AppRecord, ReleaseRecord, StateDir};
use crate::workdir::WorkDir;

/// How long `unittest_cmd` may run.
const UNIT_TEST_TIMEOUT: Duration = Duration::from_secs(600);

/// Everything the pipeline needs, built once by the CLI (or the daemon).
pub struct Agent {
    pub config: Config,
    pub state: StateDir,
    pub docker: Docker,
    pub runtime: Runtime,
}

/// Per-deploy options.
#[derive(Clone)]
pub struct DeployOptions {
    /// `--source DIR|URL`: replaces the source of the plan's (single) artifact.
    pub source: Option<String>,
    /// The Planfile's own path when deployed from a file: left out of the build key when it
    /// lies inside a directory source.
    pub planfile: Option<PathBuf>,
    pub log: LogFn,
}

/// What a deploy of one app did; `deploy --json` prints a list of these.
#[derive(Debug, Clone, Serialize)]
pub struct DeployReport {
    pub app: String,
    pub release: String,
    pub image: String,
    pub state: AppState,
    pub urls: Vec<String>,
    /// The image already existed for these inputs: nothing was built.
    pub cached: bool,
    /// The same release was already serving and healthy: nothing was changed at all.
    pub unchanged: bool,
    pub duration_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("source: {0}")]
    Source(#[from] SourceError),
    #[error("stack images: {0}")]
    Stack(#[from] StackError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> DeployError {
    let context = context.into();
    move |source| DeployError::Io { context, source }
}

/// Why the agent could not be put together.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("state directory {path}: {source}")]
    State {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Docker(#[from] crate::docker::DockerUnavailable),
    #[error("locating the agent binary: {0}")]
    Binary(std::io::Error),
    #[error("setting up the runtime: {0}")]
    Runtime(#[from] RuntimeError),
}

impl Agent {
    /// The agent of `cfg`: its state directory opened and the Docker engine reached.
    pub async fn open(cfg: Config) -> Result<Agent, OpenError> {
        let state = StateDir::open(&cfg.state_dir).map_err(|source| OpenError::State {
            path: cfg.state_dir.clone(),
            source,
        })?;
        let docker = crate::docker::connect().await?;
        let settings = crate::runtime::RuntimeSettings {
            public: crate::runtime::PublicAddr(cfg.bind_address),
            health: cfg.health.clone(),
            agent_binary: std::env::current_exe().map_err(OpenError::Binary)?,
            run_image: cfg.stack.run_image.clone(),
            release_timeout: cfg
                .release_timeout
                .map(|s| Duration::from_secs(s.max(1)))
                .unwrap_or(crate::runtime::RELEASE_TIMEOUT),
        };
        let runtime = Runtime::new(docker.clone(), state.clone(), settings)?;
        for dir in crate::workdir::sweep(state.root()) {
            tracing::info!(
                "removed {}, left by a deploy that was killed",
                dir.display()
            );
        }
        Ok(Agent {
            config: cfg,
            state,
            docker,
            runtime,
        })
    }

    /// Deploys every artifact of the Planfile at `path`; returns one report per app.
    /// Relative paths in it (source, language pack) are relative to its directory.
    pub async fn deploy_file(
        &self,
        path: &Path,
        opts: &DeployOptions,
    ) -> Result<Vec<DeployReport>, DeployError> {
        let cwd = std::env::current_dir().map_err(io_err("reading the current directory"))?;
        let source = opts.source.as_deref().map(|s| source::classify(s, &cwd));
        let plan = planfile::load_with_source(path, source)?;
        let opts = &DeployOptions {
            planfile: Some(cwd.join(path)),
            ..opts.clone()
        };
        for w in &plan.warnings {
            (opts.log)(&format!("warning: {w}"));
        }
        let base = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => cwd.join(p),
            _ => cwd,
        };
        self.deploy_plan(&plan, &base, opts).await
    }

    /// Deploys a parsed plan (the daemon's entry point: Heat deployments carry the Planfile).
    /// `base` is where relative paths of the plan are resolved.
    pub async fn deploy_plan(
        &self,
        plan: &Plan,
        base: &Path,
        opts: &DeployOptions,
    ) -> Result<Vec<DeployReport>, DeployError> {
        check_ports_distinct(plan)?;
        for artifact in &plan.artifacts {
            crate::appname::check(&plan.app_name(artifact)).map_err(DeployError::Invalid)?;
        }
        let mut reports = Vec::new();
        for artifact in &plan.artifacts {
            let app = plan.app_name(artifact);
            let mut secrets = Vec::new();
            let deployed = self
                .deploy_artifact(plan, artifact, &app, base, opts, &mut secrets)
                .await
                .map_err(|e| without_secrets(e, &secrets));
            match deployed {
                Ok(r) => reports.push(r),
                Err(e) => {
                    self.record_error(&app, &e.to_string());
                    return Err(e);
                }
            }
        }
        Ok(reports)
    }

    async fn deploy_artifact(
        &self,
        plan: &Plan,
        artifact: &Artifact,
        app: &str,
        base: &Path,
        opts: &DeployOptions,
        secrets: &mut Vec<String>,
    ) -> Result<DeployReport, DeployError> {
        let started = Instant::now();
        let mut log = opts.log.clone();
        stack::build(&self.docker, &self.config.stack, false, log.clone()).await?;

        // The services first: the build may need them, the app starts only once they answer.
        let provided = self.provide_services(plan, artifact, app, &log).await?;
        *secrets = secret_words(&provided.secrets);
        if !secrets.is_empty() {
            let (inner, words) = (log.clone(), secrets.clone());
            log = std::sync::Arc::new(move |line: &str| {
                inner(&solum_edge::redact::secrets(line, &words))
            });
        }
        let (env, warnings) = services::envmap::merge_into(&plan.parameters, provided.env);
        for w in &warnings {
            log(&format!("warning: {app}: {w}"));
        }

        let work = self.work_dir(app)?;
        let mut fetched = fetch_source(&artifact.source, artifact, work.path()).await?;
        // A Planfile inside its own directory source is not part of the build key.
        if let (SourceSpec::Dir { path }, Some(file)) = (&artifact.source, &opts.planfile) {
            let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
            if let Ok(rel) = canon(file).strip_prefix(canon(path)) {
                let dir = fetched.dir.clone();
                let rel = rel.to_path_buf();
                let sum =
                    tokio::task::spawn_blocking(move || source::tree_hash_except(&dir, Some(&rel)))
                        .await
                        .map_err(|e| DeployError::Io {
                            context: "hashing the source".into(),
                            source: std::io::Error::other(e),
                        })?
                        .map_err(io_err(format!("hashing {}", fetched.dir.display())))?;
                fetched.version = format!("sha256:{sum}");
            }
        }
        let builder = self.choose_builder(artifact, base, work.path()).await?;
        let key = self.build_key(artifact, &env, &fetched, &builder).await?;
        let release = key[..12].to_string();

        // Warm path: same inputs and the release is already serving.
        let record = self
            .state
            .read_app(app)
            .map_err(io_err(format!("reading the record of {app}")))?;
        if let Some(current) = record.as_ref().and_then(|r| r.release.as_ref()) {
            if current.build_key == key && !record.as_ref().is_some_and(|r| r.stopped) {
                if let Some(status) = self.serving(app, &release).await? {
                    // Another instance count goes on below: the cached image, then a scale.
                    if same_instances(&status, &artifact.instances) {
                        // The containers serve only through the supervisor: bring it back
                        // if it was removed (one inspect when it runs).
                        self.runtime.ensure_supervisor().await?;
                        return Ok(report(&status, &current.image, true, true, started));
                    }
                }
            }
        }

        let req = BuildRequest {
            agent: self.runtime.agent_id().to_string(),
            app: app.to_string(),
            source_dir: fetched.dir.clone(),
            source_version: fetched.version.clone(),
            language_pack: artifact.language_pack.clone(),
            env: env.clone(),
            run_cmd: artifact.run_cmd.clone(),
            buildpacks_dir: self.config.buildpacks_dir(),
            work_dir: work.path().to_path_buf(),
            key: key.clone(),
            log: log.clone(),
        };
        let cached = match build::cache::find_cached(&self.docker, app, &key).await? {
            Some(image) => self
                .built_processes(app, &key)
                .map(|processes| BuildOutcome {
                    image,
                    processes,
                    cached: true,
                }),
            None => None,
        };
        let (outcome, cached) = match cached {
            Some(outcome) => {
                log(&format!(
                    "-----> {app}: image for these inputs exists ({}), not rebuilding",
                    short(&outcome.image)
                ));
                (outcome, true)
            }
            None => {
                let outcome = self.run_builder(&builder, &req).await?;
                self.remember_build(app, &key, &outcome.processes);
                (outcome, false)
            }
        };

        if let Some(cmd) = &artifact.unittest_cmd {
            if !(cached && self.tests_passed(app, &key, cmd)) {
                log(&format!("-----> {app}: running unit tests: {cmd}"));
                let mut test_env = env.clone();
                test_env.insert("PORT".into(), artifact.ports[0].number.to_string());
                build::unittest::run(
                    &self.docker,
                    build::unittest::Owner {
                        agent: self.runtime.agent_id(),
                        app,
                    },
                    &outcome.image,
                    cmd,
                    &test_env,
                    log.clone(),
                    UNIT_TEST_TIMEOUT,
                )
                .await?;
                self.remember_tests_passed(app, &key, cmd);
            }
        }

        let (processes, release_command) = split_release_phase(&outcome.processes);
        let instances = processes
            .keys()
            .map(|p| (p.clone(), artifact.instances.of(p)))
            .collect();
        let spec = ReleaseSpec {
            app: app.to_string(),
            release: release.clone(),
            image: outcome.image.clone(),
            processes,
            ports: artifact.ports.iter().map(|p| p.number).collect(),
            env: env.clone(),
            release_command,
            instances,
        };
        log(&format!("-----> {app}: starting release {release}"));
        let status = self
            .runtime
            .release(&spec, &mut |line: &str| log(line))
            .await?;

        let record = AppRecord {
            app: app.to_string(),
            release: Some(ReleaseRecord {
                release,
                image: outcome.image.clone(),
                build_key: key,
                ports: spec.ports.clone(),
                processes: spec.processes.clone(),
                env: record_env(plan),
                source_version: fetched.version.clone(),
                deployed_at: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0),
            }),
            stopped: false,
            last_error: None,
        };
        self.state
            .write_app(&record)
            .map_err(io_err(format!("writing the record of {app}")))?;
        Ok(report(&status, &outcome.image, cached, false, started))
    }

    /// The services `artifact` requires, there and answering, and the app's variables.
    async fn provide_services(
        &self,
        plan: &Plan,
        artifact: &Artifact,
        app: &str,
        log: &crate::build::LogFn,
    ) -> Result<services::Provided, DeployError> {
        if plan.services_of(artifact).is_empty() {
            return Ok(services::Provided::default());
        }
        let image = stack::services_image(&self.config.stack);
        let local = plan
            .services_of(artifact)
            .iter()
            .any(|s| s.binding == crate::planfile::Binding::Local);
        if local {
            stack::ensure_services_image(&self.docker, &self.config.stack, false, log.clone())
                .await?;
        }
        Ok(self
            .services(&image)
            .provide(plan, artifact, app, log)
            .await?)
    }

    /// The services side of this agent, with the service image `image`.
    pub fn services<'a>(&'a self, image: &'a str) -> Services<'a> {
        Services {
            docker: &self.docker,
            store: services::Store::new(self.state.root()),
            agent: self.runtime.agent_id(),
            image,
            ready_timeout: self
                .config
                .service_ready_timeout
                .map(|s| Duration::from_secs(s.max(1)))
                .unwrap_or(services::ready::READY_TIMEOUT),
        }
    }

    /// The status of `app` if `release` is what it serves and it is healthy.
    async fn serving(&self, app: &str, release: &str) -> Result<Option<AppStatus>, DeployError> {
        let statuses = self.runtime.status(Some(app)).await?;
        Ok(statuses.into_iter().find(|s| {
            s.release.as_deref() == Some(release)
                && s.state == AppState::DeploymentComplete
                && s.processes.iter().all(|p| {
                    (p.docker_state == "running" && p.health != "unhealthy")
                        || p.health == crate::runtime::COMPLETED
                })
        }))
    }

    fn work_dir(&self, app: &str) -> Result<WorkDir, DeployError> {
        let base = crate::state::layout::app_work(self.state.root(), app);
        WorkDir::create(&base).map_err(io_err(format!(
            "creating a work directory in {}",
            base.display()
        )))
    }

    /// Decides which builder applies. A named language pack that is not an installed buildpack
    /// is fetched here, so that a Solum custom language pack (Dockerfile + build.sh) can be told
    /// apart from a buildpack.
    async fn choose_builder(
        &self,
        artifact: &Artifact,
        base: &Path,
        work: &Path,
    ) -> Result<Builder, DeployError> {
        if artifact.kind == ArtifactKind::Dockerfile {
            return Ok(Builder::Dockerfile);
        }
        let LanguagePack::Named(name) = &artifact.language_pack else {
            return Ok(Builder::Buildpack { chosen: None });
        };
        let installed = self.config.buildpacks_dir().join(name);
        if build::buildpack::is_installed_name(name) && installed.is_dir() {
            return Ok(Builder::Buildpack {
                chosen: Some(build::buildpack::Buildpack {
                    name: name.clone(),
                    dir: installed,
                }),
            });
        }
        let dir = match source::classify(name, base) {
            SourceSpec::Dir { path } => path,
            spec => {
                source::fetch(&spec, None, &work.join("language-pack"))
                    .await?
                    .dir
            }
        };
        if !dir.is_dir() {
            return Err(DeployError::Invalid(format!(
                "language_pack {name}: not an installed buildpack (in {}) nor a directory or URL that could be fetched",
                self.config.buildpacks_dir().display()
            )));
        }
        if build::langpack::is_langpack(&dir) {
            Ok(Builder::LanguagePack { dir })
        } else {
            // The directory as fetched, not named again: a buildpack needs its bin/compile.
            let name = dir.to_string_lossy().into_owned();
            Ok(Builder::Buildpack {
                chosen: Some(build::buildpack::Buildpack::checked(name, dir)?),
            })
        }
    }

    async fn run_builder(
        &self,
        builder: &Builder,
        req: &BuildRequest,
    ) -> Result<BuildOutcome, DeployError> {
        let outcome = match builder {
            Builder::Dockerfile => build::dockerfile::build(&self.docker, req).await?,
            Builder::LanguagePack { dir } => build::langpack::build(&self.docker, req, dir).await?,
            Builder::Buildpack { chosen } => {
                build::buildpack::build_with(&self.docker, req, &self.config.stack, chosen.clone())
                    .await?
            }
        };
        Ok(outcome)
    }

    /// The build key: a hash of everything that determines the image, computed before any
    /// container runs so that an unchanged redeploy costs only hashing.
    async fn build_key(
        &self,
        artifact: &Artifact,
        env: &BTreeMap<String, String>,
        fetched: &source::Fetched,
        builder: &Builder,
    ) -> Result<String, DeployError> {
        let tree = if fetched.version.starts_with("sha256:") {
            fetched.version.clone()
        } else {
            source::tree_hash(&fetched.dir)
                .map_err(io_err(format!("hashing {}", fetched.dir.display())))?
        };
        let pack_identity = match builder {
            Builder::Dockerfile => String::new(),
            Builder::LanguagePack { dir } => hash_dir(dir)?,
            Builder::Buildpack { chosen: Some(pack) } => hash_dir(&pack.dir)?,
            Builder::Buildpack { chosen: None } => hash_dir(&self.config.buildpacks_dir())?,
        };
        let stack_ids = build::cache::stack_image_ids(&self.docker, &self.config.stack).await?;
        Ok(key_of(&KeyParts {
            builder: builder.kind(),
            tree: &tree,
            pack: &pack_identity,
            env,
            run_cmd: artifact.run_cmd.as_deref().unwrap_or(""),
            stack: &stack_ids,
        }))
    }

    /// Process types of a build, kept beside the state so that a cached image can be released
    /// without inspecting it; `None` when unknown (the image is then rebuilt).
    fn built_processes(&self, app: &str, key: &str) -> Option<BTreeMap<String, Option<String>>> {
        let path = crate::state::layout::app_build(self.state.root(), app, key);
        crate::state::read_json(&path).ok().flatten()
    }

    fn remember_build(&self, app: &str, key: &str, processes: &BTreeMap<String, Option<String>>) {
        let path = crate::state::layout::app_build(self.state.root(), app, key);
        if let Err(e) = crate::state::write_json(&path, processes) {
            tracing::warn!("cannot record the build of {app}: {e}");
        }
    }

    fn tests_passed(&self, app: &str, key: &str, cmd: &str) -> bool {
        let path = crate::state::layout::app_tests_passed(self.state.root(), app);
        let passed: Vec<(String, String)> = crate::state::read_json(&path)
            .ok()
            .flatten()
            .unwrap_or_default();
        passed.iter().any(|(k, c)| k == key && c == cmd)
    }

    fn remember_tests_passed(&self, app: &str, key: &str, cmd: &str) {
        let path = crate::state::layout::app_tests_passed(self.state.root(), app);
        let mut passed: Vec<(String, String)> = crate::state::read_json(&path)
            .ok()
            .flatten()
            .unwrap_or_default();
        passed.retain(|(k, _)| k != key);
        passed.push((key.to_string(), cmd.to_string()));
        let keep = passed.len().saturating_sub(20);
        passed.drain(..keep);
        if let Err(e) = crate::state::write_json(&path, &passed) {
            tracing::warn!("cannot record passed unit tests for {app}: {e}");
        }
    }

    fn record_error(&self, app: &str, message: &str) {
        if !crate::appname::is_valid(app) {
            return;
        }
        let mut record = match self.state.read_app(app) {
            Ok(Some(r)) => r,
            _ => AppRecord {
                app: app.to_string(),
                release: None,
                stopped: false,
                last_error: None,
            },
        };
        record.last_error = Some(message.to_string());
        if let Err(e) = self.state.write_app(&record) {
            tracing::warn!("cannot record the error of {app}: {e}");
        }
    }

    /// Stops an app's containers and marks it stopped (kept stopped across agent restarts).
    pub async fn stop(&self, app: &str) -> Result<(), DeployError> {
        let mut record = self.record(app)?;
        self.runtime.stop(app).await?;
        record.stopped = true;
        self.state
            .write_app(&record)
            .map_err(io_err(format!("writing the record of {app}")))
    }

    /// Starts a stopped app's current release again.
    pub async fn start(&self, app: &str) -> Result<(), DeployError> {
        let mut record = self.record(app)?;
        self.runtime.start(app).await?;
        record.stopped = false;
        self.state
            .write_app(&record)
            .map_err(io_err(format!("writing the record of {app}")))
    }

    /// Removes an app: containers, route, images, cache volume and record.
    /// Removes `app`: its containers and route, every image built for it (all releases; found
    /// by label, so an app whose deploys all failed is destroyable too), its build cache and
    /// its state. An image still used by a container outside the app stays.
    /// Its services' data (volumes, credentials) stays: see [`Agent::destroy_with`].
    pub async fn destroy(&self, app: &str) -> Result<(), DeployError> {
        self.destroy_with(app, false).await.map(|_| ())
    }

    /// [`Agent::destroy`]; a local service no other app of the plan uses loses its container,
    /// and with `purge` its volume and credentials too. Returns what of the services was
    /// removed, one line each.
    pub async fn destroy_with(&self, app: &str, purge: bool) -> Result<Vec<String>, DeployError> {
        crate::appname::check(app).map_err(DeployError::Invalid)?;
        let image = stack::services_image(&self.config.stack);
        let removed = self.services(&image).release_app(app, purge).await?;
        let record = self
            .state
            .read_app(app)
            .map_err(io_err(format!("reading the record of {app}")))?;
        let mut images = build::cache::app_images(&self.docker, app).await?;
        match self.runtime.destroy(app).await {
            Ok(()) => {}
            Err(RuntimeError::NoSuchApp(_))
                if record.is_some() || !images.is_empty() || !removed.is_empty() => {}
            Err(e) => return Err(e.into()),
        }
        if let Some(r) = record.as_ref().and_then(|r| r.release.as_ref()) {
            if !images.contains(&r.image) {
                images.push(r.image.clone());
            }
        }
        self.remove_images(images).await;
        let _ = self
            .docker
            .remove_volume(
                &format!("solum-cache-{app}"),
                None::<bollard::query_parameters::RemoveVolumeOptions>,
            )
            .await;
        self.state
            .remove_app(app)
            .map_err(io_err(format!("removing the state of {app}")))?;
        Ok(removed)
    }

    /// Removes `images`, children before parents (a language pack's app image is built on an
    /// image of the same app): passes until one removes nothing.
    async fn remove_images(&self, mut images: Vec<String>) {
        while !images.is_empty() {
            let mut left = Vec::new();
            for id in images.iter() {
                let removed = self
                    .docker
                    .remove_image(
                        id,
                        None::<bollard::query_parameters::RemoveImageOptions>,
                        None,
                    )
                    .await;
                if let Err(e) = removed {
                    tracing::debug!("image {id}: {e}");
                    left.push(id.clone());
                }
            }
            if left.len() == images.len() {
                for id in &left {
                    tracing::warn!("image {id} of the app is still in use: kept");
                }
                return;
            }
            images = left;
        }
    }

    fn record(&self, app: &str) -> Result<AppRecord, DeployError> {
        crate::appname::check(app).map_err(DeployError::Invalid)?;
        self.state
            .read_app(app)
            .map_err(io_err(format!("reading the record of {app}")))?
            .ok_or_else(|| DeployError::Runtime(RuntimeError::NoSuchApp(app.to_string())))
    }
}

/// Which builder a deploy uses, and what identifies its language pack for the build key.
enum Builder {
    Dockerfile,
    LanguagePack {
        dir: PathBuf,
    },
    /// `chosen`: the one buildpack the plan names (installed or fetched); None: `auto`.
    Buildpack {
        chosen: Option<build::buildpack::Buildpack>,
    },
}

impl Builder {
    fn kind(&self) -> &'static str {
        match self {
            Builder::Dockerfile => "dockerfile",
            Builder::LanguagePack { .. } => "langpack",
            Builder::Buildpack { .. } => "buildpack",
        }
    }
}

struct KeyParts<'a> {
    builder: &'a str,
    tree: &'a str,
    pack: &'a str,
    env: &'a BTreeMap<String, String>,
    run_cmd: &'a str,
    stack: &'a [String],
}

/// Pure: the build key of a set of inputs. Each part is length-prefixed so that no two
/// different inputs can hash alike by shifting bytes between parts.
fn key_of(p: &KeyParts<'_>) -> String {
    let mut h = Sha256::new();
    let mut part = |s: &str| {
        h.update((s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    };
    part("solum-build-key-v1");
    part(p.builder);
    part(p.tree);
    part(p.pack);
    for (k, v) in p.env {
        part(k);
        part(v);
    }
    part(p.run_cmd);
    for s in p.stack {
        part(s);
    }
    hex::encode(h.finalize())
}

/// Whether every process type runs as many containers as the plan asks.
fn same_instances(status: &AppStatus, wanted: &crate::planfile::Instances) -> bool {
    let mut running: BTreeMap<&str, u16> = BTreeMap::new();
    for p in &status.processes {
        *running.entry(p.process.as_str()).or_default() += 1;
    }
    running.iter().all(|(p, &n)| n == wanted.of(p))
}

fn hash_dir(dir: &Path) -> Result<String, DeployError> {
    source::tree_hash(dir).map_err(io_err(format!("hashing {}", dir.display())))
}

/// Fetches the artifact's source. Local directories are used in place (builders only read
/// them), which keeps a warm redeploy of a local app to hashing its tree.
async fn fetch_source(
    spec: &SourceSpec,
    artifact: &Artifact,
    work: &Path,
) -> Result<source::Fetched, DeployError> {
    match spec {
        SourceSpec::Dir { path } => {
            let meta = std::fs::metadata(path)
                .map_err(io_err(format!("source directory {}", path.display())))?;
            if !meta.is_dir() {
                return Err(DeployError::Invalid(format!(
                    "source {} is not a directory",
                    path.display()
                )));
            }
            let tree =
                source::tree_hash(path).map_err(io_err(format!("hashing {}", path.display())))?;
            Ok(source::Fetched {
                dir: path.clone(),
                version: format!("sha256:{tree}"),
            })
        }
        _ => Ok(source::fetch(spec, artifact.repo_token.as_ref(), &work.join("src")).await?),
    }
}

fn report(
    status: &AppStatus,
    image: &str,
    cached: bool,
    unchanged: bool,
    started: Instant,
) -> DeployReport {
    DeployReport {
        app: status.app.clone(),
        release: status.release.clone().unwrap_or_default(),
        image: image.to_string(),
        state: status.state,
        urls: status.urls.clone(),
        cached,
        unchanged,
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

/// The parameters as an app record keeps them: a bound service's URL (a secret) redacted.
fn record_env(plan: &Plan) -> BTreeMap<String, String> {
    let bound = services::bound_parameters(plan);
    plan.parameters
        .iter()
        .map(|(k, v)| {
            let v = if bound.contains_key(k) {
                solum_edge::redact::url(v)
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect()
}

/// What must never be shown of the services' URLs: each URL and its password.
fn secret_words(urls: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for u in urls {
        if let Some(p) = url::Url::parse(u)
            .ok()
            .and_then(|p| p.password().map(str::to_string))
            .filter(|p| p.len() >= 4)
        {
            out.push(p);
        }
        out.push(u.clone());
    }
    // Longest first, so that a URL is replaced whole before its password.
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out
}

/// `e`, or its text without `secrets` when it shows one.
fn without_secrets(e: DeployError, secrets: &[String]) -> DeployError {
    let text = e.to_string();
    if secrets.iter().any(|s| text.contains(s.as_str())) {
        DeployError::Invalid(solum_edge::redact::secrets(&text, secrets))
    } else {
        e
    }
}

/// Two apps of one plan cannot publish the same port.
/// The long-lived processes and the release phase's command (pure): the Procfile's `release`
/// type is run once before the switch, never as a process. A `release` without a command
/// (the image's own) is run as `solum-start release` resolves it.
fn split_release_phase(
    processes: &BTreeMap<String, Option<String>>,
) -> (BTreeMap<String, Option<String>>, Option<String>) {
    let mut long_lived = processes.clone();
    let release = long_lived
        .remove(crate::runtime::RELEASE_PHASE)
        .map(|c| c.unwrap_or_else(|| crate::runtime::RELEASE_PHASE.to_string()));
    (long_lived, release)
}

fn check_ports_distinct(plan: &Plan) -> Result<(), DeployError> {
    let mut seen = BTreeMap::new();
    for a in &plan.artifacts {
        for p in &a.ports {
            if let Some(other) = seen.insert(p.number, &a.name) {
                if other != &a.name {
                    return Err(DeployError::Invalid(format!(
                        "artifacts {other} and {} both use port {}",
                        a.name, p.number
                    )));
                }
            }
        }
    }
    Ok(())
}

fn short(image: &str) -> &str {
    let s = image.strip_prefix("sha256:").unwrap_or(image);
    &s[..s.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_takes_as_many_instances_as_a_plan_may_ask() {
        assert_eq!(
            crate::runtime::MAX_INSTANCES,
            crate::planfile::MAX_INSTANCES
        );
    }

    #[test]
    fn the_release_type_is_a_phase_not_a_process() {
        let all = BTreeMap::from([
            ("web".to_string(), Some("python3 app.py".to_string())),
            ("release".to_string(), Some("./migrate".to_string())),
            ("worker".to_string(), Some("./work".to_string())),
        ]);
        let (long_lived, release) = split_release_phase(&all);
        assert_eq!(
            long_lived.keys().collect::<Vec<_>>(),
            ["web", "worker"].iter().collect::<Vec<_>>()
        );
        assert_eq!(release.as_deref(), Some("./migrate"));
        let none = BTreeMap::from([("web".to_string(), None)]);
        assert_eq!(split_release_phase(&none), (none.clone(), None));
        let own = BTreeMap::from([("web".to_string(), None), ("release".to_string(), None)]);
        assert_eq!(split_release_phase(&own).1.as_deref(), Some("release"));
    }

    fn parts<'a>(
        tree: &'a str,
        env: &'a BTreeMap<String, String>,
        stack: &'a [String],
    ) -> KeyParts<'a> {
        KeyParts {
            builder: "buildpack",
            tree,
            pack: "p",
            env,
            run_cmd: "",
            stack,
        }
    }

    #[test]
    fn build_key_is_stable_and_sensitive_to_every_input() {
        let env = BTreeMap::from([("A".to_string(), "1".to_string())]);
        let stack = vec!["s1".to_string(), "s2".to_string()];
        let k = key_of(&parts("t", &env, &stack));
        assert_eq!(k, key_of(&parts("t", &env, &stack)));
        assert_eq!(k.len(), 64);
        assert_ne!(k, key_of(&parts("u", &env, &stack)));
        let env2 = BTreeMap::from([("A".to_string(), "2".to_string())]);
        assert_ne!(k, key_of(&parts("t", &env2, &stack)));
        let stack2 = vec!["s1".to_string(), "s3".to_string()];
        assert_ne!(k, key_of(&parts("t", &env, &stack2)));
        // Shifting bytes between parts changes the key.
        let e1 = BTreeMap::from([("AB".to_string(), "C".to_string())]);
        let e2 = BTreeMap::from([("A".to_string(), "BC".to_string())]);
        assert_ne!(
            key_of(&parts("t", &e1, &stack)),
            key_of(&parts("t", &e2, &stack))
        );
    }
}
