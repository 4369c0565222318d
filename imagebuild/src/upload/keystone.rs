//! Keystone for the upload: a token (by `solum_edge::keystone`, the one Keystone client) and
//! the image service's URL from its catalog or `image_endpoint_override`.

use super::config::CloudConfig;
use super::UploadError;
use solum_edge::keystone::{self, KeystoneError};

/// A token and the image service's URL.
pub struct Session {
    pub token: String,
    pub image_url: String,
}

/// Get a token; find the image endpoint.
pub async fn authenticate(
    client: &reqwest::Client,
    cfg: &CloudConfig,
) -> Result<Session, UploadError> {
    let token = keystone::authenticate(client, &cfg.auth_url, &cfg.auth)
        .await
        .map_err(|e| match e {
            KeystoneError::Unreachable { url, message } => UploadError::Unreachable {
                service: "Keystone",
                url,
                msg: message,
            },
            KeystoneError::Refused { url, who, status } => UploadError::Auth(format!(
                "Keystone at {url} refused the credentials of {who} from {} ({status})",
                cfg.source
            )),
            KeystoneError::Http { url, status, body } => UploadError::Http {
                what: format!("POST {url}"),
                status,
                body,
            },
            KeystoneError::Protocol { .. } => UploadError::Protocol(e.to_string()),
        })?;
    let image_url = cfg
        .image_endpoint_override
        .clone()
        .or_else(|| token.endpoint("image", &cfg.interface, cfg.region.as_deref()))
        .ok_or_else(|| {
            UploadError::Protocol(format!(
                "the catalog of {} has no image endpoint with interface {}{}",
                cfg.auth_url,
                cfg.interface,
                cfg.region
                    .as_deref()
                    .map(|r| format!(" in region {r}"))
                    .unwrap_or_default()
            ))
        })?;
    Ok(Session {
        token: token.token,
        image_url,
    })
}
