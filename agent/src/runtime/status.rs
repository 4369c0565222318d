//! What runs: app status (containers by label + routes + the supervisor's health records,
//! mapped to Solum's state names) and app logs (each line prefixed by its process type).

use std::collections::{BTreeSet, HashMap};

use bollard::query_parameters::LogsOptions;
use futures_util::StreamExt;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::containers::{self, Managed, WEB};
use super::health::{self, HealthRecord};
use super::routes::{self, AppRoute};
use super::{AppState, AppStatus, ProcessStatus, Runtime, RuntimeError};
use crate::state::read_json;

/// One process as seen by Docker, for the pure status decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessView {
    pub process: String,
    pub container: String,
    pub docker_state: String,
    pub restarts: u64,
    pub image: String,
    /// Docker's exit code of the last run (0 while it runs).
    pub exit_code: i64,
}

impl ProcessView {
    /// A non-web process that exited 0: it finished its work, it did not crash.
    pub fn completed(&self) -> bool {
        self.process != WEB && self.docker_state == "exited" && self.exit_code == 0
    }
}

impl Runtime {
    /// Status of all apps of this agent (or of one: `NoSuchApp` when it has nothing here).
    pub async fn status(&self, app: Option<&str>) -> Result<Vec<AppStatus>, RuntimeError> {
        if let Some(app) = app {
            containers::check_name("app", app)?;
        }
        let all = containers::list(&self.docker, &self.agent, app).await?;
        let routes = routes::read_routes(self.state.root())
            .map_err(RuntimeError::io("reading the routes"))?;
        let mut names: BTreeSet<String> = all.iter().map(|c| c.app.clone()).collect();
        names.extend(
            routes
                .apps
                .keys()
                .filter(|a| app.is_none_or(|x| x == a.as_str()))
                .cloned(),
        );
        if let Some(app) = app {
            if !names.contains(app) {
                return Err(RuntimeError::NoSuchApp(app.to_string()));
            }
        }
        let mut out = Vec::new();
        for name in names {
            let mine: Vec<&Managed> = all.iter().filter(|c| c.app == name).collect();
            out.push(
                self.status_from(&name, &mine, routes.apps.get(&name))
                    .await?,
            );
        }
        Ok(out)
    }

