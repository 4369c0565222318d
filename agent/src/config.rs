//! The agent's configuration: a YAML file (`/etc/solum-agent/config.yaml` by default), every
//! key optional, overridden by command-line flags. Unknown keys are refused, so a typo never
//! silently falls back to a default.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::runtime::HealthConfig;

pub const DEFAULT_CONFIG_PATH: &str = "/etc/solum-agent/config.yaml";
pub const DEFAULT_STATE_DIR: &str = "/var/lib/solum-agent";
pub const DEFAULT_BUILDPACKS_DIR: &str = "/usr/share/solum-agent/buildpacks";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub state_dir: PathBuf,
    /// Address the public ports are bound on (default: all, as Solum's `-p 80:80`).
    pub bind_address: IpAddr,
    pub health: HealthConfig,
    /// Installed buildpacks, tried in name order for `language_pack: auto`.
    pub buildpacks_dir: Option<PathBuf>,
    pub stack: StackConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StackConfig {
    pub build_image: String,
    pub run_image: String,
    /// Debian release of the stack images.
    pub release: String,
    /// Debian mirror used by `stack build`.
    pub mirror: String,
}

impl Default for StackConfig {
    fn default() -> Self {
        StackConfig {
            build_image: "solum/stack-build:bookworm".into(),
            run_image: "solum/stack-run:bookworm".into(),
            release: "bookworm".into(),
            mirror: "http://deb.debian.org/debian".into(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
            bind_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            health: HealthConfig::default(),
            buildpacks_dir: None,
            stack: StackConfig::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
}

impl Config {
    /// Loads `path`; a missing file is fine only when `required` is false (the default path).
    pub fn load(path: &Path, required: bool) -> Result<Config, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                Ok(Config::default())
            }
            Err(source) => Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        serde_norway::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// The buildpacks directory: configured, else `SOLUM_BUILDPACKS_DIR`, else the installed
    /// one, else the `buildpacks/` of the source checkout this binary was built in.
    pub fn buildpacks_dir(&self) -> PathBuf {
        if let Some(dir) = &self.buildpacks_dir {
            return dir.clone();
        }
        if let Some(dir) = std::env::var_os("SOLUM_BUILDPACKS_DIR") {
            return PathBuf::from(dir);
        }
        let installed = PathBuf::from(DEFAULT_BUILDPACKS_DIR);
        if installed.is_dir() {
            return installed;
        }
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../buildpacks")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_defaults() {
        assert_eq!(
            Config::parse(Path::new("c.yaml"), "").unwrap(),
            Config::default()
        );
    }

    #[test]
    fn keys_override_defaults() {
        let c = Config::parse(
            Path::new("c.yaml"),
            "state_dir: /tmp/s\nbind_address: 127.0.0.1\nhealth:\n  start_timeout: 5\n",
        )
        .unwrap();
        assert_eq!(c.state_dir, PathBuf::from("/tmp/s"));
        assert_eq!(c.bind_address.to_string(), "127.0.0.1");
        assert_eq!(c.health.start_timeout.as_secs(), 5);
        assert_eq!(c.health.path, "/");
    }

    #[test]
    fn unknown_key_is_an_error_naming_file_and_line() {
        let err = Config::parse(Path::new("c.yaml"), "state_dir: /x\nbind_adress: 1.2.3.4\n")
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("c.yaml") && msg.contains("bind_adress") && msg.contains("line 2"),
            "{msg}"
        );
    }
}
