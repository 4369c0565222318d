//! Data-driven tests of the parser: text in, expected `Plan` or error out, all through `check`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;

const FILE: &str = "/plans/app/Planfile";

/// Parses `text` as `/plans/app/Planfile`; `Ok` must equal the plan, `Err` must be a
/// substring of the error message.
fn check(text: &str, expected: Result<Plan, &str>) {
    check_with(text, None, expected)
}

fn check_with(text: &str, over: Option<SourceSpec>, expected: Result<Plan, &str>) {
    let got = parse_with_source(Path::new(FILE), text, over);
    match (got, expected) {
        (Ok(plan), Ok(want)) => assert_eq!(plan, want, "\n--- input:\n{text}"),
        (Err(e), Err(want)) => {
            assert!(
                e.message.contains(want),
                "error {:?}\n lacks {want:?}\n--- input:\n{text}",
                e.message
            );
            assert!(
                e.message.starts_with(FILE),
                "error does not name the file: {:?}",
                e.message
            );
        }
        (Ok(plan), Err(want)) => {
            panic!("expected an error containing {want:?}, got {plan:#?}\n--- input:\n{text}")
        }
        (Err(e), Ok(_)) => panic!(
            "expected a plan, got error {:?}\n--- input:\n{text}",
            e.message
        ),
    }
}

fn git(url: &str, rev: Option<&str>) -> SourceSpec {
    SourceSpec::Git {
        url: url.into(),
        revision: rev.map(Into::into),
    }
}

fn port(n: u16) -> Port {
    Port {
        name: None,
        number: n,
    }
}

fn artifact(name: &str, source: SourceSpec) -> Artifact {
    Artifact {
        name: name.into(),
        kind: ArtifactKind::Buildpack,
        source,
        language_pack: LanguagePack::Auto,
        unittest_cmd: None,
        run_cmd: None,
        ports: vec![port(80)],
        repo_token: None,
        requirements: vec![],
        instances: Instances::default(),
    }
}

fn plan(name: &str, artifacts: Vec<Artifact>) -> Plan {
    Plan {
        name: name.into(),
        description: None,
        artifacts,
        parameters: BTreeMap::new(),
        services: vec![],
        warnings: vec![],
    }
}

/// A minimal Planfile with one artifact `web` whose artifact body is `extra` (indented by the caller).
fn minimal(extra: &str) -> String {
    format!("version: 1\nname: app\nartifacts:\n- name: web\n  content:\n    href: https://h/app.git\n{extra}")
}

fn minimal_plan() -> Plan {
    plan("app", vec![artifact("web", git("https://h/app.git", None))])
}

fn with_artifact(f: impl FnOnce(&mut Artifact)) -> Plan {
    let mut p = minimal_plan();
    f(&mut p.artifacts[0]);
    p
}

#[test]
fn reference_example() {
    let text = r#"
version: 1
name: cherrypy
description: python web app
artifacts:
- name: web
  artifact_type: heroku
  content:
    href: https://github.com/example/app.git
    private: false
  language_pack: auto
  unittest_cmd: ./unit_tests.sh
  run_cmd: python app.py
  ports: 5000
  repo_token: ghp_secret
  requirements: [{requirement_type: docker, fulfillment: "id:x"}]
services: [{name: db, id: x, characteristics: [mysql]}]
parameters: {KEY: value}
"#;
    let mut a = artifact("web", git("https://github.com/example/app.git", None));
    a.unittest_cmd = Some("./unit_tests.sh".into());
    a.run_cmd = Some("python app.py".into());
    a.ports = vec![port(5000)];
    a.repo_token = Some(Secret("ghp_secret".into()));
    let mut p = plan("cherrypy", vec![a]);
    p.description = Some("python web app".into());
    p.parameters.insert("KEY".into(), "value".into());
    p.artifacts[0].requirements = vec![Requirement {
        requirement_type: "docker".into(),
        service: "x".into(),
    }];
    p.services = vec![Service {
        id: "x".into(),
        name: "db".into(),
        kind: ServiceKind::Mysql,
        binding: Binding::Local,
    }];
    check(text, Ok(p));
}

#[test]
fn defaults() {
    check(&minimal(""), Ok(minimal_plan()));
}

