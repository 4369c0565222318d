//! Running releases and keeping them healthy. The only module (with `build` and `stack`) that
//! talks to Docker about containers.
//!
//! Design (see docs/decisions.md, "A supervisor owns the public ports"): each process type of a release runs in its own container,
//! labelled `solum.app`, `solum.release`, `solum.process`, `solum.agent`, with its ports
//! published on 127.0.0.1 at ephemeral host ports (the "private" ports). A per-host
//! supervisor (`solum-agent supervise`, run as the container `solum-supervisor-<agent id>`
//! with host networking and `--restart unless-stopped`) owns the public ports: it proxies
//! each public port to the current release's private port, health-checks web processes and
//! restarts unhealthy ones with backoff. Switching releases is an atomic rewrite of the
//! routes file that the supervisor acknowledges, so no connection is refused during a switch
//! and an agent crash never takes an app down.

pub mod balance;
pub mod containers;
pub mod health;
pub mod lifecycle;
pub mod proxy;
pub mod routes;
pub mod status;
pub mod supervisor;

pub use status::{LogForm, LogLine};

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::state::StateDir;

use serde::{Deserialize, Serialize};

/// One release to start: the outcome of a build plus what the plan says about running it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseSpec {
    pub app: String,
    /// Release id: the first 12 hex digits of the build key.
    pub release: String,
    pub image: String,
    /// Process type -> command (`None`: the image's own CMD / `solum-start <type>`).
    pub processes: BTreeMap<String, Option<String>>,
    /// Container ports, first = `$PORT`. Published on the same numbers on the public address.
    pub ports: Vec<u16>,
    /// Environment of every process (plan parameters, `PORT`).
    pub env: BTreeMap<String, String>,
    /// The Procfile's `release` command: run once in a one-off container of the image before
    /// the new processes start; a failure stops the release. Never a long-lived process.
    pub release_command: Option<String>,
    /// Process type -> how many containers run it (absent: 1). The web instances share the
    /// public ports through the supervisor's proxy.
    pub instances: BTreeMap<String, u16>,
}

/// Most containers of one process type (the Planfile's limit too).
pub const MAX_INSTANCES: u16 = 64;

impl ReleaseSpec {
    /// How many containers run `process` (1 unless `instances` says otherwise).
    pub fn instances_of(&self, process: &str) -> u16 {
        self.instances.get(process).copied().unwrap_or(1)
    }
}

/// The health word of a non-web process that exited 0: it finished, it did not crash.
pub const COMPLETED: &str = "completed";

/// The process type that is the release phase, not a process.
pub const RELEASE_PHASE: &str = "release";

/// Default longest run of the release phase (Heroku's: one hour).
pub const RELEASE_TIMEOUT: Duration = Duration::from_secs(3600);

pub use crate::config::HealthConfig;

/// Where public ports are bound (the agent configuration's `bind_address`; default all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicAddr(pub IpAddr);

/// Solum's assembly state names, used in status and health beats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AppState {
    Queued,
    UnitTesting,
    UnitTestingPassed,
    UnitTestingFailed,
    Building,
    Built,
    Deploying,
    StartingApp,
    DeploymentComplete,
    Error,
    ErrorCodeDeployment,
    Deleting,
    /// Not a Solum name: the app was stopped on purpose (`solum-agent stop`, SUSPEND).
    Stopped,
}

/// What `status --json` prints for one app (and what health beats carry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppStatus {
    pub app: String,
    pub state: AppState,
    pub release: Option<String>,
    pub image: Option<String>,
    /// Public URLs, one per port: `http://<addr>:<port>/`.
    pub urls: Vec<String>,
    pub processes: Vec<ProcessStatus>,
    pub restarts: u64,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessStatus {
    pub process: String,
    /// 1-based instance of the process type (one container each).
    #[serde(default = "first_instance")]
    pub instance: u16,
    pub container: String,
    /// Docker's container state (`running`, `restarting`, `exited` ...).
    pub docker_state: String,
    /// `healthy`, `unhealthy`, `starting`, `unchecked` (non-web processes) or `completed` (a
    /// non-web process that exited 0).
    pub health: String,
    pub restarts: u64,
}

fn first_instance() -> u16 {
    1
}

/// Errors of the runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("app {app} did not become healthy within {secs} s: {reason}")]
    Unhealthy {
        app: String,
        secs: u64,
        reason: String,
    },
    #[error("public port {port} on {addr} is in use by something else")]
    PortInUse { addr: IpAddr, port: u16 },
    #[error("release phase of {app} (release {release}) {how}; the release was stopped and the previous one keeps serving; last output:\n{output}")]
    ReleasePhase {
        app: String,
        release: String,
        /// "`CMD` exited with code N" or "`CMD` did not finish within N s".
        how: String,
        output: String,
    },
    #[error("no app named {0}")]
    NoSuchApp(String),
    #[error("the supervisor did not take the new routes within {0} s")]
    SupervisorTimeout(u64),
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

/// What the runtime needs besides the engine and the state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeSettings {
    /// Where public ports are bound.
    pub public: PublicAddr,
    /// Health policy of new releases.
    pub health: HealthConfig,
    /// The agent binary mounted into the supervisor container.
    pub agent_binary: PathBuf,
    /// The image the supervisor runs in (Debian with the host's glibc).
    pub run_image: String,
    /// Longest run of a release phase before it is killed and the release stopped.
    pub release_timeout: Duration,
}

/// Runs releases of apps on this host's Docker engine (see the module comment).
pub struct Runtime {
    docker: bollard::Docker,
    state: StateDir,
    agent: String,
    settings: RuntimeSettings,
}

impl Runtime {
    /// A runtime for the agent whose state is `state` (its agent id labels every container).
    pub fn new(
        docker: bollard::Docker,
        state: StateDir,
        settings: RuntimeSettings,
    ) -> Result<Runtime, RuntimeError> {
        let agent = state.agent_id().map_err(|source| RuntimeError::Io {
            context: format!("agent id in {}", state.root().display()),
            source,
        })?;
        Ok(Runtime {
            docker,
            state,
            agent,
            settings,
        })
    }

    pub fn agent_id(&self) -> &str {
        &self.agent
    }

    pub fn settings(&self) -> &RuntimeSettings {
        &self.settings
    }

    /// Makes sure the supervisor container runs the current agent binary.
    pub async fn ensure_supervisor(&self) -> Result<(), RuntimeError> {
        let setup = supervisor::setup(
            &self.agent,
            &self.settings.run_image,
            &self.settings.agent_binary,
            self.state.root(),
        )?;
        supervisor::ensure(&self.docker, &setup).await
    }
}

impl RuntimeError {
    fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RuntimeError {
        let context = context.into();
        move |source| RuntimeError::Io { context, source }
    }
}

/// Seconds since the epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
