//! `solum-image upload` against a real Keystone and a real Glance (from PyPI, started once per
//! test binary by scripts/openstack-harness.sh on 127.0.0.1; a watcher stops them and removes
//! their directory when this process ends). FAILS, never skips, when the harness cannot start.

use serde_json::Value;
use solum_image::upload::{config, glance, keystone, load_config};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use std::time::{SystemTime, UNIX_EPOCH};

const BIN: &str = env!("CARGO_BIN_EXE_solum-image");

struct Harness {
    env: BTreeMap<String, String>,
    files: PathBuf,
    glance_port: u16,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Result<Harness, String>> = OnceLock::new();
    let h = H.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/openstack-harness.sh");
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("solum-glance-test-{}-{nanos}", std::process::id()));
        let out = Command::new("bash")
            .arg(&script)
            .arg("start")
            .arg(&dir)
            .arg("--watch")
            .arg(std::process::id().to_string())
            .output()
            .map_err(|e| format!("running {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "the Keystone + Glance harness did not start:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let mut env = BTreeMap::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some((k, v)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) {
                env.insert(k.to_string(), v.to_string());
            }
        }
        let files = dir.join("test-files");
        std::fs::create_dir_all(&files).map_err(|e| e.to_string())?;
        let urls = std::fs::read_to_string(dir.join("urls")).map_err(|e| e.to_string())?;
        let glance_port = urls
            .lines()
            .find_map(|l| l.strip_prefix("GLANCE_URL=http://127.0.0.1:"))
            .and_then(|p| p.trim().parse().ok())
            .ok_or("no GLANCE_URL in the harness's urls file")?;
        Ok(Harness {
            env,
            files,
            glance_port,
        })
    });
    match h {
        Ok(h) => h,
        Err(e) => panic!("{e}"),
    }
}

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("solum-test-{prefix}-{}-{nanos}", std::process::id())
}

fn run(args: &[&str], env: &BTreeMap<String, String>) -> Output {
    let mut c = Command::new(BIN);
    c.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("OS_") {
            c.env_remove(k);
        }
    }
    c.envs(env);
    c.output().expect("run solum-image")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Images by name and one image by id, straight from Glance.
fn glance_do<R>(f: impl AsyncFnOnce(&glance::Glance) -> R) -> R {
    let cfg: config::CloudConfig = load_config(&harness().env).expect("harness env");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let client = reqwest::Client::new();
        let s = keystone::authenticate(&client, &cfg).await.expect("token");
        let g = glance::Glance {
            client,
            url: s.image_url,
            token: s.token,
        };
        f(&g).await
    })
}

fn images_named(name: &str) -> Vec<Value> {
    glance_do(async |g| g.find_by_name(name).await.expect("list"))
}

fn show(id: &str) -> Value {
    glance_do(async |g| g.show(id).await.expect("show"))
}

