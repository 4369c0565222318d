//! The set of metadata sources the daemon polls, each on its own schedule, and their merged
//! document. Local sources are always there and are polled at once at start-up, without
//! waiting for Nova: the agent's configuration (`os_collect_config`), os-collect-config's
//! `/etc/os-collect-config.conf`, heat-cfntools' `cfn-init-data` and the local-data directory,
//! merged in that order (later top-level keys win). The remote transports (`request`, `cfn`,
//! `heat`) follow whatever `os-collect-config` block the merged document holds, as
//! os-collect-config follows the configuration os-apply-config rewrites from the metadata:
//! when a stack update switches the transport, the old source goes and the new one comes
//! without anything handed to the agent again. The last document of a source that went is kept
//! in the merge until a new remote source has answered, so a new transport that fails at first
//! never sends the agent back to the stale one.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::merge;
use super::schedule::{self, Schedule};
use crate::collect::{self, CollectError, Poll};
use crate::heat::document::{CfnSource, CollectConfig, HeatSource, RequestSource};
use crate::heat::occ_conf;

/// Where the local sources are.
#[derive(Debug, Clone)]
pub struct LocalPaths {
    /// The agent configuration's `os_collect_config` block, if any (already JSON).
    pub configured: Option<Value>,
    pub occ_conf: PathBuf,
    pub cfn_init: PathBuf,
    pub local_dir: PathBuf,
}

/// One source of metadata documents.
enum Source {
    /// A fixed document (the agent's configuration).
    Fixed(Value),
    /// `/etc/os-collect-config.conf`, read as `{"os-collect-config": <block>}`.
    OccConf(PathBuf),
    CfnInit(PathBuf),
    Local(collect::local::LocalCollector),
    Request(RequestSource, collect::request::RequestCollector),
    Cfn(CfnSource, collect::cfn::CfnCollector),
    Heat(HeatSource, collect::heatapi::HeatCollector),
}

impl Source {
    fn is_remote(&self) -> bool {
        matches!(
            self,
            Source::Request(..) | Source::Cfn(..) | Source::Heat(..)
        )
    }

    async fn poll(&mut self, client: &reqwest::Client) -> Result<Poll, CollectError> {
        match self {
            Source::Fixed(v) => Ok(Poll::Document(v.clone())),
            Source::OccConf(path) => {
                let name = path.display().to_string();
                match read_optional(path)? {
                    None => Ok(Poll::Document(Value::Object(Default::default()))),
                    Some(bytes) => {
                        let text = String::from_utf8_lossy(&bytes);
                        let block = occ_conf::parse(&name, &text)
                            .map_err(|e| CollectError::invalid(&name, e.to_string()))?;
                        Ok(Poll::Document(
                            serde_json::json!({ "os-collect-config": block }),
                        ))
                    }
                }
            }
            Source::CfnInit(path) => match read_optional(path)? {
                Some(bytes) => Ok(Poll::Document(collect::parse_document(
                    &path.display().to_string(),
                    &bytes,
                )?)),
                None => Ok(Poll::Document(Value::Object(Default::default()))),
            },
            Source::Local(c) => c.poll(),
            Source::Request(_, c) => c.poll(client).await,
            Source::Cfn(_, c) => c.poll(client).await,
            Source::Heat(_, c) => c.poll(client).await,
        }
    }
}

fn read_optional(path: &PathBuf) -> Result<Option<Vec<u8>>, CollectError> {
    // Budget first: nothing larger than a metadata document is read.
    match std::fs::metadata(path) {
        Ok(m) if m.len() > crate::heat::document::MAX_DOCUMENT_BYTES as u64 => {
            return Err(CollectError::invalid(
                &path.display().to_string(),
                format!("{} bytes is over the 16 MiB limit", m.len()),
            ))
        }
        _ => {}
    }
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CollectError::unavailable(
            &path.display().to_string(),
            e.to_string(),
        )),
    }
}

struct Entry {
    source: Source,
    schedule: Schedule,
    latest: Option<Value>,
}

pub struct Sources {
    entries: Vec<Entry>,
    /// Documents of remote sources that were switched off, kept until a new one answers.
    retired: Vec<Value>,
    collect: CollectConfig,
    /// The operator's `poll_max_interval`, which wins over Heat's `polling_interval`.
    configured_max: Option<Duration>,
    /// The maximum in force: configured, else Heat's `polling_interval`, else 30 s.
    max_interval: Duration,
}

