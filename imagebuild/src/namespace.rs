//! Process-wide isolation for a build: a private mount namespace (so no
//! mount can outlive the process or leak to the host) and an interrupt flag
//! so Ctrl-C unwinds through the mount guards instead of killing us.

use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

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
    // SAFETY: plain syscalls with valid arguments; no memory is shared.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNS) };
    if rc != 0 {
        return Err(NamespaceError {
            what: "unshare",
            source: std::io::Error::last_os_error(),
        });
    }
    let root = c"/";
    let none = c"none";
    // SAFETY: NUL-terminated static strings; null data is allowed.
    let rc = unsafe {
        libc::mount(
            none.as_ptr(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(NamespaceError {
            what: "mount --make-rprivate /",
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Catch SIGINT/SIGTERM/SIGHUP: set a flag instead of dying. Children get
/// the terminal's SIGINT themselves and fail; the builder then unwinds.
pub fn install_interrupt_handler() {
    let handler = on_signal as extern "C" fn(libc::c_int);
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic (async-signal-safe).
        unsafe {
            libc::signal(sig, handler as libc::sighandler_t);
        }
    }
}

/// Whether an interrupt arrived.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}
