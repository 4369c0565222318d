//! Where the cloud is and who we are, as the OpenStack client reads it: `OS_*` environment
//! variables, or `OS_CLOUD` naming a cloud of `clouds.yaml` with `secure.yaml` (found in the
//! same places) merged over it as openstacksdk does. Password, v3 application-credential and
//! token auth; the TLS settings `OS_CACERT` / `cacert` and `OS_INSECURE` / `verify: false`.
//! The parsing is pure (the caller passes the environment and the texts); `load` reads the
//! files, each capped at [`MAX_FILE_BYTES`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::http::Tls;
use crate::keystone::{Auth, Domain, Project, User};

/// Everything needed to reach a cloud's services.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudConfig {
    pub auth_url: String,
    pub auth: Auth,
    pub region: Option<String>,
    pub interface: String,
    /// `OS_IMAGE_ENDPOINT_OVERRIDE` / `image_endpoint_override`: Glance's URL instead of the
    /// catalog's.
    pub image_endpoint_override: Option<String>,
    pub tls: Tls,
    /// Where the settings came from, for error messages.
    pub source: String,
}

/// The largest clouds.yaml or secure.yaml read.
pub const MAX_FILE_BYTES: usize = 1 << 20;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("{source_}: {what} is not set")]
    Missing { source_: String, what: String },
    #[error("{path}: not valid clouds.yaml: {msg}")]
    Yaml { path: String, msg: String },
    #[error("{0}")]
    Read(String),
    #[error("OS_CLOUD={cloud}: no such cloud in {path}")]
    NoCloud { cloud: String, path: String },
    #[error("OS_CLOUD={0} but no clouds.yaml found (looked in OS_CLIENT_CONFIG_FILE, ./clouds.yaml, ~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml)")]
    NoCloudsYaml(String),
    #[error("{source_}: unsupported auth_type '{auth_type}' (supported: password, v3password, v3applicationcredential, token, v3token)")]
    AuthType { source_: String, auth_type: String },
    #[error("{source_}: {what} is '{value}', not true or false")]
    NotBool {
        source_: String,
        what: String,
        value: String,
    },
}

#[derive(Deserialize, Default)]
struct CloudsFile {
    #[serde(default)]
    clouds: BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize, Default)]
struct CloudEntry {
    #[serde(default)]
    auth: BTreeMap<String, String>,
    auth_type: Option<String>,
    region_name: Option<String>,
    interface: Option<String>,
    image_endpoint_override: Option<String>,
    cacert: Option<String>,
    verify: Option<bool>,
    insecure: Option<bool>,
}

fn domain(id: Option<&String>, name: Option<&String>) -> Domain {
    match (id, name) {
        (Some(i), _) => Domain::Id(i.clone()),
        (None, Some(n)) => Domain::Name(n.clone()),
        (None, None) => Domain::Id("default".into()),
    }
}

fn project(keys: &BTreeMap<String, String>) -> Option<Project> {
    match (keys.get("project_id"), keys.get("project_name")) {
        (Some(id), _) => Some(Project::Id(id.clone())),
        (None, Some(name)) => Some(Project::Name {
            name: name.clone(),
            domain: domain(
                keys.get("project_domain_id"),
                keys.get("project_domain_name"),
            ),
        }),
        (None, None) => None,
    }
}

fn user(keys: &BTreeMap<String, String>) -> Option<User> {
    match (keys.get("user_id"), keys.get("username")) {
        (Some(id), _) => Some(User::Id(id.clone())),
        (None, Some(name)) => Some(User::Name {
            name: name.clone(),
            domain: domain(keys.get("user_domain_id"), keys.get("user_domain_name")),
        }),
        (None, None) => None,
    }
}

