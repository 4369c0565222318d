//! Helpers shared by the stack and buildpack suites: a Docker client that fails loudly when the
//! engine is missing, running a one-off container and collecting its output, and cleanup.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    WaitContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;
use solum_agent::build::LogFn;

/// The engine, or a panic saying why not (tests needing Docker never skip).
pub async fn docker() -> Docker {
    match solum_agent::docker::connect().await {
        Ok(d) => d,
        Err(e) => panic!("this test needs the Docker engine: {e}"),
    }
}

/// A unique name prefix for the Docker objects of one test.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{}", std::process::id(), nanos % 1_000_000_000)
}

/// A log function that prints and keeps every line.
pub fn capture_log() -> (LogFn, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let kept = lines.clone();
    let log: LogFn = Arc::new(move |line: &str| {
        eprintln!("{line}");
        kept.lock().unwrap().push(line.to_string());
    });
    (log, lines)
}

/// Runs `cmd` in a fresh container of `image` (as `user`, if given) and returns (exit code,
/// stdout+stderr). The container is removed afterwards.
pub async fn run_in(
    docker: &Docker,
    image: &str,
    user: Option<&str>,
    entrypoint: Option<Vec<&str>>,
    cmd: Vec<&str>,
) -> (i64, String) {
    let name = unique("solum-test-bp-run");
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        user: user.map(str::to_string),
        entrypoint: entrypoint.map(|e| e.into_iter().map(str::to_string).collect()),
        cmd: Some(cmd.into_iter().map(str::to_string).collect()),
        labels: Some([("solum.test".to_string(), "buildpack".to_string())].into()),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    docker
        .create_container(
            Some(CreateContainerOptionsBuilder::new().name(&name).build()),
            body,
        )
        .await
        .expect("create container");
    let result = async {
        docker
            .start_container(
                &name,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
            .expect("start");
        let code = match docker
            .wait_container(&name, Some(WaitContainerOptionsBuilder::new().build()))
            .next()
            .await
        {
            Some(Ok(r)) => r.status_code,
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
            other => panic!("wait: {other:?}"),
        };
        let mut out = String::new();
        let mut logs = docker.logs(
            &name,
            Some(LogsOptionsBuilder::new().stdout(true).stderr(true).build()),
        );
        while let Some(Ok(chunk)) = logs.next().await {
            out.push_str(&chunk.to_string());
        }
        (code, out)
    }
    .await;
    let _ = docker
        .remove_container(
            &name,
            Some(RemoveContainerOptionsBuilder::new().force(true).build()),
        )
        .await;
    result
}

/// Removes an app's images, cache volume and containers when dropped, also when a test panics.
pub struct AppCleanup {
    pub app: String,
}

impl Drop for AppCleanup {
    fn drop(&mut self) {
        let docker = |args: &[&str]| {
            std::process::Command::new("docker")
                .args(args)
                .output()
                .ok()
        };
        let label = format!("label=solum.app={}", self.app);
        if let Some(out) = docker(&["ps", "-aq", "--filter", &label]) {
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                docker(&["rm", "-f", "-v", id]);
            }
        }
        if let Some(out) = docker(&["images", "-q", &format!("solum/app-{}", self.app)]) {
            let mut ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect();
            ids.dedup();
            for id in ids {
                docker(&["rmi", "-f", &id]);
            }
        }
        docker(&["volume", "rm", "-f", &format!("solum-cache-{}", self.app)]);
    }
}
