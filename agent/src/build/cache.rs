//! Deciding when nothing needs building: the build key (a sha256 over every input of a build,
//! computable before any container runs) and finding an image already built with that key.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use bollard::query_parameters::ListImagesOptionsBuilder;
use bollard::Docker;
use sha2::{Digest, Sha256};

use super::{BuildError, LABEL_APP, LABEL_BUILD_KEY};
use crate::config::StackConfig;
use crate::planfile::LanguagePack;

/// Everything that decides what a build produces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyInputs {
    /// `buildpack`, `dockerfile` or `langpack`.
    pub builder: String,
    /// Hash of the source tree (`tree_hash`), or a commit sha.
    pub source_tree: String,
    /// Identities of the buildpacks (or language pack) that may take part: tree hashes of
    /// local ones, URLs of remote ones.
    pub buildpacks: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// `auto` or the configured name/URL.
    pub language_pack: String,
    pub run_cmd: Option<String>,
    /// Image ids of the stack (or base) images.
    pub stack_images: Vec<String>,
}

/// The text `language_pack` contributes to a key.
pub fn language_pack_id(lp: &LanguagePack) -> String {
    match lp {
        LanguagePack::Auto => "auto".into(),
        LanguagePack::Named(name) => format!("named:{name}"),
    }
}

/// sha256 (hex) over the inputs; every field is length-prefixed so no two inputs collide.
pub fn build_key(parts: &KeyInputs) -> String {
    let mut h = Sha256::new();
    let mut field = |tag: &str, value: &str| {
        h.update(tag.as_bytes());
        h.update((value.len() as u64).to_be_bytes());
        h.update(value.as_bytes());
    };
    field("builder", &parts.builder);
    field("source", &parts.source_tree);
    for bp in &parts.buildpacks {
        field("buildpack", bp);
    }
    for (k, v) in &parts.env {
        field("env-key", k);
        field("env-value", v);
    }
    field("language_pack", &parts.language_pack);
    match &parts.run_cmd {
        Some(cmd) => field("run_cmd", cmd),
        None => field("no-run_cmd", ""),
    }
    for image in &parts.stack_images {
        field("stack", image);
    }
    hex::encode(h.finalize())
}

/// The image of `app` labelled with `key`, if one exists.
pub async fn find_cached(
    docker: &Docker,
    app: &str,
    key: &str,
) -> Result<Option<String>, BuildError> {
    let filters: HashMap<String, Vec<String>> = HashMap::from([(
        "label".to_string(),
        vec![
            format!("{LABEL_BUILD_KEY}={key}"),
            format!("{LABEL_APP}={app}"),
        ],
    )]);
    let images = docker
        .list_images(Some(
            ListImagesOptionsBuilder::new().filters(&filters).build(),
        ))
        .await?;
    Ok(images.into_iter().next().map(|i| i.id))
}

/// Image ids of the two stack images; `StackMissing` names the one that is absent.
pub async fn stack_image_ids(
    docker: &Docker,
    stack: &StackConfig,
) -> Result<Vec<String>, BuildError> {
    let mut ids = Vec::new();
    for image in [&stack.build_image, &stack.run_image] {
        match docker.inspect_image(image).await {
            Ok(i) => ids.push(i.id.unwrap_or_default()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {
                return Err(BuildError::StackMissing {
                    image: image.clone(),
                })
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(ids)
}

/// A sha256 (hex) over a tree: sorted relative paths, file modes, contents and link targets,
/// `.git` excluded. Same tree, same hash, whatever the mtimes. (Stands in for
/// `source::tree_hash` until that lands.)
pub fn tree_hash(dir: &Path) -> std::io::Result<String> {
    let mut h = Sha256::new();
    let walk = walkdir::WalkDir::new(dir)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || e.file_name() != ".git");
    for entry in walk {
        let entry = entry.map_err(std::io::Error::other)?;
        let rel = entry
            .path()
            .strip_prefix(dir)
            .map_err(std::io::Error::other)?;
        let meta = entry.path().symlink_metadata()?;
        h.update(rel.to_string_lossy().as_bytes());
        h.update([0]);
        h.update(meta.permissions().mode().to_be_bytes());
        if meta.file_type().is_symlink() {
            h.update(
                std::fs::read_link(entry.path())?
                    .to_string_lossy()
                    .as_bytes(),
            );
        } else if meta.is_file() {
            h.update(meta.len().to_be_bytes());
            let mut file = std::fs::File::open(entry.path())?;
            let mut buf = [0u8; 64 * 1024];
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
        }
        h.update([0xff]);
    }
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> KeyInputs {
        KeyInputs {
            builder: "buildpack".into(),
            source_tree: "abc".into(),
            buildpacks: vec!["bp1".into()],
            env: BTreeMap::from([("A".into(), "1".into())]),
            language_pack: "auto".into(),
            run_cmd: None,
            stack_images: vec!["sha256:1".into()],
        }
    }

    #[test]
    fn key_is_stable_and_changes_with_every_input() {
        let base = build_key(&inputs());
        assert_eq!(base, build_key(&inputs()));
        assert_eq!(base.len(), 64);
        let variants = [
            KeyInputs {
                builder: "dockerfile".into(),
                ..inputs()
            },
            KeyInputs {
                source_tree: "abd".into(),
                ..inputs()
            },
            KeyInputs {
                buildpacks: vec!["bp2".into()],
                ..inputs()
            },
            KeyInputs {
                env: BTreeMap::from([("A".into(), "2".into())]),
                ..inputs()
            },
            KeyInputs {
                language_pack: "named:python".into(),
                ..inputs()
            },
            KeyInputs {
                run_cmd: Some(String::new()),
                ..inputs()
            },
            KeyInputs {
                stack_images: vec!["sha256:2".into()],
                ..inputs()
            },
            // Moving a byte between fields must not collide.
            KeyInputs {
                builder: "buildpac".into(),
                source_tree: "kabc".into(),
                ..inputs()
            },
        ];
        for v in variants {
            assert_ne!(build_key(&v), base, "{v:?}");
        }
    }

    #[test]
    fn tree_hash_ignores_git_and_mtimes_but_not_content_or_mode() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/a.txt"), "a").unwrap();
        std::os::unix::fs::symlink("sub/a.txt", d.join("link")).unwrap();
        let h1 = tree_hash(d).unwrap();
        std::fs::create_dir_all(d.join(".git")).unwrap();
        std::fs::write(d.join(".git/HEAD"), "x").unwrap();
        std::fs::write(d.join("sub/a.txt"), "a").unwrap();
        assert_eq!(tree_hash(d).unwrap(), h1);
        std::fs::set_permissions(d.join("sub/a.txt"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        let h2 = tree_hash(d).unwrap();
        assert_ne!(h2, h1);
        std::fs::write(d.join("sub/a.txt"), "b").unwrap();
        assert_ne!(tree_hash(d).unwrap(), h2);
    }

    #[test]
    fn language_pack_ids_differ() {
        assert_ne!(
            language_pack_id(&LanguagePack::Auto),
            language_pack_id(&LanguagePack::Named("auto".into()))
        );
    }
}
