//! The Heroku (classic) buildpack builder: detect / compile / release in a container of the
//! build stack as uid 32767 (never on the host), the slug into a runtime image on the run
//! stack started by `solum-start`. Submodules: `plan` (which buildpacks; remote ones fetched
//! through `source::fetch`), `upload` (the archive fed to the container), `container` (running it),
//! `release` (Procfile, release YAML, process table, image environment: pure), `image` (the
//! runtime image, by create + upload + commit).

mod container;
mod image;
mod plan;
pub mod release;
mod upload;

use std::collections::{BTreeMap, HashMap};

use bollard::Docker;

use super::{
    cache, image_repo, BuildError, BuildOutcome, BuildRequest, LABEL_APP, LABEL_BUILD_KEY,
};
use crate::config::StackConfig;

pub use container::cache_volume;
pub use plan::{is_installed_name, parse_buildpacks_file, Buildpack};

/// Image label holding the process table (JSON), so a cached image can be released as is.
pub const LABEL_PROCESSES: &str = "solum.processes";

/// Builds `req` with buildpacks; an image already built with `req.key` is reused.
pub async fn build(
    docker: &Docker,
    req: &BuildRequest,
    stack: &StackConfig,
) -> Result<BuildOutcome, BuildError> {
    build_with(docker, req, stack, None).await
}

/// `build` with the one buildpack already chosen (and fetched) by the caller; None: chosen from
/// `req.language_pack` as `build` does.
pub async fn build_with(
    docker: &Docker,
    req: &BuildRequest,
    stack: &StackConfig,
    chosen: Option<Buildpack>,
) -> Result<BuildOutcome, BuildError> {
    check_request(req)?;
    let tag = format!("{}:{}", image_repo(&req.app), &req.key[..12]);
    if let Some(outcome) = cached(docker, req).await? {
        (req.log)(&format!(
            "-----> {tag} exists for these inputs: not rebuilding"
        ));
        return Ok(outcome);
    }
    cache::stack_image_ids(docker, stack).await?;

    let selection = match chosen {
        Some(pack) => plan::Selection {
            mode: plan::Mode::All,
            packs: vec![pack],
        },
        None => plan::select(req).await?,
    };
    let scratch = tempfile::Builder::new()
        .prefix("buildpack-")
        .tempdir_in(&req.work_dir)
        .map_err(|e| {
            BuildError::io(
                format!("creating a scratch directory in {}", req.work_dir.display()),
                e,
            )
        })?;
    let upload_path = scratch.path().join("upload.tar");
    {
        let (path, source, selection, env) = (
            upload_path.clone(),
            req.source_dir.clone(),
            selection.clone(),
            req.env.clone(),
        );
        blocking(move || upload::write_archive(&path, &source, &selection, &env)).await?;
    }
    let slug_download = scratch.path().join("slug-download.tar");
    let finished = container::run(docker, req, stack, &upload_path, &slug_download).await?;
    check_status(&finished, &selection)?;

    let procfile = match &finished.procfile {
        Some(text) => release::parse_procfile(text, "Procfile")?,
        None => BTreeMap::new(),
    };
    let last = selection
        .packs
        .last()
        .map(|p| p.name.as_str())
        .unwrap_or("buildpack");
    let rel = release::parse_release(finished.release.as_deref().unwrap_or(""), last)?;
    let processes = release::processes(&procfile, &rel, req.run_cmd.as_deref())?;
    let env = release::image_env(&rel.config_vars)?;
    let release_text = release::release_file(&processes, &procfile);

    let slug = scratch.path().join("slug.tgz");
    {
        let (download, slug) = (slug_download.clone(), slug.clone());
        blocking(move || image::unwrap_slug(&download, &slug)).await?;
    }
    let processes: BTreeMap<String, Option<String>> =
        processes.into_iter().map(|(k, v)| (k, Some(v))).collect();
    let labels = HashMap::from([
        (LABEL_APP.to_string(), req.app.clone()),
        (LABEL_BUILD_KEY.to_string(), req.key.clone()),
        (
            LABEL_PROCESSES.to_string(),
            serde_json::to_string(&processes).unwrap_or_default(),
        ),
    ]);
    (req.log)(&format!("-----> Making {tag}"));
    let spec = image::ImageSpec {
        agent: &req.agent,
        app: &req.app,
        run_image: &stack.run_image,
        tag: &tag,
        env,
        labels,
        release: &release_text,
    };
    let image = image::create(docker, &spec, &slug).await?;
    (req.log)(&format!(
        "-----> Made {tag} ({})",
        &image[..image.len().min(19)]
    ));
    Ok(BuildOutcome {
        image,
        processes,
        cached: false,
    })
}

