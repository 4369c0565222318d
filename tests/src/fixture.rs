//! A fixture HTTP server that plays the OpenStack side an app VM talks to: the Nova metadata
//! service, Keystone v3, Heat (the cfn API with real EC2 signature v2 checking, the resource
//! metadata and signal APIs), Swift TempURLs and a registrar. It speaks their exact formats,
//! refuses what the real services refuse (bad signatures, bad tokens, unknown wait-condition
//! keys, non-JSON signal bodies), and records every request so tests can assert on them.
//!
//! std only (threads, one connection per request), so the fixture never shares code or bugs
//! with the agent it checks; the signature check is an independent implementation.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
    /// The fixture's verdict (status code it answered).
    pub status: u16,
    /// When the request line arrived (for rate and burst measurements).
    pub received: Instant,
}

impl Request {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// What the fixture serves; tests change it while the agent runs.
#[derive(Debug, Default)]
pub struct World {
    /// Nova: `openstack/latest/meta_data.json`; None = 404 (no metadata service).
    pub meta_data: Option<Value>,
    pub user_data: Option<Vec<u8>>,
    /// Nova answers 500 to everything while true.
    pub nova_down: bool,
    /// cfn: the stack's credentials and the resource metadata it describes.
    pub cfn_access_key: String,
    pub cfn_secret_key: String,
    pub stack_name: String,
    pub resource: String,
    /// The server resource's metadata document (served by cfn, heat and the TempURL).
    pub metadata: Value,
    /// Bumped whenever `metadata` changes (the TempURL's Last-Modified).
    pub metadata_version: u64,
    /// Keystone: user id -> (password, project id).
    pub users: BTreeMap<String, (String, String)>,
    /// Tokens issued and still valid (Heat answers 401 to others; clear it to revoke).
    pub tokens: Vec<String>,
    /// Seconds between a token's `issued_at` and `expires_at`; None: Keystone's default, 3600.
    /// The dates themselves are in 2026, far from any clock: only the difference counts.
    pub token_lifetime: Option<u32>,
    /// Answer the next N signals (any kind) with 500.
    pub fail_signals: u32,
    /// Files served at `/files/<name>` (source and buildpack tarballs).
    pub files: BTreeMap<String, Vec<u8>>,
    /// Everything received, in order.
    pub requests: Vec<Request>,
}

pub struct Fixture {
    pub port: u16,
    /// The base URL clients see the fixture at, when it is not `http://127.0.0.1:PORT` (a VM
    /// reaches it as `http://169.254.169.254` through qemu's guestfwd). Outside `World`, so
    /// that `url` never takes the lock (it is called inside `with` closures).
    pub public_base: Option<String>,
    pub world: Arc<Mutex<World>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Fixture {
    pub fn start() -> Fixture {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the fixture");
        let port = listener.local_addr().expect("addr").port();
        let world = Arc::new(Mutex::new(World::default()));
        let stop = serve(listener, port, world.clone());
        Fixture {
            port,
            public_base: None,
            world,
            stop,
        }
    }

    /// Stops answering (connections are refused) for `down`, then serves again on the same
    /// port with the same world: a restart of the services the VM talks to.
    pub fn restart(&mut self, down: Duration) {
        self.shutdown();
        std::thread::sleep(down);
        let listener =
            TcpListener::bind(("127.0.0.1", self.port)).expect("rebinding the fixture's port");
        self.stop = serve(listener, self.port, self.world.clone());
    }

    fn shutdown(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        // Wake the accept loop so that it sees the flag and drops the listener.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `path` at the address clients use (`public_base`, else the loopback port).
    pub fn url(&self, path: &str) -> String {
        match &self.public_base {
            Some(base) => format!("{}{path}", base.trim_end_matches('/')),
            None => format!("http://127.0.0.1:{}{path}", self.port),
        }
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        f(&mut self.world.lock().expect("fixture lock"))
    }

    /// The pre-signed heat-cfn signal URL Heat would hand a deployment.
    pub fn cfn_signal_url(&self, name: &str) -> String {
        let w = self.world.lock().expect("fixture lock");
        let path = format!("/v1/signal/{name}");
        let params = vec![
            ("Timestamp".to_string(), "2026-11-25T00:00:00Z".to_string()),
            ("SignatureMethod".to_string(), "HmacSHA256".to_string()),
            ("AWSAccessKeyId".to_string(), w.cfn_access_key.clone()),
            ("SignatureVersion".to_string(), "2".to_string()),
        ];
        let sig = sign_v2(
            &w.cfn_secret_key,
            "POST",
            &format!("127.0.0.1:{}", self.port),
            &path,
            &params,
        );
        let mut q: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect();
        q.push(format!("Signature={}", enc(&sig)));
        self.url(&format!("{path}?{}", q.join("&")))
    }

    /// A Swift TempURL for an object (the fixture checks the signature it issued).
    pub fn temp_url(&self, object: &str, method: &str) -> String {
        self.url(&format!(
            "/swift/v1/AUTH_p/c/{object}?temp_url_sig={}&temp_url_expires=9999999999",
            temp_sig(method, object)
        ))
    }

    /// Requests whose path starts with `prefix`, in order.
    pub fn requests_to(&self, prefix: &str) -> Vec<Request> {
        self.with(|w| {
            w.requests
                .iter()
                .filter(|r| r.path.starts_with(prefix))
                .cloned()
                .collect()
        })
    }

    /// Waits until `pred` holds for the recorded requests (or panics after `timeout`).
    pub fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&[Request]) -> bool) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.with(|w| pred(&w.requests)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let seen: Vec<String> = self.with(|w| {
            w.requests
                .iter()
                .map(|r| format!("{} {} -> {}", r.method, r.path, r.status))
                .collect()
        });
        panic!(
            "fixture: {what} did not happen within {timeout:?}; requests seen:\n{}",
            seen.join("\n")
        );
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Accepts connections until the returned flag is set; each request is answered on a thread.
fn serve(
    listener: TcpListener,
    port: u16,
    world: Arc<Mutex<World>>,
) -> Arc<std::sync::atomic::AtomicBool> {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s = stop.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            if s.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
            let Ok(stream) = stream else { continue };
            let w = world.clone();
            std::thread::spawn(move || {
                let _ = handle(stream, port, &w);
            });
        }
    });
    stop
}

