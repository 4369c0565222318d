//! Dockerfile builds against the real engine: build contexts and `.dockerignore`, the
//! dockerfile-web example built, unit-tested and served, failing steps, missing base images.
//! Every object a test creates carries a per-test unique name and is removed when it ends.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use solum_agent::build::context::{context_tar, context_tar_under, ExtraFile};
use solum_agent::build::{dockerfile, unittest, BuildError, BuildRequest, LogFn};
use solum_agent::planfile::LanguagePack;

mod support {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A name no other test (or engineer) uses: lower case, usable in image names.
    pub fn unique(what: &str) -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        format!(
            "dftest-{what}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        )
    }

    /// Docker is required: no engine is a failure, never a skip.
    pub async fn docker() -> bollard::Docker {
        solum_agent::docker::connect()
            .await
            .unwrap_or_else(|e| panic!("these tests need the Docker engine: {e}"))
    }

    /// Removes the images and containers a test registered, on success and on panic.
    #[derive(Default)]
    pub struct Cleanup {
        pub images: Vec<String>,
        pub containers: Vec<String>,
        /// `ENV` values marking the untagged layers a failed build leaves behind.
        pub layer_marks: Vec<String>,
    }

    impl Drop for Cleanup {
        fn drop(&mut self) {
            if !self.containers.is_empty() {
                let _ = std::process::Command::new("docker")
                    .args(["rm", "-f", "-v"])
                    .args(&self.containers)
                    .output();
            }
            if !self.images.is_empty() {
                let _ = std::process::Command::new("docker")
                    .args(["rmi", "-f"])
                    .args(&self.images)
                    .output();
            }
            if !self.layer_marks.is_empty() {
                for id in marked_layers(&self.layer_marks) {
                    let _ = std::process::Command::new("docker")
                        .args(["rmi", &id])
                        .output();
                }
            }
        }
    }

    /// Dangling images whose environment holds one of `marks`.
    fn marked_layers(marks: &[String]) -> Vec<String> {
        let docker = |args: &[&str]| {
            std::process::Command::new("docker")
                .args(args)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        };
        let ids = docker(&["images", "-aq", "--no-trunc", "--filter", "dangling=true"]);
        ids.lines()
            .filter(|id| {
                let env = docker(&["image", "inspect", "--format", "{{json .Config.Env}}", id]);
                marks.iter().any(|m| env.contains(m.as_str()))
            })
            .map(str::to_string)
            .collect()
    }

    pub fn collecting_log() -> (LogFn, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        (
            Arc::new(move |l: &str| sink.lock().unwrap().push(l.to_string())),
            lines,
        )
    }

    pub fn request(
        app: &str,
        source: &Path,
        work: &Path,
        env: &[(&str, &str)],
        log: LogFn,
    ) -> BuildRequest {
        BuildRequest {
            app: app.to_string(),
            source_dir: source.to_path_buf(),
            source_version: "test".into(),
            language_pack: LanguagePack::Auto,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            run_cmd: None,
            buildpacks_dir: work.join("buildpacks"),
            work_dir: work.join("work"),
            key: format!("{:0>16x}", rand_key()),
            log,
        }
    }

    fn rand_key() -> u128 {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        t.as_nanos() ^ (u128::from(std::process::id()) << 64)
    }

    pub fn example(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples")
            .join(name)
    }

