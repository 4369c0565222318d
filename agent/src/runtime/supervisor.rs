//! The per-host supervisor: the `solum-supervisor-<agent id>` container (made and kept
//! current by `ensure`) and its main loop (`supervise`): follow `routes.json`, keep the public
//! listeners of the proxy in place, acknowledge each generation, and health-check every routed
//! web process, restarting unhealthy ones with backoff.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bollard::models::{ContainerCreateBody, HostConfig, RestartPolicy, RestartPolicyNameEnum};
use bollard::query_parameters::RestartContainerOptions;
use bollard::Docker;
use tokio::task::JoinHandle;

use super::containers::{self, LABEL_AGENT, LABEL_APP, LABEL_ROLE};
use super::health::{self, Decision, HealthRecord, InstanceHealth, Tracker};
use super::proxy::{Backend, ConnCounts, Proxy};
use super::routes::{self, Ack, AppRoute, InstanceRoute, Routes};
use super::RuntimeError;
use crate::state::write_json;

/// Where the agent binary is mounted in the supervisor container.
pub const BINARY_IN_CONTAINER: &str = "/usr/local/bin/solum-agent";
/// Label carrying the fingerprint of the mounted binary (recreate when it changes).
pub const LABEL_BINARY: &str = "solum.binary";
const POLL: Duration = Duration::from_millis(150);
const RETRY_LISTENERS: Duration = Duration::from_secs(2);

pub fn supervisor_name(agent: &str) -> String {
    format!("solum-supervisor-{agent}")
}

/// Size, mtime and inode of the binary: changes whenever the file is rebuilt or replaced.
pub fn binary_fingerprint(path: &Path) -> std::io::Result<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path)?;
    Ok(format!(
        "{}-{}.{}-{}",
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ino()
    ))
}

/// Who runs the supervisor and where the engine socket is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupervisorSetup {
    pub agent: String,
    pub run_image: String,
    pub binary: PathBuf,
    pub fingerprint: String,
    pub state_root: PathBuf,
    /// Owner of the state directory (the supervisor writes there as this user).
    pub uid: u32,
    pub gid: u32,
    pub docker_socket: PathBuf,
    /// Group of the engine socket (added so a non-root owner can use it).
    pub socket_gid: u32,
}

