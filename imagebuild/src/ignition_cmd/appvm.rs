//! The Ignition config of an app VM, as pure logic: the agent (embedded or fetched by URL with
//! its sha512), its unit and configuration, docker enabled, a user with SSH keys and an
//! optional Planfile handed to the agent as os-collect-config local data.

use solum_ignition::{Config, File, PasswdUser, Resource, Unit, Verification, Version, Warning};

/// Where the agent binary goes.
pub const AGENT_PATH: &str = "/usr/local/bin/solum-agent";
/// The agent's configuration file.
pub const AGENT_CONFIG_PATH: &str = "/etc/solum-agent/config.yaml";
/// os-collect-config's local-data directory, read by `solum-agent run`.
pub const LOCAL_DATA_DIR: &str = "/var/lib/os-collect-config/local-data";
/// The local-data document that carries the Planfile.
pub const PLANFILE_DOC: &str = "/var/lib/os-collect-config/local-data/50-solum-planfile.json";

/// Where the agent binary comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentSource {
    /// Embedded in the config (gzip `data:` URL when smaller).
    Embedded(Vec<u8>),
    /// Fetched by Ignition at first boot and checked against `sha512` (128 hex digits).
    Url { url: String, sha512: String },
    /// Already in the image (the `solum-agent` element): not written by Ignition. Useful when
    /// the config travels through qemu fw_cfg, which reads megabytes very slowly under TCG.
    Installed,
}

/// Everything an app VM's config is made of.
#[derive(Debug, Clone)]
pub struct AppVm {
    pub agent: AgentSource,
    pub unit: String,
    pub agent_config: String,
    pub user: String,
    pub ssh_keys: Vec<String>,
    /// The Planfile text (YAML), applied by the agent as a `group: solum` deployment.
    pub planfile: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AppVmError {
    #[error("--agent-sha512: expected 128 hex digits, found {0} characters")]
    BadSha512(usize),
    #[error("--agent-url: {0:?} is not an http(s) URL")]
    BadUrl(String),
    #[error("--ssh-key #{index}: {message}")]
    BadKey { index: usize, message: String },
    #[error("--user: {0:?} is not a usable user name")]
    BadUser(String),
    #[error("the generated config is not valid: {0}")]
    Invalid(String),
}

fn check_user(name: &str) -> Result<(), AppVmError> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name.chars().enumerate().all(|(i, c)| {
            c.is_ascii_lowercase() || c == '_' || (i > 0 && (c.is_ascii_digit() || c == '-'))
        });
    if ok {
        Ok(())
    } else {
        Err(AppVmError::BadUser(name.to_string()))
    }
}

/// One public key per line, `TYPE BASE64 [comment]`; private keys are refused.
pub fn check_key(index: usize, key: &str) -> Result<(), AppVmError> {
    let bad = |message: &str| AppVmError::BadKey {
        index,
        message: message.to_string(),
    };
    if key.contains("PRIVATE KEY") {
        return Err(bad("this is a private key; give the public one (.pub)"));
    }
    if key.contains('\n') {
        return Err(bad("one key per --ssh-key (found several lines)"));
    }
    let mut parts = key.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(kind), Some(_))
            if kind.starts_with("ssh-")
                || kind.starts_with("ecdsa-")
                || kind.starts_with("sk-") =>
        {
            Ok(())
        }
        _ => Err(bad(
            "not an OpenSSH public key (expected e.g. \"ssh-ed25519 AAAA... comment\")",
        )),
    }
}

