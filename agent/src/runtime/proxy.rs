//! The supervisor's TCP proxy: one listener per public socket, each accepted connection
//! piped (both directions, half-close kept) to the private port of one instance of the
//! listener's current upstream, chosen by `balance` among the instances in rotation; one that
//! refuses is left for the next. Retargeting a listener only affects new connections;
//! established ones drain on their own.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::Docker;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::balance::{self, Candidate};
use super::containers;
use super::routes::Upstream;

/// How long a new connection may wait for its upstream (e.g. a container being restarted).
const UPSTREAM_PATIENCE: Duration = Duration::from_secs(2);
const RETRY_PAUSE: Duration = Duration::from_millis(100);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Buffer per direction of a piped connection (tokio's default is 8 KiB).
const BUF: usize = 64 * 1024;
/// An instance that closes a connection on which the client sent nothing after this long is
/// closing an idle connection, not dying: the close is passed on, nothing retried.
const IDLE_CLOSE: Duration = Duration::from_secs(1);
/// Most client bytes kept for a replay on another instance (a request head and a small body).
const REPLAY_MAX: usize = 64 * 1024;

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

/// One web container behind the proxy, shared by all listeners of its app and by the
/// supervisor's health checks (which take it in and out of rotation).
#[derive(Debug)]
pub struct Backend {
    pub container: String,
    in_rotation: AtomicBool,
    active: AtomicU64,
    /// Connections it was given.
    total: AtomicU64,
}

impl Backend {
    fn new(container: &str) -> Backend {
        Backend {
            container: container.to_string(),
            // Routed instances were healthy when the agent routed them.
            in_rotation: AtomicBool::new(true),
            active: AtomicU64::new(0),
            total: AtomicU64::new(0),
        }
    }

    /// Takes the instance out of rotation (a failed health check or connect) or puts it back.
    pub fn set_in_rotation(&self, yes: bool) {
        let was = self.in_rotation.swap(yes, Ordering::Relaxed);
        if was != yes {
            tracing::info!(
                "{} {} rotation",
                self.container,
                if yes { "back in" } else { "out of" }
            );
        }
    }

    pub fn in_rotation(&self) -> bool {
        self.in_rotation.load(Ordering::Relaxed)
    }

    /// Connections open now and given so far.
    pub fn connections(&self) -> (u64, u64) {
        (
            self.active.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }
}

struct Slot {
    backend: Arc<Backend>,
    /// Address last resolved for the listener's container port (invalidated after a failed
    /// connect): no Docker call per connection. The container's own address on its network
    /// when it has one (no hop through Docker's port forwarder), else its published port.
    addr: Option<SocketAddr>,
}

struct Target {
    upstream: Upstream,
    slots: Vec<Slot>,
}

struct Shared {
    docker: Docker,
    target: Mutex<Target>,
    stats: Stats,
    /// Moves the tie-break start of the instance choice (round robin among equals).
    turn: AtomicUsize,
}

struct Listener {
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

/// All public listeners of the supervisor.
pub struct Proxy {
    docker: Docker,
    listeners: HashMap<SocketAddr, Listener>,
    backends: HashMap<String, Arc<Backend>>,
}

impl Proxy {
    pub fn new(docker: Docker) -> Proxy {
        Proxy {
            docker,
            listeners: HashMap::new(),
            backends: HashMap::new(),
        }
    }

    /// The backend of a container (made on first use; kept while routes name it).
    pub fn backend(&mut self, container: &str) -> Arc<Backend> {
        self.backends
            .entry(container.to_string())
            .or_insert_with(|| Arc::new(Backend::new(container)))
            .clone()
    }

    /// Forgets the backends of containers no route names any more.
    pub fn retain_backends(&mut self, keep: &std::collections::BTreeSet<String>) {
        self.backends.retain(|name, _| keep.contains(name));
    }

    fn target(&mut self, upstream: Upstream) -> Target {
        let slots = upstream
            .containers
            .iter()
            .map(|c| Slot {
                backend: self.backend(c),
                addr: None,
            })
            .collect();
        Target { upstream, slots }
    }

    /// Binds `addr` and starts accepting for `upstream`.
    pub async fn open(&mut self, addr: SocketAddr, upstream: Upstream) -> std::io::Result<()> {
        if self.listeners.contains_key(&addr) {
            self.retarget(addr, upstream);
            return Ok(());
        }
        let listener = TcpListener::bind(addr).await?;
        let target = self.target(upstream);
        let shared = Arc::new(Shared {
            docker: self.docker.clone(),
            target: Mutex::new(target),
            stats: Stats::default(),
            turn: AtomicUsize::new(0),
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        self.listeners.insert(addr, Listener { shared, accept });
        Ok(())
    }

    /// Points new connections of `addr` at `upstream`.
    pub fn retarget(&mut self, addr: SocketAddr, upstream: Upstream) {
        let Some(shared) = self.listeners.get(&addr).map(|l| l.shared.clone()) else {
            return;
        };
        if lock(&shared.target).upstream == upstream {
            return;
        }
        // Containers that stay keep their resolved addresses (a scale keeps serving at once).
        let mut new = self.target(upstream);
        let mut t = lock(&shared.target);
        for slot in &mut new.slots {
            slot.addr = t
                .slots
                .iter()
                .find(|s| Arc::ptr_eq(&s.backend, &slot.backend))
                .and_then(|s| s.addr);
        }
        *t = new;
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
    let mut attempt = Attempt::new();
    let mut sent: Vec<u8> = Vec::new();
    let mut client_done = false;
    let mut buf = vec![0u8; BUF];
    let mut silent = 0usize;
    // Until the instance's first byte: replay what the client sent on another instance when
    // this one closes or resets without a word (it was killed, or Docker's port forwarder
    // took the connection for a container that is gone).
    let (mut upstream, _backend) = loop {
        let Some((mut upstream, backend)) = connect_upstream(&shared, &mut attempt).await else {
            shared.stats.failed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let _ = upstream.set_nodelay(true);
        let connected = Instant::now();
        match first_answer(
            &mut client,
            &mut upstream,
            &mut sent,
            &mut client_done,
            &mut buf,
        )
        .await
        {
            First::Answered => break (upstream, backend),
            First::ClientGone => return,
            // Each instance once (one retry when there is only one: it may be back by then).
            // Not an idle connection the app closed after a while (nothing to replay then).
            First::Silent if !replay_is_safe(&sent) => {
                tracing::warn!(
                    "{} closed a connection without answering a request that is not idempotent: \
                     not sent again (it may have been processed); the client sees the close",
                    backend.backend.container
                );
                backend.backend.set_in_rotation(false);
                return;
            }
            First::Silent
                if sent.len() <= REPLAY_MAX
                    && silent < attempt.tried.len().max(2) - 1
                    && (!sent.is_empty() || connected.elapsed() < IDLE_CLOSE) =>
            {
                silent += 1;
                backend.backend.set_in_rotation(false);
                tracing::info!(
                    "{} closed a connection without answering: trying another instance",
                    backend.backend.container
                );
            }
            First::Silent => return,
        }
    };
    // Errors here are resets by one side; nothing to do but close both.
    if client_done {
        if tokio::io::copy(&mut upstream, &mut client).await.is_ok() {
            let _ = client.shutdown().await;
        }
    } else {
        let _ =
            tokio::io::copy_bidirectional_with_sizes(&mut client, &mut upstream, BUF, BUF).await;
    }
}

/// Whether the bytes a client sent may be sent again to another instance: not when they
/// start an HTTP request whose method is not idempotent (RFC 9110 9.2.2: POST, PATCH, LOCK,
/// CONNECT, any method it does not name), which the instance may have processed before it
/// died; nginx's `proxy_next_upstream` draws the same line. Anything else (no bytes, a
/// request line not complete yet, GET/HEAD/PUT/DELETE/OPTIONS/TRACE and WebDAV's idempotent
/// methods, bytes that are not HTTP such as a TLS handshake) may be.
fn replay_is_safe(sent: &[u8]) -> bool {
    const IDEMPOTENT: &[&[u8]] = &[
        b"GET",
        b"HEAD",
        b"OPTIONS",
        b"TRACE",
        b"PUT",
        b"DELETE",
        b"PROPFIND",
        b"PROPPATCH",
        b"MKCOL",
        b"COPY",
        b"MOVE",
        b"UNLOCK",
        b"SEARCH",
    ];
    let token_len = sent
        .iter()
        .take_while(|b| b.is_ascii_uppercase() || **b == b'-' || **b == b'_')
        .count();
    match sent.get(token_len) {
        // A method and its space: an HTTP request line.
        Some(b' ') if token_len > 0 => IDEMPOTENT.contains(&&sent[..token_len]),
        // Not HTTP (or not a method we know the shape of): the bytes decide nothing.
        Some(_) => true,
        // The method itself not complete yet: the instance cannot have acted on it.
        None => true,
    }
}

/// How the first exchange with an instance ended.
enum First {
    /// It sent its first bytes (already passed on to the client).
    Answered,
    /// It closed or reset without a byte.
    Silent,
    /// The client reset, or writing to it failed.
    ClientGone,
}

/// Sends `sent` (a replay) then whatever the client sends, until the instance answers.
/// Keeps the client's bytes in `sent` (up to `REPLAY_MAX` + one read) for a replay.
async fn first_answer(
    client: &mut TcpStream,
    upstream: &mut TcpStream,
    sent: &mut Vec<u8>,
    client_done: &mut bool,
    buf: &mut [u8],
) -> First {
    if !sent.is_empty() && upstream.write_all(sent).await.is_err() {
        return First::Silent;
    }
    if *client_done && upstream.shutdown().await.is_err() {
        return First::Silent;
    }
    let mut answer = [0u8; 4096];
    loop {
        tokio::select! {
            r = client.read(buf), if !*client_done => match r {
                Ok(0) => {
                    *client_done = true;
                    if upstream.shutdown().await.is_err() {
                        return First::Silent;
                    }
                }
                Ok(n) => {
                    if sent.len() <= REPLAY_MAX {
                        sent.extend_from_slice(&buf[..n]);
                    }
                    if upstream.write_all(&buf[..n]).await.is_err() {
                        return First::Silent;
                    }
                }
                Err(_) => return First::ClientGone,
            },
            r = upstream.read(&mut answer) => match r {
                Ok(0) | Err(_) => return First::Silent,
                Ok(n) => {
                    return match client.write_all(&answer[..n]).await {
                        Ok(()) => First::Answered,
                        Err(_) => First::ClientGone,
                    };
                }
            },
        }
    }
}

/// One instance in use by a connection: counted in its active connections until dropped.
struct InUse {
    backend: Arc<Backend>,
}

impl Drop for InUse {
    fn drop(&mut self) {
        self.backend.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The instances a connection tried, within its patience.
struct Attempt {
    deadline: Instant,
    tried: Vec<bool>,
    seen: Option<Upstream>,
}

impl Attempt {
    fn new() -> Attempt {
        Attempt {
            deadline: Instant::now() + UPSTREAM_PATIENCE,
            tried: Vec::new(),
            seen: None,
        }
    }
}

/// Connects to one of the current upstream's instances (`balance::choose`) not tried yet by
/// this connection: an instance that refuses is taken out of rotation and the next one tried
/// at once; when all were tried, a pause and another round, within the patience (the target
/// may change meanwhile, e.g. during a switch).
async fn connect_upstream(shared: &Shared, attempt: &mut Attempt) -> Option<(TcpStream, InUse)> {
    let Attempt {
        deadline,
        tried,
        seen,
    } = attempt;
    let deadline = *deadline;
    loop {
        let start = shared.turn.fetch_add(1, Ordering::Relaxed);
        let picked = {
            let t = lock(&shared.target);
            if seen.as_ref() != Some(&t.upstream) {
                *seen = Some(t.upstream.clone());
                *tried = vec![false; t.slots.len()];
            }
            let candidates: Vec<Candidate> = t
                .slots
                .iter()
                .map(|s| Candidate {
                    in_rotation: s.backend.in_rotation(),
                    active: s.backend.active.load(Ordering::Relaxed),
                })
                .collect();
            balance::choose(&candidates, tried, start).map(|i| {
                let s = &t.slots[i];
                (i, s.backend.clone(), s.addr, t.upstream.container_port)
            })
        };
        let Some((i, backend, cached, container_port)) = picked else {
            if Instant::now() >= deadline {
                if let Some(up) = &seen {
                    tracing::warn!(
                        "no instance of {} answered on port {} within {} s: connection dropped",
                        up.app,
                        up.container_port,
                        UPSTREAM_PATIENCE.as_secs()
                    );
                }
                return None;
            }
            tokio::time::sleep(RETRY_PAUSE).await;
            tried.iter_mut().for_each(|t| *t = false);
            continue;
        };
        tried[i] = true;
        // Counted before the connect so that concurrent choices see it.
        backend.active.fetch_add(1, Ordering::Relaxed);
        let addr = match cached {
            Some(a) => Some(a),
            None => resolve(&shared.docker, &backend.container, container_port).await,
        };
        if let Some(addr) = addr {
            if let Ok(Ok(stream)) =
                tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await
            {
                backend.total.fetch_add(1, Ordering::Relaxed);
                if cached.is_none() {
                    set_addr(shared, &backend, Some(addr));
                }
                return Some((stream, InUse { backend }));
            }
            set_addr(shared, &backend, None);
        }
        backend.active.fetch_sub(1, Ordering::Relaxed);
        backend.set_in_rotation(false);
    }
}

/// Caches (or forgets) the address of `backend` in the listener's current target.
fn set_addr(shared: &Shared, backend: &Arc<Backend>, addr: Option<SocketAddr>) {
    let mut t = lock(&shared.target);
    if let Some(s) = t
        .slots
        .iter_mut()
        .find(|s| Arc::ptr_eq(&s.backend, backend))
    {
        s.addr = addr;
    }
}

/// Where to reach `container_port` of `container`: its address on its network (the supervisor
/// runs with the host's network, so it reaches the bridge), else the port published on
/// 127.0.0.1 (one more hop, through Docker's port forwarder).
async fn resolve(docker: &Docker, container: &str, container_port: u16) -> Option<SocketAddr> {
    let info = containers::inspect(docker, container).await.ok()?;
    containers::network_addr(&info, container_port).or_else(|| {
        containers::published_port(&info, container_port)
            .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
    })
}

#[cfg(test)]
mod tests {
    use super::replay_is_safe;

    #[test]
    fn only_idempotent_requests_are_sent_again() {
        for safe in [
            &b""[..],
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"HEAD /x HTTP/1.0\r\n",
            b"PUT /k HTTP/1.1\r\nContent-Length: 1\r\n\r\nv",
            b"DELETE /k HTTP/1.1\r\n",
            b"OPTIONS * HTTP/1.1\r\n",
            b"PO",
            b"POS",
            b"\x16\x03\x01\x02\x00",
            b"hello",
            b"get / HTTP/1.1\r\n",
        ] {
            assert!(replay_is_safe(safe), "{:?}", String::from_utf8_lossy(safe));
        }
        for not in [
            &b"POST /order HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"[..],
            b"POST ",
            b"PATCH /k HTTP/1.1\r\n",
            b"LOCK /k HTTP/1.1\r\n",
            b"CONNECT host:443 HTTP/1.1\r\n",
            b"BREW /pot HTTP/1.1\r\n",
        ] {
            assert!(!replay_is_safe(not), "{:?}", String::from_utf8_lossy(not));
        }
    }
}
