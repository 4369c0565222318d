//! Custom language-pack builds against the real engine: the langpack-web example built with
//! the python-lp pack, unit-tested and served; the pack image reused; a missing or failing
//! build.sh. Each test works on its own copy of the pack (unique image names) and removes
//! what it created.

use std::path::Path;
use std::time::Duration;

use solum_agent::build::{langpack, unittest, BuildError};

mod dockerfile_support;

use dockerfile_support::*;

/// Copies `examples/langpacks/python-lp` to `<tmp>/<unique>` and marks its image layers.
fn pack_copy(tmp: &Path, cleanup: &mut Cleanup) -> std::path::PathBuf {
    let name = unique("lp");
    let dir = tmp.join(&name);
    std::fs::create_dir_all(&dir).unwrap();
    let src = example("langpacks/python-lp");
    for f in ["Dockerfile", "build.sh", "README.md"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    mark_pack(&dir, &name, cleanup);
    dir
}

/// Adds a unique ENV to the pack's Dockerfile so leftover layers can be found and removed.
fn mark_pack(dir: &Path, mark: &str, cleanup: &mut Cleanup) {
    let dockerfile = dir.join("Dockerfile");
    let text = std::fs::read_to_string(&dockerfile).unwrap();
    std::fs::write(&dockerfile, format!("{text}ENV DFTEST_MARK={mark}\n")).unwrap();
    cleanup.layer_marks.push(mark.to_string());
    let hash = langpack::tree_hash(dir).unwrap();
    cleanup.images.push(format!(
        "solum/lp-{}:{}",
        langpack::pack_name(dir),
        &hash[..12]
    ));
}

#[tokio::test]
async fn builds_tests_and_serves_the_langpack_example() {
    let docker = docker().await;
    let mut cleanup = Cleanup::default();
    let tmp = tempfile::tempdir().unwrap();
    let pack = pack_copy(tmp.path(), &mut cleanup);
    assert!(langpack::is_langpack(&pack));
    let greeting = format!("Bonjour {}", unique("greeting"));
    let (log, lines) = collecting_log();
    let app = unique("lpweb");
    let mut req = request(
        &app,
        &example("langpack-web"),
        tmp.path(),
        &[("GREETING", greeting.as_str())],
        log,
    );
    req.run_cmd = Some("python3 app.py".into());
    let tag = solum_agent::build::dockerfile::app_tag(&app, &req.key).unwrap();
    cleanup.images.push(tag.clone());

    let outcome = langpack::build(&docker, &req, &pack)
        .await
        .unwrap_or_else(|e| panic!("build failed: {e}"));
    assert!(!outcome.cached);
    assert_eq!(
        outcome.processes.get("web"),
        Some(&Some("python3 app.py".to_string()))
    );
    {
        let lines = lines.lock().unwrap().clone();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("-----> Building language pack image solum/lp-")),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|l| l == "-----> python-lp: done"),
            "build.sh output is streamed: {lines:?}"
        );
    }
    let image = docker.inspect_image(&tag).await.unwrap();
    assert_eq!(image.id.as_deref(), Some(outcome.image.as_str()));
    let config = image.config.unwrap();
    assert_eq!(config.working_dir.as_deref(), Some("/app"));
    assert_eq!(
        config.cmd,
        Some(vec![
            "bash".to_string(),
            "-c".to_string(),
            "python3 app.py".to_string()
        ])
    );
    assert_eq!(
        config
            .labels
            .unwrap()
            .get("solum.langpack")
            .map(String::as_str),
        Some(langpack::pack_name(&pack).as_str())
    );

    let env = std::collections::BTreeMap::new();
    let check = "python3 -m unittest -v test_app && grep -qx built_by=python-lp .build-info && test -f /solum/build.sh \
                 && test -f /app/app.py && test ! -e /app/src";
    unittest::run(
        &docker,
        OWNER,
        &tag,
        check,
        &env,
        req.log.clone(),
        Duration::from_secs(120),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    let port = run_web(&docker, &tag, &unique("run"), &mut cleanup).await;
    let (status, body) = get(port, "/").await;
    assert_eq!(status, 200);
    assert!(
        body.contains(&greeting),
        "GREETING reached build.sh: {body}"
    );

    // Another app build with the same pack reuses the pack's image.
    let (log2, lines2) = collecting_log();
    let mut req2 = request(
        &unique("lpweb2"),
        &example("langpack-web"),
        tmp.path(),
        &[],
        log2,
    );
    req2.run_cmd = None;
    cleanup
        .images
        .push(solum_agent::build::dockerfile::app_tag(&req2.app, &req2.key).unwrap());
    let second = langpack::build(&docker, &req2, &pack)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(second.processes.get("web"), Some(&None));
    let lines2 = lines2.lock().unwrap().clone();
    assert!(
        lines2.iter().any(|l| l.contains("is up to date")),
        "{lines2:?}"
    );
    assert!(
        !lines2
            .iter()
            .any(|l| l.starts_with("-----> Building language pack image")),
        "{lines2:?}"
    );
}

