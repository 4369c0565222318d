//! Dockerfile builds (`artifact_type: dockerfile`): the source's own Dockerfile built by the
//! engine's classic builder (`POST /build`, version 1; BuildKit would need a gRPC session),
//! tagged `solum/app-<app>:<key[..12]>`, plan parameters as build args, output streamed line by
//! line. `build_image` is the engine call shared with the language-pack builder.

pub mod progress;

use std::collections::{BTreeMap, HashMap};

use bollard::query_parameters::{BuildImageOptionsBuilder, BuilderVersion};
use bollard::Docker;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::AsyncReadExt;

use self::progress::Progress;
use super::context::{self, ContextTar};
use super::{
    image_repo, BuildError, BuildOutcome, BuildRequest, LogFn, LABEL_APP, LABEL_BUILD_KEY,
};

/// Builds `req.source_dir`'s Dockerfile. An image already tagged for this build key is reused.
pub async fn build(docker: &Docker, req: &BuildRequest) -> Result<BuildOutcome, BuildError> {
    let dockerfile = req.source_dir.join(context::DOCKERFILE);
    if !dockerfile.is_file() {
        return Err(BuildError::Other(format!(
            "no Dockerfile at {}: artifact_type dockerfile builds the Dockerfile at the root of the source",
            dockerfile.display()
        )));
    }
    let tag = app_tag(&req.app, &req.key)?;
    let processes = web_process(req.run_cmd.clone());
    if let Some(outcome) = already_built(docker, req, &tag, &processes).await? {
        return Ok(outcome);
    }
    let ctx = tar_in_background(req.source_dir.clone(), req.work_dir.clone()).await?;
    (req.log)(&format!(
        "-----> Building {tag} from {} (context {} bytes)",
        dockerfile.display(),
        ctx.len
    ));
    build_app_image(docker, req, ctx, &tag, app_labels(req), processes).await
}

/// Builds the app image `tag` of `req` from `ctx` with `labels` and the plan's parameters as
/// build arguments; the outcome runs `processes`.
pub async fn build_app_image(
    docker: &Docker,
    req: &BuildRequest,
    ctx: ContextTar,
    tag: &str,
    labels: BTreeMap<String, String>,
    processes: BTreeMap<String, Option<String>>,
) -> Result<BuildOutcome, BuildError> {
    let spec = ImageSpec {
        tag,
        labels: &labels,
        build_args: &req.env,
    };
    let image = build_image(docker, ctx, &spec, &req.log).await?;
    Ok(BuildOutcome {
        image,
        processes,
        cached: false,
    })
}

/// What to build from a context tar (always `Dockerfile` at its root).
pub struct ImageSpec<'a> {
    pub tag: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    pub build_args: &'a BTreeMap<String, String>,
}

/// Sends `ctx` to the engine and builds it with the classic builder (`rm`, `forcerm`, never
/// pulling), streaming every output line to `log`. Returns the image id. A failure names the
/// last `Step N/M` seen; a missing base image says so.
pub async fn build_image(
    docker: &Docker,
    ctx: ContextTar,
    spec: &ImageSpec<'_>,
    log: &LogFn,
) -> Result<String, BuildError> {
    let build_args: HashMap<&str, &str> = spec
        .build_args
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let labels: HashMap<&str, &str> = spec
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let options = BuildImageOptionsBuilder::new()
        .dockerfile(context::DOCKERFILE)
        .t(spec.tag)
        .buildargs(&build_args)
        .labels(&labels)
        .rm(true)
        .forcerm(true)
        .pull("false")
        .version(BuilderVersion::BuilderV1)
        .build();
    let mut stream = docker.build_image(
        options,
        None,
        Some(bollard::body_try_stream(file_chunks(ctx.file))),
    );
    let mut progress = Progress::default();
    let mut image_id = None;
    while let Some(item) = stream.next().await {
        let info = match item {
            Ok(info) => info,
            Err(bollard::errors::Error::DockerStreamError { error }) => {
                flush(&mut progress, log);
                return Err(explain_failure(docker, &progress, &error).await);
            }
            Err(bollard::errors::Error::DockerResponseServerError { message, .. }) => {
                flush(&mut progress, log);
                return Err(progress.failure(&message));
            }
            Err(e) => return Err(e.into()),
        };
        for line in info.stream.iter().flat_map(|s| progress.push(s)) {
            log(&line);
        }
        if let Some(status) = info.status {
            log(&status);
        }
        if let Some(detail) = info.error_detail.and_then(|d| d.message) {
            flush(&mut progress, log);
            return Err(explain_failure(docker, &progress, &detail).await);
        }
        if let Some(id) = info.aux.and_then(|a| a.id) {
            image_id = Some(id);
        }
    }
    flush(&mut progress, log);
    match image_id {
        Some(id) => Ok(id),
        // Older engines only print "Successfully built"; the tag is authoritative.
        None => docker.inspect_image(spec.tag).await?.id.ok_or_else(|| {
            BuildError::Other(format!(
                "docker built {} but reported no image id",
                spec.tag
            ))
        }),
    }
}

