//! A local service's durable state: its record (kind, the host port allocated once, the apps
//! using it) and its credentials, generated once from the OS's random number generator and
//! kept 0600. Both outlive redeploys, agent restarts and `destroy` without `--purge`: the
//! volume's data was initialized with these credentials, and the apps' URLs name that port.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::planfile::ServiceKind;
use crate::state::{self, layout};

use super::naming;

/// What the agent remembers of a local service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRecord {
    pub plan: String,
    pub id: String,
    pub name: String,
    /// `characteristic_type` (`postgresql`, ...).
    pub kind: String,
    /// Published on the Docker bridge's gateway at this port, for good (0: bound).
    pub host_port: u16,
    /// A bound service: the parameter holding its URL (nothing runs here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_parameter: Option<String>,
    /// The apps of the plan that require it (a container is removed when none is left).
    #[serde(default)]
    pub apps: BTreeSet<String>,
}

impl ServiceRecord {
    pub fn kind(&self) -> Option<ServiceKind> {
        ServiceKind::parse(&self.kind)
    }
    pub fn key(&self) -> String {
        naming::key(&self.plan, &self.id)
    }
}

/// A local service's user, password and database (or vhost).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub user: String,
    pub password: String,
    pub database: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Credentials {{ user: {:?}, password: ***, database: {:?} }}",
            self.user, self.database
        )
    }
}

/// The user every local service is made with.
pub const USER: &str = "solum";
/// Length of a generated password (letters and digits: 190 bits).
pub const PASSWORD_LEN: usize = 32;

/// A new password: `PASSWORD_LEN` letters and digits, uniformly drawn from the OS's random
/// number generator (rejection sampling, no modulo bias). No character needs URL escaping.
pub fn new_password() -> std::io::Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(PASSWORD_LEN);
    let mut buf = [0u8; 64];
    while out.len() < PASSWORD_LEN {
        state::getrandom(&mut buf)?;
        for b in buf {
            // 248 = 4 * 62: bytes at or above it would favour the first letters.
            if b < 248 && out.len() < PASSWORD_LEN {
                out.push(ALPHABET[(b % 62) as usize] as char);
            }
        }
    }
    Ok(out)
}

/// The state files of one service.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(state_root: &Path) -> Store {
        Store {
            root: state_root.to_path_buf(),
        }
    }

    pub fn dir(&self, key: &str) -> PathBuf {
        layout::service(&self.root, key)
    }

    pub fn read_record(&self, key: &str) -> std::io::Result<Option<ServiceRecord>> {
        state::read_json(&layout::service_record(&self.root, key))
    }

    pub fn write_record(&self, record: &ServiceRecord) -> std::io::Result<()> {
        let path = layout::service_record(&self.root, &record.key());
        let mut bytes = serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        state::write_atomic_mode(&path, &bytes, Some(0o600))
    }

    /// Every service record, in key order.
    pub fn records(&self) -> std::io::Result<Vec<ServiceRecord>> {
        let dir = layout::services(&self.root);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for entry in entries {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if let Some(r) = self.read_record(&name)? {
                out.push(r);
            }
        }
        out.sort_by_key(|r| r.key());
        Ok(out)
    }

    /// The service's credentials, made (and kept, 0600) the first time.
    pub fn credentials(&self, key: &str, id: &str) -> std::io::Result<Credentials> {
        let path = layout::service_credentials(&self.root, key);
        if let Some(c) = state::read_json::<Credentials>(&path)? {
            return Ok(c);
        }
        let c = Credentials {
            user: USER.to_string(),
            password: new_password()?,
            database: naming::database_name(id),
        };
        let bytes = serde_json::to_vec_pretty(&c).map_err(std::io::Error::other)?;
        state::write_atomic_mode(&path, &bytes, Some(0o600))?;
        Ok(c)
    }

    /// Forgets a service: its record and credentials (the `--purge` of `destroy`).
    pub fn remove(&self, key: &str) -> std::io::Result<()> {
        match std::fs::remove_dir_all(self.dir(key)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn passwords_are_long_random_and_plain() {
        let a = new_password().unwrap();
        let b = new_password().unwrap();
        assert_eq!(a.len(), PASSWORD_LEN);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn credentials_are_made_once_and_kept_0600() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let c = store.credentials("shop-db", "db").unwrap();
        assert_eq!(c, store.credentials("shop-db", "db").unwrap());
        assert_eq!(c.user, USER);
        assert_eq!(c.database, "db_db");
        let path = layout::service_credentials(dir.path(), "shop-db");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(!format!("{c:?}").contains(&c.password));
        store.remove("shop-db").unwrap();
        assert_ne!(
            c.password,
            store.credentials("shop-db", "db").unwrap().password
        );
    }

    #[test]
    fn records_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        assert!(store.records().unwrap().is_empty());
        let r = ServiceRecord {
            plan: "shop".into(),
            id: "db".into(),
            name: "db".into(),
            kind: "postgresql".into(),
            host_port: 20001,
            url_parameter: None,
            apps: BTreeSet::from(["shop".to_string()]),
        };
        store.write_record(&r).unwrap();
        assert_eq!(store.records().unwrap(), vec![r.clone()]);
        assert_eq!(store.read_record("shop-db").unwrap(), Some(r));
    }
}
