//! The durable record of each deployment id (`<state>/deployments/<id>.json`), which makes
//! "each deployment runs once" survive a killed agent: `Started` is written before anything
//! runs, `Done` (with the result) after, and the result's signal goes to the outbox in the
//! same step. A restart that finds `Started` knows the run was cut off.
//!
//! File names come from `file_stem`: bounded and collision-free for any id Heat may send
//! (up to 255 bytes of anything but `/` and NUL), the id itself when it is short and plain.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

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
        let dir = crate::state::layout::deployments(state_root);
        std::fs::create_dir_all(&dir)?;
        Ok(Records { dir })
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{}.json", file_stem(id)))
    }

    /// Where an agent before issue 11 kept the record of `id`, when that differs from `path`
    /// and could exist (its name fit in 255 bytes).
    fn legacy_path(&self, id: &str) -> Option<PathBuf> {
        let name = format!("{}.json", legacy_stem(id));
        (name.len() <= 255 && name != format!("{}.json", file_stem(id)))
            .then(|| self.dir.join(name))
    }

    pub fn get(&self, id: &str) -> std::io::Result<Option<DeploymentRecord>> {
        if let Some(r) = read_json(&self.path(id))? {
            return Ok(Some(r));
        }
        match self.legacy_path(id) {
            Some(old) => read_json(&old),
            None => Ok(None),
        }
    }

    pub fn put(&self, record: &DeploymentRecord) -> std::io::Result<()> {
        write_json(&self.path(&record.id), record)?;
        if let Some(old) = self.legacy_path(&record.id) {
            match std::fs::remove_file(&old) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
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

/// Plain ids up to this length are their own file name (Heat's are 36-byte UUIDs).
const PLAIN_MAX: usize = 100;
/// How much of an unusual id shows in its file name.
const PREFIX_MAX: usize = 40;

/// The file name (without extension) for deployment `id`: the id itself when it is at most
/// `PLAIN_MAX` bytes of `[A-Za-z0-9_-]` (as before, so existing records are found); otherwise a
/// readable prefix (unusual bytes as `_`), a `.`, and the SHA-256 of the whole id. Plain names
/// never hold a `.` and hashed ones always do, so no two ids share a name; the longest is 105
/// bytes, so every name fits the file system's 255 (a work directory too).
pub fn file_stem(id: &str) -> String {
    let plain = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if !id.is_empty() && id.len() <= PLAIN_MAX && id.bytes().all(plain) {
        return id.to_string();
    }
    let mut prefix: String = id
        .bytes()
        .take(PREFIX_MAX)
        .map(|b| if plain(b) { b as char } else { '_' })
        .collect();
    if prefix.is_empty() {
        prefix.push('_');
    }
    format!("{prefix}.{}", hex::encode(Sha256::digest(id.as_bytes())))
}

/// The naming of agents before issue 11: plain ids as themselves, any other hex-encoded.
fn legacy_stem(id: &str) -> String {
    let plain = id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plain {
        id.to_string()
    } else {
        format!("x-{}", hex::encode(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> DeploymentRecord {
        DeploymentRecord {
            id: id.into(),
            name: "n".into(),
            group: "script".into(),
            action: "CREATE".into(),
            phase: Phase::Done,
            status_code: Some(0),
            apps: vec![],
            updated_at: 1,
        }
    }

    #[test]
    fn file_names_are_bounded_and_distinct() {
        let long_plain = "a".repeat(252);
        let dotted = "a.".repeat(65);
        let max = "\u{fffd}".repeat(85);
        let ids = [
            "4f1d2c8e-55aa-4a43-9d4b-7c2d1c3e9f00",
            long_plain.as_str(),
            &long_plain[..251],
            dotted.as_str(),
            "a_.",
            "a__",
            "a b/../c",
            max.as_str(),
            "",
        ];
        let mut seen = std::collections::HashSet::new();
        for id in ids {
            let stem = file_stem(id);
            assert!(stem.len() + ".json".len() <= 110, "{id:?} -> {stem}");
            assert!(!stem.contains('/') && !stem.starts_with('.'), "{stem}");
            assert!(seen.insert(stem.clone()), "{id:?} shares {stem}");
        }
        assert_eq!(file_stem("4f1d-x_Y"), "4f1d-x_Y");
        assert!(file_stem(&dotted).starts_with("a_a_a_"));
    }

    #[test]
    fn long_ids_are_recorded() {
        let d = tempfile::tempdir().unwrap();
        let r = Records::open(d.path()).unwrap();
        for id in ["a".repeat(252), "a.".repeat(65), "é".repeat(127)] {
            r.put(&record(&id)).unwrap();
            assert_eq!(r.get(&id).unwrap().unwrap().id, id);
        }
        assert_eq!(r.all().unwrap().len(), 3);
    }

    #[test]
    fn records_of_the_old_naming_are_found_and_moved() {
        let d = tempfile::tempdir().unwrap();
        let r = Records::open(d.path()).unwrap();
        let dir = d.path().join("deployments");
        for id in ["a.b", &"b".repeat(150)] {
            let old = dir.join(format!("{}.json", legacy_stem(id)));
            crate::state::write_json(&old, &record(id)).unwrap();
            assert_eq!(r.get(id).unwrap().unwrap().id, id, "{id}");
            r.put(&record(id)).unwrap();
            assert!(!old.exists());
            assert_eq!(r.get(id).unwrap().unwrap().id, id);
        }
        assert_eq!(r.all().unwrap().len(), 2);
    }

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