impl Sources {
    /// The local sources only; remote ones come with the first merged document that names them.
    /// `configured_max`: the operator's maximum interval, if any.
    pub fn new(paths: &LocalPaths, configured_max: Option<Duration>) -> Sources {
        let max_interval = configured_max.unwrap_or(schedule::DEFAULT_MAX);
        let now = Instant::now();
        let mut locals = Vec::new();
        if let Some(v) = &paths.configured {
            locals.push(Source::Fixed(v.clone()));
        }
        locals.push(Source::OccConf(paths.occ_conf.clone()));
        locals.push(Source::CfnInit(paths.cfn_init.clone()));
        locals.push(Source::Local(collect::local::LocalCollector::new(
            &paths.local_dir,
        )));
        Sources {
            entries: locals
                .into_iter()
                .map(|source| Entry {
                    source,
                    // Local sources are read at once: nothing to spread over a fleet.
                    schedule: Schedule::exact(max_interval, now),
                    latest: None,
                })
                .collect(),
            retired: Vec::new(),
            collect: CollectConfig::default(),
            configured_max,
            max_interval,
        }
    }

    /// Polls every source that is due; returns whether any was polled.
    pub async fn poll_due(&mut self, client: &reqwest::Client) -> bool {
        self.poll(client, false).await
    }

    /// Polls every source now (`collect`).
    pub async fn poll_all(&mut self, client: &reqwest::Client) {
        self.poll(client, true).await;
    }

    async fn poll(&mut self, client: &reqwest::Client, all: bool) -> bool {
        let now = Instant::now();
        let mut polled = false;
        for e in &mut self.entries {
            if !all && !e.schedule.due(now) {
                continue;
            }
            polled = true;
            match e.source.poll(client).await {
                Ok(Poll::Document(doc)) => {
                    let changed = e.latest.as_ref() != Some(&doc);
                    e.latest = Some(doc);
                    if e.source.is_remote() {
                        self.retired.clear();
                    }
                    e.schedule.record(true, changed, Instant::now());
                }
                Ok(Poll::Unchanged) => {
                    if e.source.is_remote() {
                        self.retired.clear();
                    }
                    e.schedule.record(true, false, Instant::now())
                }
                Err(err) => {
                    tracing::warn!("{err}");
                    e.schedule.record(false, false, Instant::now());
                }
            }
        }
        polled
    }

    /// Local documents, then the retired remote ones, then the live remote ones.
    pub fn merged(&self) -> Value {
        let local = self.entries.iter().filter(|e| !e.source.is_remote());
        let remote = self.entries.iter().filter(|e| e.source.is_remote());
        let docs: Vec<Value> = local
            .filter_map(|e| e.latest.clone())
            .chain(self.retired.iter().cloned())
            .chain(remote.filter_map(|e| e.latest.clone()))
            .collect();
        merge::merge(&docs)
    }

    pub fn collect(&self) -> &CollectConfig {
        &self.collect
    }

    /// Follows a new `os-collect-config` block: keeps the sources whose settings did not change
    /// (with their state), starts the new ones (due at once), retires the ones that went.
    pub fn follow(&mut self, collect: &CollectConfig) {
        if *collect == self.collect {
            return;
        }
        for i in &collect.ignored {
            tracing::warn!("{i}");
        }
        self.follow_interval(collect.polling_interval);
        if collect.zaqar.is_some() {
            tracing::error!("the zaqar transport (ZAQAR_MESSAGE) is not supported by solum-agent; use POLL_SERVER_CFN, POLL_SERVER_HEAT or POLL_TEMP_URL");
        }
        let mut wanted: Vec<Source> = Vec::new();
        if let Some(r) = &collect.request {
            wanted.push(Source::Request(
                r.clone(),
                collect::request::RequestCollector::new(r.clone()),
            ));
        }
        if let Some(c) = &collect.cfn {
            wanted.push(Source::Cfn(
                c.clone(),
                collect::cfn::CfnCollector::new(c.clone()),
            ));
        }
        if let Some(h) = &collect.heat {
            wanted.push(Source::Heat(
                h.clone(),
                collect::heatapi::HeatCollector::new(h.clone()),
            ));
        }
        let old = std::mem::take(&mut self.entries);
        let (locals, mut remotes): (Vec<Entry>, Vec<Entry>) =
            old.into_iter().partition(|e| !e.source.is_remote());
        self.entries = locals;
        for w in wanted {
            match remotes.iter().position(|e| same_settings(&e.source, &w)) {
                Some(i) => self.entries.push(remotes.remove(i)),
                None => {
                    tracing::info!("polling {}", describe(&w));
                    self.entries.push(Entry {
                        source: w,
                        schedule: Schedule::spread(self.max_interval, Instant::now()),
                        latest: None,
                    });
                }
            }
        }
        for gone in remotes {
            tracing::info!("no longer polling {}", describe(&gone.source));
            if let Some(doc) = gone.latest {
                self.retired.push(doc);
            }
        }
        self.collect = collect.clone();
    }

