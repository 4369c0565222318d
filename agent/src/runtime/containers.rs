//! The app containers: names, labels, the create request of one process (pure), and the few
//! Docker calls on them (list by label, private port lookup, stop/remove, last log lines).

use std::collections::{BTreeMap, HashMap};

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, HostConfig, PortBinding, RestartPolicy,
    RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptions, EventsOptions, InspectContainerOptions, ListContainersOptions,
    LogsOptions, RemoveContainerOptions, StopContainerOptions,
};
use bollard::Docker;
use futures_util::StreamExt;

use super::{ReleaseSpec, RuntimeError};

pub use crate::labels::{LABEL_AGENT, LABEL_APP, LABEL_ROLE};
pub const LABEL_RELEASE: &str = "solum.release";
pub const LABEL_PROCESS: &str = "solum.process";
/// Comma-separated container ports of the release (lets `start` route back without records).
pub const LABEL_PORTS: &str = "solum.ports";
/// The entrypoint of images made by our buildpack builder.
pub const SOLUM_START: &str = "/usr/local/bin/solum-start";
/// Which of the process type's containers this is (1-based; absent on containers made before
/// instances existed: 1).
pub const LABEL_INSTANCE: &str = "solum.instance";
/// The process type that gets the ports and the HTTP health check.
pub const WEB: &str = "web";

/// Checks a name used in container names, labels and file names (an app's, a release's, a
/// process type's) by the one rule of app names, `appname`.
pub fn check_name(what: &str, name: &str) -> Result<(), RuntimeError> {
    if crate::appname::is_valid(name) {
        Ok(())
    } else {
        Err(RuntimeError::Other(format!(
            "invalid {what} name {name:?}: use letters, digits, '_', '.' and '-' (at most {}, starting with a letter or digit)",
            crate::appname::MAX_LEN
        )))
    }
}

pub fn container_name(agent: &str, app: &str, release: &str, process: &str) -> String {
    format!("solum-{agent}-{app}-{release}-{process}")
}

/// The name of instance `instance` (1-based) of a process type: the first keeps the plain
/// name (so one instance is named as before instances existed), the others get `.<n>`.
pub fn instance_name(
    agent: &str,
    app: &str,
    release: &str,
    process: &str,
    instance: u16,
) -> String {
    let base = container_name(agent, app, release, process);
    if instance <= 1 {
        base
    } else {
        format!("{base}.{instance}")
    }
}

