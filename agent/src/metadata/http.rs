//! The one retrying HTTP GET every metadata fetch uses (Afterburn's policy): 1 s doubling to a
//! 5 s cap, a bounded number of tries, 404 = absent, 5xx and connection errors retried, other
//! statuses final. Bodies are read with a size limit. URLs are never logged with their query
//! (TempURL signatures live there).

use std::time::Duration;

use super::MetadataError;

#[derive(Debug, Clone)]
pub struct Retry {
    pub tries: u32,
    pub first: Duration,
    pub cap: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            tries: 10,
            first: Duration::from_secs(1),
            cap: Duration::from_secs(5),
        }
    }
}

impl Retry {
    /// The pause after failed try number `n` (0-based).
    pub fn pause(&self, n: u32) -> Duration {
        self.first.saturating_mul(1 << n.min(16)).min(self.cap)
    }
}

/// A URL fit for logs: no userinfo, no query.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_password(None);
            let _ = u.set_username("");
            let had_query = u.query().is_some();
            u.set_query(None);
            let mut s = u.to_string();
            if had_query {
                s.push_str("?...");
            }
            s
        }
        Err(_) => "<unparsable URL>".into(),
    }
}

/// GETs `url`; `Ok(None)` on 404.
pub async fn get_optional(
    client: &reqwest::Client,
    url: &str,
    retry: &Retry,
    limit: usize,
) -> Result<Option<Vec<u8>>, MetadataError> {
    let shown = redact(url);
    let mut last = String::new();
    for n in 0..retry.tries.max(1) {
        if n > 0 {
            tokio::time::sleep(retry.pause(n - 1)).await;
        }
        match client.get(url).send().await {
            Ok(resp) => {
                let status = resp.status();
                if status == reqwest::StatusCode::NOT_FOUND {
                    return Ok(None);
                }
                if status.is_success() {
                    return read_limited(resp, limit, &shown).await.map(Some);
                }
                last = format!("HTTP {status}");
                if !status.is_server_error() {
                    break;
                }
            }
            Err(e) => last = without_url(&e),
        }
        tracing::debug!("GET {shown}: {last} (try {})", n + 1);
    }
    Err(MetadataError::Unavailable {
        origin: shown,
        message: last,
    })
}

/// Reads a response body, refusing more than `limit` bytes.
pub async fn read_limited(
    mut resp: reqwest::Response,
    limit: usize,
    shown: &str,
) -> Result<Vec<u8>, MetadataError> {
    let too_big = || MetadataError::Unavailable {
        origin: shown.into(),
        message: format!("answer over the {limit} byte limit"),
    };
    if resp.content_length().is_some_and(|n| n as usize > limit) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| MetadataError::Unavailable {
        origin: shown.into(),
        message: without_url(&e),
    })? {
        if body.len() + chunk.len() > limit {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// reqwest's message without the URL its top-level message embeds: the kind of failure and
/// the chain of causes below it.
pub fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "bad answer body"
    } else {
        "request failed"
    };
    let mut msg = kind.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg = format!("{msg}: {text}");
        }
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap() {
        let r = Retry::default();
        let pauses: Vec<u64> = (0..5).map(|n| r.pause(n).as_secs()).collect();
        assert_eq!(pauses, vec![1, 2, 4, 5, 5]);
    }

    #[test]
    fn redaction_drops_credentials_and_query() {
        assert_eq!(
            redact("http://u:p@h:8080/v1/x?temp_url_sig=abc"),
            "http://h:8080/v1/x?..."
        );
        assert_eq!(
            redact("http://169.254.169.254/openstack/latest/meta_data.json"),
            "http://169.254.169.254/openstack/latest/meta_data.json"
        );
        assert_eq!(redact("not a url"), "<unparsable URL>");
    }
}
