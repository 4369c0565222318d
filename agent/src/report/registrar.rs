//! Self-registration and health beats (the protocol is documented in docs/registrar.md).
//! Payloads are pure functions of the agent's view; sending reuses the outbox for the
//! registration (it must arrive) and sends beats directly (a lost beat is replaced by the next).

use serde::Serialize;

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