/// The create request of the supervisor container (pure).
pub fn supervisor_body(s: &SupervisorSetup) -> ContainerCreateBody {
    let state = s.state_root.display().to_string();
    ContainerCreateBody {
        image: Some(s.run_image.clone()),
        entrypoint: Some(vec![BINARY_IN_CONTAINER.to_string()]),
        cmd: Some(vec![
            "supervise".into(),
            "--state-dir".into(),
            state.clone(),
        ]),
        user: Some(format!("{}:{}", s.uid, s.gid)),
        env: Some(vec!["RUST_LOG=info".into()]),
        labels: Some(HashMap::from([
            (LABEL_AGENT.to_string(), s.agent.clone()),
            // It serves every app of the agent.
            (LABEL_APP.to_string(), String::new()),
            (LABEL_ROLE.to_string(), "supervisor".to_string()),
            (LABEL_BINARY.to_string(), s.fingerprint.clone()),
        ])),
        host_config: Some(HostConfig {
            binds: Some(vec![
                format!("{}:{BINARY_IN_CONTAINER}:ro", s.binary.display()),
                format!("{state}:{state}"),
                format!("{}:/var/run/docker.sock", s.docker_socket.display()),
            ]),
            network_mode: Some("host".into()),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                maximum_retry_count: None,
            }),
            group_add: Some(vec![s.socket_gid.to_string()]),
            init: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Describes the setup for this host: owner of the state dir, engine socket and its group.
pub fn setup(
    agent: &str,
    run_image: &str,
    binary: &Path,
    state_root: &Path,
) -> Result<SupervisorSetup, RuntimeError> {
    use std::os::unix::fs::MetadataExt;
    let io = |what: String| {
        move |source| RuntimeError::Io {
            context: what,
            source,
        }
    };
    let binary = binary
        .canonicalize()
        .map_err(io(format!("agent binary {}", binary.display())))?;
    let fingerprint =
        binary_fingerprint(&binary).map_err(io(format!("agent binary {}", binary.display())))?;
    let meta =
        std::fs::metadata(state_root).map_err(io(format!("state dir {}", state_root.display())))?;
    let docker_socket = docker_socket_path();
    let socket_gid = std::fs::metadata(&docker_socket)
        .map_err(io(format!("docker socket {}", docker_socket.display())))?
        .gid();
    Ok(SupervisorSetup {
        agent: agent.to_string(),
        run_image: run_image.to_string(),
        binary,
        fingerprint,
        state_root: state_root.to_path_buf(),
        uid: meta.uid(),
        gid: meta.gid(),
        docker_socket,
        socket_gid,
    })
}

fn docker_socket_path() -> PathBuf {
    match std::env::var("DOCKER_HOST") {
        Ok(h) if h.starts_with("unix://") => PathBuf::from(&h["unix://".len()..]),
        _ => PathBuf::from("/var/run/docker.sock"),
    }
}

/// Makes sure the supervisor container runs the current binary: kept when it runs with the
/// same fingerprint, recreated when missing, dead, stopped or outdated.
pub async fn ensure(docker: &Docker, s: &SupervisorSetup) -> Result<(), RuntimeError> {
    let name = supervisor_name(&s.agent);
    match docker
        .inspect_container(
            &name,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
    {
        Ok(info) => {
            let labels = info
                .config
                .as_ref()
                .and_then(|c| c.labels.clone())
                .unwrap_or_default();
            let (state, _) = containers::state_of(&info);
            let current = labels.get(LABEL_BINARY) == Some(&s.fingerprint);
            if current && (state == "running" || state == "restarting") {
                return Ok(());
            }
            tracing::info!(
                "recreating supervisor {name} (state {state}, binary current: {current})"
            );
            containers::remove(docker, &name).await?;
        }
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => {}
        Err(e) => return Err(e.into()),
    }
    match containers::create_and_start(docker, &name, supervisor_body(s)).await {
        Ok(_) => Ok(()),
        // Another agent command created it at the same moment: fine if it is current.
        Err(RuntimeError::Docker(bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            ..
        })) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The supervisor's main loop; returns on SIGTERM/SIGINT.
pub async fn supervise(state_root: &Path) -> Result<(), RuntimeError> {
    if !state_root.is_dir() {
        return Err(RuntimeError::Other(format!(
            "state directory {} does not exist (is it mounted into the supervisor?)",
            state_root.display()
        )));
    }
    let docker = crate::docker::connect()
        .await
        .map_err(|e| RuntimeError::Other(e.to_string()))?;
    let mut sup = Supervisor::new(docker, state_root.to_path_buf());
    tracing::info!("supervising routes of {}", state_root.display());
    loop {
        sup.tick().await;
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = solum_edge::interrupt::requested() => break,
        }
    }
    tracing::info!("supervisor stopping");
    Ok(())
}

type ListenerErrors = Arc<Mutex<BTreeMap<String, String>>>;
type Counts = Arc<Mutex<BTreeMap<String, ConnCounts>>>;

struct Supervisor {
    docker: Docker,
    root: PathBuf,
    proxy: Proxy,
    applied: Option<Routes>,
    listening: BTreeMap<SocketAddr, routes::Upstream>,
    errors: ListenerErrors,
    counts: Counts,
    last_retry: Instant,
    watchers: HashMap<String, (AppRoute, JoinHandle<()>)>,
}

impl Supervisor {
    fn new(docker: Docker, root: PathBuf) -> Supervisor {
        Supervisor {
            proxy: Proxy::new(docker.clone()),
            docker,
            root,
            applied: None,
            listening: BTreeMap::new(),
            errors: Arc::default(),
            counts: Arc::default(),
            last_retry: Instant::now(),
            watchers: HashMap::new(),
        }
    }

    async fn tick(&mut self) {
        let routes = match routes::read_routes(&self.root) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("cannot read the routes: {e}");
                return;
            }
        };
        *lock(&self.counts) = self.proxy.counts_by_app();
        let changed = self.applied.as_ref() != Some(&routes);
        let retry = !lock(&self.errors).is_empty() && self.last_retry.elapsed() >= RETRY_LISTENERS;
        if changed || retry {
            self.last_retry = Instant::now();
            self.apply(routes).await;
        }
    }

    async fn apply(&mut self, routes: Routes) {
        let wanted = routes::listeners(&routes);
        let d = routes::diff(&self.listening, &wanted);
        for addr in &d.close {
            self.proxy.close(*addr);
            self.listening.remove(addr);
        }
        for addr in &d.retarget {
            if let Some(up) = wanted.get(addr) {
                self.proxy.retarget(*addr, up.clone());
                self.listening.insert(*addr, up.clone());
            }
        }
        let mut errors = BTreeMap::new();
        for addr in &d.open {
            let Some(up) = wanted.get(addr) else { continue };
            match self.proxy.open(*addr, up.clone()).await {
                Ok(()) => {
                    tracing::info!("listening on {addr} for {}", up.app);
                    self.listening.insert(*addr, up.clone());
                }
                Err(e) => {
                    let msg = format!("cannot listen on {addr}: {e}");
                    tracing::error!("{}: {msg}", up.app);
                    errors.insert(up.app.clone(), msg);
                }
            }
        }
        *lock(&self.errors) = errors.clone();
        let named = routes
            .apps
            .values()
            .flat_map(|r| r.instances.iter().map(|i| i.container.clone()))
            .collect();
        self.proxy.retain_backends(&named);
        self.update_watchers(&routes);
        let ack = Ack {
            generation: routes.generation,
            errors,
        };
        if let Err(e) = routes::write_ack(&self.root, &ack) {
            tracing::error!("cannot write the routes acknowledgement: {e}");
            return;
        }
        if self.applied.as_ref().map(|a| a.generation) != Some(routes.generation) {
            tracing::info!("applied routes generation {}", routes.generation);
        }
        self.applied = Some(routes);
    }

    fn update_watchers(&mut self, routes: &Routes) {
        let gone: Vec<String> = self
            .watchers
            .keys()
            .filter(|a| !routes.apps.contains_key(*a))
            .cloned()
            .collect();
        for app in gone {
            if let Some((_, task)) = self.watchers.remove(&app) {
                task.abort();
            }
            let _ = std::fs::remove_file(health::health_path(&self.root, &app));
        }
        for (app, route) in &routes.apps {
            if let Err(e) = containers::check_name("app", app) {
                tracing::error!("routes: {e}; not health-checked");
                continue;
            }
            if self.watchers.get(app).is_some_and(|(r, _)| r == route) {
                continue;
            }
            if let Some((_, task)) = self.watchers.remove(app) {
                task.abort();
            }
            let instances = route
                .instances
                .iter()
                .map(|i| (i.clone(), self.proxy.backend(&i.container)))
                .collect();
            let w = Watcher {
                docker: self.docker.clone(),
                root: self.root.clone(),
                app: app.clone(),
                route: route.clone(),
                instances,
                errors: self.errors.clone(),
                counts: self.counts.clone(),
            };
            self.watchers
                .insert(app.clone(), (route.clone(), tokio::spawn(w.run())));
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Health checks of one routed app's web instances: each one checked, taken out of the
/// proxy's rotation while it fails, put back when it passes, restarted with backoff.
struct Watcher {
    docker: Docker,
    root: PathBuf,
    app: String,
    route: AppRoute,
    instances: Vec<(InstanceRoute, Arc<Backend>)>,
    errors: ListenerErrors,
    counts: Counts,
}

impl Watcher {
    async fn run(self) {
        let earlier = self.earlier();
        let mut trackers: Vec<Tracker> = self
            .instances
            .iter()
            .map(|(i, _)| earlier.get(&i.container).cloned().unwrap_or_default())
            .collect();
        let policy = &self.route.health;
        let interval = policy.interval.max(Duration::from_millis(100));
        let mut first = true;
        loop {
            if !first {
                tokio::time::sleep(interval).await;
            }
            first = false;
            // By id: a container the agent replaced under the same name is not this one.
            let checks = self
                .instances
                .iter()
                .map(|(i, _)| self.check(&i.container_id));
            let results = futures_util::future::join_all(checks).await;
            for (((instance, backend), tracker), (result, docker_state)) in
                self.instances.iter().zip(&mut trackers).zip(results)
            {
                let verdict = health::judge(&result);
                backend.set_in_rotation(verdict.is_ok());
                // Docker is already restarting a crashed process with its own backoff.
                if docker_state == "restarting" {
                    if let Err(reason) = verdict {
                        tracker.note(reason);
                    }
                    continue;
                }
                if let Decision::Restart { reason } =
                    tracker.record(verdict, policy, Instant::now())
                {
                    self.restart(instance, tracker, &reason).await;
                }
            }
            self.write(&trackers);
        }
    }

    async fn restart(&self, instance: &InstanceRoute, tracker: &mut Tracker, reason: &str) {
        let container = &instance.container;
        tracing::warn!(
            "{}: unhealthy ({reason}); restarting {container} (restart #{}, next no sooner than {} ms)",
            self.app,
            tracker.restarts,
            tracker.current_backoff().as_millis()
        );
        let opts = RestartContainerOptions {
            t: Some(5),
            signal: None,
        };
        if let Err(e) = self
            .docker
            .restart_container(&instance.container_id, Some(opts))
            .await
        {
            tracing::error!("{}: cannot restart {container}: {e}", self.app);
            tracker.last_error = Some(format!("restart failed: {e}"));
        }
    }

    /// Probes a web container's private port; also returns Docker's state word.
    async fn check(&self, container: &str) -> (Result<u16, String>, String) {
        let Some(port) = self.route.ports.first() else {
            return (Ok(200), String::new());
        };
        let info = match containers::inspect(&self.docker, container).await {
            Ok(i) => i,
            Err(e) => return (Err(format!("container {container}: {e}")), String::new()),
        };
        let (state, code) = containers::state_of(&info);
        let Some(host_port) = containers::published_port(&info, port.container_port) else {
            return (
                Err(format!("container is {state} (last exit code {code})")),
                state,
            );
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], host_port));
        (
            health::probe(addr, &self.route.health.path, self.route.health.timeout).await,
            state,
        )
    }

    /// The restart history of the same release's instances from the record (the supervisor
    /// restarted), by container.
    fn earlier(&self) -> HashMap<String, Tracker> {
        let path = health::health_path(&self.root, &self.app);
        let Some(old) = crate::state::read_json::<HealthRecord>(&path)
            .ok()
            .flatten()
        else {
            return HashMap::new();
        };
        if old.release != self.route.release {
            return HashMap::new();
        }
        if old.instances.is_empty() {
            // A record from before instances: its history is the first instance's.
            return self
                .instances
                .first()
                .map(|(i, _)| {
                    (
                        i.container.clone(),
                        Tracker::resume(old.restarts, old.restart_reason),
                    )
                })
                .into_iter()
                .collect();
        }
        old.instances
            .into_iter()
            .map(|i| (i.container, Tracker::resume(i.restarts, i.restart_reason)))
            .collect()
    }

    fn write(&self, trackers: &[Tracker]) {
        let instances: Vec<InstanceHealth> = self
            .instances
            .iter()
            .zip(trackers)
            .map(|((i, backend), t)| InstanceHealth {
                container: i.container.clone(),
                state: t.state_name().to_string(),
                in_rotation: backend.in_rotation(),
                restarts: t.restarts,
                last_error: t.last_error.clone(),
                restart_reason: t.restart_reason.clone(),
                connections: backend.connections().1,
            })
            .collect();
        let state = health::app_state(instances.iter().map(|i| i.state.as_str()));
        // The app's error: of an instance that is not healthy, else the latest any had.
        let last_error = instances
            .iter()
            .filter(|i| i.state != "healthy")
            .chain(instances.iter())
            .find_map(|i| i.last_error.clone());
        let record = HealthRecord {
            app: self.app.clone(),
            release: self.route.release.clone(),
            state: state.to_string(),
            restarts: trackers.iter().map(|t| t.restarts).sum(),
            last_error,
            restart_reason: trackers.iter().find_map(|t| t.restart_reason.clone()),
            last_check: health::unix_now(),
            listener_error: lock(&self.errors).get(&self.app).cloned(),
            connections: lock(&self.counts)
                .get(&self.app)
                .copied()
                .unwrap_or_default(),
            instances,
        };
        if let Err(e) = write_json(&health::health_path(&self.root, &self.app), &record) {
            tracing::error!("{}: cannot write the health record: {e}", self.app);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supervisor_container_mounts_binary_state_and_socket() {
        let s = SupervisorSetup {
            agent: "0123456789ab".into(),
            run_image: "solum/stack-run:bookworm".into(),
            binary: "/usr/bin/solum-agent".into(),
            fingerprint: "1-2.3-4".into(),
            state_root: "/var/lib/solum-agent".into(),
            uid: 1000,
            gid: 1000,
            docker_socket: "/run/docker.sock".into(),
            socket_gid: 105,
        };
        let b = supervisor_body(&s);
        assert_eq!(supervisor_name(&s.agent), "solum-supervisor-0123456789ab");
        assert_eq!(b.entrypoint.unwrap(), [BINARY_IN_CONTAINER]);
        assert_eq!(
            b.cmd.unwrap(),
            ["supervise", "--state-dir", "/var/lib/solum-agent"]
        );
        assert_eq!(b.user.as_deref(), Some("1000:1000"));
        let labels = b.labels.unwrap();
        assert_eq!(labels[LABEL_ROLE], "supervisor");
        assert_eq!(labels[LABEL_BINARY], "1-2.3-4");
        let hc = b.host_config.unwrap();
        assert_eq!(
            hc.binds.unwrap(),
            [
                "/usr/bin/solum-agent:/usr/local/bin/solum-agent:ro",
                "/var/lib/solum-agent:/var/lib/solum-agent",
                "/run/docker.sock:/var/run/docker.sock"
            ]
        );
        assert_eq!(hc.network_mode.as_deref(), Some("host"));
        assert_eq!(hc.group_add.unwrap(), ["105"]);
        assert_eq!(
            hc.restart_policy.unwrap().name,
            Some(RestartPolicyNameEnum::UNLESS_STOPPED)
        );
    }

    #[test]
    fn fingerprint_changes_when_the_binary_does() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bin");
        std::fs::write(&p, b"one").unwrap();
        let a = binary_fingerprint(&p).unwrap();
        std::fs::remove_file(&p).unwrap();
        std::fs::write(&p, b"two!").unwrap();
        assert_ne!(a, binary_fingerprint(&p).unwrap());
    }
}