    pub fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// (path, entry type, link target) of every entry, in order.
    pub fn tar_listing(mut file: std::fs::File) -> Vec<(String, tar::EntryType, Option<String>)> {
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).unwrap();
        let mut archive = tar::Archive::new(&bytes[..]);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let path = e
                    .path()
                    .unwrap()
                    .to_string_lossy()
                    .trim_end_matches('/')
                    .to_string();
                let link = e
                    .link_name()
                    .unwrap()
                    .map(|l| l.to_string_lossy().into_owned());
                (path, e.header().entry_type(), link)
            })
            .collect()
    }

    /// Runs `image` publishing container port 8080 on 127.0.0.1:<random>; returns the port.
    pub async fn run_web(
        docker: &bollard::Docker,
        image: &str,
        name: &str,
        cleanup: &mut Cleanup,
    ) -> u16 {
        use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
        use std::collections::HashMap;
        let bindings = HashMap::from([(
            "8080/tcp".to_string(),
            Some(vec![PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some(String::new()),
            }]),
        )]);
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            env: Some(vec!["PORT=8080".into()]),
            exposed_ports: Some(HashMap::from([("8080/tcp".to_string(), HashMap::new())])),
            host_config: Some(HostConfig {
                port_bindings: Some(bindings),
                ..Default::default()
            }),
            ..Default::default()
        };
        let opts = bollard::query_parameters::CreateContainerOptionsBuilder::new()
            .name(name)
            .build();
        docker.create_container(Some(opts), body).await.unwrap();
        cleanup.containers.push(name.to_string());
        docker
            .start_container(
                name,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
            .unwrap();
        let info = docker
            .inspect_container(
                name,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
            .unwrap();
        let ports = info.network_settings.and_then(|n| n.ports).unwrap();
        let binding = ports["8080/tcp"].as_ref().unwrap()[0].clone();
        binding.host_port.unwrap().parse().unwrap()
    }

    /// GETs `path` until the app answers (at most 30 s).
    pub async fn get(port: u16, path: &str) -> (u16, String) {
        let client = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{port}{path}");
        let mut last = String::new();
        for _ in 0..60 {
            match client
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
            {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    return (status, resp.text().await.unwrap());
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("{url} never answered: {last}");
    }
}

use support::*;

#[test]
fn context_honours_dockerignore_like_docker() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for f in [
        "Dockerfile",
        "app.py",
        "README.md",
        "docs/guide.md",
        "somedir/temporary.txt",
        "somedir/keep.txt",
        "somedir/subdir/temp.log",
        "tempa",
        "temp",
        "vendor/lib.py",
        "vendor/keep/me.py",
        "node_modules/x/index.js",
        "src/node_modules/y.js",
        ".git/config",
        "build/out.o",
    ] {
        write(root, f, f);
    }
    std::os::unix::fs::symlink("/etc/passwd", root.join("passwd-link")).unwrap();
    std::os::unix::fs::symlink("somedir", root.join("dir-link")).unwrap();
    write(
        root,
        ".dockerignore",
        "# Docker's documentation examples\n*/temp*\n*/*/temp*\ntemp?\n\n*.md\n!README*.md\n\
         vendor\n!vendor/keep\n**/node_modules\n/build/\nDockerfile\n.dockerignore\n",
    );
    let scratch = tempfile::tempdir().unwrap();
    let tar = context_tar(root, &[], scratch.path()).unwrap();
    let listing = tar_listing(tar.file);
    let paths: Vec<&str> = listing.iter().map(|(p, _, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            ".dockerignore", // always sent, though it excludes itself
            ".git",
            ".git/config",
            "Dockerfile", // always sent
            "README.md",
            "app.py",
            "dir-link",
            "docs",
            "docs/guide.md", // `*.md` is anchored at the root
            "passwd-link",
            "somedir",
            "somedir/keep.txt",
            "somedir/subdir", // only its temp* child is excluded
            "src",
            "temp",
            "vendor/keep",
            "vendor/keep/me.py",
        ]
    );
    assert_eq!(tar.entries as usize, paths.len());
    assert!(
        std::fs::read_dir(scratch.path()).unwrap().next().is_none(),
        "the temp tar leaves no file behind"
    );
    let link = listing.iter().find(|(p, _, _)| p == "passwd-link").unwrap();
    assert_eq!(
        (link.1, link.2.as_deref()),
        (tar::EntryType::Symlink, Some("/etc/passwd")),
        "symlinks stay symlinks"
    );
    let dir_link = listing.iter().find(|(p, _, _)| p == "dir-link").unwrap();
    assert_eq!(
        dir_link.1,
        tar::EntryType::Symlink,
        "a symlink to a directory is not followed"
    );
}

#[test]
fn context_with_prefix_and_extra_files() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "app.py", "print(1)\n");
    write(dir.path(), "Dockerfile", "FROM ignored\n");
    let scratch = tempfile::tempdir().unwrap();
    let extra = [ExtraFile {
        path: "Dockerfile",
        contents: b"FROM generated\n",
        mode: 0o644,
    }];
    let tar = context_tar_under(dir.path(), "src", &extra, scratch.path()).unwrap();
    let mut bytes = Vec::new();
    let mut file = tar.file;
    file.read_to_end(&mut bytes).unwrap();
    let mut archive = tar::Archive::new(&bytes[..]);
    let mut seen = BTreeMap::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let mut text = String::new();
        e.read_to_string(&mut text).unwrap();
        seen.insert(
            e.path()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches('/')
                .to_string(),
            text,
        );
    }
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        vec!["Dockerfile", "src", "src/Dockerfile", "src/app.py"]
    );
    assert_eq!(seen["Dockerfile"], "FROM generated\n");
    assert_eq!(seen["src/Dockerfile"], "FROM ignored\n");

    let bad = [ExtraFile {
        path: "../escape",
        contents: b"",
        mode: 0o644,
    }];
    let err = context_tar(dir.path(), &bad, scratch.path()).unwrap_err();
    assert!(err.to_string().contains("../escape"), "{err}");
}

