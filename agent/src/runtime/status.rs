//! What runs: app status (containers by label + routes + the supervisor's health records,
//! mapped to Solum's state names) and app logs (each line prefixed by its process type).

use std::collections::{BTreeSet, HashMap};

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use futures_util::StreamExt;
use serde::Serialize;
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
    /// 1-based instance of the process type.
    pub instance: u16,
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
                instance: c.instance,
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

    /// Writes the logs of the app's current containers to `out`: as text, each line prefixed
    /// by the process type (`web | ...`); as JSON, one `LogLine` object per line. With
    /// `follow`, keeps going until the containers stop.
    pub async fn logs<W: AsyncWrite + Unpin>(
        &self,
        app: &str,
        follow: bool,
        form: LogForm,
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
                timestamps: form == LogForm::Json,
                ..Default::default()
            };
            let process = c.process.clone();
            let container = c.name.clone();
            self.docker
                .logs(&c.id, Some(opts))
                .map(move |r| (process.clone(), container.clone(), r))
        });
        let mut merged = futures_util::stream::select_all(streams.map(Box::pin));
        let mut text = TextLines::default();
        let mut json = JsonLines::new(app);
        while let Some((process, container, frame)) = merged.next().await {
            let bytes = match form {
                LogForm::Text => text.push(&process, width, frame?.as_ref()),
                LogForm::Json => json.push(&process, &container, &frame?),
            };
            write_logs(out, &bytes).await?;
        }
        let rest = match form {
            LogForm::Text => text.finish(width),
            LogForm::Json => json.finish(),
        };
        write_logs(out, &rest).await?;
        out.flush()
            .await
            .map_err(RuntimeError::io("writing logs"))?;
        Ok(())
    }
}

async fn write_logs<W: AsyncWrite + Unpin>(out: &mut W, bytes: &[u8]) -> Result<(), RuntimeError> {
    if bytes.is_empty() {
        return Ok(());
    }
    out.write_all(bytes)
        .await
        .map_err(RuntimeError::io("writing logs"))
}

/// How `Runtime::logs` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogForm {
    /// `PROCESS | line`, stdout and stderr together, as `docker logs` shows them.
    Text,
    /// One `LogLine` as JSON per line (`solum-agent logs --json`).
    Json,
}

/// One line of an app's logs, as `solum-agent logs --json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    pub app: String,
    /// The process type (`web`, `worker`, ...).
    pub process: String,
    /// The container's name.
    pub container: String,
    /// `stdout` or `stderr`.
    pub stream: &'static str,
    /// When Docker received the line (RFC 3339, nanoseconds, UTC), as `docker logs -t` shows.
    pub timestamp: String,
    /// The line, without its newline (invalid UTF-8 replaced).
    pub message: String,
}

/// Text form: lines completed per process, prefixed.
#[derive(Default)]
struct TextLines {
    partial: HashMap<String, Vec<u8>>,
}

impl TextLines {
    fn push(&mut self, process: &str, width: usize, chunk: &[u8]) -> Vec<u8> {
        let buf = self.partial.entry(process.to_string()).or_default();
        prefix_lines(&format!("{process:width$} | "), buf, chunk)
    }

    fn finish(&mut self, width: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for (process, rest) in self.partial.drain() {
            if !rest.is_empty() {
                out.extend(format!("{process:width$} | ").into_bytes());
                out.extend_from_slice(&rest);
                out.push(b'\n');
            }
        }
        out
    }
}

/// JSON form: lines assembled per container and stream from timestamped frames.
struct JsonLines {
    app: String,
    partial: HashMap<(String, &'static str), (String, TimestampedLines)>,
}

impl JsonLines {
    fn new(app: &str) -> JsonLines {
        JsonLines {
            app: app.to_string(),
            partial: HashMap::new(),
        }
    }

    fn push(&mut self, process: &str, container: &str, frame: &LogOutput) -> Vec<u8> {
        let (stream, bytes) = match frame {
            LogOutput::StdErr { message } => ("stderr", message),
            LogOutput::StdOut { message }
            | LogOutput::Console { message }
            | LogOutput::StdIn { message } => ("stdout", message),
        };
        let (_, lines) = self
            .partial
            .entry((container.to_string(), stream))
            .or_insert_with(|| (process.to_string(), TimestampedLines::default()));
        let done = lines.push(bytes);
        self.render(process, container, stream, done)
    }

    fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let partial = std::mem::take(&mut self.partial);
        for ((container, stream), (process, mut lines)) in partial {
            let rest = lines.finish().into_iter().collect();
            out.extend(self.render(&process, &container, stream, rest));
        }
        out
    }

