//! End-to-end: `solum-agent deploy` through the real binary, the real Docker engine and the
//! bundled buildpacks. Each test has its own state directory (so its own agent id, supervisor
//! and containers), its own free public ports on 127.0.0.1, and removes what it made.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use solum_tests::agent::AgentCli;
use solum_tests::{
    copy_tree, docker_containers, free_port, http_get, repo_root, run_ok, unique_name, wait_http,
};

/// One agent of its own (state dir, agent id, supervisor), removed with all it made on drop.
fn new_agent() -> AgentCli {
    AgentCli::new(env!("CARGO_BIN_EXE_solum-agent"))
}

/// A small app the tests can change: answers every GET with the contents of message.txt.
fn write_app(dir: &Path, name: &str, port: u16, message: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("app.py"),
        r#"import http.server, os
MESSAGE = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "message.txt")).read()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = MESSAGE.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("", int(os.environ["PORT"])), H).serve_forever()
"#,
    )
    .unwrap();
    std::fs::write(dir.join("message.txt"), message).unwrap();
    std::fs::write(dir.join("Procfile"), "web: python3 app.py\n").unwrap();
    let planfile = dir.join("Planfile");
    std::fs::write(
        &planfile,
        format!(
            "version: 1\nname: {name}\nartifacts:\n- name: web\n  artifact_type: heroku\n  content:\n    href: .\n  language_pack: auto\n  ports: {port}\n"
        ),
    )
    .unwrap();
    planfile
}

fn url_of(v: &serde_json::Value) -> String {
    v["apps"][0]["urls"][0]
        .as_str()
        .expect("a URL in the deploy report")
        .to_string()
}

#[test]
fn bundled_example_deploys_and_answers() {
    let mut agent = new_agent();
    let src = agent.state.path().join("example");
    copy_tree(&repo_root().join("examples/python-web"), &src).unwrap();
    // The example's port is fixed in its Planfile; give this test a free one.
    let port = free_port();
    let planfile = src.join("Planfile");
    let text = std::fs::read_to_string(&planfile).unwrap();
    let name = unique_name("ex");
    let text = text
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("ports:") {
                format!("{}ports: {port}", &l[..l.len() - l.trim_start().len()])
            } else if l.starts_with("name:") {
                format!("name: {name}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&planfile, text).unwrap();

    let v = agent.deploy_json(&planfile);
    let url = url_of(&v);
    assert_eq!(url, format!("http://127.0.0.1:{port}/"));
    let r = wait_http(&url, Duration::from_secs(5)).unwrap();
    assert_eq!(r.status, 200);

    let status: serde_json::Value =
        serde_json::from_str(&agent.ok(&["status", &name, "--json"])).unwrap();
    assert_eq!(
        status["apps"][0]["state"], "DEPLOYMENT_COMPLETE",
        "{status}"
    );
    assert_eq!(status["apps"][0]["urls"][0], url.as_str());
}

#[test]
fn redeploys_unchanged_fast_and_switches_releases_without_refusing_connections() {
    let mut agent = new_agent();
    let name = unique_name("zd");
    let port = free_port();
    let dir = agent.state.path().join("src");
    let planfile = write_app(&dir, &name, port, "v1");

    let first = agent.deploy_json(&planfile);
    assert_eq!(first["apps"][0]["unchanged"], false);
    let url = url_of(&first);
    assert_eq!(wait_http(&url, Duration::from_secs(5)).unwrap().body, "v1");

    // Same inputs: nothing rebuilt, nothing restarted.
    let t = Instant::now();
    let again = agent.deploy_json(&planfile);
    assert_eq!(again["apps"][0]["unchanged"], true, "{again}");
    assert_eq!(again["apps"][0]["release"], first["apps"][0]["release"]);
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "an unchanged redeploy took {:?}",
        t.elapsed()
    );
    // The supervisor removed by hand: an unchanged redeploy brings it back, the app answers.
    let supervisor = format!("solum-supervisor-{}", agent.agent_id());
    let rm = std::process::Command::new("docker")
        .args(["rm", "-f", &supervisor])
        .output()
        .expect("docker rm");
    assert!(
        rm.status.success(),
        "{}",
        String::from_utf8_lossy(&rm.stderr)
    );
    let back = agent.deploy_json(&planfile);
    assert_eq!(back["apps"][0]["unchanged"], true, "{back}");
    assert_eq!(wait_http(&url, Duration::from_secs(10)).unwrap().body, "v1");

    // A new release while a client hammers the public port: no refused or failed request.
    std::fs::write(dir.join("message.txt"), "v2").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicU64::new(0));
    let requests = Arc::new(AtomicU64::new(0));
    let prober = {
        let (stop, failures, requests, url) = (
            stop.clone(),
            failures.clone(),
            requests.clone(),
            url.clone(),
        );
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                requests.fetch_add(1, Ordering::Relaxed);
                match http_get(&url, Duration::from_secs(5)) {
                    Ok(r) if r.status == 200 => {
                        if seen.last() != Some(&r.body) {
                            seen.push(r.body);
                        }
                    }
                    Ok(r) => {
                        failures.fetch_add(1, Ordering::Relaxed);
                        eprintln!("probe: HTTP {}", r.status);
                    }
                    Err(e) => {
                        failures.fetch_add(1, Ordering::Relaxed);
                        eprintln!("probe: {e}");
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            seen
        })
    };
    let second = agent.deploy_json(&planfile);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let seen = prober.join().unwrap();
    assert_ne!(second["apps"][0]["release"], first["apps"][0]["release"]);
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "requests failed during the switch (of {})",
        requests.load(Ordering::Relaxed)
    );
    assert_eq!(seen, vec!["v1".to_string(), "v2".to_string()]);

    // Only the new release's containers remain (plus the supervisor).
    let id = agent.agent_id();
    let app_containers = docker_containers(&[&format!("solum.app={name}")]);
    assert_eq!(
        app_containers.len(),
        1,
        "one web container expected, got {app_containers:?} (agent {id})"
    );
}

