//! POLL_SERVER_HEAT: a Keystone token for the stack user, then
//! `GET {heat}/stacks/{stack_name}/{stack_id}/resources/{resource}/metadata`, whose answer is
//! `{"metadata": <document>}`.

use serde_json::Value;

use super::keystone::{self, User};
use super::{CollectError, Poll};
use crate::heat::document::{HeatSource, MAX_DOCUMENT_BYTES};
use crate::metadata::http::{read_limited, without_url};

pub struct HeatCollector {
    source: HeatSource,
}

impl HeatCollector {
    pub fn new(source: HeatSource) -> Self {
        HeatCollector { source }
    }

    pub fn name(&self) -> String {
        format!(
            "heat {}/{}",
            self.source.stack_id, self.source.resource_name
        )
    }

    pub async fn poll(&mut self, client: &reqwest::Client) -> Result<Poll, CollectError> {
        let name = self.name();
        let s = &self.source;
        let token = keystone::password_token(
            client,
            &s.auth_url,
            &User::Id(s.user_id.clone()),
            &s.password,
            &s.project_id,
        )
        .await?;
        let heat = keystone::endpoint(
            &token.catalog,
            "orchestration",
            "public",
            s.region_name.as_deref(),
        )
        .ok_or_else(|| {
            CollectError::invalid(
                &name,
                "no public orchestration endpoint in the Keystone catalog",
            )
        })?;
        let url = format!(
            "{heat}/stacks/{}/resources/{}/metadata",
            s.stack_id, s.resource_name
        );
        let resp = client
            .get(&url)
            .header("X-Auth-Token", token.token.expose())
            .send()
            .await
            .map_err(|e| CollectError::unavailable(&name, without_url(&e)))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(CollectError::unavailable(&name, format!("HTTP {status}")));
        }
        let body = read_limited(resp, MAX_DOCUMENT_BYTES, &name)
            .await
            .map_err(|e| CollectError::unavailable(&name, e.to_string()))?;
        let v = super::parse_json(&name, "answer", &body)?;
        match v.get("metadata") {
            Some(doc @ Value::Object(_)) => Ok(Poll::Document(doc.clone())),
            _ => Err(CollectError::invalid(
                &name,
                "answer has no `metadata` object",
            )),
        }
    }
}
