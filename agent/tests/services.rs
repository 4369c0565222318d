//! End-to-end: a Planfile's local services (PostgreSQL, MariaDB, RabbitMQ, Redis) run by
//! `solum-agent deploy` in containers of the real services image, the example apps of
//! `examples/services/` writing and reading through the injected URLs. The data survives a
//! redeploy, a `docker restart` of the service, an agent restart and a `destroy` without
//! `--purge`; a database moves to a fresh app by export and import; `--purge` deletes it. The
//! password is kept 0600 and shows in no output.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use solum_tests::agent::AgentCli;
use solum_tests::{docker_containers, free_port, http_get, repo_root, unique_name};

/// One agent of its own; every command's output is kept (to look for secrets); destroys with
/// `--purge` and removes all it made on drop.
fn new_agent() -> AgentCli {
    AgentCli::new(env!("CARGO_BIN_EXE_solum-agent")).purging()
}

/// The example of `kind` as a Planfile named `plan` on `port` (its source: the example).
fn planfile(dir: &Path, kind: &str, plan: &str, port: u16, release: u32) -> PathBuf {
    let example = repo_root().join("examples/services").join(kind);
    let text = std::fs::read_to_string(example.join("Planfile")).unwrap();
    let text = text
        .replace(&format!("name: services-{kind}"), &format!("name: {plan}"))
        .replace("href: .", &format!("href: {}", example.display()))
        .replace("ports: 8080", &format!("ports: {port}"));
    let text = format!("{text}parameters:\n  RELEASE_MARK: \"{release}\"\n");
    let path = dir.join(format!("{plan}.yaml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn get(url: &str) -> (u16, String) {
    match http_get(url, Duration::from_secs(40)) {
        Ok(r) => (r.status, r.body),
        Err(e) => (0, e.to_string()),
    }
}

/// GET `url` until it answers 200 with a body containing `want` (a service may be restarting).
fn read_until(url: &str, want: &[&str], within: Duration) -> String {
    let started = Instant::now();
    loop {
        let (status, body) = get(url);
        if status == 200 && want.iter().all(|w| body.lines().any(|l| l == *w)) {
            return body;
        }
        assert!(
            started.elapsed() < within,
            "{url} never gave {want:?}: last {status} {body:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn write(app: &str, value: &str) {
    let (status, body) = get(&format!("{app}/write?v={value}"));
    assert_eq!(
        (status, body.as_str()),
        (200, "stored\n"),
        "writing {value}"
    );
}

fn volume_exists(name: &str) -> bool {
    Command::new("docker")
        .args(["volume", "inspect", name])
        .output()
        .unwrap()
        .status
        .success()
}

fn service_id(kind: &str) -> &'static str {
    match kind {
        "postgresql" | "mysql" => "database",
        "redis" => "cache",
        _ => "queue",
    }
}

/// The whole life of one kind's service, through the example app.
fn lifecycle(kind: &str) {
    let mut agent = new_agent();
    let dir = tempfile::tempdir().unwrap();
    let plan = unique_name(&format!("svc-{kind}"));
    agent.apps.push(plan.clone());
    let id = service_id(kind);
    let port = free_port();
    let container = format!("solum-svc-{plan}-{id}");

    // Cold deploy: the service starts, answers, then the app is built and started.
    let started = Instant::now();
    let app = agent.deploy_url(&planfile(dir.path(), kind, &plan, port, 1));
    eprintln!(
        "{kind}: cold deploy in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let ready_line = agent
        .seen
        .lines()
        .find(|l| l.contains(&format!("service {id} ({kind}) ready in")))
        .unwrap_or_else(|| panic!("no readiness line in {}", agent.seen))
        .to_string();
    eprintln!("{kind}: {ready_line}");
    write(&app, "first");
    read_until(&format!("{app}/read"), &["first"], Duration::from_secs(5));

    // The credentials: made once, 0600.
    let creds_path = agent.service_dir(&plan, id).join("credentials.json");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&creds_path).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "{}", creds_path.display());
    let creds: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&creds_path).unwrap()).unwrap();
    let password = creds["password"].as_str().unwrap().to_string();
    assert!(password.len() >= 24);

    // Listed, answering, with its volume; the container carries the agent's labels.
    let list: serde_json::Value = serde_json::from_str(&agent.ok(&["services", "--json"])).unwrap();
    let s = &list["services"][0];
    assert_eq!(s["id"], id, "{list}");
    assert_eq!(s["kind"], kind);
    assert_eq!(s["binding"], "local");
    assert_eq!(s["state"], "running");
    assert_eq!(s["ready"], true);
    assert_eq!(s["volume"], container.as_str());
    let host_port = s["host_port"].as_u64().unwrap();
    let text = agent.ok(&["services"]);
    assert!(
        text.contains(&container) && text.contains(&host_port.to_string()),
        "{text}"
    );
    let labels = String::from_utf8(
        Command::new("docker")
            .args(["inspect", "-f", "{{json .Config.Labels}}", &container])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(
        labels.contains(&format!("\"solum.agent\":\"{}\"", agent.agent_id())),
        "{labels}"
    );
    assert!(
        labels.contains(&format!("\"solum.service.kind\":\"{kind}\"")),
        "{labels}"
    );
    let bound = String::from_utf8(
        Command::new("docker")
            .args(["port", &container])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(
        bound
            .lines()
            .all(|l| !l.contains("0.0.0.0") && !l.contains("[::]")),
        "published on all addresses: {bound}"
    );

    // A new release (a changed parameter): the data is there.
    let app = agent.deploy_url(&planfile(dir.path(), kind, &plan, port, 2));
    write(&app, "second");
    read_until(
        &format!("{app}/read"),
        &["first", "second"],
        Duration::from_secs(5),
    );

    // `docker restart` of the service container.
    Command::new("docker")
        .args(["restart", &container])
        .output()
        .unwrap();
    read_until(
        &format!("{app}/read"),
        &["first", "second"],
        Duration::from_secs(120),
    );

    // The agent restarted (a new process on the same state, as the daemon re-applies its
    // deployment): the service is adopted with the same credentials and port.
    let app = agent.deploy_url(&planfile(dir.path(), kind, &plan, port, 2));
    read_until(
        &format!("{app}/read"),
        &["first", "second"],
        Duration::from_secs(60),
    );

    // destroy without --purge: the container goes, the volume and credentials stay.
    let out = agent.ok(&["destroy", &plan]);
    assert!(out.contains(&format!("container {container}")), "{out}");
    assert!(!out.contains("volume"), "{out}");
    assert!(volume_exists(&container));
    assert!(creds_path.is_file());
    let app = agent.deploy_url(&planfile(dir.path(), kind, &plan, port, 2));
    read_until(
        &format!("{app}/read"),
        &["first", "second"],
        Duration::from_secs(60),
    );
    let list: serde_json::Value = serde_json::from_str(&agent.ok(&["services", "--json"])).unwrap();
    assert_eq!(
        list["services"][0]["host_port"].as_u64().unwrap(),
        host_port,
        "the URL stays the same"
    );

    // Export, then import into a fresh app of another plan.
    if kind == "postgresql" || kind == "mysql" {
        let dump = dir.path().join("dump.sql");
        agent.ok(&["services", "export", &plan, id, dump.to_str().unwrap()]);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&dump).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        assert!(std::fs::read_to_string(&dump).unwrap().contains("kv"));
        let copy = unique_name(&format!("svc-{kind}-copy"));
        agent.apps.push(copy.clone());
        let copy_app = agent.deploy_url(&planfile(dir.path(), kind, &copy, free_port(), 1));
        // Loaded before the app touches its fresh database (its first /read makes the table).
        agent.ok(&["services", "import", &copy, id, dump.to_str().unwrap()]);
        let body = read_until(
            &format!("{copy_app}/read"),
            &["first", "second"],
            Duration::from_secs(5),
        );
        assert_eq!(body, "first\nsecond\n");
        let err = agent.fails(&["services", "import", &copy, id, "/nonexistent/dump.sql"]);
        assert!(err.contains("/nonexistent/dump.sql"), "{err}");
    } else {
        let err = agent.fails(&[
            "services",
            "export",
            &plan,
            id,
            dir.path().join("x").to_str().unwrap(),
        ]);
        assert!(err.contains("is for databases"), "{err}");
    }

    // --purge: the data goes, and the agent says what it removed.
    let out = agent.ok(&["destroy", &plan, "--purge"]);
    assert!(out.contains(&format!("volume {container}")), "{out}");
    assert!(!volume_exists(&container));
    assert!(!agent.service_dir(&plan, id).exists());

    // The password showed nowhere: no command's output, no app record, no status.
    let status = agent.ok(&["status", "--json"]);
    assert!(!status.contains(&password));
    for entry in walk(&agent.state.path().join("apps")) {
        let text = std::fs::read_to_string(&entry).unwrap_or_default();
        assert!(
            !text.contains(&password),
            "{} holds the password",
            entry.display()
        );
    }
    assert!(
        !agent.seen.contains(&password),
        "the password was printed:\n{}",
        agent.seen
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn postgresql_data_survives_and_moves() {
    lifecycle("postgresql");
}

#[test]
fn mysql_data_survives_and_moves() {
    lifecycle("mysql");
}

#[test]
fn redis_data_survives() {
    lifecycle("redis");
}

#[test]
fn rabbitmq_messages_survive() {
    lifecycle("rabbitmq");
}

/// A Planfile `plan` whose service `id` of `kind` is bound to the parameter `param` (given the
/// value `value` when there is one), for the example app of `kind`.
fn bound_planfile(
    dir: &Path,
    plan: &str,
    kind: &str,
    id: &str,
    param: &str,
    value: Option<&str>,
) -> PathBuf {
    let example = repo_root().join("examples/services").join(kind);
    let mut text = format!(
        "version: 1\nname: {plan}\nservices:\n- name: {id}\n  id: {id}\n  characteristics: [{{characteristic_type: {kind}, url_parameter: {param}}}]\nartifacts:\n- name: web\n  artifact_type: dockerfile\n  content: {{href: {}}}\n  ports: {}\n  requirements: [{{requirement_type: {id}, fulfillment: \"id:{id}\"}}]\n",
        example.display(),
        free_port()
    );
    if let Some(v) = value {
        text.push_str(&format!("parameters:\n  {param}: \"{v}\"\n"));
    }
    let path = dir.join(format!("{plan}.yaml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// The service containers the agent `agent_id` made for `plan`.
fn service_containers(agent_id: &str, plan: &str) -> Vec<String> {
    docker_containers(&[
        &format!("solum.agent={agent_id}"),
        &format!("solum.app={plan}"),
        "solum.role=service",
    ])
}

#[test]
fn a_bound_service_without_its_url_parameter_is_a_clear_error() {
    let mut agent = new_agent();
    let dir = tempfile::tempdir().unwrap();
    let plan = unique_name("svc-bound");
    agent.apps.push(plan.clone());
    let path = bound_planfile(
        dir.path(),
        &plan,
        "postgresql",
        "database",
        "SOLUM_TEST_ORDERS_DB_URL",
        None,
    );
    let err = agent.fails(&["deploy", path.to_str().unwrap()]);
    assert!(err.contains("service database"), "{err}");
    assert!(err.contains("SOLUM_TEST_ORDERS_DB_URL"), "{err}");
    // Nothing ran for it.
    assert!(service_containers(&agent.agent_id(), &plan).is_empty());
}

/// A bound service: plan B's app gets, as `REDIS_URL`, the URL a plan parameter holds (here the
/// local Redis of plan A, as a hosted one would be given), nothing runs for it, and the URL's
/// password shows in none of B's output or records.
#[test]
fn a_bound_service_reaches_the_app_through_its_url_parameter() {
    let mut agent = new_agent();
    let dir = tempfile::tempdir().unwrap();
    let owner = unique_name("svc-owner");
    agent.apps.push(owner.clone());
    let a = agent.deploy_url(&planfile(dir.path(), "redis", &owner, free_port(), 1));
    write(&a, "shared");
    // The URL plan A's app was given: what an operator would pass for a hosted Redis.
    let web = Command::new("docker")
        .args([
            "ps",
            "-q",
            "--filter",
            &format!("label=solum.app={owner}"),
            "--filter",
            "label=solum.process=web",
        ])
        .output()
        .unwrap();
    let web = String::from_utf8_lossy(&web.stdout)
        .lines()
        .next()
        .expect("plan A's web container")
        .to_string();
    let env = Command::new("docker")
        .args([
            "inspect",
            "-f",
            "{{range .Config.Env}}{{println .}}{{end}}",
            &web,
        ])
        .output()
        .unwrap();
    let env = String::from_utf8_lossy(&env.stdout).into_owned();
    let url = env
        .lines()
        .find_map(|l| l.strip_prefix("REDIS_URL="))
        .expect("plan A's REDIS_URL")
        .to_string();
    let password = url
        .split("://:")
        .nth(1)
        .and_then(|r| r.split('@').next())
        .expect("a password in the URL")
        .to_string();

    let bound = unique_name("svc-bound");
    agent.apps.push(bound.clone());
    let path = bound_planfile(
        dir.path(),
        &bound,
        "redis",
        "cache",
        "SHARED_CACHE_URL",
        Some(&url),
    );
    let seen_before = agent.seen.len();
    let b = agent.deploy_url(&path);
    let body = read_until(&format!("{b}/read"), &["shared"], Duration::from_secs(60));
    assert!(body.lines().any(|l| l == "shared"), "{body}");
    // Nothing ran for the bound service.
    assert!(
        service_containers(&agent.agent_id(), &bound).is_empty(),
        "a service container for a bound service"
    );
    // Its password is in no output of B's deploy, status or services list, nor in B's record.
    agent.ok(&["status", &bound, "--json"]);
    agent.ok(&["services", "--json"]);
    let said = &agent.seen[seen_before..];
    assert!(
        !said.contains(&password),
        "the bound URL's password was printed:\n{said}"
    );
    for f in walk(&agent.state.path().join("apps")) {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        assert!(
            !text.contains(&password),
            "{} holds the bound URL's password",
            f.display()
        );
    }
}
