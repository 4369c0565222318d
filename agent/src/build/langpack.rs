//! Solum custom language packs: a directory with a `Dockerfile` and a mandatory `build.sh`.
//! The pack's image is built once per content (`solum/lp-<name>:<tree-hash[..12]>`, reused
//! when present); the app image is then built `FROM` it with the source at `/app`, the pack's
//! `build.sh` run there (plan parameters as build args) and `CMD` = `bash -c "$RUN_CMD"`.
//! Finding the pack (a name, a git URL) is the caller's job: this module gets a directory.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use bollard::Docker;
use sha2::{Digest, Sha256};

use super::context::{self, ContextError, ExtraFile};
use super::dockerfile::{self, ImageSpec};
use super::{BuildError, BuildOutcome, BuildRequest, LogFn};

/// Label on language-pack images and on apps built from them (value: the pack's name).
pub const LABEL_LANGPACK: &str = "solum.langpack";
const BUILD_SH: &str = "build.sh";
/// Where the source goes in the app build context (the generated Dockerfile sits at the root).
const SOURCE_PREFIX: &str = "src";

/// True when `dir` looks like a custom language pack: it has a Dockerfile and is not a
/// buildpack (`bin/compile`). A missing `build.sh` is reported by [`build`].
pub fn is_langpack(dir: &Path) -> bool {
    dir.join(context::DOCKERFILE).is_file() && !dir.join("bin/compile").exists()
}

/// Builds the language pack's image (unless already built for its content), then the app.
pub async fn build(
    docker: &Docker,
    req: &BuildRequest,
    langpack_dir: &Path,
) -> Result<BuildOutcome, BuildError> {
    let name = pack_name(langpack_dir);
    let fail = |message: String| BuildError::LanguagePack {
        name: name.clone(),
        message,
    };
    if !langpack_dir.join(context::DOCKERFILE).is_file() {
        return Err(fail(format!(
            "{} has no Dockerfile: a custom language pack is a directory with a Dockerfile and a build.sh",
            langpack_dir.display()
        )));
    }
    let build_sh_path = langpack_dir.join(BUILD_SH);
    let build_sh = match std::fs::read(&build_sh_path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(fail(format!(
                "{} is missing: every custom language pack must provide build.sh (it runs in /app to build the app)",
                build_sh_path.display()
            )));
        }
        Err(e) => {
            return Err(BuildError::io(
                format!("reading {}", build_sh_path.display()),
                e,
            ))
        }
    };
    if let Some(bad) = req.env.keys().find(|k| !is_env_name(k)) {
        return Err(fail(format!(
            "plan parameter {bad:?} is not a valid environment variable name"
        )));
    }

    let tag = dockerfile::app_tag(&req.app, &req.key)?;
    let processes = dockerfile::web_process(req.run_cmd.clone());
    if let Some(outcome) = dockerfile::already_built(docker, req, &tag, &processes).await? {
        return Ok(outcome);
    }

    let lp_tag = pack_image(docker, &name, langpack_dir, &req.work_dir, &req.log).await?;

    let dockerfile_text = app_dockerfile(
        &lp_tag,
        req.env.keys().map(String::as_str),
        req.run_cmd.as_deref(),
    );
    let (source, scratch) = (req.source_dir.clone(), req.work_dir.clone());
    let ctx = blocking(move || {
        let extra = [
            ExtraFile {
                path: context::DOCKERFILE,
                contents: dockerfile_text.as_bytes(),
                mode: 0o644,
            },
            ExtraFile {
                path: BUILD_SH,
                contents: &build_sh,
                mode: 0o755,
            },
        ];
        context::context_tar_under(&source, SOURCE_PREFIX, &extra, &scratch)
    })
    .await?;
    (req.log)(&format!("-----> Building {tag} with language pack {name}"));
    let mut labels = dockerfile::app_labels(req);
    labels.insert(LABEL_LANGPACK.into(), name.clone());
    dockerfile::build_app_image(docker, req, ctx, &tag, labels, processes).await
}

