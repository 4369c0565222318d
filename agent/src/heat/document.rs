//! The server's metadata document as Heat writes it: `deployments` plus the
//! `os-collect-config` block naming the polling transport and its credentials. A transport
//! block that cannot be used (every value null, as Heat leaves the old transport's block after
//! a stack update switches `software_config_transport`; incomplete; of the wrong type; not
//! named in `collectors`) switches that collector off, as os-collect-config does, and is
//! listed in `CollectConfig::ignored`: it never refuses the document or the other collectors.
//! Unknown top-level keys are other tools' business.

use serde_json::{Map, Value};
use solum_limits::json::JsonError;

use super::deployment::{kind, Deployment, DeploymentError};
use crate::planfile::Secret;

/// Documents larger than this are refused before parsing.
pub const MAX_DOCUMENT_BYTES: usize = 16 << 20;

/// What one metadata document may cost (text, values, nesting) before it is built.
pub const BUDGET: solum_limits::Budget =
    solum_limits::Budget::DEFAULT.with_max_bytes(MAX_DOCUMENT_BYTES);

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Document {
    /// Valid deployments, sorted by name as heat-config runs them.
    pub deployments: Vec<Deployment>,
    /// Items that could not be parsed; each is reported, none stops the others.
    pub rejected: Vec<DeploymentError>,
    pub collect: CollectConfig,
    /// The whole document, for `collect` and for hooks that want it.
    pub raw: Map<String, Value>,
}

/// The longest `polling_interval` taken (a day, in seconds).
pub const MAX_POLLING_INTERVAL: u64 = 86_400;

/// The `os-collect-config` block.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CollectConfig {
    pub collectors: Vec<String>,
    pub request: Option<RequestSource>,
    pub cfn: Option<CfnSource>,
    pub heat: Option<HeatSource>,
    pub zaqar: Option<ZaqarSource>,
    /// `polling_interval` in seconds, if Heat set one.
    pub polling_interval: Option<u64>,
    /// What was present but cannot be used, and why; each is logged once by the daemon.
    pub ignored: Vec<Ignored>,
}

/// A part of the `os-collect-config` block that was switched off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    /// A pointer under `/os-collect-config`, e.g. `/heat`.
    pub pointer: String,
    pub reason: String,
}

impl std::fmt::Display for Ignored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "/os-collect-config{}: {}", self.pointer, self.reason)
    }
}

/// The transports that have a block of their own in `os-collect-config`.
pub const TRANSPORTS: [&str; 4] = ["request", "cfn", "heat", "zaqar"];

/// POLL_TEMP_URL: a Swift TempURL to GET (its signature is a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSource {
    pub metadata_url: Secret,
}

/// POLL_SERVER_CFN: DescribeStackResource signed with EC2 signature v2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfnSource {
    pub metadata_url: String,
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub stack_name: String,
    /// `<resource>.Metadata`.
    pub path: String,
}

impl CfnSource {
    /// The LogicalResourceId: `path` up to the first dot.
    pub fn resource(&self) -> &str {
        self.path.split('.').next().unwrap_or(&self.path)
    }
}

/// POLL_SERVER_HEAT: Keystone v3 password auth, then the resource metadata API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeatSource {
    pub auth_url: String,
    pub user_id: String,
    pub password: Secret,
    pub project_id: String,
    pub stack_id: String,
    pub resource_name: String,
    pub region_name: Option<String>,
}

/// ZAQAR_MESSAGE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZaqarSource {
    pub auth_url: String,
    pub user_id: String,
    pub password: Secret,
    pub project_id: String,
    pub queue_id: String,
    pub region_name: Option<String>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum DocumentError {
    #[error("{source_name}: metadata document of {size} bytes is over the {max} byte limit")]
    TooLarge {
        source_name: String,
        size: usize,
        max: usize,
    },
    #[error("{source_name}: not JSON: {message}")]
    NotJson {
        source_name: String,
        message: String,
    },
    /// Over `BUDGET`'s values or nesting.
    #[error("{source_name}: metadata document refused: {message}")]
    OverBudget {
        source_name: String,
        message: String,
    },
    #[error("{source_name}: {pointer}: {message}")]
    Invalid {
        source_name: String,
        pointer: String,
        message: String,
    },
}

