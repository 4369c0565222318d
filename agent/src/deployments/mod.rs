//! Applying Heat software deployments, each id once. `group: solum` (the config is a
//! Planfile) goes through the deploy pipeline; `group: script` behaves like heat-config's
//! script hook; `group: component` picks the config for the action as heat-config does; any
//! other group runs the heat-config hook installed for it (`hook`), and a group with no hook
//! gets a FAILED signal naming it and the hooks directory. Every result is signalled back
//! through the durable outbox.
//!
//! Crash safety: the record says `Started` before anything runs and `Done` after, and the
//! signal is queued before `Done` is written. On restart, a `Started` solum deployment is run
//! again (the pipeline is idempotent: same inputs, same release, nothing rebuilt), while a
//! `Started` script is not run twice: it is reported FAILED as interrupted.

pub mod hook;
pub mod record;
pub mod refresh;
pub mod script;

pub use hook::Hooks;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::heat::deployment::{Action, Deployment};
use crate::heat::document::Document;
use crate::heat::signal::deployment_body;
use crate::planfile;
use crate::report::outbox::Outbox;
use crate::report::signal::deployment_message;
use crate::workflow::{Agent, DeployOptions};
use record::{DeploymentRecord, Phase, Records};

/// What a hook produced: what goes into the signal.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    pub status_code: i64,
    pub outputs: BTreeMap<String, Value>,
}

impl Outcome {
    pub fn failed(message: String) -> Outcome {
        Outcome {
            stderr: message,
            status_code: 1,
            ..Outcome::default()
        }
    }
}

/// What happened to one deployment in one pass (for logs, the wait condition and tests).
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub id: String,
    pub name: String,
    pub group: String,
    pub status_code: i64,
    pub message: String,
}

/// Applies every deployment of `doc` that has not been applied yet, in name order. Rejected
/// items (no id, not an object) are logged; they cannot be signalled or recorded. A
/// deployment whose record or signal cannot be written fails alone (FAILED with the reason
/// when it can be signalled): the others run, and the daemon goes on.
pub async fn process(
    agent: &Agent,
    doc: &Document,
    records: &Records,
    outbox: &Outbox,
    hooks: &Hooks,
) -> Vec<Applied> {
    for rejected in &doc.rejected {
        tracing::error!("{rejected}");
    }
    // os-refresh-config's side: the heat-config file, then the element scripts before
    // heat-config's place; those after it run once the deployments are applied.
    let all = doc
        .raw
        .get("deployments")
        .cloned()
        .unwrap_or(Value::Array(Vec::new()));
    if let Err(e) = refresh::write_heat_config(&hooks.heat_config_file, &all) {
        tracing::warn!("{}: {e}", hooks.heat_config_file.display());
    }
    refresh::run(hooks, refresh::Stage::Before).await;
    let mut applied = Vec::new();
    for d in &doc.deployments {
        match apply_one(agent, d, records, outbox, hooks).await {
            Ok(Some(outcome)) => push_applied(&mut applied, d, &outcome),
            Ok(None) => {}
            Err(e) => {
                let reason =
                    format!("solum-agent could not keep the state of this deployment: {e}");
                tracing::error!("deployment {} ({}): {reason}", d.name, d.id);
                let outcome = Outcome::failed(reason);
                if let Err(e) = queue_signal(d, &outcome, outbox) {
                    tracing::error!(
                        "deployment {} ({}): its FAILED signal cannot be queued: {e}",
                        d.name,
                        d.id
                    );
                }
                push_applied(&mut applied, d, &outcome);
            }
        }
    }
    refresh::run(hooks, refresh::Stage::After).await;
    applied
}

