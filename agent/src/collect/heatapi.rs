//! POLL_SERVER_HEAT: a Keystone token for the stack user, then
//! `GET {heat}/stacks/{stack_name}/{stack_id}/resources/{resource}/metadata`, whose answer is
//! `{"metadata": <document>}`.
//!
//! The token and Heat's endpoint are kept until shortly before the token expires
//! (`keystone::reuse_for`), so a poll is one GET: a password authentication costs Keystone a
//! password hash and a new token, and Heat's keystonemiddleware validates a new token with
//! Keystone where it validates a known one from its cache. Heat's API answers no conditional
//! request (no ETag, no Last-Modified, no HEAD route), so the GET is the cheapest poll there is.
//! A 401 for a kept token (revoked, expired early) is answered by one new authentication and
//! one more GET in the same poll.

use serde_json::Value;
use tokio::time::Instant;

use super::{CollectError, Poll};
use crate::heat::document::{HeatSource, MAX_DOCUMENT_BYTES};
use crate::planfile::Secret;
use solum_edge::http::{read_limited, without_url};
use solum_edge::keystone::{self, Auth, Project, User};

pub struct HeatCollector {
    source: HeatSource,
    session: Option<Session>,
}

/// A token and the metadata URL it found in the catalog.
struct Session {
    token: Secret,
    url: String,
    until: Instant,
}

enum Fetched {
    Document(Value),
    /// Heat refused the token (401).
    Refused,
}

impl HeatCollector {
    pub fn new(source: HeatSource) -> Self {
        HeatCollector {
            source,
            session: None,
        }
    }

    pub fn name(&self) -> String {
        format!(
            "heat {}/{}",
            self.source.stack_id, self.source.resource_name
        )
    }

    pub async fn poll(&mut self, client: &reqwest::Client) -> Result<Poll, CollectError> {
        let name = self.name();
        let now = Instant::now();
        if let Some(session) = self.session.as_ref().filter(|s| now < s.until) {
            // A failure to reach Heat keeps the token for the next poll.
            if let Fetched::Document(doc) = fetch(client, session, &name).await? {
                return Ok(Poll::Document(doc));
            }
            tracing::info!("{name}: Heat refused the kept Keystone token; authenticating again");
        }
        self.session = None;
        let session = self.authenticate(client).await?;
        match fetch(client, &session, &name).await? {
            Fetched::Document(doc) => {
                self.session = Some(session);
                Ok(Poll::Document(doc))
            }
            Fetched::Refused => Err(CollectError::unavailable(
                &name,
                "HTTP 401 Unauthorized for a new token",
            )),
        }
    }

    async fn authenticate(&self, client: &reqwest::Client) -> Result<Session, CollectError> {
        let name = self.name();
        let s = &self.source;
        let asked = Instant::now();
        let auth = Auth::Password {
            user: User::Id(s.user_id.clone()),
            password: s.password.expose().to_string(),
            project: Some(Project::Id(s.project_id.clone())),
        };
        let token = keystone::authenticate(client, &s.auth_url, &auth).await?;
        let heat = token
            .endpoint("orchestration", "public", s.region_name.as_deref())
            .ok_or_else(|| {
                CollectError::invalid(
                    &name,
                    "no public orchestration endpoint in the Keystone catalog",
                )
            })?;
        // Timed from the request, not the answer: the token may be older than it looks.
        let reuse = token.lifetime.map(keystone::reuse_for).unwrap_or_default();
        match token.lifetime {
            Some(_) => tracing::info!(
                "{name}: a new Keystone token, kept for {} s",
                reuse.as_secs()
            ),
            None => tracing::info!(
                "{name}: a new Keystone token without issued_at/expires_at: not kept"
            ),
        }
        Ok(Session {
            token: Secret(token.token),
            url: format!(
                "{heat}/stacks/{}/resources/{}/metadata",
                s.stack_id, s.resource_name
            ),
            until: asked + reuse,
        })
    }
}

async fn fetch(
    client: &reqwest::Client,
    session: &Session,
    name: &str,
) -> Result<Fetched, CollectError> {
    let resp = client
        .get(&session.url)
        .header("X-Auth-Token", session.token.expose())
        .send()
        .await
        .map_err(|e| CollectError::unavailable(name, without_url(&e)))?;
    let status = resp.status();
    if status == reqwest::StatusCode::UNAUTHORIZED {
        return Ok(Fetched::Refused);
    }
    if !status.is_success() {
        return Err(CollectError::unavailable(name, format!("HTTP {status}")));
    }
    let body = read_limited(resp, MAX_DOCUMENT_BYTES, name)
        .await
        .map_err(|e| CollectError::unavailable(name, e.to_string()))?;
    let v = super::parse_json(name, "answer", &body)?;
    match v.get("metadata") {
        Some(doc @ Value::Object(_)) => Ok(Fetched::Document(doc.clone())),
        _ => Err(CollectError::invalid(
            name,
            "answer has no `metadata` object",
        )),
    }
}
