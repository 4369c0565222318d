//! Where the cloud is and who we are: OS_* environment variables or clouds.yaml with
//! OS_CLOUD (password and v3 application-credential auth). Pure: the caller passes the
//! environment and the clouds.yaml text.

use serde::Deserialize;
use std::collections::BTreeMap;

/// How to authenticate to Keystone v3.
#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    Password {
        username: String,
        password: String,
        user_domain: Domain,
        project_name: Option<String>,
        project_id: Option<String>,
        project_domain: Domain,
    },
    ApplicationCredential {
        id: Option<String>,
        name: Option<String>,
        username: Option<String>,
        user_domain: Domain,
        secret: String,
    },
}

/// A domain by id or by name (default: id `default`).
#[derive(Debug, Clone, PartialEq)]
pub enum Domain {
    Id(String),
    Name(String),
}

/// Everything needed to reach the image service.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudConfig {
    pub auth_url: String,
    pub auth: Auth,
    pub region: Option<String>,
    pub interface: String,
    /// `OS_IMAGE_ENDPOINT_OVERRIDE` / `image_endpoint_override`: Glance's URL instead of the
    /// catalog's.
    pub image_endpoint_override: Option<String>,
    /// Where the settings came from, for error messages.
    pub source: String,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("{source_}: {what} is not set")]
    Missing { source_: String, what: String },
    #[error("{path}: not valid clouds.yaml: {msg}")]
    Yaml { path: String, msg: String },
    #[error("OS_CLOUD={cloud}: no such cloud in {path}")]
    NoCloud { cloud: String, path: String },
    #[error("OS_CLOUD={0} but no clouds.yaml found (looked in OS_CLIENT_CONFIG_FILE, ./clouds.yaml, ~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml)")]
    NoCloudsYaml(String),
    #[error("{source_}: unsupported auth_type '{auth_type}' (supported: password, v3password, v3applicationcredential)")]
    AuthType { source_: String, auth_type: String },
}

#[derive(Deserialize)]
struct CloudsFile {
    #[serde(default)]
    clouds: BTreeMap<String, CloudEntry>,
}

#[derive(Deserialize, Default)]
struct CloudEntry {
    #[serde(default)]
    auth: BTreeMap<String, String>,
    auth_type: Option<String>,
    region_name: Option<String>,
    interface: Option<String>,
    image_endpoint_override: Option<String>,
}

fn domain(id: Option<&String>, name: Option<&String>) -> Domain {
    match (id, name) {
        (Some(i), _) => Domain::Id(i.clone()),
        (None, Some(n)) => Domain::Name(n.clone()),
        (None, None) => Domain::Id("default".into()),
    }
}

/// Build the config from flat keys (`auth_url`, `username`, ... as in clouds.yaml `auth:`).
fn from_keys(
    keys: &BTreeMap<String, String>,
    auth_type: Option<&str>,
    region: Option<String>,
    interface: Option<String>,
    source: &str,
) -> Result<CloudConfig, ConfigError> {
    let need = |k: &str, what: &str| {
        keys.get(k).cloned().ok_or(ConfigError::Missing {
            source_: source.into(),
            what: what.into(),
        })
    };
    let auth_url = need("auth_url", "auth_url (OS_AUTH_URL)")?;
    let auth_type = auth_type.unwrap_or(if keys.contains_key("application_credential_secret") {
        "v3applicationcredential"
    } else {
        "password"
    });
    let auth = match auth_type {
        "password" | "v3password" => {
            let project_name = keys.get("project_name").cloned();
            let project_id = keys.get("project_id").cloned();
            if project_name.is_none() && project_id.is_none() {
                return Err(ConfigError::Missing {
                    source_: source.into(),
                    what: "project_name or project_id (OS_PROJECT_NAME)".into(),
                });
            }
            Auth::Password {
                username: need("username", "username (OS_USERNAME)")?,
                password: need("password", "password (OS_PASSWORD)")?,
                user_domain: domain(keys.get("user_domain_id"), keys.get("user_domain_name")),
                project_name,
                project_id,
                project_domain: domain(
                    keys.get("project_domain_id"),
                    keys.get("project_domain_name"),
                ),
            }
        }
        "v3applicationcredential" => Auth::ApplicationCredential {
            id: keys.get("application_credential_id").cloned(),
            name: keys.get("application_credential_name").cloned(),
            username: keys.get("username").cloned(),
            user_domain: domain(keys.get("user_domain_id"), keys.get("user_domain_name")),
            secret: need(
                "application_credential_secret",
                "application_credential_secret (OS_APPLICATION_CREDENTIAL_SECRET)",
            )?,
        },
        other => {
            return Err(ConfigError::AuthType {
                source_: source.into(),
                auth_type: other.into(),
            })
        }
    };
    Ok(CloudConfig {
        auth_url: auth_url.trim_end_matches('/').to_string(),
        auth,
        region,
        interface: interface.unwrap_or_else(|| "public".into()),
        image_endpoint_override: None,
        source: source.into(),
    })
}