#[test]
fn ports() {
    check(
        &minimal("  ports: 5000\n"),
        Ok(with_artifact(|a| a.ports = vec![port(5000)])),
    );
    check(
        &minimal("  ports: [5000, 5001]\n"),
        Ok(with_artifact(|a| a.ports = vec![port(5000), port(5001)])),
    );
    let named = |n: &str, p| Port {
        name: Some(n.into()),
        number: p,
    };
    check(
        &minimal("  ports:\n    web: 8080\n    admin: 81\n"),
        Ok(with_artifact(|a| {
            a.ports = vec![named("web", 8080), named("admin", 81)]
        })),
    );
    check(
        &minimal("  ports: 65535\n"),
        Ok(with_artifact(|a| a.ports = vec![port(65535)])),
    );
}

#[test]
fn bad_ports() {
    check(
        &minimal("  ports: 0\n"),
        Err("artifacts[0].ports: invalid port 0: must be 1-65535 at line 7"),
    );
    check(
        &minimal("  ports: 65536\n"),
        Err("artifacts[0].ports: invalid port 65536"),
    );
    check(&minimal("  ports: -1\n"), Err("invalid port -1"));
    check(
        &minimal("  ports: \"abc\"\n"),
        Err("artifacts[0].ports: invalid type: string \"abc\", expected a port number"),
    );
    check(
        &minimal("  ports: abc\n"),
        Err("artifacts[0].ports: invalid type: string \"abc\""),
    );
    check(
        &minimal("  ports: 80.5\n"),
        Err("artifacts[0].ports: invalid type: floating point"),
    );
    check(
        &minimal("  ports: [80, x]\n"),
        Err("artifacts[0].ports[1]: invalid type: string \"x\""),
    );
    check(
        &minimal("  ports: []\n"),
        Err("artifacts[0].ports: ports must not be empty"),
    );
    check(
        &minimal("  ports: {http: 0}\n"),
        Err("artifacts[0].ports.http: invalid port 0"),
    );
    check(
        &minimal("  ports: {\"a b\": 80}\n"),
        Err("invalid port name \"a b\""),
    );
    check(
        &minimal("  ports: [80, 80]\n"),
        Err("artifacts[0].ports[1]: port 80 is already used by this artifact at line 7"),
    );
}

#[test]
fn duplicate_named_ports() {
    check(
        &minimal("  ports:\n    web: 8080\n    admin: 8080\n"),
        Err("artifacts[0].ports.admin: port 8080 is already used by this artifact at line 9"),
    );
}

#[test]
fn version() {
    check(
        "name: app\nartifacts: []\n",
        Err("Version attribute is missing in Plan"),
    );
    check(
        "version:\nname: app\n",
        Err("Version attribute is missing in Plan"),
    );
    check(
        "version: 2\nname: app\nartifacts: []\n",
        Err("version: unsupported version 2: only version 1 exists at line 1"),
    );
    check(
        "version: v1\nname: app\n",
        Err("unsupported version \"v1\""),
    );
    check(
        "version: [1]\nname: app\n",
        Err("version: invalid type: sequence, expected version 1"),
    );
    let quoted = minimal("").replace("version: 1", "version: '1'");
    check(&quoted, Ok(minimal_plan()));
}

#[test]
fn names() {
    check(
        "version: 1\nartifacts:\n- name: web\n",
        Err("name: missing: the plan needs a name"),
    );
    check(
        &minimal("").replace("name: app", "name: my app"),
        Err("name: invalid name \"my app\": must match ^[a-zA-Z0-9-_]{1,100}$ at line 2"),
    );
    check(
        &minimal("").replace("name: app", &format!("name: {}", "a".repeat(101))),
        Err("invalid name"),
    );
    check(
        &minimal("").replace("- name: web", "- name: web.1"),
        Err("artifacts[0].name: invalid name \"web.1\""),
    );
    check(
        "version: 1\nname: app\nartifacts:\n- content: {href: /srv/app}\n",
        Err("artifacts[0].name: missing: every artifact needs a name"),
    );
    check(
        &minimal("").replace("name: app", "name: 123"),
        Ok(Plan {
            name: "123".into(),
            ..minimal_plan()
        }),
    );
}

#[test]
fn artifact_types() {
    for (written, kind) in [
        ("heroku", ArtifactKind::Buildpack),
        ("Heroku", ArtifactKind::Buildpack),
        ("buildpack", ArtifactKind::Buildpack),
        ("application.heroku", ArtifactKind::Buildpack),
        ("dockerfile", ArtifactKind::Dockerfile),
        ("DockerFile", ArtifactKind::Dockerfile),
        ("docker", ArtifactKind::Dockerfile),
    ] {
        check(
            &minimal(&format!("  artifact_type: {written}\n")),
            Ok(with_artifact(|a| a.kind = kind)),
        );
    }
    check(
        &minimal("  artifact_type: chef\n"),
        Err("artifacts[0].artifact_type: unknown artifact_type \"chef\": expected one of heroku, buildpack, application.heroku, dockerfile, docker at line 7"),
    );
}

