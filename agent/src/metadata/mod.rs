//! Nova's view of the instance: `meta_data.json`, `user_data`, vendor and network data, read
//! from the config drive first and the metadata service as the fallback (as Afterburn and
//! Ignition do). Each source is one module behind `NovaSource`; they only fetch and parse.

pub mod budget;
pub mod configdrive;
pub mod iso9660;
pub mod service;

use serde_json::{Map, Value};

/// What Nova tells an instance. `meta_data` is kept whole; accessors pick the keys we use.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NovaMetadata {
    /// Where it came from (`config drive /dev/sr0`, `metadata service http://...`).
    pub origin: String,
    pub meta_data: Map<String, Value>,
    pub user_data: Option<Vec<u8>>,
    pub vendor_data: Option<Value>,
    pub vendor_data2: Option<Value>,
    pub network_data: Option<Value>,
}

impl NovaMetadata {
    pub fn uuid(&self) -> Option<&str> {
        self.meta_data.get("uuid").and_then(Value::as_str)
    }

    pub fn name(&self) -> Option<&str> {
        self.meta_data
            .get("name")
            .or_else(|| self.meta_data.get("hostname"))
            .and_then(Value::as_str)
    }

    /// One key of the server metadata (`meta`: Heat's `OS::Nova::Server.metadata`).
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.meta_data
            .get("meta")
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
    }

    /// Public keys by name.
    pub fn public_keys(&self) -> Vec<(String, String)> {
        match self.meta_data.get("public_keys") {
            Some(Value::Object(m)) => m
                .iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Errors of the Nova sources.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("{origin}: {path}: {message}")]
    Invalid {
        origin: String,
        path: String,
        message: String,
    },
    #[error("{origin}: {message}")]
    Unavailable { origin: String, message: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

/// Files of the `openstack/latest` tree larger than this are refused (user_data is at most
/// 64 KiB in Nova; the others are small).
pub const MAX_FILE_BYTES: usize = 16 << 20;

/// What one JSON file of the metadata may cost before it is built.
const BUDGET: solum_limits::Budget = solum_limits::Budget::DEFAULT.with_max_bytes(MAX_FILE_BYTES);

/// Parses the files of an `openstack/latest` tree, however they were fetched. `get(name)`
/// returns `Ok(None)` for an absent file.
pub fn from_files(
    origin: &str,
    mut get: impl FnMut(&str) -> Result<Option<Vec<u8>>, MetadataError>,
) -> Result<NovaMetadata, MetadataError> {
    let invalid = |path: &str, message: String| MetadataError::Invalid {
        origin: origin.into(),
        path: path.into(),
        message,
    };
    let meta = get("meta_data.json")?
        .ok_or_else(|| invalid("openstack/latest/meta_data.json", "missing".into()))?;
    let meta_data = match solum_limits::json::from_slice::<Value>(&meta, &BUDGET) {
        Ok(Value::Object(m)) => m,
        Ok(_) => {
            return Err(invalid(
                "openstack/latest/meta_data.json",
                "not a JSON object".into(),
            ))
        }
        Err(e) => return Err(invalid("openstack/latest/meta_data.json", e.to_string())),
    };
    let mut json = |name: &str| -> Result<Option<Value>, MetadataError> {
        match get(name)? {
            None => Ok(None),
            Some(bytes) => solum_limits::json::from_slice(&bytes, &BUDGET)
                .map(Some)
                .map_err(|e| invalid(&format!("openstack/latest/{name}"), e.to_string())),
        }
    };
    let vendor_data = json("vendor_data.json")?;
    let vendor_data2 = json("vendor_data2.json")?;
    let network_data = json("network_data.json")?;
    Ok(NovaMetadata {
        origin: origin.into(),
        meta_data,
        user_data: get("user_data")?,
        vendor_data,
        vendor_data2,
        network_data,
    })
}

impl From<solum_edge::http::HttpError> for MetadataError {
    fn from(e: solum_edge::http::HttpError) -> Self {
        MetadataError::Unavailable {
            origin: e.origin,
            message: e.message,
        }
    }
}
