//! The one HTTP client set-up (reqwest with rustls and the system's roots, plus a private CA
//! or no verification when the user asks), the retrying GET every metadata fetch uses
//! (Afterburn's policy: 1 s doubling to a 5 s cap, a bounded number of tries, 404 = absent,
//! 5xx and connection errors retried, other statuses final), bodies read with a size limit,
//! and reqwest's errors without their URL. URLs are shown only through [`crate::redact`].

use std::path::PathBuf;
use std::time::Duration;

use crate::redact;

/// Why a request failed; `origin` is already redacted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct HttpError {
    pub origin: String,
    pub message: String,
}

/// How a client checks servers' certificates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls {
    /// A PEM file of CA certificates trusted besides the system's (`OS_CACERT`, `cacert`).
    pub ca_file: Option<PathBuf>,
    /// No verification at all (`OS_INSECURE`, `verify: false`).
    pub insecure: bool,
}

/// What goes into a client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub connect_timeout: Duration,
    /// Between two reads of an answer (not the whole answer: uploads and downloads are long).
    pub read_timeout: Option<Duration>,
    /// For the whole request.
    pub timeout: Option<Duration>,
    pub tls: Tls,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(10),
            read_timeout: None,
            timeout: None,
            tls: Tls::default(),
        }
    }
}

/// The largest CA file read: a bundle of every public CA is about 220 KB.
pub const MAX_CA_FILE: usize = 4 << 20;

/// A client with `opts`. The error is one line naming what was wrong (a CA file that cannot
/// be read or holds no certificate).
pub fn client(opts: &ClientOptions) -> Result<reqwest::Client, HttpError> {
    let mut b = reqwest::Client::builder().connect_timeout(opts.connect_timeout);
    if let Some(t) = opts.read_timeout {
        b = b.read_timeout(t);
    }
    if let Some(t) = opts.timeout {
        b = b.timeout(t);
    }
    if let Some(path) = &opts.tls.ca_file {
        let fail = |message: String| HttpError {
            origin: format!("CA file {}", path.display()),
            message,
        };
        let pem = read_capped(path, MAX_CA_FILE).map_err(fail)?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| fail(format!("not PEM certificates: {}", chain(&e))))?;
        if certs.is_empty() {
            return Err(fail("no certificate in it".into()));
        }
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    if opts.tls.insecure {
        b = b.danger_accept_invalid_certs(true);
    }
    b.build().map_err(|e| HttpError {
        origin: "HTTP client".into(),
        message: without_url(&e),
    })
}

fn read_capped(path: &std::path::Path, max: usize) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut v = Vec::new();
    f.take(max as u64 + 1)
        .read_to_end(&mut v)
        .map_err(|e| e.to_string())?;
    if v.len() > max {
        return Err(format!("larger than the {max} byte limit"));
    }
    Ok(v)
}

#[derive(Debug, Clone)]
pub struct Retry {
    pub tries: u32,
    pub first: Duration,
    pub cap: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            tries: 10,
            first: Duration::from_secs(1),
            cap: Duration::from_secs(5),
        }
    }
}

impl Retry {
    /// The pause after failed try number `n` (0-based).
    pub fn pause(&self, n: u32) -> Duration {
        self.first.saturating_mul(1 << n.min(16)).min(self.cap)
    }
}

/// GETs `url`; `Ok(None)` on 404.
pub async fn get_optional(
    client: &reqwest::Client,
    url: &str,
    retry: &Retry,
    limit: usize,
) -> Result<Option<Vec<u8>>, HttpError> {
    let shown = redact::url(url);
    let mut last = String::new();
    for n in 0..retry.tries.max(1) {
        if n > 0 {
            tokio::time::sleep(retry.pause(n - 1)).await;
        }
        match client.get(url).send().await {
            Ok(resp) => {
                let status = resp.status();
                if status == reqwest::StatusCode::NOT_FOUND {
                    return Ok(None);
                }
                if status.is_success() {
                    return read_limited(resp, limit, &shown).await.map(Some);
                }
                last = format!("HTTP {status}");
                if !status.is_server_error() {
                    break;
                }
            }
            Err(e) => last = without_url(&e),
        }
        tracing::debug!("GET {shown}: {last} (try {})", n + 1);
    }
    Err(HttpError {
        origin: shown,
        message: last,
    })
}

/// Reads a response body, refusing more than `limit` bytes (a `Content-Length` over it is
/// refused before reading). `shown` names the request in the error.
pub async fn read_limited(
    mut resp: reqwest::Response,
    limit: usize,
    shown: &str,
) -> Result<Vec<u8>, HttpError> {
    let too_big = || HttpError {
        origin: shown.into(),
        message: format!("answer over the {limit} byte limit"),
    };
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| HttpError {
        origin: shown.into(),
        message: without_url(&e),
    })? {
        if body.len() + chunk.len() > limit {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// reqwest's message without the URL its top-level message embeds: the kind of failure and
/// the chain of causes below it (any URL in those redacted).
pub fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "bad answer body"
    } else {
        "request failed"
    };
    let mut msg = kind.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg = format!("{msg}: {text}");
        }
        src = s.source();
    }
    redact::text(&msg)
}

/// An error body on one line: tags dropped, blanks folded, at most 300 characters (pure).
pub fn excerpt(text: &str) -> String {
    let mut plain = String::new();
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                plain.push(' ');
            }
            _ if !in_tag => plain.push(c),
            _ => {}
        }
    }
    let one: String = plain.split_whitespace().collect::<Vec<_>>().join(" ");
    one.chars().take(300).collect()
}

/// An error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap() {
        let r = Retry::default();
        let pauses: Vec<u64> = (0..5).map(|n| r.pause(n).as_secs()).collect();
        assert_eq!(pauses, vec![1, 2, 4, 5, 5]);
    }

    #[test]
    fn bad_ca_files_are_one_clear_line() {
        let d = tempfile::tempdir().unwrap();
        let with = |p: PathBuf| ClientOptions {
            tls: Tls {
                ca_file: Some(p),
                insecure: false,
            },
            ..ClientOptions::default()
        };
        let e = client(&with(d.path().join("missing.pem"))).unwrap_err();
        assert!(e.to_string().starts_with("CA file "), "{e}");
        let empty = d.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = client(&with(empty)).unwrap_err().to_string();
        assert!(e.ends_with("no certificate in it"), "{e}");
        assert_eq!(e.lines().count(), 1);
        let e = client(&with("/dev/zero".into())).unwrap_err().to_string();
        assert!(e.contains("byte limit"), "{e}");
    }
}