#[test]
fn language_packs_and_commands() {
    check(&minimal("  language_pack: AUTO\n"), Ok(minimal_plan()));
    check(
        &minimal("  language_pack: https://h/bp.git#v1\n  run_cmd: ./start\n"),
        Ok(with_artifact(|a| {
            a.language_pack = LanguagePack::Named("https://h/bp.git#v1".into());
            a.run_cmd = Some("./start".into());
        })),
    );
    check(
        &minimal("  language_pack: ''\n"),
        Err("artifacts[0].language_pack: language pack must not be empty"),
    );
    check(
        &minimal("  run_cmd: ''\n"),
        Err("artifacts[0].run_cmd: must not be empty"),
    );
    check(
        &minimal("  unittest_cmd: [a]\n"),
        Err("artifacts[0].unittest_cmd: invalid type: sequence"),
    );
}

#[test]
fn parameters() {
    let text = "version: 1\nname: app\nparameters:\n  S: text\n  N: 5000\n  F: 1.50\n  B: true\n  E: ''\n  _U: x\nartifacts:\n- name: web\n  content: {href: https://h/app.git}\n";
    let mut p = minimal_plan();
    for (k, v) in [
        ("S", "text"),
        ("N", "5000"),
        ("F", "1.50"),
        ("B", "true"),
        ("E", ""),
        ("_U", "x"),
    ] {
        p.parameters.insert(k.into(), v.into());
    }
    check(text, Ok(p));
    let with = |params: &str| format!("{}parameters: {params}\n", minimal(""));
    check(
        &with("[1, 2]"),
        Err("parameters: invalid type: sequence, expected a map of environment variable names"),
    );
    check(&with("{1A: x}"), Err("invalid parameter name \"1A\""));
    check(&with("{A-B: x}"), Err("invalid parameter name \"A-B\""));
    check(
        &with("{A: [x]}"),
        Err("parameters.A: invalid type: sequence, expected a string, number or boolean"),
    );
    check(&with("{A: {b: c}}"), Err("parameters.A: invalid type: map"));
    check(
        &with("{A: ~}"),
        Err("parameter A has no value (write \"\" for an empty string) at line 7"),
    );
    check(&with("{A: x, A: y}"), Err("parameters"));
}

#[test]
fn unknown_keys_warn() {
    let text =
        minimal("  colour: blue\n    \n").replace("name: app\n", "name: app\nflavour: vanilla\n");
    let mut p = minimal_plan();
    p.warnings = vec![
        format!("{FILE}: flavour: unknown key, ignored at line 3"),
        format!("{FILE}: artifacts[0].colour: unknown key, ignored at line 8"),
    ];
    check(&text, Ok(p));
    let text = minimal("").replace(
        "href: https://h/app.git",
        "href: https://h/app.git\n    branch: main",
    );
    let mut p = minimal_plan();
    p.warnings = vec![format!(
        "{FILE}: artifacts[0].content.branch: unknown key, ignored at line 7"
    )];
    check(&text, Ok(p));
}

#[test]
fn wrong_types_and_shapes() {
    check(
        "- a\n- b\n",
        Err("invalid type: sequence, expected a mapping (a Planfile or an app file)"),
    );
    check("", Err("the file is empty"));
    check("# only a comment\n", Err("the file is empty"));
    check(
        "version: 1\nname: x\n",
        Err("neither a Planfile (no `artifacts`) nor an app file"),
    );
    check(
        "version: 1\nname: x\nartifacts: []\nlanguagepack: python\n",
        Err("artifacts: has both `artifacts` (Planfile) and"),
    );
    check(
        "version: 1\nname: x\nartifacts: 5\n",
        Err("artifacts: invalid type: integer `5`, expected a sequence"),
    );
    check(
        "version: 1\nname: x\nartifacts: [5]\n",
        Err("artifacts[0]: invalid type: integer `5`, expected an artifact (a mapping)"),
    );
    check(
        &minimal("").replace("name: app", "name: app\ndescription: [x]"),
        Err("description: invalid type: sequence"),
    );
    check(
        &minimal("").replace(
            "  content:\n    href: https://h/app.git",
            "  content: https://h/x",
        ),
        Err("artifacts[0].content: invalid type: string"),
    );
    check(
        &minimal("    private: maybe\n"),
        Err("artifacts[0].content.private: invalid type: string \"maybe\", expected a boolean"),
    );
    check("version: 1\nname: [x\n", Err("at line"));
    check(
        &format!("{}---\nversion: 1\n", minimal("")),
        Err("more than one document"),
    );
    check(
        "version: 1\nname: x\nname: y\nartifacts: []\n",
        Err("duplicate"),
    );
}

