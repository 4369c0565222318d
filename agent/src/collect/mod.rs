//! Heat's polling transports, one module each, behind one enum (`Collector`): `request`
//! (Swift TempURL), `cfn` (DescribeStackResource, EC2 signature v2), `heat` (Keystone v3 then
//! the resource metadata API), `local` (a directory of JSON files) and `cfninit` (the boot-time
//! `/var/lib/heat-cfntools/cfn-init-data`). Each only fetches and parses, and says whether the
//! document changed since its last poll; the poller (`poll`) schedules them.

pub mod cfn;
pub mod heatapi;
pub mod keystone;
pub mod local;
pub mod request;

use serde_json::Value;

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

/// Parses a metadata document body: a JSON object, at most `heat::document::MAX_DOCUMENT_BYTES`.
pub fn parse_document(source_name: &str, bytes: &[u8]) -> Result<Value, CollectError> {
    if bytes.len() > crate::heat::document::MAX_DOCUMENT_BYTES {
        return Err(CollectError::invalid(
            source_name,
            format!("document of {} bytes is over the 16 MiB limit", bytes.len()),
        ));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(CollectError::invalid(
            source_name,
            "document is not a JSON object",
        )),
        Err(e) => Err(CollectError::invalid(
            source_name,
            format!("document is not JSON: {e}"),
        )),
    }
}
