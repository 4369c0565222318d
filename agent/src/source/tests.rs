//! Tests of `fetch` against real things: repositories made with the `git` CLI, tarballs built
//! with the `tar` crate (hostile ones included), and a tiny HTTP server on 127.0.0.1.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use base64::Engine;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

// ---------- helpers ----------

fn sh_git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.invalid",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "tag.gpgsign=false",
        ])
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

struct Repo {
    _dir: tempfile::TempDir,
    url: String,
    v1: String,
    v2: String,
    feature: String,
}

/// main: v1 (annotated tag v1) -> v2; branch feature off v1.
fn repo() -> Repo {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    sh_git(r, &["init", "-q", "-b", "main"]);
    fs::write(r.join("a.txt"), "v1").unwrap();
    sh_git(r, &["add", "."]);
    sh_git(r, &["commit", "-q", "-m", "v1"]);
    sh_git(r, &["tag", "-a", "v1", "-m", "release 1"]);
    let v1 = sh_git(r, &["rev-parse", "HEAD"]);
    sh_git(r, &["checkout", "-q", "-b", "feature"]);
    fs::write(r.join("a.txt"), "feature").unwrap();
    sh_git(r, &["commit", "-q", "-am", "feature"]);
    let feature = sh_git(r, &["rev-parse", "HEAD"]);
    sh_git(r, &["checkout", "-q", "main"]);
    fs::write(r.join("a.txt"), "v2").unwrap();
    sh_git(r, &["commit", "-q", "-am", "v2"]);
    let v2 = sh_git(r, &["rev-parse", "HEAD"]);
    let url = url::Url::from_file_path(r).unwrap().to_string();
    Repo {
        _dir: dir,
        url,
        v1,
        v2,
        feature,
    }
}

fn git_spec(url: &str, rev: Option<&str>) -> SourceSpec {
    SourceSpec::Git {
        url: url.into(),
        revision: rev.map(Into::into),
    }
}

/// A parent directory for `dest`s; `leftovers` checks no staging directory stayed behind.
struct Out(tempfile::TempDir);

impl Out {
    fn new() -> Self {
        Out(tempfile::tempdir().unwrap())
    }
    fn dest(&self) -> PathBuf {
        self.0.path().join("src")
    }
    fn assert_clean(&self) {
        let left: Vec<_> = fs::read_dir(self.0.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}

async fn fetch_err(spec: &SourceSpec, token: Option<&Secret>) -> String {
    let out = Out::new();
    let err = fetch(spec, token, &out.dest())
        .await
        .expect_err("fetch should fail")
        .to_string();
    out.assert_clean();
    err
}

// ---------- git ----------

#[tokio::test]
async fn git_revisions() {
    let repo = repo();
    let short = &repo.v1[..7];
    let cases: [(Option<&str>, &str, &str); 6] = [
        (None, &repo.v2, "v2"),
        (Some("main"), &repo.v2, "v2"),
        (Some("feature"), &repo.feature, "feature"),
        (Some("v1"), &repo.v1, "v1"),
        (Some(&repo.v1), &repo.v1, "v1"),
        (Some(short), &repo.v1, "v1"),
    ];
    for (rev, sha, content) in cases {
        let out = Out::new();
        let got = fetch(&git_spec(&repo.url, rev), None, &out.dest())
            .await
            .unwrap_or_else(|e| panic!("{rev:?}: {e}"));
        assert_eq!(
            got,
            Fetched {
                dir: out.dest(),
                version: sha.to_owned()
            },
            "{rev:?}"
        );
        assert_eq!(
            fs::read_to_string(out.dest().join("a.txt")).unwrap(),
            content,
            "{rev:?}"
        );
        assert!(out.dest().join(".git").is_dir(), ".git is kept");
    }
}

#[tokio::test]
async fn git_plain_path_and_empty_dest() {
    let repo = repo();
    let path = url::Url::parse(&repo.url).unwrap().to_file_path().unwrap();
    let out = Out::new();
    fs::create_dir(out.dest()).unwrap();
    let got = fetch(
        &git_spec(path.to_str().unwrap(), Some("feature")),
        None,
        &out.dest(),
    )
    .await
    .unwrap();
    assert_eq!(got.version, repo.feature);
}

#[tokio::test]
async fn git_errors_are_one_clear_line() {
    let repo = repo();
    let err = fetch_err(&git_spec(&repo.url, Some("no-such-branch")), None).await;
    assert!(
        err.starts_with(&format!("git clone of {} failed: ", repo.url)),
        "{err}"
    );
    assert!(err.contains("no-such-branch"), "{err}");
    assert!(!err.contains('\n'), "{err}");

    let err = fetch_err(&git_spec(&repo.url, Some("abcdef1")), None).await;
    assert!(err.contains("revision abcdef1 not found"), "{err}");

    let err = fetch_err(&git_spec("file:///nonexistent/solum-repo.git", None), None).await;
    assert!(
        err.starts_with("git clone of file:///nonexistent/solum-repo.git failed: "),
        "{err}"
    );
    assert!(!err.contains('\n'), "{err}");

    // Port 9 on localhost: nothing listens; the password must not show.
    let err = fetch_err(
        &git_spec("http://user:hunter22@127.0.0.1:9/x.git", None),
        None,
    )
    .await;
    assert!(
        err.starts_with("git clone of http://127.0.0.1:9/x.git failed: "),
        "{err}"
    );
    assert!(!err.contains("hunter22"), "{err}");

    let err = fetch_err(&git_spec("ext::sh -c touch% /tmp/solum-pwned", None), None).await;
    assert!(err.contains("git clone of ext::sh"), "{err}");
    assert!(!Path::new("/tmp/solum-pwned").exists());
}

/// A one-shot HTTP server on 127.0.0.1: answers every request with `status` and `body`,
/// recording the requests' heads.
struct Server {
    base: String,
    requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(status: &'static str, body: Vec<u8>) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match sock.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            if let Ok(mut seen) = seen.lock() {
                seen.push(String::from_utf8_lossy(&head).into_owned());
            }
            let reply = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = sock.write_all(reply.as_bytes()).await;
            let _ = sock.write_all(&body).await;
            let _ = sock.shutdown().await;
        }
    });
    Server {
        base,
        requests,
        task,
    }
}