    /// Heat's `polling_interval` (seconds) becomes the maximum interval, unless the operator
    /// configured one, as os-collect-config's command line wins over its configuration file.
    fn follow_interval(&mut self, polling_interval: Option<u64>) {
        let max = self
            .configured_max
            .or(polling_interval.map(Duration::from_secs))
            .unwrap_or(schedule::DEFAULT_MAX);
        if max == self.max_interval {
            return;
        }
        match (self.configured_max, polling_interval) {
            (None, Some(s)) => tracing::info!("polling at most every {s} s (polling_interval)"),
            _ => tracing::info!("polling at most every {} s", max.as_secs()),
        }
        self.max_interval = max;
        let now = Instant::now();
        for e in &mut self.entries {
            e.schedule.set_max(max, now);
        }
    }

    /// The maximum interval in force.
    pub fn max_interval(&self) -> Duration {
        self.max_interval
    }

    /// Makes the local sources due now (a file they read was just written).
    pub fn wake_locals(&mut self) {
        for e in self.entries.iter_mut().filter(|e| !e.source.is_remote()) {
            e.schedule = Schedule::exact(self.max_interval, Instant::now());
        }
    }

    pub fn next_due(&self) -> Instant {
        self.entries
            .iter()
            .map(|e| e.schedule.next_due())
            .min()
            .unwrap_or_else(|| Instant::now() + self.max_interval)
    }
}

fn same_settings(a: &Source, b: &Source) -> bool {
    match (a, b) {
        (Source::Request(x, _), Source::Request(y, _)) => x == y,
        (Source::Cfn(x, _), Source::Cfn(y, _)) => x == y,
        (Source::Heat(x, _), Source::Heat(y, _)) => x == y,
        _ => false,
    }
}

fn describe(s: &Source) -> String {
    match s {
        Source::Request(_, c) => c.name(),
        Source::Cfn(_, c) => c.name(),
        Source::Heat(_, c) => c.name(),
        Source::Local(c) => c.name(),
        Source::OccConf(p) | Source::CfnInit(p) => p.display().to_string(),
        Source::Fixed(_) => "the configured os_collect_config".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> LocalPaths {
        LocalPaths {
            configured: None,
            occ_conf: "/nonexistent/occ.conf".into(),
            cfn_init: "/nonexistent/cfn-init-data".into(),
            local_dir: "/nonexistent/local-data".into(),
        }
    }

    fn block(polling_interval: Option<u64>) -> CollectConfig {
        CollectConfig {
            polling_interval,
            ..Default::default()
        }
    }

    fn maxima(s: &Sources) -> Vec<u64> {
        s.entries
            .iter()
            .map(|e| e.schedule.max().as_secs())
            .collect()
    }

    #[test]
    fn heats_polling_interval_is_the_maximum_unless_configured() {
        let mut s = Sources::new(&paths(), None);
        assert_eq!(s.max_interval(), Duration::from_secs(30));
        s.follow(&block(Some(7)));
        assert_eq!(s.max_interval(), Duration::from_secs(7));
        assert_eq!(maxima(&s), [7, 7, 7]);
        s.follow(&block(None));
        assert_eq!(
            s.max_interval(),
            Duration::from_secs(30),
            "back to the default"
        );
        assert_eq!(maxima(&s), [30, 30, 30]);

        let mut s = Sources::new(&paths(), Some(Duration::from_secs(2)));
        s.follow(&block(Some(7)));
        assert_eq!(
            s.max_interval(),
            Duration::from_secs(2),
            "the operator's wins"
        );
        assert_eq!(maxima(&s), [2, 2, 2]);
    }
}
