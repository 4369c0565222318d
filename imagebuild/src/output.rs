//! Outputs made from a finished tree tarball: `tar` (a file with a
//! `.sha256` beside it) and `docker` (imported into the local engine).
//! Files are written under a temp name and renamed when complete.

use crate::cache;
use crate::cmd::{self, CmdError};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// An output could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Cmd(#[from] CmdError),
    #[error("output type '{0}' is not implemented yet (available: tar, docker)")]
    Unsupported(String),
    #[error("bad docker tag '{0}'")]
    BadTag(String),
}

fn oerr(path: &Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
    move |source| OutputError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What was produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Produced {
    File { path: PathBuf, sha256: String },
    DockerImage { tag: String, id: String },
}

/// The output types this version can make.
pub const SUPPORTED: &[&str] = &["tar", "docker"];

/// `NAME.ext` next to the -o path.
pub fn output_path(base: &Path, ext: &str) -> PathBuf {
    let mut s = base.as_os_str().to_owned();
    s.push(format!(".{ext}"));
    PathBuf::from(s)
}

/// Copy `src` to `dest` atomically, returning the sha256 of the content,
/// and write `dest.sha256` in `sha256sum` format.
pub fn write_file_with_sum(src: &Path, dest: &Path) -> Result<String, OutputError> {
    let part = cache::partial(dest);
    let result = (|| {
        let mut input = fs::File::open(src).map_err(oerr(src))?;
        let mut out = fs::File::create(&part).map_err(oerr(&part))?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = input.read(&mut buf).map_err(oerr(src))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(oerr(&part))?;
        }
        out.sync_all().map_err(oerr(&part))?;
        Ok::<String, OutputError>(hex::encode(h.finalize()))
    })();
    let sum = match result {
        Ok(s) => s,
        Err(e) => {
            let _ = fs::remove_file(&part);
            return Err(e);
        }
    };
    fs::rename(&part, dest).map_err(oerr(dest))?;
    let file_name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let sum_path = output_path(dest, "sha256");
    let sum_part = cache::partial(&sum_path);
    fs::write(&sum_part, format!("{sum}  {file_name}\n")).map_err(oerr(&sum_part))?;
    fs::rename(&sum_part, &sum_path).map_err(oerr(&sum_path))?;
    Ok(sum)
}

/// Whether a string is a plausible docker reference (repo[:tag]).
pub fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 255
        && !tag.starts_with(['-', '.', ':', '/'])
        && tag.bytes().all(|b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || b"._-/:".contains(&b)
                || b.is_ascii_uppercase()
        })
}

/// `docker import` the tree tarball under `tag`; returns the image id.
pub fn docker_import(tree_tar: &Path, tag: &str) -> Result<String, OutputError> {
    if !valid_tag(tag) {
        return Err(OutputError::BadTag(tag.to_string()));
    }
    let out = cmd::run(
        Command::new("docker")
            .args([
                "import",
                "--change",
                "CMD [\"/bin/bash\"]",
                "--message",
                "solum-image",
            ])
            .arg(tree_tar)
            .arg(tag),
    )?;
    Ok(String::from_utf8_lossy(&out).trim().to_string())
}

/// Make every requested output.
pub fn produce(
    tree_tar: &Path,
    types: &[String],
    base: &Path,
    docker_tag: &str,
) -> Result<Vec<Produced>, OutputError> {
    let mut done = Vec::new();
    for t in types {
        match t.as_str() {
            "tar" => {
                let path = output_path(base, "tar");
                let sha256 = write_file_with_sum(tree_tar, &path)?;
                done.push(Produced::File { path, sha256 });
            }
            "docker" => {
                let id = docker_import(tree_tar, docker_tag)?;
                done.push(Produced::DockerImage {
                    tag: docker_tag.to_string(),
                    id,
                });
            }
            other => return Err(OutputError::Unsupported(other.to_string())),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_and_sum_written_atomically() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        fs::write(&src, "abc").unwrap();
        let dest = t.path().join("img.tar");
        let sum = write_file_with_sum(&src, &dest).unwrap();
        assert_eq!(
            sum,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            fs::read_to_string(t.path().join("img.tar.sha256")).unwrap(),
            format!("{sum}  img.tar\n")
        );
        let names: Vec<String> = fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.contains(".part-")), "{names:?}");
        let e = write_file_with_sum(&t.path().join("nope"), &t.path().join("x.tar")).unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
        assert!(!t.path().join("x.tar").exists());
    }

    #[test]
    fn tags() {
        assert!(valid_tag("solum/app-vm:latest"));
        assert!(!valid_tag("-bad"));
        assert!(!valid_tag("a b"));
        assert_eq!(
            output_path(Path::new("/o/img"), "tar"),
            PathBuf::from("/o/img.tar")
        );
        let e = produce(Path::new("/x"), &["qcow2".into()], Path::new("/o/img"), "t").unwrap_err();
        assert!(e.to_string().contains("not implemented yet"), "{e}");
    }
}
