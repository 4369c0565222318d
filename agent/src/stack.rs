//! The buildpack stack images, made locally because there is no registry to pull them from:
//! `solum/stack-build:<release>` (compile happens here) and `solum/stack-run:<release>` (apps
//! run here). Made from Debian with mmdebstrap/debootstrap and imported into the engine.

use bollard::Docker;

use crate::build::LogFn;
use crate::config::StackConfig;

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("{0}")]
    Other(String),
}

/// Makes both stack images unless they exist (or always, with `force`). Returns nothing on
/// success; the image names are those of `cfg`.
pub async fn build(
    docker: &Docker,
    cfg: &StackConfig,
    force: bool,
    log: LogFn,
) -> Result<(), StackError> {
    let _ = (docker, cfg, force, log);
    unimplemented!("stack::build")
}
