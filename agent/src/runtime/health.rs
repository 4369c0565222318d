//! Health of web processes: the HTTP probe (a minimal HTTP/1.0 GET over a TCP stream), the
//! pure decision logic (which status codes count, when to restart, the restart backoff) and
//! the `health/<app>.json` record the supervisor writes for `status`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::proxy::ConnCounts;
use super::HealthConfig;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// First restart delay; doubled after every restart.
pub const BACKOFF_START: Duration = Duration::from_millis(100);
/// Longest restart delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// Healthy this long after a restart resets the backoff.
pub const BACKOFF_RESET: Duration = Duration::from_secs(10);

/// 2xx and 3xx are healthy (as Kubernetes' httpGet probe).
pub fn is_healthy_status(code: u16) -> bool {
    (200..400).contains(&code)
}

/// Parses the status code out of an HTTP response head (`HTTP/1.x NNN reason`).
pub fn parse_status_line(head: &[u8]) -> Result<u16, String> {
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let line = String::from_utf8_lossy(&head[..line_end]);
    let line = line.trim_end();
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let code = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/") || code.len() != 3 {
        return Err(format!("not an HTTP response: {:?}", truncate(line, 60)));
    }
    code.parse::<u16>()
        .map_err(|_| format!("not an HTTP response: {:?}", truncate(line, 60)))
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// `GET path` on `addr`; the status code, or why there is none (refused, timeout, garbage).
pub async fn probe(addr: SocketAddr, path: &str, timeout: Duration) -> Result<u16, String> {
    let work = async {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect to {addr}: {}", e.kind()))?;
        let request =
            format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: solum-agent\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("send to {addr}: {e}"))?;
        let mut head = Vec::with_capacity(256);
        let mut buf = [0u8; 256];
        while !head.contains(&b'\n') && head.len() < 4096 {
            let n = stream
                .read(&mut buf)
                .await
                .map_err(|e| format!("read from {addr}: {e}"))?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        if head.is_empty() {
            return Err(format!("{addr} closed the connection without answering"));
        }
        parse_status_line(&head)
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "no answer from {addr} within {} ms",
            timeout.as_millis()
        )),
    }
}

/// The probe result as one decision input: healthy, or the reason it is not.
pub fn judge(result: &Result<u16, String>) -> Result<(), String> {
    match result {
        Ok(code) if is_healthy_status(*code) => Ok(()),
        Ok(code) => Err(format!("health check answered HTTP {code}")),
        Err(e) => Err(e.clone()),
    }
}

/// The restart delay after `restarts_in_a_row` restarts: 100 ms doubling, at most 60 s.
pub fn backoff(restarts_in_a_row: u32) -> Duration {
    let factor = 1u64
        .checked_shl(restarts_in_a_row.min(20))
        .unwrap_or(u64::MAX);
    let ms = (BACKOFF_START.as_millis() as u64).saturating_mul(factor);
    Duration::from_millis(ms).min(BACKOFF_MAX)
}

/// What to do after a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Nothing,
    Restart { reason: String },
}

/// Health state of one web process, fed with check results (pure: time is passed in).
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    pub consecutive_failures: u32,
    pub restarts: u64,
    /// The last counted failure.
    pub last_error: Option<String>,
    /// Why the supervisor last restarted the process.
    pub restart_reason: Option<String>,
    pub healthy: Option<bool>,
    in_a_row: u32,
    last_restart: Option<Instant>,
    healthy_since: Option<Instant>,
    /// After a restart, failures do not count until the process answers or this passes.
    grace_until: Option<Instant>,
}

impl Tracker {
    /// A tracker that goes on counting from an earlier record (a restarted supervisor).
    pub fn resume(restarts: u64, restart_reason: Option<String>) -> Tracker {
        Tracker {
            restarts,
            restart_reason,
            ..Tracker::default()
        }
    }

    /// Records a check at `now`: `policy.failures` consecutive failures make a restart, no
    /// sooner than the backoff after the previous one; a restarted process gets
    /// `policy.start_timeout` to come back before its failures count.
    pub fn record(
        &mut self,
        result: Result<(), String>,
        policy: &HealthConfig,
        now: Instant,
    ) -> Decision {
        match result {
            Ok(()) => {
                self.consecutive_failures = 0;
                self.grace_until = None;
                self.healthy = Some(true);
                let since = *self.healthy_since.get_or_insert(now);
                if now.duration_since(since) >= BACKOFF_RESET {
                    self.in_a_row = 0;
                }
                Decision::Nothing
            }
            Err(_) if self.grace_until.is_some_and(|g| now < g) => {
                self.healthy_since = None;
                Decision::Nothing
            }
            Err(reason) => {
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                self.healthy_since = None;
                self.last_error = Some(reason.clone());
                if self.consecutive_failures < policy.failures.max(1) {
                    return Decision::Nothing;
                }
                self.healthy = Some(false);
                if let Some(last) = self.last_restart {
                    if now.duration_since(last) < backoff(self.in_a_row.saturating_sub(1)) {
                        return Decision::Nothing;
                    }
                }
                self.in_a_row = self.in_a_row.saturating_add(1);
                self.restarts += 1;
                self.consecutive_failures = 0;
                self.last_restart = Some(now);
                self.grace_until = Some(now + policy.start_timeout);
                self.restart_reason = Some(reason.clone());
                Decision::Restart { reason }
            }
        }
    }

