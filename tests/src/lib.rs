//! Support shared by the end-to-end suites: unique names, free loopback ports, a minimal HTTP
//! client (std only, so a probe never depends on the code under test), and the rule that a
//! test needing Docker, qemu or root fails loudly instead of skipping.

pub mod agent;
pub mod appvm;
pub mod cli;
pub mod fixture;
pub mod heat;
pub mod measure;
pub mod modgraph;
pub mod openstack;
pub mod tls;
pub mod vm;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Removes every container (any state) with `label` (`key=value`): a test's clean-up.
pub fn docker_rm_labelled(label: &str) {
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "docker ps -aq --filter label={label} | xargs -r docker rm -f"
        ))
        .output();
}

/// The containers (`ps -a`, any state) whose labels are all of `labels` (`key=value`): their
/// names, sorted. A test's way to see what the agent made.
pub fn docker_containers(labels: &[&str]) -> Vec<String> {
    let mut cmd = Command::new("docker");
    cmd.args(["ps", "-a", "--format", "{{.Names}}"]);
    for l in labels {
        cmd.args(["--filter", &format!("label={l}")]);
    }
    let out = cmd.output().expect("running docker ps");
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    names.sort();
    names
}

/// Removes the containers of the agent whose state directory is `state` (its `agent-id`).
pub fn docker_rm_agent(state: &Path) {
    if let Ok(id) = std::fs::read_to_string(state.join("agent-id")) {
        docker_rm_labelled(&format!("solum.agent={}", id.trim()));
    }
}

/// Runs `cmd`, which must succeed (its stderr in the panic); returns its output.
pub fn run_ok(cmd: &mut Command) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A buildpack app in `dir` (made) that answers every GET with `$GREETING` (`?` when unset),
/// listening on `$PORT`: its `app.py` and `Procfile`.
pub fn write_greeting_app(dir: &Path) {
    std::fs::create_dir_all(dir).expect("making the app directory");
    std::fs::write(
        dir.join("app.py"),
        "import http.server, os\nclass H(http.server.BaseHTTPRequestHandler):\n    def do_GET(self):\n        b = os.environ.get('GREETING', '?').encode()\n        self.send_response(200); self.send_header('Content-Length', str(len(b))); self.end_headers(); self.wfile.write(b)\nhttp.server.ThreadingHTTPServer(('', int(os.environ['PORT'])), H).serve_forever()\n",
    )
    .expect("writing app.py");
    std::fs::write(dir.join("Procfile"), "web: python3 app.py\n").expect("writing Procfile");
}

/// A name unique to this process and call, safe for Docker objects and app names.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{:x}", std::process::id(), nanos & 0xfff)
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// Panics with a clear message unless the Docker engine answers. Tests that need Docker call
/// this first: they never skip, in CI or elsewhere.
pub fn require_docker() {
    let out = Command::new("docker")
        .args(["version", "--format", "{{.Server.APIVersion}}"])
        .output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "this test needs the Docker engine, which does not answer: {} (start it: scripts/setup.sh)",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => panic!("this test needs the docker CLI and engine: {e} (install both: scripts/setup.sh)"),
    }
}

/// Panics unless `image` exists in the local engine.
pub fn require_image(image: &str) {
    require_docker();
    let ok = Command::new("docker")
        .args(["image", "inspect", image])
        .output()
        .map(|o| o.status.success());
    assert!(
        ok.unwrap_or(false),
        "this test needs the local image {image}; make it with `solum-agent stack build` (scripts/setup.sh does)"
    );
}

/// Panics unless this process runs as root (for tests that mount, chroot or debootstrap).
pub fn require_root() {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string())
        });
    assert_eq!(uid.as_deref(), Some("0"), "this test needs root");
}

/// Panics unless `program` is on PATH.
pub fn require_program(program: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|p| p.join(program).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "this test needs `{program}` on PATH (scripts/setup.sh installs it)"
    );
}

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// One HTTP/1.0 GET of `http://host:port/path`, with a timeout for connect and read.
pub fn http_get(url: &str, timeout: Duration) -> std::io::Result<Response> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| std::io::Error::other(format!("not an http URL: {url}")))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = authority
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("cannot resolve {authority}")))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {head:?}")))?;
    Ok(Response {
        status,
        body: body.to_string(),
    })
}

/// GETs `url` until it answers 2xx-3xx or `timeout` passes; returns the last answer or error.
pub fn wait_http(url: &str, timeout: Duration) -> Result<Response, String> {
    let deadline = Instant::now() + timeout;
    let mut last = String::from("never tried");
    while Instant::now() < deadline {
        match http_get(url, Duration::from_secs(2)) {
            Ok(r) if (200..400).contains(&r.status) => return Ok(r),
            Ok(r) => last = format!("HTTP {}", r.status),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!(
        "{url} did not answer 2xx-3xx within {timeout:?}: {last}"
    ))
}

/// An agent configuration in `dir` whose stack images are `solum-test/TAG-build:bookworm` and
/// `solum-test/TAG-run:bookworm`, its state in `dir/state` (and a `dir/tmp` for TMPDIR);
/// returns the configuration file.
pub fn stack_test_config(dir: &Path, tag: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    let cfg = dir.join("config.yaml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir: {}\nstack:\n  build_image: solum-test/{tag}-build:bookworm\n  run_image: solum-test/{tag}-run:bookworm\n",
            dir.join("state").display()
        ),
    )
    .unwrap();
    cfg
}

/// The names of the entries of `dir`, sorted (panics if it cannot be read).
pub fn sorted_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Copies a directory tree (files, dirs, symlinks, modes) for tests that modify an example.
pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let ty = entry.file_type()?;
        let dest = to.join(entry.file_name());
        if ty.is_dir() {
            copy_tree(&entry.path(), &dest)?;
        } else if ty.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &dest)?;
        } else {
            std::fs::copy(entry.path(), &dest)?;
        }
    }
    Ok(())
}

/// The repository root (for examples and buildpacks).
pub fn repo_root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_differ() {
        assert_ne!(unique_name("t"), unique_name("t"));
    }

    #[test]
    fn http_get_reads_status_and_body() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 256];
            while !req.ends_with(b"\r\n\r\n") {
                let n = s.read(&mut buf).unwrap();
                assert!(n > 0, "client closed early");
                req.extend_from_slice(&buf[..n]);
            }
            assert!(req.starts_with(b"GET /x HTTP/1.0\r\n"));
            s.write_all(b"HTTP/1.0 201 Created\r\nContent-Length: 2\r\n\r\nhi")
                .unwrap();
        });
        let r = http_get(
            &format!("http://127.0.0.1:{port}/x"),
            Duration::from_secs(2),
        )
        .unwrap();
        server.join().unwrap();
        assert_eq!(
            r,
            Response {
                status: 201,
                body: "hi".into()
            }
        );
    }

    #[test]
    fn wait_http_reports_refusal() {
        let port = free_port();
        let err = wait_http(
            &format!("http://127.0.0.1:{port}/"),
            Duration::from_millis(300),
        )
        .unwrap_err();
        assert!(err.contains("did not answer"), "{err}");
    }
}
