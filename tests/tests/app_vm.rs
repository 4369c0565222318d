//! The app VM end to end: `solum-image build app-vm`, booted in qemu (TCG) with nothing but what
//! Nova and Heat give a server of heat/app-vm.yaml (a config drive with `meta_data.json` and
//! Heat's SOFTWARE_CONFIG user_data; the POLL_TEMP_URL metadata, TEMP_URL_SIGNAL signals, the
//! wait condition handle and the registrar played by the fixture at http://169.254.169.254),
//! the agent running with its shipped defaults. Nothing else is reachable from the guest.
//!
//! One VM lives through the whole story, as an operator's would:
//! 1. first boot, power cut while the first app builds;
//! 2. second boot: registration with the server's uuid, the script deployment (a file under
//!    /etc and an output), the Dockerfile app and the buildpack app answering through forwarded
//!    ports, each deployment signalled once with status 0, then the wait condition SUCCESS;
//!    ssh as `debian` with the key pair Heat named, the hostname from the metadata, the root
//!    file system grown;
//! 3. an UPDATE of the buildpack app (new source) served with no failed request while it
//!    switches, signalled once;
//! 4. a power cut and a third boot: both apps answer again without a rebuild, nothing applied
//!    or signalled again;
//! 5. no secret (TempURL signatures, tokens) on the consoles or in the agent's journal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use solum_tests::fixture::{Fixture, Request};
use solum_tests::heat::{self, Stack};
use solum_tests::vm::{self, Vm, VmSpec};
use solum_tests::{free_port, http_get, repo_root, require_docker, require_program, require_root};

const RELAY: &str = env!("CARGO_BIN_EXE_solum-relay");
const WAIT_TOKEN: &str = "wait-handle-token-0d1f2e3c4b5a";
const WEB_PORT: u16 = 80;
const API_PORT: u16 = 8080;

fn cache_dir() -> PathBuf {
    std::env::var_os("SOLUM_IMAGE_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/solum-image-test-cache"))
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The release binaries the image is built from and with (the element installs
/// target/release/solum-agent); cargo makes sure they are current.
fn release_binaries() -> (PathBuf, PathBuf) {
    let root = repo_root();
    run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(&root)
            .args([
                "build",
                "--release",
                "-q",
                "-p",
                "solum-agent",
                "-p",
                "solum-image",
            ]),
    );
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    (
        target.join("release/solum-image"),
        target.join("release/solum-agent"),
    )
}

/// `dir` as a gzipped tarball; returns (bytes, sha256 hex).
fn tarball(dir: &Path) -> (Vec<u8>, String) {
    let out = Command::new("tar")
        .args(["-czf", "-", "--owner=0", "--group=0", "-C"])
        .arg(dir)
        .arg(".")
        .output()
        .expect("tar");
    assert!(out.status.success(), "tar of {}", dir.display());
    let sum = hex(&Sha256::digest(&out.stdout));
    (out.stdout, sum)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The buildpack app's source at `version`.
fn web_source(dir: &Path, version: &str) -> PathBuf {
    let d = dir.join(format!("web-{version}"));
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("app.py"),
        format!(
            r#"import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY = ("web {version}: " + os.environ.get("GREETING", "?") + "\n").encode()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("", int(os.environ["PORT"])), Handler).serve_forever()
"#
        ),
    )
    .unwrap();
    d
}

struct Story {
    fixture: Fixture,
    stack: Stack,
    work: PathBuf,
    spec: VmSpec,
    key: PathBuf,
    ssh_port: u16,
    web_port: u16,
    api_port: u16,
    secrets: Vec<String>,
}

