//! What Heat and Nova hand an `OS::Nova::Server` of a template (SOFTWARE_CONFIG, POLL_TEMP_URL),
//! derived here the way Heat 27 derives it, so that the app-VM tests feed the VM exactly what the
//! shipped template would give it:
//!
//! - the server's resource metadata: `deployments` (one derived config per
//!   `OS::Heat::SoftwareDeployment`, sorted by config name, with the `deploy_*` inputs of its
//!   signal transport) and the `os-collect-config` block (collectors `ec2`, `request`, `local`);
//! - the user_data: Heat's own `NovaClientPlugin.build_userdata` (from the openstack-heat
//!   package of the test venv), so the MIME document is byte for byte Heat's;
//! - `meta_data.json` and the config drive tree as Nova writes them.
//!
//! Only the intrinsic functions the shipped templates use are evaluated: `get_param`,
//! `str_replace`, `get_resource` and `get_attr` (answered by the caller).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// A stack made from a template: its identity and parameter values.
pub struct Stack {
    pub template: Value,
    pub name: String,
    pub id: String,
    /// The Nova server's uuid (the server resource's physical id).
    pub server_id: String,
    pub params: BTreeMap<String, Value>,
}

/// A deterministic uuid-shaped id from a seed.
pub fn uuid(seed: &str) -> String {
    let h = hex(&Sha256::digest(seed.as_bytes()));
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Stack {
    /// Loads a template (YAML) from a file.
    pub fn load(path: &Path, name: &str, params: BTreeMap<String, Value>) -> Stack {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let template: Value =
            serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Stack {
            template,
            name: name.to_string(),
            id: uuid(&format!("stack {name}")),
            server_id: uuid(&format!("server {name}")),
            params,
        }
    }

    /// `stack_name/stack_id`, as `deploy_stack_id` carries it.
    pub fn path(&self) -> String {
        format!("{}/{}", self.name, self.id)
    }

    /// Heat's physical resource name: `<stack>-<resource>-<12 characters>`.
    pub fn physical_name(&self, resource: &str) -> String {
        let short: String = hex(&Sha256::digest(
            format!("{}/{resource}", self.id).as_bytes(),
        ))
        .chars()
        .take(12)
        .collect();
        format!("{}-{resource}-{short}", self.name)
    }

    pub fn resource(&self, name: &str) -> &Value {
        let r = &self.template["resources"][name];
        assert!(r.is_object(), "the template has no resource {name}");
        r
    }

    /// A parameter's value: given, else the template's default. Panics when neither exists.
    pub fn param(&self, name: &str) -> Value {
        if let Some(v) = self.params.get(name) {
            return v.clone();
        }
        let decl = &self.template["parameters"][name];
        assert!(decl.is_object(), "the template has no parameter {name}");
        decl.get("default")
            .cloned()
            .unwrap_or_else(|| panic!("parameter {name} has no value and no default"))
    }

    /// Evaluates the intrinsic functions in `node`; `attr(resource, attribute)` answers
    /// `get_attr`.
    pub fn resolve(&self, node: &Value, attr: &dyn Fn(&str, &str) -> Value) -> Value {
        match node {
            Value::Object(m) if m.len() == 1 => {
                let (k, v) = m.iter().next().expect("one entry");
                match k.as_str() {
                    "get_param" => self.param(v.as_str().expect("get_param takes a name")),
                    "get_resource" => {
                        let r = v.as_str().expect("get_resource takes a name");
                        self.resource(r);
                        Value::String(if r == "server" {
                            self.server_id.clone()
                        } else {
                            uuid(&format!("{}/{r}", self.id))
                        })
                    }
                    "get_attr" => {
                        let a = v.as_array().expect("get_attr takes a list");
                        attr(
                            a[0].as_str().expect("resource"),
                            a[1].as_str().expect("attribute"),
                        )
                    }
                    "str_replace" => self.str_replace(v, attr),
                    _ => Value::Object(
                        m.iter()
                            .map(|(k, v)| (k.clone(), self.resolve(v, attr)))
                            .collect(),
                    ),
                }
            }
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), self.resolve(v, attr)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(|v| self.resolve(v, attr)).collect()),
            other => other.clone(),
        }
    }

    /// Heat's `str_replace`: the longest keys first, values as strings.
    fn str_replace(&self, v: &Value, attr: &dyn Fn(&str, &str) -> Value) -> Value {
        let template = self.resolve(&v["template"], attr);
        let mut text = template.as_str().expect("str_replace template").to_string();
        let params = self.resolve(&v["params"], attr);
        let mut pairs: Vec<(String, String)> = params
            .as_object()
            .expect("str_replace params")
            .iter()
            .map(|(k, v)| {
                let s = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), s)
            })
            .collect();
        pairs.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
        for (k, v) in pairs {
            text = text.replace(&k, &v);
        }
        Value::String(text)
    }

    /// The derived config of deployment resource `resource` for `action`, as the server's
    /// metadata lists it. `signal_id` is the TempURL (TEMP_URL_SIGNAL) the agent PUTs to.
    pub fn derived_config(
        &self,
        resource: &str,
        action: &str,
        signal_id: &str,
        created: &str,
        attr: &dyn Fn(&str, &str) -> Value,
    ) -> Value {
        let dep = self.resource(resource);
        assert_eq!(dep["type"], "OS::Heat::SoftwareDeployment", "{resource}");
        let props = self.resolve(&dep["properties"], attr);
        let config_res = dep["properties"]["config"]["get_resource"]
            .as_str()
            .expect("config: get_resource");
        let cfg = &self.resource(config_res)["properties"];
        let config = self.resolve(&cfg["config"], attr);
        let transport = props["signal_transport"]
            .as_str()
            .unwrap_or("CFN_SIGNAL")
            .to_string();
        assert_eq!(
            transport, "TEMP_URL_SIGNAL",
            "only TEMP_URL_SIGNAL is derived here"
        );
        let mut values: Map<String, Value> = props["input_values"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut inputs = Vec::new();
        for decl in cfg["inputs"].as_array().cloned().unwrap_or_default() {
            let name = decl["name"].as_str().expect("input name").to_string();
            let mut d = decl.as_object().cloned().expect("input");
            d.entry("type").or_insert(json!("String"));
            let value = values
                .remove(&name)
                .or_else(|| d.get("default").cloned())
                .unwrap_or(Value::Null);
            d.insert("value".into(), value);
            inputs.push(Value::Object(d));
        }
        for (name, value) in values {
            inputs.push(json!({"name": name, "type": "String", "value": value}));
        }
        let derived = [
            (
                "deploy_server_id",
                json!(self.server_id),
                "ID of the server being deployed to",
            ),
            (
                "deploy_action",
                json!(action),
                "Name of the current action being deployed",
            ),
            (
                "deploy_stack_id",
                json!(self.path()),
                "ID of the stack this deployment belongs to",
            ),
            (
                "deploy_resource_name",
                json!(resource),
                "Name of this deployment resource in the stack",
            ),
            (
                "deploy_signal_transport",
                json!(transport),
                "How the server should signal to heat with the deployment output values.",
            ),
            (
                "deploy_signal_id",
                json!(signal_id),
                "ID of signal to use for signaling output values",
            ),
            (
                "deploy_signal_verb",
                json!("PUT"),
                "HTTP verb to use for signaling output values",
            ),
        ];
        for (name, value, description) in derived {
            inputs.push(
                json!({"name": name, "type": "String", "description": description, "value": value}),
            );
        }
        let outputs: Vec<Value> = cfg["outputs"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|o| {
                let mut o = o.as_object().cloned().expect("output");
                o.entry("type").or_insert(json!("String"));
                o.entry("error_output").or_insert(json!(false));
                Value::Object(o)
            })
            .collect();
        json!({
            "id": uuid(&format!("{}/{resource}/{action}/{config}", self.id)),
            "name": self.physical_name(config_res),
            "group": cfg["group"].as_str().unwrap_or("Heat::Ungrouped"),
            "creation_time": created,
            "config": config,
            "options": cfg.get("options").cloned().unwrap_or(json!({})),
            "inputs": inputs,
            "outputs": outputs,
        })
    }
}

