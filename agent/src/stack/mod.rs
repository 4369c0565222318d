//! The buildpack stack images, made locally because there is no registry to pull them from:
//! `solum/stack-build:<release>` (compile happens here) and `solum/stack-run:<release>` (apps
//! run here). Made from Debian with mmdebstrap (debootstrap + tar as a fallback), customized
//! (user `app` 32767, builder directories, the `solum-start` launcher) and imported into the
//! engine. Each image carries `SOLUM_STACK=<digest of what made it>` in its environment, so an
//! image from an older recipe (or a provisional one) is rebuilt even without `force`.
//! The services image (`services`) is made the same way from the `solum-services` element.

mod import;
pub mod preload;
mod rootfs;
pub mod services;

use bollard::Docker;
use sha2::{Digest, Sha256};

use crate::config::StackConfig;
use crate::progress::LogFn;

pub(crate) use import::file_stream;
pub use rootfs::{Flavor, Recipe};
pub use services::{ensure_services_image, services_image};

/// The stack recipe's one source is the `buildpack-stack` element (DIB's format, built by
/// `solum-image`): its package list, its user set-up script, its clean-up and its launcher
/// are embedded here and used as they are, so the agent's stack images and the element's
/// cannot drift apart.
pub const ELEMENT_PACKAGES: &str =
    include_str!("../../../elements/buildpack-stack/package-installs.yaml");
/// The user `app` and the builder's directories (run in the tree with chroot).
pub const USER_SETUP: &str =
    include_str!("../../../elements/buildpack-stack/install.d/50-stack-user");
/// No apt lists or caches (run in the tree with chroot).
pub const SLIM: &str = include_str!("../../../elements/buildpack-stack/finalise.d/95-stack-slim");
/// The launcher in both images: `solum-start TYPE | COMMAND...`.
pub const LAUNCHER: &str =
    include_str!("../../../elements/buildpack-stack/static/usr/local/bin/solum-start");
/// Path of the launcher inside the images.
pub const LAUNCHER_PATH: &str = "/usr/local/bin/solum-start";
/// uid and gid of the unprivileged user `app` in both images.
pub const APP_UID: u32 = 32767;
/// The environment variable naming the recipe an image was made with.
pub const STACK_ENV: &str = "SOLUM_STACK";

/// The one glue script of every image made here (stacks and services).
pub(crate) const CUSTOMIZE: &str = include_str!("customize.sh");

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("{image} is missing or from another recipe, and cannot be made here: neither mmdebstrap nor debootstrap is installed (apt-get install mmdebstrap; an app VM's image gets its stack images from the solum-stacks element)")]
    NoBootstrapper { image: String },
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Cmd(#[from] solum_edge::cmd::CmdError),
    #[error("importing {image}: {message}")]
    Import { image: String, message: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("docker: {0}")]
    Docker(#[from] bollard::errors::Error),
}

/// The recipe digest of a stack image: everything that decides its contents.
pub fn recipe_digest(flavor: Flavor, cfg: &StackConfig) -> String {
    let mut h = Sha256::new();
    for part in [
        flavor.name(),
        &cfg.release,
        &flavor.packages().join(","),
        LAUNCHER,
        USER_SETUP,
        SLIM,
        CUSTOMIZE,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())[..16].to_string()
}

/// The image name of `flavor` in `cfg`.
pub fn image_name(flavor: Flavor, cfg: &StackConfig) -> &str {
    match flavor {
        Flavor::Build => &cfg.build_image,
        Flavor::Run => &cfg.run_image,
    }
}

/// Dockerfile-style changes applied at import.
fn import_changes(digest: &str) -> Vec<String> {
    vec![
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        "ENV LANG=C.UTF-8".into(),
        format!("ENV {STACK_ENV}={digest}"),
        "CMD [\"/bin/bash\"]".into(),
    ]
}

/// Makes both stack images unless they exist from the current recipe (or always, with
/// `force`). The image names are those of `cfg`.
pub async fn build(
    docker: &Docker,
    cfg: &StackConfig,
    force: bool,
    log: LogFn,
) -> Result<(), StackError> {
    for flavor in [Flavor::Run, Flavor::Build] {
        let image = image_name(flavor, cfg);
        let digest = recipe_digest(flavor, cfg);
        let current = import::image_env(docker, image, STACK_ENV).await?;
        if !force && current.as_deref() == Some(digest.as_str()) {
            tracing::debug!("{image} is up to date");
            continue;
        }
        if !force && current.is_none() && docker.inspect_image(image).await.is_ok() {
            log(&format!(
                "-----> {image} exists but was not made by `stack build`: rebuilding"
            ));
        }
        build_one(docker, cfg, flavor, &digest, &log).await?;
    }
    Ok(())
}

/// Makes both stack images and the services image current in the local engine (as `build`
/// and `ensure_services_image` do), then copies them into the engine data root `data_root` of
/// an image tree (the `app-vm` element's way to give a VM its images without a registry: see
/// `preload`).
pub async fn preload(
    docker: &Docker,
    cfg: &StackConfig,
    data_root: &std::path::Path,
    log: LogFn,
) -> Result<(), StackError> {
    build(docker, cfg, false, log.clone()).await?;
    ensure_services_image(docker, cfg, false, log.clone()).await?;
    let services = services_image(cfg);
    let images = [
        image_name(Flavor::Build, cfg),
        image_name(Flavor::Run, cfg),
        services.as_str(),
    ];
    preload::preload(docker, &images, data_root, &log).await
}

async fn build_one(
    docker: &Docker,
    cfg: &StackConfig,
    flavor: Flavor,
    digest: &str,
    log: &LogFn,
) -> Result<(), StackError> {
    let job = Job {
        image: image_name(flavor, cfg),
        recipe: flavor.recipe(),
        script: ("customize.sh", CUSTOMIZE),
        // customize.sh ROOT SETUP SLIM PROGRAM... (a program's file name is its command's)
        files: vec![
            ("stack-user", USER_SETUP),
            ("stack-slim", SLIM),
            ("solum-start", LAUNCHER),
        ],
        changes: import_changes(digest),
    };
    make_image(docker, cfg, job, log).await
}

/// One image to make: its root tree's recipe, the glue script run in it (mmdebstrap's
/// customize hook) with the element files it is given, in order, and the import's changes.
struct Job<'a> {
    image: &'a str,
    recipe: Recipe,
    /// (file name, text) of the glue script.
    script: (&'static str, &'static str),
    /// (file name, text) of each element file, given to the script after ROOT.
    files: Vec<(&'static str, &'static str)>,
    changes: Vec<String>,
}