/// From OS_* variables (OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME, ...).
pub fn from_env(env: &BTreeMap<String, String>) -> Result<CloudConfig, ConfigError> {
    let mut keys = BTreeMap::new();
    for (k, v) in env {
        if let Some(rest) = k.strip_prefix("OS_") {
            if !v.is_empty() {
                keys.insert(rest.to_ascii_lowercase(), v.clone());
            }
        }
    }
    let auth_type = keys.get("auth_type").cloned();
    let mut c = from_keys(
        &keys,
        auth_type.as_deref(),
        keys.get("region_name").cloned(),
        keys.get("interface").cloned(),
        "environment",
    )?;
    c.image_endpoint_override = keys.get("image_endpoint_override").cloned();
    Ok(c)
}

/// From the cloud `cloud` of a clouds.yaml text read at `path`; OS_REGION_NAME and
/// OS_INTERFACE in `env` override the file.
pub fn from_clouds_yaml(
    text: &str,
    path: &str,
    cloud: &str,
    env: &BTreeMap<String, String>,
) -> Result<CloudConfig, ConfigError> {
    let budget = solum_limits::Budget::DEFAULT;
    let file: CloudsFile =
        solum_limits::yaml::from_str(text, &budget).map_err(|e| ConfigError::Yaml {
            path: path.into(),
            msg: e.to_string(),
        })?;
    let entry = file.clouds.get(cloud).ok_or(ConfigError::NoCloud {
        cloud: cloud.into(),
        path: path.into(),
    })?;
    let region = env
        .get("OS_REGION_NAME")
        .cloned()
        .or(entry.region_name.clone());
    let interface = env.get("OS_INTERFACE").cloned().or(entry.interface.clone());
    let mut c = from_keys(
        &entry.auth,
        entry.auth_type.as_deref(),
        region,
        interface,
        &format!("{path} (cloud {cloud})"),
    )?;
    c.image_endpoint_override = env
        .get("OS_IMAGE_ENDPOINT_OVERRIDE")
        .cloned()
        .or(entry.image_endpoint_override.clone());
    Ok(c)
}

/// clouds.yaml candidates in the order openstacksdk looks.
pub fn clouds_yaml_candidates(env: &BTreeMap<String, String>) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    if let Some(f) = env.get("OS_CLIENT_CONFIG_FILE") {
        v.push(f.into());
    }
    v.push("clouds.yaml".into());
    if let Some(h) = env.get("HOME") {
        v.push(std::path::Path::new(h).join(".config/openstack/clouds.yaml"));
    }
    v.push("/etc/openstack/clouds.yaml".into());
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn password_from_env() {
        let c = from_env(&env(&[
            ("OS_AUTH_URL", "http://k:5000/v3/"),
            ("OS_USERNAME", "u"),
            ("OS_PASSWORD", "p"),
            ("OS_PROJECT_NAME", "pr"),
            ("OS_USER_DOMAIN_NAME", "Default"),
            ("OS_REGION_NAME", "R1"),
        ]))
        .unwrap();
        assert_eq!(c.auth_url, "http://k:5000/v3");
        assert_eq!(c.region.as_deref(), Some("R1"));
        assert_eq!(c.interface, "public");
        match c.auth {
            Auth::Password {
                user_domain,
                project_domain,
                ..
            } => {
                assert_eq!(user_domain, Domain::Name("Default".into()));
                assert_eq!(project_domain, Domain::Id("default".into()));
            }
            a => panic!("{a:?}"),
        }
    }

    #[test]
    fn missing_password_is_named() {
        let e = from_env(&env(&[
            ("OS_AUTH_URL", "http://k/v3"),
            ("OS_USERNAME", "u"),
            ("OS_PROJECT_NAME", "p"),
        ]))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "environment: password (OS_PASSWORD) is not set"
        );
    }

    #[test]
    fn app_credential_from_clouds_yaml() {
        let y = "clouds:\n  c1:\n    auth_type: v3applicationcredential\n    auth:\n      auth_url: http://k/v3\n      application_credential_id: abc\n      application_credential_secret: s\n    region_name: R2\n    interface: internal\n";
        let c = from_clouds_yaml(y, "/x/clouds.yaml", "c1", &env(&[])).unwrap();
        assert_eq!(c.region.as_deref(), Some("R2"));
        assert_eq!(c.interface, "internal");
        assert!(
            matches!(c.auth, Auth::ApplicationCredential { ref id, .. } if id.as_deref() == Some("abc"))
        );
        let e = from_clouds_yaml(y, "/x/clouds.yaml", "nope", &env(&[])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "OS_CLOUD=nope: no such cloud in /x/clouds.yaml"
        );
        let e = from_clouds_yaml("clouds: [", "/x/c.yaml", "c1", &env(&[])).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("/x/c.yaml: not valid clouds.yaml"));
    }
}
