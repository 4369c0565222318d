//! TLS in front of a real service, the way a cloud puts its API behind a TLS terminator: a
//! private CA made with `openssl` (a CA certificate and a server certificate for 127.0.0.1
//! signed by it) and a TLS proxy (Python's `ssl`, one thread a connection) forwarding to a
//! plain port. Everything lives in a temp dir; the proxy is killed when dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A CA and one server certificate (for IP 127.0.0.1 and `localhost`) it signed.
pub struct PrivateCa {
    pub dir: tempfile::TempDir,
    /// The CA's certificate (PEM): what a client must trust.
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("running openssl: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "openssl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

impl PrivateCa {
    /// Makes a new CA named `name` and a server certificate signed by it.
    pub fn new(name: &str) -> Result<PrivateCa, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let d = dir.path();
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-subj",
                &format!("/CN={name}"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        )?;
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        )?;
        std::fs::write(
            d.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .map_err(|e| e.to_string())?;
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                "server.pem",
                "-extfile",
                "ext.cnf",
            ],
        )?;
        Ok(PrivateCa {
            ca_cert: d.join("ca.pem"),
            server_cert: d.join("server.pem"),
            server_key: d.join("server.key"),
            dir,
        })
    }
}

const PROXY: &str = r#"
import socket, ssl, sys, threading
cert, key, target = sys.argv[1], sys.argv[2], int(sys.argv[3])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(64)
print(srv.getsockname()[1], flush=True)
def pipe(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
def serve(raw):
    try:
        tls = ctx.wrap_socket(raw, server_side=True)
    except (ssl.SSLError, OSError):
        raw.close()
        return
    up = socket.create_connection(("127.0.0.1", target))
    threading.Thread(target=pipe, args=(tls, up), daemon=True).start()
    pipe(up, tls)
while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"#;

/// A TLS proxy on 127.0.0.1 forwarding to a plain port there.
pub struct TlsProxy {
    child: Child,
    pub port: u16,
}

impl TlsProxy {
    /// Serves `ca`'s server certificate on a new port, forwarding to `target`.
    pub fn start(ca: &PrivateCa, target: u16) -> Result<TlsProxy, String> {
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(PROXY)
            .arg(&ca.server_cert)
            .arg(&ca.server_key)
            .arg(target.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting the TLS proxy (python3): {e}"))?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        let port = match line.trim().parse() {
            Ok(p) => p,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("the TLS proxy printed {line:?}, not its port"));
            }
        };
        Ok(TlsProxy { child, port })
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