fn temp_sig(method: &str, object: &str) -> String {
    // Not Swift's HMAC: the fixture only needs a value it can recognise as its own.
    let mut mac = Hmac::<Sha256>::new_from_slice(b"fixture-temp-url-key").expect("hmac");
    mac.update(format!("{method}\n{object}").as_bytes());
    hex(&mac.finalize().into_bytes())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// RFC 3986 encoding as the EC2 signers use it.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// EC2 signature v2 (HmacSHA256), written independently of the agent's.
pub fn sign_v2(
    secret: &str,
    verb: &str,
    host: &str,
    path: &str,
    params: &[(String, String)],
) -> String {
    let mut sorted: Vec<&(String, String)> =
        params.iter().filter(|(k, _)| k != "Signature").collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let qs: Vec<String> = sorted
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect();
    let to_sign = format!("{verb}\n{}\n{path}\n{}", host.to_lowercase(), qs.join("&"));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("hmac");
    mac.update(to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hexval = |j: usize| bytes.get(j).and_then(|c| (*c as char).to_digit(16));
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (hexval(i + 1), hexval(i + 2)) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn answer(status: u16, body: impl Into<Vec<u8>>) -> Answer {
    Answer {
        status,
        headers: Vec::new(),
        body: body.into(),
    }
}

fn handle(stream: TcpStream, port: u16, world: &Mutex<World>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let received = Instant::now();
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len.min(32 << 20)];
    reader.read_exact(&mut body)?;
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), parse_query(q)),
        None => (target.clone(), Vec::new()),
    };
    let mut req = Request {
        method,
        path,
        query,
        headers,
        body,
        status: 0,
        received,
    };
    let ans = {
        let mut w = world.lock().expect("fixture lock");
        let a = route(&req, port, &mut w);
        req.status = a.status;
        w.requests.push(req.clone());
        a
    };
    let mut out = stream;
    let reason = match ans.status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        _ => "Status",
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n",
        ans.status,
        ans.body.len()
    );
    for (k, v) in &ans.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    if req.method != "HEAD" {
        out.write_all(&ans.body)?;
    }
    out.flush()
}