/// The create request of one process of a release. `solum_start`: the image's entrypoint is
/// `solum-start`, which takes a process type or a command as its argument.
pub fn create_body(
    agent: &str,
    spec: &ReleaseSpec,
    process: &str,
    instance: u16,
    solum_start: bool,
) -> ContainerCreateBody {
    let command = spec.processes.get(process).cloned().flatten();
    let cmd = match (command, solum_start) {
        (Some(c), true) => Some(vec![c]),
        (Some(c), false) => Some(vec!["/bin/sh".to_string(), "-c".to_string(), c]),
        (None, true) => Some(vec![process.to_string()]),
        (None, false) => None,
    };
    let mut env: BTreeMap<String, String> = spec.env.clone();
    if let Some(first) = spec.ports.first() {
        env.insert("PORT".into(), first.to_string());
    }
    let labels = HashMap::from([
        (LABEL_AGENT.to_string(), agent.to_string()),
        (LABEL_APP.to_string(), spec.app.clone()),
        (LABEL_RELEASE.to_string(), spec.release.clone()),
        (LABEL_PROCESS.to_string(), process.to_string()),
        (LABEL_INSTANCE.to_string(), instance.to_string()),
        (
            LABEL_PORTS.to_string(),
            spec.ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(","),
        ),
    ]);
    let web = process == WEB;
    let (exposed, bindings) = if web {
        let exposed: HashMap<String, HashMap<(), ()>> = spec
            .ports
            .iter()
            .map(|p| (format!("{p}/tcp"), HashMap::new()))
            .collect();
        let bindings: HashMap<String, Option<Vec<PortBinding>>> = spec
            .ports
            .iter()
            .map(|p| {
                let b = PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(String::new()),
                };
                (format!("{p}/tcp"), Some(vec![b]))
            })
            .collect();
        (Some(exposed), Some(bindings))
    } else {
        (None, None)
    };
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd,
        env: Some(env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(labels),
        exposed_ports: exposed,
        host_config: Some(HostConfig {
            port_bindings: bindings,
            // An init as PID 1: signals reach the app (graceful stop), zombies are reaped.
            init: Some(true),
            // web is a server: any exit is a crash. Other processes may finish: exit 0 is done,
            // only a failure is restarted.
            restart_policy: Some(RestartPolicy {
                name: Some(if web {
                    RestartPolicyNameEnum::UNLESS_STOPPED
                } else {
                    RestartPolicyNameEnum::ON_FAILURE
                }),
                maximum_retry_count: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// One of our app containers, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Managed {
    pub id: String,
    pub name: String,
    pub app: String,
    pub release: String,
    pub process: String,
    /// 1-based instance of the process type.
    pub instance: u16,
    pub ports: Vec<u16>,
    /// Docker's state word (`running`, `exited`, ...).
    pub state: String,
    pub image: String,
    /// Unix seconds of creation.
    pub created: i64,
}

/// Parses the `solum.ports` label.
pub fn parse_ports(label: &str) -> Vec<u16> {
    label
        .split(',')
        .filter_map(|p| p.trim().parse().ok())
        .collect()
}

/// All app containers of this agent (any state), optionally of one app.
pub async fn list(
    docker: &Docker,
    agent: &str,
    app: Option<&str>,
) -> Result<Vec<Managed>, RuntimeError> {
    // Release containers only: build, unit-test and supervisor containers carry the agent's
    // and an app's labels too, but no release.
    let mut labels = vec![
        format!("{LABEL_AGENT}={agent}"),
        LABEL_APP.to_string(),
        LABEL_RELEASE.to_string(),
    ];
    if let Some(app) = app {
        labels.push(format!("{LABEL_APP}={app}"));
    }
    let opts = ListContainersOptions {
        all: true,
        filters: Some(HashMap::from([("label".to_string(), labels)])),
        ..Default::default()
    };
    let mut out = Vec::new();
    for c in docker.list_containers(Some(opts)).await? {
        let labels = c.labels.unwrap_or_default();
        let get = |k: &str| labels.get(k).cloned().unwrap_or_default();
        let name = c.names.and_then(|n| n.first().cloned()).unwrap_or_default();
        out.push(Managed {
            id: c.id.unwrap_or_default(),
            name: name.trim_start_matches('/').to_string(),
            app: get(LABEL_APP),
            release: get(LABEL_RELEASE),
            process: get(LABEL_PROCESS),
            instance: get(LABEL_INSTANCE).parse().unwrap_or(1),
            ports: parse_ports(&get(LABEL_PORTS)),
            state: c.state.map(|s| s.to_string()).unwrap_or_default(),
            image: c.image.unwrap_or_default(),
            created: c.created.unwrap_or(0),
        });
    }
    out.sort_by(|a, b| {
        (&a.app, &a.release, &a.process, a.instance)
            .cmp(&(&b.app, &b.release, &b.process, b.instance))
    });
    Ok(out)
}

/// Ids of all containers (any state) that carry every one of `labels` (`key=value`).
pub async fn ids_labelled(
    docker: &Docker,
    labels: Vec<String>,
) -> Result<Vec<String>, RuntimeError> {
    let opts = ListContainersOptions {
        all: true,
        filters: Some(HashMap::from([("label".to_string(), labels)])),
        ..Default::default()
    };
    Ok(docker
        .list_containers(Some(opts))
        .await?
        .into_iter()
        .filter_map(|c| c.id)
        .collect())
}

/// Creates and starts one container; returns its id.
pub async fn create_and_start(
    docker: &Docker,
    name: &str,
    body: ContainerCreateBody,
) -> Result<String, RuntimeError> {
    let opts = CreateContainerOptions {
        name: Some(name.to_string()),
        ..Default::default()
    };
    let created = docker.create_container(Some(opts), body).await?;
    docker
        .start_container(
            &created.id,
            None::<bollard::query_parameters::StartContainerOptions>,
        )
        .await?;
    Ok(created.id)
}

pub async fn inspect(
    docker: &Docker,
    container: &str,
) -> Result<ContainerInspectResponse, RuntimeError> {
    Ok(docker
        .inspect_container(container, None::<InspectContainerOptions>)
        .await?)
}

/// The host port Docker published `container_port` on (None while not running / restarting).
pub fn published_port(info: &ContainerInspectResponse, container_port: u16) -> Option<u16> {
    let ports = info.network_settings.as_ref()?.ports.as_ref()?;
    let bindings = ports.get(&format!("{container_port}/tcp"))?.as_ref()?;
    bindings
        .iter()
        .find_map(|b| b.host_port.as_deref()?.parse().ok())
}

/// `container_port` at the container's own address on its (first) network, when it has one.
pub fn network_addr(
    info: &ContainerInspectResponse,
    container_port: u16,
) -> Option<std::net::SocketAddr> {
    let settings = info.network_settings.as_ref()?;
    let from_networks = settings.networks.as_ref().and_then(|n| {
        n.values()
            .find_map(|e| e.ip_address.clone().filter(|a| !a.is_empty()))
    });
    let ip: std::net::IpAddr = from_networks
        .into_iter()
        .chain(settings.ip_address.clone())
        .find_map(|a| a.parse().ok())?;
    Some(std::net::SocketAddr::new(ip, container_port))
}

/// Docker's state word of an inspected container and its exit code.
pub fn state_of(info: &ContainerInspectResponse) -> (String, i64) {
    let state = info.state.as_ref();
    let word = state
        .and_then(|s| s.status)
        .map(|s| s.to_string())
        .unwrap_or_default();
    (word, state.and_then(|s| s.exit_code).unwrap_or(0))
}

/// Graceful stop (SIGTERM, then SIGKILL after `secs`); a missing or stopped container is fine.
pub async fn stop(docker: &Docker, container: &str, secs: i32) -> Result<(), RuntimeError> {
    match docker
        .stop_container(
            container,
            Some(StopContainerOptions {
                t: Some(secs),
                signal: None,
            }),
        )
        .await
    {
        Ok(()) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 304 | 404,
            ..
        }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Force-removes a container; a missing one is fine.
pub async fn remove(docker: &Docker, container: &str) -> Result<(), RuntimeError> {
    let opts = RemoveContainerOptions {
        force: true,
        v: true,
        ..Default::default()
    };
    match docker.remove_container(container, Some(opts)).await {
        Ok(()) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The last `n` lines of a container's output (stdout and stderr), for error messages.
pub async fn last_lines(docker: &Docker, container: &str, n: usize) -> String {
    let opts = LogsOptions {
        stdout: true,
        stderr: true,
        tail: n.to_string(),
        ..Default::default()
    };
    let mut stream = docker.logs(container, Some(opts));
    let mut text = String::new();
    while let Some(Ok(chunk)) = stream.next().await {
        text.push_str(&String::from_utf8_lossy(chunk.as_ref()));
    }
    text.trim_end().to_string()
}

/// Exit code of the container's first death since `since` (unix seconds), from the engine's
/// event log (inspect only shows the current run once Docker restarted it).
pub async fn first_exit_code(docker: &Docker, id: &str, since: u64) -> Option<i64> {
    let until = super::unix_now() + 1;
    let opts = EventsOptions {
        since: Some(since.to_string()),
        until: Some(until.to_string()),
        filters: Some(HashMap::from([
            ("container".to_string(), vec![id.to_string()]),
            ("event".to_string(), vec!["die".to_string()]),
        ])),
    };
    let mut stream = docker.events(Some(opts));
    let deadline = std::time::Duration::from_secs(3);
    while let Ok(Some(Ok(ev))) = tokio::time::timeout(deadline, stream.next()).await {
        let code = ev
            .actor
            .and_then(|a| a.attributes)
            .and_then(|a| a.get("exitCode").and_then(|c| c.parse().ok()));
        if code.is_some() {
            return code;
        }
    }
    None
}

/// Whether an image starts processes through `solum-start`.
pub async fn uses_solum_start(docker: &Docker, image: &str) -> Result<bool, RuntimeError> {
    let info = docker.inspect_image(image).await.map_err(|e| match e {
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        } => RuntimeError::Other(format!("image {image} does not exist on this host")),
        e => e.into(),
    })?;
    let entrypoint = info.config.and_then(|c| c.entrypoint).unwrap_or_default();
    Ok(is_solum_start(&entrypoint))
}

pub fn is_solum_start(entrypoint: &[String]) -> bool {
    entrypoint
        .first()
        .is_some_and(|e| e == SOLUM_START || e == "solum-start")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_addr_prefers_the_container_network_and_skips_empty_addresses() {
        use bollard::models::{EndpointSettings, NetworkSettings};
        let info = |networks: Vec<(&str, &str)>, legacy: &str| ContainerInspectResponse {
            network_settings: Some(NetworkSettings {
                networks: Some(
                    networks
                        .into_iter()
                        .map(|(n, ip)| {
                            (
                                n.to_string(),
                                EndpointSettings {
                                    ip_address: Some(ip.to_string()),
                                    ..Default::default()
                                },
                            )
                        })
                        .collect(),
                ),
                ip_address: Some(legacy.to_string()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            network_addr(&info(vec![("bridge", "172.17.0.5")], ""), 5000),
            Some("172.17.0.5:5000".parse().unwrap())
        );
        assert_eq!(
            network_addr(&info(vec![("host", "")], "172.17.0.9"), 80),
            Some("172.17.0.9:80".parse().unwrap())
        );
        // Host networking: no address of its own (the published port is used instead).
        assert_eq!(network_addr(&info(vec![("host", "")], ""), 80), None);
        assert_eq!(network_addr(&ContainerInspectResponse::default(), 80), None);
    }

    fn spec() -> ReleaseSpec {
        ReleaseSpec {
            app: "shop".into(),
            release: "0123456789ab".into(),
            image: "solum/app-shop:0123456789ab".into(),
            processes: BTreeMap::from([
                (
                    "web".to_string(),
                    Some("python3 -m http.server $PORT".to_string()),
                ),
                ("worker".to_string(), None),
            ]),
            ports: vec![8080, 9090],
            env: BTreeMap::from([
                ("PORT".to_string(), "1".to_string()),
                ("DB".to_string(), "x".to_string()),
            ]),
            release_command: None,
            instances: BTreeMap::from([("web".to_string(), 3)]),
        }
    }

    #[test]
    fn names_are_checked() {
        for ok in ["shop", "a", "my-app_2.x"] {
            assert!(check_name("app", ok).is_ok(), "{ok}");
        }
        for bad in ["", "-x", "../etc", "a/b", "a b", "é", &"x".repeat(64)] {
            let err = check_name("app", bad).unwrap_err().to_string();
            assert!(err.contains("invalid app name"), "{err}");
        }
        assert_eq!(
            container_name("abc", "shop", "r1", "web"),
            "solum-abc-shop-r1-web"
        );
        assert_eq!(
            instance_name("abc", "shop", "r1", "web", 1),
            "solum-abc-shop-r1-web",
            "the first instance keeps the name of a single one"
        );
        assert_eq!(
            instance_name("abc", "shop", "r1", "web", 3),
            "solum-abc-shop-r1-web.3"
        );
        assert_eq!(spec().instances_of("web"), 3);
        assert_eq!(spec().instances_of("worker"), 1);
    }

    #[test]
    fn web_gets_ports_command_env_and_labels() {
        let b = create_body("agent1", &spec(), "web", 2, false);
        assert_eq!(
            b.cmd.unwrap(),
            ["/bin/sh", "-c", "python3 -m http.server $PORT"]
        );
        assert_eq!(
            b.env.unwrap(),
            ["DB=x", "PORT=8080"],
            "PORT is the first port and wins"
        );
        let labels = b.labels.unwrap();
        assert_eq!(labels[LABEL_AGENT], "agent1");
        assert_eq!(labels[LABEL_APP], "shop");
        assert_eq!(labels[LABEL_RELEASE], "0123456789ab");
        assert_eq!(labels[LABEL_PROCESS], "web");
        assert_eq!(labels[LABEL_INSTANCE], "2");
        assert_eq!(parse_ports(&labels[LABEL_PORTS]), [8080, 9090]);
        let hc = b.host_config.unwrap();
        let pb = hc.port_bindings.unwrap();
        assert_eq!(pb.len(), 2);
        let bind = &pb["9090/tcp"].as_ref().unwrap()[0];
        assert_eq!(bind.host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(bind.host_port.as_deref(), Some(""));
        assert_eq!(
            hc.restart_policy.unwrap().name,
            Some(RestartPolicyNameEnum::UNLESS_STOPPED)
        );
        assert!(b.exposed_ports.unwrap().contains_key("8080/tcp"));
    }

    #[test]
    fn other_processes_get_no_ports_and_solum_start_commands() {
        let b = create_body("a", &spec(), "worker", 1, true);
        assert_eq!(b.cmd.unwrap(), ["worker"]);
        let hc = b.host_config.unwrap();
        assert!(hc.port_bindings.is_none());
        assert_eq!(
            hc.restart_policy.unwrap().name,
            Some(RestartPolicyNameEnum::ON_FAILURE),
            "a worker that exits 0 has finished"
        );
        assert!(b.exposed_ports.is_none());
        let b = create_body("a", &spec(), "worker", 1, false);
        assert_eq!(b.cmd, None, "image default");
        let b = create_body("a", &spec(), "web", 1, true);
        assert_eq!(b.cmd.unwrap(), ["python3 -m http.server $PORT"]);
        assert!(is_solum_start(&[SOLUM_START.to_string()]));
        assert!(!is_solum_start(&["/bin/sh".to_string()]));
        assert!(!is_solum_start(&[]));
    }

    #[test]
    fn published_port_reads_inspect_output() {
        let info: ContainerInspectResponse = serde_json::from_str(
            r#"{"NetworkSettings":{"Ports":{"8080/tcp":[{"HostIp":"127.0.0.1","HostPort":"49153"}],"9090/tcp":null}}}"#,
        )
        .unwrap();
        assert_eq!(published_port(&info, 8080), Some(49153));
        assert_eq!(published_port(&info, 9090), None);
        assert_eq!(published_port(&info, 1), None);
        assert_eq!(parse_ports(""), Vec::<u16>::new());
    }
}