impl Document {
    /// Parses a document from bytes; `source_name` is used in messages.
    pub fn parse(source_name: &str, bytes: &[u8]) -> Result<Document, DocumentError> {
        if bytes.len() > MAX_DOCUMENT_BYTES {
            return Err(DocumentError::TooLarge {
                source_name: source_name.into(),
                size: bytes.len(),
                max: MAX_DOCUMENT_BYTES,
            });
        }
        let value: Value = solum_limits::json::from_slice(bytes, &BUDGET).map_err(|e| match e {
            JsonError::Budget(e) => DocumentError::OverBudget {
                source_name: source_name.into(),
                message: e.to_string(),
            },
            JsonError::Parse(e) => DocumentError::NotJson {
                source_name: source_name.into(),
                message: e.to_string(),
            },
        })?;
        Document::from_value(source_name, value)
    }

    pub fn from_value(source_name: &str, value: Value) -> Result<Document, DocumentError> {
        let invalid = |pointer: &str, message: String| DocumentError::Invalid {
            source_name: source_name.into(),
            pointer: pointer.into(),
            message,
        };
        let raw = match value {
            Value::Object(m) => m,
            other => {
                return Err(invalid(
                    "",
                    format!("expected an object, found {}", kind(&other)),
                ))
            }
        };
        let mut doc = Document {
            raw: raw.clone(),
            ..Document::default()
        };
        match raw.get("deployments") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    match Deployment::parse(i, item) {
                        Ok(d) => doc.deployments.push(d),
                        Err(e) => doc.rejected.push(e),
                    }
                }
            }
            Some(other) => {
                return Err(invalid(
                    "/deployments",
                    format!("expected a list, found {}", kind(other)),
                ))
            }
        }
        doc.deployments.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(block) = raw.get("os-collect-config") {
            doc.collect = CollectConfig::parse(block);
        }
        Ok(doc)
    }
}

type FieldError = (String, String);

impl CollectConfig {
    /// Parses the `os-collect-config` block. Never fails: whatever cannot be used is switched
    /// off and listed in `ignored`, so one stale or broken transport never stops the others.
    pub fn parse(v: &Value) -> CollectConfig {
        let mut c = CollectConfig::default();
        let obj = match v {
            Value::Object(m) => m,
            Value::Null => return c,
            other => {
                c.ignore("", format!("expected an object, found {}", kind(other)));
                return c;
            }
        };
        let mut selected: Option<Vec<String>> = None;
        match obj.get("collectors") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                let mut names = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match item.as_str() {
                        Some(s) => names.push(s.to_string()),
                        None => c.ignore(&format!("/collectors/{i}"), "expected a string".into()),
                    }
                }
                c.collectors = names.clone();
                selected = Some(names);
            }
            Some(other) => c.ignore(
                "/collectors",
                format!("expected a list, found {}", kind(other)),
            ),
        }
        match obj.get("polling_interval") {
            None | Some(Value::Null) => {}
            Some(v) => match v
                .as_u64()
                .or_else(|| v.as_f64().filter(|f| *f >= 1.0).map(|f| f.round() as u64))
            {
                Some(n) if (1..=MAX_POLLING_INTERVAL).contains(&n) => c.polling_interval = Some(n),
                Some(n) => c.ignore(
                    "/polling_interval",
                    format!("{n} is not in 1..={MAX_POLLING_INTERVAL} seconds"),
                ),
                None => c.ignore(
                    "/polling_interval",
                    "expected a whole number of seconds".into(),
                ),
            },
        }
        for name in TRANSPORTS {
            let b = match obj.get(name) {
                None => continue,
                Some(Value::Object(m)) if m.values().all(Value::is_null) => {
                    c.ignore(
                        &format!("/{name}"),
                        "switched off (every value is null, as Heat leaves a transport it no longer uses)"
                            .into(),
                    );
                    continue;
                }
                Some(Value::Object(m)) => m,
                Some(Value::Null) => continue,
                Some(other) => {
                    c.ignore(
                        &format!("/{name}"),
                        format!("expected an object, found {}", kind(other)),
                    );
                    continue;
                }
            };
            if let Some(sel) = &selected {
                if !sel.iter().any(|s| s == name) {
                    c.ignore(
                        &format!("/{name}"),
                        format!("not polled: {name} is not named in collectors"),
                    );
                    continue;
                }
            }
            if let Err((pointer, message)) = c.set_transport(name, b) {
                c.ignore(&pointer, format!("{message}; the {name} collector is off"));
            }
        }
        c
    }

    fn ignore(&mut self, pointer: &str, reason: String) {
        self.ignored.push(Ignored {
            pointer: pointer.into(),
            reason,
        });
    }

    fn set_transport(&mut self, name: &str, b: &Map<String, Value>) -> Result<(), FieldError> {
        match name {
            "request" => {
                self.request = Some(RequestSource {
                    metadata_url: Secret(field(b, "request", "metadata_url")?),
                })
            }
            "cfn" => {
                self.cfn = Some(CfnSource {
                    metadata_url: field(b, "cfn", "metadata_url")?,
                    access_key_id: field(b, "cfn", "access_key_id")?,
                    secret_access_key: Secret(field(b, "cfn", "secret_access_key")?),
                    stack_name: field(b, "cfn", "stack_name")?,
                    path: field(b, "cfn", "path")?,
                })
            }
            "heat" => {
                self.heat = Some(HeatSource {
                    auth_url: field(b, "heat", "auth_url")?,
                    user_id: field(b, "heat", "user_id")?,
                    password: Secret(field(b, "heat", "password")?),
                    project_id: field(b, "heat", "project_id")?,
                    stack_id: field(b, "heat", "stack_id")?,
                    resource_name: field(b, "heat", "resource_name")?,
                    region_name: optional(b, "heat", "region_name")?,
                })
            }
            _ => {
                self.zaqar = Some(ZaqarSource {
                    auth_url: field(b, "zaqar", "auth_url")?,
                    user_id: field(b, "zaqar", "user_id")?,
                    password: Secret(field(b, "zaqar", "password")?),
                    project_id: field(b, "zaqar", "project_id")?,
                    queue_id: field(b, "zaqar", "queue_id")?,
                    region_name: optional(b, "zaqar", "region_name")?,
                })
            }
        }
        Ok(())
    }

    /// Whether any polling transport is usable.
    pub fn has_transport(&self) -> bool {
        self.request.is_some() || self.cfn.is_some() || self.heat.is_some() || self.zaqar.is_some()
    }
}

