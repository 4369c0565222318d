//! One command run in a service's container through the engine's exec API: optional stdin
//! streamed from a reader, stdout to a writer, the end of stderr kept for errors, the exit code.
//! The readiness check, export and import all go through here.

use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::Docker;
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::ServiceError;

/// How much of the end of stderr (and of stdout when it is not kept) an exec keeps.
const TAIL: usize = 4096;

/// What an exec ended with.
#[derive(Debug)]
pub struct Finished {
    pub code: i64,
    /// The end of stderr then stdout (stdout only when it went to no writer).
    pub tail: String,
}

impl Finished {
    /// The last non-empty line of the output: what a person needs to see.
    pub fn last_line(&self) -> &str {
        self.tail
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
    }
}

/// Runs `cmd` in `container`. With `stdin`, its bytes are written to the command's stdin,
/// which is then closed; with `stdout`, the command's stdout is written there.
pub async fn run(
    docker: &Docker,
    container: &str,
    cmd: &[&str],
    stdin: Option<&mut (dyn AsyncRead + Unpin + Send)>,
    mut stdout: Option<&mut (dyn AsyncWrite + Unpin + Send)>,
) -> Result<Finished, ServiceError> {
    let exec_err = |e: bollard::errors::Error| ServiceError::Docker {
        context: format!("running {} in {container}", cmd.join(" ")),
        source: e,
    };
    let exec = docker
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                attach_stdin: Some(stdin.is_some()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                tty: Some(false),
                ..Default::default()
            },
        )
        .await
        .map_err(exec_err)?;
    let started = docker
        .start_exec(
            &exec.id,
            Some(StartExecOptions {
                detach: false,
                tty: false,
                output_capacity: Some(1 << 20),
            }),
        )
        .await
        .map_err(exec_err)?;
    let StartExecResults::Attached {
        mut output,
        mut input,
    } = started
    else {
        return Err(ServiceError::Exec(format!(
            "{} in {container}: the engine did not attach",
            cmd.join(" ")
        )));
    };
    let io_err = |what: &str, e: std::io::Error| {
        ServiceError::Exec(format!("{} in {container}: {what}: {e}", cmd.join(" ")))
    };
    let feed = async {
        if let Some(reader) = stdin {
            tokio::io::copy(reader, &mut input)
                .await
                .map_err(|e| io_err("writing its input", e))?;
            input
                .shutdown()
                .await
                .map_err(|e| io_err("closing its input", e))?;
        }
        Ok::<(), ServiceError>(())
    };
    let mut err_tail: Vec<u8> = Vec::new();
    let mut out_tail: Vec<u8> = Vec::new();
    let drain = async {
        while let Some(item) = output.next().await {
            match item.map_err(exec_err)? {
                bollard::container::LogOutput::StdOut { message } => match stdout.as_mut() {
                    Some(w) => w
                        .write_all(&message)
                        .await
                        .map_err(|e| io_err("writing its output", e))?,
                    None => keep_tail(&mut out_tail, &message),
                },
                bollard::container::LogOutput::StdErr { message } => {
                    keep_tail(&mut err_tail, &message)
                }
                _ => {}
            }
        }
        if let Some(w) = stdout.as_mut() {
            w.flush()
                .await
                .map_err(|e| io_err("writing its output", e))?;
        }
        Ok::<(), ServiceError>(())
    };
    let (fed, drained) = tokio::join!(feed, drain);
    fed?;
    drained?;
    let inspect = docker.inspect_exec(&exec.id).await.map_err(exec_err)?;
    let mut tail = String::from_utf8_lossy(&err_tail).into_owned();
    tail.push_str(&String::from_utf8_lossy(&out_tail));
    Ok(Finished {
        code: inspect.exit_code.unwrap_or(-1),
        tail,
    })
}

fn keep_tail(buf: &mut Vec<u8>, more: &[u8]) {
    buf.extend_from_slice(more);
    if buf.len() > TAIL {
        buf.drain(..buf.len() - TAIL);
    }
}
