//! Unit-test runs against the real engine: pass, fail with the output in the error, no
//! network, timeout and kill, long output cut to the last lines, and images whose entrypoint
//! is `solum-start` getting the command as one argument. Containers must never be left over.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use solum_agent::build::unittest::{self, LABEL_UNITTEST};
use solum_agent::build::{dockerfile, BuildError};

mod dockerfile_support;

use dockerfile_support::*;

const STACK_RUN: &str = "solum/stack-run:bookworm";

/// A per-test name for the stack image, so this test's containers can be told apart.
async fn test_image(docker: &bollard::Docker, cleanup: &mut Cleanup) -> String {
    let repo = unique("ut");
    let opts = bollard::query_parameters::TagImageOptionsBuilder::new()
        .repo(&repo)
        .tag("1")
        .build();
    docker.tag_image(STACK_RUN, Some(opts)).await.unwrap();
    let image = format!("{repo}:1");
    cleanup.images.push(image.clone());
    image
}

/// No container of `image`'s unit-test runs is left.
async fn assert_no_containers(docker: &bollard::Docker, image: &str) {
    let filters = HashMap::from([("label", vec![format!("{LABEL_UNITTEST}={image}")])]);
    let opts = bollard::query_parameters::ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&filters)
        .build();
    let left = docker.list_containers(Some(opts)).await.unwrap();
    assert!(
        left.is_empty(),
        "unit-test containers left behind: {left:?}"
    );
}

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn passing_command_streams_its_output() {
    let docker = docker().await;
    let mut cleanup = Cleanup::default();
    let image = test_image(&docker, &mut cleanup).await;
    let (log, lines) = collecting_log();
    let cmd = "echo unit-ok; echo to-stderr >&2; test \"$FOO\" = 'bar baz'";
    unittest::run(
        &docker,
        OWNER,
        &image,
        cmd,
        &env(&[("FOO", "bar baz")]),
        log,
        Duration::from_secs(60),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let lines = lines.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l == "unit-ok") && lines.iter().any(|l| l == "to-stderr"),
        "{lines:?}"
    );
    assert_no_containers(&docker, &image).await;
}

#[tokio::test]
async fn failing_command_reports_code_and_output() {
    let docker = docker().await;
    let mut cleanup = Cleanup::default();
    let image = test_image(&docker, &mut cleanup).await;
    let (log, _) = collecting_log();
    let cmd = "echo 'FAIL: test_something'; echo traceback-line >&2; exit 7";
    match unittest::run(
        &docker,
        OWNER,
        &image,
        cmd,
        &BTreeMap::new(),
        log,
        Duration::from_secs(60),
    )
    .await
    {
        Err(BuildError::UnitTestsFailed {
            cmd: c,
            code,
            output,
        }) => {
            assert_eq!((c.as_str(), code), (cmd, 7));
            assert!(
                output.contains("FAIL: test_something") && output.contains("traceback-line"),
                "{output}"
            );
        }
        other => panic!("expected UnitTestsFailed, got {other:?}"),
    }
    assert_no_containers(&docker, &image).await;
}

#[tokio::test]
async fn tests_run_without_network() {
    let docker = docker().await;
    let mut cleanup = Cleanup::default();
    let image = test_image(&docker, &mut cleanup).await;
    let (log, lines) = collecting_log();
    let cmd = "ls /sys/class/net; test \"$(ls /sys/class/net)\" = lo";
    unittest::run(
        &docker,
        OWNER,
        &image,
        cmd,
        &BTreeMap::new(),
        log,
        Duration::from_secs(60),
    )
    .await
    .unwrap_or_else(|e| panic!("only the loopback interface should exist: {e}"));
    assert_eq!(
        lines.lock().unwrap().iter().filter(|l| *l == "lo").count(),
        1
    );
}

#[tokio::test]
async fn timeout_kills_and_removes_the_container() {
    let docker = docker().await;
    let mut cleanup = Cleanup::default();
    let image = test_image(&docker, &mut cleanup).await;
    let (log, _) = collecting_log();
    let started = std::time::Instant::now();
    let err = unittest::run(
        &docker,
        OWNER,
        &image,
        "echo started-sleeping; sleep 60",
        &BTreeMap::new(),
        log,
        Duration::from_secs(3),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        err.contains("did not finish within 3 s") && err.contains("started-sleeping"),
        "{err}"
    );
    assert_no_containers(&docker, &image).await;
}

#[tokio::test]
async fn long_output_keeps_the_last_lines() {
    let docker = docker().await;
    let mut cleanup = Cleanup::default();
    let image = test_image(&docker, &mut cleanup).await;
    let (log, lines) = collecting_log();
    let err = unittest::run(
        &docker,
        OWNER,
        &image,
        "seq 1 500; exit 1",
        &BTreeMap::new(),
        log,
        Duration::from_secs(60),
    )
    .await
    .unwrap_err();
    let BuildError::UnitTestsFailed { output, .. } = err else {
        panic!("{err:?}")
    };
    assert!(
        output.starts_with("[... 300 earlier lines not shown]\n301\n"),
        "{}",
        &output[..80.min(output.len())]
    );
    assert!(output.ends_with("\n500\n"));
    assert_eq!(
        lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.parse::<u32>().is_ok())
            .count(),
        500,
        "all lines logged"
    );
}

#[tokio::test]
async fn solum_start_images_get_the_command_as_one_argument() {
    let docker = docker().await;
    let mut cleanup = Cleanup::default();
    let src = tempfile::tempdir().unwrap();
    write(
        src.path(),
        "solum-start",
        "#!/bin/bash\necho \"solum-start got $# argument(s): $1\"\nexec bash -c \"$1\"\n",
    );
    write(
        src.path(),
        "Dockerfile",
        "FROM solum/stack-run:bookworm\nCOPY solum-start /usr/local/bin/solum-start\n\
         RUN chmod 755 /usr/local/bin/solum-start\nENTRYPOINT [\"/usr/local/bin/solum-start\"]\n",
    );
    let work = tempfile::tempdir().unwrap();
    let (log, lines) = collecting_log();
    let req = request(
        &unique("utstart"),
        src.path(),
        work.path(),
        &[],
        log.clone(),
    );
    let tag = dockerfile::app_tag(&req.app, &req.key).unwrap();
    cleanup.images.push(tag.clone());
    dockerfile::build(&docker, &req)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    unittest::run(
        &docker,
        OWNER,
        &tag,
        "echo one two | grep -q 'one two' && echo piped-ok",
        &BTreeMap::new(),
        log,
        Duration::from_secs(60),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let lines = lines.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l
            == "solum-start got 1 argument(s): echo one two | grep -q 'one two' && echo piped-ok"),
        "{lines:?}"
    );
    assert!(lines.iter().any(|l| l == "piped-ok"), "{lines:?}");
    assert_no_containers(&docker, &tag).await;
}

#[tokio::test]
async fn missing_image_is_a_clear_error() {
    let docker = docker().await;
    let (log, _) = collecting_log();
    let image = format!("{}:1", unique("no-such-image"));
    let err = unittest::run(
        &docker,
        OWNER,
        &image,
        "true",
        &BTreeMap::new(),
        log,
        Duration::from_secs(10),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("image {image} does not exist")),
        "{err}"
    );
}