/// The app name and key must make a valid image reference and volume name.
fn check_request(req: &BuildRequest) -> Result<(), BuildError> {
    // Any app name maps to a valid image reference (see `image_repo`); it must only be one
    // the Planfile rules allow, since it also names the cache volume.
    let app_ok = !req.app.is_empty()
        && req.app.len() <= 100
        && req
            .app
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !app_ok {
        return Err(BuildError::Other(format!(
            "app name {:?} is not usable: letters, digits, `-` and `_`, at most 100",
            req.app
        )));
    }
    if req.key.len() < 12 || !req.key.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(BuildError::Other(format!(
            "build key {:?} is not a hex digest",
            req.key
        )));
    }
    if !req.source_dir.is_dir() {
        return Err(BuildError::Other(format!(
            "source directory {} does not exist",
            req.source_dir.display()
        )));
    }
    Ok(())
}

/// The image already built for `req.key`, with its process table from the label.
async fn cached(docker: &Docker, req: &BuildRequest) -> Result<Option<BuildOutcome>, BuildError> {
    let Some(id) = cache::find_cached(docker, &req.app, &req.key).await? else {
        return Ok(None);
    };
    let inspect = docker.inspect_image(&id).await?;
    let processes = inspect
        .config
        .and_then(|c| c.labels)
        .and_then(|l| l.get(LABEL_PROCESSES).cloned())
        .and_then(|json| serde_json::from_str::<BTreeMap<String, Option<String>>>(&json).ok())
        .filter(|p| !p.is_empty());
    Ok(processes.map(|processes| BuildOutcome {
        image: id,
        processes,
        cached: true,
    }))
}

/// Turns the driver's status into the matching error.
fn check_status(
    finished: &container::Finished,
    selection: &plan::Selection,
) -> Result<(), BuildError> {
    let status = finished.status.as_str();
    if status == "ok" {
        return Ok(());
    }
    if status == "nothing-detected" {
        let tried = selection
            .packs
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(BuildError::NothingDetected { tried });
    }
    if let Some(rest) = status.strip_prefix("failed ") {
        let mut parts = rest.splitn(3, ' ');
        let code = parts.next().and_then(|c| c.parse().ok()).unwrap_or(1);
        let dir = parts.next().unwrap_or("");
        let what = parts.next().unwrap_or("");
        let name = dir
            .parse::<usize>()
            .ok()
            .and_then(|i| selection.packs.get(i))
            .map(|p| p.name.clone())
            .unwrap_or_else(|| dir.to_string());
        let buildpack = if what == "bin/compile" {
            name
        } else {
            format!("{name} ({what})")
        };
        return Err(BuildError::CompileFailed {
            buildpack,
            code,
            tail: finished.tail.clone(),
        });
    }
    let message = status.strip_prefix("error ").unwrap_or(status);
    Err(BuildError::Other(format!(
        "buildpack build: {message}; last lines:\n{}",
        finished.tail
    )))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BuildError> + Send + 'static,
) -> Result<T, BuildError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BuildError::Other(format!("a build task failed: {e}")))?
}
