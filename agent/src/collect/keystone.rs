//! Keystone v3 password authentication: a project-scoped token (`X-Subject-Token`), the
//! service catalog to find Heat's (or Zaqar's) endpoint in, and how long the token may be
//! reused (`reuse_for`, from Keystone's own `issued_at` and `expires_at`, so the VM's clock
//! does not matter).

use std::time::Duration;

use serde_json::{json, Value};

use super::CollectError;
use crate::metadata::http::{read_limited, redact, without_url};
use crate::planfile::Secret;

/// Who is authenticating: Heat gives stack domain users by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum User {
    Id(String),
    /// A name in a domain (by id).
    Name {
        name: String,
        domain_id: String,
    },
}

#[derive(Debug, Clone)]
pub struct Token {
    pub token: Secret,
    pub catalog: Value,
    /// `expires_at - issued_at`, when Keystone gave both.
    pub lifetime: Option<Duration>,
}

/// Pure: the token's lifetime from the answer's `token.issued_at` and `token.expires_at`
/// (RFC 3339, as Keystone writes them: `2026-12-02T23:07:24.000000Z`).
pub fn lifetime(body: &Value) -> Option<Duration> {
    let at = |k: &str| humantime::parse_rfc3339_weak(body["token"][k].as_str()?).ok();
    at("expires_at")?.duration_since(at("issued_at")?).ok()
}

/// Pure: how long a token of `lifetime` is reused: until 5 minutes before it expires, or for
/// half its lifetime when that is under 10 minutes (a clock running fast on either side, a
/// slow answer, never make the agent present an expired token in the normal course).
pub fn reuse_for(lifetime: Duration) -> Duration {
    const MARGIN: Duration = Duration::from_secs(300);
    if lifetime >= 2 * MARGIN {
        lifetime - MARGIN
    } else {
        lifetime / 2
    }
}

/// The request body (pure; tested against Keystone's documented shape).
pub fn auth_body(user: &User, password: &Secret, project_id: &str) -> Value {
    let user = match user {
        User::Id(id) => json!({"id": id, "password": password.expose()}),
        User::Name { name, domain_id } => {
            json!({"name": name, "domain": {"id": domain_id}, "password": password.expose()})
        }
    };
    json!({"auth": {"identity": {"methods": ["password"], "password": {"user": user}},
                    "scope": {"project": {"id": project_id}}}})
}

/// Authenticates against `auth_url` (with or without a trailing `/v3`).
pub async fn password_token(
    client: &reqwest::Client,
    auth_url: &str,
    user: &User,
    password: &Secret,
    project_id: &str,
) -> Result<Token, CollectError> {
    let base = auth_url.trim_end_matches('/');
    let url = if base.ends_with("/v3") {
        format!("{base}/auth/tokens")
    } else {
        format!("{base}/v3/auth/tokens")
    };
    let name = format!("keystone {}", redact(&url));
    let resp = client
        .post(&url)
        .json(&auth_body(user, password, project_id))
        .send()
        .await
        .map_err(|e| CollectError::unavailable(&name, without_url(&e)))?;
    let status = resp.status();
    if status == reqwest::StatusCode::UNAUTHORIZED {
        return Err(CollectError::invalid(
            &name,
            "the credentials were refused (HTTP 401)",
        ));
    }
    if !status.is_success() {
        return Err(CollectError::unavailable(&name, format!("HTTP {status}")));
    }
    let token = resp
        .headers()
        .get("X-Subject-Token")
        .and_then(|v| v.to_str().ok())
        .map(|s| Secret(s.to_string()))
        .ok_or_else(|| CollectError::invalid(&name, "no X-Subject-Token in the answer"))?;
    let body = read_limited(resp, 4 << 20, &name)
        .await
        .map_err(|e| CollectError::unavailable(&name, e.to_string()))?;
    let v = super::parse_json(&name, "answer", &body)?;
    Ok(Token {
        token,
        catalog: v["token"]["catalog"].clone(),
        lifetime: lifetime(&v),
    })
}

/// The URL of the first endpoint of `service_type` with `interface` (and `region`, if given).
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
    fn body_has_keystones_shape() {
        let b = auth_body(&User::Id("u1".into()), &Secret("pw".into()), "p1");
        assert_eq!(
            b,
            json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": "u1", "password": "pw"}}},
                            "scope": {"project": {"id": "p1"}}}})
        );
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
                {"interface": "public", "region_id": "R1", "url": "http://heat/v1/p"}]}]);
        assert_eq!(
            endpoint(&catalog, "orchestration", "public", Some("R1")).as_deref(),
            Some("http://heat/v1/p")
        );
        assert_eq!(
            endpoint(&catalog, "orchestration", "public", None).as_deref(),
            Some("http://heat-r2/v1/p")
        );
        assert_eq!(endpoint(&catalog, "image", "public", None), None);
    }
}