/// The auth from flat keys (`auth_url`, `username`, ... as in clouds.yaml `auth:`).
fn auth_from_keys(
    keys: &BTreeMap<String, String>,
    auth_type: Option<&str>,
    source: &str,
) -> Result<(String, Auth), ConfigError> {
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
            let project = project(keys).ok_or(ConfigError::Missing {
                source_: source.into(),
                what: "project_name or project_id (OS_PROJECT_NAME)".into(),
            })?;
            let user = user(keys).ok_or(ConfigError::Missing {
                source_: source.into(),
                what: "username (OS_USERNAME)".into(),
            })?;
            Auth::Password {
                user,
                password: need("password", "password (OS_PASSWORD)")?,
                project: Some(project),
            }
        }
        "v3applicationcredential" => Auth::ApplicationCredential {
            id: keys.get("application_credential_id").cloned(),
            name: keys.get("application_credential_name").cloned(),
            user: user(keys),
            secret: need(
                "application_credential_secret",
                "application_credential_secret (OS_APPLICATION_CREDENTIAL_SECRET)",
            )?,
        },
        "token" | "v3token" => Auth::Token {
            token: need("token", "token (OS_TOKEN)")?,
            project: project(keys),
        },
        other => {
            return Err(ConfigError::AuthType {
                source_: source.into(),
                auth_type: other.into(),
            })
        }
    };
    Ok((auth_url.trim_end_matches('/').to_string(), auth))
}

/// `true`/`false` as the OpenStack client takes them from the environment.
fn env_bool(v: &str, what: &str, source: &str) -> Result<bool, ConfigError> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::NotBool {
            source_: source.into(),
            what: what.into(),
            value: v.into(),
        }),
    }
}

/// `OS_CACERT` and `OS_INSECURE` over what a file said.
fn tls_with_env(
    mut tls: Tls,
    env: &BTreeMap<String, String>,
    source: &str,
) -> Result<Tls, ConfigError> {
    if let Some(c) = env.get("OS_CACERT").filter(|c| !c.is_empty()) {
        tls.ca_file = Some(PathBuf::from(c));
    }
    if let Some(v) = env.get("OS_INSECURE").filter(|v| !v.is_empty()) {
        tls.insecure = env_bool(v, "OS_INSECURE", source)?;
    }
    Ok(tls)
}

/// From OS_* variables (OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME, OS_TOKEN,
/// OS_CACERT, OS_INSECURE, ...).
pub fn from_env(env: &BTreeMap<String, String>) -> Result<CloudConfig, ConfigError> {
    let mut keys = BTreeMap::new();
    for (k, v) in env {
        if let Some(rest) = k.strip_prefix("OS_") {
            if !v.is_empty() {
                keys.insert(rest.to_ascii_lowercase(), v.clone());
            }
        }
    }
    let source = "environment";
    let (auth_url, auth) =
        auth_from_keys(&keys, keys.get("auth_type").map(String::as_str), source)?;
    Ok(CloudConfig {
        auth_url,
        auth,
        region: keys.get("region_name").cloned(),
        interface: keys
            .get("interface")
            .cloned()
            .unwrap_or_else(|| "public".into()),
        image_endpoint_override: keys.get("image_endpoint_override").cloned(),
        tls: tls_with_env(Tls::default(), env, source)?,
        source: source.into(),
    })
}

/// Merges `over` into `base` key by key, maps recursively (openstacksdk's `merge_clouds`).
fn merge(base: &mut serde_json::Value, over: &serde_json::Value) {
    match (base, over) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
        (b, o) => *b = o.clone(),
    }
}

fn parse_file(text: &str, path: &str) -> Result<CloudsFile, ConfigError> {
    let budget = solum_limits::Budget::DEFAULT.with_max_bytes(MAX_FILE_BYTES);
    solum_limits::yaml::from_str(text, &budget).map_err(|e| ConfigError::Yaml {
        path: path.into(),
        msg: e.to_string(),
    })
}

/// From the cloud `cloud` of a clouds.yaml text read at `path`; OS_REGION_NAME,
/// OS_INTERFACE, OS_IMAGE_ENDPOINT_OVERRIDE, OS_CACERT and OS_INSECURE in `env` override the
/// file.
pub fn from_clouds_yaml(
    text: &str,
    path: &str,
    cloud: &str,
    env: &BTreeMap<String, String>,
) -> Result<CloudConfig, ConfigError> {
    from_files(text, path, None, cloud, env)
}