/// Applies `d` unless its record says it was; returns the outcome signalled, if any.
async fn apply_one(
    agent: &Agent,
    d: &Deployment,
    records: &Records,
    outbox: &Outbox,
    hooks: &Hooks,
) -> std::io::Result<Option<Outcome>> {
    let previous = records.get(&d.id)?;
    let outcome = match previous.as_ref().map(|r| r.phase) {
        Some(Phase::Done) => return Ok(None),
        Some(Phase::Started) if d.group != "solum" => {
            tracing::warn!(
                "deployment {} ({}) was cut off by an agent restart; not running it twice",
                d.name,
                d.id
            );
            Outcome::failed(
                "the agent was restarted while this deployment ran; it was not run again".into(),
            )
        }
        started => {
            if started == Some(Phase::Started) {
                // A solum deployment is idempotent by build key: it runs again.
                tracing::warn!(
                    "deployment {} ({}) was cut off by an agent restart; applying it again",
                    d.name,
                    d.id
                );
            }
            let mut rec = new_record(
                d,
                Phase::Started,
                previous
                    .as_ref()
                    .map(|r| r.apps.clone())
                    .unwrap_or_default(),
            );
            records.put(&rec)?;
            tracing::info!(
                "applying deployment {} ({}), group {}",
                d.name,
                d.id,
                d.group
            );
            let (outcome, apps) = apply(agent, d, records, hooks).await;
            rec.apps = apps;
            rec.status_code = Some(outcome.status_code);
            // Signal first, then Done: a crash in between re-signals rather than never signals.
            queue_signal(d, &outcome, outbox)?;
            rec.phase = Phase::Done;
            rec.updated_at = now();
            mark_done(d, records, &rec);
            return Ok(Some(outcome));
        }
    };
    queue_signal(d, &outcome, outbox)?;
    let mut rec = new_record(d, Phase::Done, previous.map(|r| r.apps).unwrap_or_default());
    rec.status_code = Some(outcome.status_code);
    mark_done(d, records, &rec);
    Ok(Some(outcome))
}

/// Writes the `Done` record once the signal is queued. Failing here is logged, not returned:
/// the result is already on its way, and a second (FAILED) signal would contradict it.
fn mark_done(d: &Deployment, records: &Records, rec: &DeploymentRecord) {
    if let Err(e) = records.put(rec) {
        tracing::error!(
            "deployment {} ({}): signalled, but its record cannot be written: {e}",
            d.name,
            d.id
        );
    }
}

fn push_applied(applied: &mut Vec<Applied>, d: &Deployment, o: &Outcome) {
    let message = if o.status_code == 0 {
        "ok".to_string()
    } else {
        last_line(&o.stderr)
    };
    applied.push(Applied {
        id: d.id.clone(),
        name: d.name.clone(),
        group: d.group.clone(),
        status_code: o.status_code,
        message,
    });
}

fn last_line(s: &str) -> String {
    s.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("failed")
        .to_string()
}

fn queue_signal(d: &Deployment, o: &Outcome, outbox: &Outbox) -> std::io::Result<()> {
    let target = match d.signal_target() {
        Ok(t) => t,
        Err(e) => {
            tracing::error!("{e}: its result cannot be signalled");
            return Ok(());
        }
    };
    let mut outputs = BTreeMap::new();
    for decl in &d.outputs {
        if let Some(v) = o.outputs.get(&decl.name) {
            outputs.insert(decl.name.clone(), v.clone());
        }
    }
    let body = deployment_body(&o.stdout, &o.stderr, o.status_code, &outputs);
    if let Some(msg) = deployment_message(d, &target, body) {
        outbox.push(&msg)?;
    }
    Ok(())
}