#[test]
fn bad_dockerignore_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), ".dockerignore", "ok\n[unclosed\n");
    let scratch = tempfile::tempdir().unwrap();
    let err = context_tar(dir.path(), &[], scratch.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(".dockerignore") && err.contains("line 2") && err.contains("[unclosed"),
        "{err}"
    );
}

#[tokio::test]
async fn builds_tests_and_serves_the_dockerfile_example() {
    let docker = docker().await;
    let mut cleanup = Cleanup::default();
    let work = tempfile::tempdir().unwrap();
    let greeting = format!("Howdy {}", unique("greeting"));
    let (log, lines) = collecting_log();
    let app = unique("web");
    let req = request(
        &app,
        &example("dockerfile-web"),
        work.path(),
        &[("GREETING", greeting.as_str())],
        log,
    );
    let tag = dockerfile::app_tag(&app, &req.key).unwrap();
    cleanup.images.push(tag.clone());

    let outcome = dockerfile::build(&docker, &req)
        .await
        .unwrap_or_else(|e| panic!("build failed: {e}"));
    assert!(outcome.image.starts_with("sha256:"), "{outcome:?}");
    assert!(!outcome.cached);
    assert_eq!(
        outcome.processes,
        BTreeMap::from([("web".to_string(), None)])
    );
    {
        let lines = lines.lock().unwrap();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("Step 1/") && l.contains("FROM solum/stack-run:bookworm")),
            "{lines:?}"
        );
        assert!(
            lines.iter().all(|l| !l.contains('\n')),
            "log gets whole lines"
        );
    }
    let image = docker.inspect_image(&tag).await.unwrap();
    assert_eq!(image.id.as_deref(), Some(outcome.image.as_str()));
    let labels = image.config.and_then(|c| c.labels).unwrap();
    assert_eq!(labels.get("solum.app"), Some(&app));
    assert_eq!(labels.get("solum.build-key"), Some(&req.key));

    // The example's unit tests pass in the image, and .dockerignore kept dev/ and *.md out.
    let env = BTreeMap::new();
    unittest::run(
        &docker,
        &tag,
        "python3 -m unittest -v test_app",
        &env,
        req.log.clone(),
        Duration::from_secs(120),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    unittest::run(
        &docker,
        &tag,
        "test -f app.py && test ! -e dev && test ! -e README.md",
        &env,
        req.log.clone(),
        Duration::from_secs(60),
    )
    .await
    .unwrap_or_else(|e| panic!(".dockerignore not honoured: {e}"));

    let port = run_web(&docker, &tag, &unique("run"), &mut cleanup).await;
    let (status, body) = get(port, "/").await;
    assert_eq!(status, 200);
    assert!(
        body.contains(&greeting),
        "the GREETING build arg reached the image: {body}"
    );
    assert_eq!(get(port, "/healthz").await, (200, "ok\n".to_string()));

    // Same inputs again: nothing is built.
    let again = dockerfile::build(&docker, &req).await.unwrap();
    assert!(again.cached);
    assert_eq!(again.image, outcome.image);
}