impl Story {
    fn attr(&self) -> impl Fn(&str, &str) -> Value + '_ {
        move |resource: &str, attribute: &str| match (resource, attribute) {
            ("wait_handle", "endpoint") => json!(self.fixture.url(&format!(
                "/heat/v1/{}/stacks/{}/resources/wait_handle/signal",
                heat::uuid("project"),
                self.stack.path()
            ))),
            ("wait_handle", "token") => json!(WAIT_TOKEN),
            other => panic!("get_attr {other:?} is not derived by this test"),
        }
    }

    /// The derived config of deployment `resource` for `action`.
    fn deployment(&self, resource: &str, action: &str) -> Value {
        let signal = self
            .fixture
            .temp_url(&format!("signal-{resource}-{action}"), "PUT");
        self.stack.derived_config(
            resource,
            action,
            &signal,
            "2026-12-01T12:00:00Z",
            &self.attr(),
        )
    }

    fn boot(&mut self, n: u32) -> Vm {
        self.spec.console = self.work.join(format!("console-{n}.log"));
        Vm::start(&self.spec)
    }

    fn requests(&self, pred: impl Fn(&Request) -> bool) -> Vec<Request> {
        self.fixture
            .with(|w| w.requests.iter().filter(|r| pred(r)).cloned().collect())
    }

    fn signals(&self) -> Vec<Request> {
        self.requests(|r| r.method == "PUT" && r.path.contains("/signal-"))
    }

    fn wait_signals(&self) -> Vec<Request> {
        self.requests(|r| r.path.ends_with("/wait_handle/signal"))
    }

    fn file_fetches(&self) -> Vec<Request> {
        self.requests(|r| r.path.starts_with("/files/"))
    }

    fn ssh(&self, command: &str) -> String {
        let out = vm::ssh(self.ssh_port, &self.key, "debian", command);
        assert!(
            out.status.success(),
            "ssh debian@VM {command:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Waits for `url` to answer 200 with a body containing `want`; returns seconds since `t0`.
fn wait_answer(url: &str, want: &str, timeout: Duration, vm: &mut Vm) -> f64 {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(r) = http_get(url, Duration::from_secs(5)) {
            if r.status == 200 && r.body.contains(want) {
                return vm.seconds();
            }
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not answer {want:?} within {timeout:?}; console:\n{}",
            vm::tail(&vm.console_text(), 30)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn wait_until(what: &str, timeout: Duration, vm: &Vm, mut f: impl FnMut() -> bool) -> f64 {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {timeout:?}; console:\n{}",
            vm::tail(&vm.console_text(), 30)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    vm.seconds()
}

#[test]
fn app_vm_from_heat_metadata_end_to_end() {
    require_root();
    require_docker();
    for p in [
        "qemu-system-x86_64",
        "qemu-img",
        "genisoimage",
        "ssh",
        "ssh-keygen",
        "tar",
    ] {
        require_program(p);
    }
    let t0 = Instant::now();
    let (solum_image, _agent) = release_binaries();
    let tmp = tempfile::Builder::new()
        .prefix("solum-app-vm-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let work = tmp.path().to_path_buf();

    // The image, as an operator builds it.
    let build = Command::new(&solum_image)
        .args(["build", "-o"])
        .arg(work.join("app-vm"))
        .args(["-t", "qcow2", "app-vm"])
        .env("DIB_IMAGE_CACHE", cache_dir())
        .output()
        .expect("solum-image");
    assert!(
        build.status.success(),
        "solum-image build app-vm failed:\n{}",
        vm::tail(&String::from_utf8_lossy(&build.stderr), 40)
    );
    let image = work.join("app-vm.qcow2");
    eprintln!("app-vm built in {:.0} s", t0.elapsed().as_secs_f64());

    // What the fixture serves: two sources and a buildpack, as tarballs.
    let fixture = Fixture::start();
    fixture.with(|w| w.public_base = Some("http://169.254.169.254".into()));
    let (web1, web1_sum) = tarball(&web_source(&work, "v1"));
    let (web2, web2_sum) = tarball(&web_source(&work, "v2"));
    let (api, api_sum) = tarball(&repo_root().join("examples/dockerfile-web"));
    let (bp, bp_sum) = tarball(&repo_root().join("buildpacks/python"));
    fixture.with(|w| {
        w.files.insert("web-v1.tgz".into(), web1);
        w.files.insert("web-v2.tgz".into(), web2);
        w.files.insert("api.tgz".into(), api);
        w.files.insert("python-buildpack.tgz".into(), bp);
        w.tokens.push(WAIT_TOKEN.into());
    });
    let (key, public_key) = vm::ssh_key(&work);
    let files = fixture.url("/files");
    let registrar = fixture.url("/registrar");
    let params = |web: &str, web_sum: &str| -> BTreeMap<String, Value> {
        [
            ("key_name", json!("heat_key")),
            ("network", json!("private")),
            ("web_port", json!(WEB_PORT)),
            ("api_port", json!(API_PORT)),
            ("web_source_url", json!(format!("{files}/{web}"))),
            ("web_source_sha256", json!(web_sum)),
            (
                "buildpack_url",
                json!(format!("{files}/python-buildpack.tgz")),
            ),
            ("buildpack_sha256", json!(bp_sum)),
            ("api_source_url", json!(format!("{files}/api.tgz"))),
            ("api_source_sha256", json!(api_sum)),
            ("greeting", json!("hello from Heat")),
            ("registrar_url", json!(registrar)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    };
    let stack = Stack::load(
        &repo_root().join("heat/app-vm.yaml"),
        "app",
        params("web-v1.tgz", &web1_sum),
    );
    let ssh_port = free_port();
    let (web_port, api_port) = (free_port(), free_port());
    let mut story = Story {
        spec: VmSpec {
            disk: work.join("vm.qcow2"),
            config_drive: Some(work.join("config-drive.iso")),
            ignition: None,
            memory_mb: 2048,
            cpus: 2,
            metadata_port: fixture.port,
            relay: PathBuf::from(RELAY),
            forwards: vec![(ssh_port, 22), (web_port, WEB_PORT), (api_port, API_PORT)],
            console: work.join("console.log"),
        },
        fixture,
        stack,
        work: work.clone(),
        key,
        ssh_port,
        web_port,
        api_port,
        secrets: vec![WAIT_TOKEN.to_string()],
    };

    // The server as Heat creates it: its metadata at creation (no deployments yet) goes into
    // the user_data; the deployments then appear in the TempURL object it polls.
    let metadata_url = story.fixture.temp_url("metadata", "GET");
    let initial = heat::server_metadata(Vec::new(), &metadata_url);
    let user_data = heat::user_data(&initial);
    let server = story.stack.resource("server");
    let meta = story
        .stack
        .resolve(&server["properties"]["metadata"], &story.attr());
    let meta_data = heat::meta_data(&story.stack, &meta, "heat_key", &public_key);
    let deployments: Vec<Value> = ["setup_deployment", "web_deployment", "api_deployment"]
        .iter()
        .map(|r| story.deployment(r, "CREATE"))
        .collect();
    let metadata = heat::server_metadata(deployments.clone(), &metadata_url);
    for d in &deployments {
        for i in d["inputs"].as_array().unwrap() {
            if i["name"] == "deploy_signal_id" {
                story
                    .secrets
                    .push(temp_url_sig(i["value"].as_str().unwrap()));
            }
        }
    }
    story.secrets.push(temp_url_sig(&metadata_url));
    story.fixture.with(|w| {
        w.metadata = metadata;
        w.metadata_version = 1;
    });
    let drive = work.join("config-drive");
    heat::write_config_drive(&drive, &meta_data, &user_data);
    vm::config_drive_iso(&drive, &work.join("config-drive.iso"));
    vm::overlay(&image, &work.join("vm.qcow2"), "8G");

    // 1. First boot; the power is cut while the first app builds.
    let mut vm1 = story.boot(1);
    let fetched = wait_until(
        "the first source fetch",
        Duration::from_secs(300),
        &vm1,
        || !story.file_fetches().is_empty(),
    );
    eprintln!("boot 1: first source fetched at {fetched:.0} s; cutting the power");
    std::thread::sleep(Duration::from_secs(3));
    vm1.kill();
    let signals_before = story.signals().len();

    // 2. Second boot: everything completes.
    let mut vm2 = story.boot(2);
    let registered = wait_until("registration", Duration::from_secs(240), &vm2, || {
        story
            .requests(|r| r.path == "/registrar/v1/agents" && r.method == "POST")
            .len()
            >= 2
    });
    let reg = story
        .requests(|r| r.path == "/registrar/v1/agents")
        .pop()
        .unwrap();
    assert_eq!(reg.json()["instance_uuid"], story.stack.server_id);
    let api_up = wait_answer(
        &format!("http://127.0.0.1:{}/", story.api_port),
        "from dockerfile-web",
        Duration::from_secs(600),
        &mut vm2,
    );
    let web_up = wait_answer(
        &format!("http://127.0.0.1:{}/", story.web_port),
        "web v1: hello from Heat",
        Duration::from_secs(600),
        &mut vm2,
    );
    let waited = wait_until("the wait condition", Duration::from_secs(120), &vm2, || {
        !story.wait_signals().is_empty()
    });
    eprintln!(
        "boot 2: registered {registered:.0} s, api {api_up:.0} s, web {web_up:.0} s, wait condition {waited:.0} s"
    );
    let signals = story.signals();
    assert_eq!(
        signals_before, 0,
        "nothing was signalled before the power cut"
    );
    for resource in ["setup_deployment", "web_deployment", "api_deployment"] {
        let mine: Vec<&Request> = signals
            .iter()
            .filter(|r| r.path.contains(&format!("/signal-{resource}-CREATE")))
            .collect();
        assert_eq!(mine.len(), 1, "{resource} signalled {} times", mine.len());
        let body = mine[0].json();
        assert_eq!(
            body["deploy_status_code"], 0,
            "{resource}: {}",
            body["deploy_stderr"]
        );
        assert_eq!(mine[0].status, 200);
    }
    let setup = signals
        .iter()
        .find(|r| r.path.contains("signal-setup_deployment"))
        .unwrap()
        .json();
    assert_eq!(setup["motd"], "hello from Heat\n");
    let wait = story.wait_signals();
    assert_eq!(wait.len(), 1);
    assert_eq!(wait[0].json()["status"], "SUCCESS", "{}", wait[0].json());
    assert_eq!(
        wait[0].headers.get("x-auth-token").map(String::as_str),
        Some(WAIT_TOKEN)
    );

    // The VM as an operator sees it: ssh with Heat's key pair, the hostname, the /etc file the
    // script wrote, the root file system grown to the 8 GB disk.
    let host = story.ssh("hostname");
    assert_eq!(host.trim(), story.stack.physical_name("server"));
    assert_eq!(story.ssh("cat /etc/solum-app/motd"), "hello from Heat\n");
    assert_eq!(story.ssh("sudo -n id -u").trim(), "0");
    let root_kb: u64 = story
        .ssh("df -k --output=size / | tail -1")
        .trim()
        .parse()
        .unwrap();
    assert!(
        root_kb > 6 * 1024 * 1024,
        "the root file system was not grown: {root_kb} KiB"
    );

    // 3. UPDATE: a new derived config for the buildpack app (new source); probed every second.
    let fetches_before_update = story.file_fetches().len();
    story.stack.params = params("web-v2.tgz", &web2_sum);
    let mut updated: Vec<Value> = deployments
        .iter()
        .filter(|d| !d["name"].as_str().unwrap().contains("web_config"))
        .cloned()
        .collect();
    let web_update = story.deployment("web_deployment", "UPDATE");
    for i in web_update["inputs"].as_array().unwrap() {
        if i["name"] == "deploy_signal_id" {
            story
                .secrets
                .push(temp_url_sig(i["value"].as_str().unwrap()));
        }
    }
    updated.push(web_update);
    let new_metadata = heat::server_metadata(updated, &metadata_url);
    story.fixture.with(|w| {
        w.metadata = new_metadata;
        w.metadata_version += 1;
    });
    let web_url = format!("http://127.0.0.1:{}/", story.web_port);
    let (mut probes, mut failures) = (0, Vec::new());
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        probes += 1;
        match http_get(&web_url, Duration::from_secs(10)) {
            Ok(r) if r.status == 200 && r.body.contains("web v2") => break,
            Ok(r) if r.status == 200 && r.body.contains("web v1") => {}
            Ok(r) => failures.push(format!("{} {}", r.status, r.body)),
            Err(e) => failures.push(e.to_string()),
        }
        assert!(
            Instant::now() < deadline,
            "the update was not served in time"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(
        failures.is_empty(),
        "requests failed during the switch: {failures:?}"
    );
    let update_signals = wait_until("the update's signal", Duration::from_secs(60), &vm2, || {
        story
            .signals()
            .iter()
            .any(|r| r.path.contains("signal-web_deployment-UPDATE"))
    });
    eprintln!("update served after {probes} probes, signalled at {update_signals:.0} s");
    std::thread::sleep(Duration::from_secs(5));
    let update: Vec<Request> = story
        .signals()
        .into_iter()
        .filter(|r| r.path.contains("signal-web_deployment-UPDATE"))
        .collect();
    assert_eq!(update.len(), 1);
    assert_eq!(update[0].json()["deploy_status_code"], 0);
    assert!(story.file_fetches().len() > fetches_before_update);

    // The agent's journal, for the secrets check below (before the power cut).
    let journal = story.ssh("sudo journalctl --no-pager -o cat -u solum-agent -u solum-agent-init");

    // 4. Power cut, third boot: the apps come back from what is on disk.
    let (signals_n, waits_n, fetches_n) = (
        story.signals().len(),
        story.wait_signals().len(),
        story.file_fetches().len(),
    );
    vm2.kill();
    let mut vm3 = story.boot(3);
    let web_back = wait_answer(&web_url, "web v2", Duration::from_secs(300), &mut vm3);
    let api_back = wait_answer(
        &format!("http://127.0.0.1:{}/", story.api_port),
        "from dockerfile-web",
        Duration::from_secs(300),
        &mut vm3,
    );
    eprintln!("boot 3: web back at {web_back:.0} s, api at {api_back:.0} s");
    std::thread::sleep(Duration::from_secs(10));
    assert_eq!(
        story.signals().len(),
        signals_n,
        "a deployment was signalled again"
    );
    assert_eq!(
        story.wait_signals().len(),
        waits_n,
        "the wait condition was signalled again"
    );
    assert_eq!(
        story.file_fetches().len(),
        fetches_n,
        "a source was fetched again (a rebuild)"
    );

    // 5. No secret on any console or in the agent's journal.
    let mut texts = vec![("journal".to_string(), journal)];
    for n in 1..=3 {
        let p = work.join(format!("console-{n}.log"));
        texts.push((
            p.display().to_string(),
            String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned(),
        ));
    }
    for (name, text) in &texts {
        for s in &story.secrets {
            assert!(
                !text.contains(s.as_str()),
                "{name} holds a secret ({}...)",
                &s[..6]
            );
        }
    }
    assert!(
        texts[0].1.contains("applying deployment"),
        "the journal shows the agent's work"
    );
    drop(vm3);
    eprintln!("app VM story done in {:.0} s", t0.elapsed().as_secs_f64());
}

/// The signature of a TempURL (what must never be logged).
fn temp_url_sig(url: &str) -> String {
    url.split("temp_url_sig=")
        .nth(1)
        .and_then(|s| s.split('&').next())
        .unwrap_or_else(|| panic!("{url} is not a TempURL"))
        .to_string()
}
