//! The agent's durable state under the state directory (`/var/lib/solum-agent` by default).
//! Every write is atomic (temp file in the same directory, fsync, rename, fsync the
//! directory), so a killed agent finds either the old or the new record, never half of one.
//!
//! Layout (every path is named in `layout` below, and nowhere else):
//!   agent-id                      random id of this agent (labels its containers)
//!   apps/<app>/app.json           the app's record (`AppRecord`): desired state, current release
//!   apps/<app>/builds/<key>.json  the process table of the image built with that build key
//!   apps/<app>/tests-passed.json  the (build key, unittest_cmd) pairs whose tests passed
//!   apps/<app>/work/deploy-*/     one deploy's work directory (`workdir`, flocked): the fetched
//!                                 source (`src/`), language pack, buildpacks; removed after it
//!   routes.json, routes.ack,      the supervisor's routes, its acknowledgement, and the lock of
//!   routes.lock                   their writers (`runtime::routes`)
//!   health/<app>.json             health as seen by the supervisor
//!   deployments/                  the record of each Heat deployment applied (`deployments::record`)
//!   deployments/work/<id>/        a deployment hook's working directory
//!   outbox/                       signals not yet delivered (`report::outbox`)
//!   wait-condition.json           the one wait-condition signal, once sent
//!   beat-seq.json                 the last health beat's number
//!   metadata.json                 the merged metadata last acted on (for operators)
//!   services/<plan>-<id>/service.json      a local service: kind, host port, apps using it
//!   services/<plan>-<id>/credentials.json  its generated credentials (0600, never logged)

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_mode(path, bytes, None)
}

/// Writes `bytes` to `path` atomically; with `mode`, the file has that mode before it gets its
/// name (a secret is never readable by others, not even for a moment).
pub fn write_atomic_mode(path: &Path, bytes: &[u8], mode: Option<u32>) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// Writes a value as pretty JSON, atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// Reads a JSON value; `Ok(None)` when the file does not exist.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> std::io::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every path of the state directory, from its root (see the layout above).
pub mod layout {
    use std::path::{Path, PathBuf};

    pub fn agent_id(root: &Path) -> PathBuf {
        root.join("agent-id")
    }
    pub fn apps(root: &Path) -> PathBuf {
        root.join("apps")
    }
    pub fn app(root: &Path, app: &str) -> PathBuf {
        apps(root).join(app)
    }
    pub fn app_record(root: &Path, app_name: &str) -> PathBuf {
        app(root, app_name).join("app.json")
    }
    pub fn app_build(root: &Path, app_name: &str, key: &str) -> PathBuf {
        app(root, app_name)
            .join("builds")
            .join(format!("{key}.json"))
    }
    pub fn app_tests_passed(root: &Path, app_name: &str) -> PathBuf {
        app(root, app_name).join("tests-passed.json")
    }
    pub fn app_work(root: &Path, app_name: &str) -> PathBuf {
        app(root, app_name).join("work")
    }
    pub fn routes(root: &Path) -> PathBuf {
        root.join("routes.json")
    }
    pub fn routes_ack(root: &Path) -> PathBuf {
        root.join("routes.ack")
    }
    pub fn routes_lock(root: &Path) -> PathBuf {
        root.join("routes.lock")
    }
    pub fn health(root: &Path, app: &str) -> PathBuf {
        root.join("health").join(format!("{app}.json"))
    }
    pub fn deployments(root: &Path) -> PathBuf {
        root.join("deployments")
    }
    pub fn deployment_work(root: &Path, stem: &str) -> PathBuf {
        deployments(root).join("work").join(stem)
    }
    pub fn outbox(root: &Path) -> PathBuf {
        root.join("outbox")
    }
    pub fn wait_condition(root: &Path) -> PathBuf {
        root.join("wait-condition.json")
    }
    pub fn beat_seq(root: &Path) -> PathBuf {
        root.join("beat-seq.json")
    }
    pub fn metadata(root: &Path) -> PathBuf {
        root.join("metadata.json")
    }
    pub fn services(root: &Path) -> PathBuf {
        root.join("services")
    }
    /// `key` is `services::naming::key(plan, id)`.
    pub fn service(root: &Path, key: &str) -> PathBuf {
        services(root).join(key)
    }
    pub fn service_record(root: &Path, key: &str) -> PathBuf {
        service(root, key).join("service.json")
    }
    pub fn service_credentials(root: &Path, key: &str) -> PathBuf {
        service(root, key).join("credentials.json")
    }
}

