//! Keystone v3: the token request body and the image endpoint from the catalog (pure), and
//! the one HTTP call that gets a token.

use super::config::{Auth, CloudConfig, Domain};
use super::UploadError;
use serde_json::{json, Value};

fn domain_json(d: &Domain) -> Value {
    match d {
        Domain::Id(i) => json!({"id": i}),
        Domain::Name(n) => json!({"name": n}),
    }
}

/// The body of `POST /v3/auth/tokens`.
pub fn token_body(auth: &Auth) -> Value {
    match auth {
        Auth::Password {
            username,
            password,
            user_domain,
            project_name,
            project_id,
            project_domain,
        } => {
            let project = match (project_id, project_name) {
                (Some(id), _) => json!({"id": id}),
                (None, name) => json!({"name": name, "domain": domain_json(project_domain)}),
            };
            json!({"auth": {
                "identity": {"methods": ["password"], "password": {"user": {
                    "name": username, "domain": domain_json(user_domain), "password": password}}},
                "scope": {"project": project}}})
        }
        Auth::ApplicationCredential {
            id,
            name,
            username,
            user_domain,
            secret,
        } => {
            let cred = match id {
                Some(id) => json!({"id": id, "secret": secret}),
                None => json!({"name": name, "secret": secret,
                    "user": {"name": username, "domain": domain_json(user_domain)}}),
            };
            json!({"auth": {"identity": {"methods": ["application_credential"],
                "application_credential": cred}}})
        }
    }
}

/// The URL of service `kind` at `interface` (and `region` if given) in a token's catalog.
pub fn pick_endpoint(
    token: &Value,
    kind: &str,
    interface: &str,
    region: Option<&str>,
) -> Option<String> {
    let catalog = token.get("token")?.get("catalog")?.as_array()?;
    catalog
        .iter()
        .filter(|s| s.get("type").and_then(Value::as_str) == Some(kind))
        .flat_map(|s| {
            s.get("endpoints")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .find(|e| {
            e.get("interface").and_then(Value::as_str) == Some(interface)
                && region.is_none_or(|r| {
                    e.get("region_id").and_then(Value::as_str) == Some(r)
                        || e.get("region").and_then(Value::as_str) == Some(r)
                })
        })
        .and_then(|e| e.get("url")?.as_str())
        .map(|u| u.trim_end_matches('/').to_string())
}

/// A token and the image service's URL.
pub struct Session {
    pub token: String,
    pub image_url: String,
}

fn who(auth: &Auth) -> String {
    match auth {
        Auth::Password { username, .. } => format!("user '{username}'"),
        Auth::ApplicationCredential { id, name, .. } => format!(
            "application credential '{}'",
            id.as_deref().or(name.as_deref()).unwrap_or("?")
        ),
    }
}

/// Get a token; find the image endpoint.
pub async fn authenticate(
    client: &reqwest::Client,
    cfg: &CloudConfig,
) -> Result<Session, UploadError> {
    let base = cfg.auth_url.trim_end_matches("/v3");
    let url = format!("{base}/v3/auth/tokens");
    let resp = client
        .post(&url)
        .json(&token_body(&cfg.auth))
        .send()
        .await
        .map_err(|e| UploadError::Unreachable {
            service: "Keystone",
            url: url.clone(),
            msg: super::glance::short(&e),
        })?;
    let status = resp.status();
    if status == reqwest::StatusCode::UNAUTHORIZED {
        return Err(UploadError::Auth(format!(
            "Keystone at {} refused the credentials of {} from {} (401)",
            cfg.auth_url,
            who(&cfg.auth),
            cfg.source
        )));
    }
    if !status.is_success() {
        return Err(UploadError::Http {
            what: format!("POST {url}"),
            status: status.as_u16(),
            body: super::glance::body_excerpt(resp).await,
        });
    }
    let token = resp
        .headers()
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| UploadError::Protocol(format!("{url}: no X-Subject-Token header")))?;
    let body = super::glance::read_json(resp, &format!("POST {url}")).await?;
    let image_url = cfg
        .image_endpoint_override
        .clone()
        .or_else(|| pick_endpoint(&body, "image", &cfg.interface, cfg.region.as_deref()))
        .ok_or_else(|| {
            UploadError::Protocol(format!(
                "the catalog of {} has no image endpoint with interface {}{}",
                cfg.auth_url,
                cfg.interface,
                cfg.region
                    .as_deref()
                    .map(|r| format!(" in region {r}"))
                    .unwrap_or_default()
            ))
        })?;
    Ok(Session { token, image_url })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_body() {
        let b = token_body(&Auth::Password {
            username: "u".into(),
            password: "p".into(),
            user_domain: Domain::Id("default".into()),
            project_name: Some("pr".into()),
            project_id: None,
            project_domain: Domain::Name("Default".into()),
        });
        assert_eq!(
            b["auth"]["identity"]["password"]["user"]["domain"]["id"],
            "default"
        );
        assert_eq!(b["auth"]["scope"]["project"]["domain"]["name"], "Default");
        assert_eq!(b["auth"]["scope"]["project"]["name"], "pr");
    }

    #[test]
    fn app_cred_body_has_no_scope() {
        let b = token_body(&Auth::ApplicationCredential {
            id: Some("i".into()),
            name: None,
            username: None,
            user_domain: Domain::Id("default".into()),
            secret: "s".into(),
        });
        assert_eq!(
            b["auth"]["identity"]["methods"][0],
            "application_credential"
        );
        assert!(b["auth"].get("scope").is_none());
    }

    #[test]
    fn endpoint_by_interface_and_region() {
        let t = json!({"token": {"catalog": [
            {"type": "identity", "endpoints": [{"interface": "public", "region_id": "R1", "url": "http://k"}]},
            {"type": "image", "endpoints": [
                {"interface": "internal", "region_id": "R1", "url": "http://gi/"},
                {"interface": "public", "region_id": "R1", "url": "http://g1/"},
                {"interface": "public", "region_id": "R2", "url": "http://g2"}]}]}});
        assert_eq!(
            pick_endpoint(&t, "image", "public", None).as_deref(),
            Some("http://g1")
        );
        assert_eq!(
            pick_endpoint(&t, "image", "public", Some("R2")).as_deref(),
            Some("http://g2")
        );
        assert_eq!(
            pick_endpoint(&t, "image", "internal", None).as_deref(),
            Some("http://gi")
        );
        assert_eq!(pick_endpoint(&t, "image", "admin", None), None);
    }
}
