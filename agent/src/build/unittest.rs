//! Unit tests before deploy (`unittest_cmd`): the command runs in a fresh, network-less
//! one-off container of the built image (`oneoff`); its output is streamed to the log and the
//! last lines kept for the error; a non-zero exit or a timeout stops the deploy.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::Docker;

use super::oneoff::{self, Ended, OneOff};
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
    match docker.inspect_image(image).await {
        Ok(_) => {}
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => {
            return Err(BuildError::Other(format!(
                "cannot run unit tests: image {image} does not exist"
            )));
        }
        Err(e) => return Err(e.into()),
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let job = OneOff {
        image: image.to_string(),
        cmd: cmd.to_string(),
        env: env.clone(),
        labels: HashMap::from([
            (LABEL_UNITTEST.to_string(), image.to_string()),
            (LABEL_AGENT.to_string(), owner.agent.to_string()),
            (LABEL_APP.to_string(), owner.app.to_string()),
            (LABEL_ROLE.to_string(), "unittest".to_string()),
        ]),
        name: Some(format!("solum-unittest-{}-{nanos:x}", owner.app)),
        network: false,
        tail_lines: TAIL_LINES,
    };
    log(&format!("-----> Running unit tests: {cmd}"));
    match oneoff::run(docker, &job, &mut |line: &str| log(line), timeout).await? {
        Ended::Exited { code: 0, .. } => {
            log("-----> Unit tests passed");
            Ok(())
        }
        Ended::Exited { code, tail } => Err(BuildError::UnitTestsFailed {
            cmd: cmd.to_string(),
            code,
            output: tail,
        }),
        Ended::TimedOut { tail } => Err(BuildError::Other(format!(
            "unit tests `{cmd}` did not finish within {} s and were killed; output so far:\n{tail}",
            timeout.as_secs()
        ))),
    }
}