#[tokio::test]
async fn git_token_goes_in_a_header_and_stays_out_of_messages() {
    let server = serve("404 Not Found", b"nope".to_vec()).await;
    let token = Secret("tok-0123456789".into());
    let url = format!("{}/org/app.git", server.base);
    let err = fetch_err(&git_spec(&url, None), Some(&token)).await;
    assert!(
        err.starts_with(&format!("git clone of {url} failed: ")),
        "{err}"
    );
    assert!(!err.contains("tok-0123456789"), "{err}");
    let expected =
        base64::engine::general_purpose::STANDARD.encode("x-access-token:tok-0123456789");
    let requests = server.requests.lock().unwrap().clone();
    assert!(!requests.is_empty());
    let auth = format!("authorization: basic {}", expected.to_lowercase());
    assert!(
        requests[0].to_lowercase().contains(&auth),
        "{:?}",
        requests[0]
    );
}

// ---------- directories ----------

#[tokio::test]
async fn dir_copy_and_version() {
    let src = tempfile::tempdir().unwrap();
    fs::create_dir(src.path().join(".git")).unwrap();
    fs::write(src.path().join(".git/HEAD"), "x").unwrap();
    fs::write(src.path().join("app.py"), "print(1)").unwrap();
    let out = Out::new();
    let got = fetch(
        &SourceSpec::Dir {
            path: src.path().into(),
        },
        None,
        &out.dest(),
    )
    .await
    .unwrap();
    assert_eq!(
        got.version,
        format!("sha256:{}", tree_hash(src.path()).unwrap())
    );
    assert_eq!(
        fs::read_to_string(out.dest().join("app.py")).unwrap(),
        "print(1)"
    );
    assert!(!out.dest().join(".git").exists());

    // A non-empty dest is refused and left alone.
    let err = fetch(
        &SourceSpec::Dir {
            path: src.path().into(),
        },
        None,
        &out.dest(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SourceError::DestNotEmpty(_)), "{err}");
    assert!(out.dest().join("app.py").exists());

    let err = fetch_err(
        &SourceSpec::Dir {
            path: "/nonexistent/solum-src".into(),
        },
        None,
    )
    .await;
    assert!(
        err.contains("source directory /nonexistent/solum-src does not exist"),
        "{err}"
    );
}

#[tokio::test]
async fn dir_dest_inside_the_source() {
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("app.py"), "x").unwrap();
    fs::create_dir(src.path().join("build")).unwrap();
    let dest = src.path().join("build/src");
    fetch(
        &SourceSpec::Dir {
            path: src.path().into(),
        },
        None,
        &dest,
    )
    .await
    .unwrap();
    assert!(dest.join("app.py").exists());
    assert!(dest.join("build").is_dir());
    assert_eq!(
        fs::read_dir(dest.join("build")).unwrap().count(),
        0,
        "did not copy itself"
    );
}