#[tokio::test]
async fn failing_run_step_is_named_with_its_message() {
    let docker = docker().await;
    let mut cleanup = Cleanup::default();
    let src = tempfile::tempdir().unwrap();
    let mark = unique("mark");
    cleanup.layer_marks.push(mark.clone());
    write(
        src.path(),
        "Dockerfile",
        &format!(
            "FROM solum/stack-run:bookworm\nENV DFTEST_MARK={mark}\nRUN echo first-step-ok\n\
             RUN echo about-to-fail-output && exit 3\nRUN echo never\n"
        ),
    );
    let work = tempfile::tempdir().unwrap();
    let (log, lines) = collecting_log();
    let app = unique("fail");
    let req = request(&app, src.path(), work.path(), &[], log);
    cleanup
        .images
        .push(dockerfile::app_tag(&app, &req.key).unwrap());
    match dockerfile::build(&docker, &req).await {
        Err(BuildError::DockerfileFailed { step, message }) => {
            // The daemon appends one LABEL step per label, hence "/7".
            assert_eq!(step, "Step 4/7 : RUN echo about-to-fail-output && exit 3");
            assert!(message.contains("returned a non-zero code: 3"), "{message}");
        }
        other => panic!("expected DockerfileFailed, got {other:?}"),
    }
    assert!(
        lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l == "about-to-fail-output"),
        "the step's output is streamed"
    );
    let leftovers = docker
        .list_containers(Some(
            bollard::query_parameters::ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&std::collections::HashMap::from([(
                    "ancestor",
                    vec!["solum/stack-run:bookworm"],
                )]))
                .build(),
        ))
        .await
        .unwrap();
    assert!(
        leftovers.iter().all(|c| !c
            .command
            .as_deref()
            .unwrap_or("")
            .contains("about-to-fail-output")),
        "forcerm removes the failed step's container"
    );
}

#[tokio::test]
async fn missing_base_image_says_it_is_missing_and_unpullable() {
    let docker = docker().await;
    let src = tempfile::tempdir().unwrap();
    let base = format!("{}:1", unique("no-such-base"));
    write(
        src.path(),
        "Dockerfile",
        &format!("FROM {base}\nRUN true\n"),
    );
    let work = tempfile::tempdir().unwrap();
    let (log, _) = collecting_log();
    let req = request(&unique("nobase"), src.path(), work.path(), &[], log);
    let err = dockerfile::build(&docker, &req).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, BuildError::DockerfileFailed { .. }),
        "{err:?}"
    );
    assert!(text.contains(&format!("FROM {base}")), "{text}");
    assert!(
        text.contains(&format!("base image {base} is missing")),
        "{text}"
    );
    assert!(
        text.contains("no container registry is reachable"),
        "{text}"
    );
}

#[tokio::test]
async fn missing_dockerfile_is_a_clear_error() {
    let docker = docker().await;
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "app.py", "print('no dockerfile here')\n");
    let work = tempfile::tempdir().unwrap();
    let (log, _) = collecting_log();
    let req = request(&unique("nodf"), src.path(), work.path(), &[], log);
    let text = dockerfile::build(&docker, &req)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("no Dockerfile at") && text.contains(&src.path().display().to_string()),
        "{text}"
    );
}