#[test]
fn failed_builds_and_starts_leave_the_old_release_serving() {
    let mut agent = new_agent();
    let name = unique_name("keep");
    let port = free_port();
    let dir = agent.state.path().join("src");
    let planfile = write_app(&dir, &name, port, "good");
    let url = url_of(&agent.deploy_json(&planfile));
    assert_eq!(
        wait_http(&url, Duration::from_secs(5)).unwrap().body,
        "good"
    );

    // An app that never binds its port: the start fails, the old release keeps serving.
    std::fs::write(dir.join("Procfile"), "web: sleep 100000\n").unwrap();
    std::fs::write(dir.join("message.txt"), "bad").unwrap();
    std::fs::write(&planfile, std::fs::read_to_string(&planfile).unwrap() + "").unwrap();
    let cfg = agent.state.path().join("fast.yaml");
    std::fs::write(&cfg, "health:\n  start_timeout: 8\n").unwrap();
    let err = agent.fails(&[
        "--config",
        cfg.to_str().unwrap(),
        "deploy",
        planfile.to_str().unwrap(),
    ]);
    assert!(err.contains("did not become healthy"), "{err}");
    assert_eq!(http_get(&url, Duration::from_secs(5)).unwrap().body, "good");

    // A unit test that fails stops the deploy with its output shown.
    std::fs::write(dir.join("Procfile"), "web: python3 app.py\n").unwrap();
    let text = std::fs::read_to_string(&planfile).unwrap();
    std::fs::write(
        &planfile,
        format!("{text}  unittest_cmd: echo checking-things; exit 3\n"),
    )
    .unwrap();
    let err = agent.fails(&["deploy", planfile.to_str().unwrap()]);
    assert!(
        err.contains("unit tests failed") && err.contains("checking-things"),
        "{err}"
    );
    assert_eq!(http_get(&url, Duration::from_secs(5)).unwrap().body, "good");

    let status: serde_json::Value =
        serde_json::from_str(&agent.ok(&["status", &name, "--json"])).unwrap();
    assert_eq!(
        status["apps"][0]["state"], "DEPLOYMENT_COMPLETE",
        "{status}"
    );
}