#[test]
fn artifact_sets() {
    check(
        "version: 1\nname: app\nartifacts: []\n",
        Err("artifacts: must list at least one artifact at line 3"),
    );
    let two = |second: &str| {
        format!("version: 1\nname: app\nartifacts:\n- name: web\n  content: {{href: /srv/a}}\n  ports: [5000]\n- name: {second}\n  content: {{href: /srv/b}}\n  ports: [6000, 5000]\n")
    };
    check(
        &two("api"),
        Err("artifacts[1].ports[1]: port 5000 is already used by artifact \"web\" at line 9"),
    );
    check(
        &two("web").replace("[6000, 5000]", "7000"),
        Err("artifacts[1].name: artifact name \"web\" is used twice at line 7"),
    );
    let ok = two("api").replace("[6000, 5000]", "6000");
    let dir = |p: &str| SourceSpec::Dir { path: p.into() };
    let mut web = artifact("web", dir("/srv/a"));
    web.ports = vec![port(5000)];
    let mut api = artifact("api", dir("/srv/b"));
    api.ports = vec![port(6000)];
    let p = plan("app", vec![web, api]);
    assert_eq!(p.app_name(&p.artifacts[1]), "app-api");
    check(&ok, Ok(p));
}

#[test]
fn sources() {
    let with_content = |content: &str| {
        format!("version: 1\nname: app\nartifacts:\n- name: web\n  content:\n{content}")
    };
    let source = |s: SourceSpec| Ok(plan("app", vec![artifact("web", s)]));
    check(
        &with_content("    href: src\n"),
        source(SourceSpec::Dir {
            path: "/plans/app/src".into(),
        }),
    );
    check(
        &with_content("    href: ./\n"),
        source(SourceSpec::Dir {
            path: "/plans/app".into(),
        }),
    );
    check(
        &with_content("    href: https://h/x.git\n    revision: v2\n"),
        source(git("https://h/x.git", Some("v2"))),
    );
    check(
        &with_content("    href: https://h/x.git#v2\n    revision: v2\n"),
        source(git("https://h/x.git", Some("v2"))),
    );
    check(
        &with_content("    href: git@h:x/y.git#abc123\n"),
        source(git("git@h:x/y.git", Some("abc123"))),
    );
    let sum = "ab".repeat(32);
    check(
        &with_content(&format!(
            "    href: https://h/x.tgz\n    sha256: {}\n",
            sum.to_uppercase()
        )),
        source(SourceSpec::Tarball {
            url: "https://h/x.tgz".into(),
            sha256: Some(sum.clone()),
        }),
    );
    check(
        &with_content("    href: https://h/x.git#v1\n    revision: v2\n"),
        Err("artifacts[0].content.revision: \"v2\" conflicts with the #v1 of the source URL at line 7"),
    );
    check(
        &with_content("    href: https://h/x.git\n    revision: --upload-pack=x\n"),
        Err("artifacts[0].content.revision: invalid revision \"--upload-pack=x\" at line 7"),
    );
    check(
        &with_content("    href: /srv/app\n    revision: v2\n"),
        Err("artifacts[0].content.revision: a revision only applies to git sources"),
    );
    check(
        &with_content("    href: https://h/x.git\n    sha256: abc\n"),
        Err("artifacts[0].content.sha256: must be 64 hexadecimal digits"),
    );
    check(
        &with_content(&format!("    href: https://h/x.git\n    sha256: {sum}\n")),
        Err("a sha256 only applies to tarball sources"),
    );
    check(&with_content("    href: https://h/x.tgz#sha256=12\n"), Err("artifacts[0].content.href: source https://h/x.tgz#sha256=12: #sha256= must be followed by 64 hexadecimal digits at line 6"));
    check(
        &with_content("    href: svn://h/x\n"),
        Err("artifacts[0].content.href: source svn://h/x: unsupported URL scheme"),
    );
    check(
        &with_content("    href: ''\n"),
        Err("artifacts[0].content.href: must not be empty"),
    );
    check(&with_content("    private: true\n"), Err("artifacts[0]: no source: set `content.href` (or give a source override, e.g. --source) at line 4"));
    check(
        "version: 1\nname: app\nartifacts:\n- name: web\n",
        Err("artifacts[0]: no source"),
    );
    check(
        &with_content("    revision: main\n"),
        Err("artifacts[0].content.revision: given without `content.href`"),
    );
}

