//! Dockerfile builds against the real engine: build contexts and `.dockerignore`, the
//! dockerfile-web example built, unit-tested and served, failing steps, missing base images.
//! Every object a test creates carries a per-test unique name and is removed when it ends.

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

use solum_agent::build::context::{context_tar, context_tar_under, ExtraFile};
use solum_agent::build::{dockerfile, unittest, BuildError};

mod dockerfile_support;

use dockerfile_support::*;

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
        let lines = lines.lock().unwrap().clone();
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
        OWNER,
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
        OWNER,
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

#[tokio::test]
async fn dockerfile_syntax_error_is_reported() {
    let docker = docker().await;
    let src = tempfile::tempdir().unwrap();
    write(
        src.path(),
        "Dockerfile",
        "FROM solum/stack-run:bookworm\nNOTANINSTRUCTION foo\n",
    );
    let work = tempfile::tempdir().unwrap();
    let (log, _) = collecting_log();
    let req = request(&unique("syntax"), src.path(), work.path(), &[], log);
    let err = dockerfile::build(&docker, &req).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, BuildError::DockerfileFailed { .. }),
        "{err:?}"
    );
    assert!(text.to_lowercase().contains("notaninstruction"), "{text}");
}

#[tokio::test]
async fn undeclared_build_args_are_passed_and_only_warned_about() {
    let docker = docker().await;
    let mut cleanup = Cleanup::default();
    let src = tempfile::tempdir().unwrap();
    write(
        src.path(),
        "Dockerfile",
        "FROM solum/stack-run:bookworm\nARG USED\nRUN test \"$USED\" = yes\n",
    );
    let work = tempfile::tempdir().unwrap();
    let (log, lines) = collecting_log();
    let req = request(
        &unique("args"),
        src.path(),
        work.path(),
        &[("USED", "yes"), ("UNUSED", "secret-value")],
        log,
    );
    cleanup
        .images
        .push(dockerfile::app_tag(&req.app, &req.key).unwrap());
    dockerfile::build(&docker, &req)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let lines = lines.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l.contains("UNUSED")),
        "Docker warns about the unused arg: {lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("secret-value")),
        "values are never logged: {lines:?}"
    );
}
