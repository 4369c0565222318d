//! POLL_TEMP_URL: the document at a Swift TempURL. HEAD first; the GET happens only when
//! `Last-Modified` moved (or the server gives none), as os-collect-config's request collector.

use super::{parse_document, CollectError, Poll};
use crate::heat::document::{RequestSource, MAX_DOCUMENT_BYTES};
use solum_edge::http::{read_limited, without_url};
use solum_edge::redact;

pub struct RequestCollector {
    source: RequestSource,
    last_modified: Option<String>,
}

impl RequestCollector {
    pub fn new(source: RequestSource) -> Self {
        RequestCollector {
            source,
            last_modified: None,
        }
    }

    pub fn name(&self) -> String {
        format!("request {}", redact::url(self.source.metadata_url.expose()))
    }

    pub async fn poll(&mut self, client: &reqwest::Client) -> Result<Poll, CollectError> {
        let name = self.name();
        let url = self.source.metadata_url.expose();
        let head = client
            .head(url)
            .send()
            .await
            .map_err(|e| CollectError::unavailable(&name, without_url(&e)))?;
        let lm = header(&head, reqwest::header::LAST_MODIFIED);
        if head.status().is_success() && lm.is_some() && lm == self.last_modified {
            return Ok(Poll::Unchanged);
        }
        let resp = super::send_ok(client.get(url), &name).await?;
        let lm = header(&resp, reqwest::header::LAST_MODIFIED);
        let body = read_limited(resp, MAX_DOCUMENT_BYTES, &name)
            .await
            .map_err(|e| CollectError::unavailable(&name, e.to_string()))?;
        let doc = parse_document(&name, &body)?;
        self.last_modified = lm;
        Ok(Poll::Document(doc))
    }
}

fn header(resp: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}
