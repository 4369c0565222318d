//! Unit tests before deploy (`unittest_cmd`): the command runs in a fresh, network-less
//! container of the built image; its output is streamed to the log and the last lines kept for
//! the error; a non-zero exit or a timeout stops the deploy. The container is always removed.
//!
//! How the command is passed depends on the image: buildpack images have the entrypoint
//! `solum-start`, which takes a command line as its arguments (so the command is one argument
//! and runs with the slug's environment); any other image gets `/bin/sh -c <cmd>`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, KillContainerOptionsBuilder, RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;

use super::dockerfile::progress::Progress;
use super::{BuildError, LogFn, LABEL_AGENT, LABEL_APP, LABEL_ROLE};

/// Lines of output kept for the error message.
pub const TAIL_LINES: usize = 200;
/// Label on unit-test containers (value: the image under test).
pub const LABEL_UNITTEST: &str = "solum.unittest";

/// Whose unit tests run: the container carries the agent's and the app's labels.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    pub agent: &'a str,
    pub app: &'a str,
}

/// Runs `cmd` in a new container of `image` with `env`, no network, for at most `timeout`.
pub async fn run(
    docker: &Docker,
    owner: Owner<'_>,
    image: &str,
    cmd: &str,
    env: &BTreeMap<String, String>,
    log: LogFn,
    timeout: Duration,
) -> Result<(), BuildError> {
    if cmd.trim().is_empty() {
        return Err(BuildError::Other("unittest_cmd is empty".into()));
    }
    let inspected = match docker.inspect_image(image).await {
        Ok(i) => i,
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => {
            return Err(BuildError::Other(format!(
                "cannot run unit tests: image {image} does not exist"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let entrypoint = inspected
        .config
        .and_then(|c| c.entrypoint)
        .unwrap_or_default();
    let (entrypoint, command) = invocation(&entrypoint, cmd);
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        entrypoint,
        cmd: Some(command),
        env: Some(env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(HashMap::from([
            (LABEL_UNITTEST.to_string(), image.to_string()),
            (LABEL_AGENT.to_string(), owner.agent.to_string()),
            (LABEL_APP.to_string(), owner.app.to_string()),
            (LABEL_ROLE.to_string(), "unittest".to_string()),
        ])),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        tty: Some(false),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let name = format!("solum-unittest-{}-{nanos:x}", owner.app);
    let id = docker
        .create_container(
            Some(bollard::query_parameters::CreateContainerOptions {
                name: Some(name),
                ..Default::default()
            }),
            body,
        )
        .await?
        .id;
    let mut guard = RemoveOnDrop {
        docker: docker.clone(),
        id: Some(id.clone()),
    };
    log(&format!("-----> Running unit tests: {cmd}"));
    let result = run_container(docker, &id, cmd, &log, timeout).await;
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
    cmd: &str,
    log: &LogFn,
    timeout: Duration,
) -> Result<(), BuildError> {
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
    let mut output = Output::default();
    let finished = tokio::time::timeout(timeout, async {
        while let Some(frame) = attached.output.next().await {
            output.frame(frame?, log);
        }
        exit_code(docker, id).await
    })
    .await;
    output.flush(log);
    match finished {
        Ok(Ok(0)) => {
            log("-----> Unit tests passed");
            Ok(())
        }
        Ok(Ok(code)) => Err(BuildError::UnitTestsFailed {
            cmd: cmd.to_string(),
            code,
            output: output.tail(),
        }),
        Ok(Err(e)) => Err(e),
        Err(_) => {
            let kill = KillContainerOptionsBuilder::new().signal("SIGKILL").build();
            // Already gone is fine: it is removed next anyway.
            let _ = docker.kill_container(id, Some(kill)).await;
            Err(BuildError::Other(format!(
                "unit tests `{cmd}` did not finish within {} s and were killed; output so far:\n{}",
                timeout.as_secs(),
                output.tail()
            )))
        }
    }
}

async fn exit_code(docker: &Docker, id: &str) -> Result<i64, BuildError> {
    let mut wait =
        docker.wait_container(id, None::<bollard::query_parameters::WaitContainerOptions>);
    match wait.next().await {
        Some(Ok(response)) => Ok(response.status_code),
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
        Some(Err(e)) => Err(e.into()),
        None => Err(BuildError::Other(format!(
            "docker gave no exit status for unit-test container {id}"
        ))),
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
    fn frame(&mut self, frame: bollard::container::LogOutput, log: &LogFn) {
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

    fn flush(&mut self, log: &LogFn) {
        for line in [self.stdout.finish(), self.stderr.finish()]
            .into_iter()
            .flatten()
        {
            log(&line);
            self.tail.push(line);
        }
    }

    fn tail(&self) -> String {
        self.tail.text()
    }
}

/// The last `TAIL_LINES` lines, and how many came before them.
#[derive(Debug, Default)]
struct Tail {
    lines: VecDeque<String>,
    dropped: usize,
}

impl Tail {
    fn push(&mut self, line: String) {
        if self.lines.len() == TAIL_LINES {
            self.lines.pop_front();
            self.dropped += 1;
        }
        self.lines.push_back(line);
    }

    fn text(&self) -> String {
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
        let mut t = Tail::default();
        for i in 0..TAIL_LINES + 5 {
            t.push(format!("line {i}"));
        }
        let text = t.text();
        assert!(
            text.starts_with("[... 5 earlier lines not shown]\nline 5\n"),
            "{text}"
        );
        assert!(text.ends_with(&format!("line {}\n", TAIL_LINES + 4)));
    }
}