fn route(req: &Request, port: u16, w: &mut World) -> Answer {
    let p = req.path.as_str();
    let m = req.method.as_str();
    if let Some(file) = p.strip_prefix("/openstack/latest/") {
        if w.nova_down {
            return answer(500, "nova is down");
        }
        return match (file, &w.meta_data) {
            ("meta_data.json", Some(v)) => answer(200, v.to_string()),
            ("user_data", Some(_)) => match &w.user_data {
                Some(u) => answer(200, u.clone()),
                None => answer(404, ""),
            },
            _ => answer(404, ""),
        };
    }
    if p == "/v1/" && m == "GET" {
        return cfn_describe(req, port, w);
    }
    if p.starts_with("/v1/signal/") {
        return cfn_signal(req, port, w);
    }
    if let Some(object) = p.strip_prefix("/swift/v1/AUTH_p/c/") {
        return swift(req, object, w);
    }
    if p == "/v3/auth/tokens" && m == "POST" {
        return keystone(req, port, w);
    }
    if let Some(rest) = p.strip_prefix("/heat/v1/") {
        return heat(req, rest, w);
    }
    if let Some(name) = p.strip_prefix("/files/") {
        return match (m, w.files.get(name)) {
            ("GET" | "HEAD", Some(bytes)) => answer(200, bytes.clone()),
            _ => answer(404, ""),
        };
    }
    if p.starts_with("/registrar/") {
        return if req.json().is_object() {
            answer(201, "{}")
        } else {
            answer(400, "not JSON")
        };
    }
    answer(404, "no such fixture route")
}

fn cfn_describe(req: &Request, port: u16, w: &World) -> Answer {
    let get = |k: &str| {
        req.query
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    let host = req.headers.get("host").cloned().unwrap_or_default();
    if host != format!("127.0.0.1:{port}") {
        return answer(400, format!("unexpected Host {host}"));
    }
    let expected = sign_v2(&w.cfn_secret_key, "GET", &host, "/v1/", &req.query);
    if get("Signature") != Some(expected.as_str())
        || get("AWSAccessKeyId") != Some(w.cfn_access_key.as_str())
    {
        return answer(
            403,
            "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code></Error></ErrorResponse>",
        );
    }
    if get("SignatureVersion") != Some("2") || get("Action") != Some("DescribeStackResource") {
        return answer(
            400,
            "<ErrorResponse><Error><Code>InvalidAction</Code></Error></ErrorResponse>",
        );
    }
    if get("StackName") != Some(w.stack_name.as_str())
        || get("LogicalResourceId") != Some(w.resource.as_str())
    {
        return answer(
            404,
            "<ErrorResponse><Error><Code>ResourceNotFound</Code></Error></ErrorResponse>",
        );
    }
    let meta = w
        .metadata
        .to_string()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    answer(
        200,
        format!(
            "<DescribeStackResourceResponse><DescribeStackResourceResult><StackResourceDetail><StackName>{}</StackName><LogicalResourceId>{}</LogicalResourceId><Metadata>{meta}</Metadata></StackResourceDetail></DescribeStackResourceResult></DescribeStackResourceResponse>",
            w.stack_name, w.resource
        ),
    )
}

/// A deployment signal body as Heat checks it.
fn check_deploy_signal(body: &Value) -> Result<(), String> {
    let o = body.as_object().ok_or("body is not a JSON object")?;
    for k in ["deploy_stdout", "deploy_stderr"] {
        if !o.get(k).is_some_and(Value::is_string) {
            return Err(format!("{k} missing or not a string"));
        }
    }
    if !o.get("deploy_status_code").is_some_and(Value::is_i64) {
        return Err("deploy_status_code missing or not an integer".into());
    }
    Ok(())
}

fn cfn_signal(req: &Request, port: u16, w: &mut World) -> Answer {
    if req.method != "POST" {
        return answer(405, "");
    }
    let expected = sign_v2(
        &w.cfn_secret_key,
        "POST",
        &format!("127.0.0.1:{port}"),
        &req.path,
        &req.query,
    );
    if req
        .query
        .iter()
        .find(|(k, _)| k == "Signature")
        .map(|(_, v)| v)
        != Some(&expected)
    {
        return answer(403, "signature mismatch");
    }
    signal_verdict(req, w, check_deploy_signal)
}

fn signal_verdict(req: &Request, w: &mut World, check: fn(&Value) -> Result<(), String>) -> Answer {
    if w.fail_signals > 0 {
        w.fail_signals -= 1;
        return answer(500, "injected failure");
    }
    if req.body.len() > 1 << 20 {
        return answer(413, "request entity too large");
    }
    match check(&req.json()) {
        Ok(()) => answer(200, ""),
        Err(e) => answer(400, e),
    }
}

fn swift(req: &Request, object: &str, w: &mut World) -> Answer {
    let sig = req
        .query
        .iter()
        .find(|(k, _)| k == "temp_url_sig")
        .map(|(_, v)| v.clone());
    let verb = if req.method == "HEAD" {
        "GET"
    } else {
        req.method.as_str()
    };
    if sig != Some(temp_sig(verb, object)) {
        return answer(401, "temp url signature invalid");
    }
    match req.method.as_str() {
        "GET" | "HEAD" if object == "metadata" => {
            let mut a = answer(200, w.metadata.to_string());
            // An HTTP date (as Swift sends it) that moves with each change of the document.
            let when =
                std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + w.metadata_version);
            a.headers
                .push(("Last-Modified".into(), httpdate::fmt_http_date(when)));
            a
        }
        "PUT" if object.starts_with("signal-") => signal_verdict(req, w, check_deploy_signal),
        "PUT" if object.starts_with("wait-") => signal_verdict(req, w, check_wait_signal),
        _ => answer(404, ""),
    }
}

