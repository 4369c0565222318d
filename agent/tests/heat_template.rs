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

// heat/app-scaled.yaml and its member template heat/app-scaled-member.yaml.

fn load(file: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../heat")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `get_param`, `get_resource`, `get_attr` and condition name used in `node`.
#[derive(Default)]
struct Refs {
    params: Vec<String>,
    resources: Vec<String>,
    conditions: Vec<String>,
}

fn collect_refs(node: &Value, refs: &mut Refs) {
    match node {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("get_param", Value::String(p)) => refs.params.push(p.clone()),
                    ("get_resource", Value::String(r)) => refs.resources.push(r.clone()),
                    ("get_attr", Value::Array(a)) => {
                        refs.resources.push(a[0].as_str().unwrap().to_string())
                    }
                    ("if", Value::Array(a)) => {
                        if let Value::String(c) = &a[0] {
                            refs.conditions.push(c.clone());
                        }
                    }
                    ("condition", Value::String(c)) => refs.conditions.push(c.clone()),
                    ("depends_on", Value::String(r)) => refs.resources.push(r.clone()),
                    ("depends_on", Value::Array(a)) => refs
                        .resources
                        .extend(a.iter().map(|r| r.as_str().unwrap().to_string())),
                    _ => {}
                }
                collect_refs(v, refs);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, refs)),
        _ => {}
    }
}

/// What Heat would refuse at stack create (template validate does not check get_param names):
/// every parameter, resource and condition used is declared.
fn assert_references_exist(file: &str, t: &Value) {
    let mut refs = Refs::default();
    collect_refs(&t["resources"], &mut refs);
    collect_refs(&t["outputs"], &mut refs);
    for (_, c) in t["conditions"].as_object().into_iter().flatten() {
        collect_refs(c, &mut refs);
        // and/or/not name other conditions by string
        for key in ["and", "or"] {
            for v in c[key].as_array().into_iter().flatten() {
                if let Value::String(name) = v {
                    refs.conditions.push(name.clone());
                }
            }
        }
        if let Value::String(name) = &c["not"] {
            refs.conditions.push(name.clone());
        }
    }
    assert!(!refs.params.is_empty() && !refs.resources.is_empty());
    for p in &refs.params {
        assert!(
            t["parameters"][p].is_object(),
            "{file}: get_param {p}: no such parameter"
        );
    }
    for r in &refs.resources {
        assert!(
            t["resources"][r].is_object(),
            "{file}: {r}: no such resource"
        );
    }
    for c in &refs.conditions {
        assert!(
            t["conditions"][c].is_object() || t["conditions"][c].is_boolean(),
            "{file}: condition {c}: not declared"
        );
    }
}

/// Heat's condition functions over the given parameters (`equals`, `not`, `and`, `or`,
/// condition names).
fn condition(s: &Stack, c: &Value) -> bool {
    match c {
        Value::Bool(b) => *b,
        Value::String(name) => condition(s, &s.template["conditions"][name]),
        Value::Object(m) if m.len() == 1 => {
            let (k, v) = m.iter().next().unwrap();
            match k.as_str() {
                "equals" => {
                    let a = s.resolve(&v[0], &no_attr);
                    let b = s.resolve(&v[1], &no_attr);
                    a == b || a.to_string().trim_matches('"') == b.to_string().trim_matches('"')
                }
                "not" => !condition(s, v),
                "and" => v.as_array().unwrap().iter().all(|c| condition(s, c)),
                "or" => v.as_array().unwrap().iter().any(|c| condition(s, c)),
                other => panic!("condition function {other} not evaluated here"),
            }
        }
        other => panic!("not a condition: {other}"),
    }
}

fn no_attr(r: &str, a: &str) -> Value {
    panic!("get_attr [{r}, {a}] in a condition")
}

