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

/// The first bytes of an error body, on one line.
pub async fn body_excerpt(resp: reqwest::Response) -> String {
    let text = resp.text().await.unwrap_or_default();
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
    let text = plain;
    let one: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    one.chars().take(300).collect()
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
        self.send(what.clone(), req)
            .await?
            .json()
            .await
            .map_err(|e| UploadError::Protocol(format!("{what}: {e}")))
    }

    /// `POST /v2/images`: a queued image; its id.
    pub async fn create(&self, body: &Value) -> Result<String, UploadError> {
        let url = self.v2("/images");
        let v = self
            .json(format!("POST {url}"), self.client.post(&url).json(body))
            .await?;
        v.get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
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
        Ok(v.get("images")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }

    /// Import methods the cloud offers (`GET /v2/info/import`); empty if not answered.
    pub async fn import_methods(&self) -> Vec<String> {
        let url = self.v2("/info/import");
        match self.json(format!("GET {url}"), self.client.get(&url)).await {
            Ok(v) => v
                .pointer("/import-methods/value")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|m| m.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
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
}
