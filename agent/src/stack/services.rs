//! The services image `solum/services:<release>`: PostgreSQL, MariaDB, RabbitMQ and Redis in
//! one image, each started by `solum-service KIND` on a named volume. Made like the stack
//! images (mmdebstrap of Debian's packages, customized, imported; no registry) from the
//! `solum-services` element, and carrying `SOLUM_SERVICES=<digest of the recipe>` so that an
//! image from an older recipe is rebuilt.

use bollard::Docker;
use sha2::{Digest, Sha256};

use super::{import, make_image, rootfs, Job, StackError, CUSTOMIZE};
use crate::config::StackConfig;
use crate::progress::LogFn;

/// The image's packages: the `solum-services` element's `package-installs.yaml`.
pub const PACKAGES: &str = include_str!("../../../elements/solum-services/package-installs.yaml");
/// The volume's mount point, none of the packages' default data (run in the tree with chroot).
pub const SETUP: &str =
    include_str!("../../../elements/solum-services/install.d/50-services-setup");
/// No apt lists, caches or documentation (run in the tree with chroot).
pub const SLIM: &str = include_str!("../../../elements/solum-services/finalise.d/95-services-slim");
/// `solum-service KIND [ready|export|import]`: the containers' command.
pub const SERVICE: &str =
    include_str!("../../../elements/solum-services/static/usr/local/bin/solum-service");
/// `solum-service-url KIND URL [-- ARG...]`: a client on a service URL.
pub const SERVICE_URL: &str =
    include_str!("../../../elements/solum-services/static/usr/local/bin/solum-service-url");
/// Path of `solum-service` inside the image.
pub const SERVICE_PATH: &str = "/usr/local/bin/solum-service";
/// The environment variable naming the recipe the image was made with.
pub const SERVICES_ENV: &str = "SOLUM_SERVICES";
/// Where the service's named volume is mounted; the data is in `<VOLUME_PATH>/<kind>`.
pub const VOLUME_PATH: &str = "/var/lib/solum-service";
/// The service kinds `solum-service` runs, as named in a Planfile's `characteristic_type`.
pub const KINDS: [&str; 4] = ["postgresql", "mysql", "rabbitmq", "redis"];

/// The standard port of `kind` (one of `KINDS`), where `solum-service KIND` listens.
pub fn port(kind: &str) -> Option<u16> {
    match kind {
        "postgresql" => Some(5432),
        "mysql" => Some(3306),
        "rabbitmq" => Some(5672),
        "redis" => Some(6379),
        _ => None,
    }
}

/// The services image of `cfg`: `solum/services:<release>`.
pub fn services_image(cfg: &StackConfig) -> String {
    format!("solum/services:{}", cfg.release)
}

/// The image's recipe: the element's packages.
pub fn recipe() -> rootfs::Recipe {
    rootfs::Recipe {
        label: "services",
        packages: rootfs::element_packages(PACKAGES),
    }
}

/// The recipe digest of the services image: everything that decides its contents.
pub fn recipe_digest(cfg: &StackConfig) -> String {
    let mut h = Sha256::new();
    for part in [
        "services",
        &cfg.release,
        &recipe().packages.join(","),
        SETUP,
        SLIM,
        SERVICE,
        SERVICE_URL,
        CUSTOMIZE,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())[..16].to_string()
}

/// Dockerfile-style changes applied at import. No entrypoint: apps built `FROM` the image
/// (clients of the services) keep a plain shell; a service container's command is
/// `solum-service KIND`.
fn import_changes(digest: &str) -> Vec<String> {
    vec![
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        "ENV LANG=C.UTF-8".into(),
        format!("ENV {SERVICES_ENV}={digest}"),
        "CMD [\"/bin/bash\"]".into(),
    ]
}

/// Makes the services image unless it exists from the current recipe (or always, with
/// `force`).
pub async fn ensure_services_image(
    docker: &Docker,
    cfg: &StackConfig,
    force: bool,
    log: LogFn,
) -> Result<(), StackError> {
    let image = services_image(cfg);
    let digest = recipe_digest(cfg);
    let current = import::image_env(docker, &image, SERVICES_ENV).await?;
    if !force && current.as_deref() == Some(digest.as_str()) {
        tracing::debug!("{image} is up to date");
        return Ok(());
    }
    if !force && current.is_none() && docker.inspect_image(&image).await.is_ok() {
        log(&format!(
            "-----> {image} exists but was not made by `stack build`: rebuilding"
        ));
    }
    let job = Job {
        image: &image,
        recipe: recipe(),
        script: ("customize.sh", CUSTOMIZE),
        // customize.sh ROOT SETUP SLIM PROGRAM... (a program's file name is its command's)
        files: vec![
            ("services-setup", SETUP),
            ("services-slim", SLIM),
            ("solum-service", SERVICE),
            ("solum-service-url", SERVICE_URL),
        ],
        changes: import_changes(&digest),
    };
    make_image(docker, cfg, job, &log).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_is_named_after_the_release() {
        let cfg = StackConfig::default();
        assert_eq!(services_image(&cfg), "solum/services:bookworm");
        let trixie = StackConfig {
            release: "trixie".into(),
            ..StackConfig::default()
        };
        assert_eq!(services_image(&trixie), "solum/services:trixie");
        assert_ne!(recipe_digest(&cfg), recipe_digest(&trixie));
        assert_eq!(recipe_digest(&cfg), recipe_digest(&cfg.clone()));
        assert_ne!(
            recipe_digest(&cfg),
            super::super::recipe_digest(super::super::Flavor::Run, &cfg)
        );
    }

    #[test]
    fn the_packages_are_the_elements_and_hold_the_servers_and_clients() {
        let p = recipe().packages;
        for pkg in [
            "postgresql",
            "postgresql-client",
            "mariadb-server",
            "mariadb-client",
            "rabbitmq-server",
            "redis-server",
            "amqp-tools",
        ] {
            assert!(p.contains(&pkg), "{pkg}");
        }
        // Every line of the element's file is a package, a comment or blank: none is lost.
        let lines = PACKAGES
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .count();
        assert_eq!(lines, p.len());
    }

    #[test]
    fn every_kind_has_a_port_and_the_script_knows_it() {
        for kind in KINDS {
            let port = port(kind).unwrap();
            assert!(SERVICE.contains(&format!("{kind}:run)")), "{kind}");
            assert!(SERVICE.contains(&port.to_string()), "{kind} {port}");
        }
        assert_eq!(port("mongodb"), None);
    }

    #[test]
    fn changes_mark_the_recipe_and_set_no_entrypoint() {
        let changes = import_changes("abc");
        assert!(changes.contains(&"ENV SOLUM_SERVICES=abc".to_string()));
        assert!(!changes.iter().any(|c| c.starts_with("ENTRYPOINT")));
    }
}