#[test]
fn private_sources_and_tokens() {
    let text = minimal("    private: true\n");
    let mut p = minimal_plan();
    p.warnings = vec![format!("{FILE}: artifacts[0].content.private: the source is private but there is no repo_token at line 7")];
    check(&text, Ok(p));
    check(&minimal("  repo_token: ''\n"), Ok(minimal_plan()));
    let plan = parse(Path::new(FILE), &minimal("  repo_token: tok-123\n")).unwrap();
    let shown = format!("{plan:?}");
    assert!(
        !shown.contains("tok-123"),
        "token leaked into Debug: {shown}"
    );
    assert_eq!(
        plan.artifacts[0].repo_token.as_ref().map(Secret::expose),
        Some("tok-123")
    );
}

#[test]
fn source_override() {
    let over = SourceSpec::Dir {
        path: "/work/checkout".into(),
    };
    let want = Ok(plan("app", vec![artifact("web", over.clone())]));
    check_with(
        "version: 1\nname: app\nartifacts:\n- name: web\n",
        Some(over.clone()),
        want.clone(),
    );
    check_with(&minimal(""), Some(over.clone()), want);
    check_with(
        "version: 1\nname: app\nartifacts:\n- name: web\n  content: {href: 'svn://x'}\n",
        Some(over),
        Err("unsupported URL scheme"),
    );
}

#[test]
fn app_file() {
    let text = r#"
version: 1
name: cherrypy
description: python web app
languagepack: python
source:
  repository: https://github.com/example/app.git
  revision: master
  repo_token: tok
workflow_config:
  test_cmd: ./unit_tests.sh
  run_cmd: python app.py
trigger_actions: [unittest, build, deploy]
ports: [80, 8080]
parameters: {DEBUG: 1}
"#;
    let mut a = artifact(
        "cherrypy",
        git("https://github.com/example/app.git", Some("master")),
    );
    a.language_pack = LanguagePack::Named("python".into());
    a.unittest_cmd = Some("./unit_tests.sh".into());
    a.run_cmd = Some("python app.py".into());
    a.ports = vec![port(80), port(8080)];
    a.repo_token = Some(Secret("tok".into()));
    let mut p = plan("cherrypy", vec![a.clone()]);
    p.description = Some("python web app".into());
    p.parameters.insert("DEBUG".into(), "1".into());
    check(text, Ok(p.clone()));

    // Without `unittest` in trigger_actions the test command is not run.
    let no_test = text.replace("[unittest, build, deploy]", "[build, deploy]");
    let mut p2 = p.clone();
    p2.artifacts[0].unittest_cmd = None;
    check(&no_test, Ok(p2));

    let only_test = text.replace("[unittest, build, deploy]", "[unittest]");
    let mut p3 = p.clone();
    p3.warnings = vec![format!("{FILE}: trigger_actions: solum-agent always builds and deploys; only `unittest` can be left out at line 13")];
    check(&only_test, Ok(p3));

    check(
        &text.replace("[unittest, build, deploy]", "[unittest, launch]"),
        Err("trigger_actions[1]: unknown variant `launch`, expected one of"),
    );
    check(
        &text.replace("ports: [80, 8080]", "ports: [80, 0]"),
        Err("ports[1]: invalid port 0: must be 1-65535 at line 14"),
    );
    check(
        &text.replace("name: cherrypy", "name: 'a/b'"),
        Err("name: invalid name \"a/b\""),
    );
    check(
        &text.replace(
            "languagepack: python",
            "languagepack: python\nartifact_type: dockerfile",
        ),
        Ok({
            let mut p4 = p.clone();
            p4.artifacts[0].kind = ArtifactKind::Dockerfile;
            p4
        }),
    );

    let minimal_app = "version: 1\nname: tiny\nsource:\n  repository: ../repo#main\n  private_ssh_key: SECRETKEY\n";
    let mut p5 = plan(
        "tiny",
        vec![artifact("tiny", git("/plans/app/../repo", Some("main")))],
    );
    p5.warnings = vec![format!("{FILE}: source.private_ssh_key: not supported by solum-agent (use repo_token), ignored at line 5")];
    check(minimal_app, Ok(p5));
    check(
        "version: 1\nname: tiny\nlanguagepack: auto\n",
        Err("source: no source: set `source.repository`"),
    );
    check(
        "version: 1\nname: tiny\nsource: {repository: /x}\nworkflow_config: {run_cmd: [a]}\n",
        Err("workflow_config.run_cmd: invalid type: sequence"),
    );
    check(
        "version: 1\nlanguagepack: auto\nsource: {repository: /x}\n",
        Err("name: missing: the app needs a name"),
    );
}

