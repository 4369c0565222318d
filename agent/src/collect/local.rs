//! `local`: every `*.json` file of a directory (os-collect-config's
//! /var/lib/os-collect-config/local-data), merged in name order. Files that are world-writable
//! or owned by another user than the agent's are refused, as os-collect-config refuses them:
//! anyone who can write them could make the agent run anything.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{parse_document, CollectError, Poll};

pub const DEFAULT_DIR: &str = "/var/lib/os-collect-config/local-data";

pub struct LocalCollector {
    dir: PathBuf,
    last: Option<Value>,
}

impl LocalCollector {
    pub fn new(dir: &Path) -> Self {
        LocalCollector {
            dir: dir.to_path_buf(),
            last: None,
        }
    }

    pub fn name(&self) -> String {
        format!("local {}", self.dir.display())
    }

    pub fn poll(&mut self) -> Result<Poll, CollectError> {
        let doc = read_dir(&self.dir, current_uid())?;
        if self.last.as_ref() == Some(&doc) {
            return Ok(Poll::Unchanged);
        }
        self.last = Some(doc.clone());
        Ok(Poll::Document(doc))
    }
}

fn current_uid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0)
}

/// Reads and merges the directory (later files' top-level keys win; `deployments` lists are
/// concatenated). A missing directory is an empty document.
pub fn read_dir(dir: &Path, uid: u32) -> Result<Value, CollectError> {
    let name = format!("local {}", dir.display());
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Value::Object(Map::new())),
        Err(e) => return Err(CollectError::unavailable(&name, e.to_string())),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut merged = Map::new();
    for path in files {
        let meta = std::fs::symlink_metadata(&path)
            .map_err(|e| CollectError::unavailable(&name, format!("{}: {e}", path.display())))?;
        if !meta.is_file() {
            return Err(CollectError::invalid(
                &name,
                format!("{} is not a regular file", path.display()),
            ));
        }
        if meta.mode() & 0o002 != 0 {
            return Err(CollectError::invalid(
                &name,
                format!("{} is world-writable; refusing it", path.display()),
            ));
        }
        if meta.uid() != uid {
            return Err(CollectError::invalid(
                &name,
                format!(
                    "{} is owned by uid {}, not {uid}; refusing it",
                    path.display(),
                    meta.uid()
                ),
            ));
        }
        let bytes = std::fs::read(&path)
            .map_err(|e| CollectError::unavailable(&name, format!("{}: {e}", path.display())))?;
        let Value::Object(doc) = parse_document(&format!("{name}: {}", path.display()), &bytes)?
        else {
            unreachable!("parse_document returns objects only")
        };
        for (k, v) in doc {
            match (k.as_str(), merged.get_mut(&k), v) {
                ("deployments", Some(Value::Array(have)), Value::Array(more)) => have.extend(more),
                (_, _, v) => {
                    merged.insert(k, v);
                }
            }
        }
    }
    Ok(Value::Object(merged))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn merges_in_name_order_and_concatenates_deployments() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("b.json"),
            r#"{"x": 2, "deployments": [{"id": "2"}]}"#,
        )
        .unwrap();
        std::fs::write(
            d.path().join("a.json"),
            r#"{"x": 1, "y": 1, "deployments": [{"id": "1"}]}"#,
        )
        .unwrap();
        std::fs::write(d.path().join("ignored.txt"), "junk").unwrap();
        let v = read_dir(d.path(), current_uid()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"x": 2, "y": 1, "deployments": [{"id": "1"}, {"id": "2"}]})
        );
        let mut c = LocalCollector::new(d.path());
        assert!(matches!(c.poll().unwrap(), Poll::Document(_)));
        assert_eq!(c.poll().unwrap(), Poll::Unchanged);
    }

    #[test]
    fn refuses_unsafe_files() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("a.json");
        std::fs::write(&f, "{}").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(read_dir(d.path(), current_uid())
            .unwrap_err()
            .to_string()
            .contains("world-writable"));
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(read_dir(d.path(), current_uid() + 1)
            .unwrap_err()
            .to_string()
            .contains("owned by uid"));
        std::fs::write(&f, "[1]").unwrap();
        assert!(read_dir(d.path(), current_uid())
            .unwrap_err()
            .to_string()
            .contains("not a JSON object"));
    }

    #[test]
    fn missing_dir_is_empty() {
        assert_eq!(
            read_dir(Path::new("/nonexistent/x"), 0).unwrap(),
            serde_json::json!({})
        );
    }
}
