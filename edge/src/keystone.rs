//! Keystone v3: the token request for password, application-credential and token auth
//! (pure), the one call that gets a token, the service catalog's endpoints (pure), and how
//! long a token may be reused (`reuse_for`, from Keystone's own `issued_at` and `expires_at`,
//! so the local clock does not matter). Used by the agent's Heat transports and signals and by
//! `solum-image upload`.

use std::time::Duration;

use serde_json::{json, Value};

use crate::http::{excerpt, read_limited, without_url};
use crate::redact;

/// A domain by id or by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Domain {
    Id(String),
    Name(String),
}

impl Domain {
    fn to_json(&self) -> Value {
        match self {
            Domain::Id(i) => json!({"id": i}),
            Domain::Name(n) => json!({"name": n}),
        }
    }
}

/// A user by id (Heat's stack domain users) or by name in a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum User {
    Id(String),
    Name { name: String, domain: Domain },
}

/// The project a token is scoped to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Project {
    Id(String),
    Name { name: String, domain: Domain },
}

/// How to authenticate. Secrets are plain strings here: never put an `Auth` in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    Password {
        user: User,
        password: String,
        project: Option<Project>,
    },
    /// Scoped by the credential itself.
    ApplicationCredential {
        id: Option<String>,
        name: Option<String>,
        /// Needed with `name`.
        user: Option<User>,
        secret: String,
    },
    /// An existing token exchanged for one scoped to `project` (keystoneauth's `v3token`,
    /// `OS_AUTH_TYPE=token` with `OS_TOKEN`).
    Token {
        token: String,
        project: Option<Project>,
    },
}

impl Auth {
    /// Who authenticates, for messages (no secret).
    pub fn who(&self) -> String {
        let user = |u: &User| match u {
            User::Id(i) => format!("user id '{i}'"),
            User::Name { name, .. } => format!("user '{name}'"),
        };
        match self {
            Auth::Password { user: u, .. } => user(u),
            Auth::ApplicationCredential { id, name, .. } => format!(
                "application credential '{}'",
                id.as_deref().or(name.as_deref()).unwrap_or("?")
            ),
            Auth::Token { .. } => "the given token".into(),
        }
    }
}

fn user_json(u: &User) -> Value {
    match u {
        User::Id(id) => json!({"id": id}),
        User::Name { name, domain } => json!({"name": name, "domain": domain.to_json()}),
    }
}

fn scope_json(p: &Project) -> Value {
    match p {
        Project::Id(id) => json!({"project": {"id": id}}),
        Project::Name { name, domain } => {
            json!({"project": {"name": name, "domain": domain.to_json()}})
        }
    }
}

/// The body of `POST /v3/auth/tokens` (pure; Keystone's documented shape).
pub fn auth_body(auth: &Auth) -> Value {
    let (identity, project) = match auth {
        Auth::Password {
            user,
            password,
            project,
        } => {
            let mut u = user_json(user);
            u["password"] = json!(password);
            (
                json!({"methods": ["password"], "password": {"user": u}}),
                project.as_ref(),
            )
        }
        Auth::ApplicationCredential {
            id,
            name,
            user,
            secret,
        } => {
            let cred = match (id, user) {
                (Some(id), _) => json!({"id": id, "secret": secret}),
                (None, Some(u)) => json!({"name": name, "secret": secret, "user": user_json(u)}),
                (None, None) => json!({"name": name, "secret": secret}),
            };
            (
                json!({"methods": ["application_credential"], "application_credential": cred}),
                None,
            )
        }
        Auth::Token { token, project } => (
            json!({"methods": ["token"], "token": {"id": token}}),
            project.as_ref(),
        ),
    };
    let mut body = json!({"auth": {"identity": identity}});
    if let Some(p) = project {
        body["auth"]["scope"] = scope_json(p);
    }
    body
}

/// Why no token was had. URLs are redacted; no secret is ever part of one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeystoneError {
    #[error("cannot reach Keystone ({url}): {message}")]
    Unreachable { url: String, message: String },
    /// 401, or 404 for a token Keystone does not know (`Could not recognize Fernet token`).
    #[error("Keystone at {url} ({who}): the credentials were refused (HTTP {status})")]
    Refused {
        url: String,
        who: String,
        status: u16,
    },
    #[error("POST {url}: HTTP {status}: {body}")]
    Http {
        url: String,
        status: u16,
        body: String,
    },
    #[error("Keystone at {url}: {message}")]
    Protocol { url: String, message: String },
}

