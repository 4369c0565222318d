//! `/etc/os-collect-config.conf`, os-collect-config's own configuration (oslo.config INI), the
//! way TripleO and heat-agents' `heat-config` element hand a deployed server its transport:
//! `[DEFAULT] collectors` (repeated lines or a comma list) and `polling_interval`, and the
//! `[cfn]`, `[heat]`, `[request]`, `[zaqar]` sections with the key names of Heat's
//! `os-collect-config` metadata block. Read into that block's JSON shape, so one parser
//! (`document::CollectConfig::parse`) judges both. Pure.

use serde_json::{Map, Value};

use super::document::TRANSPORTS;

pub const DEFAULT_PATH: &str = "/etc/os-collect-config.conf";

/// Files larger than this are refused.
pub const MAX_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfError {
    #[error("{file}: {size} bytes is over the {max} byte limit")]
    TooLarge {
        file: String,
        size: usize,
        max: usize,
    },
    #[error("{file}:{line}: {message}")]
    Syntax {
        file: String,
        line: usize,
        message: String,
    },
}

/// Keys of each transport section that go into the block (others, e.g. `ca_certificate` or
/// `timeout`, are os-collect-config's own and ignored).
fn keys(section: &str) -> &'static [&'static str] {
    match section {
        "cfn" => &[
            "metadata_url",
            "access_key_id",
            "secret_access_key",
            "stack_name",
            "path",
        ],
        "heat" => &[
            "auth_url",
            "user_id",
            "password",
            "project_id",
            "stack_id",
            "resource_name",
            "region_name",
        ],
        "request" => &["metadata_url"],
        "zaqar" => &[
            "auth_url",
            "user_id",
            "password",
            "project_id",
            "queue_id",
            "region_name",
        ],
        _ => &[],
    }
}

/// Parses the file's text into `{"collectors": [...], "polling_interval": n, "cfn": {...}, ...}`.
/// Empty values count as absent (os-collect-config treats them as not configured).
pub fn parse(file: &str, text: &str) -> Result<Value, ConfError> {
    if text.len() > MAX_BYTES {
        return Err(ConfError::TooLarge {
            file: file.into(),
            size: text.len(),
            max: MAX_BYTES,
        });
    }
    let mut out = Map::new();
    let mut collectors: Vec<Value> = Vec::new();
    let mut section = String::from("DEFAULT");
    let mut last_key: Option<(String, String)> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if line.starts_with([' ', '\t']) && last_key.is_some() {
            // oslo.config continuation line: appended to the previous value.
            if let Some((sec, key)) = &last_key {
                append(&mut out, sec, key, trimmed);
            }
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            let name = rest.strip_suffix(']').ok_or_else(|| ConfError::Syntax {
                file: file.into(),
                line: n + 1,
                message: "a section header must end with ]".into(),
            })?;
            section = name.trim().to_string();
            last_key = None;
            continue;
        }
        let (key, value) = trimmed
            .split_once(['=', ':'])
            .map(|(k, v)| (k.trim().replace('-', "_"), v.trim()))
            .ok_or_else(|| ConfError::Syntax {
                file: file.into(),
                line: n + 1,
                message: "expected key = value".into(),
            })?;
        last_key = None;
        match (section.as_str(), key.as_str()) {
            ("DEFAULT", "collectors") => collectors.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.into())),
            ),
            ("DEFAULT", "polling_interval") => {
                if let Ok(f) = value.parse::<f64>() {
                    if f.is_finite() && f >= 1.0 {
                        out.insert("polling_interval".into(), Value::from(f.round() as u64));
                    }
                }
            }
            (sec, k)
                if TRANSPORTS.contains(&sec) && keys(sec).contains(&k) && !value.is_empty() =>
            {
                let block = out
                    .entry(sec.to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(m) = block {
                    m.insert(k.into(), Value::String(value.into()));
                }
                last_key = Some((sec.to_string(), k.to_string()));
            }
            _ => {}
        }
    }
    if !collectors.is_empty() {
        out.insert("collectors".into(), Value::Array(collectors));
    }
    Ok(Value::Object(out))
}

fn append(out: &mut Map<String, Value>, section: &str, key: &str, more: &str) {
    if let Some(Value::String(s)) = out.get_mut(section).and_then(|b| b.get_mut(key)) {
        s.push('\n');
        s.push_str(more);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heat::document::CollectConfig;
    use serde_json::json;

    /// What heat-agents' os-apply-config template renders for a POLL_SERVER_HEAT server.
    const TRIPLEO: &str = "[DEFAULT]\ncommand = os-refresh-config\npolling_interval = 30\ncollectors = ec2\ncollectors = heat\ncollectors = local\n\n[heat]\nauth_url = http://192.0.2.1:5000/v3\nuser_id = 0c3b\npassword = pw\nproject_id = 9f1a\nstack_id = overcloud/1234\nresource_name = server\nregion_name = \n";

    #[test]
    fn tripleo_heat_transport() {
        let v = parse("occ.conf", TRIPLEO).unwrap();
        assert_eq!(
            v,
            json!({"polling_interval": 30, "collectors": ["ec2", "heat", "local"],
                   "heat": {"auth_url": "http://192.0.2.1:5000/v3", "user_id": "0c3b", "password": "pw",
                            "project_id": "9f1a", "stack_id": "overcloud/1234", "resource_name": "server"}})
        );
        let c = CollectConfig::parse(&v);
        assert_eq!(c.heat.unwrap().stack_id, "overcloud/1234");
        assert!(c.ignored.is_empty());
    }

    #[test]
    fn comma_lists_comments_and_unknown_keys() {
        let v = parse(
            "occ.conf",
            "# comment\n; another\n[DEFAULT]\ncollectors = cfn,local\ncachedir = /x\n[cfn]\nmetadata_url = http://h:8000/v1/\naccess_key_id = AK\nsecret_access_key = SK\nstack_name = st\npath = server.Metadata\nca_certificate = /etc/ca\n[ec2]\ntimeout = 5\n",
        )
        .unwrap();
        assert_eq!(v["collectors"], json!(["cfn", "local"]));
        assert_eq!(v["cfn"]["access_key_id"], "AK");
        assert!(v["cfn"].get("ca_certificate").is_none());
        assert!(CollectConfig::parse(&v).cfn.is_some());
    }

    #[test]
    fn empty_values_leave_the_collector_off() {
        // os-apply-config renders a nulled block as empty values.
        let v = parse(
            "occ.conf",
            "[DEFAULT]\ncollectors = cfn\n[cfn]\nmetadata_url =\nstack_name = \npath = \n",
        )
        .unwrap();
        let c = CollectConfig::parse(&v);
        assert!(c.cfn.is_none());
        assert!(!c.has_transport());
    }

    #[test]
    fn bad_files_name_the_line() {
        let e = parse("occ.conf", "[DEFAULT]\ncollectors = cfn\n[heat\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "occ.conf:3: a section header must end with ]"
        );
        let e = parse("occ.conf", "just words\n").unwrap_err();
        assert!(e.to_string().contains("occ.conf:1"));
        let big = "#".repeat(MAX_BYTES + 1);
        assert!(matches!(
            parse("occ.conf", &big),
            Err(ConfError::TooLarge { .. })
        ));
    }
}
