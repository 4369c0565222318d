//! Importing a root-tree tar into the engine as an image (`docker import`), streamed from the
//! file so a 500 MB tree never sits in memory, and asking whether an image exists.

use std::path::Path;

use bollard::query_parameters::CreateImageOptionsBuilder;
use bollard::Docker;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::io::AsyncReadExt;

use super::StackError;
use crate::progress::LogFn;

const CHUNK: usize = 256 * 1024;

/// The contents of `file` as a stream of chunks (for request bodies).
pub fn file_stream(
    file: tokio::fs::File,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    futures_util::stream::unfold(Some(file), |state| async move {
        let mut file = state?;
        let mut buf = vec![0u8; CHUNK];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}

/// Splits `repo[:tag]` (a registry port is not a tag); the tag defaults to `latest`.
pub fn split_reference(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') && !repo.is_empty() && !tag.is_empty() => {
            (repo, tag)
        }
        _ => (image, "latest"),
    }
}

/// Imports the tar `path` as `image` with the Dockerfile-style `changes` applied.
pub async fn import(
    docker: &Docker,
    path: &Path,
    image: &str,
    changes: Vec<String>,
    log: &LogFn,
) -> Result<(), StackError> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| StackError::Io {
            context: format!("opening {}", path.display()),
            source: e,
        })?;
    let (repo, tag) = split_reference(image);
    let options = CreateImageOptionsBuilder::new()
        .from_src("-")
        .repo(repo)
        .tag(tag)
        .changes(changes)
        .build();
    log(&format!("-----> importing {image}"));
    let mut stream = docker.create_image(
        Some(options),
        Some(bollard::body_try_stream(file_stream(file))),
        None,
    );
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| StackError::Import {
            image: image.to_string(),
            message: e.to_string(),
        })?;
        if let Some(status) = info.status {
            log(&format!("       {status}"));
        }
    }
    Ok(())
}

/// The value of the environment variable `key` in `image`'s config; `Ok(None)` when the image
/// does not exist or lacks it.
pub async fn image_env(
    docker: &Docker,
    image: &str,
    key: &str,
) -> Result<Option<String>, StackError> {
    match docker.inspect_image(image).await {
        Ok(inspect) => {
            let prefix = format!("{key}=");
            Ok(inspect
                .config
                .and_then(|c| c.env)
                .unwrap_or_default()
                .into_iter()
                .find_map(|kv| kv.strip_prefix(&prefix).map(str::to_string)))
        }
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(e) => Err(StackError::Docker(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_at_the_tag_not_the_registry_port() {
        assert_eq!(
            split_reference("solum/stack-run:bookworm"),
            ("solum/stack-run", "bookworm")
        );
        assert_eq!(
            split_reference("solum/stack-run"),
            ("solum/stack-run", "latest")
        );
        assert_eq!(
            split_reference("localhost:5000/x"),
            ("localhost:5000/x", "latest")
        );
        assert_eq!(
            split_reference("localhost:5000/x:1"),
            ("localhost:5000/x", "1")
        );
    }

    #[tokio::test]
    async fn file_stream_yields_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..(CHUNK * 2 + 17)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let file = tokio::fs::File::open(&path).await.unwrap();
        let chunks: Vec<Bytes> = file_stream(file).map(|c| c.unwrap()).collect().await;
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks.concat(), data);
    }
}