/// Bootstraps, customizes and imports `job.image`, then removes the image it replaced if
/// nothing uses it.
async fn make_image(
    docker: &Docker,
    cfg: &StackConfig,
    job: Job<'_>,
    log: &LogFn,
) -> Result<(), StackError> {
    let image = job.image;
    let started = std::time::Instant::now();
    // On a terminal: the step and its time below the log lines.
    let spinner = crate::progress::Spinner::new(&format!("{image}: bootstrap ({})", cfg.release));
    let log = &spinner.wrap(log);
    // Removed on drop, on every path.
    let scratch = tempfile::Builder::new()
        .prefix("solum-stack-")
        .tempdir()
        .map_err(|e| StackError::Io {
            context: "creating a temporary directory".into(),
            source: e,
        })?;
    let write = |name: &str, text: &str| {
        let path = scratch.path().join(name);
        std::fs::write(&path, text)
            .map(|_| path.clone())
            .map_err(|e| StackError::Io {
                context: format!("writing {}", path.display()),
                source: e,
            })
    };
    let custom = rootfs::Customize {
        script: write(job.script.0, job.script.1)?,
        files: job
            .files
            .iter()
            .map(|(name, text)| write(name, text))
            .collect::<Result<_, _>>()?,
    };
    let tar = scratch.path().join("rootfs.tar");
    rootfs::make_tar(
        &job.recipe,
        &cfg.release,
        &cfg.mirror,
        &custom,
        scratch.path(),
        &tar,
        log,
    )
    .await?;
    let previous = docker.inspect_image(image).await.ok().and_then(|i| i.id);
    spinner.step(&format!("{image}: import"));
    import::import(docker, &tar, image, job.changes, log).await?;
    drop(spinner);
    // The replaced image is now untagged: remove it unless something still uses it (a
    // container or an app image built on it), in which case the engine refuses and it stays.
    let current = docker.inspect_image(image).await?.id;
    if let Some(old) = previous.filter(|old| Some(old) != current.as_ref()) {
        if docker
            .remove_image(
                &old,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await
            .is_ok()
        {
            log(&format!(
                "       removed the replaced image {}",
                &old[..old.len().min(19)]
            ));
        }
    }
    log(&format!(
        "-----> {image} built in {} s",
        started.elapsed().as_secs()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_depends_on_flavor_and_release() {
        let cfg = StackConfig::default();
        let other = StackConfig {
            release: "trixie".into(),
            ..StackConfig::default()
        };
        assert_ne!(
            recipe_digest(Flavor::Build, &cfg),
            recipe_digest(Flavor::Run, &cfg)
        );
        assert_ne!(
            recipe_digest(Flavor::Run, &cfg),
            recipe_digest(Flavor::Run, &other)
        );
        assert_eq!(
            recipe_digest(Flavor::Run, &cfg),
            recipe_digest(Flavor::Run, &cfg.clone())
        );
    }

    #[test]
    fn changes_mark_the_recipe() {
        let changes = import_changes("abc");
        assert!(changes.contains(&"ENV SOLUM_STACK=abc".to_string()));
        assert!(changes.iter().any(|c| c.starts_with("ENV PATH=")));
    }
}
