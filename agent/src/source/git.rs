//! Fetching a git remote at a revision with the `git` CLI: shallow where the server allows,
//! a full fetch for (short) commit shas otherwise. Never prompts; the repo token travels as an
//! HTTP header through the environment (GIT_CONFIG_*), never on the command line, and every
//! message is redacted.

use std::path::Path;
use std::process::Stdio;

use base64::Engine;
use tokio::process::Command;

use super::Secret;
use super::SourceError;
use solum_edge::redact;

/// Protocols git may use (keeps `ext::` and friends out).
const ALLOWED_PROTOCOLS: &str = "file:git:http:https:ssh";

/// Fetches `url` at `revision` (default: the remote's HEAD) into the empty directory `dest`
/// and checks it out; returns the full commit sha. `.git` stays in `dest`.
pub(super) async fn fetch(
    url: &str,
    revision: Option<&str>,
    token: Option<&Secret>,
    dest: &Path,
) -> Result<String, SourceError> {
    let git = Git::new(url, token, dest);
    // No templates: nothing (hooks) from the host's template directory gets in.
    git.run(&["init", "-q", "--template="], "git init").await?;
    let wanted = revision.unwrap_or("HEAD");
    let shallow = git
        .run_fetch(&[
            "fetch",
            "-q",
            "--no-tags",
            "--depth",
            "1",
            "--",
            url,
            wanted,
        ])
        .await;
    let commit = match (shallow, revision) {
        (Ok(()), _) => "FETCH_HEAD".to_owned(),
        (Err(first), Some(rev)) if looks_like_sha(rev) => {
            // Servers may refuse shallow fetches of (short) shas: fetch everything and look it up.
            let all = [
                "fetch",
                "-q",
                "--",
                url,
                "+refs/heads/*:refs/remotes/origin/*",
                "+refs/tags/*:refs/tags/*",
            ];
            git.run_fetch(&all).await.map_err(|_| first)?;
            let spec = format!("{rev}^{{commit}}");
            git.output(&["rev-parse", "-q", "--verify", &spec], "git rev-parse")
                .await
                .map_err(|_| {
                    SourceError::Git(format!(
                        "git clone of {} failed: revision {rev} not found",
                        git.shown_url()
                    ))
                })?
        }
        (Err(e), _) => return Err(e),
    };
    git.run(
        &[
            "-c",
            "advice.detachedHead=false",
            "checkout",
            "-q",
            "--detach",
            &commit,
        ],
        "git checkout",
    )
    .await?;
    git.output(&["rev-parse", "HEAD"], "git rev-parse").await
}

/// 4 to 40 hex digits: possibly an abbreviated commit sha.
fn looks_like_sha(rev: &str) -> bool {
    (4..=40).contains(&rev.len()) && rev.bytes().all(|b| b.is_ascii_hexdigit())
}

struct Git<'a> {
    url: &'a str,
    dir: &'a Path,
    /// The `http.extraHeader` value, when there is a token.
    header: Option<String>,
    secrets: Vec<String>,
}

impl<'a> Git<'a> {
    fn new(url: &'a str, token: Option<&Secret>, dir: &'a Path) -> Self {
        let header = token.map(|t| {
            let basic = base64::engine::general_purpose::STANDARD
                .encode(format!("x-access-token:{}", t.expose()));
            format!("Authorization: Basic {basic}")
        });
        let mut secrets = Vec::new();
        if let (Some(t), Some(h)) = (token, &header) {
            secrets.push(t.expose().to_owned());
            secrets.push(h.trim_start_matches("Authorization: Basic ").to_owned());
        }
        Git {
            url,
            dir,
            header,
            secrets,
        }
    }

    fn shown_url(&self) -> String {
        self.redact(self.url)
    }