/// The template with each `if` replaced by its chosen branch and the resources whose
/// `condition` is false removed, as Heat sees it for these parameters.
fn choose(s: &Stack) -> Value {
    fn walk(s: &Stack, node: &Value) -> Value {
        match node {
            Value::Object(m) if m.len() == 1 && m.contains_key("if") => {
                let a = m["if"].as_array().unwrap();
                walk(s, if condition(s, &a[0]) { &a[1] } else { &a[2] })
            }
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(_, v)| v["condition"].is_null() || condition(s, &v["condition"]))
                    .map(|(k, v)| (k.clone(), walk(s, v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(|v| walk(s, v)).collect()),
            other => other.clone(),
        }
    }
    let mut t = s.template.clone();
    t["resources"] = walk(s, &s.template["resources"]);
    t["outputs"] = walk(s, &s.template["outputs"]);
    t
}

fn scaled_params(extra: &[(&str, Value)]) -> BTreeMap<String, Value> {
    let mut p: BTreeMap<String, Value> = [
        ("key_name", json!("k")),
        ("network", json!("private")),
        ("subnet", json!("private-v4")),
        ("source_url", json!("https://files.example.org/app.tgz")),
        ("source_sha256", json!(SUM)),
        ("buildpack_url", json!("https://files.example.org/bp.tgz")),
        ("buildpack_sha256", json!(SUM)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in extra {
        p.insert(k.to_string(), v.clone());
    }
    p
}

#[test]
fn the_scaled_template_puts_the_vms_behind_a_load_balancer() {
    let t = load("app-scaled.yaml");
    let member = load("app-scaled-member.yaml");
    assert_references_exist("app-scaled.yaml", &t);
    assert_references_exist("app-scaled-member.yaml", &member);
    let r = &t["resources"];
    let get_resource = |name: &str| json!({ "get_resource": name });

    assert_eq!(r["loadbalancer"]["type"], "OS::Octavia::LoadBalancer");
    assert_eq!(
        r["loadbalancer"]["properties"]["vip_subnet"],
        json!({"get_param": "subnet"})
    );

    let listener = &r["listener"];
    assert_eq!(listener["type"], "OS::Octavia::Listener");
    assert_eq!(
        listener["properties"]["loadbalancer"],
        get_resource("loadbalancer")
    );
    assert_eq!(listener["properties"]["protocol"], "HTTP");
    assert_eq!(
        listener["properties"]["protocol_port"],
        json!({"get_param": "app_port"})
    );

    let pool = &r["pool"];
    assert_eq!(pool["type"], "OS::Octavia::Pool");
    assert_eq!(pool["properties"]["listener"], get_resource("listener"));
    assert_eq!(pool["properties"]["protocol"], "HTTP");
    assert_eq!(
        pool["properties"]["lb_algorithm"],
        json!({"get_param": "lb_algorithm"})
    );
    assert_eq!(
        t["parameters"]["lb_algorithm"]["constraints"][0]["allowed_values"],
        json!(["ROUND_ROBIN", "LEAST_CONNECTIONS"])
    );

    let monitor = &r["monitor"];
    assert_eq!(monitor["type"], "OS::Octavia::HealthMonitor");
    let m = &monitor["properties"];
    assert_eq!(m["pool"], get_resource("pool"));
    assert_eq!(
        (m["type"].as_str(), m["http_method"].as_str()),
        (Some("HTTP"), Some("GET"))
    );
    assert_eq!(m["url_path"], json!({"get_param": "health_path"}));
    assert_eq!(m["expected_codes"], "200");
    assert_eq!(t["parameters"]["health_path"]["default"], "/");

    // The group: its size is the count parameter, its member the member template, which gets
    // the pool and every parameter it has no default for.
    let vms = &r["vms"];
    assert_eq!(vms["type"], "OS::Heat::ResourceGroup");
    assert_eq!(vms["properties"]["count"], json!({"get_param": "count"}));
    assert_eq!(t["parameters"]["count"]["type"], "number");
    let def = &vms["properties"]["resource_def"];
    assert_eq!(def["type"], "app-scaled-member.yaml");
    assert_eq!(def["properties"]["pool"], get_resource("pool"));
    let given = def["properties"].as_object().unwrap();
    let declared = member["parameters"].as_object().unwrap();
    for name in given.keys() {
        assert!(
            declared.contains_key(name),
            "the member template has no parameter {name}"
        );
    }
    for (name, decl) in declared {
        assert!(
            given.contains_key(name) || decl.get("default").is_some(),
            "the group does not give the member its parameter {name}"
        );
    }

    // One pool member per VM, in the member template: the pool, the VM's address, the app port.
    let mr = &member["resources"];
    assert_eq!(mr["member"]["type"], "OS::Octavia::PoolMember");
    let p = &mr["member"]["properties"];
    assert_eq!(p["pool"], json!({"get_param": "pool"}));
    assert_eq!(
        p["address"],
        json!({"get_attr": ["port", "fixed_ips", 0, "ip_address"]})
    );
    assert_eq!(p["protocol_port"], json!({"get_param": "app_port"}));
    assert_eq!(p["subnet"], json!({"get_param": "subnet"}));
    assert_eq!(
        mr["server"]["properties"]["networks"],
        json!([{"port": {"get_resource": "port"}}])
    );
    assert!(
        mr["member"]["depends_on"]
            .as_array()
            .unwrap()
            .contains(&json!("wait_condition")),
        "a VM joins the pool once its app is healthy"
    );
    assert_eq!(member["outputs"]["address"]["value"], p["address"]);

    // The same app VM as heat/app-vm.yaml: server (but its network port), wait condition.
    let app_vm = load("app-vm.yaml");
    for name in ["wait_handle", "wait_condition"] {
        assert_eq!(
            mr[name], app_vm["resources"][name],
            "{name} differs from heat/app-vm.yaml"
        );
    }
    let mut ours = mr["server"]["properties"].clone();
    let mut theirs = app_vm["resources"]["server"]["properties"].clone();
    for props in [&mut ours, &mut theirs] {
        let props = props.as_object_mut().unwrap();
        props.remove("networks");
        props.remove("security_groups");
    }
    assert_eq!(ours, theirs, "the server differs from heat/app-vm.yaml's");
    for name in ["image", "flavor", "key_name", "registrar_url"] {
        assert_eq!(
            member["parameters"][name], app_vm["parameters"][name],
            "{name}"
        );
    }

    // Outputs: the load balancer's URL and VIP, every VM's address.
    let o = &t["outputs"];
    assert_eq!(
        o["vip_address"]["value"],
        json!({"get_attr": ["loadbalancer", "vip_address"]})
    );
    assert_eq!(
        o["addresses"]["value"],
        json!({"get_attr": ["vms", "address"]})
    );
    assert_eq!(
        o["servers"]["value"],
        json!({"get_attr": ["vms", "server"]})
    );
    assert!(member["outputs"]["server"].is_object());
    assert!(o["url"]["value"]["str_replace"]["template"]
        .as_str()
        .unwrap()
        .starts_with("http://"));
    assert_eq!(r["floating_ip"]["condition"], "floating_ip");
    assert_eq!(
        r["floating_ip"]["properties"]["port_id"],
        json!({"get_attr": ["loadbalancer", "vip_port_id"]})
    );

    // Secrets: the database URL is hidden at both levels, and only Trove's own password
    // (never a parameter) builds it otherwise.
    assert_eq!(t["parameters"]["database_url"]["hidden"], true);
    assert_eq!(member["parameters"]["database_url"]["hidden"], true);
    for (file, tmpl) in [("app-scaled.yaml", &t), ("app-scaled-member.yaml", &member)] {
        for (name, decl) in tmpl["parameters"].as_object().unwrap() {
            if name.contains("password") || name.contains("url") && name.contains("database") {
                assert_eq!(decl["hidden"], true, "{file}: {name} is not hidden");
            }
        }
    }
    assert_eq!(r["trove"]["type"], "OS::Trove::Instance");
    assert_eq!(r["trove"]["condition"], "trove_database");
    assert_eq!(r["database_password"]["condition"], "trove_database");
}

/// Which resources exist, and what the group gives each VM, for each database choice.
#[test]
fn the_database_choice_selects_trove_a_url_or_a_local_service() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../heat/app-scaled.yaml");
    let chosen = |extra: &[(&str, Value)]| {
        let s = Stack::load(&path, "sc", scaled_params(extra));
        let t = choose(&s);
        (s, t)
    };
    let names = |t: &Value| -> Vec<String> {
        t["resources"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };

    // bound, no URL: a Trove instance; its URL (password from the stack, Trove's host) goes to
    // every VM.
    let (_, t) = chosen(&[]);
    assert!(names(&t).contains(&"trove".to_string()), "{:?}", names(&t));
    assert!(!names(&t).contains(&"local_database_needs_count_1".to_string()));
    assert!(!names(&t).contains(&"floating_ip".to_string()));
    let url = &t["resources"]["vms"]["properties"]["resource_def"]["properties"]["database_url"];
    assert_eq!(
        url["str_replace"]["template"],
        "$SCHEME://app:$PASSWORD@$HOST:$PORT/$NAME"
    );
    assert_eq!(
        url["str_replace"]["params"]["$HOST"],
        json!({"get_attr": ["trove", "hostname"]})
    );
    assert_eq!(
        t["resources"]["trove"]["properties"]["datastore_type"],
        "postgresql"
    );

    // bound to a given URL: no Trove, the URL passed through; a floating IP when asked.
    let (_, t) = chosen(&[
        ("database_url", json!("postgresql://u:p@db.example.org/app")),
        ("database_kind", json!("mysql")),
        ("floating_network", json!("public")),
    ]);
    assert!(!names(&t).contains(&"trove".to_string()));
    assert!(names(&t).contains(&"floating_ip".to_string()));
    assert_eq!(
        t["resources"]["vms"]["properties"]["resource_def"]["properties"]["database_url"],
        json!({"get_param": "database_url"})
    );

    // local: one VM only; any other count brings in the resource that fails validation.
    let (_, t) = chosen(&[("database", json!("local")), ("count", json!(1))]);
    assert!(!names(&t).contains(&"trove".to_string()));
    assert!(!names(&t).contains(&"local_database_needs_count_1".to_string()));
    let (_, t) = chosen(&[("database", json!("local")), ("count", json!(3))]);
    let guard = &t["resources"]["local_database_needs_count_1"];
    assert_eq!(guard["type"], "OS::Heat::RandomString");
    assert!(guard["properties"]["length"]
        .as_str()
        .unwrap()
        .contains("use database: bound"));
}

/// The member's deployment, for each database choice, is a Planfile the agent parses: the app
/// requires the `db` service, local or bound to the DB_URL input (a plan parameter) that
/// carries the group's database URL.
#[test]
fn the_member_planfile_binds_the_database() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../heat/app-scaled-member.yaml");
    let db_url = "postgresql://app:secret@db.example.org:5432/app";
    for (database, kind) in [
        ("bound", "postgresql"),
        ("local", "mysql"),
        ("bound", "mysql"),
    ] {
        let mut params = scaled_params(&[
            ("database", json!(database)),
            ("database_kind", json!(kind)),
            ("pool", json!("pool-1")),
        ]);
        if database == "bound" {
            params.insert("database_url".into(), json!(db_url));
        }
        let mut s = Stack::load(&path, "m", params);
        s.template = choose(&s);
        let meta = s.resolve(&s.resource("server")["properties"]["metadata"], &attr);
        assert_eq!(meta["solum_wait_token"], "token");
        let derived = s.derived_config(
            "app_deployment",
            "CREATE",
            "https://swift/v1/AUTH_p/c/d?temp_url_sig=x&temp_url_expires=1",
            "2026-12-01T00:00:00Z",
            &attr,
        );
        let doc = heat::server_metadata(
            vec![derived],
            "https://swift/v1/AUTH_p/c/md?temp_url_sig=y&temp_url_expires=1",
        );
        let doc = Document::from_value("heat", doc).unwrap();
        assert!(doc.rejected.is_empty(), "{:?}", doc.rejected);
        let d = &doc.deployments[0];
        assert_eq!(d.group, "solum");
        let text = d.config_text();
        let plan =
            planfile::parse(Path::new(&d.name), &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(plan.name, "app");
        assert_eq!(plan.artifacts[0].ports[0].number, 80);
        // The Planfile's service and requirement, as written.
        let raw: Value = serde_norway::from_str(&text).unwrap();
        let service = &raw["services"][0];
        assert_eq!(service["id"], "db");
        let characteristic = &service["characteristics"][0];
        assert_eq!(characteristic["characteristic_type"], kind);
        assert_eq!(
            raw["artifacts"][0]["requirements"],
            json!([{"requirement_type": "database", "fulfillment": "id:db"}])
        );
        if database == "bound" {
            assert_eq!(characteristic["url_parameter"], "DB_URL");
            assert_eq!(d.input("DB_URL").as_deref(), Some(db_url));
        } else {
            assert!(characteristic.get("url_parameter").is_none(), "{text}");
            assert!(d.input("DB_URL").is_none());
        }
        // What the agent reads from it: the service, its kind and binding, required by the app.
        let svc = plan.services.first().expect("the Planfile's service");
        assert_eq!(svc.id, "db");
        assert_eq!(svc.kind.as_str(), kind);
        let bound = matches!(&svc.binding, planfile::Binding::Bound { url_parameter } if url_parameter == "DB_URL");
        assert_eq!(bound, database == "bound", "{:?}", svc.binding);
        assert_eq!(plan.services_of(&plan.artifacts[0]).len(), 1);
        assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    }
}