/// `OS::Heat::WaitConditionHandle` / SwiftSignal bodies: only these keys, status one of two.
fn check_wait_signal(body: &Value) -> Result<(), String> {
    let o = body.as_object().ok_or("body is not a JSON object")?;
    for k in o.keys() {
        if !["status", "reason", "data", "id"].contains(&k.as_str()) {
            return Err(format!("unknown key {k}"));
        }
    }
    match o.get("status").and_then(Value::as_str) {
        None | Some("SUCCESS") | Some("FAILURE") => Ok(()),
        Some(other) => Err(format!("bad status {other}")),
    }
}

fn keystone(req: &Request, port: u16, w: &mut World) -> Answer {
    let b = req.json();
    if b["auth"]["identity"]["methods"] != json!(["password"]) {
        return answer(400, "methods must be [password]");
    }
    let user = &b["auth"]["identity"]["password"]["user"];
    let (Some(id), Some(pw)) = (user["id"].as_str(), user["password"].as_str()) else {
        return answer(400, "user id and password required");
    };
    let project = b["auth"]["scope"]["project"]["id"].as_str().unwrap_or("");
    match w.users.get(id) {
        Some((p, proj)) if p == pw && proj == project => {}
        _ => return answer(401, r#"{"error": {"code": 401, "title": "Unauthorized"}}"#),
    }
    let issued = w
        .requests
        .iter()
        .filter(|r| r.path == "/v3/auth/tokens")
        .count();
    let token = format!("tok-{}", issued + 1);
    w.tokens.push(token.clone());
    let life = w.token_lifetime.unwrap_or(3600).min(86_399);
    let expires = format!(
        "2026-06-01T{:02}:{:02}:{:02}.000000Z",
        life / 3600,
        life / 60 % 60,
        life % 60
    );
    let body = json!({"token": {"issued_at": "2026-06-01T00:00:00.000000Z", "expires_at": expires,
        "catalog": [{"type": "orchestration", "name": "heat", "endpoints": [
        {"interface": "public", "region_id": "RegionOne", "url": format!("http://127.0.0.1:{port}/heat/v1/{project}")}]}]}});
    let mut a = answer(201, body.to_string());
    a.headers.push(("X-Subject-Token".into(), token));
    a
}

fn heat(req: &Request, rest: &str, w: &mut World) -> Answer {
    let token = req.headers.get("x-auth-token").cloned().unwrap_or_default();
    if !w.tokens.contains(&token) {
        return answer(401, "bad token");
    }
    // {project}/stacks/{name}/{id}/resources/{resource}/(metadata|signal)
    let parts: Vec<&str> = rest.split('/').collect();
    if parts.len() != 7 || parts[1] != "stacks" || parts[4] != "resources" {
        return answer(404, "");
    }
    match (req.method.as_str(), parts[6]) {
        ("GET", "metadata") if parts[5] == w.resource => {
            answer(200, json!({"metadata": w.metadata}).to_string())
        }
        ("POST", "signal") if parts[5].starts_with("wait") => {
            signal_verdict(req, w, check_wait_signal)
        }
        ("POST", "signal") => signal_verdict(req, w, check_deploy_signal),
        _ => answer(404, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_handles_escapes() {
        assert_eq!(decode("a%2Fb+c%3D"), "a/b c=");
        assert_eq!(decode("50%"), "50%");
    }

    #[test]
    fn signature_matches_an_independent_python_reference() {
        // python3: base64(hmac(SECRET, "GET\nheat:8000\n/v1/\n<sorted, quoted query>", sha256))
        let params: Vec<(String, String)> = [
            ("Action", "DescribeStackResource"),
            ("StackName", "teststack"),
            ("LogicalResourceId", "server"),
            ("AWSAccessKeyId", "AK"),
            ("SignatureVersion", "2"),
            ("SignatureMethod", "HmacSHA256"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            sign_v2("SECRET", "GET", "heat:8000", "/v1/", &params),
            "wbawwnCOSI9PlkeT4xmOxGvxEMVQ6WDBANyMk+B1Ehs="
        );
    }
}
