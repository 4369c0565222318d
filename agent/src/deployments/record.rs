//! The durable record of each deployment id (`<state>/deployments/<id>.json`), which makes
//! "each deployment runs once" survive a killed agent: `Started` is written before anything
//! runs, `Done` (with the result) after, and the result's signal goes to the outbox in the
//! same step. A restart that finds `Started` knows the run was cut off.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::state::{read_json, write_json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Started,
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    pub id: String,
    pub name: String,
    pub group: String,
    pub action: String,
    pub phase: Phase,
    #[serde(default)]
    pub status_code: Option<i64>,
    /// Apps this deployment made (group solum), so DELETE/SUSPEND/RESUME know what to touch.
    #[serde(default)]
    pub apps: Vec<String>,
    /// Unix seconds of the last change.
    pub updated_at: u64,
}

pub struct Records {
    dir: PathBuf,
}

impl Records {
    pub fn open(state_root: &Path) -> std::io::Result<Records> {
        let dir = state_root.join("deployments");
        std::fs::create_dir_all(&dir)?;
        Ok(Records { dir })
    }

    fn path(&self, id: &str) -> PathBuf {
        // Ids are checked by `Deployment::parse` (no '/', not '.' or '..'); hex-encode
        // anything else unusual so that an id can never name a path outside `dir`.
        let safe = id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let name = if safe {
            id.to_string()
        } else {
            format!("x-{}", hex::encode(id))
        };
        self.dir.join(format!("{name}.json"))
    }

    pub fn get(&self, id: &str) -> std::io::Result<Option<DeploymentRecord>> {
        read_json(&self.path(id))
    }

    pub fn put(&self, record: &DeploymentRecord) -> std::io::Result<()> {
        write_json(&self.path(&record.id), record)
    }

    /// All records (for finding the apps of earlier deployments).
    pub fn all(&self) -> std::io::Result<Vec<DeploymentRecord>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json") {
                if let Some(r) = read_json(&path)? {
                    out.push(r);
                }
            }
        }
        out.sort_by_key(|r: &DeploymentRecord| r.updated_at);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_ids_stay_inside_the_directory() {
        let d = tempfile::tempdir().unwrap();
        let r = Records::open(d.path()).unwrap();
        let rec = DeploymentRecord {
            id: "a b/../c".into(),
            name: "n".into(),
            group: "script".into(),
            action: "CREATE".into(),
            phase: Phase::Started,
            status_code: None,
            apps: vec![],
            updated_at: 1,
        };
        r.put(&rec).unwrap();
        assert_eq!(r.get("a b/../c").unwrap().unwrap(), rec);
        assert_eq!(
            std::fs::read_dir(d.path().join("deployments"))
                .unwrap()
                .count(),
            1
        );
        assert_eq!(r.all().unwrap().len(), 1);
    }
}