fn sha512(path: &Path) -> String {
    let o = Command::new("sha512sum")
        .arg(path)
        .output()
        .expect("sha512sum");
    stdout(&o)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

fn qcow2(name: &str) -> PathBuf {
    let p = harness().files.join(format!("{name}.qcow2"));
    let raw = harness().files.join(format!("{name}.src"));
    // some real data so the hash means something
    std::fs::write(&raw, format!("{name}\n").repeat(200_000)).expect("write");
    let o = Command::new("qemu-img")
        .args(["convert", "-f", "raw", "-O", "qcow2"])
        .arg(&raw)
        .arg(&p)
        .output()
        .expect("qemu-img (apt install qemu-utils)");
    assert!(o.status.success(), "qemu-img: {}", stderr(&o));
    p
}

fn raw(name: &str, len: usize) -> PathBuf {
    let p = harness().files.join(format!("{name}.raw"));
    let mut data = Vec::with_capacity(len);
    let mut x: u32 = 2463534242;
    while data.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(len);
    std::fs::write(&p, data).expect("write raw");
    p
}

fn delete_all(name: &str) {
    for i in images_named(name) {
        let id = i["id"].as_str().unwrap_or_default().to_string();
        glance_do(async |g| g.delete(&id).await.expect("delete"));
    }
}

#[test]
fn qcow2_upload_is_active_with_our_hash_and_properties_then_rerun_is_a_noop() {
    let h = harness();
    let name = unique("q");
    let file = qcow2(&name);
    let o = run(
        &[
            "upload",
            file.to_str().unwrap(),
            "--name",
            &name,
            "--property",
            "os_version=13",
        ],
        &h.env,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let id = stdout(&o);
    let img = show(&id);
    assert_eq!(img["status"], "active");
    assert_eq!(img["disk_format"], "qcow2");
    assert_eq!(img["os_hash_algo"], "sha512");
    assert_eq!(img["os_hash_value"], sha512(&file));
    assert_eq!(img["os_distro"], "debian");
    assert_eq!(img["os_version"], "13");
    assert_eq!(img["hw_disk_bus"], "virtio");
    assert!(stderr(&o).contains("sha512 verified"), "{}", stderr(&o));

    let again = run(&upload_args(&file, &name), &h.env);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(stdout(&again), id);
    assert!(
        stderr(&again).contains("already in Glance"),
        "{}",
        stderr(&again)
    );
    assert_eq!(images_named(&name).len(), 1);
    delete_all(&name);
}

fn upload_args<'a>(file: &'a Path, name: &'a str) -> Vec<&'a str> {
    vec!["upload", file.to_str().unwrap_or("?"), "--name", name]
}

#[test]
fn raw_upload_by_plain_put_and_replace() {
    let h = harness();
    let name = unique("r");
    let file = raw(&name, 3 << 20);
    let mut a = upload_args(&file, &name);
    a.extend(["--method", "upload"]);
    let o = run(&a, &h.env);
    assert!(o.status.success(), "{}", stderr(&o));
    let first = stdout(&o);
    let img = show(&first);
    assert_eq!(img["status"], "active");
    assert_eq!(img["disk_format"], "raw");
    assert_eq!(img["os_hash_value"], sha512(&file));

    // other contents under the same name: refused without --replace
    let file2 = raw(&format!("{name}-2"), 1 << 20);
    let o = run(&upload_args(&file2, &name), &h.env);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("use --replace"), "{}", stderr(&o));

    let mut a = upload_args(&file2, &name);
    a.push("--replace");
    let o = run(&a, &h.env);
    assert!(o.status.success(), "{}", stderr(&o));
    let second = stdout(&o);
    assert_ne!(first, second);
    let left = images_named(&name);
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["id"], second.as_str());
    assert_eq!(left[0]["os_hash_value"], sha512(&file2));
    delete_all(&name);
}

#[test]
fn wrong_password_is_one_line_without_the_password() {
    let mut env = harness().env.clone();
    env.insert("OS_PASSWORD".into(), "not-the-Pa55word".into());
    let name = unique("pw");
    let file = raw(&name, 4096);
    let o = run(&upload_args(&file, &name), &env);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("authentication failed"), "{err}");
    assert!(err.contains("'admin'"), "{err}");
    assert!(!err.contains("not-the-Pa55word"), "{err}");
}

#[test]
fn raw_file_claimed_qcow2_is_refused_before_anything_is_created() {
    let h = harness();
    let name = unique("claim");
    let file = raw(&name, 8192);
    let mut a = upload_args(&file, &name);
    a.extend(["--disk-format", "qcow2"]);
    let o = run(&a, &h.env);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("the file is raw, not qcow2"),
        "{}",
        stderr(&o)
    );
    assert!(images_named(&name).is_empty());
}

#[test]
fn endpoint_down_says_which() {
    let mut env = harness().env.clone();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    env.insert("OS_AUTH_URL".into(), format!("http://127.0.0.1:{port}/v3"));
    let name = unique("down");
    let file = raw(&name, 4096);
    let o = run(&upload_args(&file, &name), &env);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("cannot reach Keystone"), "{err}");
    assert!(err.contains(&port.to_string()), "{err}");
}

#[test]
fn too_large_413_mid_upload_leaves_no_image() {
    // the harness sets image_size_cap to 64 MiB
    let h = harness();
    for method in ["upload", "glance-direct"] {
        let name = unique(&format!("big-{method}"));
        let file = raw(&name, 70 << 20);
        let mut a = upload_args(&file, &name);
        a.extend(["--method", method]);
        let o = run(&a, &h.env);
        assert!(!o.status.success());
        let err = stderr(&o);
        assert!(err.contains("HTTP 413"), "{err}");
        assert!(err.contains("was deleted"), "{err}");
        assert!(
            images_named(&name).is_empty(),
            "{method}: image left behind"
        );
        let _ = std::fs::remove_file(&file);
    }
}

