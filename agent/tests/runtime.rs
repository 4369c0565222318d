//! The runtime against the real Docker engine: releases behind the supervisor's proxy, the
//! zero-downtime switch, health failures, restarts, stop/start/destroy, status and logs.
//! Every test has its own state dir (so its own agent id, which labels and names everything
//! it creates) and removes its containers (supervisor included) and test image at the end,
//! also when it fails.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::query_parameters::BuildImageOptions;
use bollard::Docker;
use futures_util::StreamExt;
use solum_agent::runtime::{
    AppState, HealthConfig, LogForm, PublicAddr, ReleaseSpec, Runtime, RuntimeError,
    RuntimeSettings,
};
use solum_agent::state::StateDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const APP_PY: &str = r#"
import http.server, os, socket
port = int(os.environ["PORT"])
msg = os.environ.get("MESSAGE", "hello")
failing = {"on": False}
def stored():
    # The value in the test's store (STORE=host:port), as an app reads its database.
    host, p = os.environ["STORE"].rsplit(":", 1)
    s = socket.create_connection((host, int(p)), timeout=5)
    s.sendall(b"GET")
    s.shutdown(socket.SHUT_WR)
    return s.makefile("rb").read().decode()
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        if self.path == "/vanish":
            os._exit(3)
        self.do_GET()
    def do_GET(self):
        if self.path == "/vanish":
            # The instance dies with the request unanswered.
            os._exit(3)
        if self.path == "/fail":
            failing["on"] = True
        body = msg.encode()
        if self.path == "/host":
            body = socket.gethostname().encode()
        if "STORE" in os.environ:
            body = (msg + " store=" + stored()).encode()
        self.send_response(500 if failing["on"] else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
print("listening on", port, flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", port), H).serve_forever()
"#;

/// One test's world: state dir, runtime, test image; cleans up Docker on drop.
struct World {
    docker: Docker,
    dir: tempfile::TempDir,
    runtime: Runtime,
    agent: String,
    image: String,
    port: u16,
}

impl World {
    async fn new() -> World {
        World::with_health(health(Duration::from_secs(30))).await
    }

    async fn with_health(health: HealthConfig) -> World {
        let docker = solum_agent::docker::connect()
            .await
            .unwrap_or_else(|e| panic!("these tests need the Docker engine: {e}"));
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        let runtime = Runtime::new(docker.clone(), state, settings(health)).unwrap();
        let agent = runtime.agent_id().to_string();
        let image = format!("solum-rttest-{agent}:app");
        let world = World {
            docker,
            dir,
            runtime,
            agent,
            image,
            port: free_port(),
        };
        build_image(&world.docker, &world.image).await;
        world
    }

    /// Another runtime on the same state dir (same agent id) with another health policy.
    fn runtime_with(&self, health: HealthConfig) -> Runtime {
        let state = StateDir::open(self.dir.path()).unwrap();
        Runtime::new(self.docker.clone(), state, settings(health)).unwrap()
    }

    fn spec(&self, release: &str, message: &str) -> ReleaseSpec {
        ReleaseSpec {
            app: "shop".into(),
            release: release.into(),
            image: self.image.clone(),
            processes: BTreeMap::from([("web".to_string(), None)]),
            ports: vec![self.port],
            env: BTreeMap::from([("MESSAGE".to_string(), message.to_string())]),
            release_command: None,
            instances: BTreeMap::new(),
        }
    }

    /// Another runtime on the same state dir whose release phase may run `secs` seconds.
    fn runtime_with_release_timeout(&self, secs: u64) -> Runtime {
        let state = StateDir::open(self.dir.path()).unwrap();
        let mut s = settings(health(Duration::from_secs(30)));
        s.release_timeout = Duration::from_secs(secs);
        Runtime::new(self.docker.clone(), state, s).unwrap()
    }

    /// Another runtime on the same state dir that mounts `binary` into the supervisor.
    fn runtime_with_binary(&self, binary: &Path) -> Runtime {
        let state = StateDir::open(self.dir.path()).unwrap();
        let mut s = settings(health(Duration::from_secs(30)));
        s.agent_binary = binary.to_path_buf();
        Runtime::new(self.docker.clone(), state, s).unwrap()
    }

    /// Names of our containers (any state).
    fn containers(&self) -> Vec<String> {
        solum_tests::docker_containers(&[&format!("solum.agent={}", self.agent)])
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let names = self.containers();
        if !names.is_empty() {
            let _ = std::process::Command::new("docker")
                .args(["rm", "-f", "-v"])
                .args(&names)
                .output();
        }
        let _ = std::process::Command::new("docker")
            .args(["rmi", "-f", &self.image])
            .output();
    }
}

fn health(start_timeout: Duration) -> HealthConfig {
    HealthConfig {
        start_timeout,
        interval: Duration::from_millis(500),
        timeout: Duration::from_secs(1),
        failures: 2,
        path: "/".into(),
    }
}

fn settings(health: HealthConfig) -> RuntimeSettings {
    RuntimeSettings {
        public: PublicAddr(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        health,
        agent_binary: env!("CARGO_BIN_EXE_solum-agent").into(),
        run_image: "solum/stack-run:bookworm".into(),
        release_timeout: Duration::from_secs(60),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn build_image(docker: &Docker, tag: &str) {
    let mut tar = tar::Builder::new(Vec::new());
    let dockerfile = "FROM solum/stack-run:bookworm\nCOPY app.py /app.py\nCMD [\"python3\", \"-u\", \"/app.py\"]\n";
    for (name, body) in [("Dockerfile", dockerfile), ("app.py", APP_PY)] {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, body.as_bytes()).unwrap();
    }
    let bytes = tar.into_inner().unwrap();
    let opts = BuildImageOptions {
        t: Some(tag.into()),
        rm: true,
        forcerm: true,
        ..Default::default()
    };
    let mut stream = docker.build_image(opts, None, Some(bollard::body_full(bytes.into())));
    while let Some(item) = stream.next().await {
        let info = item.unwrap_or_else(|e| panic!("building {tag}: {e}"));
        if let Some(err) = info.error {
            panic!("building {tag}: {err}");
        }
    }
}

/// HTTP/1.0 GET on 127.0.0.1:port: (status, body) or the I/O error.
async fn get(port: u16, path: &str) -> Result<(u16, String), String> {
    request(port, "GET", path).await
}

async fn request(port: u16, method: &str, path: &str) -> Result<(u16, String), String> {
    let work = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        s.write_all(
            format!("{method} {path} HTTP/1.0\r\nHost: x\r\nContent-Length: 0\r\n\r\n").as_bytes(),
        )
        .await
        .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf)
            .await
            .map_err(|e| format!("read: {e}"))?;
        let text = String::from_utf8_lossy(&buf).to_string();
        let code = text
            .get(9..12)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("bad response {text:?}"))?;
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Ok((code, body))
    };
    tokio::time::timeout(Duration::from_secs(5), work)
        .await
        .unwrap_or_else(|_| Err("timeout".into()))
}

/// Polls until `get` returns `want` (status 200 and that body), or panics after `secs`.
async fn wait_for_body(port: u16, want: &str, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut last = Err(String::new());
    while Instant::now() < deadline {
        last = get(port, "/").await;
        if matches!(&last, Ok((200, b)) if b == want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("port {port} never answered 200 {want:?}; last: {last:?}");
}

fn progress() -> impl FnMut(&str) + Send {
    |m: &str| eprintln!("progress: {m}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn releases_switch_without_refused_connections_and_bad_releases_roll_back() {
    let w = World::new().await;
    let st = w
        .runtime
        .release(&w.spec("v1", "one"), &mut progress())
        .await
        .unwrap();
    assert_eq!(st.state, AppState::DeploymentComplete, "{st:?}");
    assert_eq!(st.urls, [format!("http://127.0.0.1:{}/", w.port)]);
    assert_eq!(get(w.port, "/").await, Ok((200, "one".into())));

    // A client hitting the public port every 10 ms during the switch.
    let stop = Arc::new(AtomicBool::new(false));
    let port = w.port;
    let client = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                seen.push(get(port, "/").await);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            seen
        }
    });
    let st = w
        .runtime
        .release(&w.spec("v2", "two"), &mut progress())
        .await
        .unwrap();
    assert_eq!(
        (st.state, st.release.as_deref()),
        (AppState::DeploymentComplete, Some("v2"))
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let seen = client.await.unwrap();
    let bad: Vec<_> = seen
        .iter()
        .filter(|r| !matches!(r, Ok((200, b)) if b == "one" || b == "two"))
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {} requests failed during the switch: {bad:?}",
        bad.len(),
        seen.len()
    );
    assert!(
        seen.len() > 20,
        "the client ran during the switch ({} requests)",
        seen.len()
    );
    assert!(matches!(seen.last(), Some(Ok((200, b))) if b == "two"));
    let v1 = format!("solum-{}-shop-v1-web", w.agent);
    assert!(
        !w.containers().contains(&v1),
        "old release removed: {:?}",
        w.containers()
    );

    // v3 never binds its port: unhealthy, removed, v2 keeps serving.
    let quick = w.runtime_with(health(Duration::from_secs(3)));
    let mut v3 = w.spec("v3", "three");
    v3.processes
        .insert("web".into(), Some("exec sleep 600".into()));
    let err = quick.release(&v3, &mut progress()).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, RuntimeError::Unhealthy { .. }), "{msg}");
    assert!(msg.contains("does not answer HTTP on port"), "{msg}");
    assert_eq!(get(w.port, "/").await, Ok((200, "two".into())));
    assert!(
        !w.containers().iter().any(|n| n.contains("-v3-")),
        "{:?}",
        w.containers()
    );

    // v4 crashes at once: the exit code and its output are in the error.
    let mut v4 = w.spec("v4", "four");
    v4.processes
        .insert("web".into(), Some("echo boom-$MESSAGE; exit 3".into()));
    let msg = quick
        .release(&v4, &mut progress())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("exited with code 3") && msg.contains("boom-four"),
        "{msg}"
    );
    assert_eq!(get(w.port, "/").await, Ok((200, "two".into())));

    // Status and logs of the serving release.
    let all = w.runtime.status(None).await.unwrap();
    assert_eq!(all.len(), 1);
    let v = serde_json::to_value(&all[0]).unwrap();
    assert_eq!(v["app"], "shop");
    assert_eq!(v["state"], "DEPLOYMENT_COMPLETE");
    assert_eq!(v["release"], "v2");
    assert_eq!(v["image"], w.image.as_str());
    assert_eq!(v["urls"][0], format!("http://127.0.0.1:{}/", w.port));
    assert_eq!(v["processes"][0]["process"], "web");
    assert_eq!(v["processes"][0]["docker_state"], "running");
    assert_eq!(
        v["processes"][0]["container"],
        format!("solum-{}-shop-v2-web", w.agent)
    );
    assert!(
        v["restarts"].is_u64() && v.get("last_error").is_some(),
        "{v}"
    );
    let mut out = Vec::new();
    w.runtime
        .logs("shop", false, LogForm::Text, &mut out)
        .await
        .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.contains(&format!("web | listening on {}", w.port)),
        "{out}"
    );
    assert!(matches!(
        w.runtime.status(Some("nope")).await,
        Err(RuntimeError::NoSuchApp(_))
    ));

    w.runtime.destroy("shop").await.unwrap();
    assert_eq!(w.containers(), [format!("solum-supervisor-{}", w.agent)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_container_comes_back_and_serves_again() {
    let w = World::new().await;
    w.runtime
        .release(&w.spec("v1", "one"), &mut progress())
        .await
        .unwrap();
    let web = format!("solum-{}-shop-v1-web", w.agent);
    solum_tests::run_ok(std::process::Command::new("docker").args(["kill", &web]));
    wait_for_body(w.port, "one", 30).await;
    // The proxy keeps half-closed connections: request sent, write side shut, answer read.
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", w.port))
        .await
        .unwrap();
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    s.shutdown().await.unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.0 200") && answer.ends_with("one"),
        "{answer}"
    );
    let st = w.runtime.status(Some("shop")).await.unwrap();
    assert!(st[0].restarts >= 1, "{st:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unhealthy_app_is_restarted_by_the_supervisor() {
    let w = World::new().await;
    w.runtime
        .release(&w.spec("v1", "one"), &mut progress())
        .await
        .unwrap();
    // From now on the app answers 500 until restarted.
    assert_eq!(get(w.port, "/fail").await, Ok((500, "one".into())));
    let deadline = Instant::now() + Duration::from_secs(30);
    let record = loop {
        let text = std::fs::read_to_string(w.root().join("health/shop.json")).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if v["restarts"].as_u64().unwrap_or(0) >= 1 && v["state"] == "healthy" {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "no restart by the supervisor: {text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(record["restart_reason"], "health check answered HTTP 500");
    assert_eq!(record["release"], "v1");
    assert_eq!(get(w.port, "/").await, Ok((200, "one".into())));
    let st = &w.runtime.status(Some("shop")).await.unwrap()[0];
    assert_eq!(st.state, AppState::DeploymentComplete);
    assert!(st.restarts >= 1, "{st:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_start_destroy_and_adoption() {
    let w = World::new().await;
    let spec = w.spec("v1", "one");
    let first = w.runtime.release(&spec, &mut progress()).await.unwrap();
    // The same release again (e.g. a restarted agent): adopted, no duplicate.
    let again = w.runtime.release(&spec, &mut progress()).await.unwrap();
    let names = |st: &solum_agent::runtime::AppStatus| {
        st.processes
            .iter()
            .map(|p| p.container.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&first), names(&again));
    assert_eq!(
        w.containers().len(),
        2,
        "web + supervisor: {:?}",
        w.containers()
    );

    w.runtime.stop("shop").await.unwrap();
    let st = &w.runtime.status(Some("shop")).await.unwrap()[0];
    assert_eq!(
        (st.state, st.processes[0].docker_state.as_str()),
        (AppState::Stopped, "exited")
    );
    assert!(st.urls.is_empty());
    assert!(
        get(w.port, "/").await.is_err(),
        "public port closed while stopped"
    );

    let st = w.runtime.start("shop").await.unwrap();
    assert_eq!(st.state, AppState::DeploymentComplete, "{st:?}");
    assert_eq!(get(w.port, "/").await, Ok((200, "one".into())));

    w.runtime.destroy("shop").await.unwrap();
    assert_eq!(w.containers(), [format!("solum-supervisor-{}", w.agent)]);
    assert!(matches!(
        w.runtime.status(Some("shop")).await,
        Err(RuntimeError::NoSuchApp(_))
    ));
    assert!(matches!(
        w.runtime.destroy("shop").await,
        Err(RuntimeError::NoSuchApp(_))
    ));
    assert!(w.runtime.status(None).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_port_held_by_someone_else_is_refused() {
    let w = World::new().await;
    let holder = std::net::TcpListener::bind(("127.0.0.1", w.port)).unwrap();
    let err = w
        .runtime
        .release(&w.spec("v1", "one"), &mut progress())
        .await
        .unwrap_err();
    assert!(
        matches!(err, RuntimeError::PortInUse { port, .. } if port == w.port),
        "{err}"
    );
    assert!(
        !w.containers().iter().any(|n| n.contains("-shop-")),
        "{:?}",
        w.containers()
    );
    drop(holder);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_processes_get_no_ports_and_must_keep_running() {
    let w = World::new().await;
    let mut spec = w.spec("v1", "one");
    spec.processes.insert(
        "worker".into(),
        Some("echo working; echo on-stderr >&2; exec sleep 600".into()),
    );
    let st = w.runtime.release(&spec, &mut progress()).await.unwrap();
    let names: Vec<(&str, &str)> = st
        .processes
        .iter()
        .map(|p| (p.process.as_str(), p.health.as_str()))
        .collect();
    assert_eq!(names.len(), 2);
    assert_eq!(names[1], ("worker", "unchecked"));
    let worker = format!("solum-{}-shop-v1-worker", w.agent);
    let out = std::process::Command::new("docker")
        .args(["port", &worker])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).trim().is_empty(),
        "worker has no published ports"
    );
    let mut out = Vec::new();
    w.runtime
        .logs("shop", false, LogForm::Text, &mut out)
        .await
        .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("worker | working"), "{out}");
    assert!(out.contains("worker | on-stderr"), "{out}");
    // `logs --json`: one object per line, with its process, container, stream and time.
    let mut out = Vec::new();
    w.runtime
        .logs("shop", false, LogForm::Json, &mut out)
        .await
        .unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let find = |message: &str| {
        lines
            .iter()
            .find(|l| l["message"] == message)
            .unwrap_or_else(|| panic!("no line {message:?} in {lines:?}"))
    };
    let err = find("on-stderr");
    assert_eq!(err["app"], "shop");
    assert_eq!(err["process"], "worker");
    assert_eq!(err["container"], worker.as_str());
    assert_eq!(err["stream"], "stderr");
    let ts = err["timestamp"].as_str().unwrap();
    assert!(ts.starts_with("20") && ts.ends_with('Z'), "{ts}");
    assert_eq!(find("working")["stream"], "stdout");
    let web = find(&format!("listening on {}", w.port));
    assert_eq!(web["process"], "web");
    assert_eq!(web["container"], format!("solum-{}-shop-v1-web", w.agent));

    // A worker that finishes its work (exit 0) is not a crash and is not restarted.
    let mut done = w.spec("v3", "three");
    done.processes.insert(
        "worker".into(),
        Some("echo finished-$MESSAGE; exit 0".into()),
    );
    let st = w.runtime.release(&done, &mut progress()).await.unwrap();
    assert_eq!(st.state, AppState::DeploymentComplete, "{st:?}");
    let worker = format!("solum-{}-shop-v3-worker", w.agent);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        docker_cli(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}",
            &worker
        ]),
        "exited 0 0"
    );
    let id = docker_cli(&["inspect", "-f", "{{.Id}}", &worker]);
    let st = w.runtime.status(Some("shop")).await.unwrap().remove(0);
    assert_eq!(st.state, AppState::DeploymentComplete, "{st:?}");
    assert_eq!(st.processes[1].health, "completed", "{st:?}");
    assert_eq!(st.last_error, None);
    // Released again: already serving, nothing restarted.
    w.runtime.release(&done, &mut progress()).await.unwrap();
    assert_eq!(docker_cli(&["inspect", "-f", "{{.Id}}", &worker]), id);
    assert_eq!(
        docker_cli(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.RestartCount}}",
            &worker
        ]),
        "exited 0"
    );
    assert_eq!(get(w.port, "/").await, Ok((200, "three".into())));

    let mut bad = w.spec("v2", "two");
    bad.processes
        .insert("worker".into(), Some("echo dying; exit 7".into()));
    let msg = w
        .runtime
        .release(&bad, &mut progress())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("worker container exited with code 7") && msg.contains("dying"),
        "{msg}"
    );
    assert_eq!(get(w.port, "/").await, Ok((200, "three".into())));
}