/// Builds (or finds) `solum/lp-<name>:<tree-hash[..12]>`; returns the tag.
async fn pack_image(
    docker: &Docker,
    name: &str,
    dir: &Path,
    work_dir: &Path,
    log: &LogFn,
) -> Result<String, BuildError> {
    let owned = dir.to_path_buf();
    let hash = blocking(move || tree_hash(&owned)).await?;
    let tag = format!("solum/lp-{name}:{}", &hash[..12]);
    match docker.inspect_image(&tag).await {
        Ok(_) => {
            log(&format!("-----> Language pack image {tag} is up to date"));
            return Ok(tag);
        }
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => {}
        Err(e) => return Err(e.into()),
    }
    let (owned, scratch) = (dir.to_path_buf(), work_dir.to_path_buf());
    let ctx = blocking(move || context::context_tar(&owned, &[], &scratch)).await?;
    log(&format!(
        "-----> Building language pack image {tag} from {}",
        dir.display()
    ));
    let labels = BTreeMap::from([(LABEL_LANGPACK.to_string(), name.to_string())]);
    let spec = ImageSpec {
        tag: &tag,
        labels: &labels,
        build_args: &BTreeMap::new(),
    };
    match dockerfile::build_image(docker, ctx, &spec, log).await {
        Ok(_) => Ok(tag),
        Err(BuildError::DockerfileFailed { step, message }) => Err(BuildError::DockerfileFailed {
            step: format!("{step} (language pack {name})"),
            message,
        }),
        Err(e) => Err(e),
    }
}

/// The Dockerfile of the app image (Solum's: source at /app, build.sh, `CMD $RUN_CMD`).
pub fn app_dockerfile<'a>(
    base: &str,
    params: impl Iterator<Item = &'a str>,
    run_cmd: Option<&str>,
) -> String {
    let mut out = format!("FROM {base}\n");
    for p in params {
        out.push_str(&format!("ARG {p}\n"));
    }
    out.push_str(&format!(
        "COPY {SOURCE_PREFIX}/ /app/\nCOPY {BUILD_SH} /solum/{BUILD_SH}\nWORKDIR /app\n"
    ));
    out.push_str(&format!("RUN bash /solum/{BUILD_SH}\n"));
    if let Some(cmd) = run_cmd {
        // JSON exec form: serde_json escapes quotes and newlines, so any command is one line.
        let exec = serde_json::json!(["bash", "-c", cmd]);
        out.push_str(&format!("CMD {exec}\n"));
    }
    out
}

/// The pack's name for its image: the directory's name made a valid Docker repository part.
pub fn pack_name(dir: &Path) -> String {
    let base = dir
        .file_name()
        .map(PathBuf::from)
        .or_else(|| {
            dir.canonicalize()
                .ok()
                .and_then(|p| p.file_name().map(PathBuf::from))
        })
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    sanitize_name(&base)
}

/// Lowercase, `[a-z0-9]` runs joined by single `-`; `langpack` when nothing is left.
fn sanitize_name(raw: &str) -> String {
    let mut out = String::new();
    for c in raw.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_end_matches('-');
    if trimmed.is_empty() {
        "langpack".into()
    } else {
        trimmed.to_string()
    }
}