#[test]
fn app_file_secrets_stay_out_of_messages() {
    let text = "version: 1\nname: tiny\nsource:\n  repository: /x\n  private_ssh_key: SECRETKEY\n  repo_token: TOKEN123\nbogus: 1\n";
    let plan = parse(Path::new(FILE), text).unwrap();
    let all = format!("{plan:?} {}", plan.warnings.join("\n"));
    assert!(
        !all.contains("SECRETKEY") && !all.contains("TOKEN123"),
        "{all}"
    );
}

#[test]
fn billion_laughs_is_refused() {
    let mut text = String::from(
        "version: 1\nname: app\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for i in 1..10 {
        let prev = format!("*a{}", i - 1);
        text.push_str(&format!(
            "a{i}: &a{i} [{}]\n",
            [prev.as_str(); 9].join(", ")
        ));
    }
    let started = std::time::Instant::now();
    // Refused by the budget whether a field expands the aliases or not: the anchors alone
    // stand for 9^10 values.
    let refused = "more than 500000 values at line 8 (an alias counts by what it expands to)";
    check(
        &format!("{text}services: *a9\nartifacts:\n- name: web\n  content: {{href: /x}}\n"),
        Err(refused),
    );
    check(
        &format!("{text}artifacts:\n- name: web\n  content: {{href: /x}}\n"),
        Err(refused),
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn deep_nesting_is_refused() {
    // Refused before parsing (solum_limits): libyaml is quadratic in the depth.
    let started = std::time::Instant::now();
    let deep = format!("{}{}", "[".repeat(500_000), "]".repeat(500_000));
    check(
        &format!("{}colour: {deep}\n", minimal("")),
        Err("nested deeper than 128 levels at line 7"),
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    // Block nesting is bounded the same way.
    let mut block = String::from("services:\n");
    for i in 0..200 {
        block.push_str(&format!("{}- \n", "  ".repeat(i + 1)));
    }
    check(
        &format!("{}{block}", minimal("")),
        Err("nested deeper than 128 levels"),
    );
    // An unknown key is skipped without recursing.
    let shallow = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let p = parse(
        Path::new(FILE),
        &format!("{}colour: {shallow}\n", minimal("")),
    )
    .unwrap();
    assert_eq!(
        p.warnings,
        vec![format!("{FILE}: colour: unknown key, ignored at line 7")]
    );
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn load_reads_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "Planfile",
        b"version: 1\nname: app\nartifacts:\n- name: web\n  content: {href: ./src}\n",
    );
    let plan = load(&p).unwrap();
    assert_eq!(
        plan.artifacts[0].source,
        SourceSpec::Dir {
            path: dir.path().join("src")
        }
    );

    let over = SourceSpec::Git {
        url: "https://h/x.git".into(),
        revision: None,
    };
    let plan = load_with_source(&p, Some(over.clone())).unwrap();
    assert_eq!(plan.artifacts[0].source, over);

    let err = load(&dir.path().join("nope.yaml")).unwrap_err().message;
    assert!(err.contains("nope.yaml: no such file"), "{err}");

    let err = load(dir.path()).unwrap_err().message;
    assert!(err.contains("is a directory"), "{err}");

    let big = write(
        dir.path(),
        "big",
        &vec![b'#'; MAX_PLANFILE_BYTES as usize + 1],
    );
    let err = load(&big).unwrap_err().message;
    assert!(
        err.contains("larger than the 1 MiB limit (1048576 bytes)"),
        "{err}"
    );

    let bin = write(dir.path(), "bin", b"version: 1\nname: \xff\xfe\n");
    let err = load(&bin).unwrap_err().message;
    assert!(
        err.contains("bin: not UTF-8 text (invalid byte at offset 17)"),
        "{err}"
    );
}

#[test]
fn fixture_files_load_to_the_same_app() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let planfile = load(&data.join("planfiles/reference.yaml")).unwrap();
    let appfile = load(&data.join("planfiles/appfile.yaml")).unwrap();
    let dir = SourceSpec::Dir {
        path: data.join("planfiles/../sources/hello"),
    };
    for plan in [&planfile, &appfile] {
        let a = &plan.artifacts[0];
        assert_eq!(plan.name, "cherrypy");
        assert_eq!(a.source, dir);
        assert_eq!(a.ports, vec![port(5000)]);
        assert_eq!(a.run_cmd.as_deref(), Some("python3 app.py"));
        assert_eq!(a.unittest_cmd.as_deref(), Some("./unit_tests.sh"));
        assert_eq!(
            plan.parameters.get("GREETING").map(String::as_str),
            Some("hello")
        );
    }
    // The Planfile's MySQL service (an app file has no services).
    assert_eq!(
        planfile.services_of(&planfile.artifacts[0])[0].kind,
        ServiceKind::Mysql
    );
    assert_eq!(
        planfile
            .artifacts
            .iter()
            .map(|a| Artifact {
                requirements: vec![],
                ..a.clone()
            })
            .collect::<Vec<_>>(),
        appfile
            .artifacts
            .iter()
            .map(|a| Artifact {
                name: "web".into(),
                ..a.clone()
            })
            .collect::<Vec<_>>()
    );
    assert!(planfile.warnings.is_empty(), "{:?}", planfile.warnings);
    assert!(appfile.warnings.is_empty(), "{:?}", appfile.warnings);
}

/// Issue 11, reproduction 1: a 523 KB Planfile whose 20,000 parameters are each an alias of one
/// 500,000-byte scalar expanded to 10 GB in serde_norway (0.99 GB RSS for `deploy`). The budget
/// counts each alias by what it expands to and refuses the file before any deserializer runs.
#[test]
fn yaml_alias_fanout_of_a_long_scalar_is_refused() {
    let started = std::time::Instant::now();
    let mut text = format!(
        "{}s: &s {}\nparameters:\n",
        minimal(""),
        "A".repeat(500_000)
    );
    for i in 0..20_000 {
        text.push_str(&format!("  p{i}: *s\n"));
    }
    check(
        &text,
        Err("expands to more than 33554432 bytes of values at line 75 (an alias counts by what it expands to)"),
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    // A few aliases of a short scalar are fine.
    let ok = format!("{}x: &x a\nparameters:\n  A: *x\n  B: *x\n", minimal(""));
    let p = parse(Path::new(FILE), &ok).unwrap();
    assert_eq!(p.parameters.get("B").map(String::as_str), Some("a"));
}

#[test]
fn text_without_a_file_resolves_relative_sources_against_the_given_base() {
    let text = "version: 1\nname: app\nartifacts:\n- name: web\n  artifact_type: heroku\n  content:\n    href: src/app\n";
    let plan = parse_relative_to(
        Path::new("deployment/d1"),
        Path::new("/var/lib/solum-agent"),
        text,
    )
    .unwrap();
    assert_eq!(
        plan.artifacts[0].source,
        SourceSpec::Dir {
            path: "/var/lib/solum-agent/src/app".into()
        }
    );
    let e =
        parse_relative_to(Path::new("deployment/d1"), Path::new("/x"), "version: 1\n").unwrap_err();
    assert!(e.to_string().starts_with("deployment/d1"), "{e}");
}

/// Issue 13's example: a Redis service required by a web artifact with three instances.
#[test]
fn services_requirements_and_instances() {
    let text = r#"version: 1
name: shop
services:
- name: cache
  id: cache
  characteristics: [{characteristic_type: redis}]
- name: db
  id: db
  characteristics:
  - characteristic_type: postgresql
    url_parameter: DB_URL
artifacts:
- name: web
  artifact_type: heroku
  content: {href: /srv/shop}
  instances: 3
  requirements:
  - {requirement_type: cache, fulfillment: "id:cache"}
  - requirement_type: database
    fulfillment: "id:db"
- name: worker
  content: {href: /srv/shop}
  ports: 5001
  instances: {worker: 2}
  requirements:
  - requirement_type: queue
    fulfillment:
      name: queue
      characteristics: [rabbitmq]
  - {requirement_type: cache, fulfillment: "id: cache"}
"#;
    let plan = parse(Path::new(FILE), text).expect("plan");
    assert_eq!(
        plan.services,
        vec![
            Service {
                id: "cache".into(),
                name: "cache".into(),
                kind: ServiceKind::Redis,
                binding: Binding::Local,
            },
            Service {
                id: "db".into(),
                name: "db".into(),
                kind: ServiceKind::Postgresql,
                binding: Binding::Bound {
                    url_parameter: "DB_URL".into()
                },
            },
            Service {
                id: "queue".into(),
                name: "queue".into(),
                kind: ServiceKind::Rabbitmq,
                binding: Binding::Local,
            },
        ]
    );
    let web = &plan.artifacts[0];
    assert_eq!(web.instances.of("web"), 3);
    assert_eq!(web.instances.of("worker"), 3);
    let ids: Vec<&str> = plan
        .services_of(web)
        .iter()
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(ids, ["cache", "db"]);
    let worker = &plan.artifacts[1];
    assert_eq!(worker.instances.of("worker"), 2);
    assert_eq!(worker.instances.of("web"), 1);
    let ids: Vec<&str> = plan
        .services_of(worker)
        .iter()
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(ids, ["queue", "cache"]);
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
}

#[test]
fn bad_services_name_the_field_and_line() {
    let plan = |services: &str, requirements: &str| {
        format!(
            "version: 1\nname: app\nservices:\n{services}artifacts:\n- name: web\n  content: {{href: /srv/app}}\n  requirements:\n{requirements}"
        )
    };
    let redis = "- {name: cache, id: cache, characteristics: [redis]}\n";
    let needs = |id: &str| format!("  - {{requirement_type: cache, fulfillment: \"id:{id}\"}}\n");
    for (text, want) in [
        (
            plan(redis, &needs("nope")),
            "artifacts[0].requirements[0].fulfillment: no service has the id \"nope\" (the plan's services: cache) at line 9",
        ),
        (
            plan(
                "- {name: cache, characteristics: [{characteristic_type: memcached}]}\n",
                &needs("cache"),
            ),
            "services[0].characteristics[0].characteristic_type: unknown service kind \"memcached\": solum-agent runs postgresql, mysql, rabbitmq, redis at line 4",
        ),
        (
            plan(
                "- {name: ../../etc, characteristics: [redis]}\n",
                &needs("cache"),
            ),
            "services[0].name: invalid name \"../../etc\"",
        ),
        (
            plan(
                "- {name: cache, id: a/b, characteristics: [redis]}\n",
                &needs("cache"),
            ),
            "services[0].id: invalid name \"a/b\"",
        ),
        (
            plan(&format!("{redis}{redis}"), &needs("cache")),
            "services[1].id: duplicate service id \"cache\" at line 5",
        ),
        (
            plan("- {name: cache, characteristics: []}\n", &needs("cache")),
            "services[0].characteristics: missing: name the service's kind",
        ),
        (
            plan(
                "- {name: cache, characteristics: [redis, mysql]}\n",
                &needs("cache"),
            ),
            "a service has one characteristic",
        ),
        (
            plan(
                "- {name: db, characteristics: [{characteristic_type: mysql, url_parameter: 1x}]}\n",
                &needs("db"),
            ),
            "url_parameter: \"1x\" is not a parameter name",
        ),
        (
            plan(redis, "  - {requirement_type: cache, fulfillment: cache}\n"),
            "fulfillment: \"cache\" is not a reference",
        ),
        (
            plan(redis, "  - {fulfillment: \"id:cache\"}\n"),
            "requirements[0].requirement_type: missing",
        ),
        (
            plan(redis, "  - {requirement_type: cache}\n"),
            "requirements[0].fulfillment: missing",
        ),
        (
            plan(
                redis,
                "  - {requirement_type: q, fulfillment: {name: cache, characteristics: [rabbitmq]}}\n",
            ),
            "another service already has the id \"cache\"",
        ),
    ] {
        check(&text, Err(want));
    }
    let mut many = String::new();
    for i in 0..=MAX_SERVICES {
        many.push_str(&format!("- {{name: s{i}, characteristics: [redis]}}\n"));
    }
    check(
        &plan(&many, &needs("s0")),
        Err("a plan may declare at most 32"),
    );
}

#[test]
fn instances_have_limits() {
    for (written, want) in [
        ("0", "instances 0: must be 1 to 64"),
        ("10000", "instances 10000: must be 1 to 64"),
        ("-1", "instances -1: must be 1 to 64"),
        ("{web: 0}", "instances 0: must be 1 to 64"),
        ("{web: 2, web: 3}", "web"),
        ("{../x: 2}", "invalid name"),
        ("many", "a number of instances"),
    ] {
        check(&minimal(&format!("  instances: {written}\n")), Err(want));
    }
    let p = parse(Path::new(FILE), &minimal("  instances: 64\n")).expect("64 is the limit");
    assert_eq!(p.artifacts[0].instances.of("web"), 64);
}

#[test]
fn an_unrequired_service_is_a_warning() {
    let text = "version: 1\nname: app\nservices: [{name: cache, characteristics: [redis]}]\nartifacts:\n- name: web\n  content: {href: /srv/app}\n";
    let p = parse(Path::new(FILE), text).expect("plan");
    assert_eq!(
        p.warnings,
        [format!(
            "{FILE}: services[0]: no artifact requires the service \"cache\": it is not started at line 3"
        )]
    );
}