#[test]
fn stop_start_destroy() {
    let mut agent = new_agent();
    let name = unique_name("ssd");
    let port = free_port();
    let dir = agent.state.path().join("src");
    let planfile = write_app(&dir, &name, port, "hello");
    let url = url_of(&agent.deploy_json(&planfile));
    assert_eq!(
        wait_http(&url, Duration::from_secs(5)).unwrap().body,
        "hello"
    );

    agent.ok(&["stop", &name]);
    assert!(
        http_get(&url, Duration::from_secs(2))
            .map(|r| r.status >= 500)
            .unwrap_or(true),
        "stopped app still answers"
    );
    let status: serde_json::Value =
        serde_json::from_str(&agent.ok(&["status", &name, "--json"])).unwrap();
    assert_eq!(status["apps"][0]["state"], "STOPPED", "{status}");

    agent.ok(&["start", &name]);
    assert_eq!(
        wait_http(&url, Duration::from_secs(30)).unwrap().body,
        "hello"
    );

    agent.ok(&["destroy", &name]);
    assert!(docker_containers(&[&format!("solum.app={name}")]).is_empty());
    let err = agent.fails(&["status", &name]);
    assert!(err.contains(&name), "{err}");
}

#[test]
fn bad_input_gives_one_clear_line() {
    let mut agent = new_agent();
    let dir = agent.state.path().to_path_buf();

    let bad_yaml = dir.join("bad.yaml");
    std::fs::write(&bad_yaml, "version: 1\nname: x\nartifacts: [\n").unwrap();
    let err = agent.fails(&["deploy", bad_yaml.to_str().unwrap()]);
    assert!(err.contains("bad.yaml") && err.contains("line"), "{err}");

    let big = dir.join("big.yaml");
    std::fs::write(
        &big,
        format!(
            "version: 1\nname: x\ndescription: {}\n",
            "a".repeat(1 << 20)
        ),
    )
    .unwrap();
    let err = agent.fails(&["deploy", big.to_str().unwrap()]);
    assert!(
        err.contains("big.yaml") && err.to_lowercase().contains("mib"),
        "{err}"
    );

    let git = dir.join("git.yaml");
    std::fs::write(
        &git,
        "version: 1\nname: nogit\nartifacts:\n- name: web\n  artifact_type: heroku\n  content:\n    href: file:///nonexistent/repo.git\n",
    )
    .unwrap();
    let err = agent.fails(&["deploy", git.to_str().unwrap()]);
    assert!(err.contains("/nonexistent/repo.git"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line expected: {err}");

    // No Docker engine: one line, no backtrace.
    let out = Command::new(env!("CARGO_BIN_EXE_solum-agent"))
        .args(["--state-dir", dir.to_str().unwrap(), "status"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("cannot reach the Docker engine"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

fn images_labelled(label: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["images", "-q", "--filter", &format!("label={label}")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Issue 11, reproduction 8: `destroy` removed only the current release's image, and an app
/// whose deploys all failed was "no app named X" though its images existed.
#[test]
fn destroy_removes_every_image_of_the_app_even_after_failed_deploys() {
    let mut agent = new_agent();
    let name = unique_name("destroy");
    let dir = agent.state.path().join("src");
    let planfile = write_app(&dir, &name, free_port(), "one");
    agent.deploy_json(&planfile);
    std::fs::write(dir.join("message.txt"), "two").unwrap();
    agent.deploy_json(&planfile);
    let label = format!("solum.app={name}");
    assert!(
        images_labelled(&label).len() >= 2,
        "two releases, two images"
    );
    agent.ok(&["destroy", &name]);
    assert_eq!(images_labelled(&label), Vec::<String>::new());

    // Built, then refused by its unit test: an image and no release.
    let failed = unique_name("failed");
    let dir = agent.state.path().join("src-failed");
    let planfile = write_app(&dir, &failed, free_port(), "x");
    let text = std::fs::read_to_string(&planfile).unwrap();
    std::fs::write(&planfile, format!("{text}  unittest_cmd: exit 3\n")).unwrap();
    agent.apps.push(failed.clone());
    agent.fails(&["deploy", planfile.to_str().unwrap()]);
    let label = format!("solum.app={failed}");
    assert!(!images_labelled(&label).is_empty());
    agent.ok(&["destroy", &failed]);
    assert_eq!(images_labelled(&label), Vec::<String>::new());
    let err = agent.fails(&["destroy", &failed]);
    assert!(err.contains(&format!("no app named {failed}")), "{err}");
}

/// Issue 11, reproduction 8: `status` printed http://172.17.0.1:PORT/ (Docker's bridge) for an
/// app bound to 127.0.0.1, and failed on a read-only state directory.
#[test]
fn status_url_answers_and_status_works_on_a_read_only_state_directory() {
    let mut agent = new_agent();
    let name = unique_name("url");
    let port = free_port();
    let dir = agent.state.path().join("src");
    let planfile = write_app(&dir, &name, port, "here");
    agent.deploy_json(&planfile);
    // Without --bind-address: the URL comes from where the app is bound.
    let state = agent.state.path().to_str().unwrap().to_string();
    let out = run_ok(
        Command::new(env!("CARGO_BIN_EXE_solum-agent"))
            .args(["--state-dir", &state, "status", &name, "--json"])
            .env_remove("SOLUM_AGENT_CONFIG"),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let url = v["apps"][0]["urls"][0].as_str().unwrap().to_string();
    assert_eq!(url, format!("http://127.0.0.1:{port}/"));
    assert_eq!(
        wait_http(&url, Duration::from_secs(5)).unwrap().body,
        "here"
    );

    // The state directory mounted read-only, in a mount namespace of its own.
    solum_tests::require_root();
    let script = format!(
        "mount --bind -o ro \"$1\" \"$1\" && exec {} --state-dir \"$1\" status {name}",
        env!("CARGO_BIN_EXE_solum-agent")
    );
    let out = Command::new("unshare")
        .args([
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            &script,
            "sh",
            &state,
        ])
        .env_remove("SOLUM_AGENT_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&url), "{stdout}");
}

/// Issue 11, reproduction 8: a killed deploy left its `work/deploy-*` directory behind for
/// good. The next start of the agent removes it (and never one of a deploy still running).
#[test]
fn killed_deploy_work_directory_is_swept_at_the_next_start() {
    let mut agent = new_agent();
    let name = unique_name("killed");
    let dir = agent.state.path().join("src");
    let planfile = write_app(&dir, &name, free_port(), "x");
    agent.apps.push(name.clone());
    let work = agent.state.path().join("apps").join(&name).join("work");
    let mut child = Command::new(env!("CARGO_BIN_EXE_solum-agent"))
        .args(["--state-dir", agent.state.path().to_str().unwrap()])
        .args([
            "--bind-address",
            "127.0.0.1",
            "deploy",
            planfile.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let left = loop {
        let found: Vec<PathBuf> = std::fs::read_dir(&work)
            .map(|r| r.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        if !found.is_empty() {
            break found;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no work directory appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(left.iter().all(|d| d.exists()), "{left:?}");
    agent.ok(&["status"]);
    let after: Vec<PathBuf> = std::fs::read_dir(&work)
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(after.is_empty(), "left behind: {after:?}");
}

#[test]
fn procfile_release_phase_runs_before_the_switch_and_its_failure_keeps_the_old_release() {
    let mut agent = new_agent();
    let name = unique_name("relph");
    let port = free_port();
    let dir = agent.state.path().join("src");
    let planfile = write_app(&dir, &name, port, "v1");
    // The release phase runs in the built image with the app's environment; a worker that
    // finishes its work (exit 0) is not a crash.
    std::fs::write(
        dir.join("Procfile"),
        "web: python3 app.py\nrelease: echo release-phase-of-$(cat message.txt) on port $PORT\nworker: echo worker-done; exit 0\n",
    )
    .unwrap();
    let out = agent.cmd(&["deploy", planfile.to_str().unwrap()]);
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains(&format!("release | release-phase-of-v1 on port {port}")),
        "{log}"
    );
    let url = format!("http://127.0.0.1:{port}/");
    assert_eq!(wait_http(&url, Duration::from_secs(10)).unwrap().body, "v1");
    agent.apps.push(name.clone());
    let status: serde_json::Value =
        serde_json::from_str(&agent.ok(&["status", &name, "--json"])).unwrap();
    let app = &status["apps"][0];
    assert_eq!(app["state"], "DEPLOYMENT_COMPLETE", "{status}");
    let processes: Vec<(String, String)> = app["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["process"].as_str().unwrap().to_string(),
                p["health"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        !processes.iter().any(|(p, _)| p == "release"),
        "release is never a process: {processes:?}"
    );
    assert!(
        processes.contains(&("worker".to_string(), "completed".to_string())),
        "{processes:?}"
    );

    // A release phase that fails: the new version never serves, the error carries its output.
    std::fs::write(dir.join("message.txt"), "v2").unwrap();
    std::fs::write(
        dir.join("Procfile"),
        "web: python3 app.py\nrelease: echo migration-failed-for-$(cat message.txt); exit 5\n",
    )
    .unwrap();
    let err = agent.fails(&["deploy", planfile.to_str().unwrap()]);
    assert!(
        err.contains("release phase of")
            && err.contains("exited with code 5")
            && err.contains("migration-failed-for-v2"),
        "{err}"
    );
    assert_eq!(http_get(&url, Duration::from_secs(5)).unwrap().body, "v1");
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(agent.state.path().join(format!("apps/{name}/app.json"))).unwrap(),
    )
    .unwrap();
    assert!(
        record["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("migration-failed-for-v2")),
        "{record}"
    );
    let id = agent.agent_id();
    let left: Vec<String> = docker_containers(&[&format!("solum.agent={id}")]);
    let names = Command::new("docker")
        .args(["inspect", "-f", "{{.Name}}"])
        .args(&left)
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&names.stdout);
    assert!(
        !names.contains("release") && names.lines().count() == 3,
        "v1's web and worker and the supervisor only: {names}"
    );
}

/// Every container a deploy makes (build, assemble, unit test, release, supervisor) carries
/// `solum.agent=<agent id>` and `solum.app` (the app; empty on the supervisor), seen in the
/// engine's own record of each creation.
#[test]
fn every_container_of_a_deploy_carries_the_agent_and_the_app() {
    let mut agent = new_agent();
    let name = unique_name("lab");
    let planfile = write_app(
        &agent.state.path().join("src"),
        &name,
        free_port(),
        "labels",
    );
    let text = std::fs::read_to_string(&planfile).unwrap();
    std::fs::write(&planfile, format!("{text}  unittest_cmd: echo ok\n")).unwrap();
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 1;
    let mut events = Command::new("docker")
        .args([
            "events",
            "--since",
            &since.to_string(),
            "--filter",
            "type=container",
            "--filter",
            "event=create",
            "--format",
            "{{json .Actor.Attributes}}",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("running docker events");
    agent.deploy_json(&planfile);
    // The engine has written every creation by now; give the stream a moment to carry it.
    std::thread::sleep(Duration::from_secs(2));
    let _ = events.kill();
    let out = events.wait_with_output().expect("docker events output");
    let id = agent.agent_id();
    let supervisor = format!("solum-supervisor-{id}");
    let mut roles = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let attrs: serde_json::Value = serde_json::from_str(line).unwrap();
        let cname = attrs["name"].as_str().unwrap_or_default();
        if !cname.contains(&name) && cname != supervisor {
            continue;
        }
        assert_eq!(attrs["solum.agent"], id.as_str(), "{cname}: {attrs}");
        let app = if cname == supervisor {
            ""
        } else {
            name.as_str()
        };
        assert_eq!(attrs["solum.app"], app, "{cname}: {attrs}");
        let role = attrs["solum.role"]
            .as_str()
            .or(attrs["solum.process"].as_str())
            .unwrap_or(if cname.starts_with("solum-assemble-") {
                "assemble"
            } else {
                "?"
            });
        roles.push(role.to_string());
    }
    roles.sort();
    roles.dedup();
    // The supervisor is made by the deploy of a fresh agent.
    assert_eq!(
        roles,
        ["assemble", "build", "supervisor", "unittest", "web"],
        "containers seen: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Names of the agent's containers of `app`'s process type `process`.
fn process_containers(agent: &AgentCli, app: &str, process: &str) -> Vec<String> {
    docker_containers(&[
        &format!("solum.agent={}", agent.agent_id()),
        &format!("solum.app={app}"),
        &format!("solum.process={process}"),
    ])
}

#[test]
fn changing_the_instance_count_scales_without_building() {
    let mut agent = new_agent();
    let name = unique_name("sc");
    let port = free_port();
    // The Planfile inside its own source (`href: .`), as apps usually carry it: it is left
    // out of the build key, so editing `instances` in it is not a new build.
    let app_dir = agent.state.path().join("project");
    let planfile = write_app(&app_dir, &name, port, "scaled");
    let write_plan = |n: u16| {
        std::fs::write(
            &planfile,
            format!(
                "version: 1\nname: {name}\nartifacts:\n- name: web\n  artifact_type: heroku\n  content:\n    href: .\n  language_pack: auto\n  ports: {port}\n  instances: {n}\n"
            ),
        )
        .unwrap();
    };
    write_plan(3);
    let first = agent.deploy_json(&planfile);
    assert_eq!(first["apps"][0]["cached"], false, "{first}");
    let release = first["apps"][0]["release"].clone();
    assert_eq!(process_containers(&agent, &name, "web").len(), 3);
    let url = url_of(&first);
    assert_eq!(
        wait_http(&url, Duration::from_secs(5)).unwrap().body,
        "scaled"
    );
    let images = images_labelled(&format!("solum.app={name}"));

    for n in [1usize, 2] {
        write_plan(n as u16);
        let t = Instant::now();
        let v = agent.deploy_json(&planfile);
        let app = &v["apps"][0];
        assert_eq!(
            (&app["cached"], &app["unchanged"], &app["release"]),
            (
                &serde_json::json!(true),
                &serde_json::json!(false),
                &release
            ),
            "a scale to {n}: no build, same release: {v}"
        );
        assert_eq!(app["state"], "DEPLOYMENT_COMPLETE", "{v}");
        assert_eq!(
            process_containers(&agent, &name, "web").len(),
            n,
            "{:?}",
            process_containers(&agent, &name, "web")
        );
        assert_eq!(
            http_get(&url, Duration::from_secs(5)).unwrap().body,
            "scaled"
        );
        eprintln!("scaled to {n} in {:?}", t.elapsed());
    }
    assert_eq!(images_labelled(&format!("solum.app={name}")), images);
    let again = agent.deploy_json(&planfile);
    assert_eq!(again["apps"][0]["unchanged"], true, "{again}");
    let status = agent.ok(&["status", &name, "--json"]);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    let instances: Vec<&serde_json::Value> = status["apps"][0]["processes"]
        .as_array()
        .unwrap_or_else(|| panic!("{status}"))
        .iter()
        .map(|p| &p["instance"])
        .collect();
    assert_eq!(
        instances,
        [&serde_json::json!(1), &serde_json::json!(2)],
        "{status}"
    );
}
