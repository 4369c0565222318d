//! Self-registration and health beats (the protocol is documented in docs/registrar.md).
//! Payloads are pure functions of the agent's view; sending reuses the outbox for the
//! registration (it must arrive) and sends beats directly (a lost beat is replaced by the next).

use serde::Serialize;

use super::outbox::{Delivery, Message};
use crate::runtime::AppStatus;

pub const PROTOCOL_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Registration {
    pub protocol: u32,
    pub instance_uuid: String,
    pub name: String,
    pub addresses: Vec<String>,
    pub agent_version: String,
    pub capabilities: Vec<String>,
    pub apps: Vec<AppStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Beat {
    pub protocol: u32,
    pub instance_uuid: String,
    /// Strictly increasing per agent (kept in the state dir across restarts), so a receiver
    /// can drop stale or reordered beats.
    pub seq: u64,
    /// Unix seconds.
    pub time: u64,
    pub apps: Vec<AppStatus>,
}

impl Registration {
    /// This instance's registration: Nova's identity, its addresses, its apps.
    pub fn new(
        instance_uuid: &str,
        name: &str,
        addresses: Vec<String>,
        apps: Vec<AppStatus>,
    ) -> Self {
        Registration {
            protocol: PROTOCOL_VERSION,
            instance_uuid: instance_uuid.to_string(),
            name: name.to_string(),
            addresses,
            agent_version: env!("CARGO_PKG_VERSION").to_string(),
            capabilities: capabilities(),
            apps,
        }
    }

    /// The outbox message to the registrar at `url` (its base, without `/v1`).
    pub fn message(&self, url: &str, token: Option<&str>) -> Message {
        post_json("registration", &format!("{url}/v1/agents"), token, self)
    }
}

impl Beat {
    /// Beat number `seq` of this instance now, with its apps.
    pub fn new(instance_uuid: &str, seq: u64, apps: Vec<AppStatus>) -> Self {
        Beat {
            protocol: PROTOCOL_VERSION,
            instance_uuid: instance_uuid.to_string(),
            seq,
            time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            apps,
        }
    }

    /// The message to the registrar at `url` (sent once, not through the outbox).
    pub fn message(&self, url: &str, token: Option<&str>) -> Message {
        let beats = format!("{url}/v1/agents/{}/beats", self.instance_uuid);
        post_json("health beat", &beats, token, self)
    }
}

/// A JSON POST with the registrar's token as `X-Auth-Token`.
fn post_json<T: Serialize>(what: &str, url: &str, token: Option<&str>, body: &T) -> Message {
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

/// What this agent can do (the deployment groups and builders it supports).
pub fn capabilities() -> Vec<String> {
    [
        "group:solum",
        "group:script",
        "build:buildpack",
        "build:dockerfile",
        "build:langpack",
        "signal:CFN_SIGNAL",
        "signal:TEMP_URL_SIGNAL",
        "signal:HEAT_SIGNAL",
        "signal:NO_SIGNAL",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}