    fn redact(&self, text: &str) -> String {
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        redact::with_secrets(text, &secrets)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("git");
        cmd.arg("-C").arg(self.dir).args(args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd.env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ALLOW_PROTOCOL", ALLOWED_PROTOCOLS)
            .env("LC_ALL", "C")
            .env_remove("GIT_ASKPASS")
            .env_remove("SSH_ASKPASS")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE");
        if std::env::var_os("GIT_SSH_COMMAND").is_none() {
            cmd.env(
                "GIT_SSH_COMMAND",
                "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new",
            );
        }
        match &self.header {
            Some(h) => {
                cmd.env("GIT_CONFIG_COUNT", "1")
                    .env("GIT_CONFIG_KEY_0", "http.extraHeader")
                    .env("GIT_CONFIG_VALUE_0", h);
            }
            None => {
                cmd.env("GIT_CONFIG_COUNT", "0");
            }
        }
        cmd
    }

    async fn output(&self, args: &[&str], what: &str) -> Result<String, SourceError> {
        let out = solum_edge::cmd::output(&mut self.command(args))
            .await
            .map_err(|e| SourceError::Git(format!("cannot run git (is it installed?): {e}")))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(SourceError::Git(format!(
                "{what} failed: {}",
                self.last_line(&out.stderr)
            )))
        }
    }

    async fn run(&self, args: &[&str], what: &str) -> Result<(), SourceError> {
        self.output(args, what).await.map(|_| ())
    }

    /// A fetch from the remote; failures read "git clone of <url> failed: <git's last line>".
    async fn run_fetch(&self, args: &[&str]) -> Result<(), SourceError> {
        self.output(args, "fetch")
            .await
            .map(|_| ())
            .map_err(|e| match e {
                SourceError::Git(msg) => {
                    let detail = msg.trim_start_matches("fetch failed: ");
                    SourceError::Git(format!(
                        "git clone of {} failed: {detail}",
                        self.shown_url()
                    ))
                }
                other => other,
            })
    }

    /// The line of git's stderr that says what went wrong, redacted: the first `fatal:` or
    /// `error:` line (git follows it with generic advice), else the last non-empty line.
    fn last_line(&self, stderr: &[u8]) -> String {
        self.redact(&pick_error_line(&String::from_utf8_lossy(stderr)))
    }
}

fn pick_error_line(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let line = lines
        .iter()
        .find(|l| l.starts_with("fatal:") || l.starts_with("error:"))
        .or(lines.last())
        .copied()
        .unwrap_or("(no message)");
    line.strip_prefix("fatal: ").unwrap_or(line).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_line_that_explains() {
        let stderr = "fatal: '/x.git' does not appear to be a git repository\nfatal: Could not read from remote repository.\n\nPlease make sure you have the correct access rights\nand the repository exists.\n";
        assert_eq!(
            pick_error_line(stderr),
            "'/x.git' does not appear to be a git repository"
        );
        assert_eq!(
            pick_error_line("warning: a\nsomething broke\n"),
            "something broke"
        );
        assert_eq!(pick_error_line(""), "(no message)");
    }

    #[test]
    fn sha_like() {
        assert!(looks_like_sha("abcd"));
        assert!(looks_like_sha(&"a".repeat(40)));
        assert!(!looks_like_sha("abc"));
        assert!(!looks_like_sha("main"));
        assert!(!looks_like_sha(&"a".repeat(41)));
    }

    #[test]
    fn token_is_redacted_in_both_forms() {
        let token = Secret("s3cr3t-token".into());
        let git = Git::new("https://u:pw@h/x.git", Some(&token), Path::new("/tmp"));
        let header = git.header.clone().unwrap();
        let msg = format!("error s3cr3t-token {header} https://u:pw@h/x.git");
        let shown = git.redact(&msg);
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(
            !shown.contains(header.trim_start_matches("Authorization: Basic ")),
            "{shown}"
        );
        assert!(
            shown.contains("https://h/x.git") && !shown.contains("pw"),
            "{shown}"
        );
    }
}
