//! The app VM's world, shared by its end-to-end test (tests/tests/app_vm.rs) and its benchmark
//! (`solum-e2e-bench`, bench/e2e.sh): the `app-vm` image built by solum-image, a fixture that
//! plays Swift TempURLs, the wait condition handle and the registrar at http://169.254.169.254
//! and serves the apps' tarballs, the metadata Heat derives from heat/app-vm.yaml, a config
//! drive as Nova writes it, and the VM's disk (an overlay of the image, so power cuts and
//! reboots keep it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::fixture::{Fixture, Request};
use crate::heat::{self, Stack};
use crate::vm::{self, Vm, VmSpec};
use crate::{free_port, http_get, repo_root};

/// The wait condition handle's token (what the agent must send and never log).
pub const WAIT_TOKEN: &str = "wait-handle-token-0d1f2e3c4b5a";
/// Guest ports of the two apps (the template's defaults for web_port and api_port).
pub const WEB_PORT: u16 = 80;
pub const API_PORT: u16 = 8080;
/// The deployment resources of heat/app-vm.yaml.
pub const DEPLOYMENTS: [&str; 3] = ["setup_deployment", "web_deployment", "api_deployment"];

/// One kind of app VM: the element it is built from, its Heat template, and whether its first
/// boot is configured by Ignition (the user_data is then an Ignition config).
#[derive(Debug, Clone, Copy)]
pub struct Variant {
    pub element: &'static str,
    pub template: &'static str,
    pub ignition: bool,
}

pub const APP_VM: Variant = Variant {
    element: "app-vm",
    template: "heat/app-vm.yaml",
    ignition: false,
};

pub const COREOS_APP_VM: Variant = Variant {
    element: "coreos-app-vm",
    template: "heat/coreos-app-vm.yaml",
    ignition: true,
};

/// The image cache the image tests share.
pub fn cache_dir() -> PathBuf {
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

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// Makes sure the binaries the image is built with and from are current: solum-image (debug:
/// the test suite builds it anyway) and the release agent the `solum-agent` element installs.
/// Returns the solum-image binary.
pub fn current_binaries() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = repo_root();
    run(Command::new(&cargo)
        .current_dir(&root)
        .args(["build", "-q", "-p", "solum-image"]));
    run(Command::new(&cargo).current_dir(&root).args([
        "build",
        "--release",
        "-q",
        "-p",
        "solum-agent",
    ]));
    target_dir().join("debug/solum-image")
}

/// Builds the variant's image as an operator does: `solum-image build -o DIR/ELEMENT -t qcow2
/// ELEMENT`. Returns the qcow2 and the seconds it took.
pub fn build_image(solum_image: &Path, dir: &Path, variant: Variant) -> (PathBuf, f64) {
    let t = Instant::now();
    let build = Command::new(solum_image)
        .args(["build", "-o"])
        .arg(dir.join(variant.element))
        .args(["-t", "qcow2", variant.element])
        .env("DIB_IMAGE_CACHE", cache_dir())
        .output()
        .expect("running solum-image");
    assert!(
        build.status.success(),
        "solum-image build {} failed:\n{}",
        variant.element,
        vm::tail(&String::from_utf8_lossy(&build.stderr), 40)
    );
    (
        dir.join(format!("{}.qcow2", variant.element)),
        t.elapsed().as_secs_f64(),
    )
}

