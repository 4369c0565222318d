//! Process-wide isolation for a build: a private mount namespace (so no
//! mount can outlive the process or leak to the host) and an interrupt flag
//! so Ctrl-C unwinds through the mount guards instead of killing us.

/// Entering the namespace failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot make a private mount namespace ({what}): {source} (the builder needs root)")]
pub struct NamespaceError {
    what: &'static str,
    source: std::io::Error,
}

/// unshare(CLONE_NEWNS) and make every mount private. Call while the
/// process is single-threaded (at the start of main).
pub fn enter_private_mount_namespace() -> Result<(), NamespaceError> {
    solum_edge::cmd::private_mount_namespace()
        .map_err(|(what, source)| NamespaceError { what, source })
}

/// Catch SIGINT/SIGTERM/SIGHUP: record them instead of dying
/// (`solum_edge::interrupt::install_flag`). Children get the terminal's
/// SIGINT themselves and fail; the builder then unwinds.
pub fn install_interrupt_handler() {
    solum_edge::interrupt::install_flag();
}

/// Whether an interrupt arrived.
pub fn interrupted() -> bool {
    solum_edge::interrupt::received().is_some()
}
