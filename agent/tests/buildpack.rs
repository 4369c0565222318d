//! The buildpack builder against the real engine: the bundled example built by detection and
//! served, cache hits, multi-buildpack, detection and compile failures, CACHE_DIR, ENV_DIR and
//! the build user. Each test has its own app name; its images, volume and containers go away
//! with its `AppCleanup`, also on failure.

mod buildpack_support;

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder, StartContainerOptions,
};
use buildpack_support::{capture_log, docker, run_in, unique, AppCleanup};
use solum_agent::build::{buildpack, BuildError, BuildRequest};
use solum_agent::config::StackConfig;
use solum_agent::planfile::LanguagePack;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let dest = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

fn write_exec(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A buildpack in `dir` from its three scripts (`release` may be empty: no bin/release).
fn make_buildpack(dir: &Path, detect: &str, compile: &str, release: &str) {
    write_exec(&dir.join("bin/detect"), &format!("#!/bin/bash\n{detect}\n"));
    write_exec(
        &dir.join("bin/compile"),
        &format!("#!/bin/bash\nset -e\n{compile}\n"),
    );
    if !release.is_empty() {
        write_exec(
            &dir.join("bin/release"),
            &format!("#!/bin/bash\n{release}\n"),
        );
    }
}

struct Fixture {
    app: String,
    tmp: tempfile::TempDir,
    _cleanup: AppCleanup,
}

impl Fixture {
    fn new(prefix: &str) -> Fixture {
        let app = unique(prefix);
        Fixture {
            _cleanup: AppCleanup { app: app.clone() },
            app,
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    fn request(
        &self,
        source: &Path,
        lp: LanguagePack,
        buildpacks_dir: &Path,
        salt: &str,
    ) -> BuildRequest {
        let work = self.path("work");
        std::fs::create_dir_all(&work).unwrap();
        // Any hex digest unique to (app, salt) serves as a build key here.
        let key = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(format!("{}-{salt}", self.app)))
        };
        let (log, _) = capture_log();
        BuildRequest {
            agent: "solum-test-agent".into(),
            app: self.app.clone(),
            source_dir: source.to_path_buf(),
            source_version: "0123abcd".into(),
            language_pack: lp,
            env: BTreeMap::new(),
            run_cmd: None,
            buildpacks_dir: buildpacks_dir.to_path_buf(),
            work_dir: work,
            key,
            log,
        }
    }
}

async fn ready_stack(docker: &bollard::Docker) -> StackConfig {
    let cfg = StackConfig::default();
    let (log, _) = capture_log();
    solum_agent::stack::build(docker, &cfg, false, log)
        .await
        .expect("stack images");
    cfg
}

/// Runs `image` with its default command, PORT=5000 published on 127.0.0.1, and returns the
/// body of `GET /` (retrying for up to 30 s while the app starts).
async fn serve_and_get(docker: &bollard::Docker, image: &str, app: &str) -> String {
    let name = unique("solum-test-bp-serve");
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        env: Some(vec!["PORT=5000".into()]),
        exposed_ports: Some(HashMap::from([("5000/tcp".to_string(), HashMap::new())])),
        labels: Some(HashMap::from([("solum.app".to_string(), app.to_string())])),
        host_config: Some(HostConfig {
            port_bindings: Some(HashMap::from([(
                "5000/tcp".to_string(),
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(String::new()),
                }]),
            )])),
            ..Default::default()
        }),
        ..Default::default()
    };
    docker
        .create_container(
            Some(CreateContainerOptionsBuilder::new().name(&name).build()),
            body,
        )
        .await
        .unwrap();
    let result = async {
        docker
            .start_container(&name, None::<StartContainerOptions>)
            .await
            .unwrap();
        let inspect = docker
            .inspect_container(
                &name,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
            .unwrap();
        let port = inspect
            .network_settings
            .and_then(|n| n.ports)
            .and_then(|p| p.get("5000/tcp").cloned().flatten())
            .and_then(|b| b.first().and_then(|b| b.host_port.clone()))
            .expect("published port");
        let url = format!("http://127.0.0.1:{port}/");
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match client.get(&url).send().await {
                Ok(resp) if resp.status().is_success() => break resp.text().await.unwrap(),
                other if Instant::now() > deadline => panic!("{url} did not answer: {other:?}"),
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
    .await;
    docker
        .remove_container(
            &name,
            Some(RemoveContainerOptionsBuilder::new().force(true).build()),
        )
        .await
        .unwrap();
    result
}

/// Runs a command line in `image` through its `solum-start` entrypoint.
async fn sh(docker: &bollard::Docker, image: &str, cmd: &str) -> String {
    let (code, out) = run_in(docker, image, None, None, vec![cmd]).await;
    assert_eq!(code, 0, "`{cmd}` in {image}: {out}");
    out
}

#[tokio::test]
async fn python_web_example_is_detected_built_served_and_cached() {
    let docker = docker().await;
    let stack = ready_stack(&docker).await;
    let fx = Fixture::new("bp-pyweb");
    let src = fx.path("src");
    copy_tree(&repo_root().join("examples/python-web"), &src);
    std::fs::create_dir_all(src.join(".git")).unwrap();
    std::fs::write(src.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    let req = fx.request(
        &src,
        LanguagePack::Auto,
        &repo_root().join("buildpacks"),
        "1",
    );

    let outcome = buildpack::build(&docker, &req, &stack)
        .await
        .expect("build");
    assert!(!outcome.cached);
    assert_eq!(
        outcome.processes,
        BTreeMap::from([("web".to_string(), Some("python3 app.py".to_string()))])
    );
    let body = serve_and_get(&docker, &outcome.image, &fx.app).await;
    assert!(body.contains("Hello from solum python-web"), "{body}");

    // The slug: .git and .slugignore'd files dropped, the venv active, owned by the app user,
    // unit tests runnable as the workflow runs them.
    let out = sh(
        &docker,
        &outcome.image,
        "test ! -e .git && test ! -e README.md && command -v python3 && id -u && stat -c %u app.py && ./unit_tests.sh 2>&1 | tail -1",
    )
    .await;
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["/app/.venv/bin/python3", "32767", "32767", "OK"],
        "{out}"
    );

    let inspect = docker.inspect_image(&outcome.image).await.unwrap();
    let labels = inspect.config.and_then(|c| c.labels).unwrap();
    assert_eq!(labels.get("solum.build-key"), Some(&req.key));
    assert_eq!(labels.get("solum.app"), Some(&fx.app));
    assert!(inspect.repo_tags.unwrap().contains(&format!(
        "solum/app-{}:{}",
        fx.app,
        &req.key[..12]
    )));

    let started = Instant::now();
    let again = buildpack::build(&docker, &req, &stack)
        .await
        .expect("second build");
    assert!(again.cached, "same inputs must be a cache hit");
    assert_eq!(again.image, outcome.image);
    assert_eq!(again.processes, outcome.processes);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "cache hit took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn multi_buildpack_exports_env_dir_user_and_last_release_wins() {
    let docker = docker().await;
    let stack = ready_stack(&docker).await;
    let fx = Fixture::new("bp-multi");
    // `.buildpacks` may name directories inside the source only.
    let src = fx.path("src");
    let first = src.join("bp-first");
    make_buildpack(
        &first,
        "echo First",
        r#"echo "export FROM_FIRST='hello from first'" > "$(dirname "$0")/../export"; echo first > "$1/first.txt""#,
        "echo '---'; echo 'default_process_types: {web: first-web, worker: first-worker}'",
    );
    let second = src.join("bp-second");
    make_buildpack(
        &second,
        "exit 1",
        r#"echo "$FROM_FIRST" > "$1/seen.txt"
id -u > "$1/uid.txt"; id -g >> "$1/uid.txt"
{ cat "$3/GREETING"; echo; } > "$1/env.txt"; echo "${GREETING:-unexported}" >> "$1/env.txt"
echo "$STACK $HOME $SOURCE_VERSION ${REQUEST_ID:+has-request-id}" >> "$1/env.txt""#,
        "printf -- '---\\ndefault_process_types:\\n  web: cat seen.txt\\nconfig_vars:\\n  FROM_RELEASE: \"yes $ and \\\\\"q\\\\\"\"\\n'",
    );
    std::fs::write(
        src.join(".buildpacks"),
        "# two buildpacks of the source\n./bp-first\nbp-second\n",
    )
    .unwrap();
    let empty = fx.path("installed");
    std::fs::create_dir_all(&empty).unwrap();
    let mut req = fx.request(&src, LanguagePack::Auto, &empty, "1");
    req.env.insert("GREETING".into(), "hi there".into());

    let outcome = buildpack::build(&docker, &req, &stack)
        .await
        .expect("build");
    assert_eq!(
        outcome.processes,
        BTreeMap::from([("web".to_string(), Some("cat seen.txt".to_string()))]),
        "the last release wins"
    );
    let out = sh(
        &docker,
        &outcome.image,
        "cat first.txt seen.txt uid.txt env.txt; echo \"$FROM_RELEASE\"",
    )
    .await;
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "first",
            "hello from first",
            "32767",
            "32767",
            "hi there",
            "unexported",
            "bookworm /app 0123abcd has-request-id",
            r#"yes $ and "q""#
        ],
        "{out}"
    );
    let web = run_in(&docker, &outcome.image, None, None, vec!["web"]).await;
    assert_eq!(web, (0, "hello from first\n".to_string()));
}

