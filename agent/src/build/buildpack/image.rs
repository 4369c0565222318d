//! The runtime image: run stack + slug at /app + release info, made with the Engine API's
//! `build` from a three-file context (Dockerfile, `.release`, `slug.tgz`).
//!
//! Why a Docker build rather than create + upload + commit: the Dockerfile states the whole
//! image config (USER, WORKDIR, ENTRYPOINT, CMD, ENV defaults, labels) in one reviewable place,
//! `ADD slug.tgz` unpacks the slug on the engine side with the archive's ownership (32767), no
//! container of the run image has to exist, and `docker history` explains the result.

use std::collections::HashMap;
use std::path::Path;

use bollard::query_parameters::BuildImageOptionsBuilder;
use bollard::Docker;
use futures_util::StreamExt;

use crate::build::{BuildError, LogFn};

/// Writes the build context to `out`: `Dockerfile`, `.release` and the `slug.tgz` found in the
/// engine's archive `slug_download`.
pub fn write_context(
    out: &Path,
    dockerfile: &str,
    release: &str,
    slug_download: &Path,
) -> Result<(), BuildError> {
    let io = |what: &str| {
        let what = format!("{what} ({})", out.display());
        move |e: std::io::Error| BuildError::io(what, e)
    };
    let file = std::fs::File::create(out).map_err(io("creating the build context"))?;
    let mut b = tar::Builder::new(std::io::BufWriter::new(file));
    for (name, text) in [("Dockerfile", dockerfile), (".release", release)] {
        let mut h = tar::Header::new_gnu();
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        b.append_data(&mut h, name, text.as_bytes())
            .map_err(io("writing the build context"))?;
    }
    let slug = std::fs::File::open(slug_download).map_err(io("opening the slug"))?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(slug));
    let mut found = false;
    for entry in archive.entries().map_err(io("reading the slug archive"))? {
        let entry = entry.map_err(io("reading the slug archive"))?;
        if entry.header().entry_type().is_file() {
            let mut h = entry.header().clone();
            h.set_mode(0o644);
            b.append_data(&mut h, "slug.tgz", entry)
                .map_err(io("writing the build context"))?;
            found = true;
            break;
        }
    }
    if !found {
        return Err(BuildError::Other(
            "the build container produced no slug".into(),
        ));
    }
    b.into_inner().map_err(io("writing the build context"))?;
    Ok(())
}

/// Builds `context` as `tag` with `labels`; returns the image id.
pub async fn build(
    docker: &Docker,
    context: &Path,
    tag: &str,
    labels: HashMap<String, String>,
    log: &LogFn,
) -> Result<String, BuildError> {
    let file = tokio::fs::File::open(context)
        .await
        .map_err(|e| BuildError::io(format!("opening {}", context.display()), e))?;
    let options = BuildImageOptionsBuilder::new()
        .t(tag)
        .labels(&labels)
        .rm(true)
        .forcerm(true)
        .build();
    let mut stream = docker.build_image(
        options,
        None,
        Some(bollard::body_try_stream(crate::stack::file_stream(file))),
    );
    while let Some(item) = stream.next().await {
        let info =
            item.map_err(|e| BuildError::Other(format!("building the runtime image {tag}: {e}")))?;
        if let Some(error) = info.error {
            return Err(BuildError::Other(format!(
                "building the runtime image {tag}: {error}"
            )));
        }
        if let Some(line) = info.stream {
            for l in line.lines().filter(|l| !l.trim().is_empty()) {
                log(&format!("       {l}"));
            }
        }
    }
    let inspect = docker.inspect_image(tag).await?;
    inspect
        .id
        .ok_or_else(|| BuildError::Other(format!("the engine reports no id for {tag}")))
}