/// `dir` as a gzipped tarball; returns (bytes, sha256 hex).
pub fn tarball(dir: &Path) -> (Vec<u8>, String) {
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

/// The buildpack app's source at `version` (a Python web server saying its version and
/// `$GREETING`, and, when the plan gives it a Redis (`$REDIS_URL`), counting its visits there
/// with nothing but the standard library: `web v1: hello from Heat (visit 3 on web.1)`).
pub fn web_source(dir: &Path, version: &str) -> PathBuf {
    let d = dir.join(format!("web-{version}"));
    std::fs::create_dir_all(&d).expect("web source dir");
    std::fs::write(
        d.join("app.py"),
        format!(
            r#"import os
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, unquote

HEAD = "web {version}: " + os.environ.get("GREETING", "?")


def command(f, *words):
    f.write(b"*%d\r\n" % len(words))
    for w in words:
        w = w.encode()
        f.write(b"$%d\r\n%s\r\n" % (len(w), w))
    f.flush()
    line = f.readline()
    if line[:1] == b"-":
        raise RuntimeError(line.decode().strip())
    return line[1:].strip().decode()


def visit():
    url = urlsplit(os.environ["REDIS_URL"])
    with socket.create_connection((url.hostname, url.port or 6379), timeout=5) as s:
        f = s.makefile("rwb")
        if url.password:
            command(f, "AUTH", unquote(url.password))
        return command(f, "INCR", "visits")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        text = HEAD
        if os.environ.get("REDIS_URL"):
            text += " (visit %s on %s)" % (visit(), socket.gethostname())
        body = (text + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("", int(os.environ["PORT"])), Handler).serve_forever()
"#
        ),
    )
    .expect("app.py");
    d
}

/// The signature of a TempURL (what must never be logged).
pub fn temp_url_sig(url: &str) -> String {
    url.split("temp_url_sig=")
        .nth(1)
        .and_then(|s| s.split('&').next())
        .unwrap_or_else(|| panic!("{url} is not a TempURL"))
        .to_string()
}

/// Everything around one app VM.
pub struct World {
    pub fixture: Fixture,
    pub stack: Stack,
    pub work: PathBuf,
    pub spec: VmSpec,
    pub key: PathBuf,
    pub ssh_port: u16,
    pub web_port: u16,
    pub api_port: u16,
    /// Values that must appear on no console and in no log.
    pub secrets: Vec<String>,
    pub metadata_url: String,
    /// The derived configs currently in the server's metadata.
    pub deployments: Vec<Value>,
    files: String,
    registrar: String,
    sums: BTreeMap<String, String>,
}

impl World {
    /// The fixture, the tarballs, the derived metadata, the config drive and the VM's disk (an
    /// overlay of `image` grown to 8 GB) in `work`. `relay` is the `solum-relay` binary;
    /// `solum_image` makes the Ignition config of an Ignition variant.
    pub fn prepare(
        work: &Path,
        image: &Path,
        relay: &Path,
        variant: Variant,
        solum_image: &Path,
    ) -> World {
        let mut fixture = Fixture::start();
        fixture.public_base = Some("http://169.254.169.254".into());
        let mut sums = BTreeMap::new();
        let mut serve = |name: &str, dir: &Path| {
            let (bytes, sum) = tarball(dir);
            sums.insert(name.to_string(), sum);
            fixture.with(|w| w.files.insert(name.to_string(), bytes));
        };
        serve("web-v1.tgz", &web_source(work, "v1"));
        serve("web-v2.tgz", &web_source(work, "v2"));
        serve("api.tgz", &repo_root().join("examples/dockerfile-web"));
        serve(
            "python-buildpack.tgz",
            &repo_root().join("buildpacks/python"),
        );
        fixture.with(|w| w.tokens.push(WAIT_TOKEN.into()));
        let (key, public_key) = vm::ssh_key(work);
        let (ssh_port, web_port, api_port) = (free_port(), free_port(), free_port());
        let metadata_url = fixture.temp_url("metadata", "GET");
        let mut world = World {
            stack: Stack::load(&repo_root().join(variant.template), "app", BTreeMap::new()),
            spec: VmSpec {
                disk: work.join("vm.qcow2"),
                config_drive: Some(work.join("config-drive.iso")),
                ignition: None,
                memory_mb: 2048,
                cpus: 2,
                metadata_port: fixture.port,
                relay: relay.to_path_buf(),
                forwards: vec![(ssh_port, 22), (web_port, WEB_PORT), (api_port, API_PORT)],
                console: work.join("console.log"),
            },
            files: fixture.url("/files"),
            registrar: fixture.url("/registrar"),
            fixture,
            work: work.to_path_buf(),
            key,
            ssh_port,
            web_port,
            api_port,
            secrets: vec![WAIT_TOKEN.to_string(), temp_url_sig(&metadata_url)],
            metadata_url,
            deployments: Vec::new(),
            sums,
        };
        world.stack.params = world.params("web-v1.tgz");
        let given = if variant.ignition {
            let ign = work.join("app.ign");
            run(Command::new(solum_image)
                .args([
                    "ignition",
                    "--agent-installed",
                    "--ssh-key",
                    public_key.trim(),
                    "-o",
                ])
                .arg(&ign));
            std::fs::read_to_string(&ign).expect("the Ignition config")
        } else {
            String::new()
        };
        if variant.ignition {
            world
                .stack
                .params
                .insert("ignition_config".into(), json!(given));
        }

        // The server as Heat creates it: its metadata at creation (no deployments yet) goes into
        // the user_data; the deployments then appear in the TempURL object it polls.
        let initial = heat::server_metadata(Vec::new(), &world.metadata_url);
        let user_data = heat::user_data(&initial, &given);
        let server = world.stack.resource("server");
        let meta = world
            .stack
            .resolve(&server["properties"]["metadata"], &world.attr());
        let meta_data = heat::meta_data(&world.stack, &meta, "heat_key", &public_key);
        let deployments: Vec<Value> = DEPLOYMENTS
            .iter()
            .map(|r| world.deployment(r, "CREATE"))
            .collect();
        world.publish(deployments);
        let drive = work.join("config-drive");
        heat::write_config_drive(&drive, &meta_data, &user_data);
        vm::config_drive_iso(&drive, &work.join("config-drive.iso"));
        vm::overlay(image, &work.join("vm.qcow2"), "8G");
        world
    }

    /// The template's parameter values, with the buildpack app's source `web`.
    fn params(&self, web: &str) -> BTreeMap<String, Value> {
        let (files, sum) = (&self.files, |n: &str| json!(self.sums[n]));
        let mut params: BTreeMap<String, Value> = self
            .stack
            .params
            .get("ignition_config")
            .map(|v| ("ignition_config".to_string(), v.clone()))
            .into_iter()
            .collect();
        params.extend(
            [
                ("key_name", json!("heat_key")),
                ("network", json!("private")),
                ("web_port", json!(WEB_PORT)),
                ("api_port", json!(API_PORT)),
                ("web_source_url", json!(format!("{files}/{web}"))),
                ("web_source_sha256", sum(web)),
                (
                    "buildpack_url",
                    json!(format!("{files}/python-buildpack.tgz")),
                ),
                ("buildpack_sha256", sum("python-buildpack.tgz")),
                ("api_source_url", json!(format!("{files}/api.tgz"))),
                ("api_source_sha256", sum("api.tgz")),
                ("greeting", json!("hello from Heat")),
                ("registrar_url", json!(self.registrar)),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v)),
        );
        params
    }

    /// `get_attr` as Heat answers it for this stack.
    pub fn attr(&self) -> impl Fn(&str, &str) -> Value + '_ {
        move |resource: &str, attribute: &str| match (resource, attribute) {
            ("wait_handle", "endpoint") => json!(self.fixture.url(&format!(
                "/heat/v1/{}/stacks/{}/resources/wait_handle/signal",
                heat::uuid("project"),
                self.stack.path()
            ))),
            ("wait_handle", "token") => json!(WAIT_TOKEN),
            other => panic!("get_attr {other:?} is not derived here"),
        }
    }

    /// The derived config of deployment `resource` for `action` (its signal TempURL's
    /// signature joins the secrets).
    pub fn deployment(&mut self, resource: &str, action: &str) -> Value {
        let signal = self
            .fixture
            .temp_url(&format!("signal-{resource}-{action}"), "PUT");
        self.secrets.push(temp_url_sig(&signal));
        self.stack.derived_config(
            resource,
            action,
            &signal,
            "2026-12-01T12:00:00Z",
            &self.attr(),
        )
    }

    /// Puts `deployments` in the server's metadata, as Heat PUTs it to the TempURL object.
    pub fn publish(&mut self, deployments: Vec<Value>) {
        let metadata = heat::server_metadata(deployments.clone(), &self.metadata_url);
        self.deployments = deployments;
        self.fixture.with(|w| {
            w.metadata = metadata;
            w.metadata_version += 1;
        });
    }

    /// A stack UPDATE that gives the buildpack app the source `web` (a new derived config).
    pub fn update_web(&mut self, web: &str) {
        self.stack.params = self.params(web);
        let mut deployments: Vec<Value> = self
            .deployments
            .iter()
            .filter(|d| !d["name"].as_str().unwrap_or("").contains("web_config"))
            .cloned()
            .collect();
        deployments.push(self.deployment("web_deployment", "UPDATE"));
        self.publish(deployments);
    }

    /// Powers the VM on, its console in `console-<n>.log`.
    pub fn boot(&mut self, n: u32) -> Vm {
        self.spec.console = self.work.join(format!("console-{n}.log"));
        Vm::start(&self.spec)
    }

    pub fn requests(&self, pred: impl Fn(&Request) -> bool) -> Vec<Request> {
        self.fixture
            .with(|w| w.requests.iter().filter(|r| pred(r)).cloned().collect())
    }

    /// Deployment signals received (TEMP_URL_SIGNAL PUTs).
    pub fn signals(&self) -> Vec<Request> {
        self.requests(|r| r.method == "PUT" && r.path.contains("/signal-"))
    }

    /// Signals of deployment `resource` for `action`.
    pub fn signals_of(&self, resource: &str, action: &str) -> Vec<Request> {
        let tag = format!("/signal-{resource}-{action}");
        self.requests(|r| r.method == "PUT" && r.path.ends_with(&tag))
    }

    pub fn wait_signals(&self) -> Vec<Request> {
        self.requests(|r| r.path.ends_with("/wait_handle/signal"))
    }

    pub fn registrations(&self) -> Vec<Request> {
        self.requests(|r| r.method == "POST" && r.path == "/registrar/v1/agents")
    }

    pub fn file_fetches(&self) -> Vec<Request> {
        self.requests(|r| r.path.starts_with("/files/"))
    }

    pub fn web_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.web_port)
    }

    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.api_port)
    }

    /// `command` as `debian` over ssh, with the key pair Heat named; panics on failure.
    pub fn ssh(&self, command: &str) -> String {
        let out = vm::ssh(self.ssh_port, &self.key, "debian", command);
        assert!(
            out.status.success(),
            "ssh debian@VM {command:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Waits for `url` to answer 200 with a body containing `want`; returns seconds since the
/// VM's power-on.
pub fn wait_answer(url: &str, want: &str, timeout: Duration, vm: &mut Vm) -> f64 {
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
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Probes every `(url, want)` in one loop (a quarter of a second apart) until each has
/// answered 200 with a body containing its `want`; returns, in the same order, the seconds
/// since the VM's power-on at which each first did. No target waits behind another.
pub fn wait_answers(targets: &[(&str, &str)], timeout: Duration, vm: &mut Vm) -> Vec<f64> {
    let deadline = Instant::now() + timeout;
    let mut seen: Vec<Option<f64>> = vec![None; targets.len()];
    loop {
        for (i, (url, want)) in targets.iter().enumerate() {
            if seen[i].is_some() {
                continue;
            }
            if let Ok(r) = http_get(url, Duration::from_secs(5)) {
                if r.status == 200 && r.body.contains(want) {
                    seen[i] = Some(vm.seconds());
                }
            }
        }
        if seen.iter().all(Option::is_some) {
            return seen.into_iter().flatten().collect();
        }
        assert!(
            Instant::now() < deadline,
            "{targets:?} did not all answer within {timeout:?} ({seen:?}); console:\n{}",
            vm::tail(&vm.console_text(), 30)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Seconds from the VM's power-on to when the fixture received `r`.
pub fn received_at(r: &Request, vm: &Vm) -> f64 {
    r.received
        .saturating_duration_since(vm.started)
        .as_secs_f64()
}

/// Waits until `f` holds; returns seconds since the VM's power-on.
pub fn wait_until(what: &str, timeout: Duration, vm: &Vm, mut f: impl FnMut() -> bool) -> f64 {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {timeout:?}; console:\n{}",
            vm::tail(&vm.console_text(), 30)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    vm.seconds()
}
