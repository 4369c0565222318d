//! Waiting for a local service to answer: `solum-service KIND ready` in its container (a real
//! query, PING or AMQP handshake with the service's credentials) until it exits 0, within a
//! bounded time. A timeout names the service and the last reason the check gave.

use std::time::{Duration, Instant};

use bollard::query_parameters::LogsOptions;
use bollard::Docker;
use futures_util::StreamExt;

use crate::planfile::ServiceKind;

use super::{exec, ServiceError};

/// The default longest wait for a service to answer.
pub const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// Pause between checks.
const PAUSE: Duration = Duration::from_millis(300);

/// The longest one readiness check may take.
const CHECK_MAX: Duration = Duration::from_secs(20);

/// Waits until the service in `container` answers; returns how long that took. `password`
/// is taken out of any reason shown.
pub async fn wait(
    docker: &Docker,
    container: &str,
    service_id: &str,
    kind: ServiceKind,
    timeout: Duration,
    password: &str,
) -> Result<Duration, ServiceError> {
    let started = Instant::now();
    loop {
        // One check never holds the wait past its end (a check that hangs is a failed one).
        let left = timeout.saturating_sub(started.elapsed());
        let attempt = tokio::time::timeout(
            left.clamp(Duration::from_secs(1), CHECK_MAX),
            exec::run(
                docker,
                container,
                &["solum-service", kind.as_str(), "ready"],
                None,
                None,
            ),
        )
        .await;
        let reason = match attempt {
            Ok(Ok(f)) if f.code == 0 => return Ok(started.elapsed()),
            Ok(Ok(f)) => match f.last_line() {
                "" => format!("the check exited {}", f.code),
                line => line.to_string(),
            },
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!(
                "the check did not finish within {} s",
                left.clamp(Duration::from_secs(1), CHECK_MAX).as_secs()
            ),
        };
        if started.elapsed() >= timeout {
            let reason = match last_log_line(docker, container).await {
                Some(line) => format!("{reason} (its last log line: {line})"),
                None => reason,
            };
            return Err(ServiceError::NotReady {
                service: service_id.to_string(),
                kind: kind.as_str().to_string(),
                secs: timeout.as_secs(),
                reason: solum_edge::redact::secrets(&reason, &[password]),
            });
        }
        tokio::time::sleep(PAUSE).await;
    }
}

/// The last non-empty line the container logged (why a server that keeps restarting fails).
async fn last_log_line(docker: &Docker, container: &str) -> Option<String> {
    let mut logs = docker.logs(
        container,
        Some(LogsOptions {
            stdout: true,
            stderr: true,
            tail: "5".into(),
            ..Default::default()
        }),
    );
    let mut last = None;
    while let Some(Ok(chunk)) = logs.next().await {
        let text = chunk.to_string();
        if let Some(line) = text.lines().rev().find(|l| !l.trim().is_empty()) {
            last = Some(line.trim().to_string());
        }
    }
    last
}
