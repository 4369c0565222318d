//! `solum-agent services`: every service this agent knows, with its container's state and
//! whether it answers. No credentials: URLs are never part of the list.

use std::time::Duration;

use bollard::Docker;
use serde::Serialize;

use super::{container, exec, naming, ServiceError, Store};

/// One line of `services` (and one object of `services --json`).
#[derive(Debug, Clone, Serialize)]
pub struct ServiceStatus {
    pub plan: String,
    pub apps: Vec<String>,
    pub id: String,
    pub name: String,
    pub kind: String,
    /// `local`, or `bound` (runs elsewhere; nothing here).
    pub binding: &'static str,
    /// A bound service's parameter holding its URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_parameter: Option<String>,
    /// Docker's word for the container (`running`, `exited` ...), `absent` when removed.
    pub state: String,
    pub ready: bool,
    pub volume: String,
    pub host_port: u16,
}

/// The local services of this agent, in key order.
pub async fn list(docker: &Docker, store: &Store) -> Result<Vec<ServiceStatus>, ServiceError> {
    let records = store.records().map_err(|e| ServiceError::Io {
        context: "reading the service records".into(),
        source: e,
    })?;
    let mut out = Vec::new();
    for r in records {
        let name = naming::resource_name(&r.plan, &r.id);
        if r.url_parameter.is_some() {
            out.push(ServiceStatus {
                plan: r.plan.clone(),
                apps: r.apps.iter().cloned().collect(),
                id: r.id.clone(),
                name: r.name.clone(),
                kind: r.kind.clone(),
                binding: "bound",
                url_parameter: r.url_parameter.clone(),
                state: "-".into(),
                ready: false,
                volume: String::new(),
                host_port: 0,
            });
            continue;
        }
        let state = container::state(docker, &name).await;
        let ready = state == "running" && answers(docker, &name, &r.kind).await;
        out.push(ServiceStatus {
            plan: r.plan.clone(),
            apps: r.apps.iter().cloned().collect(),
            id: r.id.clone(),
            name: r.name.clone(),
            kind: r.kind.clone(),
            binding: "local",
            url_parameter: None,
            state,
            ready,
            volume: name,
            host_port: r.host_port,
        });
    }
    Ok(out)
}

/// One readiness check, bounded to a few seconds.
async fn answers(docker: &Docker, container: &str, kind: &str) -> bool {
    let cmd = ["solum-service", kind, "ready"];
    let check = exec::run(docker, container, &cmd, None, None);
    matches!(
        tokio::time::timeout(Duration::from_secs(10), check).await,
        Ok(Ok(f)) if f.code == 0
    )
}
