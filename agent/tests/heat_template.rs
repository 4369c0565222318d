//! The shipped Heat template (heat/app-vm.yaml) has the structure an app VM needs, and the
//! metadata Heat would derive from it is what the agent consumes: a deployment of group
//! `solum` whose config is a Planfile the agent accepts, with the outputs the agent produces.

use std::path::Path;

use serde_json::{json, Value};
use solum_agent::heat::deployment::{Action, SignalTarget};
use solum_agent::heat::document::Document;
use solum_agent::planfile;

fn template() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../heat/app-vm.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_template_has_the_app_vm_structure() {
    let t = template();
    assert_eq!(t["heat_template_version"], "2018-08-31");
    let r = &t["resources"];
    let server = &r["server"];
    assert_eq!(server["type"], "OS::Nova::Server");
    assert_eq!(server["properties"]["config_drive"], true);
    assert_eq!(server["properties"]["user_data_format"], "SOFTWARE_CONFIG");
    assert_eq!(
        server["properties"]["metadata"]["solum_wait_url"],
        json!({"get_attr": ["wait_handle", "endpoint"]})
    );
    assert_eq!(
        server["properties"]["metadata"]["solum_wait_token"],
        json!({"get_attr": ["wait_handle", "token"]})
    );
    assert_eq!(r["wait_handle"]["type"], "OS::Heat::WaitConditionHandle");
    assert_eq!(
        r["wait_condition"]["properties"]["handle"],
        json!({"get_resource": "wait_handle"})
    );
    assert_eq!(r["app_config"]["type"], "OS::Heat::SoftwareConfig");
    assert_eq!(r["app_config"]["properties"]["group"], "solum");
    assert_eq!(r["app_deployment"]["type"], "OS::Heat::SoftwareDeployment");
    assert_eq!(
        r["app_deployment"]["properties"]["config"],
        json!({"get_resource": "app_config"})
    );
    assert_eq!(
        r["app_deployment"]["properties"]["server"],
        json!({"get_resource": "server"})
    );
    assert_eq!(
        t["outputs"]["app_url"]["value"],
        json!({"get_attr": ["app_deployment", "url"]})
    );
}

/// What Heat does with `str_replace`.
fn str_replace(node: &Value, params: &[(&str, &str)]) -> String {
    let mut text = node["template"].as_str().unwrap().to_string();
    for (k, _) in node["params"].as_object().unwrap() {
        let v = params
            .iter()
            .find(|(p, _)| p == k)
            .unwrap_or_else(|| panic!("no value for {k}"))
            .1;
        text = text.replace(k.as_str(), v);
    }
    text
}

#[test]
fn the_metadata_heat_derives_is_what_the_agent_consumes() {
    let t = template();
    let cfg = &t["resources"]["app_config"]["properties"];
    let planfile_text = str_replace(
        &cfg["config"]["str_replace"],
        &[
            ("$GIT_URL", "https://git.example.org/app.git"),
            ("$GIT_REVISION", "v1.2"),
            ("$APP_PORT", "80"),
        ],
    );
    let plan = planfile::parse(Path::new("app_config"), &planfile_text)
        .unwrap_or_else(|e| panic!("{e}\n{planfile_text}"));
    assert_eq!(plan.artifacts[0].ports[0].number, 80);
    assert_eq!(
        plan.artifacts[0].source,
        planfile::SourceSpec::Git {
            url: "https://git.example.org/app.git".into(),
            revision: Some("v1.2".into())
        }
    );

    // The server's metadata document as Heat writes it for this deployment (heat-and-nova.md §3).
    let outputs: Vec<Value> = cfg["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| json!({"name": o["name"], "type": "String", "error_output": false}))
        .collect();
    let doc = json!({"deployments": [{
        "id": "5f1d", "name": "app_deployment", "group": cfg["group"], "creation_time": "2026-11-25T00:00:00Z",
        "config": planfile_text, "options": {}, "outputs": outputs,
        "inputs": [{"name": "GREETING", "type": "String", "value": "hello from Heat"},
            {"name": "deploy_server_id", "value": "uuid"}, {"name": "deploy_action", "value": "CREATE"},
            {"name": "deploy_stack_id", "value": "st/1"}, {"name": "deploy_resource_name", "value": "app_deployment"},
            {"name": "deploy_signal_transport", "value": t["resources"]["app_deployment"]["properties"]["signal_transport"]},
            {"name": "deploy_signal_id", "value": "http://heat-cfn:8000/v1/signal/x"}, {"name": "deploy_signal_verb", "value": "POST"}]}],
        "os-collect-config": {"collectors": ["ec2", "cfn", "local"], "cfn": {"metadata_url": "http://heat-cfn:8000/v1/",
            "access_key_id": "AK", "secret_access_key": "SK", "stack_name": "st", "path": "server.Metadata"}}});
    let doc = Document::from_value("heat", doc).unwrap();
    assert!(doc.rejected.is_empty());
    let d = &doc.deployments[0];
    assert_eq!(d.group, "solum");
    assert_eq!(d.action().unwrap(), Action::Create);
    assert!(matches!(
        d.signal_target().unwrap(),
        SignalTarget::Cfn { .. }
    ));
    assert_eq!(d.input("GREETING").as_deref(), Some("hello from Heat"));
    // The agent's solum handler fills exactly these outputs (deployments::solum).
    let declared: Vec<&str> = d.outputs.iter().map(|o| o.name.as_str()).collect();
    for name in &declared {
        assert!(
            ["url", "urls", "release", "apps"].contains(name),
            "the agent does not produce output {name}"
        );
    }
    assert!(doc.collect.cfn.is_some());
}

/// The shipped systemd unit passes `systemd-analyze verify` (with ExecStart pointed at the
/// binary under test) and keeps the properties the agent relies on.
#[test]
fn the_systemd_unit_verifies() {
    solum_tests::require_program("systemd-analyze");
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/solum-agent.service"),
    )
    .unwrap();
    for needed in [
        "Type=notify",
        "Restart=on-failure",
        "ExecStart=/usr/local/bin/solum-agent run",
        "ProtectSystem=strict",
    ] {
        assert!(unit.lines().any(|l| l == needed), "the unit lacks {needed}");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("solum-agent.service");
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
