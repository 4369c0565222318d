//! Glance v2 calls: create, upload (streamed, hashed in the same pass), stage + import,
//! show, find by name, delete. The create body is built by a pure function.

use super::UploadError;
use futures_util::stream;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha512};
use std::sync::{Arc, Mutex};
use tokio::io::AsyncReadExt;

/// One line about a transport error (no URL credentials, no chain of causes).
pub fn short(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg = s.to_string();
        src = s.source();
    }
    msg
}

/// Answers larger than this are refused (a Glance or Keystone answer is a few KiB, the
/// catalog of a large cloud a few hundred).
pub const MAX_ANSWER_BYTES: usize = 4 << 20;

/// How much of an error body is read to quote it.
const EXCERPT_READ_BYTES: usize = 64 << 10;

/// Reads at most `limit` bytes of an answer's body; `Ok(None)` when it is longer.
async fn read_capped(
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<Option<Vec<u8>>, reqwest::Error> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Ok(None);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// The JSON of an answer (`what` names the request in errors), at most `MAX_ANSWER_BYTES`.
pub async fn read_json(resp: reqwest::Response, what: &str) -> Result<Value, UploadError> {
    match read_capped(resp, MAX_ANSWER_BYTES).await {
        Ok(Some(body)) => parse_answer(what, &body),
        Ok(None) => Err(UploadError::Protocol(format!(
            "{what}: answer over the {MAX_ANSWER_BYTES} byte limit"
        ))),
        Err(e) => Err(UploadError::Protocol(format!("{what}: {}", short(&e)))),
    }
}

/// Parses an answer's body as JSON (pure).
pub fn parse_answer(what: &str, body: &[u8]) -> Result<Value, UploadError> {
    serde_json::from_slice(body)
        .map_err(|e| UploadError::Protocol(format!("{what}: answer is not JSON: {e}")))
}

/// The first bytes of an error body, on one line.
pub async fn body_excerpt(mut resp: reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < EXCERPT_READ_BYTES {
        match resp.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    excerpt(&String::from_utf8_lossy(&body))
}

pub use solum_edge::http::excerpt;

/// The id in the answer to `POST /v2/images`.
pub fn created_id(answer: &Value) -> Option<String> {
    answer.get("id").and_then(Value::as_str).map(str::to_string)
}

/// The images of a `GET /v2/images` answer (none when it has no list).
pub fn images_of(answer: &Value) -> Vec<Value> {
    answer
        .get("images")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The import methods of a `GET /v2/info/import` answer.
pub fn import_methods_of(answer: &Value) -> Vec<String> {
    answer
        .pointer("/import-methods/value")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| m.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A string field of an image (empty when absent or not a string).
pub fn str_of<'a>(image: &'a Value, key: &str) -> &'a str {
    image.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Where an uploaded image stands, from `GET /v2/images/{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageState {
    Active,
    /// Still queued, saving or importing.
    Pending {
        status: String,
    },
    /// It will never become active; `detail` says why when Glance did.
    Failed {
        status: String,
        detail: String,
    },
}

/// The state of an image as Glance shows it (pure).
pub fn image_state(image: &Value) -> ImageState {
    let status = str_of(image, "status").to_string();
    let failed = str_of(image, "os_glance_failed_import");
    match status.as_str() {
        "active" => ImageState::Active,
        "killed" | "deleted" | "deactivated" => ImageState::Failed {
            status,
            detail: String::new(),
        },
        _ if !failed.is_empty() => ImageState::Failed {
            detail: format!(" (import failed in store {failed})"),
            status,
        },
        _ => ImageState::Pending { status },
    }
}

/// The body of `POST /v2/images` (pure).
pub fn create_body(
    name: &str,
    disk_format: &str,
    visibility: Option<&str>,
    properties: &[(String, String)],
) -> Value {
    let mut m = Map::new();
    for (k, v) in properties {
        m.insert(k.clone(), Value::String(v.clone()));
    }
    m.insert("name".into(), json!(name));
    m.insert("disk_format".into(), json!(disk_format));
    m.insert("container_format".into(), json!("bare"));
    if let Some(v) = visibility {
        m.insert("visibility".into(), json!(v));
    }
    Value::Object(m)
}

/// A Glance endpoint with a token.
pub struct Glance {
    pub client: reqwest::Client,
    pub url: String,
    pub token: String,
}

/// What the upload pass saw: bytes sent and their sha512.
pub struct Sent {
    pub bytes: u64,
    pub sha512: String,
}

impl Glance {
    fn v2(&self, path: &str) -> String {
        let base = self.url.trim_end_matches('/').trim_end_matches("/v2");
        format!("{base}/v2{path}")
    }

    async fn send(
        &self,
        what: String,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, UploadError> {
        let resp = req
            .header("X-Auth-Token", &self.token)
            .send()
            .await
            .map_err(|e| UploadError::Unreachable {
                service: "Glance",
                url: what.clone(),
                msg: short(&e),
            })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        Err(UploadError::Http {
            status: resp.status().as_u16(),
            what,
            body: body_excerpt(resp).await,
        })
    }

    async fn json(&self, what: String, req: reqwest::RequestBuilder) -> Result<Value, UploadError> {
        let resp = self.send(what.clone(), req).await?;
        read_json(resp, &what).await
    }

    /// `POST /v2/images`: a queued image; its id.
    pub async fn create(&self, body: &Value) -> Result<String, UploadError> {
        let url = self.v2("/images");
        let v = self
            .json(format!("POST {url}"), self.client.post(&url).json(body))
            .await?;
        created_id(&v)
            .ok_or_else(|| UploadError::Protocol(format!("POST {url}: no id in the answer")))
    }

    /// `GET /v2/images/{id}`.
    pub async fn show(&self, id: &str) -> Result<Value, UploadError> {
        let url = self.v2(&format!("/images/{id}"));
        self.json(format!("GET {url}"), self.client.get(&url)).await
    }

    /// `DELETE /v2/images/{id}`.
    pub async fn delete(&self, id: &str) -> Result<(), UploadError> {
        let url = self.v2(&format!("/images/{id}"));
        self.send(format!("DELETE {url}"), self.client.delete(&url))
            .await
            .map(|_| ())
    }

    /// Images named `name` owned by anyone visible to us (all statuses).
    pub async fn find_by_name(&self, name: &str) -> Result<Vec<Value>, UploadError> {
        let url = self.v2("/images");
        let v = self
            .json(
                format!("GET {url}"),
                self.client
                    .get(&url)
                    .query(&[("name", name), ("limit", "100")]),
            )
            .await?;
        Ok(images_of(&v))
    }

    /// Import methods the cloud offers (`GET /v2/info/import`); empty if not answered.
    pub async fn import_methods(&self) -> Vec<String> {
        let url = self.v2("/info/import");
        match self.json(format!("GET {url}"), self.client.get(&url)).await {
            Ok(v) => import_methods_of(&v),
            Err(_) => Vec::new(),
        }
    }

    /// Stream `file` to `PUT /v2/images/{id}/{file|stage}`, hashing it on the way.
    pub async fn put_data(
        &self,
        id: &str,
        target: &str,
        file: tokio::fs::File,
        len: u64,
        bar: Option<indicatif::ProgressBar>,
    ) -> Result<Sent, UploadError> {
        let url = self.v2(&format!("/images/{id}/{target}"));
        let hasher = Arc::new(Mutex::new((Sha512::new(), 0u64)));
        let h = hasher.clone();
        let body = stream::unfold((file, h, bar), |(mut f, h, bar)| async move {
            let mut buf = vec![0u8; 1 << 20];
            match f.read(&mut buf).await {
                Ok(0) => {
                    if let Some(b) = &bar {
                        b.finish_and_clear();
                    }
                    None
                }
                Ok(n) => {
                    buf.truncate(n);
                    if let Ok(mut g) = h.lock() {
                        g.0.update(&buf);
                        g.1 += n as u64;
                    }
                    if let Some(b) = &bar {
                        b.inc(n as u64);
                    }
                    Some((Ok(bytes::Bytes::from(buf)), (f, h, bar)))
                }
                Err(e) => Some((Err(e), (f, h, bar))),
            }
        });
        self.send(
            format!("PUT {url}"),
            self.client
                .put(&url)
                .header("Content-Type", "application/octet-stream")
                .header("Content-Length", len)
                .body(reqwest::Body::wrap_stream(body)),
        )
        .await?;
        let g = hasher
            .lock()
            .map_err(|_| UploadError::Protocol("hasher poisoned".into()))?;
        Ok(Sent {
            bytes: g.1,
            sha512: hex::encode(g.0.clone().finalize()),
        })
    }

    /// `POST /v2/images/{id}/import` with glance-direct.
    pub async fn import_direct(&self, id: &str) -> Result<(), UploadError> {
        let url = self.v2(&format!("/images/{id}/import"));
        self.send(
            format!("POST {url}"),
            self.client
                .post(&url)
                .json(&json!({"method": {"name": "glance-direct"}})),
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_body_has_properties_and_formats() {
        let b = create_body(
            "n",
            "qcow2",
            Some("private"),
            &[("os_distro".into(), "debian".into())],
        );
        assert_eq!(b["container_format"], "bare");
        assert_eq!(b["disk_format"], "qcow2");
        assert_eq!(b["os_distro"], "debian");
        assert_eq!(b["visibility"], "private");
        assert!(create_body("n", "raw", None, &[])
            .get("visibility")
            .is_none());
    }

    #[test]
    fn answers_are_read_as_glance_writes_them() {
        let v = parse_answer("GET x", br#"{"id": "i-1", "images": [{"id": "a"}], "import-methods": {"value": ["glance-direct", 3]}}"#).unwrap();
        assert_eq!(created_id(&v).as_deref(), Some("i-1"));
        assert_eq!(images_of(&v).len(), 1);
        assert_eq!(import_methods_of(&v), vec!["glance-direct".to_string()]);
        let e = parse_answer("GET x", b"<html>").unwrap_err().to_string();
        assert!(e.contains("GET x: answer is not JSON"), "{e}");
        let odd = json!({"id": 7, "images": {}, "import-methods": []});
        assert_eq!(created_id(&odd), None);
        assert!(images_of(&odd).is_empty());
        assert!(import_methods_of(&odd).is_empty());
    }

    /// Serves one answer of `len` bytes on 127.0.0.1 (with or without Content-Length).
    fn serve_big(len: usize, with_length: bool) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let Ok((mut c, _)) = listener.accept() else {
                return;
            };
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let head = if with_length {
                format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n")
            } else {
                "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_string()
            };
            let _ = c.write_all(head.as_bytes());
            let chunk = vec![b' '; 64 << 10];
            let mut sent = 0;
            while sent < len {
                if c.write_all(&chunk).is_err() {
                    return;
                }
                sent += chunk.len();
            }
        });
        url
    }

    #[test]
    fn answers_over_the_limit_are_refused() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for with_length in [true, false] {
            let url = serve_big(MAX_ANSWER_BYTES + (1 << 20), with_length);
            let e = rt
                .block_on(async {
                    let resp = reqwest::get(&url).await.unwrap();
                    read_json(resp, "GET /v2/images").await
                })
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("GET /v2/images: answer over the 4194304 byte limit"),
                "{e}"
            );
        }
    }

    #[test]
    fn image_states() {
        assert_eq!(
            image_state(&json!({"status": "active"})),
            ImageState::Active
        );
        assert_eq!(
            image_state(&json!({"status": "importing", "os_glance_failed_import": "s1"})),
            ImageState::Failed {
                status: "importing".into(),
                detail: " (import failed in store s1)".into()
            }
        );
        assert!(matches!(
            image_state(&json!({"status": "killed"})),
            ImageState::Failed { .. }
        ));
        assert_eq!(
            image_state(&json!({"status": 3})),
            ImageState::Pending {
                status: String::new()
            }
        );
    }

    #[test]
    fn excerpts_are_one_short_line() {
        assert_eq!(
            excerpt("<html><h1>401</h1>\n  Unauthorized  </html>"),
            "401 Unauthorized"
        );
        assert_eq!(excerpt(&"é".repeat(1000)).chars().count(), 300);
    }
}