fn field(b: &Map<String, Value>, block: &str, key: &str) -> Result<String, FieldError> {
    match optional(b, block, key)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err((format!("/{block}/{key}"), "missing".into())),
    }
}

fn optional(b: &Map<String, Value>, block: &str, key: &str) -> Result<Option<String>, FieldError> {
    match b.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err((
            format!("/{block}/{key}"),
            format!("expected a string, found {}", kind(other)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Document, DocumentError> {
        Document::parse("test", v.to_string().as_bytes())
    }

    #[test]
    fn parses_transports_and_sorts_deployments() {
        let d = parse(json!({
            "deployments": [{"id": "2", "name": "b"}, {"id": "1", "name": "a"}, {"name": "no-id"}],
            "os-collect-config": {"collectors": ["ec2", "cfn", "local"], "polling_interval": 30,
                "cfn": {"metadata_url": "http://heat:8000/v1/", "access_key_id": "AK", "secret_access_key": "SK",
                        "stack_name": "st", "path": "server.Metadata"}}}))
        .unwrap();
        assert_eq!(
            d.deployments
                .iter()
                .map(|d| d.name.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(d.rejected.len(), 1);
        let cfn = d.collect.cfn.unwrap();
        assert_eq!(cfn.resource(), "server");
        assert_eq!(cfn.secret_access_key.expose(), "SK");
        assert_eq!(d.collect.polling_interval, Some(30));
        let d = parse(json!({"os-collect-config": {"polling_interval": 7.6}})).unwrap();
        assert_eq!(d.collect.polling_interval, Some(8));
        let d = parse(json!({"os-collect-config": {"polling_interval": 0}})).unwrap();
        assert_eq!(d.collect.polling_interval, None);
        assert!(d.collect.ignored[0]
            .to_string()
            .contains("/polling_interval: 0 is not in 1..=86400 seconds"));
    }

    #[test]
    fn errors_name_the_pointer() {
        let d = parse(json!({"os-collect-config": {"heat": {"auth_url": "x"}}})).unwrap();
        assert_eq!(d.collect.heat, None);
        assert_eq!(
            d.collect.ignored[0].to_string(),
            "/os-collect-config/heat/user_id: missing; the heat collector is off"
        );
        let e = parse(json!({"deployments": {"a": 1}})).unwrap_err();
        assert!(e.to_string().contains("/deployments: expected a list"));
        let e = parse(json!([1])).unwrap_err();
        assert!(e.to_string().contains("expected an object"));
        let e = Document::parse("test", b"{\"a\": ").unwrap_err();
        assert!(matches!(e, DocumentError::NotJson { .. }));
    }

    fn cfn_block() -> Value {
        json!({"metadata_url": "http://heat:8000/v1/", "access_key_id": "AK",
               "secret_access_key": "SK", "stack_name": "st", "path": "server.Metadata"})
    }

    fn heat_block() -> Value {
        json!({"auth_url": "http://ks:5000/v3", "user_id": "u", "password": "p",
               "project_id": "pr", "stack_id": "st/1", "resource_name": "server",
               "region_name": null})
    }

    /// Issue 12 item 1: after a stack update switches the server from POLL_SERVER_CFN to
    /// POLL_SERVER_HEAT, Heat keeps the cfn block with every value null. The document and its
    /// deployments stay valid; cfn is off, heat is on.
    #[test]
    fn null_transport_block_after_transport_switch() {
        let mut nulled = cfn_block();
        for v in nulled.as_object_mut().unwrap().values_mut() {
            *v = Value::Null;
        }
        let d = parse(json!({
            "deployments": [{"id": "1", "name": "a", "group": "script", "config": "#!/bin/sh\n"}],
            "os-collect-config": {"collectors": ["ec2", "heat", "local"],
                                  "cfn": nulled, "heat": heat_block()}}))
        .unwrap();
        assert_eq!(d.deployments.len(), 1);
        assert_eq!(d.collect.cfn, None);
        assert_eq!(d.collect.heat.as_ref().unwrap().resource_name, "server");
        assert_eq!(d.collect.ignored.len(), 1);
        assert_eq!(d.collect.ignored[0].pointer, "/cfn");
        assert!(d.collect.ignored[0].reason.contains("every value is null"));
        assert!(d.collect.has_transport());
    }

    /// Issue 11 item 5: an incomplete block for a collector that is not selected never
    /// refuses the document; the selected request collector runs.
    #[test]
    fn incomplete_block_for_unselected_collector() {
        let d = parse(json!({
            "deployments": [{"id": "1", "name": "a"}],
            "os-collect-config": {"collectors": ["request", "local"],
                "request": {"metadata_url": "http://swift/v1/o?temp_url_sig=x"},
                "heat": {"password": "leftover"}}}))
        .unwrap();
        assert_eq!(d.deployments.len(), 1);
        assert!(d.collect.request.is_some());
        assert_eq!(d.collect.heat, None);
        assert_eq!(d.collect.ignored.len(), 1);
        assert_eq!(d.collect.ignored[0].pointer, "/heat");
        // Selected but incomplete: that collector alone is off.
        let d = parse(json!({"os-collect-config": {"collectors": ["cfn", "heat"],
            "cfn": cfn_block(), "heat": {"password": "p"}}}))
        .unwrap();
        assert!(d.collect.cfn.is_some());
        assert_eq!(d.collect.heat, None);
        assert!(d.collect.ignored[0]
            .to_string()
            .contains("/heat/auth_url: missing"));
        assert!(!d.collect.ignored[0].to_string().contains("\"p\""));
    }

    #[test]
    fn broken_collect_blocks_never_refuse_the_document() {
        for occ in [
            json!("a string"),
            json!({"collectors": "cfn"}),
            json!({"collectors": [1], "polling_interval": "soon"}),
            json!({"polling_interval": 0}),
            json!({"polling_interval": 86_401}),
            json!({"polling_interval": 1e300}),
            json!({"polling_interval": -5}),
            json!({"cfn": [1, 2]}),
            json!({"heat": {"auth_url": 5}}),
        ] {
            let d =
                parse(json!({"deployments": [{"id": "1", "name": "a"}], "os-collect-config": occ}))
                    .unwrap();
            assert_eq!(d.deployments.len(), 1, "{occ}");
            assert!(!d.collect.ignored.is_empty(), "{occ}");
            assert!(!d.collect.has_transport(), "{occ}");
        }
        // Without a collectors list every complete block is used.
        let d = parse(json!({"os-collect-config": {"cfn": cfn_block(), "heat": heat_block()}}))
            .unwrap();
        assert!(d.collect.cfn.is_some() && d.collect.heat.is_some());
        assert!(d.collect.ignored.is_empty());
    }

    #[test]
    fn oversized_documents_are_refused_before_parsing() {
        let big = vec![b' '; MAX_DOCUMENT_BYTES + 1];
        assert!(matches!(
            Document::parse("big", &big),
            Err(DocumentError::TooLarge { .. })
        ));
    }

    #[test]
    fn secrets_do_not_print() {
        let d = parse(json!({"os-collect-config": {"request": {"metadata_url": "http://swift/v1/x?temp_url_sig=SECRET"}}})).unwrap();
        assert!(!format!("{:?}", d.collect).contains("SECRET"));
    }
}
