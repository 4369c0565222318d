//! `solum-agent run`: the daemon inside the app VM, in place of os-collect-config,
//! os-refresh-config, heat-config and heat-config-notify.
//!
//! Start-up: Nova metadata from the config drive (else the metadata service); the
//! `cfn-init-data` part of Heat's MIME user_data written where heat-cfntools writes it; the
//! collectors that its `os-collect-config` block names. Then one loop: poll each source when it
//! is due (1 s doubling to 30 s, with splay; a failing source backs off alone), merge, and when
//! the merged document changed, apply new deployments (`deployments`). Signals, the wait
//! condition and registration go through the outbox, flushed by a separate task so that no dead
//! endpoint ever stalls the loop; health beats go out on their own timer.

pub mod merge;
pub mod notify;
pub mod schedule;
pub mod status_api;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;

use crate::collect::{self, CollectError, Poll};
use crate::deployments::{self, record::Records};
use crate::heat::cfninit;
use crate::heat::document::{CollectConfig, Document};
use crate::heat::signal::{WaitSignal, WaitStatus};
use crate::metadata::{self, http::Retry, NovaMetadata};
use crate::report::outbox::{Delivery, Message, Outbox};
use crate::report::registrar::{self, Beat, Registration};
use crate::report::signal;
use crate::state::{read_json, write_atomic, write_json};
use crate::workflow::Agent;
use schedule::Schedule;

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
    /// The local status API (unix socket); None: no API.
    pub status_socket: Option<PathBuf>,
    /// Longest pause between two polls of a source.
    pub max_interval: Duration,
    pub beat_interval: Duration,
    /// Tries of the metadata service at start-up.
    pub metadata_retry: Retry,
    /// How long the Docker engine may not answer at start before the wait condition gets
    /// FAILURE (the agent keeps waiting after that).
    pub docker_patience: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            config_drive: None,
            metadata_url: metadata::service::DEFAULT_URL.into(),
            cfn_init_path: PathBuf::from(cfninit::CFN_DIR).join("cfn-init-data"),
            local_dir: PathBuf::from(collect::local::DEFAULT_DIR),
            status_socket: Some(PathBuf::from("/run/solum-agent/status.sock")),
            max_interval: Duration::from_secs(30),
            beat_interval: Duration::from_secs(30),
            metadata_retry: Retry::default(),
            docker_patience: DOCKER_PATIENCE,
        }
    }
}

/// Reads Nova's metadata: the config drive when there is one, else the metadata service.
pub async fn nova(opts: &RunOptions, client: &reqwest::Client) -> Option<NovaMetadata> {
    let drive = opts
        .config_drive
        .clone()
        .or_else(metadata::configdrive::find_by_label);
    if let Some(drive) = drive {
        match metadata::configdrive::read(&drive) {
            Ok(m) => return Some(m),
            Err(e) => tracing::warn!("{e}; trying the metadata service"),
        }
    }
    match metadata::service::read(client, &opts.metadata_url, &opts.metadata_retry).await {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::warn!("no Nova metadata: {e}");
            None
        }
    }
}

