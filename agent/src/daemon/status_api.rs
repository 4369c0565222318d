//! The local status API: HTTP/1.0 on a unix socket (mode 0660), answering `GET /status` with
//! the JSON of `solum-agent status --json`. Local only by construction: no TCP port.

use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;

use crate::workflow::Agent;

pub async fn serve(path: &Path, agent: Arc<Agent>) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = UnixListener::bind(path)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let agent = agent.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut n = 0;
                while n < buf.len() {
                    match tokio::time::timeout(
                        std::time::Duration::from_secs(5),
                        stream.read(&mut buf[n..]),
                    )
                    .await
                    {
                        Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
                        Ok(Ok(k)) => n += k,
                    }
                    if buf[..n].windows(4).any(|w| w == b"\r\n\r\n")
                        || buf[..n].windows(2).any(|w| w == b"\n\n")
                    {
                        break;
                    }
                }
                let (code, body) = answer(&buf[..n], &agent).await;
                let head = format!(
                    "HTTP/1.0 {code}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(body.as_bytes()).await;
            });
        }
    });
    Ok(())
}

async fn answer(request: &[u8], agent: &Agent) -> (&'static str, String) {
    let line = String::from_utf8_lossy(request)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some("GET"), Some("/status")) => match agent.runtime.status(None).await {
            Ok(apps) => ("200 OK", serde_json::json!({ "apps": apps }).to_string()),
            Err(e) => (
                "500 Internal Server Error",
                serde_json::json!({ "error": e.to_string() }).to_string(),
            ),
        },
        (Some("GET"), Some(_)) => (
            "404 Not Found",
            r#"{"error": "only GET /status is served"}"#.to_string(),
        ),
        _ => ("400 Bad Request", r#"{"error": "bad request"}"#.to_string()),
    }
}