#[test]
fn clouds_yaml_with_os_cloud() {
    let h = harness();
    let name = unique("cloud");
    let file = raw(&name, 1 << 20);
    let yaml = h.files.join(format!("{name}-clouds.yaml"));
    std::fs::write(
        &yaml,
        format!(
            "clouds:\n  test:\n    auth:\n      auth_url: {}\n      username: admin\n      password: {}\n      project_name: admin\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: RegionOne\n",
            h.env["OS_AUTH_URL"], h.env["OS_PASSWORD"]
        ),
    )
    .expect("clouds.yaml");
    let env: BTreeMap<String, String> = [
        ("OS_CLOUD".to_string(), "test".to_string()),
        (
            "OS_CLIENT_CONFIG_FILE".to_string(),
            yaml.display().to_string(),
        ),
    ]
    .into();
    let o = run(&upload_args(&file, &name), &env);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(show(&stdout(&o))["status"], "active");
    delete_all(&name);

    let env: BTreeMap<String, String> = [
        ("OS_CLOUD".to_string(), "nope".to_string()),
        (
            "OS_CLIENT_CONFIG_FILE".to_string(),
            yaml.display().to_string(),
        ),
    ]
    .into();
    let o = run(&upload_args(&file, &name), &env);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("OS_CLOUD=nope: no such cloud"),
        "{}",
        stderr(&o)
    );
}

/// A TCP proxy to Glance that, once it sees `PUT /v2/images/` from the client, either slows
/// that upload down or answers 500 after some bytes: Glance failing or a user's Ctrl-C
/// mid-upload, made reproducible.
#[derive(Clone, Copy)]
enum Fault {
    Slow,
    Error500After(u64),
}

struct Proxy {
    port: u16,
    put_bytes: Arc<AtomicU64>,
}

fn proxy(target: u16, fault: Fault) -> Proxy {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
    let port = l.local_addr().expect("addr").port();
    let put_bytes = Arc::new(AtomicU64::new(0));
    let counter = put_bytes.clone();
    std::thread::spawn(move || {
        for client in l.incoming().flatten() {
            let counter = counter.clone();
            std::thread::spawn(move || {
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    return;
                };
                let (Ok(mut c2), Ok(mut s2)) = (client.try_clone(), server.try_clone()) else {
                    return;
                };
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s2, &mut c2);
                    let _ = c2.shutdown(Shutdown::Write);
                });
                pump(client, server, fault, &counter);
            });
        }
    });
    Proxy { port, put_bytes }
}

