//! Delivering outbox messages: deployment signals on each of Heat's transports and
//! wait-condition signals. 10 tries per round with backoff on 5xx and connection errors (as
//! heat-config-notify); a message still undelivered stays in the outbox for the next round or
//! the next start. A 4xx is final: Heat will not accept that body, so it is set aside with the
//! reason instead of being retried forever.

use std::time::Duration;

use super::outbox::{Delivery, Message, Outbox};
use crate::heat::deployment::{Deployment, SignalTarget};
use crate::heat::signal::{WaitSignal, WaitStatus};
use crate::planfile::Secret;
use solum_edge::http::without_url;
use solum_edge::keystone::{self, Auth, Domain, Project, User};
use solum_edge::redact;

/// Tries per round and the pause schedule between them.
pub const TRIES: u32 = 10;

pub fn pause(n: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1 << n.min(4)))
}

#[derive(Debug, thiserror::Error)]
#[error("{what}: {message}")]
pub struct SendError {
    pub what: String,
    pub message: String,
    /// Worth trying again (5xx, connection errors), as opposed to a refusal.
    pub retryable: bool,
}

/// The outbox message for a deployment's result, or None for NO_SIGNAL.
pub fn deployment_message(d: &Deployment, target: &SignalTarget, body: String) -> Option<Message> {
    let what = format!("signal of deployment {} ({})", d.name, d.id);
    let delivery = match target {
        SignalTarget::NoSignal => return None,
        SignalTarget::Cfn { url } => http("POST", url, vec![]),
        SignalTarget::TempUrl { url } => http("PUT", url, vec![]),
        SignalTarget::Heat(a) | SignalTarget::Zaqar { auth: a, .. } => Delivery::HeatSignal {
            auth_url: a.auth_url.clone(),
            user_id: a.user_id.clone(),
            username: a.username.clone(),
            password: a.password.expose().to_string(),
            project_id: a.project_id.clone(),
            stack_id: a.stack_id.clone(),
            resource_name: a.resource_name.clone(),
            region_name: a.region_name.clone(),
        },
    };
    Some(Message {
        what,
        delivery,
        body,
        tries: 0,
    })
}

/// The agent's signal to the wait condition.
pub fn wait_signal(status: WaitStatus, reason: String) -> WaitSignal {
    WaitSignal {
        status,
        reason,
        data: None,
        id: "solum-agent".into(),
    }
}

/// The outbox message for a wait condition: a WaitConditionHandle (URL + token: POST with
/// X-Auth-Token) or a SwiftSignalHandle (TempURL alone: PUT).
pub fn wait_condition_message(url: &str, token: Option<&str>, signal: &WaitSignal) -> Message {
    let body = serde_json::to_string(signal).expect("a WaitSignal always serializes");
    let delivery = match token {
        Some(t) => http(
            "POST",
            &Secret(url.into()),
            vec![("X-Auth-Token".into(), t.into())],
        ),
        None => http("PUT", &Secret(url.into()), vec![]),
    };
    Message {
        what: "wait condition signal".into(),
        delivery,
        body,
        tries: 0,
    }
}

fn http(method: &str, url: &Secret, headers: Vec<(String, String)>) -> Delivery {
    Delivery::Http {
        method: method.into(),
        url: url.expose().to_string(),
        headers,
    }
}

