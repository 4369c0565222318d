//! One-off containers of a built image: a command runs once in a fresh container (unit tests
//! before a release, the Procfile's `release` phase before the switch), its output streamed
//! line by line to a log and its last lines kept, for at most a timeout (then SIGKILL). The
//! container is removed on every path, a dropped future included.
//!
//! How the command is passed depends on the image: buildpack images have the entrypoint
//! `solum-start`, which takes a command line as its arguments (so the command is one argument
//! and runs with the slug's environment); any other image gets `/bin/sh -c <cmd>`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptions, KillContainerOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;

use super::dockerfile::progress::Progress;

/// One command to run once.
#[derive(Debug, Clone)]
pub struct OneOff {
    pub image: String,
    pub cmd: String,
    pub env: BTreeMap<String, String>,
    pub labels: HashMap<String, String>,
    /// The container's name (an earlier container of that name is removed first).
    pub name: Option<String>,
    /// `false`: no network at all (unit tests); `true`: Docker's default network, as the
    /// app's processes have.
    pub network: bool,
    /// Lines of output kept for the caller.
    pub tail_lines: usize,
}

/// How the command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    Exited {
        code: i64,
        tail: String,
    },
    /// Still running at the timeout: killed.
    TimedOut {
        tail: String,
    },
}

