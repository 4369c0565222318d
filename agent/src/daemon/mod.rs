//! `solum-agent run`: the daemon inside the app VM, in place of os-collect-config,
//! os-refresh-config, heat-config and heat-config-notify.
//!
//! Start-up: the local metadata sources (`sources`) are polled at once; Nova's metadata (config
//! drive, else the metadata service) is read in the background (`startup`), and when it comes
//! its `cfn-init-data` is written where heat-cfntools writes it, the registration and any
//! pending wait-condition signal go out. The Docker engine is awaited (a FAILURE for the wait
//! condition when it does not answer within `docker_patience`). Then one loop: poll each source
//! when it is due (`schedule`: 1 s doubling to the maximum, remote polls spread with jitter; a
//! failing source backs off alone), merge, follow the merged
//! `os-collect-config` block to the remote transports it names, and when the merged document
//! changed, apply new deployments (`deployments`). Signals, the wait condition and registration
//! go through the outbox, flushed by a separate task so that no dead endpoint ever stalls the
//! loop; health beats go out on their own timer.

pub mod merge;
pub mod notify;
pub mod schedule;
pub mod sources;
pub mod startup;
pub mod status_api;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::collect;
use crate::deployments::{self, record::Records, Hooks};
use crate::heat::document::Document;
use crate::heat::signal::{WaitSignal, WaitStatus};
use crate::heat::{cfninit, occ_conf};
use crate::metadata::{self, NovaMetadata};
use crate::report::outbox::Outbox;
use crate::report::registrar::{Beat, Registration};
use crate::report::signal;
use crate::state::{read_json, write_json};
use crate::workflow::Agent;
use solum_edge::http::Retry;
use sources::{LocalPaths, Sources};

/// Where the daemon finds things; every path is configurable for tests and odd images.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The config drive: a device, an image file or a directory. None: found by label.
    pub config_drive: Option<PathBuf>,
    pub metadata_url: String,
    /// heat-cfntools' copy of the initial metadata document.
    pub cfn_init_path: PathBuf,
    /// os-collect-config's local-data directory.
    pub local_dir: PathBuf,
    /// os-collect-config's configuration file (TripleO's way to name the transport).
    pub occ_conf_path: PathBuf,
    /// An `os-collect-config` block from the agent's own configuration.
    pub collect: Option<Value>,
    /// heat-config hooks: `<dir>/<group>` runs deployments of that group.
    pub hooks: Hooks,
    /// The local status API (unix socket); None: no API.
    pub status_socket: Option<PathBuf>,
    /// Longest pause between two polls of a source (`poll_max_interval`); None: Heat's
    /// `polling_interval` if the metadata gives one, else 30 s.
    pub max_interval: Option<Duration>,
    pub beat_interval: Duration,
    /// Tries of the metadata service at start-up (in the background).
    pub metadata_retry: Retry,
    /// How long the Docker engine may not answer at start before the wait condition gets
    /// FAILURE (the agent keeps waiting after that).
    pub docker_patience: Duration,
}

// Written here, not in `config`, so that the configuration does not depend on the daemon.
impl crate::config::Config {
    /// The daemon's options: defaults overridden by the configuration's keys.
    pub fn run_options(&self) -> RunOptions {
        let mut o = RunOptions {
            config_drive: self.config_drive.clone(),
            ..Default::default()
        };
        if let Some(u) = &self.metadata_url {
            o.metadata_url = u.clone();
        }
        if let Some(p) = &self.cfn_init_path {
            o.cfn_init_path = p.clone();
        }
        if let Some(p) = &self.local_data_dir {
            o.local_dir = p.clone();
        }
        if let Some(p) = &self.os_collect_config_file {
            o.occ_conf_path = p.clone();
        }
        o.collect = self.os_collect_config.clone();
        if let Some(p) = &self.hooks_dir {
            o.hooks.dir = p.clone();
        }
        if let Some(s) = self.hook_timeout {
            o.hooks.timeout = std::time::Duration::from_secs(s.max(1));
        }
        if let Some(p) = &self.refresh_config_dir {
            o.hooks.refresh_dir = p.clone();
        }
        if let Some(p) = &self.heat_config_file {
            o.hooks.heat_config_file = p.clone();
        }
        if let Some(p) = &self.status_socket {
            o.status_socket = if p.as_os_str().is_empty() {
                None
            } else {
                Some(p.clone())
            };
        }
        if let Some(s) = self.poll_max_interval {
            o.max_interval = Some(std::time::Duration::from_secs(s.max(1)));
        }
        if let Some(s) = self.beat_interval {
            o.beat_interval = std::time::Duration::from_secs(s.max(1));
        }
        if let Some(s) = self.docker_wait {
            o.docker_patience = std::time::Duration::from_secs(s.max(1));
        }
        o
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            config_drive: None,
            metadata_url: metadata::service::DEFAULT_URL.into(),
            cfn_init_path: PathBuf::from(cfninit::CFN_DIR).join("cfn-init-data"),
            local_dir: PathBuf::from(collect::local::DEFAULT_DIR),
            occ_conf_path: PathBuf::from(occ_conf::DEFAULT_PATH),
            collect: None,
            hooks: Hooks::default(),
            status_socket: Some(PathBuf::from("/run/solum-agent/status.sock")),
            max_interval: None,
            beat_interval: Duration::from_secs(30),
            metadata_retry: Retry::default(),
            docker_patience: DOCKER_PATIENCE,
        }
    }
}

