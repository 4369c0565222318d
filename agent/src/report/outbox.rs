//! The durable outbox: one JSON file per message under `<state>/outbox/`, named so that they
//! sort in the order they were queued. A message holds everything needed to send it again after
//! a restart (including credentials: the state directory is 0700 and root's). Every push wakes
//! whoever waits in `pushed` (the daemon's flusher), so a result is on its way to Heat as soon
//! as it is queued, not when the rest of the metadata has been applied.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::state::{read_json, write_json};

/// How a message is delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Delivery {
    /// A plain HTTP request: CFN_SIGNAL (POST), TEMP_URL_SIGNAL (PUT), wait conditions.
    Http {
        method: String,
        url: String,
        #[serde(default)]
        headers: Vec<(String, String)>,
    },
    /// HEAT_SIGNAL: Keystone v3 token, then POST to the resource's signal URL.
    HeatSignal {
        auth_url: String,
        user_id: Option<String>,
        username: Option<String>,
        password: String,
        project_id: String,
        stack_id: String,
        resource_name: String,
        region_name: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// What this is, for logs ("deployment 1f8c signal", "wait condition").
    pub what: String,
    pub delivery: Delivery,
    /// The JSON body, serialized.
    pub body: String,
    /// Failed tries so far (across restarts).
    #[serde(default)]
    pub tries: u32,
}

pub struct Outbox {
    dir: PathBuf,
    pushed: tokio::sync::Notify,
}

impl Outbox {
    pub fn open(state_root: &Path) -> std::io::Result<Outbox> {
        let dir = crate::state::layout::outbox(state_root);
        std::fs::create_dir_all(&dir)?;
        Ok(Outbox {
            dir,
            pushed: tokio::sync::Notify::new(),
        })
    }

    /// Returns once a message has been pushed since the last return (a push while nobody
    /// waits is remembered).
    pub async fn pushed(&self) {
        self.pushed.notified().await
    }

    /// Queues a message durably; returns its file name.
    pub fn push(&self, msg: &Message) -> std::io::Result<String> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let mut name = format!("{nanos:024}.json");
        let mut n = 0;
        while self.dir.join(&name).exists() {
            n += 1;
            name = format!("{nanos:024}-{n}.json");
        }
        write_json(&self.dir.join(&name), msg)?;
        self.pushed.notify_one();
        Ok(name)
    }

    /// The queued messages, oldest first. Unreadable files are reported and skipped (kept on
    /// disk for a human to look at, renamed `.bad`).
    pub fn pending(&self) -> std::io::Result<Vec<(String, Message)>> {
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
            .collect();
        names.sort();
        let mut out = Vec::new();
        for name in names {
            match read_json::<Message>(&self.dir.join(&name)) {
                Ok(Some(m)) => out.push((name, m)),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!("outbox: {name} is unreadable ({e}); set aside as {name}.bad");
                    let _ =
                        std::fs::rename(self.dir.join(&name), self.dir.join(format!("{name}.bad")));
                }
            }
        }
        Ok(out)
    }

    pub fn update(&self, name: &str, msg: &Message) -> std::io::Result<()> {
        write_json(&self.dir.join(name), msg)
    }

    pub fn exists(&self, name: &str) -> bool {
        self.dir.join(name).exists()
    }

    /// Moves a message out of the queue, keeping it for a human (`<name>.<suffix>`).
    pub fn set_aside(&self, name: &str, suffix: &str) -> std::io::Result<()> {
        std::fs::rename(
            self.dir.join(name),
            self.dir.join(format!("{name}.{suffix}")),
        )
    }

    pub fn remove(&self, name: &str) -> std::io::Result<()> {
        std::fs::remove_file(self.dir.join(name))?;
        std::fs::File::open(&self.dir)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(what: &str) -> Message {
        Message {
            what: what.into(),
            delivery: Delivery::Http {
                method: "PUT".into(),
                url: "http://x".into(),
                headers: vec![],
            },
            body: "{}".into(),
            tries: 0,
        }
    }

    #[test]
    fn keeps_order_across_reopen_and_removes() {
        let d = tempfile::tempdir().unwrap();
        let o = Outbox::open(d.path()).unwrap();
        let a = o.push(&msg("a")).unwrap();
        o.push(&msg("b")).unwrap();
        let o = Outbox::open(d.path()).unwrap();
        let p = o.pending().unwrap();
        assert_eq!(
            p.iter().map(|(_, m)| m.what.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        o.remove(&a).unwrap();
        assert_eq!(o.pending().unwrap().len(), 1);
    }

    #[test]
    fn corrupt_files_are_set_aside() {
        let d = tempfile::tempdir().unwrap();
        let o = Outbox::open(d.path()).unwrap();
        std::fs::write(d.path().join("outbox/0001.json"), "{broken").unwrap();
        o.push(&msg("ok")).unwrap();
        let p = o.pending().unwrap();
        assert_eq!(p.len(), 1);
        assert!(d.path().join("outbox/0001.json.bad").exists());
    }
}
