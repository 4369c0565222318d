//! The agent's configuration: a YAML file (`/etc/solum-agent/config.yaml` by default), every
//! key optional, overridden by command-line flags. Unknown keys are refused, so a typo never
//! silently falls back to a default.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub const DEFAULT_CONFIG_PATH: &str = "/etc/solum-agent/config.yaml";
pub const DEFAULT_STATE_DIR: &str = "/var/lib/solum-agent";
/// The login user of Debian's cloud images.
pub const DEFAULT_LOGIN_USER: &str = "debian";
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
    /// `run`/`collect`: the config drive (device, image or directory); default: by label.
    pub config_drive: Option<PathBuf>,
    /// `run`/`collect`: the Nova metadata service.
    pub metadata_url: Option<String>,
    /// `run`: where Heat's cfn-init-data lives (heat-cfntools' path by default).
    pub cfn_init_path: Option<PathBuf>,
    /// `run`: os-collect-config's local-data directory.
    pub local_data_dir: Option<PathBuf>,
    /// `run`: an `os-collect-config` block (Heat's shape: `collectors`, `cfn`, `heat`,
    /// `request`) naming the transport of a server that has no Nova metadata.
    pub os_collect_config: Option<serde_json::Value>,
    /// `run`: os-collect-config's INI file (default `/etc/os-collect-config.conf`).
    pub os_collect_config_file: Option<PathBuf>,
    /// `run`: heat-config hooks, `<dir>/<group>` (default `/var/lib/heat-config/hooks`).
    pub hooks_dir: Option<PathBuf>,
    /// `run`: longest a hook may run, seconds (default 3600).
    pub hook_timeout: Option<u64>,
    /// `run`: os-refresh-config's phase directories (default `/usr/libexec/os-refresh-config`).
    pub refresh_config_dir: Option<PathBuf>,
    /// `run`: the heat-config file hooks read (default `/var/run/heat-config/heat-config`).
    pub heat_config_file: Option<PathBuf>,
    /// `run`: the local status API socket; `""` turns it off.
    pub status_socket: Option<PathBuf>,
    /// `run`: longest pause between polls of a metadata source, seconds (wins over Heat's
    /// `polling_interval`).
    pub poll_max_interval: Option<u64>,
    /// `run`: seconds between health beats to the registrar.
    pub beat_interval: Option<u64>,
    /// `run`: seconds the Docker engine may not answer at start before the wait condition
    /// gets FAILURE (default 120).
    pub docker_wait: Option<u64>,
    /// Longest the Procfile's `release` phase may run, seconds (default 3600, as Heroku).
    pub release_timeout: Option<u64>,
    /// Longest wait for a local service (database, queue) to answer, seconds (default 120).
    pub service_ready_timeout: Option<u64>,
    /// `init`: the user who gets the ssh keys of the metadata (`""`: nobody).
    pub login_user: String,
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
            config_drive: None,
            metadata_url: None,
            cfn_init_path: None,
            local_data_dir: None,
            os_collect_config: None,
            os_collect_config_file: None,
            hooks_dir: None,
            hook_timeout: None,
            release_timeout: None,
            service_ready_timeout: None,
            refresh_config_dir: None,
            heat_config_file: None,
            status_socket: None,
            poll_max_interval: None,
            beat_interval: None,
            docker_wait: None,
            login_user: DEFAULT_LOGIN_USER.into(),
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
        solum_limits::yaml::from_str(text, &solum_limits::Budget::DEFAULT).map_err(|e| {
            ConfigError::Parse {
                path: path.to_path_buf(),
                message: e.to_string(),
            }
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

/// Health policy (defaults as the issue states: 60 s to come up, 2xx-3xx, periodic checks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// How long a new web process has to answer HTTP on its port.
    #[serde(with = "secs")]
    pub start_timeout: Duration,
    /// Period of checks once up.
    #[serde(with = "secs")]
    pub interval: Duration,
    /// Per-request timeout.
    #[serde(with = "secs")]
    pub timeout: Duration,
    /// Consecutive failures that make a running process unhealthy (then restarted).
    pub failures: u32,
    /// HTTP path probed.
    pub path: String,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            start_timeout: Duration::from_secs(60),
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(2),
            failures: 3,
            path: "/".into(),
        }
    }
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        if !(0.0..=86400.0).contains(&v) {
            return Err(serde::de::Error::custom(
                "seconds must be between 0 and 86400",
            ));
        }
        Ok(Duration::from_secs_f64(v))
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
            "state_dir: /tmp/s\nbind_address: 127.0.0.1\nhealth:\n  start_timeout: 5\nrelease_timeout: 90\n",
        )
        .unwrap();
        assert_eq!(c.release_timeout, Some(90));
        assert_eq!(c.state_dir, PathBuf::from("/tmp/s"));
        assert_eq!(c.bind_address.to_string(), "127.0.0.1");
        assert_eq!(c.health.start_timeout.as_secs(), 5);
        assert_eq!(c.health.path, "/");
    }

    #[test]
    fn daemon_keys_reach_the_run_options() {
        let c = Config::parse(
            Path::new("c.yaml"),
            "os_collect_config:\n  collectors: [heat]\n  heat: {auth_url: http://k/v3}\nos_collect_config_file: /tmp/occ.conf\nhooks_dir: /tmp/hooks\nhook_timeout: 5\n",
        )
        .unwrap();
        let o = c.run_options();
        assert_eq!(o.collect.unwrap()["heat"]["auth_url"], "http://k/v3");
        assert_eq!(o.occ_conf_path, PathBuf::from("/tmp/occ.conf"));
        assert_eq!(o.hooks.dir, PathBuf::from("/tmp/hooks"));
        assert_eq!(o.hooks.timeout.as_secs(), 5);
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
