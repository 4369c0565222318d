//! The command line as its users meet it, with the real tools: `--help`, the man pages the
//! build script made rendered by `man -l`, the bash completion run by bash, and the log's form
//! when stderr is the journal (`JOURNAL_STREAM`), a file, or a terminal (`script`'s pty) with
//! and without `NO_COLOR`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use solum_tests::cli::{bash_complete, man};
use solum_tests::fixture::Fixture;
use solum_tests::require_program;

const AGENT: &str = env!("CARGO_BIN_EXE_solum-agent");

/// The visible subcommands, each with a man page `solum-agent-NAME.1`.
const PAGES: &[&str] = &[
    "deploy",
    "status",
    "logs",
    "stop",
    "start",
    "destroy",
    "services",
    "services-export",
    "services-import",
    "stack",
    "stack-build",
    "stack-preload",
    "run",
    "init",
    "collect",
];

fn share() -> PathBuf {
    Path::new(env!("OUT_DIR")).join("share")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn agent(args: &[&str]) -> Output {
    Command::new(AGENT).args(args).output().unwrap()
}

#[test]
fn help_hides_supervise_describes_positionals_and_scopes_the_metadata_flags() {
    let top = text(&agent(&["--help"]).stdout);
    assert!(top.contains("deploy") && top.contains("collect"), "{top}");
    assert!(!top.contains("supervise"), "{top}");
    assert!(!top.contains("--config-drive"), "{top}");
    let deploy = text(&agent(&["deploy", "--help"]).stdout);
    assert!(deploy.contains("<PLANFILE>  The Planfile"), "{deploy}");
    assert!(!deploy.contains("--metadata-url"), "{deploy}");
    let logs = text(&agent(&["logs", "-h"]).stdout);
    assert!(
        logs.contains("<APP>  The app") && logs.contains("--json"),
        "{logs}"
    );
    for sub in ["run", "init", "collect"] {
        let h = text(&agent(&[sub, "--help"]).stdout);
        assert!(
            h.contains("--config-drive <PATH>") && h.contains("--metadata-url <URL>"),
            "{sub}: {h}"
        );
    }
    // The old global placement and collect's no-op --print are refused, with clap's line.
    let out = agent(&["--config-drive", "/x", "run"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unexpected argument '--config-drive'"));
    let out = agent(&["collect", "--print"]);
    assert_eq!(out.status.code(), Some(2));
    // The supervisor's command still parses (the agent starts it by that name).
    let out = agent(&["supervise", "--help"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn man_renders_every_page() {
    require_program("man");
    let dir = share().join("man/man1");
    let found = solum_tests::sorted_names(&dir);
    let mut want: Vec<String> = PAGES.iter().map(|p| format!("solum-agent-{p}.1")).collect();
    want.push("solum-agent.1".into());
    want.sort();
    assert_eq!(found, want);
    for page in &found {
        let shown = man(&dir.join(page));
        assert!(
            shown.contains("NAME") && shown.contains("SYNOPSIS"),
            "{page}: {shown}"
        );
    }
    let main = man(&dir.join("solum-agent.1"));
    for p in PAGES.iter().filter(|p| !p.contains('-')) {
        assert!(main.contains(&format!("solum-agent-{p}(1)")), "{p}: {main}");
    }
    assert!(!main.contains("supervise"), "{main}");
    // The build script's copy beside the binary, where setup.sh and the element find it.
    let beside = Path::new(AGENT)
        .parent()
        .unwrap()
        .join("share/man/man1/solum-agent.1");
    assert_eq!(
        std::fs::read(&beside).unwrap(),
        std::fs::read(dir.join("solum-agent.1")).unwrap()
    );
}

#[test]
fn bash_completes_subcommands_and_flags() {
    require_program("bash");
    let script = share().join("bash-completion/completions/solum-agent");
    let mut st = bash_complete(&script, &["solum-agent", "st"]);
    st.sort();
    assert_eq!(st, ["stack", "start", "status", "stop"]);
    assert!(bash_complete(&script, &["solum-agent", "su"]).is_empty());
    let flags = bash_complete(&script, &["solum-agent", "logs", "--"]);
    assert!(flags.iter().any(|f| f == "--json"), "{flags:?}");
    assert!(flags.iter().any(|f| f == "--follow"), "{flags:?}");
    let run = bash_complete(&script, &["solum-agent", "run", "--m"]);
    assert_eq!(run, ["--metadata-url"]);
    for shell_file in [
        "zsh/site-functions/_solum-agent",
        "fish/vendor_completions.d/solum-agent.fish",
    ] {
        let t = std::fs::read_to_string(share().join(shell_file)).unwrap();
        assert!(
            t.contains("collect") && !t.contains("supervise"),
            "{shell_file}"
        );
    }
}

/// A world where `collect` warns: its config drive is not one, so it falls back to the
/// metadata service (the fixture), saying so at warning level.
struct Warns {
    dir: tempfile::TempDir,
    _fx: Fixture,
    url: String,
    cfg: PathBuf,
    drive: PathBuf,
}

impl Warns {
    fn new() -> Warns {
        let fx = Fixture::start();
        fx.with(|w| w.meta_data = Some(serde_json::json!({"uuid": "u-1", "name": "vm"})));
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n).display().to_string();
        let drive = dir.path().join("not-a-drive.img");
        std::fs::write(&drive, vec![0x5a; 64 * 1024]).unwrap();
        let cfg = dir.path().join("config.yaml");
        std::fs::write(
            &cfg,
            format!(
                "state_dir: {}\ncfn_init_path: {}\nlocal_data_dir: {}\nos_collect_config_file: {}\n\
                 hooks_dir: {}\nrefresh_config_dir: {}\nheat_config_file: {}\n",
                p("state"),
                p("cfn-init-data"),
                p("local-data"),
                p("os-collect-config.conf"),
                p("hooks"),
                p("refresh"),
                p("heat-config"),
            ),
        )
        .unwrap();
        Warns {
            dir,
            url: fx.url(""),
            _fx: fx,
            cfg,
            drive,
        }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(AGENT);
        c.arg("--config")
            .arg(&self.cfg)
            .arg("collect")
            .arg("--config-drive")
            .arg(&self.drive)
            .args(["--metadata-url", &self.url])
            .env_remove("NO_COLOR")
            .env_remove("JOURNAL_STREAM")
            .env_remove("RUST_LOG");
        c
    }
}

#[test]
fn the_journal_gets_priorities_and_no_escape_codes() {
    use std::os::unix::fs::MetadataExt;
    let w = Warns::new();
    let log = w.dir.path().join("stderr");
    let file = std::fs::File::create(&log).unwrap();
    let meta = file.metadata().unwrap();
    let out = w
        .command()
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .stderr(file)
        .output()
        .unwrap();
    let err = std::fs::read_to_string(&log).unwrap();
    assert!(out.status.success(), "{err}");
    let warning = err
        .lines()
        .find(|l| l.contains("trying the metadata service"))
        .unwrap_or_else(|| panic!("no warning: {err}"));
    assert!(warning.starts_with("<4>"), "{warning}");
    assert!(!err.contains('\u{1b}'), "{err:?}");
    for line in err.lines() {
        let p = line.get(..3).unwrap_or("");
        assert!(
            ["<3>", "<4>", "<6>", "<7>"].contains(&p),
            "a line without its priority: {line:?}"
        );
        assert!(!line.contains(" WARN "), "a timestamped line: {line:?}");
    }
    // The collected document came from the metadata service after the warning.
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc.is_object(), "{doc}");

    // A JOURNAL_STREAM naming another file (stderr redirected below a service): plain lines.
    let out = w
        .command()
        .env(
            "JOURNAL_STREAM",
            format!("{}:{}", meta.dev(), meta.ino() + 1),
        )
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(err.contains(" WARN ") && !err.contains("<4>"), "{err}");
    assert!(!err.contains('\u{1b}'), "{err:?}");

    // The final error line of a failing command carries the error priority.
    let log = w.dir.path().join("stderr-2");
    let file = std::fs::File::create(&log).unwrap();
    let meta = file.metadata().unwrap();
    let out = Command::new(AGENT)
        .args(["--config", "/nonexistent/config.yaml", "status"])
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .stderr(file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = std::fs::read_to_string(&log).unwrap();
    assert!(err.starts_with("<3>solum-agent: "), "{err}");
}

#[test]
fn colour_on_a_terminal_unless_no_color() {
    require_program("script");
    let w = Warns::new();
    // `script` runs the agent on a pseudo-terminal and copies what it wrote.
    let on_a_tty = |no_color: Option<&str>| {
        let c = w.command();
        let line = format!(
            "{} {}",
            c.get_program().to_string_lossy(),
            c.get_args()
                .map(|a| format!("'{}'", a.to_string_lossy()))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let mut s = Command::new("script");
        s.args(["-q", "-e", "-c", &line, "/dev/null"]);
        for (k, v) in c.get_envs() {
            match v {
                Some(v) => s.env(k, v),
                None => s.env_remove(k),
            };
        }
        if let Some(v) = no_color {
            s.env("NO_COLOR", v);
        }
        let out = s.output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let coloured = on_a_tty(None);
    assert!(
        coloured.contains("trying the metadata service"),
        "{coloured}"
    );
    assert!(coloured.contains("\u{1b}["), "{coloured:?}");
    let plain = on_a_tty(Some("1"));
    assert!(plain.contains("trying the metadata service"), "{plain}");
    assert!(!plain.contains('\u{1b}'), "{plain:?}");
    // An empty NO_COLOR does not count (no-color.org).
    assert!(on_a_tty(Some("")).contains("\u{1b}["));
    // Not a terminal: no colour either.
    let out = w.command().output().unwrap();
    assert!(!text(&out.stderr).contains('\u{1b}'));
}