/// A tiny database for the release-phase test, on the Docker bridge's gateway address (where
/// containers reach the host): a connection sends `SET value` or anything else, then closes
/// its side, and gets the value back. At each SET it first records what the app's public
/// port answers, so the test sees what served while the release phase ran.
struct Store {
    addr: String,
    seen_at_set: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Store {
    fn start(public_port: u16) -> Store {
        // The bridge's gateway, or (when the engine does not list it) its subnet's first address.
        let ipam = docker_cli(&[
            "network",
            "inspect",
            "bridge",
            "-f",
            "{{(index .IPAM.Config 0).Gateway}} {{(index .IPAM.Config 0).Subnet}}",
        ]);
        let gateway = match ipam.split_whitespace().collect::<Vec<_>>()[..] {
            [gw, _] => gw.to_string(),
            [subnet] => {
                let net: Ipv4Addr = subnet.split('/').next().unwrap().parse().unwrap();
                Ipv4Addr::from(u32::from(net) + 1).to_string()
            }
            _ => panic!("docker network inspect bridge: {ipam:?}"),
        };
        let listener = std::net::TcpListener::bind((gateway.as_str(), 0))
            .unwrap_or_else(|e| panic!("binding the store on {gateway}: {e}"));
        let addr = format!("{gateway}:{}", listener.local_addr().unwrap().port());
        let value = Arc::new(std::sync::Mutex::new(String::new()));
        let seen_at_set = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = seen_at_set.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let (value, seen) = (value.clone(), seen.clone());
                std::thread::spawn(move || {
                    use std::io::{Read, Write};
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                    let mut text = String::new();
                    if conn.read_to_string(&mut text).is_err() {
                        return;
                    }
                    if let Some(new) = text.strip_prefix("SET ") {
                        let answer = solum_tests::http_get(
                            &format!("http://127.0.0.1:{public_port}/"),
                            Duration::from_secs(5),
                        )
                        .map(|r| r.body)
                        .unwrap_or_else(|e| format!("no answer: {e}"));
                        seen.lock().unwrap().push(answer);
                        *value.lock().unwrap() = new.trim().to_string();
                    }
                    let now = value.lock().unwrap().clone();
                    let _ = conn.write_all(now.as_bytes());
                });
            }
        });
        Store { addr, seen_at_set }
    }

    fn seen(&self) -> Vec<String> {
        self.seen_at_set.lock().unwrap().clone()
    }
}

