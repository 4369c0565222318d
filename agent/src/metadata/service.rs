//! The Nova metadata service (`http://169.254.169.254` unless configured): the same
//! `openstack/latest` tree as the config drive, fetched with the shared retry policy.

use std::collections::BTreeMap;

use super::{from_files, MetadataError, NovaMetadata, MAX_FILE_BYTES};
use solum_edge::http::{get_optional, Retry};
use solum_edge::redact;

pub const DEFAULT_URL: &str = "http://169.254.169.254";

const FILES: [&str; 5] = [
    "meta_data.json",
    "user_data",
    "vendor_data.json",
    "vendor_data2.json",
    "network_data.json",
];

/// Fetches and parses the tree under `base_url`.
pub async fn read(
    client: &reqwest::Client,
    base_url: &str,
    retry: &Retry,
) -> Result<NovaMetadata, MetadataError> {
    let base = base_url.trim_end_matches('/');
    let origin = format!("metadata service {}", redact::url(base));
    let mut files = BTreeMap::new();
    // meta_data.json first: if the service is not there, say so once, without trying the rest.
    for name in FILES {
        let body = get_optional(
            client,
            &format!("{base}/openstack/latest/{name}"),
            retry,
            MAX_FILE_BYTES,
        )
        .await?;
        if name == "meta_data.json" && body.is_none() {
            return Err(MetadataError::Unavailable {
                origin,
                message: "no openstack/latest/meta_data.json (HTTP 404)".into(),
            });
        }
        files.insert(name, body);
    }
    from_files(&origin, |name| Ok(files.remove(name).flatten()))
}
