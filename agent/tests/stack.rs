//! The stack images: `stack::build` makes them (or finds them current) and they hold what the
//! buildpack builder and the launcher promise.

mod buildpack_support;

use buildpack_support::{capture_log, docker, run_in};
use solum_agent::config::StackConfig;

#[tokio::test]
async fn stack_images_have_the_promised_tools_and_launcher() {
    let docker = docker().await;
    let cfg = StackConfig::default();
    let (log, _) = capture_log();
    solum_agent::stack::build(&docker, &cfg, false, log)
        .await
        .expect("stack build");

    let (code, out) = run_in(
        &docker,
        &cfg.build_image,
        None,
        None,
        vec!["bash", "-c", "command -v git gcc python3 curl tar gzip"],
    )
    .await;
    assert_eq!(code, 0, "build image lacks a tool:\n{out}");
    assert_eq!(out.lines().count(), 6, "{out}");

    let check = "id -u app; id -g app; stat -c '%u %n' /app /tmp/build /tmp/cache /tmp/env /tmp/buildpacks; \
                 find /var/lib/apt/lists /var/cache/apt -name '*Packages*' -o -name '*.deb' -o -name '*.bin' | wc -l";
    for image in [&cfg.build_image, &cfg.run_image] {
        let (code, out) = run_in(&docker, image, None, None, vec!["bash", "-c", check]).await;
        assert_eq!(code, 0, "{image}: {out}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(&lines[..2], ["32767", "32767"], "{image}: {out}");
        for line in &lines[2..7] {
            assert!(
                line.starts_with("32767 "),
                "{image}: not owned by app: {line}"
            );
        }
        assert_eq!(
            lines[7].trim(),
            "0",
            "{image}: apt lists or caches kept: {out}"
        );
    }

    let (code, out) = run_in(
        &docker,
        &cfg.run_image,
        None,
        None,
        vec!["bash", "-c", "command -v python3 solum-start"],
    )
    .await;
    assert_eq!(code, 0, "run image lacks python3 or solum-start:\n{out}");
    assert!(out.contains("/usr/local/bin/solum-start"), "{out}");
}

/// The launcher: Procfile types, the release's default types, profile scripts, PORT default,
/// and plain command lines.
#[tokio::test]
async fn launcher_runs_types_and_commands() {
    let docker = docker().await;
    let cfg = StackConfig::default();
    let (log, _) = capture_log();
    solum_agent::stack::build(&docker, &cfg, false, log)
        .await
        .expect("stack build");
    let setup = r#"set -e
mkdir -p /app/.profile.d
printf '# comment\nweb: echo "web on $PORT as $GREETING"\nworker:echo worker\n' > /app/Procfile
printf 'web: echo from-release\nclock: echo "clock $HOME"\n' > /app/.release
echo 'export GREETING=hi' > /app/.profile.d/a.sh
echo 'export GREETING="$GREETING-there"' > /app/.profile
set +e
"#;
    let script = format!(
        "{setup}\nsolum-start web; solum-start worker; solum-start clock; PORT=8080 solum-start web; \
         solum-start echo plain \\$PORT; solum-start 'echo one arg'; solum-start nosuchtype 2>&1; echo \"exit=$?\""
    );
    let (code, out) = run_in(
        &docker,
        &cfg.run_image,
        Some("32767:32767"),
        None,
        vec!["bash", "-c", &script],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "web on 5000 as hi-there",
            "worker",
            "clock /app",
            "web on 8080 as hi-there",
            "plain 5000",
            "one arg",
            "bash: line 1: nosuchtype: command not found",
            "exit=127"
        ],
        "{out}"
    );
}