// ---------- tarballs ----------

enum E<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8], u32),
    Link(&'a str, &'a str),
    Hard(&'a str, &'a str),
    Dev(&'a str),
}

/// Builds a tar with raw header names (so hostile paths like `../x` get in).
fn tar_bytes(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        let (name, data, kind, mode, link): (&str, &[u8], tar::EntryType, u32, Option<&str>) =
            match e {
                E::Dir(n) => (n, b"", tar::EntryType::Directory, 0o755, None),
                E::File(n, d, m) => (n, d, tar::EntryType::Regular, *m, None),
                E::Link(n, t) => (n, b"", tar::EntryType::Symlink, 0o777, Some(t)),
                E::Hard(n, t) => (n, b"", tar::EntryType::Link, 0o644, Some(t)),
                E::Dev(n) => (n, b"", tar::EntryType::Char, 0o644, None),
            };
        let raw = &mut h.as_old_mut().name;
        raw[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(t) = link {
            h.as_old_mut().linkname[..t.len()].copy_from_slice(t.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Writes `bytes` to a temp file and returns a tarball spec for its file:// URL.
fn file_tarball(dir: &Path, bytes: &[u8], sum: Option<String>) -> SourceSpec {
    let p = dir.join("t.tgz");
    fs::write(&p, bytes).unwrap();
    SourceSpec::Tarball {
        url: url::Url::from_file_path(&p).unwrap().to_string(),
        sha256: sum,
    }
}

fn app_tarball() -> Vec<u8> {
    tar_bytes(&[
        E::Dir("app-1.0/"),
        E::File("app-1.0/Procfile", b"web: ./run\n", 0o644),
        E::File("app-1.0/run", b"#!/bin/sh\n", 0o755),
        E::Dir("app-1.0/lib/"),
        E::File("app-1.0/lib/x.py", b"x = 1\n", 0o600),
        E::Link("app-1.0/lib/up", "../Procfile"),
        E::Hard("app-1.0/run2", "app-1.0/run"),
    ])
}

#[tokio::test]
async fn tarball_extracts_and_strips_the_top_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = app_tarball();
    // pigz-style: one tar split over two gzip members.
    let two_members = [gz(&plain[..1024]), gz(&plain[1024..])].concat();
    for bytes in [plain.clone(), gz(&plain), two_members] {
        let out = Out::new();
        let spec = file_tarball(tmp.path(), &bytes, Some(sha(&bytes)));
        let got = fetch(&spec, None, &out.dest()).await.unwrap();
        assert_eq!(got.version, format!("sha256:{}", sha(&bytes)));
        let d = out.dest();
        assert_eq!(
            fs::read_to_string(d.join("Procfile")).unwrap(),
            "web: ./run\n"
        );
        assert_eq!(
            fs::metadata(d.join("run")).unwrap().permissions().mode() & 0o777,
            0o755
        );
        assert_eq!(
            fs::read_link(d.join("lib/up")).unwrap(),
            Path::new("../Procfile")
        );
        assert_eq!(fs::read_to_string(d.join("run2")).unwrap(), "#!/bin/sh\n");
        assert!(!d.join("app-1.0").exists());
    }
    // Two top-level entries: nothing stripped.
    let bytes = tar_bytes(&[E::File("a/x", b"1", 0o644), E::File("b", b"2", 0o644)]);
    let out = Out::new();
    fetch(&file_tarball(tmp.path(), &bytes, None), None, &out.dest())
        .await
        .unwrap();
    assert!(out.dest().join("a/x").exists() && out.dest().join("b").exists());
    // A buildpack whose only top-level entry is bin/: bin/ is content, not a wrapper.
    let bytes = tar_bytes(&[
        E::Dir("./bin/"),
        E::File("./bin/compile", b"#!/bin/sh\n", 0o755),
    ]);
    let out = Out::new();
    fetch(&file_tarball(tmp.path(), &bytes, None), None, &out.dest())
        .await
        .unwrap();
    assert!(out.dest().join("bin/compile").is_file());
}

#[tokio::test]
async fn tarball_refuses_hostile_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: Vec<(Vec<E>, &str, &str)> = vec![
        (vec![E::File("../x", b"1", 0o644)], "../x", "'..' in path"),
        (
            vec![E::File("ok/../../x", b"1", 0o644)],
            "ok/../../x",
            "'..' in path",
        ),
        (
            vec![E::File("/etc/x", b"1", 0o644)],
            "/etc/x",
            "absolute path",
        ),
        (
            vec![E::File("a", b"1", 0o644), E::Link("etc", "/etc")],
            "etc",
            "symlink to /etc leaves the tree",
        ),
        (
            vec![E::File("a", b"1", 0o644), E::Link("d/a", "../../x")],
            "d/a",
            "symlink to ../../x leaves the tree",
        ),
        (
            vec![E::File("a", b"1", 0o644), E::Link("b", "d/../../x")],
            "b",
            "leaves the tree",
        ),
        (
            vec![
                E::Dir("sub/"),
                E::Link("l", "sub"),
                E::File("l/f", b"1", 0o644),
            ],
            "l/f",
            "path goes through a symlink",
        ),
        (
            vec![E::File("a", b"1", 0o644), E::Hard("h", "/etc/passwd")],
            "h",
            "absolute path",
        ),
        (
            vec![E::File("a", b"1", 0o644), E::Hard("h", "../x")],
            "h",
            "'..'",
        ),
        (vec![E::Dev("null")], "null", "device files are not allowed"),
        (
            vec![E::Dir("top/"), E::Link("top/out", "../x")],
            "out",
            "leaves the tree once the top-level directory is stripped",
        ),
    ];
    for (entries, entry, reason) in cases {
        let bytes = gz(&tar_bytes(&entries));
        let spec = file_tarball(tmp.path(), &bytes, None);
        let err = fetch_err(&spec, None).await;
        assert!(
            err.contains(&format!("entry {entry}: ")) && err.contains(reason),
            "{entry}: {err}"
        );
        assert!(err.contains("t.tgz"), "names the tarball: {err}");
    }
    assert!(!tmp.path().join("../x").exists());
}

#[tokio::test]
async fn tarball_limits_stop_bombs() {
    let tmp = tempfile::tempdir().unwrap();
    let many: Vec<String> = (0..10).map(|i| format!("f{i}")).collect();
    let entries: Vec<E> = many.iter().map(|n| E::File(n, b"x", 0o644)).collect();
    let spec = file_tarball(tmp.path(), &tar_bytes(&entries), None);
    let out = Out::new();
    let err = fetch_with_limits(
        &spec,
        None,
        &out.dest(),
        &Limits {
            max_bytes: 1 << 20,
            max_entries: 5,
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("more than 5 entries"), "{err}");
    out.assert_clean();

    // 16 MiB of zeros, gzipped to a few KiB.
    let zeros = vec![0u8; 16 << 20];
    let bomb = gz(&tar_bytes(&[E::File("zeros", &zeros, 0o644)]));
    assert!(bomb.len() < 100_000);
    let spec = file_tarball(tmp.path(), &bomb, None);
    let err = fetch_with_limits(
        &spec,
        None,
        &out.dest(),
        &Limits {
            max_bytes: 1 << 20,
            max_entries: 10,
        },
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("extracts to more than 1048576 bytes"),
        "{err}"
    );
    out.assert_clean();
}

/// A GNU long name entry is read into memory whole by the `tar` crate: a 1 MB `.tar.gz` with a
/// 1 GiB long name took 2 GB (found by fuzzing). Such headers are refused before extraction.
#[tokio::test]
async fn tarball_long_name_bomb_is_refused_before_it_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let name = vec![b'a'; 16 << 20];
    let mut h = tar::Header::new_gnu();
    h.set_path("././@LongLink").unwrap();
    h.set_entry_type(tar::EntryType::GNULongName);
    h.set_size(name.len() as u64);
    h.set_cksum();
    let mut tar = h.as_bytes().to_vec();
    tar.extend(&name);
    tar.extend(tar_bytes(&[E::File("f", b"x", 0o644)]));
    let bomb = gz(&tar);
    assert!(bomb.len() < 100_000);
    let out = Out::new();
    let err = fetch_with_limits(
        &file_tarball(tmp.path(), &bomb, None),
        None,
        &out.dest(),
        &Limits::default(),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("a long name entry of 16777216 bytes (at most 65536)"),
        "{err}"
    );
    assert!(
        err.to_string().contains("t.tgz"),
        "names the tarball: {err}"
    );
    out.assert_clean();
}

#[tokio::test]
async fn tarball_bad_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let bytes = gz(&app_tarball());
    let wrong = "0".repeat(64);
    let err = fetch_err(&file_tarball(tmp.path(), &bytes, Some(wrong.clone())), None).await;
    assert!(
        err.contains(&format!("expected {wrong}, got {}", sha(&bytes))),
        "{err}"
    );

    let err = fetch_err(&file_tarball(tmp.path(), b"BZh91AY&SY garbage", None), None).await;
    assert!(err.contains("unsupported compression"), "{err}");

    let err = fetch_err(
        &file_tarball(
            tmp.path(),
            b"this is not a tarball at all, just some text that is long enough",
            None,
        ),
        None,
    )
    .await;
    assert!(err.contains("t.tgz"), "{err}");

    let err = fetch_err(
        &SourceSpec::Tarball {
            url: "file:///nonexistent/solum.tgz".into(),
            sha256: None,
        },
        None,
    )
    .await;
    assert!(err.contains("file:///nonexistent/solum.tgz"), "{err}");

    let err = fetch_err(
        &SourceSpec::Tarball {
            url: "ftp://h/x.tgz".into(),
            sha256: None,
        },
        None,
    )
    .await;
    assert!(err.contains("unsupported scheme ftp://"), "{err}");

    let err = fetch_err(
        &SourceSpec::Tarball {
            url: "https://h/x.tgz".into(),
            sha256: Some("abc".into()),
        },
        None,
    )
    .await;
    assert!(err.contains("not 64 hexadecimal digits"), "{err}");
}

#[tokio::test]
async fn tarball_over_http() {
    let bytes = gz(&app_tarball());
    let server = serve("200 OK", bytes.clone()).await;
    let url = format!("{}/app.tgz", server.base);
    let out = Out::new();
    let got = fetch(
        &SourceSpec::Tarball {
            url: url.clone(),
            sha256: Some(sha(&bytes)),
        },
        None,
        &out.dest(),
    )
    .await
    .unwrap();
    assert_eq!(got.version, format!("sha256:{}", sha(&bytes)));
    assert!(out.dest().join("Procfile").exists());
    let leftovers: Vec<_> = fs::read_dir(out.0.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers,
        vec![std::ffi::OsString::from("src")],
        "download not left behind"
    );

    let err = fetch_err(
        &SourceSpec::Tarball {
            url: url.clone(),
            sha256: Some("1".repeat(64)),
        },
        None,
    )
    .await;
    assert!(
        err.contains(&format!(
            "sha256 mismatch for {url}: expected {}, got {}",
            "1".repeat(64),
            sha(&bytes)
        )),
        "{err}"
    );

    let missing = serve("404 Not Found", b"no".to_vec()).await;
    let url = format!(
        "http://user:pw@{}/app.tgz",
        missing.base.trim_start_matches("http://")
    );
    let err = fetch_err(&SourceSpec::Tarball { url, sha256: None }, None).await;
    assert!(err.contains("HTTP 404 Not Found"), "{err}");
    assert!(!err.contains("user") && !err.contains(":pw@"), "{err}");

    // A signed URL (a Swift TempURL): its signature never reaches a message, whether the
    // download fails or the sum does not match (the message becomes `last_error` and the
    // Heat signal's reason).
    let signed = |base: &str| format!("{base}/app.tgz?temp_url_sig=5ec7e75ig&temp_url_expires=1");
    let err = fetch_err(
        &SourceSpec::Tarball {
            url: signed(&missing.base),
            sha256: None,
        },
        None,
    )
    .await;
    assert!(err.contains("app.tgz?..."), "{err}");
    assert!(
        !err.contains("5ec7e75ig") && !err.contains("temp_url"),
        "{err}"
    );
    let server = serve("200 OK", bytes.clone()).await;
    let err = fetch_err(
        &SourceSpec::Tarball {
            url: signed(&server.base),
            sha256: Some("1".repeat(64)),
        },
        None,
    )
    .await;
    assert!(err.contains("sha256 mismatch for"), "{err}");
    assert!(
        !err.contains("5ec7e75ig") && !err.contains("temp_url"),
        "{err}"
    );
    let err = fetch_err(
        &SourceSpec::Tarball {
            url: signed("http://127.0.0.1:9"),
            sha256: None,
        },
        None,
    )
    .await;
    assert!(
        !err.contains("5ec7e75ig") && !err.contains("temp_url"),
        "{err}"
    );
}
