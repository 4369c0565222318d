//! What one poll of each remote transport costs the other side, counted by the fixture: a poll
//! that finds nothing new is one small request (a HEAD for a TempURL, one signed GET for cfn,
//! one GET with a kept Keystone token for heat), and the heat transport recovers by itself when
//! its token is refused or nears its expiry.

use std::time::Duration;

use serde_json::json;
use solum_agent::collect::cfn::CfnCollector;
use solum_agent::collect::heatapi::HeatCollector;
use solum_agent::collect::request::RequestCollector;
use solum_agent::collect::Poll;
use solum_agent::daemon::http_client;
use solum_agent::heat::document::{CfnSource, HeatSource, RequestSource};
use solum_agent::planfile::Secret;
use solum_tests::fixture::{Fixture, Request};

const METADATA: &str = "/heat/v1/proj/stacks/st/sid/resources/server/metadata";

fn heat_fixture(fx: &Fixture) -> HeatCollector {
    fx.with(|w| {
        w.users
            .insert("stack-user".into(), ("s3cret-pw".into(), "proj".into()));
        w.resource = "server".into();
        w.metadata = json!({"deployments": []});
    });
    HeatCollector::new(HeatSource {
        auth_url: fx.url("/v3"),
        user_id: "stack-user".into(),
        password: Secret("s3cret-pw".into()),
        project_id: "proj".into(),
        stack_id: "st/sid".into(),
        resource_name: "server".into(),
        region_name: Some("RegionOne".into()),
    })
}

/// (method, path, status) of every request so far, then forgets them.
fn taken(fx: &Fixture) -> Vec<(String, String, u16)> {
    fx.with(|w| {
        std::mem::take(&mut w.requests)
            .into_iter()
            .map(|r: Request| (r.method, r.path, r.status))
            .collect()
    })
}

fn req(method: &str, path: &str, status: u16) -> (String, String, u16) {
    (method.into(), path.into(), status)
}

#[tokio::test]
async fn heat_transport_keeps_its_token_and_polls_with_one_get() {
    let fx = Fixture::start();
    let mut c = heat_fixture(&fx);
    let client = http_client();
    for _ in 0..5 {
        assert_eq!(
            c.poll(&client).await.unwrap(),
            Poll::Document(json!({"deployments": []}))
        );
    }
    let mut want = vec![req("POST", "/v3/auth/tokens", 201)];
    want.extend(std::iter::repeat_n(req("GET", METADATA, 200), 5));
    assert_eq!(taken(&fx), want, "one token for five polls");

    // Revoked (Heat answers 401): one new token and the same poll succeeds.
    fx.with(|w| w.tokens.clear());
    assert!(matches!(c.poll(&client).await.unwrap(), Poll::Document(_)));
    assert_eq!(
        taken(&fx),
        vec![
            req("GET", METADATA, 401),
            req("POST", "/v3/auth/tokens", 201),
            req("GET", METADATA, 200)
        ]
    );

    // Heat down: the poll fails, the token is kept for the next one.
    fx.with(|w| w.resource = "elsewhere".into());
    assert!(c.poll(&client).await.is_err());
    fx.with(|w| w.resource = "server".into());
    assert!(c.poll(&client).await.is_ok());
    assert_eq!(
        taken(&fx),
        vec![req("GET", METADATA, 404), req("GET", METADATA, 200)]
    );
}

#[tokio::test]
async fn heat_transport_renews_a_short_lived_token_before_it_expires() {
    let fx = Fixture::start();
    let mut c = heat_fixture(&fx);
    // 2 s of life: kept for 1 s.
    fx.with(|w| w.token_lifetime = Some(2));
    let client = http_client();
    c.poll(&client).await.unwrap();
    c.poll(&client).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    c.poll(&client).await.unwrap();
    assert_eq!(
        taken(&fx),
        vec![
            req("POST", "/v3/auth/tokens", 201),
            req("GET", METADATA, 200),
            req("GET", METADATA, 200),
            req("POST", "/v3/auth/tokens", 201),
            req("GET", METADATA, 200)
        ]
    );
}

#[tokio::test]
async fn heat_transport_with_wrong_credentials_fails_clearly_every_poll() {
    let fx = Fixture::start();
    let mut c = heat_fixture(&fx);
    fx.with(|w| w.users.clear());
    let client = http_client();
    for _ in 0..2 {
        let e = c.poll(&client).await.unwrap_err().to_string();
        assert!(e.contains("credentials were refused (HTTP 401)"), "{e}");
        assert!(!e.contains("s3cret"), "no password in the error: {e}");
    }
    assert_eq!(
        taken(&fx),
        vec![
            req("POST", "/v3/auth/tokens", 401),
            req("POST", "/v3/auth/tokens", 401)
        ]
    );
}

#[tokio::test]
async fn request_transport_polls_with_one_head_while_nothing_changes() {
    let fx = Fixture::start();
    fx.with(|w| w.metadata = json!({"deployments": []}));
    let mut c = RequestCollector::new(RequestSource {
        metadata_url: Secret(fx.temp_url("metadata", "GET")),
    });
    let client = http_client();
    assert!(matches!(c.poll(&client).await.unwrap(), Poll::Document(_)));
    for _ in 0..3 {
        assert_eq!(c.poll(&client).await.unwrap(), Poll::Unchanged);
    }
    fx.with(|w| {
        w.metadata = json!({"deployments": [{"id": "1"}]});
        w.metadata_version += 1;
    });
    assert!(matches!(c.poll(&client).await.unwrap(), Poll::Document(_)));
    let methods: Vec<String> = taken(&fx).into_iter().map(|(m, _, _)| m).collect();
    assert_eq!(
        methods,
        ["HEAD", "GET", "HEAD", "HEAD", "HEAD", "HEAD", "GET"]
    );
}

#[tokio::test]
async fn cfn_transport_polls_with_one_signed_get() {
    let fx = Fixture::start();
    fx.with(|w| {
        w.cfn_access_key = "AK".into();
        w.cfn_secret_key = "SK".into();
        w.stack_name = "st".into();
        w.resource = "server".into();
        w.metadata = json!({"deployments": []});
    });
    let mut c = CfnCollector::new(CfnSource {
        metadata_url: fx.url("/v1/"),
        access_key_id: "AK".into(),
        secret_access_key: Secret("SK".into()),
        stack_name: "st".into(),
        path: "server.Metadata".into(),
    });
    let client = http_client();
    for _ in 0..3 {
        assert_eq!(
            c.poll(&client).await.unwrap(),
            Poll::Document(json!({"deployments": []}))
        );
    }
    assert_eq!(taken(&fx), vec![req("GET", "/v1/", 200); 3]);
}