/// `from_clouds_yaml` with a secure.yaml text (and its path) merged over the cloud's entry.
pub fn from_files(
    text: &str,
    path: &str,
    secure: Option<(&str, &str)>,
    cloud: &str,
    env: &BTreeMap<String, String>,
) -> Result<CloudConfig, ConfigError> {
    let file = parse_file(text, path)?;
    let mut entry = file
        .clouds
        .get(cloud)
        .cloned()
        .ok_or(ConfigError::NoCloud {
            cloud: cloud.into(),
            path: path.into(),
        })?;
    let mut source = format!("{path} (cloud {cloud})");
    if let Some((stext, spath)) = secure {
        if let Some(over) = parse_file(stext, spath)?.clouds.get(cloud) {
            merge(&mut entry, over);
            source = format!("{path} and {spath} (cloud {cloud})");
        }
    }
    let entry: CloudEntry = serde_json::from_value(entry).map_err(|e| ConfigError::Yaml {
        path: path.into(),
        msg: format!("cloud {cloud}: {e}"),
    })?;
    let (auth_url, auth) = auth_from_keys(&entry.auth, entry.auth_type.as_deref(), &source)?;
    let tls = Tls {
        ca_file: entry.cacert.map(PathBuf::from),
        insecure: entry.verify.map(|v| !v).or(entry.insecure).unwrap_or(false),
    };
    Ok(CloudConfig {
        auth_url,
        auth,
        region: env.get("OS_REGION_NAME").cloned().or(entry.region_name),
        interface: env
            .get("OS_INTERFACE")
            .cloned()
            .or(entry.interface)
            .unwrap_or_else(|| "public".into()),
        image_endpoint_override: env
            .get("OS_IMAGE_ENDPOINT_OVERRIDE")
            .cloned()
            .or(entry.image_endpoint_override),
        tls: tls_with_env(tls, env, &source)?,
        source,
    })
}

fn candidates(env: &BTreeMap<String, String>, var: &str, name: &str) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(f) = env.get(var).filter(|f| !f.is_empty()) {
        v.push(f.into());
    }
    v.push(name.into());
    if let Some(h) = env.get("HOME") {
        v.push(Path::new(h).join(".config/openstack").join(name));
    }
    v.push(Path::new("/etc/openstack").join(name));
    v
}

/// clouds.yaml candidates in the order openstacksdk looks.
pub fn clouds_yaml_candidates(env: &BTreeMap<String, String>) -> Vec<PathBuf> {
    candidates(env, "OS_CLIENT_CONFIG_FILE", "clouds.yaml")
}

/// secure.yaml candidates in the order openstacksdk looks.
pub fn secure_yaml_candidates(env: &BTreeMap<String, String>) -> Vec<PathBuf> {
    candidates(env, "OS_CLIENT_SECURE_FILE", "secure.yaml")
}

/// The first of `paths` that exists, read (at most `MAX_FILE_BYTES`).
fn first_file(paths: &[PathBuf]) -> Result<Option<(String, String)>, ConfigError> {
    for p in paths {
        match solum_limits::read_text(p, MAX_FILE_BYTES) {
            Ok(text) => return Ok(Some((text, p.display().to_string()))),
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(ConfigError::Read(e.to_string())),
        }
    }
    Ok(None)
}