/// The state directory and the paths in it.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// Opens (creating if needed) the state directory, mode 0700.
    pub fn open(root: &Path) -> std::io::Result<StateDir> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(root)?;
        // Only when needed: a read-only state directory still serves `status`.
        if std::fs::metadata(root)?.permissions().mode() & 0o7777 != 0o700 {
            std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o700))?;
        }
        let root = root.canonicalize()?;
        Ok(StateDir { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// This agent's id: made once, then stable. Labels containers so that two agents (or two
    /// test state dirs) on one engine never adopt each other's containers.
    pub fn agent_id(&self) -> std::io::Result<String> {
        let path = layout::agent_id(&self.root);
        match std::fs::read_to_string(&path) {
            Ok(s) if is_agent_id(s.trim()) => Ok(s.trim().to_string()),
            Ok(_) | Err(_) => {
                let mut buf = [0u8; 6];
                getrandom(&mut buf)?;
                let id = hex::encode(buf);
                write_atomic(&path, format!("{id}\n").as_bytes())?;
                Ok(id)
            }
        }
    }

    pub fn app_dir(&self, app: &str) -> PathBuf {
        layout::app(&self.root, app)
    }

    pub fn app_record_path(&self, app: &str) -> PathBuf {
        layout::app_record(&self.root, app)
    }

    pub fn read_app(&self, app: &str) -> std::io::Result<Option<AppRecord>> {
        read_json(&self.app_record_path(app))
    }

    pub fn write_app(&self, record: &AppRecord) -> std::io::Result<()> {
        write_json(&self.app_record_path(&record.app), record)
    }

    pub fn remove_app(&self, app: &str) -> std::io::Result<()> {
        match std::fs::remove_dir_all(self.app_dir(app)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Names of all apps with a record.
    pub fn apps(&self) -> std::io::Result<Vec<String>> {
        let mut out = Vec::new();
        let dir = layout::apps(&self.root);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            if entry.path().join("app.json").is_file() {
                out.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        out.sort();
        Ok(out)
    }
}

fn is_agent_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Fills `buf` from the OS's random number generator.
pub fn getrandom(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

/// The durable record of one app: what was asked for and what is running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRecord {
    pub app: String,
    /// The release now serving (None before the first successful deploy).
    pub release: Option<ReleaseRecord>,
    /// True when stopped on purpose (`stop`, SUSPEND): not restarted until `start`/RESUME.
    #[serde(default)]
    pub stopped: bool,
    /// The last failure of a deploy of this app (the serving release is unaffected).
    #[serde(default)]
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    pub release: String,
    pub image: String,
    pub build_key: String,
    pub ports: Vec<u16>,
    pub processes: std::collections::BTreeMap<String, Option<String>>,
    pub env: std::collections::BTreeMap<String, String>,
    pub source_version: String,
    /// Unix seconds.
    pub deployed_at: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b/c.json");
        write_json(&p, &vec![1, 2, 3]).unwrap();
        write_json(&p, &vec![4]).unwrap();
        let v: Vec<i32> = read_json(&p).unwrap().unwrap();
        assert_eq!(v, vec![4]);
        let leftovers: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp files left behind");
    }

    #[test]
    fn missing_file_reads_as_none_and_garbage_as_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.json");
        assert!(read_json::<Vec<i32>>(&p).unwrap().is_none());
        std::fs::write(&p, b"{not json").unwrap();
        let err = read_json::<Vec<i32>>(&p).unwrap_err();
        assert!(err.to_string().contains("x.json"), "{err}");
    }

    #[test]
    fn agent_id_is_stable() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateDir::open(dir.path()).unwrap();
        let a = s.agent_id().unwrap();
        assert_eq!(a, s.agent_id().unwrap());
        assert!(is_agent_id(&a));
    }
}