#[tokio::test]
async fn nothing_detected_names_the_buildpacks_tried() {
    let docker = docker().await;
    let stack = ready_stack(&docker).await;
    let fx = Fixture::new("bp-none");
    let installed = fx.path("installed");
    make_buildpack(&installed.join("alpha"), "exit 1", "true", "");
    make_buildpack(&installed.join("beta"), "echo ''", "true", "");
    let src = fx.path("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("main.go"), "package main\n").unwrap();
    let req = fx.request(&src, LanguagePack::Auto, &installed, "1");
    match buildpack::build(&docker, &req, &stack).await {
        Err(BuildError::NothingDetected { tried }) => assert_eq!(tried, "alpha, beta"),
        other => panic!("expected NothingDetected, got {other:?}"),
    }
    assert_no_build_container(&fx.app).await;
}

#[tokio::test]
async fn failing_compile_reports_buildpack_code_and_last_lines() {
    let docker = docker().await;
    let stack = ready_stack(&docker).await;
    let fx = Fixture::new("bp-fail");
    let installed = fx.path("installed");
    make_buildpack(
        &installed.join("breaks"),
        "echo Breaks",
        "for i in $(seq 1 40); do echo \"compile line $i\"; done; echo 'fatal: oops' >&2; exit 7",
        "",
    );
    let src = fx.path("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("x"), "x").unwrap();
    let (log, lines) = capture_log();
    let req = BuildRequest {
        log,
        ..fx.request(&src, LanguagePack::Auto, &installed, "1")
    };
    match buildpack::build(&docker, &req, &stack).await {
        Err(BuildError::CompileFailed {
            buildpack,
            code,
            tail,
        }) => {
            assert_eq!((buildpack.as_str(), code), ("breaks", 7));
            assert!(
                tail.contains("compile line 40") && tail.contains("fatal: oops"),
                "{tail}"
            );
            assert!(
                !tail.contains("compile line 5\n") && tail.lines().count() <= 20,
                "{tail}"
            );
        }
        other => panic!("expected CompileFailed, got {other:?}"),
    }
    let lines = lines.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l == "-----> Breaks app detected"),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l == "compile line 1"),
        "output is streamed to the log: {lines:?}"
    );
    assert_no_build_container(&fx.app).await;
}

