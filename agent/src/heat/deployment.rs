//! One item of the metadata document's `deployments`: what to run (`group`, `config`), with
//! which inputs, and how to report back (the `deploy_signal_*` inputs). Parsing is strict per
//! item: a bad item is an error for that item alone, never for its neighbours.

use serde_json::Value;

use crate::planfile::Secret;

/// What Heat asks of a deployment (`deploy_action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Delete,
    Suspend,
    Resume,
}

/// Where the result goes (`deploy_signal_transport` and friends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalTarget {
    /// POST to a pre-signed heat-cfn URL.
    Cfn {
        url: Secret,
    },
    /// PUT to a Swift TempURL.
    TempUrl {
        url: Secret,
    },
    /// Keystone v3 password auth, then the Heat signal API.
    Heat(HeatAuth),
    /// Keystone auth, then a Zaqar queue.
    Zaqar {
        auth: HeatAuth,
        queue_id: String,
    },
    NoSignal,
}

/// Credentials Heat hands a server for signalling (a stack domain user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeatAuth {
    pub auth_url: String,
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub password: Secret,
    pub project_id: String,
    pub stack_id: String,
    pub resource_name: String,
    pub region_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub name: String,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputDecl {
    pub name: String,
    pub error_output: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub id: String,
    pub name: String,
    pub group: String,
    /// The config body: a string (script, Planfile YAML) or structured JSON.
    pub config: Value,
    pub options: Value,
    pub inputs: Vec<Input>,
    pub outputs: Vec<OutputDecl>,
    /// The item as Heat sent it (what heat-config hands a hook on stdin).
    pub raw: Value,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("deployments[{index}]{}: {message}", id.as_ref().map(|i| format!(" (id {i})")).unwrap_or_default())]
pub struct DeploymentError {
    pub index: usize,
    pub id: Option<String>,
    pub message: String,
}