/// The cloud configuration from OS_CLOUD + clouds.yaml (+ secure.yaml), or from OS_*
/// variables.
pub fn load(env: &BTreeMap<String, String>) -> Result<CloudConfig, ConfigError> {
    let Some(cloud) = env.get("OS_CLOUD").filter(|c| !c.is_empty()) else {
        return from_env(env);
    };
    let Some((text, path)) = first_file(&clouds_yaml_candidates(env))? else {
        return Err(ConfigError::NoCloudsYaml(cloud.clone()));
    };
    let secure = first_file(&secure_yaml_candidates(env))?;
    from_files(
        &text,
        &path,
        secure.as_ref().map(|(t, p)| (t.as_str(), p.as_str())),
        cloud,
        env,
    )
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
        assert_eq!(c.tls, Tls::default());
        assert_eq!(
            c.auth,
            Auth::Password {
                user: User::Name {
                    name: "u".into(),
                    domain: Domain::Name("Default".into())
                },
                password: "p".into(),
                project: Some(Project::Name {
                    name: "pr".into(),
                    domain: Domain::Id("default".into())
                }),
            }
        );
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
    fn token_and_tls_from_env() {
        let c = from_env(&env(&[
            ("OS_AUTH_URL", "https://k/v3"),
            ("OS_AUTH_TYPE", "token"),
            ("OS_TOKEN", "gAAAA"),
            ("OS_PROJECT_ID", "p1"),
            ("OS_CACERT", "/etc/ca.pem"),
        ]))
        .unwrap();
        assert_eq!(
            c.auth,
            Auth::Token {
                token: "gAAAA".into(),
                project: Some(Project::Id("p1".into()))
            }
        );
        assert_eq!(c.tls.ca_file.as_deref(), Some(Path::new("/etc/ca.pem")));
        assert!(!c.tls.insecure);
        let e = from_env(&env(&[
            ("OS_AUTH_URL", "https://k/v3"),
            ("OS_AUTH_TYPE", "token"),
        ]))
        .unwrap_err();
        assert_eq!(e.to_string(), "environment: token (OS_TOKEN) is not set");
        let e = from_env(&env(&[
            ("OS_AUTH_URL", "https://k/v3"),
            ("OS_AUTH_TYPE", "token"),
            ("OS_TOKEN", "t"),
            ("OS_INSECURE", "maybe"),
        ]))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "environment: OS_INSECURE is 'maybe', not true or false"
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

    #[test]
    fn secure_yaml_is_merged_over_clouds_yaml() {
        let y = "clouds:\n  c1:\n    auth:\n      auth_url: https://k/v3\n      username: u\n      project_name: p\n    cacert: /ca.pem\n  c2:\n    auth:\n      auth_url: https://k2\n";
        let s = "clouds:\n  c1:\n    auth:\n      password: hunter22\n    verify: false\n";
        let c = from_files(y, "/c.yaml", Some((s, "/s.yaml")), "c1", &env(&[])).unwrap();
        assert!(matches!(c.auth, Auth::Password { ref password, .. } if password == "hunter22"));
        assert_eq!(c.tls.ca_file.as_deref(), Some(Path::new("/ca.pem")));
        assert!(c.tls.insecure);
        assert_eq!(c.source, "/c.yaml and /s.yaml (cloud c1)");
        // Without secure.yaml the password is missing, and says where it was looked for.
        let e = from_files(y, "/c.yaml", None, "c1", &env(&[])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/c.yaml (cloud c1): password (OS_PASSWORD) is not set"
        );
        // The environment's TLS settings win over the files'.
        let c = from_files(
            y,
            "/c.yaml",
            Some((s, "/s.yaml")),
            "c1",
            &env(&[("OS_INSECURE", "false"), ("OS_CACERT", "/other.pem")]),
        )
        .unwrap();
        assert!(!c.tls.insecure);
        assert_eq!(c.tls.ca_file.as_deref(), Some(Path::new("/other.pem")));
        let t = "clouds:\n  t:\n    auth_type: token\n    auth:\n      auth_url: https://k/v3\n      token: gAAA\n      project_id: p\n";
        let c = from_files(t, "/c.yaml", None, "t", &env(&[])).unwrap();
        assert!(matches!(c.auth, Auth::Token { ref token, .. } if token == "gAAA"));
    }

    #[test]
    fn files_are_read_with_a_cap() {
        let d = tempfile::tempdir().unwrap();
        let big = d.path().join("clouds.yaml");
        std::fs::write(&big, vec![b'#'; MAX_FILE_BYTES + 1]).unwrap();
        let e = load(&env(&[
            ("OS_CLOUD", "c"),
            ("OS_CLIENT_CONFIG_FILE", &big.display().to_string()),
        ]))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{}: larger than the 1048576 byte limit", big.display())
        );
        let ok = d.path().join("ok.yaml");
        std::fs::write(&ok, "clouds:\n  c:\n    auth:\n      auth_url: http://k\n      username: u\n      project_id: p\n").unwrap();
        let e = load(&env(&[
            ("OS_CLOUD", "c"),
            ("OS_CLIENT_CONFIG_FILE", &ok.display().to_string()),
            ("OS_CLIENT_SECURE_FILE", "/dev/zero"),
        ]))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "/dev/zero: larger than the 1048576 byte limit"
        );
    }
}
