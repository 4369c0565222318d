//! Heat's formats as the agent reads them from metadata sources and user_data.

use std::path::Path;

use serde_json::Value;
use solum_agent::collect::{cfn::metadata_from_xml, parse_document};
use solum_agent::daemon::merge::merge;
use solum_agent::deployments::hook;
use solum_agent::heat::deployment::Deployment;
use solum_agent::heat::document::Document;
use solum_agent::heat::{cfninit, occ_conf, signal};
use solum_agent::planfile;

/// A metadata document as any transport delivers it; then merged with itself and an empty
/// document as the daemon merges its sources, and parsed again.
pub fn document(data: &[u8]) {
    let Ok(doc) = Document::parse("fuzz", data) else {
        let _ = parse_document("fuzz", data);
        return;
    };
    for d in &doc.deployments {
        use_deployment(d);
    }
    doc.collect.has_transport();
    let _ = format!("{:?}", doc.collect);
    if let Ok(v) = parse_document("fuzz", data) {
        let merged = merge(&[v.clone(), serde_json::json!({}), v]);
        let _ = Document::from_value("merged", merged);
    }
}

/// One item of `deployments` (a JSON value); what the daemon derives from it; the result of
/// a hook (the same bytes as its stdout) and the signal body made of that result.
pub fn deployment(data: &[u8]) {
    let out = hook::outcome(data, b"", 0);
    signal::deployment_body(&out.stdout, &out.stderr, out.status_code, &out.outputs);
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if let Ok(d) = Deployment::parse(0, &v) {
        use_deployment(&d);
    }
}

fn use_deployment(d: &Deployment) {
    let action = d.action();
    let _ = d.signal_target();
    // `input` is a linear lookup; the agent makes a fixed number of them per deployment.
    for i in d.inputs.iter().take(16) {
        d.input(&i.name);
    }
    let config = d.config_text();
    hook::stdin_document(&d.raw);
    for a in ["CREATE", "UPDATE", "DELETE", "SUSPEND", "RESUME"] {
        hook::component(d, &d.raw, a);
    }
    if d.group == "solum" && action.is_ok() {
        let _ = planfile::parse(
            Path::new("/var/lib/solum-agent/deployment/Planfile"),
            &config,
        );
    }
}

/// Nova user_data: MIME parts, the cfn-init-data part, and that part as a metadata document.
pub fn user_data(data: &[u8]) {
    let _ = cfninit::parse(data);
    if let Ok(Some(doc)) = cfninit::cfn_init_data(data) {
        let _ = Document::parse("cfn-init-data", &doc);
    }
}

/// `/etc/os-collect-config.conf`, read into the metadata block's shape and judged by it.
pub fn occ_conf(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(block) = occ_conf::parse("os-collect-config.conf", &text) {
        let doc = serde_json::json!({ "os-collect-config": block });
        let _ = Document::from_value("os-collect-config.conf", doc);
    }
}

/// The cfn transport's answer (XML) and the document inside it.
pub fn cfn_answer(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for field in ["Metadata", "Metadata.deep.path"] {
        if let Ok(json) = metadata_from_xml(text, field) {
            let _ = Document::parse("cfn", json.as_bytes());
        }
    }
}
