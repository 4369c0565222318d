//! The server's metadata document as Heat writes it: `deployments` plus the
//! `os-collect-config` block naming the polling transport and its credentials. Parsing is
//! strict about the transport blocks (a half-configured transport is an error) and lenient
//! about the rest: unknown top-level keys are other tools' business.

use serde_json::{Map, Value};

use super::deployment::{kind, Deployment, DeploymentError};
use crate::planfile::Secret;

/// Documents larger than this are refused before parsing.
pub const MAX_DOCUMENT_BYTES: usize = 16 << 20;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Document {
    /// Valid deployments, sorted by name as heat-config runs them.
    pub deployments: Vec<Deployment>,
    /// Items that could not be parsed; each is reported, none stops the others.
    pub rejected: Vec<DeploymentError>,
    pub collect: CollectConfig,
    /// The whole document, for `collect --print` and for hooks that want it.
    pub raw: Map<String, Value>,
}

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
}

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
        let value: Value = serde_json::from_slice(bytes).map_err(|e| DocumentError::NotJson {
            source_name: source_name.into(),
            message: e.to_string(),
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
            doc.collect = CollectConfig::parse(block)
                .map_err(|(p, m)| invalid(&format!("/os-collect-config{p}"), m))?;
        }
        Ok(doc)
    }
}

type FieldError = (String, String);

impl CollectConfig {
    fn parse(v: &Value) -> Result<CollectConfig, FieldError> {
        let obj = v.as_object().ok_or_else(|| {
            (
                String::new(),
                format!("expected an object, found {}", kind(v)),
            )
        })?;
        let mut c = CollectConfig::default();
        match obj.get("collectors") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let s = item.as_str().ok_or_else(|| {
                        (format!("/collectors/{i}"), "expected a string".to_string())
                    })?;
                    c.collectors.push(s.to_string());
                }
            }
            Some(other) => {
                return Err((
                    "/collectors".into(),
                    format!("expected a list, found {}", kind(other)),
                ))
            }
        }
        c.polling_interval = match obj.get("polling_interval") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_u64().ok_or_else(|| {
                (
                    "/polling_interval".to_string(),
                    "expected a whole number of seconds".to_string(),
                )
            })?),
        };
        if let Some(b) = block(obj, "request")? {
            c.request = Some(RequestSource {
                metadata_url: Secret(field(&b, "request", "metadata_url")?),
            });
        }
        if let Some(b) = block(obj, "cfn")? {
            c.cfn = Some(CfnSource {
                metadata_url: field(&b, "cfn", "metadata_url")?,
                access_key_id: field(&b, "cfn", "access_key_id")?,
                secret_access_key: Secret(field(&b, "cfn", "secret_access_key")?),
                stack_name: field(&b, "cfn", "stack_name")?,
                path: field(&b, "cfn", "path")?,
            });
        }
        if let Some(b) = block(obj, "heat")? {
            c.heat = Some(HeatSource {
                auth_url: field(&b, "heat", "auth_url")?,
                user_id: field(&b, "heat", "user_id")?,
                password: Secret(field(&b, "heat", "password")?),
                project_id: field(&b, "heat", "project_id")?,
                stack_id: field(&b, "heat", "stack_id")?,
                resource_name: field(&b, "heat", "resource_name")?,
                region_name: optional(&b, "heat", "region_name")?,
            });
        }
        if let Some(b) = block(obj, "zaqar")? {
            c.zaqar = Some(ZaqarSource {
                auth_url: field(&b, "zaqar", "auth_url")?,
                user_id: field(&b, "zaqar", "user_id")?,
                password: Secret(field(&b, "zaqar", "password")?),
                project_id: field(&b, "zaqar", "project_id")?,
                queue_id: field(&b, "zaqar", "queue_id")?,
                region_name: optional(&b, "zaqar", "region_name")?,
            });
        }
        Ok(c)
    }
}

fn block(obj: &Map<String, Value>, name: &str) -> Result<Option<Map<String, Value>>, FieldError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m.clone())),
        Some(other) => Err((
            format!("/{name}"),
            format!("expected an object, found {}", kind(other)),
        )),
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
    }

    #[test]
    fn errors_name_the_pointer() {
        let e = parse(json!({"os-collect-config": {"heat": {"auth_url": "x"}}})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "test: /os-collect-config/heat/user_id: missing"
        );
        let e = parse(json!({"deployments": {"a": 1}})).unwrap_err();
        assert!(e.to_string().contains("/deployments: expected a list"));
        let e = parse(json!([1])).unwrap_err();
        assert!(e.to_string().contains("expected an object"));
        let e = Document::parse("test", b"{\"a\": ").unwrap_err();
        assert!(matches!(e, DocumentError::NotJson { .. }));
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