/// The release command of the test: stores `$MESSAGE` as a migration would.
const MIGRATE: &str = r#"python3 -c 'import os, socket
h, p = os.environ["STORE"].rsplit(":", 1)
s = socket.create_connection((h, int(p)), timeout=10)
s.sendall(("SET " + os.environ["MESSAGE"]).encode())
s.shutdown(socket.SHUT_WR)
print("migrated to", s.makefile().read())'"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_release_phase_runs_once_before_the_switch_and_its_failure_stops_the_release() {
    let w = World::new().await;
    let store = Store::start(w.port);
    let spec = |release: &str, message: &str, cmd: &str| {
        let mut s = w.spec(release, message);
        s.env.insert("STORE".into(), store.addr.clone());
        s.release_command = Some(cmd.to_string());
        s
    };
    w.runtime
        .release(&spec("v1", "one", MIGRATE), &mut progress())
        .await
        .unwrap();
    assert_eq!(get(w.port, "/").await, Ok((200, "one store=one".into())));

    // v2: its release phase ran while v1 still served (and before v2 started), with the
    // app's environment; v2 sees what it stored.
    let mut lines = Vec::new();
    let st = w
        .runtime
        .release(&spec("v2", "two", MIGRATE), &mut |l: &str| {
            lines.push(l.to_string())
        })
        .await
        .unwrap();
    assert_eq!(st.state, AppState::DeploymentComplete, "{st:?}");
    assert_eq!(get(w.port, "/").await, Ok((200, "two store=two".into())));
    assert_eq!(store.seen().len(), 2, "{:?}", store.seen());
    assert_eq!(store.seen()[1], "one store=one");
    let phase = lines
        .iter()
        .position(|l| l == "release | migrated to two")
        .unwrap_or_else(|| panic!("no release output in {lines:?}"));
    let started = lines
        .iter()
        .position(|l| l.starts_with("starting web"))
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert!(phase < started, "{lines:?}");
    assert!(
        !w.containers().iter().any(|n| n.contains("release")),
        "the one-off container is removed: {:?}",
        w.containers()
    );
    // Released again (same release): serving already, the phase is not run again.
    w.runtime
        .release(&spec("v2", "two", MIGRATE), &mut progress())
        .await
        .unwrap();
    assert_eq!(store.seen().len(), 2, "{:?}", store.seen());

    // v3's release phase fails: nothing of v3 starts, v2 keeps serving, the error has the
    // exit code and the end of the output.
    let err = w
        .runtime
        .release(
            &spec(
                "v3",
                "three",
                "echo migrating-$MESSAGE; echo oops >&2; exit 4",
            ),
            &mut progress(),
        )
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, RuntimeError::ReleasePhase { .. }), "{msg}");
    assert!(
        msg.contains("exited with code 4")
            && msg.contains("migrating-three")
            && msg.contains("oops")
            && msg.contains("previous one keeps serving"),
        "{msg}"
    );
    assert_eq!(get(w.port, "/").await, Ok((200, "two store=two".into())));
    assert!(
        !w.containers().iter().any(|n| n.contains("-v3")),
        "{:?}",
        w.containers()
    );

    // v4's release phase outlives the timeout: killed, the release stopped.
    let quick = w.runtime_with_release_timeout(2);
    let t0 = Instant::now();
    let msg = quick
        .release(
            &spec("v4", "four", "echo started; sleep 60"),
            &mut progress(),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("did not finish within 2 s") && msg.contains("started"),
        "{msg}"
    );
    assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
    assert_eq!(get(w.port, "/").await, Ok((200, "two store=two".into())));
    assert!(
        !w.containers().iter().any(|n| n.contains("-v4")),
        "{:?}",
        w.containers()
    );
    let st = w.runtime.status(Some("shop")).await.unwrap().remove(0);
    assert_eq!(
        (st.state, st.release.as_deref()),
        (AppState::DeploymentComplete, Some("v2"))
    );

    // What an agent killed during a release phase leaves: the next attempt replaces it, and
    // destroy removes it.
    let leftover = |name: &str| {
        docker_cli(&[
            "create",
            "--name",
            name,
            "--label",
            &format!("solum.agent={}", w.agent),
            "--label",
            "solum.role=release-phase",
            "--label",
            "solum.release-phase.app=shop",
            "solum/stack-run:bookworm",
            "true",
        ])
    };
    leftover(&format!("solum-{}-shop-v5--release", w.agent));
    w.runtime
        .release(&spec("v5", "five", MIGRATE), &mut progress())
        .await
        .unwrap();
    assert_eq!(get(w.port, "/").await, Ok((200, "five store=five".into())));
    leftover(&format!("solum-{}-shop-v6--release", w.agent));
    w.runtime.destroy("shop").await.unwrap();
    assert!(
        !w.containers().iter().any(|n| n.contains("shop")),
        "{:?}",
        w.containers()
    );
}