/// One attempt.
pub async fn send(client: &reqwest::Client, msg: &Message) -> Result<(), SendError> {
    let err = |message: String, retryable: bool| SendError {
        what: msg.what.clone(),
        message,
        retryable,
    };
    let (method, url, headers) = match &msg.delivery {
        Delivery::Http {
            method,
            url,
            headers,
        } => (method.clone(), url.clone(), headers.clone()),
        Delivery::HeatSignal {
            auth_url,
            user_id,
            username,
            password,
            project_id,
            stack_id,
            resource_name,
            region_name,
        } => {
            let user = match (user_id, username) {
                (Some(id), _) => User::Id(id.clone()),
                (None, Some(name)) => User::Name {
                    name: name.clone(),
                    domain: Domain::Id("default".into()),
                },
                (None, None) => {
                    return Err(err("no user id or name to authenticate with".into(), false))
                }
            };
            let auth = Auth::Password {
                user,
                password: password.clone(),
                project: Some(Project::Id(project_id.clone())),
            };
            let token = keystone::authenticate(client, auth_url, &auth)
                .await
                .map_err(|e| {
                    let retry = matches!(
                        e,
                        keystone::KeystoneError::Unreachable { .. }
                            | keystone::KeystoneError::Http { .. }
                    );
                    err(e.to_string(), retry)
                })?;
            let heat = token
                .endpoint("orchestration", "public", region_name.as_deref())
                .ok_or_else(|| {
                    err(
                        "no public orchestration endpoint in the Keystone catalog".into(),
                        false,
                    )
                })?;
            let url = format!("{heat}/stacks/{stack_id}/resources/{resource_name}/signal");
            (
                "POST".to_string(),
                url,
                vec![("X-Auth-Token".to_string(), token.token.clone())],
            )
        }
    };
    let method = reqwest::Method::from_bytes(method.as_bytes())
        .map_err(|_| err(format!("bad method {method}"), false))?;
    let mut req = client
        .request(method.clone(), &url)
        .header("Content-Type", "application/json")
        .body(msg.body.clone());
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let resp = req.send().await.map_err(|e| {
        err(
            format!("{method} {}: {}", redact::url(&url), without_url(&e)),
            true,
        )
    })?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    Err(err(
        format!("{method} {}: HTTP {status}", redact::url(&url)),
        status.is_server_error(),
    ))
}

/// One round over the outbox: every message gets up to `TRIES` tries. Returns how many are
/// still pending afterwards.
pub async fn flush(client: &reqwest::Client, outbox: &Outbox) -> std::io::Result<usize> {
    let mut left = 0;
    for (name, mut msg) in outbox.pending()? {
        let mut delivered = false;
        for n in 0..TRIES {
            match send(client, &msg).await {
                Ok(()) => {
                    delivered = true;
                    break;
                }
                Err(e) if e.retryable => {
                    msg.tries += 1;
                    tracing::warn!("{e} (try {})", msg.tries);
                    if n + 1 < TRIES {
                        tokio::time::sleep(pause(n)).await;
                    }
                }
                Err(e) => {
                    tracing::error!("{e}; not retrying, set aside as outbox/{name}.refused");
                    outbox.set_aside(&name, "refused")?;
                    delivered = true;
                    break;
                }
            }
        }
        if delivered {
            if outbox.exists(&name) {
                outbox.remove(&name)?;
            }
            tracing::info!("{} delivered", msg.what);
        } else {
            outbox.update(&name, &msg)?;
            left += 1;
        }
    }
    Ok(left)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heat::signal::WaitStatus;

    #[test]
    fn wait_condition_flavours() {
        let s = WaitSignal {
            status: WaitStatus::Success,
            reason: "healthy".into(),
            data: None,
            id: "1".into(),
        };
        let m = wait_condition_message(
            "http://heat/v1/p/stacks/s/i/resources/h/signal",
            Some("tok"),
            &s,
        );
        assert_eq!(
            m.delivery,
            Delivery::Http {
                method: "POST".into(),
                url: "http://heat/v1/p/stacks/s/i/resources/h/signal".into(),
                headers: vec![("X-Auth-Token".into(), "tok".into())]
            }
        );
        let m = wait_condition_message("http://swift/v1/AUTH_x/c/o?temp_url_sig=s", None, &s);
        assert!(matches!(m.delivery, Delivery::Http { ref method, .. } if method == "PUT"));
        assert_eq!(
            m.body,
            r#"{"status":"SUCCESS","reason":"healthy","id":"1"}"#
        );
    }

    #[test]
    fn pauses_grow_and_cap() {
        assert_eq!(pause(0), Duration::from_millis(500));
        assert_eq!(pause(1), Duration::from_millis(1000));
        assert_eq!(pause(9), Duration::from_millis(8000));
    }
}
