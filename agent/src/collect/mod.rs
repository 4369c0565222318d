//! Heat's polling transports, one module each: `request` (Swift TempURL), `cfn`
//! (DescribeStackResource, EC2 signature v2), `heatapi` (a Keystone v3 token from
//! `solum_edge::keystone`, then the resource metadata API) and `local` (a directory of JSON
//! files). Each only fetches and parses, and says whether the document changed since its last
//! poll ([`Poll`]); the daemon's `sources` keeps them and its `schedule` times the polls.

pub mod cfn;
pub mod heatapi;
pub mod local;
pub mod request;

use serde_json::Value;
use solum_limits::json::JsonError;

/// Sends `request` for the source `name`: a transport error (its URL left out) or a status
/// other than 2xx makes the source unavailable.
async fn send_ok(
    request: reqwest::RequestBuilder,
    name: &str,
) -> Result<reqwest::Response, CollectError> {
    let resp = request
        .send()
        .await
        .map_err(|e| CollectError::unavailable(name, solum_edge::http::without_url(&e)))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(CollectError::unavailable(name, format!("HTTP {status}")));
    }
    Ok(resp)
}

/// The result of one poll of one source.
#[derive(Debug, Clone, PartialEq)]
pub enum Poll {
    /// The source says nothing changed (conditional request, same Last-Modified, same bytes).
    Unchanged,
    /// A (possibly) new document.
    Document(Value),
}

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// The source is configured wrongly or answered nonsense: retrying will not help soon.
    #[error("{source_name}: {message}")]
    Invalid {
        source_name: String,
        message: String,
    },
    /// The source could not be reached or failed; it is retried with backoff.
    #[error("{source_name}: {message}")]
    Unavailable {
        source_name: String,
        message: String,
    },
}

impl CollectError {
    pub fn invalid(source_name: &str, message: impl Into<String>) -> Self {
        CollectError::Invalid {
            source_name: source_name.into(),
            message: message.into(),
        }
    }

    pub fn unavailable(source_name: &str, message: impl Into<String>) -> Self {
        CollectError::Unavailable {
            source_name: source_name.into(),
            message: message.into(),
        }
    }
}

/// Keystone's refusals and nonsense are not retried soon; the rest is.
impl From<solum_edge::keystone::KeystoneError> for CollectError {
    fn from(e: solum_edge::keystone::KeystoneError) -> Self {
        use solum_edge::keystone::KeystoneError as K;
        match e {
            K::Refused { .. } | K::Protocol { .. } => {
                CollectError::invalid("keystone", e.to_string())
            }
            K::Unreachable { .. } | K::Http { .. } => {
                CollectError::unavailable("keystone", e.to_string())
            }
        }
    }
}

/// Parses a metadata document body: a JSON object, at most `heat::document::MAX_DOCUMENT_BYTES`.
pub fn parse_document(source_name: &str, bytes: &[u8]) -> Result<Value, CollectError> {
    if bytes.len() > crate::heat::document::MAX_DOCUMENT_BYTES {
        return Err(CollectError::invalid(
            source_name,
            format!("document of {} bytes is over the 16 MiB limit", bytes.len()),
        ));
    }
    match parse_json(source_name, "document", bytes)? {
        v @ Value::Object(_) => Ok(v),
        _ => Err(CollectError::invalid(
            source_name,
            "document is not a JSON object",
        )),
    }
}

/// Parses a JSON body within `heat::document::BUDGET`; `what` names it in messages.
pub fn parse_json(source_name: &str, what: &str, bytes: &[u8]) -> Result<Value, CollectError> {
    solum_limits::json::from_slice(bytes, &crate::heat::document::BUDGET).map_err(|e| match e {
        JsonError::Budget(e) => CollectError::invalid(source_name, format!("{what} refused: {e}")),
        JsonError::Parse(e) => {
            CollectError::invalid(source_name, format!("{what} is not JSON: {e}"))
        }
    })
}