/// The server's resource metadata for POLL_TEMP_URL: `deployments` sorted by name and the
/// `os-collect-config` block naming the `request` collector.
pub fn server_metadata(mut deployments: Vec<Value>, metadata_url: &str) -> Value {
    deployments.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    json!({
        "deployments": deployments,
        "os-collect-config": {
            "collectors": ["ec2", "request", "local"],
            "request": {"metadata_url": metadata_url},
        },
    })
}

/// The venv holding openstack-heat (made by scripts/openstack-harness.sh).
pub fn openstack_venv() -> std::path::PathBuf {
    std::env::var_os("SOLUM_OPENSTACK_VENV")
        .map(Into::into)
        .unwrap_or_else(|| "/var/cache/solum-test/openstack-venv".into())
}

/// The user_data Heat gives a SOFTWARE_CONFIG server whose metadata at creation is
/// `metadata` and whose `user_data` property is `given` (`""` by default; an Ignition config
/// makes Heat add the metadata to it as files instead of writing a MIME document): made by
/// Heat's own `build_userdata`.
pub fn user_data(metadata: &Value, given: &str) -> Vec<u8> {
    let harness = crate::repo_root().join("scripts/openstack-harness.sh");
    let st = Command::new(&harness)
        .arg("venv")
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", harness.display()));
    assert!(
        st.status.success(),
        "{} venv failed: {}",
        harness.display(),
        String::from_utf8_lossy(&st.stderr)
    );
    let py = openstack_venv().join("bin/python");
    let script = "import json, sys\n\
        from heat.engine.clients.os.nova import NovaClientPlugin\n\
        md = json.loads(sys.argv[1])\n\
        sys.stdout.write(NovaClientPlugin.build_userdata(None, md, userdata=sys.argv[2], user_data_format='SOFTWARE_CONFIG'))\n";
    let out = Command::new(&py)
        .args(["-c", script, &metadata.to_string(), given])
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", py.display()));
    assert!(
        out.status.success(),
        "Heat's build_userdata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `meta_data.json` as Nova writes it for a server of `stack` with server metadata `meta`
/// (strings) and the key pair `key_name` holding `public_key`.
pub fn meta_data(stack: &Stack, meta: &Value, key_name: &str, public_key: &str) -> Value {
    let name = stack.physical_name("server");
    json!({
        "uuid": stack.server_id,
        "meta": meta,
        "public_keys": {key_name: public_key},
        "keys": [{"name": key_name, "type": "ssh", "data": public_key}],
        "hostname": format!("{name}.novalocal"),
        "name": name,
        "launch_index": 0,
        "availability_zone": "nova",
        "random_seed": "c29sdW0tZ3Vlc3QgdGVzdCBzZWVk",
        "project_id": uuid("project"),
        "devices": [],
        "dedicated_cpus": [],
    })
}

/// Writes a config drive tree as Nova lays it out (several dated versions and `latest`, the
/// EC2 tree) under `dir`.
pub fn write_config_drive(dir: &Path, meta_data: &Value, user_data: &[u8]) {
    let network = json!({
        "links": [{"id": "tap0", "vif_id": uuid("vif"), "type": "ovs", "mtu": 1450,
                   "ethernet_mac_address": "52:54:00:12:34:56"}],
        "networks": [{"id": "network0", "type": "ipv4_dhcp", "link": "tap0",
                      "network_id": uuid("network")}],
        "services": []
    });
    for version in [
        "2012-08-10",
        "2013-04-04",
        "2016-06-30",
        "2018-08-27",
        "latest",
    ] {
        let d = dir.join("openstack").join(version);
        std::fs::create_dir_all(&d).expect("config drive dir");
        std::fs::write(d.join("meta_data.json"), meta_data.to_string()).expect("meta_data");
        std::fs::write(d.join("user_data"), user_data).expect("user_data");
        std::fs::write(d.join("vendor_data.json"), "{}").expect("vendor_data");
        std::fs::write(d.join("vendor_data2.json"), "{}").expect("vendor_data2");
        std::fs::write(d.join("network_data.json"), network.to_string()).expect("network_data");
    }
    let ec2 = dir.join("ec2/latest");
    std::fs::create_dir_all(&ec2).expect("ec2 dir");
    std::fs::write(
        ec2.join("meta-data.json"),
        json!({"instance-id": "i-00000001", "hostname": meta_data["hostname"],
               "local-hostname": meta_data["hostname"], "ami-launch-index": 0})
        .to_string(),
    )
    .expect("ec2 meta-data");
    std::fs::write(ec2.join("user-data"), user_data).expect("ec2 user-data");
}
