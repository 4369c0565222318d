//! The supervisor's TCP proxy: one listener per public socket, each accepted connection
//! piped (both directions, half-close kept) to the private port of the listener's current
//! upstream container. Retargeting a listener only affects new connections; established
//! ones drain on their own.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::Docker;
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::containers;
use super::routes::Upstream;

/// How long a new connection may wait for its upstream (e.g. a container being restarted).
const UPSTREAM_PATIENCE: Duration = Duration::from_secs(2);
const RETRY_PAUSE: Duration = Duration::from_millis(100);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Connection counters of one listener.
#[derive(Debug, Default)]
pub struct Stats {
    pub active: AtomicU64,
    pub total: AtomicU64,
    /// Connections dropped because no upstream answered in time.
    pub failed: AtomicU64,
}

/// A snapshot of connection counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnCounts {
    pub active: u64,
    pub total: u64,
    pub failed: u64,
}

impl Stats {
    fn snapshot(&self) -> ConnCounts {
        ConnCounts {
            active: self.active.load(Ordering::Relaxed),
            total: self.total.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }
}

struct Target {
    upstream: Upstream,
    /// Host port last resolved for the upstream (invalidated after a failed connect).
    host_port: Option<u16>,
}

struct Shared {
    docker: Docker,
    target: Mutex<Target>,
    stats: Stats,
}

struct Listener {
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

/// All public listeners of the supervisor.
pub struct Proxy {
    docker: Docker,
    listeners: HashMap<SocketAddr, Listener>,
}

impl Proxy {
    pub fn new(docker: Docker) -> Proxy {
        Proxy {
            docker,
            listeners: HashMap::new(),
        }
    }

    /// Binds `addr` and starts accepting for `upstream`.
    pub async fn open(&mut self, addr: SocketAddr, upstream: Upstream) -> std::io::Result<()> {
        if self.listeners.contains_key(&addr) {
            self.retarget(addr, upstream);
            return Ok(());
        }
        let listener = TcpListener::bind(addr).await?;
        let shared = Arc::new(Shared {
            docker: self.docker.clone(),
            target: Mutex::new(Target {
                upstream,
                host_port: None,
            }),
            stats: Stats::default(),
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        self.listeners.insert(addr, Listener { shared, accept });
        Ok(())
    }

    /// Points new connections of `addr` at `upstream`.
    pub fn retarget(&mut self, addr: SocketAddr, upstream: Upstream) {
        if let Some(l) = self.listeners.get(&addr) {
            let mut t = lock(&l.shared.target);
            if t.upstream != upstream {
                *t = Target {
                    upstream,
                    host_port: None,
                };
            }
        }
    }

    /// Stops accepting on `addr` (the socket closes; established connections go on).
    pub fn close(&mut self, addr: SocketAddr) {
        if let Some(l) = self.listeners.remove(&addr) {
            l.accept.abort();
            let c = l.shared.stats.snapshot();
            tracing::info!(
                "closed listener {addr} ({} connections still open drain on their own)",
                c.active
            );
        }
    }

    pub fn is_open(&self, addr: SocketAddr) -> bool {
        self.listeners.contains_key(&addr)
    }

    /// Connection counters of a listener.
    pub fn counts(&self, addr: SocketAddr) -> Option<ConnCounts> {
        self.listeners.get(&addr).map(|l| l.shared.stats.snapshot())
    }

    /// Connection counters summed per app (over the app's listeners).
    pub fn counts_by_app(&self) -> BTreeMap<String, ConnCounts> {
        let mut out: BTreeMap<String, ConnCounts> = BTreeMap::new();
        for l in self.listeners.values() {
            let app = lock(&l.shared.target).upstream.app.clone();
            let c = l.shared.stats.snapshot();
            let e = out.entry(app).or_default();
            e.active += c.active;
            e.total += c.total;
            e.failed += c.failed;
        }
        out
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        for l in self.listeners.values() {
            l.accept.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((client, _)) => {
                let _ = client.set_nodelay(true);
                shared.stats.total.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(serve(client, shared.clone()));
            }
            Err(e) => {
                // EMFILE and friends: back off a little instead of spinning.
                tracing::warn!("accept on {:?}: {e}", listener.local_addr().ok());
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
    }
}

struct ActiveGuard<'a>(&'a AtomicU64);

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn serve(mut client: TcpStream, shared: Arc<Shared>) {
    shared.stats.active.fetch_add(1, Ordering::Relaxed);
    let _guard = ActiveGuard(&shared.stats.active);
    let Some(mut upstream) = connect_upstream(&shared).await else {
        shared.stats.failed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let _ = upstream.set_nodelay(true);
    // Errors here are resets by one side; nothing to do but close both.
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

/// Connects to the current upstream, re-resolving its host port after a failure and retrying
/// (the target may also change meanwhile, e.g. during a switch) for a short while.
async fn connect_upstream(shared: &Shared) -> Option<TcpStream> {
    let deadline = Instant::now() + UPSTREAM_PATIENCE;
    loop {
        let (upstream, cached) = {
            let t = lock(&shared.target);
            (t.upstream.clone(), t.host_port)
        };
        let port = match cached {
            Some(p) => Some(p),
            None => resolve(&shared.docker, &upstream).await,
        };
        if let Some(port) = port {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            if let Ok(Ok(stream)) =
                tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await
            {
                let mut t = lock(&shared.target);
                if t.upstream == upstream {
                    t.host_port = Some(port);
                }
                return Some(stream);
            }
            let mut t = lock(&shared.target);
            if t.upstream == upstream && t.host_port == Some(port) {
                t.host_port = None;
            }
        }
        if Instant::now() >= deadline {
            tracing::warn!(
                "no upstream for {} ({}:{}) within {} s: connection dropped",
                upstream.app,
                upstream.container,
                upstream.container_port,
                UPSTREAM_PATIENCE.as_secs()
            );
            return None;
        }
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}

async fn resolve(docker: &Docker, upstream: &Upstream) -> Option<u16> {
    let info = containers::inspect(docker, &upstream.container)
        .await
        .ok()?;
    containers::published_port(&info, upstream.container_port)
}