fn docker_cli(args: &[&str]) -> String {
    let out = std::process::Command::new("docker")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_supervisor_is_kept_current_and_picks_its_routes_up_again() {
    let w = World::new().await;
    let bin_dir = tempfile::tempdir().unwrap();
    let binary = bin_dir.path().join("solum-agent");
    std::fs::copy(env!("CARGO_BIN_EXE_solum-agent"), &binary).unwrap();
    let rt = w.runtime_with_binary(&binary);
    rt.release(&w.spec("v1", "one"), &mut progress())
        .await
        .unwrap();
    let sup = format!("solum-supervisor-{}", w.agent);
    let id = || docker_cli(&["inspect", "-f", "{{.Id}}", &sup]);
    let first = id();
    assert_eq!(
        docker_cli(&[
            "inspect",
            "-f",
            "{{.HostConfig.NetworkMode}} {{.HostConfig.RestartPolicy.Name}}",
            &sup
        ]),
        "host unless-stopped"
    );

    rt.ensure_supervisor().await.unwrap();
    assert_eq!(id(), first, "a current, running supervisor is kept");

    // A new agent binary (new file): the supervisor is recreated and serves the routes again.
    let fresh = bin_dir.path().join("solum-agent.new");
    std::fs::copy(env!("CARGO_BIN_EXE_solum-agent"), &fresh).unwrap();
    std::fs::rename(&fresh, &binary).unwrap();
    rt.ensure_supervisor().await.unwrap();
    let second = id();
    assert_ne!(second, first, "recreated for the new binary");
    wait_for_body(w.port, "one", 20).await;

    // Gone: made again.
    docker_cli(&["rm", "-f", &sup]);
    rt.ensure_supervisor().await.unwrap();
    assert_ne!(id(), second);
    wait_for_body(w.port, "one", 20).await;

    // Restarted by Docker (e.g. after a crash): reads its routes again.
    docker_cli(&["restart", "-t", "1", &sup]);
    wait_for_body(w.port, "one", 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followed_logs_end_when_the_app_stops() {
    let w = World::new().await;
    w.runtime
        .release(&w.spec("v1", "one"), &mut progress())
        .await
        .unwrap();
    let follower = w.runtime_with(health(Duration::from_secs(30)));
    let task = tokio::spawn(async move {
        let mut out = Vec::new();
        follower
            .logs("shop", true, LogForm::Text, &mut out)
            .await
            .map(|()| String::from_utf8(out).unwrap())
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!task.is_finished(), "follow keeps going while the app runs");
    w.runtime.stop("shop").await.unwrap();
    let out = tokio::time::timeout(Duration::from_secs(15), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        out.contains(&format!("web | listening on {}", w.port)),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_port_taken_while_the_supervisor_was_down_is_reported_and_retried() {
    let w = World::new().await;
    w.runtime
        .release(&w.spec("v1", "one"), &mut progress())
        .await
        .unwrap();
    let sup = format!("solum-supervisor-{}", w.agent);
    docker_cli(&["stop", "-t", "5", &sup]);
    let squatter = std::net::TcpListener::bind(("127.0.0.1", w.port)).unwrap();
    w.runtime.ensure_supervisor().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let st = loop {
        let st = w.runtime.status(Some("shop")).await.unwrap().remove(0);
        if st.state == AppState::Error {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "port conflict never reported: {st:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let err = st.last_error.unwrap_or_default();
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{}", w.port)),
        "{err}"
    );
    drop(squatter);
    // The supervisor retries the listener and the app serves again.
    wait_for_body(w.port, "one", 20).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while w.runtime.status(Some("shop")).await.unwrap()[0].state != AppState::DeploymentComplete {
        assert!(Instant::now() < deadline, "status never recovered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One request of a probing client: when it ended, and its answer.
type Probe = (Instant, Result<(u16, String), String>);

/// Hits `port` (path `path`) every 10 ms until `stop`: (time, result) of each request.
fn probe_every_10ms(
    port: u16,
    path: &'static str,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<Probe>> {
    tokio::spawn(async move {
        let mut seen = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let r = get(port, path).await;
            seen.push((Instant::now(), r));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        seen
    })
}

fn failures(seen: &[Probe]) -> Vec<&Result<(u16, String), String>> {
    seen.iter()
        .map(|(_, r)| r)
        .filter(|r| !matches!(r, Ok((200, _))))
        .collect()
}

/// The hostname (Docker's short container id) of a container.
fn hostname_of(container: &str) -> String {
    docker_cli(&["inspect", "-f", "{{.Config.Hostname}}", container])
}

fn web_instances(w: &World, release: &str) -> Vec<String> {
    let prefix = format!("solum-{}-shop-{release}-web", w.agent);
    w.containers()
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_share_the_port_and_a_killed_one_never_fails_a_request() {
    let w = World::new().await;
    let mut spec = w.spec("v1", "one");
    spec.instances.insert("web".into(), 3);
    let st = w.runtime.release(&spec, &mut progress()).await.unwrap();
    assert_eq!(st.state, AppState::DeploymentComplete, "{st:?}");
    let webs = web_instances(&w, "v1");
    let base = format!("solum-{}-shop-v1-web", w.agent);
    assert_eq!(
        webs,
        [base.clone(), format!("{base}.2"), format!("{base}.3")],
        "{:?}",
        w.containers()
    );
    let instances: Vec<u16> = st.processes.iter().map(|p| p.instance).collect();
    assert_eq!(instances, [1, 2, 3], "{st:?}");
    let hosts: Vec<String> = webs.iter().map(|c| hostname_of(c)).collect();

    let stop = Arc::new(AtomicBool::new(false));
    let client = probe_every_10ms(w.port, "/host", stop.clone());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let victim = &webs[1];
    docker_cli(&["kill", victim]);
    let killed_at = Instant::now();
    // Back: running again and answering on its own port (Docker's restart policy or the
    // supervisor), then some time for the supervisor to take it back into rotation.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state = docker_cli(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.RestartCount}}",
            victim,
        ]);
        if state.starts_with("running") && killed_at.elapsed() > Duration::from_millis(500) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{victim} never came back: {state}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let back_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(4)).await;
    stop.store(true, Ordering::Relaxed);
    let seen = client.await.unwrap();

    let bad = failures(&seen);
    assert!(
        bad.is_empty(),
        "{} of {} requests failed while an instance was killed: {bad:?}",
        bad.len(),
        seen.len()
    );
    assert!(seen.len() > 200, "the client ran ({} requests)", seen.len());
    let served = |host: &str, after: Option<Instant>| {
        seen.iter()
            .filter(|(t, r)| after.is_none_or(|a| *t > a) && matches!(r, Ok((_, b)) if b == host))
            .count()
    };
    for (c, h) in webs.iter().zip(&hosts) {
        assert!(served(h, None) > 0, "{c} ({h}) served nothing");
    }
    assert!(
        served(&hosts[1], Some(back_at)) > 0,
        "the restarted {victim} is back in rotation"
    );
    let other: usize = seen
        .iter()
        .filter(|(_, r)| !matches!(r, Ok((_, b)) if hosts.contains(b)))
        .count();
    assert_eq!(other, 0, "every answer came from one of the instances");

    // The supervisor's record has each instance, in rotation again.
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(w.root().join("health/shop.json")).unwrap()).unwrap();
    let rows = record["instances"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{record}");
    assert!(
        rows.iter()
            .all(|r| r["in_rotation"] == true && r["state"] == "healthy"),
        "{record}"
    );

    // A release switch with three instances on both sides refuses nothing.
    let stop = Arc::new(AtomicBool::new(false));
    let client = probe_every_10ms(w.port, "/", stop.clone());
    let mut v2 = w.spec("v2", "two");
    v2.instances.insert("web".into(), 3);
    let st = w.runtime.release(&v2, &mut progress()).await.unwrap();
    assert_eq!(
        (st.state, st.release.as_deref(), st.processes.len()),
        (AppState::DeploymentComplete, Some("v2"), 3),
        "{st:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let seen = client.await.unwrap();
    let bad: Vec<_> = seen
        .iter()
        .map(|(_, r)| r)
        .filter(|r| !matches!(r, Ok((200, b)) if b == "one" || b == "two"))
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {} requests failed during the switch: {bad:?}",
        bad.len(),
        seen.len()
    );
    assert!(seen.len() > 20, "the client ran ({} requests)", seen.len());
    assert!(matches!(seen.last(), Some((_, Ok((200, b)))) if b == "two"));
    assert!(web_instances(&w, "v1").is_empty(), "{:?}", w.containers());
    assert_eq!(web_instances(&w, "v2").len(), 3, "{:?}", w.containers());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scaling_the_running_release_starts_and_stops_instances_only() {
    let w = World::new().await;
    let mut spec = w.spec("v1", "one");
    spec.processes
        .insert("worker".into(), Some("exec sleep 600".into()));
    let scaled = |web: u16, worker: u16| {
        let mut s = spec.clone();
        s.instances = BTreeMap::from([("web".to_string(), web), ("worker".to_string(), worker)]);
        s
    };
    w.runtime
        .release(&scaled(3, 2), &mut progress())
        .await
        .unwrap();
    let workers = |w: &World| {
        w.containers()
            .into_iter()
            .filter(|n| n.contains("-shop-v1-worker"))
            .count()
    };
    assert_eq!(web_instances(&w, "v1").len(), 3);
    assert_eq!(workers(&w), 2, "{:?}", w.containers());
    let first_web = format!("solum-{}-shop-v1-web", w.agent);
    let id_before = docker_cli(&["inspect", "-f", "{{.Id}}", &first_web]);

    let stop = Arc::new(AtomicBool::new(false));
    let client = probe_every_10ms(w.port, "/", stop.clone());
    for (web, worker) in [(1, 1), (2, 3)] {
        let st = w
            .runtime
            .release(&scaled(web, worker), &mut progress())
            .await
            .unwrap();
        assert_eq!(
            (st.state, st.release.as_deref()),
            (AppState::DeploymentComplete, Some("v1")),
            "{st:?}"
        );
        assert_eq!(
            web_instances(&w, "v1").len(),
            usize::from(web),
            "{:?}",
            w.containers()
        );
        assert_eq!(workers(&w), usize::from(worker), "{:?}", w.containers());
        let routes: serde_json::Value =
            serde_json::from_slice(&std::fs::read(w.root().join("routes.json")).unwrap()).unwrap();
        assert_eq!(
            routes["apps"]["shop"]["instances"]
                .as_array()
                .unwrap()
                .len(),
            usize::from(web),
            "{routes}"
        );
        assert_eq!(st.processes.len(), usize::from(web + worker), "{st:?}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let seen = client.await.unwrap();
    let bad = failures(&seen);
    assert!(
        bad.is_empty(),
        "{} of {} requests failed while scaling: {bad:?}",
        bad.len(),
        seen.len()
    );
    assert_eq!(
        docker_cli(&["inspect", "-f", "{{.Id}}", &first_web]),
        id_before,
        "the first instance served throughout: never recreated"
    );
    assert!(
        !w.containers().iter().any(|n| n.contains("-v2-")),
        "no new release"
    );
    // A web instance that is down when the same release is deployed again is made again;
    // the others keep serving.
    let second = format!("{first_web}.2");
    docker_cli(&["stop", "-t", "0", &second]);
    let st = w
        .runtime
        .release(&scaled(2, 3), &mut progress())
        .await
        .unwrap();
    assert_eq!(st.state, AppState::DeploymentComplete, "{st:?}");
    assert_eq!(
        docker_cli(&["inspect", "-f", "{{.State.Status}}", &second]),
        "running"
    );
    assert_eq!(
        docker_cli(&["inspect", "-f", "{{.Id}}", &first_web]),
        id_before
    );
    let mut bad = w.spec("v1", "one");
    bad.instances.insert("web".into(), 0);
    let err = w.runtime.release(&bad, &mut progress()).await.unwrap_err();
    assert!(err.to_string().contains("give 1 to 64"), "{err}");
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// How many of this world's containers died since `since` (Unix seconds), from Docker's events.
fn deaths_since(w: &World, since: u64) -> usize {
    let until = unix_now() + 1;
    docker_cli(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &until.to_string(),
        "--filter",
        &format!("label=solum.agent={}", w.agent),
        "--filter",
        "event=die",
        "--format",
        "{{.Actor.Attributes.name}}",
    ])
    .lines()
    .filter(|l| !l.trim().is_empty())
    .count()
}

/// Waits until the app's instances are all running, healthy and in rotation again.
async fn wait_all_in_rotation(w: &World, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let record: serde_json::Value = std::fs::read(w.root().join("health/shop.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let rows = record["instances"].as_array().cloned().unwrap_or_default();
        if rows.len() == n
            && rows
                .iter()
                .all(|r| r["in_rotation"] == true && r["state"] == "healthy")
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "instances never all back: {record}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_post_an_instance_died_on_is_not_sent_again_a_get_is() {
    let w = World::new().await;
    let mut spec = w.spec("v1", "one");
    spec.instances.insert("web".into(), 2);
    let st = w.runtime.release(&spec, &mut progress()).await.unwrap();
    assert_eq!(st.state, AppState::DeploymentComplete, "{st:?}");
    wait_all_in_rotation(&w, 2).await;
    // Docker's event times are whole seconds: start each part on a fresh one.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let since = unix_now();
    // A POST the instance died on: it may have been processed, so it is not sent to the
    // other instance; the client sees the connection close without an answer.
    let r = request(w.port, "POST", "/vanish").await;
    assert!(
        matches!(&r, Err(e) if e.contains("bad response \"\"")),
        "{r:?}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        deaths_since(&w, since),
        1,
        "the POST reached one instance only"
    );
    // Both serve again afterwards.
    wait_all_in_rotation(&w, 2).await;
    assert_eq!(get(w.port, "/").await, Ok((200, "one".into())));

    // A GET is sent again to the other instance (which dies on it too: the documented
    // cost of a handler that never answers).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let since = unix_now();
    let r = get(w.port, "/vanish").await;
    assert!(r.is_err(), "{r:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        deaths_since(&w, since),
        2,
        "the GET was tried on both instances"
    );
    wait_all_in_rotation(&w, 2).await;
    assert_eq!(get(w.port, "/").await, Ok((200, "one".into())));
}
