//! Releasing, stopping, starting and destroying an app: the zero-downtime switch (start the
//! new containers, wait until healthy, move the route, wait for the supervisor's ack, only
//! then stop the old release) and the checks around it (names, public ports, adoption). The
//! Procfile's release phase runs first, once, in a one-off container of the new image: a
//! failure stops the release before any new process starts.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::time::Instant;

use super::containers::{self, Managed, LABEL_AGENT, LABEL_APP, LABEL_ROLE, WEB};
use super::health;
use super::routes::{self, AppRoute, PortRoute, Routes};
use super::supervisor;
use super::{AppStatus, ReleaseSpec, Runtime, RuntimeError};

/// How long the supervisor has to acknowledge new routes.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// Non-web processes must still run this long after start.
const GRACE: Duration = Duration::from_secs(2);
/// Pause between moving the route and stopping the old release (connections that were
/// just accepted for the old upstream get connected before it goes).
const DRAIN: Duration = Duration::from_millis(500);
/// Graceful stop timeout of old containers.
const STOP_SECS: i32 = 10;
const POLL: Duration = Duration::from_millis(200);
/// Lines of the release phase's output kept for its error.
const RELEASE_TAIL: usize = 40;
/// `solum.role` of release-phase containers (they carry `solum.agent` and `solum.app` like
/// every container of the agent, but no `solum.release`: they are not processes of a release,
/// so `containers::list`, status, start and adoption never see them).
pub const ROLE_RELEASE_PHASE: &str = "release-phase";
/// The app of a release-phase container.
pub const LABEL_RELEASE_PHASE_APP: &str = "solum.release-phase.app";

/// A started container of a release being checked.
struct Started {
    process: String,
    id: String,
    /// Docker's restart count right after the start (a later increase means it crashed).
    restarts0: i64,
    /// Unix seconds just before the start (for the engine's event log).
    since: u64,
}