/// Runs `job`, each line of its output given to `log`, for at most `timeout`.
pub async fn run(
    docker: &Docker,
    job: &OneOff,
    log: &mut (dyn FnMut(&str) + Send),
    timeout: Duration,
) -> Result<Ended, bollard::errors::Error> {
    let inspected = docker.inspect_image(&job.image).await?;
    let entrypoint = inspected
        .config
        .and_then(|c| c.entrypoint)
        .unwrap_or_default();
    let (entrypoint, command) = invocation(&entrypoint, &job.cmd);
    let body = ContainerCreateBody {
        image: Some(job.image.clone()),
        entrypoint,
        cmd: Some(command),
        env: Some(job.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(job.labels.clone()),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        tty: Some(false),
        host_config: Some(HostConfig {
            network_mode: (!job.network).then(|| "none".to_string()),
            init: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    if let Some(name) = &job.name {
        match docker.remove_container(name, Some(force_remove())).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(e) => return Err(e),
        }
    }
    let opts = job.name.as_ref().map(|n| CreateContainerOptions {
        name: Some(n.clone()),
        ..Default::default()
    });
    let id = docker.create_container(opts, body).await?.id;
    let mut guard = RemoveOnDrop {
        docker: docker.clone(),
        id: Some(id.clone()),
    };
    let result = run_container(docker, &id, job.tail_lines, log, timeout).await;
    guard.remove().await;
    result
}

/// `(entrypoint override, cmd)` for running `cmd` in an image with `entrypoint`.
pub fn invocation(entrypoint: &[String], cmd: &str) -> (Option<Vec<String>>, Vec<String>) {
    let is_solum_start = entrypoint
        .first()
        .is_some_and(|e| e.rsplit('/').next() == Some("solum-start"));
    if is_solum_start {
        (None, vec![cmd.to_string()])
    } else {
        (
            Some(vec!["/bin/sh".into(), "-c".into()]),
            vec![cmd.to_string()],
        )
    }
}

async fn run_container(
    docker: &Docker,
    id: &str,
    tail_lines: usize,
    log: &mut (dyn FnMut(&str) + Send),
    timeout: Duration,
) -> Result<Ended, bollard::errors::Error> {
    let options = AttachContainerOptionsBuilder::new()
        .stream(true)
        .logs(true)
        .stdout(true)
        .stderr(true)
        .build();
    let mut attached = docker.attach_container(id, Some(options)).await?;
    docker
        .start_container(id, None::<bollard::query_parameters::StartContainerOptions>)
        .await?;
    let mut output = Output {
        tail: Tail::new(tail_lines),
        ..Default::default()
    };
    let finished = tokio::time::timeout(timeout, async {
        while let Some(frame) = attached.output.next().await {
            output.frame(frame?, log);
        }
        exit_code(docker, id).await
    })
    .await;
    output.flush(log);
    match finished {
        Ok(Ok(code)) => Ok(Ended::Exited {
            code,
            tail: output.tail.text(),
        }),
        Ok(Err(e)) => Err(e),
        Err(_) => {
            let kill = KillContainerOptionsBuilder::new().signal("SIGKILL").build();
            // Already gone is fine: it is removed next anyway.
            let _ = docker.kill_container(id, Some(kill)).await;
            Ok(Ended::TimedOut {
                tail: output.tail.text(),
            })
        }
    }
}

async fn exit_code(docker: &Docker, id: &str) -> Result<i64, bollard::errors::Error> {
    let mut wait =
        docker.wait_container(id, None::<bollard::query_parameters::WaitContainerOptions>);
    match wait.next().await {
        Some(Ok(response)) => Ok(response.status_code),
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
        Some(Err(e)) => Err(e),
        // The engine closed the wait without a status: ask it directly.
        None => {
            let info = docker
                .inspect_container(
                    id,
                    None::<bollard::query_parameters::InspectContainerOptions>,
                )
                .await?;
            Ok(info.state.and_then(|s| s.exit_code).unwrap_or(-1))
        }
    }
}

/// stdout and stderr cut into lines separately, streamed to the log, the last lines kept.
#[derive(Default)]
struct Output {
    stdout: Progress,
    stderr: Progress,
    tail: Tail,
}

impl Output {
    fn frame(&mut self, frame: bollard::container::LogOutput, log: &mut (dyn FnMut(&str) + Send)) {
        use bollard::container::LogOutput::*;
        let (splitter, message) = match &frame {
            StdErr { message } => (&mut self.stderr, message),
            StdOut { message } | Console { message } | StdIn { message } => {
                (&mut self.stdout, message)
            }
        };
        for line in splitter.push(&String::from_utf8_lossy(message)) {
            log(&line);
            self.tail.push(line);
        }
    }

    fn flush(&mut self, log: &mut (dyn FnMut(&str) + Send)) {
        for line in [self.stdout.finish(), self.stderr.finish()]
            .into_iter()
            .flatten()
        {
            log(&line);
            self.tail.push(line);
        }
    }
}

/// The last lines, and how many came before them.
#[derive(Debug, Default)]
pub struct Tail {
    max: usize,
    lines: VecDeque<String>,
    dropped: usize,
}

impl Tail {
    pub fn new(max: usize) -> Tail {
        Tail {
            max: max.max(1),
            ..Default::default()
        }
    }

    pub fn push(&mut self, line: String) {
        if self.lines.len() >= self.max.max(1) {
            self.lines.pop_front();
            self.dropped += 1;
        }
        self.lines.push_back(line);
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        if self.dropped > 0 {
            out.push_str(&format!("[... {} earlier lines not shown]\n", self.dropped));
        }
        for l in &self.lines {
            out.push_str(l);
            out.push('\n');
        }
        out
    }
}

/// Removes the container when the run is abandoned midway (the future dropped); `remove`
/// does it in line on every normal path.
struct RemoveOnDrop {
    docker: Docker,
    id: Option<String>,
}

impl RemoveOnDrop {
    async fn remove(&mut self) {
        if let Some(id) = self.id.take() {
            let _ = self
                .docker
                .remove_container(&id, Some(force_remove()))
                .await;
        }
    }
}

fn force_remove() -> bollard::query_parameters::RemoveContainerOptions {
    RemoveContainerOptionsBuilder::new()
        .force(true)
        .v(true)
        .build()
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let docker = self.docker.clone();
            handle.spawn(async move {
                let _ = docker.remove_container(&id, Some(force_remove())).await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solum_start_images_get_the_command_as_one_argument() {
        let (ep, cmd) = invocation(&["/usr/local/bin/solum-start".into()], "./run_tests.sh -v");
        assert_eq!(ep, None);
        assert_eq!(cmd, vec!["./run_tests.sh -v"]);
    }

    #[test]
    fn other_images_go_through_sh() {
        for entrypoint in [vec![], vec!["/docker-entrypoint.sh".to_string()]] {
            let (ep, cmd) = invocation(&entrypoint, "make test");
            assert_eq!(ep, Some(vec!["/bin/sh".to_string(), "-c".to_string()]));
            assert_eq!(cmd, vec!["make test"]);
        }
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let mut t = Tail::new(200);
        for i in 0..205 {
            t.push(format!("line {i}"));
        }
        let text = t.text();
        assert!(
            text.starts_with("[... 5 earlier lines not shown]\nline 5\n"),
            "{text}"
        );
        assert!(text.ends_with("line 204\n"));
    }
}