impl Deployment {
    /// Parses item `index` of `deployments`.
    pub fn parse(index: usize, v: &Value) -> Result<Deployment, DeploymentError> {
        let err = |id: Option<&str>, message: String| DeploymentError {
            index,
            id: id.map(str::to_string),
            message,
        };
        let obj = v
            .as_object()
            .ok_or_else(|| err(None, format!("expected an object, found {}", kind(v))))?;
        let id = match obj.get("id") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(_)) => return Err(err(None, "`id` is empty".into())),
            Some(other) if !other.is_null() => {
                return Err(err(
                    None,
                    format!("`id` must be a string, found {}", kind(other)),
                ))
            }
            _ => return Err(err(None, "missing `id`".into())),
        };
        if id.len() > 255 || id.contains(['/', '\0']) || id == "." || id == ".." {
            return Err(err(None, format!("`id` {id:?} is not a usable identifier")));
        }
        let text = |key: &str, default: &str| -> Result<String, DeploymentError> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(default.to_string()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(other) => Err(err(
                    Some(&id),
                    format!("`{key}` must be a string, found {}", kind(other)),
                )),
            }
        };
        let name = text("name", &id)?;
        let group = text("group", "Heat::Ungrouped")?;
        // `inputs` and `outputs`: lists of objects, each with a `name`.
        let named = |key: &str| -> Result<Vec<(String, &Value)>, DeploymentError> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(items)) => items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let name = item
                            .get("name")
                            .and_then(Value::as_str)
                            .ok_or_else(|| err(Some(&id), format!("{key}[{i}] has no `name`")))?;
                        Ok((name.to_string(), item))
                    })
                    .collect(),
                Some(other) => Err(err(
                    Some(&id),
                    format!("`{key}` must be a list, found {}", kind(other)),
                )),
            }
        };
        let inputs = named("inputs")?
            .into_iter()
            .map(|(name, item)| Input {
                name,
                value: item.get("value").cloned().unwrap_or(Value::Null),
            })
            .collect();
        let outputs = named("outputs")?
            .into_iter()
            .map(|(name, item)| OutputDecl {
                name,
                error_output: item.get("error_output").map(truthy).unwrap_or(false),
            })
            .collect();
        Ok(Deployment {
            config: obj.get("config").cloned().unwrap_or(Value::Null),
            options: obj.get("options").cloned().unwrap_or(Value::Null),
            id,
            name,
            group,
            inputs,
            outputs,
            raw: v.clone(),
        })
    }

    /// An input's value as text (numbers and booleans as JSON writes them).
    pub fn input(&self, name: &str) -> Option<String> {
        self.inputs
            .iter()
            .find(|i| i.name == name)
            .and_then(|i| match &i.value {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            })
    }

    /// `deploy_action`; CREATE when absent (as heat-config's hooks assume).
    pub fn action(&self) -> Result<Action, DeploymentError> {
        match self.input("deploy_action").as_deref() {
            None | Some("CREATE") => Ok(Action::Create),
            Some("UPDATE") => Ok(Action::Update),
            Some("DELETE") => Ok(Action::Delete),
            Some("SUSPEND") => Ok(Action::Suspend),
            Some("RESUME") => Ok(Action::Resume),
            Some(other) => Err(self.error(format!(
                "unknown deploy_action {other:?} (CREATE, UPDATE, DELETE, SUSPEND or RESUME)"
            ))),
        }
    }

    /// Where to send the result.
    pub fn signal_target(&self) -> Result<SignalTarget, DeploymentError> {
        let transport = self.input("deploy_signal_transport").unwrap_or_else(|| {
            if self.input("deploy_signal_id").is_some() {
                "CFN_SIGNAL".into()
            } else {
                "NO_SIGNAL".into()
            }
        });
        let need = |key: &str| {
            self.input(key)
                .ok_or_else(|| self.error(format!("{transport} needs the input {key}")))
        };
        match transport.as_str() {
            "CFN_SIGNAL" => Ok(SignalTarget::Cfn {
                url: Secret(need("deploy_signal_id")?),
            }),
            "TEMP_URL_SIGNAL" => Ok(SignalTarget::TempUrl {
                url: Secret(need("deploy_signal_id")?),
            }),
            "HEAT_SIGNAL" => Ok(SignalTarget::Heat(self.heat_auth(&transport)?)),
            "ZAQAR_SIGNAL" => Ok(SignalTarget::Zaqar {
                auth: self.heat_auth(&transport)?,
                queue_id: need("deploy_queue_id")?,
            }),
            "NO_SIGNAL" => Ok(SignalTarget::NoSignal),
            other => Err(self.error(format!("unknown deploy_signal_transport {other:?}"))),
        }
    }

    fn heat_auth(&self, transport: &str) -> Result<HeatAuth, DeploymentError> {
        let need = |key: &str| {
            self.input(key)
                .ok_or_else(|| self.error(format!("{transport} needs the input {key}")))
        };
        let user_id = self.input("deploy_user_id");
        let username = self.input("deploy_username");
        if user_id.is_none() && username.is_none() {
            return Err(self.error(format!(
                "{transport} needs deploy_user_id or deploy_username"
            )));
        }
        Ok(HeatAuth {
            auth_url: need("deploy_auth_url")?,
            user_id,
            username,
            password: Secret(need("deploy_password")?),
            project_id: need("deploy_project_id")?,
            stack_id: need("deploy_stack_id")?,
            resource_name: need("deploy_resource_name")?,
            region_name: self.input("deploy_region_name"),
        })
    }

    /// The config body as text (strings as they are, structured configs as JSON).
    pub fn config_text(&self) -> String {
        match &self.config {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        }
    }

    pub fn error(&self, message: String) -> DeploymentError {
        DeploymentError {
            index: usize::MAX,
            id: Some(self.id.clone()),
            message,
        }
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => matches!(s.to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "on"),
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        _ => false,
    }
}

