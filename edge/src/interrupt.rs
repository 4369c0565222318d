//! SIGINT, SIGTERM and SIGHUP, the same way for every command of both binaries: the first one
//! is recorded (`received()`) and `requested()` completes, so whatever runs can stop its
//! children and unwind (its temporary directories are removed by their guards) instead of
//! dying with children orphaned. The agent listens with tokio (`install`), the image builder,
//! which is synchronous, with a plain handler (`install_flag`); both record in the same place,
//! which `cmd`'s runner watches. `ChildGroup` is the other half: a child started in its own
//! process group is stopped with that whole group, gracefully first (a bootstrapper gets to
//! unmount what it mounted).

use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::watch;

static RECEIVED: AtomicI32 = AtomicI32::new(0);
/// Children that are stopped gracefully (SIGTERM, time to clean up) running now.
static GRACEFUL: AtomicUsize = AtomicUsize::new(0);
static CHANNEL: OnceLock<watch::Receiver<i32>> = OnceLock::new();

/// Starts listening for SIGINT, SIGTERM and SIGHUP (once; later calls do nothing). Needs a
/// tokio runtime.
pub fn install() {
    CHANNEL.get_or_init(|| {
        let (tx, rx) = watch::channel(0);
        use tokio::signal::unix::{signal, SignalKind};
        for kind in [
            SignalKind::interrupt(),
            SignalKind::terminate(),
            SignalKind::hangup(),
        ] {
            let tx = tx.clone();
            match signal(kind) {
                Ok(mut s) => {
                    tokio::spawn(async move {
                        if s.recv().await.is_some() {
                            let n = kind.as_raw_value();
                            let _ =
                                RECEIVED.compare_exchange(0, n, Ordering::SeqCst, Ordering::SeqCst);
                            let _ = tx.send(n);
                        }
                    });
                }
                Err(e) => tracing::warn!("cannot handle signal {}: {e}", kind.as_raw_value()),
            }
        }
        rx
    });
}

extern "C" fn on_signal(sig: libc::c_int) {
    let _ = RECEIVED.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
}

/// For a program without a tokio runtime: SIGINT, SIGTERM and SIGHUP only recorded (for
/// `received()`), never fatal. Children get the terminal's SIGINT themselves and fail; the
/// program then unwinds.
pub fn install_flag() {
    let handler = on_signal as extern "C" fn(libc::c_int);
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only does an atomic compare-exchange (async-signal-safe).
        unsafe {
            libc::signal(sig, handler as libc::sighandler_t);
        }
    }
}

/// Completes with the signal's number once `received()` has one, however the handlers were
/// installed (polled: for waits that are short next to a program's life, like a child's).
pub async fn received_async() -> i32 {
    loop {
        if let Some(n) = received() {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The first signal received, if one was.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        n => Some(n),
    }
}

/// Completes with the signal's number once SIGINT, SIGTERM or SIGHUP has arrived (installing
/// the handlers if that was not done).
pub async fn requested() -> i32 {
    install();
    let Some(rx) = CHANNEL.get() else {
        return std::future::pending().await;
    };
    let mut rx = rx.clone();
    let n = match rx.wait_for(|n| *n != 0).await {
        Ok(n) => *n,
        // The senders live as long as their tasks, which never end: wait forever.
        Err(_) => return std::future::pending().await,
    };
    n
}

/// Whether a child that is stopped gracefully (a bootstrapper) is running: the command then
/// gets time to stop it before it is dropped.
pub fn graceful_children() -> bool {
    GRACEFUL.load(Ordering::SeqCst) > 0
}

/// Counts a gracefully stopped child for `graceful_children` while it lives.
pub struct Graceful(());

impl Graceful {
    pub fn new() -> Graceful {
        GRACEFUL.fetch_add(1, Ordering::SeqCst);
        Graceful(())
    }
}

impl Default for Graceful {
    fn default() -> Self {
        Graceful::new()
    }
}

impl Drop for Graceful {
    fn drop(&mut self) {
        GRACEFUL.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A child started in its own process group (`process_group(0)`). Dropped while armed, the
/// whole group gets SIGKILL: a cancelled future leaves no process behind.
pub struct ChildGroup {
    pgid: Option<libc::pid_t>,
}

impl ChildGroup {
    /// The group led by the child `pid` (None when the child is already gone).
    pub fn new(pid: Option<u32>) -> ChildGroup {
        ChildGroup {
            pgid: pid.map(|p| p as libc::pid_t),
        }
    }

    /// Sends `sig` to every process of the group.
    pub fn signal(&self, sig: i32) {
        if let Some(pgid) = self.pgid {
            // SAFETY: kill has no memory preconditions; -pgid names our child's own group.
            unsafe { libc::kill(-pgid, sig) };
        }
    }

    /// Stops the group: SIGTERM, then, if `wait` has not completed within `grace`, SIGKILL
    /// and `wait` again. `wait` is the child's own wait (and its output pumps).
    pub async fn stop<F: std::future::Future + Unpin>(&mut self, wait: &mut F, grace: Duration) {
        self.signal(libc::SIGTERM);
        if tokio::time::timeout(grace, &mut *wait).await.is_err() {
            self.signal(libc::SIGKILL);
            let _ = wait.await;
        }
        // Stragglers that outlived the leader.
        self.signal(libc::SIGKILL);
        self.pgid = None;
    }

    /// The child ended by itself: nothing to kill on drop.
    pub fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for ChildGroup {
    fn drop(&mut self) {
        self.signal(libc::SIGKILL);
    }
}
