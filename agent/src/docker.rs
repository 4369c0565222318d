//! Connecting to the Docker engine: the local socket (or `DOCKER_HOST`), API version
//! negotiated (Debian's engine speaks 1.41), and one clear line when the engine is not there.

use bollard::Docker;

/// The engine could not be reached: one line that says where we looked and what to do.
#[derive(Debug, thiserror::Error)]
#[error("cannot reach the Docker engine at {endpoint}: {reason} (is the docker service running? `systemctl start docker`)")]
pub struct DockerUnavailable {
    pub endpoint: String,
    pub reason: String,
}

/// Connects, negotiates the API version and pings the engine.
pub async fn connect() -> Result<Docker, DockerUnavailable> {
    let endpoint =
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let unavailable = |reason: String| DockerUnavailable {
        endpoint: endpoint.clone(),
        reason,
    };
    let docker = Docker::connect_with_defaults().map_err(|e| unavailable(root_cause(&e)))?;
    let docker = docker
        .negotiate_version()
        .await
        .map_err(|e| unavailable(root_cause(&e)))?;
    docker
        .ping()
        .await
        .map_err(|e| unavailable(root_cause(&e)))?;
    Ok(docker)
}

/// The innermost message of an error chain, which for connection failures is the useful one
/// ("No such file or directory", "Connection refused").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: &dyn std::error::Error = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