impl RunOptions {
    fn local_paths(&self) -> LocalPaths {
        LocalPaths {
            configured: self
                .collect
                .clone()
                .map(|c| serde_json::json!({ "os-collect-config": c })),
            occ_conf: self.occ_conf_path.clone(),
            cfn_init: self.cfn_init_path.clone(),
            local_dir: self.local_dir.clone(),
        }
    }
}

/// `collect`: Nova, then every source polled once (the transports the local ones name
/// included), merged.
pub async fn collect_once(opts: &RunOptions) -> Value {
    let client = http_client();
    if let Some(n) = startup::nova(opts, &client).await {
        if let Err(e) = startup::write_cfn_init_data(&n, &opts.cfn_init_path) {
            tracing::warn!("cannot write {}: {e}", opts.cfn_init_path.display());
        }
    }
    let mut sources = Sources::new(&opts.local_paths(), opts.max_interval);
    sources.poll_all(&client).await;
    let merged = sources.merged();
    if let Ok(doc) = Document::from_value("merged metadata", merged.clone()) {
        sources.follow(&doc.collect);
        sources.poll_all(&client).await;
        return sources.merged();
    }
    merged
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .user_agent(concat!("solum-agent/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// The default of `RunOptions::docker_patience`.
pub const DOCKER_PATIENCE: Duration = Duration::from_secs(120);

/// Why the daemon stopped: always naming the path or the endpoint.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{path}: {source}")]
    Path {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

fn at(path: &Path) -> impl FnOnce(std::io::Error) -> DaemonError + '_ {
    move |source| DaemonError::Path {
        path: path.to_path_buf(),
        source,
    }
}

/// What the daemon knows from Nova, once it came.
struct Nova {
    metadata: NovaMetadata,
    registrar: Option<(String, Option<String>)>,
}

/// What the wait condition is to be told, whatever comes first: Nova's metadata (which names
/// the wait condition) or the outcome.
#[derive(Default)]
struct PendingWait {
    applied: Vec<deployments::Applied>,
    failure: Option<String>,
}

impl PendingWait {
    /// Tells the wait condition what is pending, if Nova's metadata named one.
    fn flush(
        &mut self,
        nova: &Option<Nova>,
        root: &Path,
        outbox: &Outbox,
    ) -> Result<(), DaemonError> {
        let Some(n) = nova else {
            return Ok(());
        };
        if let Some(reason) = self.failure.take() {
            wait_failure(&n.metadata, &reason, root, outbox).map_err(at(root))?;
        }
        if !self.applied.is_empty() {
            wait_condition(&n.metadata, &self.applied, root, outbox).map_err(at(root))?;
            self.applied.clear();
        }
        Ok(())
    }
}

/// The daemon. Returns on SIGTERM, SIGINT or SIGHUP (`interrupt`).
pub async fn run(cfg: crate::config::Config, opts: RunOptions) -> Result<(), DaemonError> {
    let client = http_client();
    let root = cfg.state_dir.clone();
    crate::state::StateDir::open(&root).map_err(at(&root))?;
    let records = Records::open(&root).map_err(at(&crate::state::layout::deployments(&root)))?;
    let outbox = Arc::new(Outbox::open(&root).map_err(at(&crate::state::layout::outbox(&root)))?);

    let mut nova_task = startup::nova_in_background(&opts, &client);
    let mut nova: Option<Nova> = None;
    let mut nova_pending = true;
    // What the wait condition (named in Nova's `meta`) must hear once Nova's metadata comes.
    let mut pending = PendingWait::default();

    // The flusher: delivers the outbox in the background, at start (messages kept from before a
    // restart), whenever a message is pushed (each deployment's signal as soon as it is queued),
    // and every few seconds while something is pending.
    {
        let (client, outbox) = (client.clone(), outbox.clone());
        tokio::spawn(async move {
            loop {
                let left = signal::flush(&client, &outbox).await.unwrap_or_else(|e| {
                    tracing::error!("outbox: {e}");
                    1
                });
                let pause = if left > 0 {
                    Duration::from_secs(5)
                } else {
                    Duration::from_secs(60)
                };
                tokio::select! {
                    _ = outbox.pushed() => {}
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        });
    }

    // The Docker engine: awaited (Nova's metadata is taken in meanwhile), and a FAILURE for
    // Heat if it does not answer within `docker_patience`.
    let started = tokio::time::Instant::now();
    let mut reported = false;
    let agent = loop {
        match Agent::open(cfg.clone()).await {
            Ok(a) => break Arc::new(a),
            Err(crate::workflow::OpenError::Docker(e)) => {
                if started.elapsed() >= opts.docker_patience && !reported {
                    reported = true;
                    tracing::error!("{e}: reporting FAILURE, still waiting");
                    pending.failure = Some(format!(
                        "solum-agent cannot start its work: {e} (for {} s)",
                        opts.docker_patience.as_secs()
                    ));
                    pending.flush(&nova, &root, &outbox)?;
                } else {
                    tracing::warn!("{e}; retrying");
                }
            }
            Err(e) => return Err(DaemonError::Other(e.to_string())),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5).min(opts.docker_patience)) => {}
            found = &mut nova_task, if nova_pending => {
                nova_pending = false;
                if let Some(m) = found.ok().flatten() {
                    nova = Some(on_nova(m, &opts, None, &outbox).await.map_err(at(&root))?);
                    pending.flush(&nova, &root, &outbox)?;
                }
            }
            _ = solum_edge::interrupt::requested() => return Ok(()),
        }
    };
    if let Some(n) = &nova {
        // Registered before Docker answered: the apps were not known then; they are now.
        queue_registration(&n.metadata, &n.registrar, Some(&agent), &outbox)
            .await
            .map_err(at(&root))?;
    }

    // The supervisor (it keeps existing apps served after a reboot) starts beside the polling,
    // not before it; a deployment that releases an app ensures it again itself.
    {
        let agent = agent.clone();
        tokio::spawn(async move {
            if let Err(e) = agent.runtime.ensure_supervisor().await {
                tracing::warn!("supervisor: {e}");
            }
        });
    }

    if let Some(sock) = &opts.status_socket {
        match status_api::serve(sock, agent.clone()).await {
            Ok(()) => tracing::info!("status API on {}", sock.display()),
            Err(e) => tracing::warn!("status API on {}: {e}", sock.display()),
        }
    }

    notify::ready("solum-agent: polling metadata");

    let mut sources = Sources::new(&opts.local_paths(), opts.max_interval);
    let mut last_merged: Option<Value> = None;
    let mut beat = tokio::time::interval(opts.beat_interval);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq = read_json::<u64>(&crate::state::layout::beat_seq(&root))
        .ok()
        .flatten()
        .unwrap_or(0);

    loop {
        if sources.poll_due(&client).await {
            let merged = sources.merged();
            if last_merged.as_ref() != Some(&merged) {
                let _ = write_json(&crate::state::layout::metadata(&root), &merged);
                match Document::from_value("merged metadata", merged.clone()) {
                    Ok(doc) => {
                        // A new os-collect-config block (a transport switched, credentials
                        // rotated) means new sources, due at once.
                        sources.follow(&doc.collect);
                        // An item that cannot be applied cannot be signalled either: Heat
                        // would wait for it until its timeout. The others still run.
                        if let Some(first) = doc.rejected.first() {
                            pending.failure = Some(format!(
                                "solum-agent cannot apply a deployment of the metadata: {first}"
                            ));
                        }
                        let applied =
                            deployments::process(&agent, &doc, &records, &outbox, &opts.hooks)
                                .await;
                        pending.applied.extend(applied);
                        pending.flush(&nova, &root, &outbox)?;
                    }
                    Err(e) => {
                        // Heat would otherwise wait for its timeout: fail the stack now.
                        tracing::error!("{e}");
                        pending.failure = Some(format!("solum-agent cannot use the metadata: {e}"));
                        pending.flush(&nova, &root, &outbox)?;
                    }
                }
                last_merged = Some(merged);
            }
        }
        let next = sources.next_due();
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            found = &mut nova_task, if nova_pending => {
                nova_pending = false;
                if let Some(m) = found.ok().flatten() {
                    nova = Some(on_nova(m, &opts, Some(&agent), &outbox).await.map_err(at(&root))?);
                    // Its cfn-init-data is read now, not at the local sources' next turn.
                    sources.wake_locals();
                    pending.flush(&nova, &root, &outbox)?;
                }
            }
            _ = beat.tick() => {
                if let Some(Nova { metadata: n, registrar: Some((url, token)) }) = &nova {
                    seq += 1;
                    let _ = write_json(&crate::state::layout::beat_seq(&root), &seq);
                    send_beat(&client, url, token.as_deref(), n, seq, &agent).await;
                }
            }
            _ = solum_edge::interrupt::requested() => break,
        }
    }
    nova_task.abort();
    notify::stopping();
    Ok(())
}

/// Acts on Nova's metadata when it arrives: logs the instance, writes Heat's `cfn-init-data`
/// (the local source picks it up on its next poll), queues the registration (once the Docker
/// engine answers: it carries the apps).
async fn on_nova(
    m: NovaMetadata,
    opts: &RunOptions,
    agent: Option<&Agent>,
    outbox: &Outbox,
) -> std::io::Result<Nova> {
    tracing::info!(
        "instance {} ({}) from {}",
        m.uuid().unwrap_or("?"),
        m.name().unwrap_or("?"),
        m.origin
    );
    match startup::write_cfn_init_data(&m, &opts.cfn_init_path) {
        Ok(true) => tracing::info!(
            "wrote Heat's cfn-init-data to {}",
            opts.cfn_init_path.display()
        ),
        Ok(false) => {}
        // The collectors still run from what the other sources name.
        Err(e) => tracing::error!("cannot write {}: {e}", opts.cfn_init_path.display()),
    }
    let registrar = m
        .meta("solum_registrar_url")
        .filter(|url| !url.trim().is_empty())
        .map(|url| {
            (
                url.trim_end_matches('/').to_string(),
                m.meta("solum_registrar_token").map(str::to_string),
            )
        });
    if agent.is_some() {
        queue_registration(&m, &registrar, agent, outbox).await?;
    }
    Ok(Nova {
        metadata: m,
        registrar,
    })
}

/// Queues the registration with the registrar, if there is one.
async fn queue_registration(
    m: &NovaMetadata,
    registrar: &Option<(String, Option<String>)>,
    agent: Option<&Agent>,
    outbox: &Outbox,
) -> std::io::Result<()> {
    let Some((url, token)) = registrar else {
        return Ok(());
    };
    let apps = match agent {
        Some(a) => a.runtime.status(None).await.unwrap_or_default(),
        None => Vec::new(),
    };
    let reg = Registration::new(
        m.uuid().unwrap_or(""),
        m.name().unwrap_or(""),
        crate::netaddr::local_ipv4(),
        apps,
    );
    outbox.push(&reg.message(url, token.as_deref()))?;
    Ok(())
}

/// Sends the wait-condition signal once (recorded in `wait-condition.json`): SUCCESS when every
/// deployment applied in this pass succeeded, FAILURE with the first failure's message.
fn wait_condition(
    n: &NovaMetadata,
    applied: &[deployments::Applied],
    root: &Path,
    outbox: &Outbox,
) -> std::io::Result<()> {
    let failed = applied.iter().find(|a| a.status_code != 0);
    let signal = match failed {
        None => signal::wait_signal(
            WaitStatus::Success,
            format!("{} deployment(s) applied; apps healthy", applied.len()),
        ),
        Some(f) => signal::wait_signal(
            WaitStatus::Failure,
            format!("deployment {} failed: {}", f.name, f.message),
        ),
    };
    send_wait(n, &signal, root, outbox)
}

/// FAILURE for the wait condition when the agent cannot start its work at all.
fn wait_failure(
    n: &NovaMetadata,
    reason: &str,
    root: &Path,
    outbox: &Outbox,
) -> std::io::Result<()> {
    let signal = signal::wait_signal(WaitStatus::Failure, solum_edge::redact::text(reason));
    send_wait(n, &signal, root, outbox)
}

/// Queues the wait condition's one signal, unless one was sent already.
fn send_wait(
    n: &NovaMetadata,
    signal: &WaitSignal,
    root: &Path,
    outbox: &Outbox,
) -> std::io::Result<()> {
    let Some(url) = n.meta("solum_wait_url") else {
        return Ok(());
    };
    let record = crate::state::layout::wait_condition(root);
    if read_json::<Value>(&record).ok().flatten().is_some() {
        return Ok(());
    }
    tracing::info!("wait condition: {:?} ({})", signal.status, signal.reason);
    outbox.push(&signal::wait_condition_message(
        url,
        n.meta("solum_wait_token"),
        signal,
    ))?;
    write_json(
        &record,
        &serde_json::json!({"status": signal.status, "reason": signal.reason}),
    )
}

async fn send_beat(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    n: &NovaMetadata,
    seq: u64,
    agent: &Agent,
) {
    let apps = agent.runtime.status(None).await.unwrap_or_default();
    let msg = Beat::new(n.uuid().unwrap_or(""), seq, apps).message(url, token);
    // A lost beat is replaced by the next one: one try, no outbox.
    if let Err(e) = signal::send(client, &msg).await {
        tracing::debug!("{e}");
    }
}