/// Writes the `cfn-init-data` part of MIME user_data to `cfn_init_path` (0600), as
/// heat-cfntools would. Returns whether there was one.
pub fn write_cfn_init_data(nova: &NovaMetadata, cfn_init_path: &Path) -> std::io::Result<bool> {
    let Some(user_data) = &nova.user_data else {
        return Ok(false);
    };
    let part = match cfninit::cfn_init_data(user_data) {
        Ok(Some(p)) => p,
        Ok(None) => return Ok(false),
        Err(e) => {
            tracing::error!("{e}");
            return Ok(false);
        }
    };
    if std::fs::read(cfn_init_path).ok().as_deref() != Some(&part[..]) {
        write_atomic(cfn_init_path, &part)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(cfn_init_path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(true)
}

/// One source of metadata documents with its own schedule.
enum Source {
    CfnInit(PathBuf),
    Local(collect::local::LocalCollector),
    Request(collect::request::RequestCollector),
    Cfn(collect::cfn::CfnCollector),
    Heat(collect::heatapi::HeatCollector),
}

impl Source {
    async fn poll(&mut self, client: &reqwest::Client) -> Result<Poll, CollectError> {
        match self {
            Source::CfnInit(path) => match std::fs::read(&*path) {
                Ok(bytes) => Ok(Poll::Document(collect::parse_document(
                    &format!("{}", path.display()),
                    &bytes,
                )?)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Ok(Poll::Document(Value::Object(Default::default())))
                }
                Err(e) => Err(CollectError::unavailable(
                    &path.display().to_string(),
                    e.to_string(),
                )),
            },
            Source::Local(c) => c.poll(),
            Source::Request(c) => c.poll(client).await,
            Source::Cfn(c) => c.poll(client).await,
            Source::Heat(c) => c.poll(client).await,
        }
    }
}

/// The sources a document's `os-collect-config` block names (Zaqar is not implemented: it is
/// reported once and skipped).
fn sources_for(collect: &CollectConfig, opts: &RunOptions) -> Vec<Source> {
    let mut out = vec![
        Source::CfnInit(opts.cfn_init_path.clone()),
        Source::Local(collect::local::LocalCollector::new(&opts.local_dir)),
    ];
    if let Some(r) = &collect.request {
        out.push(Source::Request(collect::request::RequestCollector::new(
            r.clone(),
        )));
    }
    if let Some(c) = &collect.cfn {
        out.push(Source::Cfn(collect::cfn::CfnCollector::new(c.clone())));
    }
    if let Some(h) = &collect.heat {
        out.push(Source::Heat(collect::heatapi::HeatCollector::new(
            h.clone(),
        )));
    }
    if collect.zaqar.is_some() {
        tracing::error!("the zaqar transport (ZAQAR_MESSAGE) is not supported by solum-agent; use POLL_SERVER_CFN, POLL_SERVER_HEAT or POLL_TEMP_URL");
    }
    out
}

/// `collect --print`: every source polled once, merged.
pub async fn collect_once(opts: &RunOptions) -> Value {
    let client = http_client();
    if let Some(n) = nova(opts, &client).await {
        if let Err(e) = write_cfn_init_data(&n, &opts.cfn_init_path) {
            tracing::warn!("cannot write {}: {e}", opts.cfn_init_path.display());
        }
    }
    let initial = read_initial(opts);
    let mut sources = sources_for(&initial.collect, opts);
    let mut docs = Vec::new();
    for s in &mut sources {
        match s.poll(&client).await {
            Ok(Poll::Document(d)) => docs.push(d),
            Ok(Poll::Unchanged) => {}
            Err(e) => tracing::warn!("{e}"),
        }
    }
    merge::merge(&docs)
}

fn read_initial(opts: &RunOptions) -> Document {
    match std::fs::read(&opts.cfn_init_path) {
        Ok(bytes) => Document::parse(&opts.cfn_init_path.display().to_string(), &bytes)
            .unwrap_or_else(|e| {
                tracing::error!("{e}");
                Document::default()
            }),
        Err(_) => Document::default(),
    }
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

/// The daemon. Returns on SIGTERM/SIGINT.
pub async fn run(cfg: crate::config::Config, opts: RunOptions) -> Result<(), DaemonError> {
    let client = http_client();
    let root = cfg.state_dir.clone();
    crate::state::StateDir::open(&root).map_err(at(&root))?;
    let records = Records::open(&root).map_err(at(&root.join("deployments")))?;
    let outbox = Arc::new(Outbox::open(&root).map_err(at(&root.join("outbox")))?);
    let wake_outbox = Arc::new(Notify::new());
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| DaemonError::Other(format!("installing the SIGTERM handler: {e}")))?;

    let nova = nova(&opts, &client).await;
    if let Some(n) = &nova {
        tracing::info!(
            "instance {} ({}) from {}",
            n.uuid().unwrap_or("?"),
            n.name().unwrap_or("?"),
            n.origin
        );
        match write_cfn_init_data(n, &opts.cfn_init_path) {
            Ok(true) => tracing::info!(
                "wrote Heat's cfn-init-data to {}",
                opts.cfn_init_path.display()
            ),
            Ok(false) => {}
            Err(e) => {
                // Its content is still read from the user_data below; the collectors run.
                tracing::error!("cannot write {}: {e}", opts.cfn_init_path.display());
            }
        }
    } else {
        tracing::error!("no Nova metadata (no config drive, no metadata service at {}): no wait condition, registrar or Heat transport is known; polling the local sources only", opts.metadata_url);
    }

    // The flusher: delivers the outbox in the background, at start (messages kept from before a
    // restart), when woken, and every few seconds while something is pending.
    {
        let (client, outbox, wake) = (client.clone(), outbox.clone(), wake_outbox.clone());
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
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        });
    }

    // The Docker engine: waited for, and a FAILURE for Heat if it does not come.
    let started = tokio::time::Instant::now();
    let mut reported = false;
    let agent = loop {
        match Agent::open(cfg.clone()).await {
            Ok(a) => break Arc::new(a),
            Err(crate::workflow::OpenError::Docker(e)) => {
                if started.elapsed() >= opts.docker_patience && !reported {
                    reported = true;
                    tracing::error!("{e}: reporting FAILURE and still waiting");
                    if let Some(n) = &nova {
                        let reason = format!(
                            "solum-agent cannot start its work: {e} (for {} s)",
                            opts.docker_patience.as_secs()
                        );
                        wait_failure(n, &reason, &root, &outbox).map_err(at(&root))?;
                        wake_outbox.notify_one();
                    }
                } else {
                    tracing::warn!("{e}; retrying");
                }
            }
            Err(e) => return Err(DaemonError::Other(e.to_string())),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5).min(opts.docker_patience)) => {}
            _ = terminate.recv() => return Ok(()),
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    };
    if let Err(e) = agent.runtime.ensure_supervisor().await {
        tracing::warn!("supervisor: {e}");
    }

    if let Some(sock) = &opts.status_socket {
        match status_api::serve(sock, agent.clone()).await {
            Ok(()) => tracing::info!("status API on {}", sock.display()),
            Err(e) => tracing::warn!("status API on {}: {e}", sock.display()),
        }
    }

    let registrar = nova.as_ref().and_then(|n| {
        Some((
            n.meta("solum_registrar_url")
                .filter(|u| !u.trim().is_empty())?
                .trim_end_matches('/')
                .to_string(),
            n.meta("solum_registrar_token").map(str::to_string),
        ))
    });
    if let (Some((url, token)), Some(n)) = (&registrar, &nova) {
        let reg = Registration {
            protocol: registrar::PROTOCOL_VERSION,
            instance_uuid: n.uuid().unwrap_or("").to_string(),
            name: n.name().unwrap_or("").to_string(),
            addresses: crate::netaddr::local_ipv4(),
            agent_version: env!("CARGO_PKG_VERSION").to_string(),
            capabilities: registrar::capabilities(),
            apps: agent.runtime.status(None).await.unwrap_or_default(),
        };
        outbox
            .push(&http_message(
                "registration",
                &format!("{url}/v1/agents"),
                token.as_deref(),
                &reg,
            ))
            .map_err(at(&root.join("outbox")))?;
        wake_outbox.notify_one();
    }

    notify::ready("solum-agent: polling metadata");

    let mut initial = read_initial(&opts);
    let mut sources = sources_for(&initial.collect, &opts);
    let mut schedules: Vec<Schedule> = sources
        .iter()
        .map(|_| Schedule::new(opts.max_interval))
        .collect();
    let mut latest: Vec<Option<Value>> = sources.iter().map(|_| None).collect();
    let mut last_merged: Option<Value> = None;
    let mut beat = tokio::time::interval(opts.beat_interval);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq = read_json::<u64>(&root.join("beat-seq.json"))
        .ok()
        .flatten()
        .unwrap_or(0);
    loop {
        let now = tokio::time::Instant::now();
        let mut polled_any = false;
        for (i, source) in sources.iter_mut().enumerate() {
            if !schedules[i].due(now) {
                continue;
            }
            polled_any = true;
            match source.poll(&client).await {
                Ok(Poll::Document(doc)) => {
                    let changed = latest[i].as_ref() != Some(&doc);
                    latest[i] = Some(doc);
                    schedules[i].record(true, changed, tokio::time::Instant::now());
                }
                Ok(Poll::Unchanged) => {
                    schedules[i].record(true, false, tokio::time::Instant::now())
                }
                Err(e) => {
                    tracing::warn!("{e}");
                    schedules[i].record(false, false, tokio::time::Instant::now());
                }
            }
        }
        if polled_any {
            let docs: Vec<Value> = latest.iter().flatten().cloned().collect();
            let merged = merge::merge(&docs);
            if last_merged.as_ref() != Some(&merged) {
                let _ = write_json(&root.join("metadata.json"), &merged);
                match Document::from_value("merged metadata", merged.clone()) {
                    Ok(doc) => {
                        // A new os-collect-config block (e.g. credentials rotated) means new sources.
                        if doc.collect != initial.collect && !doc.collect.collectors.is_empty() {
                            tracing::info!(
                                "os-collect-config changed: rebuilding the metadata sources"
                            );
                            initial.collect = doc.collect.clone();
                            sources = sources_for(&initial.collect, &opts);
                            schedules = sources
                                .iter()
                                .map(|_| Schedule::new(opts.max_interval))
                                .collect();
                            latest = sources.iter().map(|_| None).collect();
                        }
                        let applied = deployments::process(&agent, &doc, &records, &outbox)
                            .await
                            .map_err(at(&root.join("deployments")))?;
                        if !applied.is_empty() {
                            wake_outbox.notify_one();
                            if let Some(n) = &nova {
                                wait_condition(n, &applied, &root, &outbox).map_err(at(&root))?;
                                wake_outbox.notify_one();
                            }
                        }
                    }
                    Err(e) => {
                        // Heat would otherwise wait for its timeout: fail the stack now.
                        tracing::error!("{e}");
                        if let Some(n) = &nova {
                            let reason = format!("solum-agent cannot use the metadata: {e}");
                            wait_failure(n, &reason, &root, &outbox).map_err(at(&root))?;
                            wake_outbox.notify_one();
                        }
                    }
                }
                last_merged = Some(merged);
            }
        }
        let next = schedules
            .iter()
            .map(|s| s.next_due())
            .min()
            .unwrap_or_else(|| tokio::time::Instant::now() + opts.max_interval);
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = beat.tick() => {
                if let (Some((url, token)), Some(n)) = (&registrar, &nova) {
                    seq += 1;
                    let _ = write_json(&root.join("beat-seq.json"), &seq);
                    send_beat(&client, url, token.as_deref(), n, seq, &agent).await;
                }
            }
            _ = terminate.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    notify::stopping();
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
        None => WaitSignal {
            status: WaitStatus::Success,
            reason: format!("{} deployment(s) applied; apps healthy", applied.len()),
            data: None,
            id: "solum-agent".into(),
        },
        Some(f) => WaitSignal {
            status: WaitStatus::Failure,
            reason: format!("deployment {} failed: {}", f.name, f.message),
            data: None,
            id: "solum-agent".into(),
        },
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
    let signal = WaitSignal {
        status: WaitStatus::Failure,
        reason: crate::source::redact_urls(reason),
        data: None,
        id: "solum-agent".into(),
    };
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
    let record = root.join("wait-condition.json");
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

fn http_message<T: serde::Serialize>(
    what: &str,
    url: &str,
    token: Option<&str>,
    body: &T,
) -> Message {
    let headers = token
        .map(|t| vec![("X-Auth-Token".to_string(), t.to_string())])
        .unwrap_or_default();
    Message {
        what: what.into(),
        delivery: Delivery::Http {
            method: "POST".into(),
            url: url.into(),
            headers,
        },
        body: serde_json::to_string(body).unwrap_or_default(),
        tries: 0,
    }
}

async fn send_beat(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    n: &NovaMetadata,
    seq: u64,
    agent: &Agent,
) {
    let uuid = n.uuid().unwrap_or("").to_string();
    let beat = Beat {
        protocol: registrar::PROTOCOL_VERSION,
        instance_uuid: uuid.clone(),
        seq,
        time: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        apps: agent.runtime.status(None).await.unwrap_or_default(),
    };
    let msg = http_message(
        "health beat",
        &format!("{url}/v1/agents/{uuid}/beats"),
        token,
        &beat,
    );
    // A lost beat is replaced by the next one: one try, no outbox.
    if let Err(e) = signal::send(client, &msg).await {
        tracing::debug!("{e}");
    }
}
