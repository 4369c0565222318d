//! The bodies Heat accepts back: a software deployment's result (as heat-config-notify sends
//! it, trimmed under Heat's size limit) and a wait condition signal (only Heat's keys).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

/// heat-config-notify keeps the serialized body at or under this many bytes (Heat refuses
/// bodies over 1 MiB).
pub const MAX_SIGNAL_BYTES: usize = 950_000;

/// A deployment's result: `deploy_stdout`, `deploy_stderr`, `deploy_status_code` and one key per
/// declared output. stdout and stderr are trimmed from the left (the end of a log is what
/// explains a failure) until the JSON fits in `MAX_SIGNAL_BYTES`.
pub fn deployment_body(
    stdout: &str,
    stderr: &str,
    status_code: i64,
    outputs: &BTreeMap<String, Value>,
) -> String {
    let mut out = stdout.to_string();
    let mut err = stderr.to_string();
    loop {
        let body = render(&out, &err, status_code, outputs);
        if body.len() <= MAX_SIGNAL_BYTES || (out.is_empty() && err.is_empty()) {
            return body;
        }
        // Cut each value in proportion to its share of the body, like heat-config-notify,
        // always by at least one character so the loop ends.
        let excess = body.len() - MAX_SIGNAL_BYTES;
        let total = body.len();
        for s in [&mut out, &mut err] {
            if s.is_empty() {
                continue;
            }
            let cut = ((s.len() as f64 / total as f64) * excess as f64).ceil() as usize;
            let cut = cut.clamp(1, s.len());
            let mut at = cut;
            while !s.is_char_boundary(at) {
                at += 1;
            }
            s.drain(..at);
        }
    }
}

fn render(stdout: &str, stderr: &str, code: i64, outputs: &BTreeMap<String, Value>) -> String {
    let mut m = Map::new();
    for (k, v) in outputs {
        m.insert(k.clone(), v.clone());
    }
    m.insert("deploy_stdout".into(), Value::String(stdout.into()));
    m.insert("deploy_stderr".into(), Value::String(stderr.into()));
    m.insert("deploy_status_code".into(), Value::from(code));
    Value::Object(m).to_string()
}

/// `OS::Heat::WaitConditionHandle` / `SwiftSignalHandle` body. Heat allows exactly these keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaitSignal {
    pub status: WaitStatus,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    pub id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WaitStatus {
    Success,
    Failure,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_bodies_are_untouched_and_carry_outputs() {
        let outputs = BTreeMap::from([("result".to_string(), Value::from("ok"))]);
        let body: Value =
            serde_json::from_str(&deployment_body("out", "err", 0, &outputs)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"deploy_stdout": "out", "deploy_stderr": "err", "deploy_status_code": 0, "result": "ok"})
        );
    }

    #[test]
    fn big_logs_are_trimmed_from_the_left_under_the_limit() {
        let stdout = format!("{}THE-END", "x".repeat(2_000_000));
        let stderr = format!("{}LAST-ERR", "é\"".repeat(300_000));
        let body = deployment_body(&stdout, &stderr, 1, &BTreeMap::new());
        assert!(body.len() <= MAX_SIGNAL_BYTES, "{}", body.len());
        assert!(
            body.len() > MAX_SIGNAL_BYTES - 20_000,
            "trimmed far too much: {}",
            body.len()
        );
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(v["deploy_stdout"].as_str().unwrap().ends_with("THE-END"));
        assert!(v["deploy_stderr"].as_str().unwrap().ends_with("LAST-ERR"));
        assert_eq!(v["deploy_status_code"], 1);
    }

    #[test]
    fn huge_outputs_still_terminate() {
        let outputs =
            BTreeMap::from([("big".to_string(), Value::from("y".repeat(MAX_SIGNAL_BYTES)))]);
        let body = deployment_body("a", "b", 0, &outputs);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["deploy_stdout"], "");
    }

    #[test]
    fn wait_signal_has_only_heat_keys() {
        let s = WaitSignal {
            status: WaitStatus::Failure,
            reason: "app unhealthy".into(),
            data: None,
            id: "web".into(),
        };
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            serde_json::json!({"status": "FAILURE", "reason": "app unhealthy", "id": "web"})
        );
    }
}