/// A token and Keystone's whole answer (its catalog).
#[derive(Debug, Clone)]
pub struct Token {
    pub token: String,
    /// `token.catalog` of the answer (`null` for an unscoped token).
    pub catalog: Value,
    /// `expires_at - issued_at`, when Keystone gave both.
    pub lifetime: Option<Duration>,
}

impl Token {
    /// The URL of the first endpoint of `service_type` at `interface` (and `region`).
    pub fn endpoint(
        &self,
        service_type: &str,
        interface: &str,
        region: Option<&str>,
    ) -> Option<String> {
        endpoint(&self.catalog, service_type, interface, region)
    }
}

/// The largest answer read (a large cloud's catalog is a few hundred KiB).
pub const MAX_ANSWER_BYTES: usize = 4 << 20;

/// `auth_url` (with or without a trailing `/v3`) to the token URL.
pub fn tokens_url(auth_url: &str) -> String {
    let base = auth_url.trim_end_matches('/');
    if base.ends_with("/v3") {
        format!("{base}/auth/tokens")
    } else {
        format!("{base}/v3/auth/tokens")
    }
}

/// Gets a token from the Keystone at `auth_url`.
pub async fn authenticate(
    client: &reqwest::Client,
    auth_url: &str,
    auth: &Auth,
) -> Result<Token, KeystoneError> {
    let url = tokens_url(auth_url);
    let shown = redact::url(&url);
    let resp = client
        .post(&url)
        .json(&auth_body(auth))
        .send()
        .await
        .map_err(|e| KeystoneError::Unreachable {
            url: shown.clone(),
            message: without_url(&e),
        })?;
    let status = resp.status();
    let unknown_token =
        status == reqwest::StatusCode::NOT_FOUND && matches!(auth, Auth::Token { .. });
    if status == reqwest::StatusCode::UNAUTHORIZED || unknown_token {
        return Err(KeystoneError::Refused {
            url: redact::url(auth_url),
            who: auth.who(),
            status: status.as_u16(),
        });
    }
    if !status.is_success() {
        let body = read_limited(resp, 64 << 10, &shown)
            .await
            .map(|b| excerpt(&String::from_utf8_lossy(&b)))
            .unwrap_or_default();
        return Err(KeystoneError::Http {
            url: shown,
            status: status.as_u16(),
            body,
        });
    }
    let protocol = |message: String| KeystoneError::Protocol {
        url: shown.clone(),
        message,
    };
    let token = resp
        .headers()
        .get("X-Subject-Token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| protocol("no X-Subject-Token in the answer".into()))?;
    let body = read_limited(resp, MAX_ANSWER_BYTES, &shown)
        .await
        .map_err(|e| protocol(e.message))?;
    let v: Value = solum_limits::json::from_slice(&body, &solum_limits::Budget::DEFAULT)
        .map_err(|e| protocol(format!("the answer is not usable JSON: {e}")))?;
    Ok(Token {
        token,
        catalog: v["token"]["catalog"].clone(),
        lifetime: lifetime(&v),
    })
}

/// Pure: the token's lifetime from the answer's `token.issued_at` and `token.expires_at`
/// (RFC 3339, as Keystone writes them: `2026-12-02T23:07:24.000000Z`).
pub fn lifetime(body: &Value) -> Option<Duration> {
    let at = |k: &str| humantime::parse_rfc3339_weak(body["token"][k].as_str()?).ok();
    at("expires_at")?.duration_since(at("issued_at")?).ok()
}

/// Pure: how long a token of `lifetime` is reused: until 5 minutes before it expires, or for
/// half its lifetime when that is under 10 minutes (a clock running fast on either side, a
/// slow answer, never make the caller present an expired token in the normal course).
pub fn reuse_for(lifetime: Duration) -> Duration {
    const MARGIN: Duration = Duration::from_secs(300);
    if lifetime >= 2 * MARGIN {
        lifetime - MARGIN
    } else {
        lifetime / 2
    }
}

/// Pure: the URL (without a trailing `/`) of the first endpoint of `service_type` with
/// `interface` (and `region`, by `region_id` or `region`, if given) in a catalog.
pub fn endpoint(
    catalog: &Value,
    service_type: &str,
    interface: &str,
    region: Option<&str>,
) -> Option<String> {
    catalog
        .as_array()?
        .iter()
        .filter(|s| s["type"] == service_type)
        .find_map(|s| {
            s["endpoints"].as_array()?.iter().find_map(|e| {
                let region_ok = region.is_none_or(|r| e["region_id"] == r || e["region"] == r);
                (e["interface"] == interface && region_ok).then(|| {
                    e["url"]
                        .as_str()
                        .map(|u| u.trim_end_matches('/').to_string())
                })?
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_by_user_id_has_keystones_shape() {
        let b = auth_body(&Auth::Password {
            user: User::Id("u1".into()),
            password: "pw".into(),
            project: Some(Project::Id("p1".into())),
        });
        assert_eq!(
            b,
            json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": "u1", "password": "pw"}}},
                            "scope": {"project": {"id": "p1"}}}})
        );
    }

    #[test]
    fn password_by_names() {
        let b = auth_body(&Auth::Password {
            user: User::Name {
                name: "u".into(),
                domain: Domain::Id("default".into()),
            },
            password: "p".into(),
            project: Some(Project::Name {
                name: "pr".into(),
                domain: Domain::Name("Default".into()),
            }),
        });
        assert_eq!(
            b["auth"]["identity"]["password"]["user"]["domain"]["id"],
            "default"
        );
        assert_eq!(b["auth"]["scope"]["project"]["domain"]["name"], "Default");
        assert_eq!(b["auth"]["scope"]["project"]["name"], "pr");
    }

    #[test]
    fn app_cred_has_no_scope_and_token_has_one() {
        let b = auth_body(&Auth::ApplicationCredential {
            id: Some("i".into()),
            name: None,
            user: None,
            secret: "s".into(),
        });
        assert_eq!(
            b["auth"]["identity"]["methods"][0],
            "application_credential"
        );
        assert!(b["auth"].get("scope").is_none());
        let b = auth_body(&Auth::Token {
            token: "gAAA".into(),
            project: Some(Project::Id("p".into())),
        });
        assert_eq!(
            b,
            json!({"auth": {"identity": {"methods": ["token"], "token": {"id": "gAAA"}},
                            "scope": {"project": {"id": "p"}}}})
        );
        assert_eq!(
            tokens_url("http://k:5000/v3/"),
            "http://k:5000/v3/auth/tokens"
        );
        assert_eq!(tokens_url("http://k:5000"), "http://k:5000/v3/auth/tokens");
    }

    #[test]
    fn lifetime_from_keystones_timestamps() {
        let body = |issued: &str, expires: &str| json!({"token": {"issued_at": issued, "expires_at": expires, "catalog": []}});
        assert_eq!(
            lifetime(&body(
                "2026-12-02T22:07:24.000000Z",
                "2026-12-02T23:07:24.000000Z"
            )),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            lifetime(&body("2026-12-02T23:59:30Z", "2026-12-03T00:00:30.500000Z")),
            Some(Duration::from_millis(60_500))
        );
        assert_eq!(
            lifetime(&body("2026-12-02T23:07:24Z", "2026-12-02T22:07:24Z")),
            None,
            "expiring before it was issued"
        );
        assert_eq!(lifetime(&body("yesterday", "2026-12-02T23:07:24Z")), None);
        assert_eq!(lifetime(&json!({"token": {}})), None);
        assert_eq!(lifetime(&json!([])), None);
    }

    #[test]
    fn tokens_are_reused_until_near_their_expiry() {
        assert_eq!(
            reuse_for(Duration::from_secs(3600)),
            Duration::from_secs(3300)
        );
        assert_eq!(
            reuse_for(Duration::from_secs(600)),
            Duration::from_secs(300)
        );
        assert_eq!(reuse_for(Duration::from_secs(120)), Duration::from_secs(60));
        assert_eq!(reuse_for(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn endpoint_by_type_interface_region() {
        let catalog = json!([
            {"type": "identity", "endpoints": [{"interface": "public", "region_id": "R1", "url": "http://ks/v3"}]},
            {"type": "orchestration", "endpoints": [
                {"interface": "internal", "region_id": "R1", "url": "http://heat-int/v1/p"},
                {"interface": "public", "region_id": "R2", "url": "http://heat-r2/v1/p/"},
                {"interface": "public", "region_id": "R1", "url": "http://heat/v1/p"}]},
            {"type": "image", "endpoints": [
                {"interface": "public", "region": "R3", "url": "http://g3/"}]}]);
        assert_eq!(
            endpoint(&catalog, "orchestration", "public", Some("R1")).as_deref(),
            Some("http://heat/v1/p")
        );
        assert_eq!(
            endpoint(&catalog, "orchestration", "public", None).as_deref(),
            Some("http://heat-r2/v1/p")
        );
        assert_eq!(
            endpoint(&catalog, "image", "public", Some("R3")).as_deref(),
            Some("http://g3")
        );
        assert_eq!(endpoint(&catalog, "image", "admin", None), None);
        assert_eq!(endpoint(&json!(null), "image", "public", None), None);
    }
}
