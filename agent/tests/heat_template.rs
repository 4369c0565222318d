//! The shipped Heat template (heat/app-vm.yaml) has the structure an app VM needs, and the
//! metadata Heat derives from it (`solum_tests::heat`, the same derivation the app-VM test feeds
//! the VM) is what the agent consumes: a `script` deployment and two `solum` deployments whose
//! configs are Planfiles the agent accepts (sources and buildpack pinned by sha256), signalled
//! over TempURLs, with outputs the agent produces.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};
use solum_agent::heat::deployment::{Action, SignalTarget};
use solum_agent::heat::document::Document;
use solum_agent::planfile;
use solum_tests::heat::{self, Stack};

const SUM: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn stack() -> Stack {
    let params: BTreeMap<String, Value> = [
        ("key_name", json!("k")),
        ("network", json!("private")),
        ("web_source_url", json!("https://files.example.org/web.tgz")),
        ("web_source_sha256", json!(SUM)),
        ("buildpack_url", json!("https://files.example.org/bp.tgz")),
        ("buildpack_sha256", json!(SUM)),
        ("api_source_url", json!("https://files.example.org/api.tgz")),
        ("api_source_sha256", json!(SUM)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Stack::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../heat/app-vm.yaml"),
        "st",
        params,
    )
}

fn attr(resource: &str, attribute: &str) -> Value {
    match (resource, attribute) {
        ("wait_handle", "endpoint") => {
            json!("http://heat:8004/v1/p/stacks/st/1/resources/wait_handle/signal")
        }
        ("wait_handle", "token") => json!("token"),
        other => panic!("unexpected get_attr {other:?}"),
    }
}

#[test]
fn the_template_has_the_app_vm_structure() {
    let s = stack();
    let t = &s.template;
    assert_eq!(t["heat_template_version"], "2018-08-31");
    assert_eq!(t["parameters"]["image"]["default"], "app-vm");
    let server = s.resource("server");
    assert_eq!(server["type"], "OS::Nova::Server");
    let p = &server["properties"];
    assert_eq!(p["config_drive"], true);
    assert_eq!(p["user_data_format"], "SOFTWARE_CONFIG");
    assert_eq!(p["software_config_transport"], "POLL_TEMP_URL");
    assert_eq!(p["key_name"], json!({"get_param": "key_name"}));
    let meta = s.resolve(&p["metadata"], &attr);
    assert_eq!(meta["solum_wait_token"], "token");
    assert!(meta["solum_wait_url"]
        .as_str()
        .unwrap()
        .ends_with("/wait_handle/signal"));
    assert_eq!(meta["solum_registrar_url"], "");
    assert_eq!(
        s.resource("wait_handle")["type"],
        "OS::Heat::WaitConditionHandle"
    );
    assert_eq!(
        s.resource("wait_condition")["properties"]["handle"],
        json!({"get_resource": "wait_handle"})
    );
}

#[test]
fn the_metadata_heat_derives_is_what_the_agent_consumes() {
    let s = stack();
    let deployments: Vec<Value> = ["setup_deployment", "web_deployment", "api_deployment"]
        .iter()
        .map(|r| {
            s.derived_config(
                r,
                "CREATE",
                &format!("https://swift/v1/AUTH_p/c/{r}?temp_url_sig=x&temp_url_expires=1"),
                "2026-12-01T00:00:00Z",
                &attr,
            )
        })
        .collect();
    let doc = heat::server_metadata(
        deployments,
        "https://swift/v1/AUTH_p/c/md?temp_url_sig=y&temp_url_expires=1",
    );
    let doc = Document::from_value("heat", doc).unwrap();
    assert!(doc.rejected.is_empty(), "{:?}", doc.rejected);
    assert!(doc.collect.request.is_some());
    assert_eq!(doc.deployments.len(), 3);
    // Sorted by config name, as Heat sorts them.
    let groups: Vec<&str> = doc.deployments.iter().map(|d| d.group.as_str()).collect();
    assert_eq!(groups, ["solum", "script", "solum"]);
    for d in &doc.deployments {
        assert_eq!(d.action().unwrap(), Action::Create);
        assert!(
            matches!(d.signal_target().unwrap(), SignalTarget::TempUrl { .. }),
            "{}: {:?}",
            d.name,
            d.signal_target()
        );
        if d.group != "solum" {
            assert!(d.config_text().starts_with("#!/bin/sh"));
            assert_eq!(d.input("greeting").as_deref(), Some("hello from Heat"));
            continue;
        }
        let plan = planfile::parse(Path::new(&d.name), &d.config_text())
            .unwrap_or_else(|e| panic!("{e}\n{}", d.config_text()));
        let a = &plan.artifacts[0];
        assert!(
            matches!(&a.source, planfile::SourceSpec::Tarball { sha256: Some(sum), .. } if sum == SUM),
            "{:?}",
            a.source
        );
        if plan.name == "web" {
            assert_eq!(a.ports[0].number, 80);
            assert_eq!(
                a.language_pack,
                planfile::LanguagePack::Named(format!(
                    "https://files.example.org/bp.tgz#sha256={SUM}"
                ))
            );
            assert_eq!(d.input("GREETING").as_deref(), Some("hello from Heat"));
        } else {
            assert_eq!(plan.name, "api");
            assert_eq!(a.ports[0].number, 8080);
        }
        // The agent's solum handler fills exactly these outputs (deployments::solum).
        for o in &d.outputs {
            assert!(
                ["url", "urls", "release", "apps"].contains(&o.name.as_str()),
                "the agent does not produce output {}",
                o.name
            );
        }
    }
}

/// The shipped systemd units pass `systemd-analyze verify` (with ExecStart pointed at the
/// binary under test) and keep the properties the agent relies on: every directory it writes
/// made by systemd, and no sandbox that Heat's scripts would inherit.
#[test]
fn the_systemd_units_verify() {
    solum_tests::require_program("systemd-analyze");
    verify_unit(
        "solum-agent.service",
        &[
            "Type=notify",
            "Restart=on-failure",
            "ExecStart=/usr/local/bin/solum-agent run",
            "StateDirectory=solum-agent heat-cfntools os-collect-config heat-config",
            "RuntimeDirectory=solum-agent",
        ],
    );
    verify_unit(
        "solum-agent-init.service",
        &[
            "Type=oneshot",
            "ExecStart=/usr/local/bin/solum-agent init",
            "Before=ssh.service solum-agent.service systemd-user-sessions.service multi-user.target shutdown.target",
        ],
    );
}

fn verify_unit(name: &str, needed: &[&str]) {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("systemd")
            .join(name),
    )
    .unwrap();
    for needed in needed {
        assert!(unit.lines().any(|l| l == *needed), "{name} lacks {needed}");
    }
    for sandbox in [
        "ProtectSystem=",
        "ReadWritePaths=",
        "ProtectHome=",
        "PrivateTmp=",
    ] {
        assert!(
            !unit.lines().any(|l| l.starts_with(sandbox)),
            "{name}: {sandbox} would confine the Heat scripts the agent runs"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(
        &path,
        unit.replace(
            "/usr/local/bin/solum-agent",
            env!("CARGO_BIN_EXE_solum-agent"),
        ),
    )
    .unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.trim().is_empty(),
        "systemd-analyze verify: {text}"
    );
}
