//! Fetching a tarball: `http(s)://` streamed to a temp file, or a `file://` path, hashed with
//! sha256 on the way, checked against the expected sum, then handed to `extract`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::extract::{extract, Limits};
use super::{is_sha256_hex, SourceError};
use solum_edge::redact;

/// Fetches and extracts the tarball at `url` into `dest` (an existing empty directory), using
/// `scratch` for the download. Returns the tarball's sha256 (hex).
pub(super) async fn fetch(
    url: &str,
    sha256: Option<&str>,
    dest: &Path,
    scratch: &Path,
    limits: &Limits,
) -> Result<String, SourceError> {
    let shown = redact::url(url);
    if let Some(expected) = sha256 {
        if !is_sha256_hex(expected) {
            return Err(SourceError::Invalid(format!(
                "tarball {shown}: expected sha256 {expected:?} is not 64 hexadecimal digits"
            )));
        }
    }
    let parsed = url::Url::parse(url)
        .map_err(|e| SourceError::Invalid(format!("tarball {shown}: not a URL: {e}")))?;
    let (file, actual) = match parsed.scheme() {
        "http" | "https" => download(url, &shown, scratch, limits).await?,
        "file" => {
            let path = parsed.to_file_path().map_err(|()| {
                SourceError::Invalid(format!("tarball {shown}: not a local file URL"))
            })?;
            let sum = hash_file(&path, &shown).await?;
            (path, sum)
        }
        other => {
            return Err(SourceError::Invalid(format!(
                "tarball {shown}: unsupported scheme {other}:// (use http, https or file)"
            )))
        }
    };
    if let Some(expected) = sha256 {
        if !expected.eq_ignore_ascii_case(&actual) {
            return Err(SourceError::Checksum {
                url: shown,
                expected: expected.to_ascii_lowercase(),
                actual,
            });
        }
    }
    let (dest, limits) = (dest.to_path_buf(), *limits);
    tokio::task::spawn_blocking(move || extract(&file, &shown, &dest, &limits))
        .await
        .map_err(|e| SourceError::Other(format!("extraction task failed: {e}")))??;
    Ok(actual)
}

async fn download(
    url: &str,
    shown: &str,
    scratch: &Path,
    limits: &Limits,
) -> Result<(PathBuf, String), SourceError> {
    let fail = |message: String| SourceError::Download {
        url: shown.to_owned(),
        message,
    };
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| fail(e.to_string()))?;
    // reqwest errors can carry the URL: show ours (redacted) instead.
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| fail(describe(e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(fail(format!("HTTP {status}")));
    }
    let path = scratch.join("download.tar");
    let mut out = tokio::fs::File::create(&path)
        .await
        .map_err(|e| fail(format!("cannot write {}: {e}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut total: u64 = 0;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| fail(describe(e)))?;
        total += chunk.len() as u64;
        if total > limits.max_bytes {
            return Err(fail(format!("larger than {} bytes", limits.max_bytes)));
        }
        hasher.update(&chunk);
        out.write_all(&chunk)
            .await
            .map_err(|e| fail(format!("cannot write {}: {e}", path.display())))?;
    }
    out.flush().await.map_err(|e| fail(e.to_string()))?;
    Ok((path, hex::encode(hasher.finalize())))
}

/// A reqwest error without its URL (which may hold credentials).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        msg = format!("{msg}: {s}");
        source = s.source();
    }
    redact::text(&msg)
}

async fn hash_file(path: &Path, shown: &str) -> Result<String, SourceError> {
    let p = path.to_path_buf();
    let result = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
        let mut f = std::fs::File::open(&p)?;
        let mut h = Sha256::new();
        std::io::copy(&mut f, &mut h)?;
        Ok(hex::encode(h.finalize()))
    })
    .await
    .map_err(|e| SourceError::Other(format!("hashing task failed: {e}")))?;
    result.map_err(|e| SourceError::Download {
        url: shown.to_owned(),
        message: e.to_string(),
    })
}