/// The local-data document: one `group: solum` deployment whose config is the Planfile.
pub fn planfile_document(planfile: &str) -> String {
    let doc = serde_json::json!({
        "deployments": [{
            "id": "solum-planfile",
            "name": "planfile",
            "group": "solum",
            "config": planfile,
        }]
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

fn agent_file(agent: &AgentSource) -> Result<Option<File>, AppVmError> {
    match agent {
        AgentSource::Installed => Ok(None),
        AgentSource::Embedded(bytes) => Ok(Some(File::from_bytes(AGENT_PATH, bytes, 0o755))),
        AgentSource::Url { url, sha512 } => {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(AppVmError::BadUrl(url.clone()));
            }
            if sha512.len() != 128 || !sha512.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(AppVmError::BadSha512(sha512.len()));
            }
            Ok(Some(File {
                path: AGENT_PATH.to_string(),
                mode: Some(0o755),
                overwrite: Some(true),
                contents: Resource {
                    source: Some(url.clone()),
                    verification: Verification {
                        hash: Some(format!("sha512-{}", sha512.to_ascii_lowercase())),
                    },
                    ..Default::default()
                },
                ..Default::default()
            }))
        }
    }
}

/// Builds and validates the app VM's config (spec 3.3.0, which Debian's Ignition 2.14 runs).
pub fn app_vm_config(vm: &AppVm) -> Result<(Config, Vec<Warning>), AppVmError> {
    check_user(&vm.user)?;
    for (i, k) in vm.ssh_keys.iter().enumerate() {
        check_key(i + 1, k)?;
    }
    let mut cfg = Config::new(Version::V3_3)
        .directory("/etc/solum-agent", 0o755)
        .file(AGENT_CONFIG_PATH, vm.agent_config.as_bytes(), 0o600)
        .unit(Unit::new("solum-agent.service", &vm.unit).enabled())
        .unit(Unit::dropins_only("docker.service").enabled());
    if let Some(f) = agent_file(&vm.agent)? {
        cfg.storage.files.push(f);
    }
    cfg.passwd
        .users
        .push(PasswdUser::with_keys(&vm.user, &vm.ssh_keys));
    if let Some(plan) = &vm.planfile {
        cfg = cfg
            .directory("/var/lib/os-collect-config", 0o700)
            .directory(LOCAL_DATA_DIR, 0o700)
            .file(PLANFILE_DOC, planfile_document(plan).as_bytes(), 0o600);
    }
    cfg.validated()
        .map_err(|e| AppVmError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl op@x";

    fn vm() -> AppVm {
        AppVm {
            agent: AgentSource::Embedded(b"\x7fELF fake agent".to_vec()),
            unit: "[Service]\nExecStart=/usr/local/bin/solum-agent run\n[Install]\nWantedBy=multi-user.target\n".into(),
            agent_config: "bind_address: 0.0.0.0\n".into(),
            user: "solum".into(),
            ssh_keys: vec![KEY.into()],
            planfile: Some("version: 1\nname: x\n".into()),
        }
    }

    #[test]
    fn has_agent_unit_docker_user_and_planfile() {
        let (cfg, _) = app_vm_config(&vm()).expect("valid");
        let paths: Vec<&str> = cfg.storage.files.iter().map(|f| f.path.as_str()).collect();
        assert!(paths.contains(&AGENT_PATH));
        assert!(paths.contains(&AGENT_CONFIG_PATH));
        assert!(paths.contains(&PLANFILE_DOC));
        let units: Vec<(&str, Option<bool>)> = cfg
            .systemd
            .units
            .iter()
            .map(|u| (u.name.as_str(), u.enabled))
            .collect();
        assert_eq!(
            units,
            vec![
                ("solum-agent.service", Some(true)),
                ("docker.service", Some(true))
            ]
        );
        assert_eq!(cfg.passwd.users[0].name, "solum");
        assert_eq!(
            cfg.passwd.users[0].ssh_authorized_keys,
            vec![KEY.to_string()]
        );
    }

    #[test]
    fn installed_agent_gets_unit_but_no_file() {
        let mut v = vm();
        v.agent = AgentSource::Installed;
        let (cfg, _) = app_vm_config(&v).expect("valid");
        assert!(cfg.storage.files.iter().all(|f| f.path != AGENT_PATH));
        assert!(cfg
            .systemd
            .units
            .iter()
            .any(|u| u.name == "solum-agent.service"));
    }

    #[test]
    fn planfile_becomes_a_solum_deployment() {
        let doc: serde_json::Value =
            serde_json::from_str(&planfile_document("name: a\n")).expect("json");
        assert_eq!(doc["deployments"][0]["group"], "solum");
        assert_eq!(doc["deployments"][0]["config"], "name: a\n");
    }

    #[test]
    fn url_agent_is_verified_by_sha512() {
        let mut v = vm();
        v.agent = AgentSource::Url {
            url: "https://example.org/solum-agent".into(),
            sha512: "AB".repeat(64),
        };
        let (cfg, _) = app_vm_config(&v).expect("valid");
        let f = cfg
            .storage
            .files
            .iter()
            .find(|f| f.path == AGENT_PATH)
            .expect("agent");
        assert_eq!(
            f.contents.verification.hash.as_deref(),
            Some(format!("sha512-{}", "ab".repeat(64)).as_str())
        );
        v.agent = AgentSource::Url {
            url: "https://example.org/a".into(),
            sha512: "abc".into(),
        };
        assert_eq!(app_vm_config(&v).unwrap_err(), AppVmError::BadSha512(3));
        v.agent = AgentSource::Url {
            url: "file:///etc/passwd".into(),
            sha512: "ab".repeat(64),
        };
        assert!(matches!(app_vm_config(&v), Err(AppVmError::BadUrl(_))));
    }

    #[test]
    fn bad_keys_and_users_are_refused() {
        let mut v = vm();
        v.ssh_keys = vec![KEY.into(), "-----BEGIN OPENSSH PRIVATE KEY-----".into()];
        assert!(matches!(
            app_vm_config(&v),
            Err(AppVmError::BadKey { index: 2, .. })
        ));
        v.ssh_keys = vec!["hello".into()];
        assert!(matches!(
            app_vm_config(&v),
            Err(AppVmError::BadKey { index: 1, .. })
        ));
        let mut v = vm();
        v.user = "Root;rm".into();
        assert!(matches!(app_vm_config(&v), Err(AppVmError::BadUser(_))));
    }
}