fn flush(progress: &mut Progress, log: &LogFn) {
    if let Some(line) = progress.finish() {
        log(&line);
    }
}

/// A build error, with the missing-base-image case spelled out.
async fn explain_failure(docker: &Docker, progress: &Progress, message: &str) -> BuildError {
    let Some(image) = progress.last_step().and_then(progress::from_image) else {
        return progress.failure(message);
    };
    let missing = !image.contains('$')
        && matches!(
            docker.inspect_image(image).await,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                ..
            })
        );
    if missing {
        progress.failure(&progress::missing_base_message(image, message))
    } else {
        progress.failure(message)
    }
}

/// The id of `tag` when it exists and was built for `key`.
/// The outcome of an image `tag` already built with `req.key`, if there is one (said in the log).
pub async fn already_built(
    docker: &Docker,
    req: &BuildRequest,
    tag: &str,
    processes: &BTreeMap<String, Option<String>>,
) -> Result<Option<BuildOutcome>, BuildError> {
    let Some(image) = existing_build(docker, tag, &req.key).await? else {
        return Ok(None);
    };
    (req.log)(&format!(
        "-----> {tag} is already built for these inputs; reusing it"
    ));
    Ok(Some(BuildOutcome {
        image,
        processes: processes.clone(),
        cached: true,
    }))
}

pub async fn existing_build(
    docker: &Docker,
    tag: &str,
    key: &str,
) -> Result<Option<String>, BuildError> {
    match docker.inspect_image(tag).await {
        Ok(image) => {
            let built_for = image
                .config
                .and_then(|c| c.labels)
                .and_then(|mut l| l.remove(LABEL_BUILD_KEY));
            Ok(if built_for.as_deref() == Some(key) {
                image.id
            } else {
                None
            })
        }
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `solum/app-<app>:<key[..12]>`; the key must be tag-safe (it is a hex hash).
pub fn app_tag(app: &str, key: &str) -> Result<String, BuildError> {
    let short: String = key.chars().take(12).collect();
    if short.is_empty()
        || !short
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        return Err(BuildError::Other(format!(
            "build key {key:?} cannot be used as an image tag"
        )));
    }
    Ok(format!("{}:{short}", image_repo(app)))
}

/// The labels of every app image: `solum.app` and `solum.build-key`.
pub fn app_labels(req: &BuildRequest) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_APP.to_string(), req.app.clone()),
        (LABEL_BUILD_KEY.to_string(), req.key.clone()),
    ])
}

/// `web` -> the plan's `run_cmd`, or `None` for "the image's own CMD".
pub fn web_process(run_cmd: Option<String>) -> BTreeMap<String, Option<String>> {
    BTreeMap::from([("web".to_string(), run_cmd)])
}

async fn tar_in_background(
    dir: std::path::PathBuf,
    scratch: std::path::PathBuf,
) -> Result<ContextTar, BuildError> {
    tokio::task::spawn_blocking(move || context::context_tar(&dir, &[], &scratch))
        .await
        .map_err(|e| BuildError::Other(format!("making the build context: {e}")))?
        .map_err(Into::into)
}

/// A file as a stream of 64 KiB chunks (a request body for `bollard::body_try_stream`).
pub(crate) fn file_chunks(
    file: std::fs::File,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let file = tokio::fs::File::from_std(file);
    futures_util::stream::try_unfold(file, |mut f| async move {
        let mut buf = vec![0u8; 64 * 1024];
        let n = f.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        Ok(Some((Bytes::from(buf), f)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_use_the_first_twelve_key_characters() {
        assert_eq!(
            app_tag("web", "0123456789abcdef").unwrap(),
            "solum/app-web:0123456789ab"
        );
        assert_eq!(app_tag("web", "abc").unwrap(), "solum/app-web:abc");
        assert!(app_tag("web", "").is_err());
        assert!(app_tag("web", "a/b").is_err());
    }

    #[test]
    fn web_process_is_run_cmd_or_image_cmd() {
        assert_eq!(web_process(None).get("web"), Some(&None));
        assert_eq!(
            web_process(Some("x".into())).get("web"),
            Some(&Some("x".to_string()))
        );
    }
}