#[tokio::test]
async fn cache_dir_survives_between_builds_and_run_cmd_becomes_web() {
    let docker = docker().await;
    let stack = ready_stack(&docker).await;
    let fx = Fixture::new("bp-cache");
    let bp = fx.path("counter");
    make_buildpack(
        &bp,
        "echo Counter",
        r#"n=$(cat "$2/count" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > "$2/count"; echo "$n" > "$1/count.txt""#,
        "",
    );
    let src = fx.path("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("data"), "d").unwrap();
    let lp = LanguagePack::Named(bp.to_string_lossy().into_owned());

    // No Procfile, no release, no run_cmd: nothing to run.
    let err = buildpack::build(
        &docker,
        &fx.request(&src, lp.clone(), &fx.path("none"), "0"),
        &stack,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("no Procfile"), "{err}");

    let mut req = fx.request(&src, lp.clone(), &fx.path("none"), "1");
    req.run_cmd = Some("cat count.txt".into());
    let one = buildpack::build(&docker, &req, &stack)
        .await
        .expect("first build");
    let mut req2 = fx.request(&src, lp, &fx.path("none"), "2");
    req2.run_cmd = Some("cat count.txt".into());
    let two = buildpack::build(&docker, &req2, &stack)
        .await
        .expect("second build");
    assert!(!two.cached);
    assert_eq!(
        two.processes,
        BTreeMap::from([("web".to_string(), Some("cat count.txt".to_string()))])
    );
    // The third compile (after the failed-to-run one counted 1) sees the cache of the others.
    assert_eq!(sh(&docker, &one.image, "cat count.txt").await.trim(), "2");
    assert_eq!(
        run_in(&docker, &two.image, None, None, vec!["web"]).await,
        (0, "3\n".to_string())
    );
}

#[tokio::test]
async fn static_site_and_procfile_app_use_the_bundled_buildpacks() {
    let docker = docker().await;
    let stack = ready_stack(&docker).await;
    let fx = Fixture::new("bp-static");
    let site = fx.path("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("index.html"), "<h1>static solum site</h1>\n").unwrap();
    let bundled = repo_root().join("buildpacks");
    let outcome = buildpack::build(
        &docker,
        &fx.request(&site, LanguagePack::Auto, &bundled, "1"),
        &stack,
    )
    .await
    .expect("static build");
    assert_eq!(
        outcome.processes.get("web"),
        Some(&Some(
            "python3 -m http.server $PORT --bind 0.0.0.0".to_string()
        ))
    );
    let body = serve_and_get(&docker, &outcome.image, &fx.app).await;
    assert!(body.contains("static solum site"), "{body}");

    let procfile_app = fx.path("procfile-app");
    std::fs::create_dir_all(&procfile_app).unwrap();
    std::fs::write(
        procfile_app.join("Procfile"),
        "web: echo procfile web on $PORT\nworker: echo w\n",
    )
    .unwrap();
    std::fs::write(procfile_app.join("index.html"), "also a site").unwrap();
    let req = fx.request(&procfile_app, LanguagePack::Auto, &bundled, "2");
    let outcome = buildpack::build(&docker, &req, &stack)
        .await
        .expect("procfile build");
    assert_eq!(outcome.processes.len(), 2, "{:?}", outcome.processes);
    assert_eq!(
        outcome.processes.get("web"),
        Some(&Some("echo procfile web on $PORT".to_string()))
    );
    let out = run_in(&docker, &outcome.image, None, None, vec!["web"]).await;
    assert_eq!(out, (0, "procfile web on 5000\n".to_string()));

    // A named installed buildpack is used without asking its detect (static would say no).
    let plain = fx.path("plain");
    std::fs::create_dir_all(&plain).unwrap();
    std::fs::write(plain.join("Procfile"), "web: echo plain\n").unwrap();
    let (log, lines) = capture_log();
    let named = BuildRequest {
        log,
        ..fx.request(&plain, LanguagePack::Named("static".into()), &bundled, "3")
    };
    let outcome = buildpack::build(&docker, &named, &stack)
        .await
        .expect("named build");
    assert_eq!(
        outcome.processes.get("web"),
        Some(&Some("echo plain".to_string()))
    );
    let lines = lines.lock().unwrap().clone();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("static files are served as they are")),
        "{lines:?}"
    );
}