impl Runtime {
    /// Starts `spec`'s containers, waits until they are healthy, switches the public ports to
    /// them and then stops the previous release. On failure the previous release keeps
    /// serving and the new containers are removed.
    pub async fn release(
        &self,
        spec: &ReleaseSpec,
        on_progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<AppStatus, RuntimeError> {
        check_spec(spec)?;
        self.ensure_supervisor().await?;
        let root = self.state.root();
        let existing = containers::list(&self.docker, &self.agent, Some(&spec.app)).await?;
        let current = routes::read_routes(root).map_err(RuntimeError::io("reading the routes"))?;

        if self.already_serving(spec, &existing, &current).await {
            on_progress(&format!(
                "release {} of {} is already running",
                spec.release, spec.app
            ));
            // An agent killed between the switch and the cleanup left the old release behind.
            self.retire(
                existing.iter().filter(|c| c.release != spec.release),
                on_progress,
            )
            .await?;
            return self.status_of(&spec.app).await;
        }
        let web_ports = if spec.processes.contains_key(WEB) {
            spec.ports.clone()
        } else {
            Vec::new()
        };
        self.check_public_ports(&spec.app, &web_ports, &current)?;
        // Leftovers of an interrupted attempt at the same release.
        for c in existing.iter().filter(|c| c.release == spec.release) {
            containers::remove(&self.docker, &c.id).await?;
        }

        if let Some(cmd) = &spec.release_command {
            self.release_phase(spec, cmd, on_progress).await?;
        }

        let solum_start = containers::uses_solum_start(&self.docker, &spec.image).await?;
        let since = health::unix_now().saturating_sub(1);
        let mut started = Vec::new();
        for process in spec.processes.keys() {
            let name = containers::container_name(&self.agent, &spec.app, &spec.release, process);
            on_progress(&format!("starting {process} ({name})"));
            let body = containers::create_body(&self.agent, spec, process, solum_start);
            match containers::create_and_start(&self.docker, &name, body).await {
                Ok(id) => started.push(Started {
                    process: process.clone(),
                    id,
                    restarts0: 0,
                    since,
                }),
                Err(e) => {
                    self.remove_all(started.iter().map(|s| s.id.as_str())).await;
                    return Err(e);
                }
            }
        }

        on_progress(&format!("waiting for {} to become healthy", spec.app));
        if let Err(reason) = self.wait_healthy(&mut started, &web_ports).await {
            self.remove_all(started.iter().map(|s| s.id.as_str())).await;
            return Err(RuntimeError::Unhealthy {
                app: spec.app.clone(),
                secs: self.settings.health.start_timeout.as_secs(),
                reason,
            });
        }

        on_progress("switching the public ports to the new release");
        let web = started.iter().find(|s| s.process == WEB);
        let route = match (web, web_ports.is_empty()) {
            (Some(w), false) => Some(self.route_for(
                &spec.release,
                &containers::container_name(&self.agent, &spec.app, &spec.release, WEB),
                &w.id,
                &web_ports,
            )),
            _ => None,
        };
        if let Err(e) = self.set_route(&spec.app, route).await {
            let previous = current.apps.get(&spec.app).cloned();
            if let Err(e2) = self.set_route(&spec.app, previous).await {
                tracing::error!("{}: cannot restore the previous route: {e2}", spec.app);
            }
            self.remove_all(started.iter().map(|s| s.id.as_str())).await;
            return Err(e);
        }

        if existing.iter().any(|c| c.release != spec.release) {
            tokio::time::sleep(DRAIN).await;
            self.retire(
                existing.iter().filter(|c| c.release != spec.release),
                on_progress,
            )
            .await?;
        }
        self.status_of(&spec.app).await
    }

    /// Runs the release phase once with the app's environment, in a one-off container of the
    /// new image on the processes' network; Err (with the tail of its output) when it exits
    /// non-zero or outlives the release timeout. Nothing else has changed at that point.
    async fn release_phase(
        &self,
        spec: &ReleaseSpec,
        cmd: &str,
        on_progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), RuntimeError> {
        let mut env = spec.env.clone();
        if let Some(first) = spec.ports.first() {
            env.insert("PORT".into(), first.to_string());
        }
        let job = crate::build::oneoff::OneOff {
            image: spec.image.clone(),
            cmd: cmd.to_string(),
            env,
            labels: HashMap::from([
                (LABEL_AGENT.to_string(), self.agent.clone()),
                (LABEL_APP.to_string(), spec.app.clone()),
                (LABEL_ROLE.to_string(), ROLE_RELEASE_PHASE.to_string()),
                (LABEL_RELEASE_PHASE_APP.to_string(), spec.app.clone()),
            ]),
            // A process type cannot start with '-': no process container has this name.
            name: Some(format!(
                "{}--release",
                containers::container_name(&self.agent, &spec.app, &spec.release, "")
                    .trim_end_matches('-')
            )),
            network: true,
            tail_lines: RELEASE_TAIL,
        };
        let timeout = self.settings.release_timeout;
        on_progress(&format!("running the release phase: {cmd}"));
        let ended = crate::build::oneoff::run(
            &self.docker,
            &job,
            &mut |line: &str| on_progress(&format!("release | {line}")),
            timeout,
        )
        .await?;
        let (how, output) = match ended {
            crate::build::oneoff::Ended::Exited { code: 0, .. } => {
                on_progress("release phase succeeded");
                return Ok(());
            }
            crate::build::oneoff::Ended::Exited { code, tail } => {
                (format!("failed: `{cmd}` exited with code {code}"), tail)
            }
            crate::build::oneoff::Ended::TimedOut { tail } => (
                format!(
                    "failed: `{cmd}` did not finish within {} s and was killed",
                    timeout.as_secs()
                ),
                tail,
            ),
        };
        Err(RuntimeError::ReleasePhase {
            app: spec.app.clone(),
            release: spec.release.clone(),
            how,
            output: if output.is_empty() {
                "(no output)".into()
            } else {
                output.trim_end().to_string()
            },
        })
    }

    /// Gracefully stops and removes containers of releases no longer served.
    async fn retire<'a>(
        &self,
        old: impl Iterator<Item = &'a Managed>,
        on_progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), RuntimeError> {
        for c in old {
            on_progress(&format!(
                "stopping {} of the previous release ({})",
                c.process, c.name
            ));
            containers::stop(&self.docker, &c.id, STOP_SECS).await?;
            containers::remove(&self.docker, &c.id).await?;
        }
        Ok(())
    }

    /// Takes the route of `app` away; returns its containers (NoSuchApp when it has neither).
    async fn unroute(&self, app: &str) -> Result<Vec<containers::Managed>, RuntimeError> {
        containers::check_name("app", app)?;
        let all = containers::list(&self.docker, &self.agent, Some(app)).await?;
        let routed = routes::read_routes(self.state.root())
            .map_err(RuntimeError::io("reading the routes"))?;
        if all.is_empty() && !routed.apps.contains_key(app) {
            return Err(RuntimeError::NoSuchApp(app.to_string()));
        }
        self.set_route(app, None).await?;
        Ok(all)
    }