pub(crate) fn kind(v: &Value) -> &'static str {
    solum_limits::json::kind(v, "an object")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({"id": "1f8c", "name": "deploy_app", "group": "script", "config": "#!/bin/sh\necho hi",
            "options": {}, "outputs": [{"name": "result", "type": "String", "error_output": false}],
            "inputs": [{"name": "foo", "type": "String", "value": "bar"},
                {"name": "deploy_server_id", "value": "uuid"}, {"name": "deploy_action", "value": "UPDATE"},
                {"name": "deploy_stack_id", "value": "st/1"}, {"name": "deploy_resource_name", "value": "deploy_app"},
                {"name": "deploy_signal_transport", "value": "CFN_SIGNAL"},
                {"name": "deploy_signal_id", "value": "http://heat:8000/v1/signal/x?Signature=abc"},
                {"name": "deploy_signal_verb", "value": "POST"}, {"name": "count", "value": 3}]})
    }

    #[test]
    fn parses_heats_shape() {
        let d = Deployment::parse(0, &sample()).unwrap();
        assert_eq!(d.id, "1f8c");
        assert_eq!(d.group, "script");
        assert_eq!(d.input("foo").as_deref(), Some("bar"));
        assert_eq!(d.input("count").as_deref(), Some("3"));
        assert_eq!(d.action().unwrap(), Action::Update);
        assert!(matches!(
            d.signal_target().unwrap(),
            SignalTarget::Cfn { .. }
        ));
        assert_eq!(
            d.outputs,
            vec![OutputDecl {
                name: "result".into(),
                error_output: false
            }]
        );
        assert_eq!(d.config_text(), "#!/bin/sh\necho hi");
    }

    #[test]
    fn signal_urls_never_print() {
        let d = Deployment::parse(0, &sample()).unwrap();
        let shown = format!("{:?}", d.signal_target().unwrap());
        assert!(!shown.contains("Signature=abc"), "{shown}");
    }

    #[test]
    fn bad_items_are_errors_naming_the_item() {
        let e = Deployment::parse(2, &json!({"name": "x"})).unwrap_err();
        assert_eq!(e.to_string(), "deployments[2]: missing `id`");
        let e = Deployment::parse(0, &json!({"id": " "})).unwrap_err();
        assert_eq!(e.to_string(), "deployments[0]: `id` is empty");
        let e = Deployment::parse(0, &json!({"id": "../x"})).unwrap_err();
        assert!(e.message.contains("not a usable identifier"));
        let e = Deployment::parse(1, &json!("x")).unwrap_err();
        assert!(e.to_string().contains("expected an object, found a string"));
        let e = Deployment::parse(1, &json!({"id": "a", "inputs": {"x": 1}})).unwrap_err();
        assert!(
            e.to_string().contains("(id a): `inputs` must be a list"),
            "{e}"
        );
    }

    #[test]
    fn unknown_action_and_transport_are_errors() {
        let mut v = sample();
        v["inputs"][2]["value"] = json!("EXPLODE");
        v["inputs"][5]["value"] = json!("PIGEON");
        let d = Deployment::parse(0, &v).unwrap();
        assert!(d.action().unwrap_err().message.contains("EXPLODE"));
        assert!(d.signal_target().unwrap_err().message.contains("PIGEON"));
    }

    #[test]
    fn heat_signal_needs_credentials() {
        let d = Deployment::parse(0, &json!({"id": "a", "inputs": [
            {"name": "deploy_signal_transport", "value": "HEAT_SIGNAL"},
            {"name": "deploy_auth_url", "value": "http://ks/v3"}, {"name": "deploy_user_id", "value": "u"},
            {"name": "deploy_password", "value": "pw"}, {"name": "deploy_project_id", "value": "p"},
            {"name": "deploy_stack_id", "value": "s/1"}, {"name": "deploy_resource_name", "value": "r"}]})).unwrap();
        let SignalTarget::Heat(auth) = d.signal_target().unwrap() else {
            panic!("heat expected")
        };
        assert_eq!(auth.password.expose(), "pw");
        assert!(!format!("{auth:?}").contains("pw\""));
        let d = Deployment::parse(0, &json!({"id": "a", "inputs": [{"name": "deploy_signal_transport", "value": "HEAT_SIGNAL"}]})).unwrap();
        assert!(d
            .signal_target()
            .unwrap_err()
            .message
            .contains("deploy_user_id or deploy_username"));
    }

    #[test]
    fn no_transport_means_no_signal() {
        let d = Deployment::parse(0, &json!({"id": "a"})).unwrap();
        assert_eq!(d.signal_target().unwrap(), SignalTarget::NoSignal);
        assert_eq!(d.action().unwrap(), Action::Create);
        assert_eq!(d.group, "Heat::Ungrouped");
    }
}