async fn assert_no_build_container(app: &str) {
    let out = std::process::Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("label=solum.app={app}")])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).trim().is_empty(),
        "a build container of {app} was left behind"
    );
}

/// Issue 11, reproduction 6: the source's `.buildpacks` named a host directory holding
/// `bin/compile`; it was uploaded into the build container, 0600 root files included. Source
/// is untrusted: every way of naming a host path is refused before any container starts.
#[tokio::test]
async fn buildpacks_file_naming_a_host_directory_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let docker = docker().await;
    let stack = ready_stack(&docker).await;
    let fx = Fixture::new("bp-host");
    let host = fx.path("host-pack");
    make_buildpack(
        &host,
        "echo Host",
        "cat \"$(dirname \"$0\")/../secret\"",
        "",
    );
    std::fs::write(host.join("secret"), "root only\n").unwrap();
    std::fs::set_permissions(host.join("secret"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let src = fx.path("src");
    std::fs::create_dir_all(&src).unwrap();
    std::os::unix::fs::symlink(&host, src.join("link-out")).unwrap();
    let empty = fx.path("installed");
    std::fs::create_dir_all(&empty).unwrap();
    let entries = [
        host.display().to_string(),
        format!("file://{}", host.display()),
        "../host-pack".to_string(),
        "./link-out".to_string(),
        format!("{}#main", host.display()),
    ];
    for (i, entry) in entries.iter().enumerate() {
        std::fs::write(src.join(".buildpacks"), format!("{entry}\n")).unwrap();
        let req = fx.request(&src, LanguagePack::Auto, &empty, &i.to_string());
        let e = match buildpack::build(&docker, &req, &stack).await {
            Err(e) => e.to_string(),
            Ok(o) => panic!("{entry}: built {}", o.image),
        };
        assert!(
            e.contains(".buildpacks") && e.contains("names a path outside the source"),
            "{entry}: {e}"
        );
        assert!(!e.contains("root only"), "{e}");
    }
    assert_no_build_container(&fx.app).await;
}