fn pump(mut client: TcpStream, mut server: TcpStream, fault: Fault, counter: &AtomicU64) {
    let needle = b"PUT /v2/images/";
    let mut in_put = false;
    let mut window: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if !in_put {
            window.extend_from_slice(&buf[..n]);
            if window.windows(needle.len()).any(|w| w == needle) {
                in_put = true;
            }
            let keep = window.len().saturating_sub(needle.len());
            window.drain(..keep);
        }
        if in_put {
            let total = counter.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
            match fault {
                Fault::Slow => std::thread::sleep(Duration::from_millis(50)),
                Fault::Error500After(limit) if total >= limit => {
                    let body = "store failed (test proxy)\n";
                    let _ = write!(
                        client,
                        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = client.shutdown(Shutdown::Both);
                    let _ = server.shutdown(Shutdown::Both);
                    return;
                }
                Fault::Error500After(_) => {}
            }
        }
        if server.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = server.shutdown(Shutdown::Write);
}

#[test]
fn glance_500_mid_upload_deletes_the_queued_image() {
    let h = harness();
    let p = proxy(h.glance_port, Fault::Error500After(4 << 20));
    let mut env = h.env.clone();
    env.insert(
        "OS_IMAGE_ENDPOINT_OVERRIDE".into(),
        format!("http://127.0.0.1:{}", p.port),
    );
    let name = unique("e500");
    let file = raw(&name, 16 << 20);
    let mut a = upload_args(&file, &name);
    a.extend(["--method", "upload"]);
    let o = run(&a, &env);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(p.put_bytes.load(Ordering::SeqCst) >= 4 << 20, "{err}");
    assert!(err.contains("/file"), "{err}");
    assert!(err.contains("was deleted"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(images_named(&name).is_empty(), "a queued image was left");
}

#[test]
fn sigint_mid_upload_deletes_the_queued_image() {
    let h = harness();
    let p = proxy(h.glance_port, Fault::Slow);
    let name = unique("int");
    let file = raw(&name, 32 << 20);
    let mut c = Command::new(BIN);
    c.args(upload_args(&file, &name));
    c.args(["--method", "upload"]);
    for (k, _) in std::env::vars() {
        if k.starts_with("OS_") {
            c.env_remove(k);
        }
    }
    c.envs(&h.env);
    c.env(
        "OS_IMAGE_ENDPOINT_OVERRIDE",
        format!("http://127.0.0.1:{}", p.port),
    );
    c.stdout(std::process::Stdio::piped());
    c.stderr(std::process::Stdio::piped());
    let child = c.spawn().expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(60);
    while p.put_bytes.load(Ordering::SeqCst) < 1 << 20 {
        assert!(Instant::now() < deadline, "the upload never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let queued = images_named(&name);
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_ne!(queued[0]["status"], "active");
    // SAFETY: kill on our own child's pid.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(rc, 0);
    let o = child.wait_with_output().expect("wait");
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("interrupted"), "{err}");
    assert!(err.contains("was deleted"), "{err}");
    assert!(images_named(&name).is_empty(), "a queued image was left");
}

fn port_of(url: &str) -> u16 {
    url.trim_start_matches("http://127.0.0.1:")
        .split('/')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {url}"))
}

fn one_line_error(o: &Output) -> String {
    assert!(!o.status.success(), "accepted: {}", stdout(o));
    let err = stderr(o);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    err
}

/// Keystone behind a TLS terminator whose certificate a private CA (made here with openssl)
/// signed, as an operator's cloud often is: the system's roots and a wrong CA fail with one
/// line naming the certificate problem; `OS_CACERT`, clouds.yaml `cacert` (its password in
/// secure.yaml beside it), `OS_INSECURE` and `verify: false` pass.
#[test]
fn keystone_behind_tls_with_a_private_ca() {
    use solum_tests::tls::{PrivateCa, TlsProxy};
    let h = harness();
    let ca = PrivateCa::new("solum-test-ca").expect("private CA");
    let wrong = PrivateCa::new("solum-wrong-ca").expect("second CA");
    let proxy = TlsProxy::start(&ca, port_of(&h.env["OS_AUTH_URL"])).expect("TLS proxy");
    let https = format!("https://127.0.0.1:{}/v3", proxy.port);
    let name = unique("tls");
    let file = raw(&name, 4096);
    let mut env = h.env.clone();
    env.insert("OS_AUTH_URL".into(), https.clone());

    let err = one_line_error(&run(&upload_args(&file, &name), &env));
    assert!(err.contains("cannot reach Keystone"), "{err}");
    assert!(err.contains("certificate"), "{err}");
    let mut wrong_env = env.clone();
    wrong_env.insert("OS_CACERT".into(), wrong.ca_cert.display().to_string());
    let err = one_line_error(&run(&upload_args(&file, &name), &wrong_env));
    assert!(
        err.contains("certificate") && err.contains("UnknownIssuer"),
        "{err}"
    );
    assert!(images_named(&name).is_empty());

    let mut right = env.clone();
    right.insert("OS_CACERT".into(), ca.ca_cert.display().to_string());
    let o = run(&upload_args(&file, &name), &right);
    assert!(o.status.success(), "{}", stderr(&o));
    let id = stdout(&o);
    assert_eq!(show(&id)["status"], "active");

    let mut insecure = env.clone();
    insecure.insert("OS_INSECURE".into(), "true".into());
    let o = run(&upload_args(&file, &name), &insecure);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), id);

    // clouds.yaml naming the CA, the password in secure.yaml beside it.
    let dir = h.files.join(&name);
    std::fs::create_dir_all(&dir).expect("dir");
    let clouds = dir.join("clouds.yaml");
    let secure = dir.join("secure.yaml");
    let write_clouds = |tls: &str| {
        std::fs::write(
            &clouds,
            format!(
                "clouds:\n  tls:\n    auth:\n      auth_url: {https}\n      username: admin\n      project_name: admin\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: RegionOne\n{tls}"
            ),
        )
        .expect("clouds.yaml")
    };
    std::fs::write(
        &secure,
        format!(
            "clouds:\n  tls:\n    auth:\n      password: {}\n",
            h.env["OS_PASSWORD"]
        ),
    )
    .expect("secure.yaml");
    let cloud_env: BTreeMap<String, String> = [
        ("OS_CLOUD", "tls".to_string()),
        ("OS_CLIENT_CONFIG_FILE", clouds.display().to_string()),
        ("OS_CLIENT_SECURE_FILE", secure.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    write_clouds(&format!("    cacert: {}\n", ca.ca_cert.display()));
    let o = run(&upload_args(&file, &name), &cloud_env);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), id);
    write_clouds(&format!("    cacert: {}\n", wrong.ca_cert.display()));
    let err = one_line_error(&run(&upload_args(&file, &name), &cloud_env));
    assert!(err.contains("UnknownIssuer"), "{err}");
    write_clouds("    verify: false\n");
    let o = run(&upload_args(&file, &name), &cloud_env);
    assert!(o.status.success(), "{}", stderr(&o));
    // Without secure.yaml the password is missing, and the message says where it looked.
    let mut no_secure = cloud_env.clone();
    no_secure.insert(
        "OS_CLIENT_SECURE_FILE".into(),
        dir.join("none.yaml").display().to_string(),
    );
    let err = one_line_error(&run(&upload_args(&file, &name), &no_secure));
    assert!(err.contains("password (OS_PASSWORD) is not set"), "{err}");
    // A CA file that is not one: one line naming it.
    let mut bad_ca = env.clone();
    bad_ca.insert("OS_CACERT".into(), secure.display().to_string());
    let err = one_line_error(&run(&upload_args(&file, &name), &bad_ca));
    assert!(err.contains("no certificate in it"), "{err}");
    delete_all(&name);
}

/// Token auth as the OpenStack client does it (`OS_AUTH_TYPE=token` with `OS_TOKEN`, or
/// clouds.yaml `auth_type: token`): a token got straight from Keystone is exchanged for a
/// project-scoped one and the upload goes through; a bad token is one line without it.
#[test]
fn token_auth_uploads() {
    let h = harness();
    let body = serde_json::json!({"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": h.env["OS_USERNAME"], "domain": {"name": "Default"},
                 "password": h.env["OS_PASSWORD"]}}}}});
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let token = rt.block_on(async {
        let r = reqwest::Client::new()
            .post(format!("{}/auth/tokens", h.env["OS_AUTH_URL"]))
            .json(&body)
            .send()
            .await
            .expect("keystone");
        assert!(r.status().is_success(), "{}", r.status());
        r.headers()["x-subject-token"]
            .to_str()
            .expect("token")
            .to_string()
    });
    let name = unique("token");
    let file = raw(&name, 4096);
    let mut env: BTreeMap<String, String> = h
        .env
        .iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "OS_USERNAME" | "OS_PASSWORD" | "OS_USER_DOMAIN_NAME"
            )
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    env.insert("OS_AUTH_TYPE".into(), "token".into());
    env.insert("OS_TOKEN".into(), token.clone());
    let o = run(&upload_args(&file, &name), &env);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(show(&stdout(&o))["status"], "active");

    let yaml = h.files.join(format!("{name}-clouds.yaml"));
    std::fs::write(
        &yaml,
        format!(
            "clouds:\n  t:\n    auth_type: token\n    auth:\n      auth_url: {}\n      token: {token}\n      project_name: admin\n      project_domain_name: Default\n    region_name: RegionOne\n",
            h.env["OS_AUTH_URL"]
        ),
    )
    .expect("clouds.yaml");
    let cloud_env: BTreeMap<String, String> = [
        ("OS_CLOUD".to_string(), "t".to_string()),
        (
            "OS_CLIENT_CONFIG_FILE".to_string(),
            yaml.display().to_string(),
        ),
    ]
    .into();
    let o = run(&upload_args(&file, &name), &cloud_env);
    assert!(o.status.success(), "{}", stderr(&o));

    env.insert("OS_TOKEN".into(), "gAAAAAnot-a-real-token".into());
    let err = one_line_error(&run(&upload_args(&file, &name), &env));
    assert!(err.contains("authentication failed"), "{err}");
    assert!(!err.contains("not-a-real-token"), "{err}");
    delete_all(&name);
}