fn is_env_name(k: &str) -> bool {
    let mut chars = k.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// SHA-256 over what the pack's build context holds (paths, types, modes, contents, link
/// targets; not times or owners): the same pack content gives the same tag anywhere.
pub fn tree_hash(dir: &Path) -> Result<String, ContextError> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    let mut tree = Sha256::new();
    context::walk_context(dir, |entry| {
        let ft = entry.metadata.file_type();
        let kind: &[u8] = if ft.is_dir() {
            b"d"
        } else if ft.is_symlink() {
            b"l"
        } else {
            b"f"
        };
        tree.update(entry.rel.as_os_str().as_bytes());
        tree.update([0]);
        tree.update(kind);
        tree.update((entry.metadata.permissions().mode() & 0o7777).to_be_bytes());
        if ft.is_symlink() {
            let target = std::fs::read_link(&entry.path).map_err(|source| ContextError::Io {
                path: entry.path.clone(),
                source,
            })?;
            tree.update(target.as_os_str().as_bytes());
        } else if ft.is_file() {
            let io = |source| ContextError::Io {
                path: entry.path.clone(),
                source,
            };
            let mut file = std::fs::File::open(&entry.path).map_err(io)?;
            let mut content = Sha256::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = file.read(&mut buf).map_err(|source| ContextError::Io {
                    path: entry.path.clone(),
                    source,
                })?;
                if n == 0 {
                    break;
                }
                content.update(&buf[..n]);
            }
            tree.update(content.finalize());
        }
        tree.update([0]);
        Ok(())
    })?;
    Ok(hex::encode(tree.finalize()))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ContextError> + Send + 'static,
) -> Result<T, BuildError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BuildError::Other(format!("build context task failed: {e}")))?
        .map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_dockerfile_is_solum_style() {
        let text = app_dockerfile(
            "solum/lp-py:abc",
            ["GREETING", "MODE"].into_iter(),
            Some("python3 app.py --say \"hi\""),
        );
        assert_eq!(
            text,
            "FROM solum/lp-py:abc\nARG GREETING\nARG MODE\nCOPY src/ /app/\nCOPY build.sh /solum/build.sh\n\
             WORKDIR /app\nRUN bash /solum/build.sh\nCMD [\"bash\",\"-c\",\"python3 app.py --say \\\"hi\\\"\"]\n"
        );
        let multi = app_dockerfile("b", std::iter::empty(), Some("a\nb"));
        assert!(
            multi.ends_with("CMD [\"bash\",\"-c\",\"a\\nb\"]\n"),
            "{multi}"
        );
        assert!(!app_dockerfile("b", std::iter::empty(), None).contains("CMD"));
    }

    #[test]
    fn names_are_valid_repository_parts() {
        for (raw, want) in [
            ("python-lp", "python-lp"),
            ("My_Pack.v2", "my-pack-v2"),
            ("--x--", "x"),
            ("...", "langpack"),
            ("", "langpack"),
        ] {
            assert_eq!(sanitize_name(raw), want, "{raw}");
        }
        assert_eq!(pack_name(Path::new("/a/b/Python-LP/")), "python-lp");
    }

    #[test]
    fn langpacks_are_told_from_buildpacks() {
        let d = tempfile::tempdir().unwrap();
        assert!(!is_langpack(d.path()), "empty directory");
        std::fs::write(d.path().join("Dockerfile"), "FROM x\n").unwrap();
        assert!(
            is_langpack(d.path()),
            "a Dockerfile makes a language pack (build.sh is checked by build)"
        );
        std::fs::create_dir(d.path().join("bin")).unwrap();
        std::fs::write(d.path().join("bin/compile"), "#!/bin/sh\n").unwrap();
        assert!(
            !is_langpack(d.path()),
            "a buildpack that ships a Dockerfile stays a buildpack"
        );
    }

    #[test]
    fn env_names() {
        for (k, ok) in [
            ("GREETING", true),
            ("_x1", true),
            ("1X", false),
            ("A-B", false),
            ("", false),
            ("A B", false),
        ] {
            assert_eq!(is_env_name(k), ok, "{k}");
        }
    }

    #[test]
    fn tree_hash_follows_content_not_times() {
        let a = tempfile::tempdir().unwrap();
        std::fs::write(a.path().join("Dockerfile"), "FROM x\n").unwrap();
        std::fs::write(a.path().join("build.sh"), "echo hi\n").unwrap();
        let h1 = tree_hash(a.path()).unwrap();
        std::fs::write(a.path().join("build.sh"), "echo hi\n").unwrap();
        assert_eq!(
            tree_hash(a.path()).unwrap(),
            h1,
            "rewriting the same content keeps the hash"
        );
        std::fs::write(a.path().join("build.sh"), "echo ho\n").unwrap();
        assert_ne!(tree_hash(a.path()).unwrap(), h1);
        std::fs::write(a.path().join(".dockerignore"), "notes\n").unwrap();
        let h2 = tree_hash(a.path()).unwrap();
        std::fs::write(a.path().join("notes"), "ignored").unwrap();
        assert_eq!(
            tree_hash(a.path()).unwrap(),
            h2,
            "ignored files do not count"
        );
    }
}
