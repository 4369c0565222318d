//! The services image `solum/services:<release>` (made by `stack::ensure_services_image`, or
//! found current): for each of PostgreSQL, MariaDB, RabbitMQ and Redis, a container on a named
//! volume becomes ready, keeps what a client wrote across a re-created container, refuses a
//! wrong password, and (databases) exports a dump that imports into a fresh volume.

mod buildpack_support;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use solum_agent::config::StackConfig;
use solum_agent::stack;
use solum_tests::{require_docker, unique_name};

const READY_TIMEOUT: Duration = Duration::from_secs(180);
const USER: &str = "solum_app";
const DATABASE: &str = "appdb";

/// The image, made current once per test binary through the agent's own code.
fn image() -> &'static str {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(|| {
        require_docker();
        let cfg = StackConfig::default();
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let docker = buildpack_support::docker().await;
            let (log, _) = buildpack_support::capture_log();
            let started = Instant::now();
            stack::ensure_services_image(&docker, &cfg, false, log)
                .await
                .expect("making the services image");
            eprintln!(
                "services image current after {:.1} s",
                started.elapsed().as_secs_f64()
            );
        });
        stack::services_image(&cfg)
    })
}

/// Containers and volumes of one test, removed on drop (also when it fails).
#[derive(Default)]
struct Cleanup {
    containers: Vec<String>,
    volumes: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = Command::new("docker").args(["rm", "-f", "-v", c]).output();
        }
        for v in &self.volumes {
            let _ = Command::new("docker")
                .args(["volume", "rm", "-f", v])
                .output();
        }
    }
}

fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("running docker")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `docker exec CONTAINER ARGS...` that must succeed; its stdout, trimmed.
fn exec_ok(container: &str, args: &[&str]) -> String {
    let mut all = vec!["exec", container];
    all.extend_from_slice(args);
    let o = docker(&all);
    assert!(o.status.success(), "{args:?} in {container}:\n{}", text(&o));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// One service under test: its kind, credentials and containers.
struct Service {
    kind: &'static str,
    password: String,
    cleanup: Cleanup,
}

impl Service {
    fn new(kind: &'static str) -> Service {
        Service {
            kind,
            password: format!("pw-{}-'\"x$y", unique_name("s")),
            cleanup: Cleanup::default(),
        }
    }

    fn volume(&mut self) -> String {
        let v = unique_name(&format!("solum-test-svc-{}", self.kind));
        let o = docker(&["volume", "create", &v]);
        assert!(o.status.success(), "{}", text(&o));
        self.cleanup.volumes.push(v.clone());
        v
    }

    /// Starts a container on `volume`, its port published on 127.0.0.1 only.
    fn start(&mut self, volume: &str) -> String {
        let name = unique_name(&format!("solum-test-svc-{}", self.kind));
        self.cleanup.containers.push(name.clone());
        let port = stack::services::port(self.kind).unwrap();
        let o = Command::new("docker")
            .args([
                "run",
                "-d",
                "--name",
                &name,
                "--label",
                "solum.test=services",
            ])
            .args(["-v", &format!("{volume}:{}", stack::services::VOLUME_PATH)])
            .args(["-p", &format!("127.0.0.1::{port}")])
            .args(["-e", &format!("SOLUM_SERVICE_USER={USER}")])
            .args(["-e", "SOLUM_SERVICE_PASSWORD"])
            .args(["-e", &format!("SOLUM_SERVICE_DATABASE={DATABASE}")])
            .env("SOLUM_SERVICE_PASSWORD", &self.password)
            .args([image(), "solum-service", self.kind])
            .output()
            .unwrap();
        assert!(o.status.success(), "docker run: {}", text(&o));
        name
    }

    /// Waits until `solum-service KIND ready` passes; the time it took.
    fn wait_ready(&self, container: &str) -> Duration {
        let started = Instant::now();
        let mut last = String::new();
        while started.elapsed() < READY_TIMEOUT {
            let o = docker(&["exec", container, "solum-service", self.kind, "ready"]);
            if o.status.success() {
                return started.elapsed();
            }
            last = text(&o);
            let running = docker(&["inspect", "-f", "{{.State.Running}}", container]);
            if String::from_utf8_lossy(&running.stdout).trim() != "true" {
                panic!(
                    "{} exited before it was ready:\n{}",
                    self.kind,
                    text(&docker(&["logs", container]))
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!(
            "{} not ready within {READY_TIMEOUT:?}: {last}\n{}",
            self.kind,
            text(&docker(&["logs", container]))
        );
    }

    /// `docker stop` (SIGTERM, 10 s) then remove; the time the stop took.
    fn stop_and_remove(&self, container: &str) -> Duration {
        let started = Instant::now();
        let o = docker(&["stop", container]);
        let took = started.elapsed();
        assert!(o.status.success(), "{}", text(&o));
        let code = docker(&["inspect", "-f", "{{.State.ExitCode}}", container]);
        let code = String::from_utf8_lossy(&code.stdout).trim().to_string();
        assert!(
            took < Duration::from_secs(9) && code != "137",
            "{} did not stop cleanly on SIGTERM (took {took:?}, exit code {code}):\n{}",
            self.kind,
            text(&docker(&["logs", "--tail", "30", container]))
        );
        let o = docker(&["rm", container]);
        assert!(o.status.success(), "{}", text(&o));
        took
    }

    fn url(&self) -> String {
        let scheme = match self.kind {
            "postgresql" => "postgresql",
            "mysql" => "mysql",
            "redis" => "redis",
            _ => "amqp",
        };
        let port = stack::services::port(self.kind).unwrap();
        let user = if self.kind == "redis" { "" } else { USER };
        let db = if self.kind == "redis" { "0" } else { DATABASE };
        format!(
            "{scheme}://{user}:{}@127.0.0.1:{port}/{db}",
            percent(&self.password)
        )
    }

    /// Runs a client in `container` on the service's URL.
    fn client(&self, container: &str, args: &[&str]) -> String {
        let url = self.url();
        let mut all = vec!["solum-service-url", self.kind, &url, "--"];
        all.extend_from_slice(args);
        exec_ok(container, &all)
    }

    fn write(&self, c: &str) {
        match self.kind {
            "postgresql" => {
                self.client(
                    c,
                    &[
                        "-v",
                        "ON_ERROR_STOP=1",
                        "-c",
                        "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'kept'), (2, 'also kept')",
                    ],
                );
            }
            "mysql" => {
                self.client(
                    c,
                    &["-e", "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'kept'), (2, 'also kept')"],
                );
            }
            "redis" => assert_eq!(self.client(c, &["SET", "k", "kept"]), "OK"),
            _ => {
                let url = format!("--url={}", self.url());
                exec_ok(c, &["amqp-declare-queue", &url, "-d", "-q", "kept"]);
                exec_ok(
                    c,
                    &[
                        "amqp-publish",
                        &url,
                        "-r",
                        "kept",
                        "-p",
                        "-b",
                        "kept message",
                    ],
                );
            }
        }
    }

    /// What `write` left, read back.
    fn read(&self, c: &str) -> String {
        match self.kind {
            "postgresql" => self.client(
                c,
                &["-tA", "-c", "SELECT string_agg(v, ',' ORDER BY id) FROM t"],
            ),
            "mysql" => self.client(
                c,
                &[
                    "-N",
                    "-B",
                    "-e",
                    "SELECT group_concat(v ORDER BY id) FROM t",
                ],
            ),
            "redis" => self.client(c, &["GET", "k"]),
            _ => exec_ok(
                c,
                &["amqp-get", &format!("--url={}", self.url()), "-q", "kept"],
            ),
        }
    }

    fn expected(&self) -> &'static str {
        match self.kind {
            "postgresql" | "mysql" => "kept,also kept",
            "redis" => "kept",
            _ => "kept message",
        }
    }
}

/// Percent-encodes everything but unreserved characters (for a password in a URL).
fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The TCP ports `container` listens on at every address: 0.0.0.0 or `::` (dual stack), from
/// its /proc/net/tcp and tcp6.
fn listening_on_all(container: &str) -> Vec<u16> {
    let table = exec_ok(container, &["cat", "/proc/net/tcp", "/proc/net/tcp6"]);
    table
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (addr, port) = f.get(1)?.split_once(':')?;
            (addr.chars().all(|c| c == '0') && f.get(3) == Some(&"0A"))
                .then(|| u16::from_str_radix(port, 16).ok())
                .flatten()
        })
        .collect()
}

fn check_kind(kind: &'static str) {
    let image = image();
    let mut s = Service::new(kind);
    let port = stack::services::port(kind).unwrap();

    // First start: initialized from the environment.
    let volume = s.volume();
    let first = s.start(&volume);
    let ready_first = s.wait_ready(&first);
    assert!(
        listening_on_all(&first).contains(&port),
        "{kind} does not listen on all interfaces on {port}"
    );

    // A wrong password fails `ready`, in one line, without printing the password.
    let o = Command::new("docker")
        .args([
            "exec",
            "-e",
            "SOLUM_SERVICE_PASSWORD=wrong-password",
            &first,
        ])
        .args(["solum-service", kind, "ready"])
        .output()
        .unwrap();
    let said = text(&o);
    assert!(
        !o.status.success(),
        "{kind}: ready passed with a wrong password"
    );
    assert_eq!(said.trim().lines().count(), 1, "{kind}: {said}");
    assert!(said.contains("not ready"), "{kind}: {said}");
    assert!(!said.contains(&s.password), "{kind}: {said}");
    if kind == "rabbitmq" {
        // No guest user.
        let o = docker(&[
            "exec",
            &first,
            "amqp-declare-queue",
            "--url=amqp://guest:guest@127.0.0.1:5672/",
            "-q",
            "x",
        ]);
        assert!(!o.status.success(), "guest can log in: {}", text(&o));
    }
    // The logs carry no password.
    let logs = text(&docker(&["logs", &first]));
    assert!(!logs.contains(&s.password), "{kind} logged the password");

    s.write(&first);
    assert_eq!(
        s.read_once(&first),
        s.expected(),
        "{kind}: read after write"
    );
    let stop = s.stop_and_remove(&first);

    // A new container on the same volume keeps the data.
    let second = s.start(&volume);
    let ready_again = s.wait_ready(&second);
    assert_eq!(
        s.read(&second),
        s.expected(),
        "{kind}: data after re-creation"
    );

    // Export and import into a fresh volume (databases); the others refuse with status 2.
    if matches!(kind, "postgresql" | "mysql") {
        let dump = docker(&["exec", &second, "solum-service", kind, "export"]);
        assert!(dump.status.success(), "export: {}", text(&dump));
        assert!(
            String::from_utf8_lossy(&dump.stdout).contains("also kept"),
            "{kind}: the dump lacks the rows"
        );
        let fresh = s.volume();
        let third = s.start(&fresh);
        s.wait_ready(&third);
        let mut import = Command::new("docker")
            .args(["exec", "-i", &third, "solum-service", kind, "import"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        import
            .stdin
            .take()
            .unwrap()
            .write_all(&dump.stdout)
            .unwrap();
        let o = import.wait_with_output().unwrap();
        assert!(o.status.success(), "{kind} import: {}", text(&o));
        assert_eq!(s.read(&third), s.expected(), "{kind}: rows after import");
    } else {
        let o = docker(&["exec", &second, "solum-service", kind, "export"]);
        assert_eq!(o.status.code(), Some(2), "{kind} export: {}", text(&o));
        assert!(text(&o).contains("for databases"), "{}", text(&o));
    }
    eprintln!(
        "{kind} ({image}): ready {:.1} s after the first start, {:.1} s after re-creation; docker stop {:.1} s",
        ready_first.as_secs_f64(),
        ready_again.as_secs_f64(),
        stop.as_secs_f64()
    );
}

impl Service {
    /// `read` right after `write`: a message is taken off the queue by reading, so for
    /// RabbitMQ it is published again for the next container.
    fn read_once(&self, c: &str) -> String {
        let got = self.read(c);
        if self.kind == "rabbitmq" {
            self.write(c);
        }
        got
    }
}

#[test]
fn postgresql_keeps_data_exports_and_imports() {
    check_kind("postgresql");
}

#[test]
fn mysql_keeps_data_exports_and_imports() {
    check_kind("mysql");
}

#[test]
fn rabbitmq_keeps_a_durable_message() {
    check_kind("rabbitmq");
}

#[test]
fn redis_keeps_a_key() {
    check_kind("redis");
}

#[test]
fn the_image_has_the_clients_and_no_apt_lists() {
    let image = image();
    let o = docker(&[
        "run",
        "--rm",
        "--label",
        "solum.test=services",
        image,
        "bash",
        "-c",
        "command -v psql pg_dump mariadb mariadb-dump redis-cli amqp-publish amqp-get python3 solum-service solum-service-url >/dev/null && \
         find /var/lib/apt/lists /var/cache/apt -name '*Packages*' -o -name '*.deb' | wc -l && \
         ls -A /var/lib/solum-service | wc -l; solum-service nosuch; echo \"exit=$?\"; solum-service redis export; echo \"exit=$?\"",
    ]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0", "apt lists or packages kept: {out}");
    assert_eq!(lines[1], "0", "/var/lib/solum-service is not empty: {out}");
    assert!(out.contains("exit=64"), "{out}");
    assert!(out.contains("exit=2"), "{out}");
    let size = docker(&["image", "inspect", "-f", "{{.Size}}", image]);
    let bytes: u64 = String::from_utf8_lossy(&size.stdout)
        .trim()
        .parse()
        .unwrap();
    eprintln!("{image}: {} MB", bytes / 1_000_000);
}