    /// Stops the app's containers (kept, with their images) after taking its route away.
    pub async fn stop(&self, app: &str) -> Result<(), RuntimeError> {
        let all = self.unroute(app).await?;
        for c in &all {
            containers::stop(&self.docker, &c.id, STOP_SECS).await?;
        }
        Ok(())
    }

    /// Starts the app's current release again, checks its health and routes it back.
    pub async fn start(&self, app: &str) -> Result<AppStatus, RuntimeError> {
        containers::check_name("app", app)?;
        self.ensure_supervisor().await?;
        let all = containers::list(&self.docker, &self.agent, Some(app)).await?;
        let Some(release) = newest_release(&all) else {
            return Err(RuntimeError::NoSuchApp(app.to_string()));
        };
        let mine: Vec<&Managed> = all.iter().filter(|c| c.release == release).collect();
        let ports = mine
            .iter()
            .find(|c| c.process == WEB)
            .map(|c| c.ports.clone())
            .unwrap_or_default();
        let current = routes::read_routes(self.state.root())
            .map_err(RuntimeError::io("reading the routes"))?;
        self.check_public_ports(app, &ports, &current)?;
        let since = health::unix_now().saturating_sub(1);
        let mut started = Vec::new();
        for c in &mine {
            match self
                .docker
                .start_container(
                    &c.id,
                    None::<bollard::query_parameters::StartContainerOptions>,
                )
                .await
            {
                Ok(())
                | Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 304, ..
                }) => {}
                Err(e) => return Err(e.into()),
            }
            started.push(Started {
                process: c.process.clone(),
                id: c.id.clone(),
                restarts0: 0,
                since,
            });
        }
        if let Err(reason) = self.wait_healthy(&mut started, &ports).await {
            for c in &mine {
                containers::stop(&self.docker, &c.id, STOP_SECS).await?;
            }
            return Err(RuntimeError::Unhealthy {
                app: app.to_string(),
                secs: self.settings.health.start_timeout.as_secs(),
                reason,
            });
        }
        let route = mine
            .iter()
            .find(|c| c.process == WEB)
            .filter(|_| !ports.is_empty())
            .map(|w| self.route_for(&release, &w.name, &w.id, &ports));
        self.set_route(app, route).await?;
        self.status_of(app).await
    }

    /// Removes the app's route and containers (its images are the caller's business).
    pub async fn destroy(&self, app: &str) -> Result<(), RuntimeError> {
        let all = self.unroute(app).await?;
        for c in &all {
            containers::stop(&self.docker, &c.id, STOP_SECS).await?;
            containers::remove(&self.docker, &c.id).await?;
        }
        // A release phase whose agent was killed mid-run.
        let phases = containers::ids_labelled(
            &self.docker,
            vec![
                format!("{LABEL_AGENT}={}", self.agent),
                format!("{LABEL_RELEASE_PHASE_APP}={app}"),
            ],
        )
        .await?;
        for id in &phases {
            containers::remove(&self.docker, id).await?;
        }
        match std::fs::remove_file(health::health_path(self.state.root(), app)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(RuntimeError::io("removing the health record")(e))
            }
            _ => Ok(()),
        }
    }

    /// True when `spec.release` is routed (or needs no route) and all its processes run (or,
    /// not web, finished with exit code 0).
    async fn already_serving(
        &self,
        spec: &ReleaseSpec,
        existing: &[Managed],
        routes: &Routes,
    ) -> bool {
        let routed = match routes.apps.get(&spec.app) {
            Some(r) => r.release == spec.release,
            None => !spec.processes.contains_key(WEB) || spec.ports.is_empty(),
        };
        if !routed {
            return false;
        }
        for p in spec.processes.keys() {
            let Some(c) = existing
                .iter()
                .find(|c| c.release == spec.release && &c.process == p)
            else {
                return false;
            };
            let up = c.state == "running"
                || (c.process != WEB
                    && c.state == "exited"
                    && containers::inspect(&self.docker, &c.id)
                        .await
                        .is_ok_and(|i| containers::state_of(&i).1 == 0));
            if !up {
                return false;
            }
        }
        true
    }

    /// Refuses public ports held by another app or by something outside the agent.
    fn check_public_ports(
        &self,
        app: &str,
        ports: &[u16],
        routes: &Routes,
    ) -> Result<(), RuntimeError> {
        let addr: IpAddr = self.settings.public.0;
        for &port in ports {
            match routes::owner_of(routes, addr, port) {
                Some(owner) if owner == app => continue,
                Some(_) => return Err(RuntimeError::PortInUse { addr, port }),
                None => {}
            }
            match std::net::TcpListener::bind(SocketAddr::new(addr, port)) {
                Ok(l) => drop(l),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    return Err(RuntimeError::PortInUse { addr, port })
                }
                Err(e) => {
                    return Err(RuntimeError::io(format!(
                        "binding public port {addr}:{port}"
                    ))(e))
                }
            }
        }
        Ok(())
    }

    fn route_for(&self, release: &str, container: &str, id: &str, ports: &[u16]) -> AppRoute {
        AppRoute {
            release: release.to_string(),
            container: container.to_string(),
            container_id: id.to_string(),
            bind: self.settings.public.0,
            ports: ports
                .iter()
                .map(|&p| PortRoute {
                    public: p,
                    container_port: p,
                })
                .collect(),
            health: self.settings.health.clone(),
        }
    }

    /// Sets (or removes) the app's route and waits until the supervisor applied it.
    async fn set_route(&self, app: &str, route: Option<AppRoute>) -> Result<(), RuntimeError> {
        let root = self.state.root();
        let before = routes::read_routes(root).map_err(RuntimeError::io("reading the routes"))?;
        if before.apps.get(app) == route.as_ref() {
            return Ok(());
        }
        let written = routes::update::<()>(root, |r| {
            match route {
                Some(route) => r.apps.insert(app.to_string(), route),
                None => r.apps.remove(app),
            };
            Ok(())
        })
        .map_err(|e| match e {
            routes::UpdateError::Io(e) => RuntimeError::io("updating the routes")(e),
            routes::UpdateError::Change(()) => RuntimeError::Other("updating the routes".into()),
        })?;
        self.wait_ack(written.generation, app).await
    }

    async fn wait_ack(&self, generation: u64, app: &str) -> Result<(), RuntimeError> {
        let deadline = Instant::now() + ACK_TIMEOUT;
        loop {
            match routes::read_ack(self.state.root()) {
                Ok(Some(ack)) if ack.generation >= generation => {
                    return match ack.errors.get(app) {
                        Some(e) => Err(RuntimeError::Other(format!("supervisor: {e}"))),
                        None => Ok(()),
                    };
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("reading the routes acknowledgement: {e}"),
            }
            if Instant::now() >= deadline {
                let name = supervisor::supervisor_name(&self.agent);
                let logs = containers::last_lines(&self.docker, &name, 5).await;
                tracing::error!("the supervisor {name} did not acknowledge generation {generation}; its last output:\n{logs}");
                return Err(RuntimeError::SupervisorTimeout(ACK_TIMEOUT.as_secs()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Web (when it has ports): answers HTTP 2xx-3xx on its first port within the start
    /// timeout. Every process: still running, not restarted, after a short grace period.
    async fn wait_healthy(&self, started: &mut [Started], ports: &[u16]) -> Result<(), String> {
        let begin = Instant::now();
        for s in started.iter_mut() {
            s.restarts0 = containers::inspect(&self.docker, &s.id)
                .await
                .map_err(|e| e.to_string())?
                .restart_count
                .unwrap_or(0);
        }
        let policy = &self.settings.health;
        if let (Some(web), Some(&port)) = (started.iter().find(|s| s.process == WEB), ports.first())
        {
            let deadline = begin + policy.start_timeout;
            let mut last = String::from("not checked yet");
            loop {
                let info = containers::inspect(&self.docker, &web.id)
                    .await
                    .map_err(|e| e.to_string())?;
                self.crashed(web, &info).await?;
                if let Some(host_port) = containers::published_port(&info, port) {
                    let addr = SocketAddr::from(([127, 0, 0, 1], host_port));
                    let result = health::probe(addr, &policy.path, policy.timeout).await;
                    match health::judge(&result) {
                        Ok(()) => break,
                        Err(e) => last = e,
                    }
                }
                if Instant::now() >= deadline {
                    return Err(format!(
                        "web does not answer HTTP on port {port} ({}): {last}",
                        policy.path
                    ));
                }
                tokio::time::sleep(POLL).await;
            }
        }
        // A web process that answered has proven itself; other processes prove themselves by
        // still running after the grace period (only waited for when there are some).
        if started.iter().any(|s| s.process != WEB) {
            let grace_end = begin + GRACE.min(policy.start_timeout);
            tokio::time::sleep_until(grace_end).await;
        }
        for s in started.iter() {
            let info = containers::inspect(&self.docker, &s.id)
                .await
                .map_err(|e| e.to_string())?;
            self.crashed(s, &info).await?;
        }
        Ok(())
    }

    /// Err with the exit code and last output when the container stopped or was restarted.
    async fn crashed(
        &self,
        s: &Started,
        info: &bollard::models::ContainerInspectResponse,
    ) -> Result<(), String> {
        let (state, code) = containers::state_of(info);
        let restarts = info.restart_count.unwrap_or(0);
        if state == "running" && restarts == s.restarts0 {
            return Ok(());
        }
        if state == "created" {
            return Ok(());
        }
        // A worker, a clock or a one-shot job that finished: not a crash (its restart policy
        // restarts it only on failure).
        if s.process != WEB && state == "exited" && code == 0 && restarts == s.restarts0 {
            return Ok(());
        }
        let code = if state == "running" || state == "restarting" {
            containers::first_exit_code(&self.docker, &s.id, s.since)
                .await
                .unwrap_or(code)
        } else {
            code
        };
        let logs = containers::last_lines(&self.docker, &s.id, 10).await;
        let logs = if logs.is_empty() {
            "(no output)".to_string()
        } else {
            logs
        };
        Err(format!(
            "{} container exited with code {code}; last output:\n{logs}",
            s.process
        ))
    }

    async fn remove_all(&self, ids: impl Iterator<Item = &str>) {
        for id in ids {
            if let Err(e) = containers::remove(&self.docker, id).await {
                tracing::error!("cannot remove container {id}: {e}");
            }
        }
    }
}

/// The release with the most recently created container.
fn newest_release(all: &[Managed]) -> Option<String> {
    all.iter()
        .max_by_key(|c| c.created)
        .map(|c| c.release.clone())
}

fn check_spec(spec: &ReleaseSpec) -> Result<(), RuntimeError> {
    containers::check_name("app", &spec.app)?;
    containers::check_name("release", &spec.release)?;
    if spec.processes.is_empty() {
        return Err(RuntimeError::Other(format!(
            "release {} of {} has no processes",
            spec.release, spec.app
        )));
    }
    for p in spec.processes.keys() {
        containers::check_name("process type", p)?;
    }
    let mut seen = BTreeMap::new();
    for &p in &spec.ports {
        if p == 0 || seen.insert(p, ()).is_some() {
            return Err(RuntimeError::Other(format!(
                "{}: port {p} is zero or listed twice",
                spec.app
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ReleaseSpec {
        ReleaseSpec {
            app: "shop".into(),
            release: "abc".into(),
            image: "img".into(),
            processes: BTreeMap::from([("web".to_string(), None)]),
            ports: vec![8080],
            env: BTreeMap::new(),
            release_command: None,
        }
    }

    #[test]
    fn specs_are_checked() {
        assert!(check_spec(&spec()).is_ok());
        let mut s = spec();
        s.app = "../x".into();
        assert!(check_spec(&s)
            .unwrap_err()
            .to_string()
            .contains("invalid app name"));
        let mut s = spec();
        s.processes.clear();
        assert!(check_spec(&s)
            .unwrap_err()
            .to_string()
            .contains("no processes"));
        let mut s = spec();
        s.ports = vec![8080, 8080];
        assert!(check_spec(&s)
            .unwrap_err()
            .to_string()
            .contains("listed twice"));
        let mut s = spec();
        s.processes.insert("bad name".into(), None);
        assert!(check_spec(&s)
            .unwrap_err()
            .to_string()
            .contains("process type"));
    }

    #[test]
    fn newest_release_wins() {
        let m = |release: &str, created| Managed {
            id: release.into(),
            name: release.into(),
            app: "a".into(),
            release: release.into(),
            process: "web".into(),
            ports: vec![],
            state: "exited".into(),
            image: "i".into(),
            created,
        };
        assert_eq!(
            newest_release(&[m("r1", 10), m("r2", 20), m("r0", 5)]).as_deref(),
            Some("r2")
        );
        assert_eq!(newest_release(&[]), None);
    }
}