    /// A failure that is not the process's fault to count (e.g. Docker is restarting it
    /// after a crash, with its own backoff): noted, never a restart.
    pub fn note(&mut self, reason: String) {
        self.healthy_since = None;
        self.last_error = Some(reason);
    }

    /// The delay before the next restart may happen (for logs).
    pub fn current_backoff(&self) -> Duration {
        backoff(self.in_a_row.saturating_sub(1))
    }

    pub fn state_name(&self) -> &'static str {
        match self.healthy {
            None => "starting",
            Some(true) => "healthy",
            Some(false) => "unhealthy",
        }
    }
}

/// `health/<app>.json`, written by the supervisor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthRecord {
    pub app: String,
    pub release: String,
    /// `starting`, `healthy`, `unhealthy`.
    pub state: String,
    pub restarts: u64,
    pub last_error: Option<String>,
    /// Unix seconds of the last check.
    pub last_check: u64,
    /// Why the supervisor last restarted the process.
    #[serde(default)]
    pub restart_reason: Option<String>,
    /// Why a public listener of the app could not be opened, if so.
    #[serde(default)]
    pub listener_error: Option<String>,
    /// Connections through the app's public listeners.
    #[serde(default)]
    pub connections: ConnCounts,
    /// Each web instance (the fields above sum them up: the app is healthy while one is).
    #[serde(default)]
    pub instances: Vec<InstanceHealth>,
}

/// The health of one web instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceHealth {
    pub container: String,
    /// `starting`, `healthy`, `unhealthy`.
    pub state: String,
    /// In the proxy's rotation (new connections may go to it).
    pub in_rotation: bool,
    pub restarts: u64,
    pub last_error: Option<String>,
    #[serde(default)]
    pub restart_reason: Option<String>,
    /// Connections the proxy gave it.
    pub connections: u64,
}

/// The app's word from its instances': healthy while one is, unhealthy when all are.
pub fn app_state<'a>(states: impl IntoIterator<Item = &'a str>) -> &'static str {
    let states: Vec<&str> = states.into_iter().collect();
    if states.contains(&"healthy") {
        "healthy"
    } else if !states.is_empty() && states.iter().all(|s| *s == "unhealthy") {
        "unhealthy"
    } else {
        "starting"
    }
}

pub fn health_path(root: &Path, app: &str) -> PathBuf {
    crate::state::layout::health(root, app)
}

