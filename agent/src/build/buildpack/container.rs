//! The build container: created from the build stack as uid 32767 with the app's cache volume
//! at /tmp/cache, fed the upload archive, run with its output streamed to the build log, and
//! read back (status, release, Procfile, slug). Removed on every path by `run`.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountTypeEnum, VolumeCreateOptions};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, DownloadFromContainerOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, StartContainerOptions, UploadToContainerOptionsBuilder,
    WaitContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::build::{BuildError, BuildRequest, LogFn, LABEL_AGENT, LABEL_APP, LABEL_ROLE};
use crate::config::StackConfig;
use crate::stack::APP_UID;

/// Output lines kept for a failure's message.
const TAIL_LINES: usize = 20;

/// The cache volume of an app (CACHE_DIR, kept between builds).
pub fn cache_volume(app: &str) -> String {
    format!("solum-cache-{app}")
}

/// What a finished build container left behind.
pub struct Finished {
    /// The first line of /tmp/status.
    pub status: String,
    /// The last lines of output.
    pub tail: String,
    /// /tmp/release.yml, if any buildpack released.
    pub release: Option<String>,
    /// /tmp/build/Procfile after compile.
    pub procfile: Option<String>,
}

/// Runs the build container for `req` with `upload` (see `upload::write_archive`); on success
/// the slug is saved (as a tar holding `slug.tgz`) at `slug_out`.
pub async fn run(
    docker: &Docker,
    req: &BuildRequest,
    stack: &StackConfig,
    upload: &Path,
    slug_out: &Path,
) -> Result<Finished, BuildError> {
    let volume = cache_volume(&req.app);
    docker
        .create_volume(VolumeCreateOptions {
            name: Some(volume.clone()),
            labels: Some(HashMap::from([(LABEL_APP.to_string(), req.app.clone())])),
            ..Default::default()
        })
        .await?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let name = format!("solum-build-{}-{:x}", req.app, nanos);
    let short_key = &req.key[..req.key.len().min(12)];
    let body = ContainerCreateBody {
        image: Some(stack.build_image.clone()),
        user: Some(format!("{APP_UID}:{APP_UID}")),
        cmd: Some(vec!["bash".into(), "/tmp/driver.sh".into()]),
        working_dir: Some("/tmp/build".into()),
        env: Some(vec![
            format!("STACK={}", stack.release),
            "HOME=/app".into(),
            format!("SOURCE_VERSION={}", req.source_version),
            format!("REQUEST_ID={short_key}-{nanos:x}"),
        ]),
        labels: Some(HashMap::from([
            (LABEL_AGENT.to_string(), req.agent.clone()),
            (LABEL_APP.to_string(), req.app.clone()),
            (LABEL_ROLE.to_string(), "build".to_string()),
        ])),
        host_config: Some(HostConfig {
            // A fresh named volume is seeded from the image's /tmp/cache, owned by 32767.
            mounts: Some(vec![Mount {
                target: Some("/tmp/cache".into()),
                source: Some(volume),
                typ: Some(MountTypeEnum::VOLUME),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    create(docker, &name, body).await?;
    let result = drive(docker, &name, upload, slug_out, &req.log).await;
    finish(docker, &name, result).await
}

/// Creates the container `name` from `body`; `finish` removes it.
pub(super) async fn create(
    docker: &Docker,
    name: &str,
    body: ContainerCreateBody,
) -> Result<(), BuildError> {
    docker
        .create_container(
            Some(CreateContainerOptionsBuilder::new().name(name).build()),
            body,
        )
        .await?;
    Ok(())
}

/// Removes the container `name` (and its anonymous volumes) after the work done in it; the
/// work's error comes first, then the removal's.
pub(super) async fn finish<T>(
    docker: &Docker,
    name: &str,
    result: Result<T, BuildError>,
) -> Result<T, BuildError> {
    let removed = docker
        .remove_container(
            name,
            Some(
                RemoveContainerOptionsBuilder::new()
                    .force(true)
                    .v(true)
                    .build(),
            ),
        )
        .await;
    let value = result?;
    removed?;
    Ok(value)
}

async fn drive(
    docker: &Docker,
    name: &str,
    upload: &Path,
    slug_out: &Path,
    log: &LogFn,
) -> Result<Finished, BuildError> {
    let file = tokio::fs::File::open(upload)
        .await
        .map_err(|e| BuildError::io(format!("opening {}", upload.display()), e))?;
    docker
        .upload_to_container(
            name,
            Some(UploadToContainerOptionsBuilder::new().path("/").build()),
            bollard::body_try_stream(crate::stack::file_stream(file)),
        )
        .await?;
    docker
        .start_container(name, None::<StartContainerOptions>)
        .await?;

    // Lines are streamed to the user as they come. Docker 20.10's followed log stream can end
    // before the last lines of a container that exits quickly, so once the container has
    // exited the complete log is read again: lines the stream missed are emitted then, and
    // the failure tail comes from the complete log.
    let mut streamed = 0usize;
    let mut pending = String::new();
    let mut logs = docker.logs(
        name,
        Some(
            LogsOptionsBuilder::new()
                .follow(true)
                .stdout(true)
                .stderr(true)
                .build(),
        ),
    );
    while let Some(chunk) = logs.next().await {
        pending.push_str(&String::from_utf8_lossy(&chunk?.into_bytes()));
        while let Some(pos) = pending.find('\n') {
            let line: String = pending.drain(..=pos).collect();
            log(line.trim_end_matches(['\n', '\r']));
            streamed += 1;
        }
    }
    let code = match docker
        .wait_container(name, Some(WaitContainerOptionsBuilder::new().build()))
        .next()
        .await
    {
        Some(Ok(r)) => r.status_code,
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
        Some(Err(e)) => return Err(e.into()),
        None => {
            return Err(BuildError::Other(format!(
                "build container {name} vanished"
            )))
        }
    };
    let all = complete_log(docker, name).await?;
    for line in all.iter().skip(streamed) {
        log(line);
    }
    let tail: VecDeque<String> = all
        .iter()
        .skip(all.len().saturating_sub(TAIL_LINES))
        .cloned()
        .collect();
    let tail = tail.into_iter().collect::<Vec<_>>().join("\n");
    let status = read_file(docker, name, "/tmp/status")
        .await?
        .map(|s| s.lines().next().unwrap_or("").to_string());
    let Some(status) = status else {
        return Err(BuildError::Other(format!(
            "the build driver exited {code} without a status; last lines:\n{tail}"
        )));
    };
    if status != "ok" {
        return Ok(Finished {
            status,
            tail,
            release: None,
            procfile: None,
        });
    }
    let release = read_file(docker, name, "/tmp/release.yml").await?;
    let procfile = read_file(docker, name, "/tmp/build/Procfile").await?;
    save_slug(docker, name, slug_out).await?;
    Ok(Finished {
        status,
        tail,
        release,
        procfile,
    })
}

/// A small file of the container as text; `None` if it does not exist.
async fn read_file(docker: &Docker, name: &str, path: &str) -> Result<Option<String>, BuildError> {
    let mut stream = docker.download_from_container(
        name,
        Some(
            DownloadFromContainerOptionsBuilder::new()
                .path(path)
                .build(),
        ),
    );
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => bytes.extend_from_slice(&c),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
    let mut archive = tar::Archive::new(bytes.as_slice());
    let mut read = || -> std::io::Result<Option<String>> {
        for entry in archive.entries()? {
            let mut entry = entry?;
            if entry.header().entry_type().is_file() {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut entry, &mut text)?;
                return Ok(Some(text));
            }
        }
        Ok(None)
    };
    read().map_err(|e| BuildError::io(format!("reading {path} of the build container"), e))
}

/// Streams /tmp/slug.tgz (as the engine's tar) into `out`.
async fn save_slug(docker: &Docker, name: &str, out: &Path) -> Result<(), BuildError> {
    let mut file = tokio::fs::File::create(out)
        .await
        .map_err(|e| BuildError::io(format!("creating {}", out.display()), e))?;
    let mut stream = docker.download_from_container(
        name,
        Some(
            DownloadFromContainerOptionsBuilder::new()
                .path("/tmp/slug.tgz")
                .build(),
        ),
    );
    while let Some(chunk) = stream.next().await {
        file.write_all(&chunk?)
            .await
            .map_err(|e| BuildError::io(format!("writing {}", out.display()), e))?;
    }
    file.flush()
        .await
        .map_err(|e| BuildError::io(format!("writing {}", out.display()), e))
}

/// The whole log of a stopped container, as lines.
async fn complete_log(docker: &Docker, name: &str) -> Result<Vec<String>, BuildError> {
    let mut logs = docker.logs(
        name,
        Some(LogsOptionsBuilder::new().stdout(true).stderr(true).build()),
    );
    let mut text = String::new();
    while let Some(chunk) = logs.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk?.into_bytes()));
    }
    Ok(text
        .lines()
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect())
}
