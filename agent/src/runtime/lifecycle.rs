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
use super::routes::{self, AppRoute, InstanceRoute, PortRoute, Routes};
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
    /// 1-based instance of the process type.
    instance: u16,
    id: String,
    /// Docker's restart count right after the start (a later increase means it crashed).
    restarts0: i64,
    /// Unix seconds just before the start (for the engine's event log).
    since: u64,
}

impl Started {
    /// `web`, or `web.2` for the second instance.
    fn label(&self) -> String {
        if self.instance <= 1 {
            self.process.clone()
        } else {
            format!("{}.{}", self.process, self.instance)
        }
    }
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
            // Another number of instances: start or stop some, nothing else.
            self.scale(spec, &existing, on_progress).await?;
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
            for instance in 1..=spec.instances_of(process) {
                match self
                    .start_instance(spec, process, instance, solum_start, since, on_progress)
                    .await
                {
                    Ok(s) => started.push(s),
                    Err(e) => {
                        self.remove_all(started.iter().map(|s| s.id.as_str())).await;
                        return Err(e);
                    }
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
        let webs: Vec<InstanceRoute> = started
            .iter()
            .filter(|s| s.process == WEB)
            .map(|s| InstanceRoute {
                container: containers::instance_name(
                    &self.agent,
                    &spec.app,
                    &spec.release,
                    WEB,
                    s.instance,
                ),
                container_id: s.id.clone(),
            })
            .collect();
        let route = (!webs.is_empty() && !web_ports.is_empty())
            .then(|| self.route_for(&spec.release, webs, &web_ports));
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

    /// Creates and starts one instance of a process type.
    async fn start_instance(
        &self,
        spec: &ReleaseSpec,
        process: &str,
        instance: u16,
        solum_start: bool,
        since: u64,
        on_progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Started, RuntimeError> {
        let name =
            containers::instance_name(&self.agent, &spec.app, &spec.release, process, instance);
        on_progress(&format!("starting {process} ({name})"));
        let body = containers::create_body(&self.agent, spec, process, instance, solum_start);
        let id = containers::create_and_start(&self.docker, &name, body).await?;
        Ok(Started {
            process: process.to_string(),
            instance,
            id,
            restarts0: 0,
            since,
        })
    }

    /// Brings the running release `spec.release` to `spec.instances`: missing instances are
    /// started and must be healthy before the route names them; surplus ones leave the route
    /// first, drain, and are stopped; web instances that are down are made again. Nothing is
    /// built or re-run (no release phase).
    async fn scale(
        &self,
        spec: &ReleaseSpec,
        existing: &[Managed],
        on_progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), RuntimeError> {
        // Web instances that are down (not being restarted by Docker) are made again.
        let down = |c: &Managed| {
            c.process == WEB && matches!(c.state.as_str(), "exited" | "dead" | "created")
        };
        for c in existing
            .iter()
            .filter(|c| c.release == spec.release && down(c))
        {
            on_progress(&format!(
                "replacing {} ({}): it is {}",
                c.process, c.name, c.state
            ));
            containers::remove(&self.docker, &c.id).await?;
        }
        let mine: Vec<&Managed> = existing
            .iter()
            .filter(|c| c.release == spec.release && !down(c))
            .collect();
        let missing: Vec<(&String, u16)> = spec
            .processes
            .keys()
            .flat_map(|p| (1..=spec.instances_of(p)).map(move |i| (p, i)))
            .filter(|(p, i)| !mine.iter().any(|c| &c.process == *p && c.instance == *i))
            .collect();
        let surplus: Vec<&Managed> = mine
            .iter()
            .filter(|c| c.instance > spec.instances_of(&c.process))
            .copied()
            .collect();
        if missing.is_empty() && surplus.is_empty() {
            return Ok(());
        }
        let web_ports = if spec.processes.contains_key(WEB) {
            spec.ports.clone()
        } else {
            Vec::new()
        };
        let counts: Vec<String> = spec
            .processes
            .keys()
            .map(|p| format!("{p}={}", spec.instances_of(p)))
            .collect();
        on_progress(&format!(
            "scaling {} to {} (no rebuild)",
            spec.app,
            counts.join(" ")
        ));
        let mut started = Vec::new();
        if !missing.is_empty() {
            let solum_start = containers::uses_solum_start(&self.docker, &spec.image).await?;
            let since = health::unix_now().saturating_sub(1);
            for (process, instance) in missing {
                match self
                    .start_instance(spec, process, instance, solum_start, since, on_progress)
                    .await
                {
                    Ok(s) => started.push(s),
                    Err(e) => {
                        self.remove_all(started.iter().map(|s| s.id.as_str())).await;
                        return Err(e);
                    }
                }
            }
            if let Err(reason) = self.wait_healthy(&mut started, &web_ports).await {
                self.remove_all(started.iter().map(|s| s.id.as_str())).await;
                return Err(RuntimeError::Unhealthy {
                    app: spec.app.clone(),
                    secs: self.settings.health.start_timeout.as_secs(),
                    reason,
                });
            }
        }
        if !web_ports.is_empty() {
            let mut webs: Vec<(u16, InstanceRoute)> = mine
                .iter()
                .filter(|c| c.process == WEB && c.instance <= spec.instances_of(WEB))
                .map(|c| (c.instance, c.id.clone()))
                .chain(
                    started
                        .iter()
                        .filter(|s| s.process == WEB)
                        .map(|s| (s.instance, s.id.clone())),
                )
                .map(|(instance, id)| {
                    let container = containers::instance_name(
                        &self.agent,
                        &spec.app,
                        &spec.release,
                        WEB,
                        instance,
                    );
                    (
                        instance,
                        InstanceRoute {
                            container,
                            container_id: id,
                        },
                    )
                })
                .collect();
            webs.sort_by_key(|(i, _)| *i);
            let webs = webs.into_iter().map(|(_, r)| r).collect();
            if let Err(e) = self
                .set_route(
                    &spec.app,
                    Some(self.route_for(&spec.release, webs, &web_ports)),
                )
                .await
            {
                self.remove_all(started.iter().map(|s| s.id.as_str())).await;
                return Err(e);
            }
        }
        if surplus.iter().any(|c| c.process == WEB) {
            tokio::time::sleep(DRAIN).await;
        }
        for c in surplus {
            on_progress(&format!("stopping {} ({}): scaled down", c.process, c.name));
            containers::stop(&self.docker, &c.id, STOP_SECS).await?;
            containers::remove(&self.docker, &c.id).await?;
        }
        Ok(())
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
                instance: c.instance,
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
        let webs: Vec<InstanceRoute> = mine
            .iter()
            .filter(|c| c.process == WEB)
            .map(|c| InstanceRoute {
                container: c.name.clone(),
                container_id: c.id.clone(),
            })
            .collect();
        let route =
            (!webs.is_empty() && !ports.is_empty()).then(|| self.route_for(&release, webs, &ports));
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
        // Every process type has its first instance; the instances both the spec and the
        // engine have are up (a different count is a scale, not a new release). Web serves
        // while one instance runs: `scale` replaces the ones that are down.
        for p in spec.processes.keys() {
            let ours: Vec<&Managed> = existing
                .iter()
                .filter(|c| c.release == spec.release && &c.process == p)
                .collect();
            if !ours.iter().any(|c| c.instance == 1) {
                return false;
            }
            if p == WEB {
                if !ours.iter().any(|c| c.state == "running") {
                    return false;
                }
                continue;
            }
            for c in ours.iter().filter(|c| c.instance <= spec.instances_of(p)) {
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

    fn route_for(&self, release: &str, instances: Vec<InstanceRoute>, ports: &[u16]) -> AppRoute {
        AppRoute {
            release: release.to_string(),
            instances,
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
        let mut pending: Vec<&Started> = started.iter().filter(|s| s.process == WEB).collect();
        if let (false, Some(&port)) = (pending.is_empty(), ports.first()) {
            let deadline = begin + policy.start_timeout;
            let mut last = String::from("not checked yet");
            loop {
                let mut still = Vec::new();
                for web in pending {
                    let info = containers::inspect(&self.docker, &web.id)
                        .await
                        .map_err(|e| e.to_string())?;
                    self.crashed(web, &info).await?;
                    if let Some(host_port) = containers::published_port(&info, port) {
                        let addr = SocketAddr::from(([127, 0, 0, 1], host_port));
                        let result = health::probe(addr, &policy.path, policy.timeout).await;
                        match health::judge(&result) {
                            Ok(()) => continue,
                            Err(e) => last = e,
                        }
                    }
                    still.push(web);
                }
                pending = still;
                let Some(web) = pending.first() else { break };
                if Instant::now() >= deadline {
                    return Err(format!(
                        "{} does not answer HTTP on port {port} ({}): {last}",
                        web.label(),
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
            s.label()
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
    for (p, &n) in &spec.instances {
        if !(1..=super::MAX_INSTANCES).contains(&n) {
            return Err(RuntimeError::Other(format!(
                "{}: {n} instances of {p}: give 1 to {}",
                spec.app,
                super::MAX_INSTANCES
            )));
        }
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
            instances: BTreeMap::new(),
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
        for n in [0, 65] {
            let mut s = spec();
            s.instances.insert("web".into(), n);
            let err = check_spec(&s).unwrap_err().to_string();
            assert!(err.contains("give 1 to 64"), "{err}");
        }
        let mut s = spec();
        s.instances.insert("web".into(), 64);
        assert!(check_spec(&s).is_ok());
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
            instance: 1,
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
