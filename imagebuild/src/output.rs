//! Outputs made from a finished tree (a directory of the cache, read only):
//! `tar` (a file with a `.sha256` beside it) and `docker` (imported into the
//! local engine). Files are written under a temp name and renamed when complete.

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
    #[error("unknown output type '{0}' (available: tar, docker, raw, qcow2, vagrant)")]
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
pub const SUPPORTED: &[&str] = &["tar", "docker", "raw", "qcow2", "vagrant"];
/// The output types made from a disk.
pub const DISK_TYPES: &[&str] = &["raw", "qcow2", "vagrant"];

/// `NAME.ext` next to the -o path.
pub fn output_path(base: &Path, ext: &str) -> PathBuf {
    let mut s = base.as_os_str().to_owned();
    s.push(format!(".{ext}"));
    PathBuf::from(s)
}

/// sha256 (hex) of a file's content.
pub fn sha256_file(path: &Path) -> Result<String, OutputError> {
    let mut input = fs::File::open(path).map_err(oerr(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = input.read(&mut buf).map_err(oerr(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// md5 (hex) of a file's content, by `md5sum` as DIB's `--checksum` makes it.
pub fn md5_file(path: &Path) -> Result<String, OutputError> {
    let out = cmd::run(Command::new("md5sum").arg("--").arg(path))?;
    let text = String::from_utf8_lossy(&out);
    text.split_whitespace()
        .next()
        .filter(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string)
        .ok_or_else(|| oerr(path)(std::io::Error::other(format!("md5sum said '{text}'"))))
}

/// Write `text` to `dest` via a temp name and a rename.
pub fn write_atomic(dest: &Path, text: &[u8]) -> Result<(), OutputError> {
    let part = cache::partial(dest);
    let result = (|| {
        let mut f = fs::File::create(&part)?;
        f.write_all(text)?;
        f.sync_all()
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&part);
        return Err(oerr(&part)(e));
    }
    fs::rename(&part, dest).map_err(oerr(dest))
}

/// The `sha256sum` line for a file.
pub fn sum_line(sum: &str, file: &Path) -> String {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{sum}  {name}\n")
}

/// Copy `src` (whose sha256 is `sum`) to `dest` atomically and write
/// `dest.sha256` in `sha256sum` format beside it.
pub fn write_file_with_sum(src: &Path, sum: &str, dest: &Path) -> Result<(), OutputError> {
    let part = cache::partial(dest);
    let result = fs::copy(src, &part)
        .and_then(|_| fs::File::open(&part))
        .and_then(|f| f.sync_all());
    if let Err(e) = result {
        let _ = fs::remove_file(&part);
        return Err(OutputError::Io {
            path: if src.exists() {
                part
            } else {
                src.to_path_buf()
            },
            source: e,
        });
    }
    fs::rename(&part, dest).map_err(oerr(dest))?;
    write_atomic(&output_path(dest, "sha256"), sum_line(sum, dest).as_bytes())
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

/// The `docker import` arguments after `import` (pure): the image's command
/// and locale, and a message naming the builder.
const IMPORT_ARGS: &[&str] = &[
    "--change",
    "CMD [\"/bin/bash\"]",
    "--change",
    "ENV LANG=C.UTF-8",
    "--message",
    "solum-image",
];

/// `docker import` a tarball under `tag`; returns the image id.
pub fn docker_import(tarball: &Path, tag: &str) -> Result<String, OutputError> {
    if !valid_tag(tag) {
        return Err(OutputError::BadTag(tag.to_string()));
    }
    let out = cmd::run(
        Command::new("docker")
            .arg("import")
            .args(IMPORT_ARGS)
            .arg(tarball)
            .arg(tag),
    )?;
    Ok(String::from_utf8_lossy(&out).trim().to_string())
}

/// `docker import` the tree directory under `tag`, packed on the fly (no
/// tarball on disk); returns the image id.
pub fn docker_import_tree(tree: &Path, tag: &str) -> Result<String, OutputError> {
    if !valid_tag(tag) {
        return Err(OutputError::BadTag(tag.to_string()));
    }
    let mut c = Command::new("bash");
    c.arg("-c")
        .arg(format!(
            "set -o pipefail; {} | docker import \"${{@:3}}\" - \"$2\"",
            crate::rootfs::TAR_CREATE_SH
        ))
        .arg("solum-image-import")
        .arg(tree)
        .arg(tag)
        .args(IMPORT_ARGS);
    let out = cmd::run(&mut c)?;
    Ok(String::from_utf8_lossy(&out).trim().to_string())
}

/// Make the tree outputs (`tar`, `docker`) of `types` from the finished
/// `tree` directory; disk outputs are made by `build`.
pub fn produce(
    tree: &Path,
    types: &[String],
    base: &Path,
    docker_tag: &str,
    timings: &mut Vec<(String, f64)>,
) -> Result<Vec<Produced>, OutputError> {
    if let Some(t) = types.iter().find(|t| !SUPPORTED.contains(&t.as_str())) {
        return Err(OutputError::Unsupported(t.clone()));
    }
    let mut done = Vec::new();
    let mut tarball = None;
    if types.iter().any(|t| t == "tar") {
        let start = std::time::Instant::now();
        let path = output_path(base, "tar");
        let part = cache::partial(&path);
        let bar = crate::progress::FileBar::new(
            "tar",
            &part,
            crate::progress::tree_bytes(tree),
            crate::progress::Measure::Length,
        );
        let packed = crate::rootfs::pack(tree, &part);
        drop(bar);
        crate::progress::step(&format!("sha256 {}", path.display()));
        let sum = packed
            .map_err(|e| oerr(&part)(std::io::Error::other(e.to_string())))
            .and_then(|()| sha256_file(&part));
        let sum = match sum {
            Ok(sum) => sum,
            Err(e) => {
                let _ = fs::remove_file(&part);
                return Err(e);
            }
        };
        fs::rename(&part, &path).map_err(oerr(&path))?;
        write_atomic(
            &output_path(&path, "sha256"),
            sum_line(&sum, &path).as_bytes(),
        )?;
        done.push(Produced::File {
            path: path.clone(),
            sha256: sum,
        });
        tarball = Some(path);
        timings.push(("tar".into(), start.elapsed().as_secs_f64()));
    }
    if types.iter().any(|t| t == "docker") {
        let start = std::time::Instant::now();
        crate::progress::step(&format!("docker import {docker_tag}"));
        let id = match &tarball {
            Some(t) => docker_import(t, docker_tag)?,
            None => docker_import_tree(tree, docker_tag)?,
        };
        done.push(Produced::DockerImage {
            tag: docker_tag.to_string(),
            id,
        });
        timings.push(("docker".into(), start.elapsed().as_secs_f64()));
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
        let sum = sha256_file(&src).unwrap();
        assert_eq!(
            sum,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        write_file_with_sum(&src, &sum, &dest).unwrap();
        assert_eq!(fs::read_to_string(&dest).unwrap(), "abc");
        assert_eq!(
            fs::read_to_string(t.path().join("img.tar.sha256")).unwrap(),
            format!("{sum}  img.tar\n")
        );
        let names: Vec<String> = fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.contains(".part-")), "{names:?}");
        let e =
            write_file_with_sum(&t.path().join("nope"), &sum, &t.path().join("x.tar")).unwrap_err();
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
        let e = produce(
            Path::new("/x"),
            &["iso".into()],
            Path::new("/o/img"),
            "t",
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown output type"), "{e}");
    }
}