#[tokio::test]
async fn missing_build_sh_is_a_language_pack_error() {
    let docker = docker().await;
    let tmp = tempfile::tempdir().unwrap();
    let pack = tmp.path().join("no-build-sh");
    write(&pack, "Dockerfile", "FROM solum/stack-run:bookworm\n");
    write(tmp.path(), "app/app.py", "print(1)\n");
    let (log, _) = collecting_log();
    let req = request(
        &unique("nobuildsh"),
        &tmp.path().join("app"),
        tmp.path(),
        &[],
        log,
    );
    match langpack::build(&docker, &req, &pack).await {
        Err(BuildError::LanguagePack { name, message }) => {
            assert_eq!(name, "no-build-sh");
            assert!(
                message.contains("build.sh") && message.contains("missing"),
                "{message}"
            );
        }
        other => panic!("expected a LanguagePack error, got {other:?}"),
    }
}

#[tokio::test]
async fn failing_build_sh_names_the_step() {
    let docker = docker().await;
    let mut cleanup = Cleanup::default();
    let tmp = tempfile::tempdir().unwrap();
    let name = unique("lpfail");
    let pack = tmp.path().join(&name);
    write(&pack, "Dockerfile", "FROM solum/stack-run:bookworm\n");
    write(&pack, "build.sh", "echo lp-is-breaking\nexit 4\n");
    mark_pack(&pack, &name, &mut cleanup);
    write(tmp.path(), "app/app.py", "print(1)\n");
    let (log, lines) = collecting_log();
    let req = request(
        &unique("lpfailapp"),
        &tmp.path().join("app"),
        tmp.path(),
        &[("MODE", "x")],
        log,
    );
    match langpack::build(&docker, &req, &pack).await {
        Err(BuildError::DockerfileFailed { step, message }) => {
            assert!(step.ends_with(": RUN bash /solum/build.sh"), "{step}");
            assert!(message.contains("non-zero code: 4"), "{message}");
        }
        other => panic!("expected DockerfileFailed, got {other:?}"),
    }
    assert!(lines.lock().unwrap().iter().any(|l| l == "lp-is-breaking"));
}

#[tokio::test]
async fn bad_parameter_name_is_refused_before_building() {
    let docker = docker().await;
    let tmp = tempfile::tempdir().unwrap();
    let pack = tmp.path().join("pack");
    write(&pack, "Dockerfile", "FROM solum/stack-run:bookworm\n");
    write(&pack, "build.sh", "true\n");
    write(tmp.path(), "app/app.py", "print(1)\n");
    let (log, _) = collecting_log();
    let req = request(
        &unique("badparam"),
        &tmp.path().join("app"),
        tmp.path(),
        &[("BAD NAME", "x")],
        log,
    );
    let err = langpack::build(&docker, &req, &pack)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"BAD NAME\"") && err.contains("not a valid environment variable name"),
        "{err}"
    );
}
