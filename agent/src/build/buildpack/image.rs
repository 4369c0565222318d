//! The runtime image: a container of the run stack created with the final config (entrypoint
//! `solum-start`, `CMD web`, user 32767, WORKDIR /app, config vars as ENV defaults, labels),
//! the slug and `.release` uploaded into /app, then committed as one layer.
//!
//! Why create + upload + commit rather than a Dockerfile build: the classic builder commits
//! one image per instruction (about 30 s for the nine instructions here on a loaded 2-core
//! host), while a commit is one layer in a second or two; the engine unpacks the gzipped slug
//! itself with the archive's ownership (32767), so nothing is extracted on the host.

use std::collections::HashMap;
use std::path::Path;

use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{CommitContainerOptionsBuilder, UploadToContainerOptionsBuilder};
use bollard::Docker;

use crate::build::{BuildError, LABEL_AGENT};
use crate::stack::{APP_UID, LAUNCHER_PATH};

/// The image to make.
pub struct ImageSpec<'a> {
    /// The agent's id, on the assembling container (and so on the image, which Docker's
    /// commit gives the container's labels).
    pub agent: &'a str,
    pub app: &'a str,
    pub run_image: &'a str,
    /// `repo:tag`.
    pub tag: &'a str,
    /// `KEY=value` entries (config vars, HOME).
    pub env: Vec<String>,
    pub labels: HashMap<String, String>,
    /// Text of /app/.release.
    pub release: &'a str,
}

/// Extracts `slug.tgz` from the engine's archive `download` into `out`.
pub fn unwrap_slug(download: &Path, out: &Path) -> Result<(), BuildError> {
    let io = |what: String| move |e: std::io::Error| BuildError::io(what, e);
    let file =
        std::fs::File::open(download).map_err(io(format!("opening {}", download.display())))?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(file));
    for entry in archive
        .entries()
        .map_err(io("reading the slug archive".into()))?
    {
        let mut entry = entry.map_err(io("reading the slug archive".into()))?;
        if entry.header().entry_type().is_file() {
            let mut dest =
                std::fs::File::create(out).map_err(io(format!("creating {}", out.display())))?;
            std::io::copy(&mut entry, &mut dest)
                .map_err(io(format!("writing {}", out.display())))?;
            return Ok(());
        }
    }
    Err(BuildError::Other(
        "the build container produced no slug".into(),
    ))
}

/// A tar holding `.release` owned by the app user.
fn release_tar(text: &str) -> Result<Vec<u8>, BuildError> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(text.len() as u64);
    h.set_mode(0o644);
    h.set_uid(APP_UID.into());
    h.set_gid(APP_UID.into());
    h.set_mtime(0);
    b.append_data(&mut h, ".release", text.as_bytes())
        .and_then(|_| b.into_inner())
        .map_err(|e| BuildError::io("archiving .release", e))
}

/// Makes the image; returns its id.
pub async fn create(
    docker: &Docker,
    spec: &ImageSpec<'_>,
    slug_tgz: &Path,
) -> Result<String, BuildError> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let name = format!("solum-assemble-{}-{nanos:x}", spec.app);
    let body = ContainerCreateBody {
        image: Some(spec.run_image.to_string()),
        env: Some(spec.env.clone()),
        user: Some(format!("{APP_UID}:{APP_UID}")),
        working_dir: Some("/app".into()),
        entrypoint: Some(vec![LAUNCHER_PATH.into()]),
        cmd: Some(vec!["web".into()]),
        labels: Some({
            let mut labels = spec.labels.clone();
            labels.insert(LABEL_AGENT.to_string(), spec.agent.to_string());
            labels
        }),
        ..Default::default()
    };
    super::container::create(docker, &name, body).await?;
    let result = fill_and_commit(docker, &name, spec, slug_tgz).await;
    super::container::finish(docker, &name, result).await
}

async fn fill_and_commit(
    docker: &Docker,
    name: &str,
    spec: &ImageSpec<'_>,
    slug_tgz: &Path,
) -> Result<String, BuildError> {
    let file = tokio::fs::File::open(slug_tgz)
        .await
        .map_err(|e| BuildError::io(format!("opening {}", slug_tgz.display()), e))?;
    let to_app = || Some(UploadToContainerOptionsBuilder::new().path("/app").build());
    docker
        .upload_to_container(
            name,
            to_app(),
            bollard::body_try_stream(crate::stack::file_stream(file)),
        )
        .await?;
    let release = release_tar(spec.release)?;
    docker
        .upload_to_container(name, to_app(), bollard::body_full(release.into()))
        .await?;
    let (repo, tag) = spec.tag.rsplit_once(':').unwrap_or((spec.tag, "latest"));
    let options = CommitContainerOptionsBuilder::new()
        .container(name)
        .repo(repo)
        .tag(tag)
        .comment("solum-agent buildpack build")
        .pause(false)
        .build();
    let committed = docker
        .commit_container(options, bollard::models::ContainerConfig::default())
        .await?;
    Ok(committed.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_tar_is_owned_by_the_app_user() {
        let bytes = release_tar("web: x\n").unwrap();
        let mut ar = tar::Archive::new(bytes.as_slice());
        let mut entries = ar.entries().unwrap();
        let mut e = entries.next().unwrap().unwrap();
        assert_eq!(e.path().unwrap().to_string_lossy(), ".release");
        assert_eq!(e.header().uid().unwrap(), 32767);
        let mut s = String::new();
        std::io::Read::read_to_string(&mut e, &mut s).unwrap();
        assert_eq!(s, "web: x\n");
    }

    #[test]
    fn unwrap_slug_takes_the_file_out_of_the_engine_archive() {
        let tmp = tempfile::tempdir().unwrap();
        let download = tmp.path().join("d.tar");
        let mut b = tar::Builder::new(std::fs::File::create(&download).unwrap());
        let mut h = tar::Header::new_gnu();
        h.set_size(4);
        h.set_mode(0o644);
        b.append_data(&mut h, "slug.tgz", &b"abcd"[..]).unwrap();
        b.finish().unwrap();
        let out = tmp.path().join("slug.tgz");
        unwrap_slug(&download, &out).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"abcd");
        let empty = tmp.path().join("e.tar");
        tar::Builder::new(std::fs::File::create(&empty).unwrap())
            .finish()
            .unwrap();
        assert!(unwrap_slug(&empty, &out)
            .unwrap_err()
            .to_string()
            .contains("no slug"));
    }
}
