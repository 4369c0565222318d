//! Nova's metadata at start-up, off the daemon's critical path. A server Heat booted through
//! Nova has a config drive or a metadata service; a deployed server (`OS::Heat::DeployedServer`,
//! a laptop, bare metal) has neither, and its transport comes from local-data,
//! `/etc/os-collect-config.conf` or the agent's configuration. So the drive and the service are
//! tried in a background task while the local sources are already polled; what Nova says (the
//! instance, the registrar and wait-condition keys in `meta`, Heat's `cfn-init-data` in the
//! user_data) is acted on when it arrives (`on_nova` in the daemon).

use std::path::Path;

use tokio::task::JoinHandle;

use super::RunOptions;
use crate::heat::cfninit;
use crate::metadata::{self, NovaMetadata};
use crate::state::write_atomic;

/// Reads Nova's metadata: the config drive when there is one, else the metadata service
/// (with `opts.metadata_retry`). None when neither answers.
pub async fn nova(opts: &RunOptions, client: &reqwest::Client) -> Option<NovaMetadata> {
    let drive = opts.config_drive.clone();
    let from_drive = tokio::task::spawn_blocking(move || {
        let drive = drive.or_else(metadata::configdrive::find_by_label)?;
        match metadata::configdrive::read(&drive) {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::warn!("{e}; trying the metadata service");
                None
            }
        }
    })
    .await
    .ok()
    .flatten();
    if from_drive.is_some() {
        return from_drive;
    }
    match metadata::service::read(client, &opts.metadata_url, &opts.metadata_retry).await {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::warn!(
                "no Nova metadata ({e}); going on with the local sources (local-data, cfn-init-data, os-collect-config.conf, the configuration)"
            );
            None
        }
    }
}

/// Starts `nova` in the background.
pub fn nova_in_background(
    opts: &RunOptions,
    client: &reqwest::Client,
) -> JoinHandle<Option<NovaMetadata>> {
    let (opts, client) = (opts.clone(), client.clone());
    tokio::spawn(async move { nova(&opts, &client).await })
}

/// Writes the `cfn-init-data` part of MIME user_data to `cfn_init_path` (0600), as
/// heat-cfntools would. Returns whether there was one.
pub fn write_cfn_init_data(nova: &NovaMetadata, cfn_init_path: &Path) -> std::io::Result<bool> {
    let Some(user_data) = &nova.user_data else {
        return Ok(false);
    };
    let part = match cfninit::cfn_init_data(user_data) {
        Ok(Some(p)) => p,
        Ok(None) => return Ok(false),
        Err(e) => {
            tracing::error!("{e}");
            return Ok(false);
        }
    };
    if std::fs::read(cfn_init_path).ok().as_deref() != Some(&part[..]) {
        write_atomic(cfn_init_path, &part)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(cfn_init_path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(true)
}