pub use super::unix_now;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes() {
        for (code, ok) in [
            (199, false),
            (200, true),
            (204, true),
            (302, true),
            (399, true),
            (400, false),
            (500, false),
        ] {
            assert_eq!(is_healthy_status(code), ok, "{code}");
        }
        assert_eq!(
            judge(&Ok(500)).unwrap_err(),
            "health check answered HTTP 500"
        );
        assert!(judge(&Ok(301)).is_ok());
        assert_eq!(judge(&Err("refused".into())).unwrap_err(), "refused");
    }

    #[test]
    fn parses_status_lines() {
        assert_eq!(
            parse_status_line(b"HTTP/1.0 200 OK\r\nServer: x\r\n"),
            Ok(200)
        );
        assert_eq!(
            parse_status_line(b"HTTP/1.1 503 Service Unavailable\r\n"),
            Ok(503)
        );
        assert_eq!(parse_status_line(b"HTTP/1.1 404"), Ok(404));
        assert!(parse_status_line(b"SSH-2.0-OpenSSH\r\n")
            .unwrap_err()
            .contains("not an HTTP response"));
        assert!(parse_status_line(b"HTTP/1.1 2000 x").is_err());
        assert!(parse_status_line(b"").is_err());
    }

    #[test]
    fn backoff_doubles_to_a_minute() {
        let ms: Vec<u128> = (0..12).map(|n| backoff(n).as_millis()).collect();
        assert_eq!(
            ms,
            [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000]
        );
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }

    fn policy(failures: u32, start_ms: u64) -> HealthConfig {
        HealthConfig {
            failures,
            start_timeout: Duration::from_millis(start_ms),
            ..HealthConfig::default()
        }
    }

    #[test]
    fn restarts_after_consecutive_failures_with_backoff() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let p = policy(3, 0);
        let mut t = Tracker::default();
        assert_eq!(t.state_name(), "starting");
        let fail = || Err::<(), _>("HTTP 500".to_string());
        assert_eq!(t.record(fail(), &p, at(0)), Decision::Nothing);
        assert_eq!(t.record(fail(), &p, at(1)), Decision::Nothing);
        assert_eq!(
            t.record(fail(), &p, at(2)),
            Decision::Restart {
                reason: "HTTP 500".into()
            }
        );
        assert_eq!((t.restarts, t.state_name()), (1, "unhealthy"));
        // Three more failures within 100 ms of the restart: wait for the backoff.
        for ms in [10, 20, 30] {
            assert_eq!(t.record(fail(), &p, at(ms)), Decision::Nothing);
        }
        assert!(matches!(
            t.record(fail(), &p, at(200)),
            Decision::Restart { .. }
        ));
        assert_eq!(t.current_backoff(), Duration::from_millis(200));
        for ms in [210, 220, 300] {
            assert_eq!(t.record(fail(), &p, at(ms)), Decision::Nothing, "{ms}");
        }
        assert!(matches!(
            t.record(fail(), &p, at(401)),
            Decision::Restart { .. }
        ));
        assert_eq!(t.current_backoff(), Duration::from_millis(400));
        // Healthy for 10 s resets the backoff.
        assert_eq!(t.record(Ok(()), &p, at(1_000)), Decision::Nothing);
        assert_eq!(t.state_name(), "healthy");
        t.record(Ok(()), &p, at(11_000));
        assert_eq!(t.current_backoff(), Duration::from_millis(100));
        assert_eq!(t.restarts, 3);
        assert_eq!(t.last_error.as_deref(), Some("HTTP 500"));
        assert_eq!(t.restart_reason.as_deref(), Some("HTTP 500"));
    }

    #[test]
    fn short_health_does_not_reset_backoff() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let p = policy(1, 0);
        let mut t = Tracker::default();
        let fail = || Err::<(), _>("x".to_string());
        assert!(matches!(
            t.record(fail(), &p, at(0)),
            Decision::Restart { .. }
        ));
        assert!(matches!(
            t.record(fail(), &p, at(100)),
            Decision::Restart { .. }
        ));
        t.record(Ok(()), &p, at(150));
        t.record(Ok(()), &p, at(5_000));
        assert!(matches!(
            t.record(fail(), &p, at(5_100)),
            Decision::Restart { .. }
        ));
        assert_eq!(
            t.current_backoff(),
            Duration::from_millis(400),
            "5 s healthy is not enough to reset"
        );
    }

    #[test]
    fn a_restarted_process_gets_the_start_timeout_before_failures_count() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let p = policy(1, 5_000);
        let mut t = Tracker::default();
        assert!(matches!(
            t.record(Err("HTTP 500".into()), &p, at(0)),
            Decision::Restart { .. }
        ));
        for ms in [500, 1_000, 4_000] {
            assert_eq!(
                t.record(Err("connection reset".into()), &p, at(ms)),
                Decision::Nothing
            );
        }
        assert_eq!(
            t.last_error.as_deref(),
            Some("HTTP 500"),
            "failures in the grace period are not counted"
        );
        assert!(matches!(
            t.record(Err("refused".into()), &p, at(5_001)),
            Decision::Restart { .. }
        ));
        // Answering ends the grace at once.
        t.record(Ok(()), &p, at(6_000));
        assert!(matches!(
            t.record(Err("HTTP 500".into()), &p, at(6_500)),
            Decision::Restart { .. }
        ));
        t.note("container is restarting".into());
        assert_eq!(t.restarts, 3);
        assert_eq!(t.last_error.as_deref(), Some("container is restarting"));
    }

    #[test]
    fn the_app_is_healthy_while_one_instance_is() {
        assert_eq!(app_state(["unhealthy", "healthy", "starting"]), "healthy");
        assert_eq!(app_state(["unhealthy", "unhealthy"]), "unhealthy");
        assert_eq!(app_state(["unhealthy", "starting"]), "starting");
        assert_eq!(app_state([]), "starting");
    }

    #[tokio::test]
    async fn probe_reads_a_real_socket() {
        use tokio::net::TcpListener;
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).await.unwrap();
            assert!(String::from_utf8_lossy(&buf[..n]).starts_with("GET /healthz HTTP/1.0\r\n"));
            s.write_all(b"HTTP/1.0 503 Busy\r\n\r\n").await.unwrap();
        });
        assert_eq!(
            probe(addr, "/healthz", Duration::from_secs(2)).await,
            Ok(503)
        );
        server.await.unwrap();
        let err = probe(addr, "/", Duration::from_secs(2)).await.unwrap_err();
        assert!(
            err.contains("ConnectionRefused") || err.contains("refused"),
            "{err}"
        );
    }
}