    fn render(
        &self,
        process: &str,
        container: &str,
        stream: &'static str,
        lines: Vec<(String, String)>,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        for (timestamp, message) in lines {
            let line = LogLine {
                app: self.app.clone(),
                process: process.to_string(),
                container: container.to_string(),
                stream,
                timestamp,
                message,
            };
            // A struct of strings always serializes.
            if serde_json::to_writer(&mut out, &line).is_ok() {
                out.push(b'\n');
            }
        }
        out
    }
}

/// Joins the frames Docker sends for one stream of one container with `timestamps` on
/// (`TIMESTAMP SP text`) into whole lines (pure). Docker splits a line over 16 KiB into several
/// frames, each with its own timestamp: a line keeps its first frame's.
#[derive(Debug, Default)]
pub struct TimestampedLines {
    partial: Option<(String, Vec<u8>)>,
}

impl TimestampedLines {
    /// Takes one frame; returns the (timestamp, line) pairs it completes.
    pub fn push(&mut self, frame: &[u8]) -> Vec<(String, String)> {
        let mut done = Vec::new();
        let mut rest = frame;
        while !rest.is_empty() {
            let (ts, body) = split_timestamp(rest);
            let (_, buf) = self
                .partial
                .get_or_insert_with(|| (ts.to_string(), Vec::new()));
            match body.iter().position(|&b| b == b'\n') {
                Some(pos) => {
                    buf.extend_from_slice(&body[..pos]);
                    done.extend(self.take());
                    rest = &body[pos + 1..];
                }
                None => {
                    buf.extend_from_slice(body);
                    break;
                }
            }
        }
        done
    }

    /// The last line if it had no newline.
    pub fn finish(&mut self) -> Option<(String, String)> {
        self.take()
    }

    fn take(&mut self) -> Option<(String, String)> {
        let (ts, buf) = self.partial.take()?;
        let text = String::from_utf8_lossy(&buf);
        Some((ts, text.strip_suffix('\r').unwrap_or(&text).to_string()))
    }
}

/// `("2026-01-02T03:04:05.123456789Z", "text")` from `2026-01-02T03:04:05.123456789Z text`;
/// an empty timestamp when the frame does not start with one.
fn split_timestamp(frame: &[u8]) -> (&str, &[u8]) {
    let Some(space) = frame.iter().take(64).position(|&b| b == b' ') else {
        return ("", frame);
    };
    match std::str::from_utf8(&frame[..space]) {
        Ok(ts) if looks_like_rfc3339(ts) => (ts, &frame[space + 1..]),
        _ => ("", frame),
    }
}

fn looks_like_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[10] == b'T'
        && (s.ends_with('Z') || s[19..].contains(['+', '-']))
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
            instance: v.instance,
            container: v.container.clone(),
            docker_state: v.docker_state.clone(),
            health: if v.process == WEB && web_has_ports {
                let own = health.and_then(|h| {
                    h.instances
                        .iter()
                        .find(|i| i.container == v.container)
                        .map(|i| i.state.as_str())
                });
                match (routed, own.or(health_state)) {
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
            instance: 1,
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
            instances: Vec::new(),
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

    #[test]
    fn timestamped_frames_become_lines_with_their_first_time() {
        let mut l = TimestampedLines::default();
        assert_eq!(
            l.push(b"2026-12-07T01:02:03.000000001Z hello\n"),
            [("2026-12-07T01:02:03.000000001Z".into(), "hello".into())]
        );
        // A long line split by Docker: each part has its own time; the first one is kept.
        assert!(l.push(b"2026-12-07T01:02:04.5Z part one, ").is_empty());
        assert_eq!(
            l.push(b"2026-12-07T01:02:05.5Z part two\r\n"),
            [("2026-12-07T01:02:04.5Z".into(), "part one, part two".into())]
        );
        // Two lines in one frame; the second with its own time; a text with spaces kept.
        assert_eq!(
            l.push(b"2026-12-07T01:02:06Z a b\n2026-12-07T01:02:07Z \n"),
            [
                ("2026-12-07T01:02:06Z".into(), "a b".into()),
                ("2026-12-07T01:02:07Z".into(), "".into())
            ]
        );
        assert!(l.push(b"2026-12-07T01:02:08Z no newline").is_empty());
        assert_eq!(
            l.finish(),
            Some(("2026-12-07T01:02:08Z".into(), "no newline".into()))
        );
        assert_eq!(l.finish(), None);
        // No timestamp (timestamps off, or not Docker's form): the whole frame is the text.
        assert_eq!(l.push(b"plain line\n"), [("".into(), "plain line".into())]);
        assert_eq!(l.push(b"\xff\n"), [("".into(), "\u{fffd}".into())]);
    }
}