    pub(crate) async fn status_of(&self, app: &str) -> Result<AppStatus, RuntimeError> {
        self.status(Some(app))
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| RuntimeError::NoSuchApp(app.to_string()))
    }

    async fn status_from(
        &self,
        app: &str,
        mine: &[&Managed],
        route: Option<&AppRoute>,
    ) -> Result<AppStatus, RuntimeError> {
        let release = route.map(|r| r.release.clone()).or_else(|| {
            mine.iter()
                .max_by_key(|c| c.created)
                .map(|c| c.release.clone())
        });
        let mut views = Vec::new();
        for c in mine.iter().filter(|c| Some(&c.release) == release.as_ref()) {
            let (restarts, exit_code) = match containers::inspect(&self.docker, &c.id).await {
                Ok(info) => (
                    info.restart_count.unwrap_or(0).max(0) as u64,
                    containers::state_of(&info).1,
                ),
                Err(_) => (0, -1),
            };
            views.push(ProcessView {
                process: c.process.clone(),
                container: c.name.clone(),
                docker_state: c.state.clone(),
                restarts,
                image: c.image.clone(),
                exit_code,
            });
        }
        let health: Option<HealthRecord> = read_json(&health::health_path(self.state.root(), app))
            .ok()
            .flatten()
            .filter(|h: &HealthRecord| Some(&h.release) == release.as_ref());
        let web_has_ports = mine.iter().any(|c| c.process == WEB && !c.ports.is_empty());
        let urls = route
            .map(|r| {
                r.ports
                    .iter()
                    .map(|p| {
                        let host = crate::netaddr::url_host(r.bind);
                        format!("http://{host}:{}/", p.public)
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(decide(
            app,
            release,
            &views,
            route.is_some(),
            web_has_ports,
            health.as_ref(),
            urls,
        ))
    }

    /// Writes the logs of the app's current containers to `out`, each line prefixed by the
    /// process type (`web | ...`); with `follow`, keeps going until the containers stop.
    pub async fn logs<W: AsyncWrite + Unpin>(
        &self,
        app: &str,
        follow: bool,
        out: &mut W,
    ) -> Result<(), RuntimeError> {
        containers::check_name("app", app)?;
        let all = containers::list(&self.docker, &self.agent, Some(app)).await?;
        let routes = routes::read_routes(self.state.root())
            .map_err(RuntimeError::io("reading the routes"))?;
        let release = routes
            .apps
            .get(app)
            .map(|r| r.release.clone())
            .or_else(|| {
                all.iter()
                    .max_by_key(|c| c.created)
                    .map(|c| c.release.clone())
            })
            .ok_or_else(|| RuntimeError::NoSuchApp(app.to_string()))?;
        let width = all.iter().map(|c| c.process.len()).max().unwrap_or(0);
        let streams = all.iter().filter(|c| c.release == release).map(|c| {
            let opts = LogsOptions {
                follow,
                stdout: true,
                stderr: true,
                ..Default::default()
            };
            let process = c.process.clone();
            self.docker
                .logs(&c.id, Some(opts))
                .map(move |r| (process.clone(), r))
        });
        let mut merged = futures_util::stream::select_all(streams.map(Box::pin));
        let mut partial: HashMap<String, Vec<u8>> = HashMap::new();
        while let Some((process, chunk)) = merged.next().await {
            let chunk = chunk?;
            let buf = partial.entry(process.clone()).or_default();
            let text = prefix_lines(&format!("{process:width$} | "), buf, chunk.as_ref());
            out.write_all(&text)
                .await
                .map_err(RuntimeError::io("writing logs"))?;
        }
        for (process, rest) in partial {
            if !rest.is_empty() {
                let mut text = format!("{process:width$} | ").into_bytes();
                text.extend_from_slice(&rest);
                text.push(b'\n');
                out.write_all(&text)
                    .await
                    .map_err(RuntimeError::io("writing logs"))?;
            }
        }
        out.flush()
            .await
            .map_err(RuntimeError::io("writing logs"))?;
        Ok(())
    }
}

/// Appends `chunk` to the partial line in `buf` and returns every completed line, prefixed.
pub fn prefix_lines(prefix: &str, buf: &mut Vec<u8>, chunk: &[u8]) -> Vec<u8> {
    buf.extend_from_slice(chunk);
    let mut out = Vec::new();
    while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
        out.extend_from_slice(prefix.as_bytes());
        out.extend(buf.drain(..=pos));
    }
    out
}

/// The status of one app from what Docker, the routes and the health record say (pure).
pub fn decide(
    app: &str,
    release: Option<String>,
    views: &[ProcessView],
    routed: bool,
    web_has_ports: bool,
    health: Option<&HealthRecord>,
    urls: Vec<String>,
) -> AppStatus {
    let running = |v: &&ProcessView| v.docker_state == "running";
    let up = |v: &&ProcessView| running(v) || v.completed();
    let all_running = !views.is_empty() && views.iter().all(|v| up(&v));
    let any_running = views.iter().any(|v| running(&v));
    let any_up = views.iter().any(|v| up(&v));
    let mut last_error =
        health.and_then(|h| h.listener_error.clone().or_else(|| h.last_error.clone()));
    let health_state = health.map(|h| h.state.as_str());
    let state = if views.is_empty() {
        last_error = last_error.or_else(|| Some("no containers found for the app".into()));
        AppState::Error
    } else if !routed && web_has_ports {
        if any_running {
            AppState::StartingApp
        } else {
            AppState::Stopped
        }
    } else if !routed && !any_up {
        AppState::Stopped
    } else if health.is_some_and(|h| h.listener_error.is_some())
        || health_state == Some("unhealthy")
    {
        AppState::Error
    } else if views
        .iter()
        .any(|v| !v.completed() && (v.docker_state == "exited" || v.docker_state == "dead"))
    {
        let down: Vec<&str> = views
            .iter()
            .filter(|v| !up(v))
            .map(|v| v.process.as_str())
            .collect();
        last_error = last_error.or_else(|| Some(format!("not running: {}", down.join(", "))));
        AppState::Error
    } else if all_running {
        AppState::DeploymentComplete
    } else {
        AppState::StartingApp
    };
    let processes = views
        .iter()
        .map(|v| ProcessStatus {
            process: v.process.clone(),
            container: v.container.clone(),
            docker_state: v.docker_state.clone(),
            health: if v.process == WEB && web_has_ports {
                match (routed, health_state) {
                    (true, Some(s)) => s.to_string(),
                    _ => "starting".to_string(),
                }
            } else if v.completed() {
                super::COMPLETED.to_string()
            } else {
                "unchecked".to_string()
            },
            restarts: v.restarts,
        })
        .collect();
    let restarts =
        health.map(|h| h.restarts).unwrap_or(0) + views.iter().map(|v| v.restarts).sum::<u64>();
    AppStatus {
        app: app.to_string(),
        state,
        release,
        image: views.first().map(|v| v.image.clone()),
        urls: if state == AppState::Stopped {
            Vec::new()
        } else {
            urls
        },
        processes,
        restarts,
        last_error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(process: &str, state: &str, restarts: u64) -> ProcessView {
        ProcessView {
            process: process.into(),
            container: format!("c-{process}"),
            docker_state: state.into(),
            restarts,
            image: "img".into(),
            exit_code: if state == "exited" { 1 } else { 0 },
        }
    }

    fn rec(state: &str, restarts: u64, err: Option<&str>) -> HealthRecord {
        HealthRecord {
            app: "a".into(),
            release: "r".into(),
            state: state.into(),
            restarts,
            last_error: err.map(String::from),
            restart_reason: None,
            last_check: 1,
            listener_error: None,
            connections: Default::default(),
        }
    }

    fn check(views: &[ProcessView], routed: bool, health: Option<&HealthRecord>) -> AppStatus {
        decide(
            "a",
            Some("r".into()),
            views,
            routed,
            true,
            health,
            vec!["http://127.0.0.1:80/".into()],
        )
    }

    #[test]
    fn states_follow_containers_routes_and_health() {
        let ok = [view("web", "running", 0), view("worker", "running", 1)];
        let s = check(&ok, true, Some(&rec("healthy", 2, None)));
        assert_eq!(s.state, AppState::DeploymentComplete);
        assert_eq!(s.restarts, 3);
        assert_eq!(s.processes[0].health, "healthy");
        assert_eq!(s.processes[1].health, "unchecked");
        assert_eq!(s.urls, ["http://127.0.0.1:80/"]);

        let s = check(
            &ok,
            true,
            Some(&rec("unhealthy", 1, Some("health check answered HTTP 500"))),
        );
        assert_eq!(
            (s.state, s.last_error.as_deref()),
            (AppState::Error, Some("health check answered HTTP 500"))
        );

        let stopped = [view("web", "exited", 0)];
        let s = check(&stopped, false, None);
        assert_eq!(s.state, AppState::Stopped);
        assert!(s.urls.is_empty());

        assert_eq!(check(&ok, false, None).state, AppState::StartingApp);
        assert_eq!(
            check(&[view("web", "restarting", 4)], true, None).state,
            AppState::StartingApp
        );
        let s = check(
            &[view("web", "running", 0), view("worker", "exited", 0)],
            true,
            None,
        );
        assert_eq!(
            (s.state, s.last_error.as_deref()),
            (AppState::Error, Some("not running: worker"))
        );
        let s = check(&[], true, None);
        assert_eq!(s.state, AppState::Error);

        // A worker that exited 0 has finished: no error, no restart.
        let mut done = view("worker", "exited", 0);
        done.exit_code = 0;
        let s = check(&[view("web", "running", 0), done.clone()], true, None);
        assert_eq!(
            (s.state, s.last_error),
            (AppState::DeploymentComplete, None)
        );
        assert_eq!(s.processes[1].health, "completed");
        let s = decide("a", Some("r".into()), &[done], false, false, None, vec![]);
        assert_eq!(s.state, AppState::DeploymentComplete);
        let mut web_done = view("web", "exited", 0);
        web_done.exit_code = 0;
        assert_eq!(check(&[web_done], true, None).state, AppState::Error);

        let mut r = rec("healthy", 0, None);
        r.listener_error = Some("cannot listen on 0.0.0.0:80: Address in use".into());
        let s = check(&ok, true, Some(&r));
        assert_eq!(s.state, AppState::Error);
        assert!(s.last_error.unwrap().contains("cannot listen"));
    }

    #[test]
    fn status_serializes_with_solum_state_names() {
        let s = check(
            &[view("web", "running", 0)],
            true,
            Some(&rec("healthy", 0, None)),
        );
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["state"], "DEPLOYMENT_COMPLETE");
        assert_eq!(v["processes"][0]["docker_state"], "running");
    }

    #[test]
    fn lines_are_prefixed_across_chunks() {
        let mut buf = Vec::new();
        assert_eq!(prefix_lines("web | ", &mut buf, b"hel"), b"");
        assert_eq!(
            prefix_lines("web | ", &mut buf, b"lo\nwor"),
            b"web | hello\n"
        );
        assert_eq!(
            prefix_lines("web | ", &mut buf, b"ld\n\n"),
            b"web | world\nweb | \n"
        );
        assert!(buf.is_empty());
    }
}
