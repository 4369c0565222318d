//! Helpers shared by the dockerfile, langpack and unittest suites: unique names, a Docker
//! client that must be there, cleanup of what a test created (also when it panics), build
//! requests, a log that records lines, running an image and fetching a page from it.
#![allow(dead_code)] // each suite uses a different subset

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use solum_agent::build::{BuildRequest, LogFn};
use solum_agent::planfile::LanguagePack;

use std::sync::atomic::{AtomicUsize, Ordering};

/// A name no other test (or engineer) uses: lower case, usable in image names.
pub fn unique(what: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "dftest-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Docker is required: no engine is a failure, never a skip.
pub async fn docker() -> bollard::Docker {
    solum_agent::docker::connect()
        .await
        .unwrap_or_else(|e| panic!("these tests need the Docker engine: {e}"))
}

/// Removes the images and containers a test registered, on success and on panic.
#[derive(Default)]
pub struct Cleanup {
    pub images: Vec<String>,
    pub containers: Vec<String>,
    /// `ENV` values marking the untagged layers a failed build leaves behind.
    pub layer_marks: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let docker = |args: &[&str], names: &[String]| {
            if !names.is_empty() {
                let _ = std::process::Command::new("docker")
                    .args(args)
                    .args(names)
                    .output();
            }
        };
        docker(&["rm", "-f", "-v"], &self.containers);
        docker(&["rmi", "-f"], &self.images);
        if !self.layer_marks.is_empty() {
            // Leftover layers of failed builds; then again the tags they kept alive.
            docker(&["rmi"], &marked_layers(&self.layer_marks));
            docker(&["rmi", "-f"], &self.images);
        }
    }
}

/// Dangling images whose environment holds one of `marks`.
fn marked_layers(marks: &[String]) -> Vec<String> {
    let docker = |args: &[&str]| {
        std::process::Command::new("docker")
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let ids = docker(&["images", "-aq", "--no-trunc", "--filter", "dangling=true"]);
    ids.lines()
        .filter(|id| {
            let env = docker(&["image", "inspect", "--format", "{{json .Config.Env}}", id]);
            marks.iter().any(|m| env.contains(m.as_str()))
        })
        .map(str::to_string)
        .collect()
}

pub fn collecting_log() -> (LogFn, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    (
        Arc::new(move |l: &str| sink.lock().unwrap().push(l.to_string())),
        lines,
    )
}

pub fn request(
    app: &str,
    source: &Path,
    work: &Path,
    env: &[(&str, &str)],
    log: LogFn,
) -> BuildRequest {
    BuildRequest {
        agent: "solum-test-agent".into(),
        app: app.to_string(),
        source_dir: source.to_path_buf(),
        source_version: "test".into(),
        language_pack: LanguagePack::Auto,
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        run_cmd: None,
        buildpacks_dir: work.join("buildpacks"),
        work_dir: work.join("work"),
        key: format!("{:0>16x}", rand_key()),
        log,
    }
}

fn rand_key() -> u128 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    t.as_nanos() ^ (u128::from(std::process::id()) << 64)
}

pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
}

pub fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// (path, entry type, link target) of every entry, in order.
pub fn tar_listing(mut file: std::fs::File) -> Vec<(String, tar::EntryType, Option<String>)> {
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).unwrap();
    let mut archive = tar::Archive::new(&bytes[..]);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let path = e
                .path()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches('/')
                .to_string();
            let link = e
                .link_name()
                .unwrap()
                .map(|l| l.to_string_lossy().into_owned());
            (path, e.header().entry_type(), link)
        })
        .collect()
}

/// Runs `image` publishing container port 8080 on 127.0.0.1:<random>; returns the port.
pub async fn run_web(
    docker: &bollard::Docker,
    image: &str,
    name: &str,
    cleanup: &mut Cleanup,
) -> u16 {
    use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
    use std::collections::HashMap;
    let bindings = HashMap::from([(
        "8080/tcp".to_string(),
        Some(vec![PortBinding {
            host_ip: Some("127.0.0.1".into()),
            host_port: Some(String::new()),
        }]),
    )]);
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        env: Some(vec!["PORT=8080".into()]),
        exposed_ports: Some(HashMap::from([("8080/tcp".to_string(), HashMap::new())])),
        host_config: Some(HostConfig {
            port_bindings: Some(bindings),
            ..Default::default()
        }),
        ..Default::default()
    };
    let opts = bollard::query_parameters::CreateContainerOptionsBuilder::new()
        .name(name)
        .build();
    docker.create_container(Some(opts), body).await.unwrap();
    cleanup.containers.push(name.to_string());
    docker
        .start_container(
            name,
            None::<bollard::query_parameters::StartContainerOptions>,
        )
        .await
        .unwrap();
    let info = docker
        .inspect_container(
            name,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .unwrap();
    let ports = info.network_settings.and_then(|n| n.ports).unwrap();
    let binding = ports["8080/tcp"].as_ref().unwrap()[0].clone();
    binding.host_port.unwrap().parse().unwrap()
}

/// GETs `path` until the app answers (at most 30 s).
pub async fn get(port: u16, path: &str) -> (u16, String) {
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}{path}");
    let mut last = String::new();
    for _ in 0..60 {
        match client
            .get(&url)
            .timeout(Duration::from_secs(2))
            .send()
            .await
        {
            Ok(resp) => {
                let status = resp.status().as_u16();
                return (status, resp.text().await.unwrap());
            }
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("{url} never answered: {last}");
}

/// Whose unit tests run in these suites: their containers carry these labels.
pub const OWNER: solum_agent::build::unittest::Owner<'static> =
    solum_agent::build::unittest::Owner {
        agent: "solum-test-agent",
        app: "solum-test-unittest",
    };