fn new_record(d: &Deployment, phase: Phase, apps: Vec<String>) -> DeploymentRecord {
    DeploymentRecord {
        id: d.id.clone(),
        name: d.name.clone(),
        group: d.group.clone(),
        action: d.input("deploy_action").unwrap_or_else(|| "CREATE".into()),
        phase,
        status_code: None,
        apps,
        updated_at: now(),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Runs one deployment; returns its outcome and the apps it concerns.
async fn apply(
    agent: &Agent,
    d: &Deployment,
    records: &Records,
    hooks: &Hooks,
) -> (Outcome, Vec<String>) {
    let action = match d.action() {
        Ok(a) => a,
        Err(e) => return (Outcome::failed(e.to_string()), Vec::new()),
    };
    let work = crate::state::layout::deployment_work(agent.state.root(), &record::file_stem(&d.id));
    let (d, raw) = if d.group == "component" {
        let name = d.input("deploy_action").unwrap_or_else(|| "CREATE".into());
        match hook::component(d, &d.raw, &name) {
            Some(chosen) => chosen,
            None => {
                return (
                    Outcome {
                        stdout: format!("no config of this component is for action {name}"),
                        ..Outcome::default()
                    },
                    Vec::new(),
                )
            }
        }
    } else {
        (d.clone(), d.raw.clone())
    };
    match d.group.as_str() {
        "solum" => solum(agent, &d, action, records).await,
        // heat-config's script hook runs the script for every action; the script reads
        // deploy_action itself.
        "script" => (script::run(&d, &work).await, Vec::new()),
        other => match hooks.find(other) {
            Some(path) => (hook::run(hooks, &path, &raw, &work).await, Vec::new()),
            None => (
                Outcome::failed(format!(
                    "deployment group {other:?} has no hook: solum-agent runs solum and script itself and any group with an executable {}/<group>",
                    hooks.dir.display()
                )),
                Vec::new(),
            ),
        },
    }
}

/// `group: solum`: the config is a Planfile; inputs (other than Heat's `deploy_*`) become
/// parameters, overriding the Planfile's own.
async fn solum(
    agent: &Agent,
    d: &Deployment,
    action: Action,
    records: &Records,
) -> (Outcome, Vec<String>) {
    // Relative sources and language packs resolve against the state root, as `deploy_plan`
    // resolves them; the deployment's name only labels messages.
    let base = agent.state.root().to_path_buf();
    let file = Path::new("deployment").join(&d.name);
    let mut plan = match planfile::parse_relative_to(&file, &base, &d.config_text()) {
        Ok(p) => p,
        Err(e) => return (Outcome::failed(e.to_string()), Vec::new()),
    };
    for input in &d.inputs {
        if !input.name.starts_with("deploy_") {
            let value = match &input.value {
                Value::String(s) => s.clone(),
                Value::Null => continue,
                other => other.to_string(),
            };
            plan.parameters.insert(input.name.clone(), value);
        }
    }
    let apps: Vec<String> = plan.artifacts.iter().map(|a| plan.app_name(a)).collect();
    let log_buf = Arc::new(Mutex::new(String::new()));
    let result = match action {
        Action::Create | Action::Update => {
            let buf = log_buf.clone();
            let opts = DeployOptions {
                source: None,
                planfile: None,
                log: Arc::new(move |line: &str| {
                    tracing::info!("{line}");
                    if let Ok(mut b) = buf.lock() {
                        b.push_str(line);
                        b.push('\n');
                    }
                }),
            };
            match agent.deploy_plan(&plan, &base, &opts).await {
                Ok(reports) => {
                    let mut outputs = BTreeMap::new();
                    let urls: Vec<String> = reports.iter().flat_map(|r| r.urls.clone()).collect();
                    if let Some(u) = urls.first() {
                        outputs.insert("url".to_string(), Value::String(u.clone()));
                    }
                    outputs.insert("urls".to_string(), Value::from(urls));
                    if let Some(r) = reports.first() {
                        outputs.insert("release".to_string(), Value::String(r.release.clone()));
                    }
                    outputs.insert("apps".to_string(), Value::from(apps.clone()));
                    Ok(outputs)
                }
                Err(e) => Err(e.to_string()),
            }
        }
        Action::Delete | Action::Suspend | Action::Resume => {
            let mut targets = apps.clone();
            // Apps an earlier deployment of the same name made but this plan no longer names.
            if let Ok(all) = records.all() {
                for r in all.iter().filter(|r| r.name == d.name) {
                    for a in &r.apps {
                        if !targets.contains(a) {
                            targets.push(a.clone());
                        }
                    }
                }
            }
            let mut errors = Vec::new();
            for app in &targets {
                let r = match action {
                    Action::Delete => agent.destroy(app).await,
                    Action::Suspend => agent.stop(app).await,
                    _ => agent.start(app).await,
                };
                match r {
                    Ok(()) => log_line(&log_buf, &format!("{app}: {action:?} done")),
                    // Deleting what is already gone is success, as Heat expects.
                    Err(crate::workflow::DeployError::Runtime(
                        crate::runtime::RuntimeError::NoSuchApp(_),
                    )) if action == Action::Delete => {}
                    Err(e) => errors.push(format!("{app}: {e}")),
                }
            }
            if errors.is_empty() {
                Ok(BTreeMap::new())
            } else {
                Err(errors.join("; "))
            }
        }
    };
    let stdout = log_buf.lock().map(|b| b.clone()).unwrap_or_default();
    match result {
        Ok(outputs) => (
            Outcome {
                stdout,
                stderr: String::new(),
                status_code: 0,
                outputs,
            },
            apps,
        ),
        Err(message) => (
            Outcome {
                stdout,
                stderr: message,
                status_code: 1,
                outputs: BTreeMap::new(),
            },
            apps,
        ),
    }
}

fn log_line(buf: &Arc<Mutex<String>>, line: &str) {
    tracing::info!("{line}");
    if let Ok(mut b) = buf.lock() {
        b.push_str(line);
        b.push('\n');
    }
}
