//! Man pages (`clap_mangen`) and shell completions (`clap_complete`) made from a binary's clap
//! definition by its build script.
//!
//! They are written under `$OUT_DIR/share` in the layout of an install prefix
//! (`man/man1/NAME.1` and `NAME-SUB.1` for each visible subcommand, as git's and cargo's
//! pages are; `bash-completion/completions/NAME`, `zsh/site-functions/_NAME`,
//! `fish/vendor_completions.d/NAME.fish`) and copied to `share/` beside the binary
//! (`target/release/share`), where `scripts/setup.sh` and the `solum-agent` element find them.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use clap_complete::Shell;

/// Where each shell's completion file goes under `share/`, and its name for binary `bin`.
pub fn completion_path(shell: Shell, bin: &str) -> PathBuf {
    match shell {
        Shell::Bash => Path::new("bash-completion/completions").join(bin),
        Shell::Zsh => Path::new("zsh/site-functions").join(format!("_{bin}")),
        Shell::Fish => Path::new("fish/vendor_completions.d").join(format!("{bin}.fish")),
        other => Path::new("completions").join(format!("{bin}.{other}")),
    }
}

/// Writes the man pages and the bash, zsh and fish completions of `cmd` under `share`.
/// Returns the files written, relative to `share`.
pub fn write_all(cmd: clap::Command, share: &Path) -> io::Result<Vec<PathBuf>> {
    let bin = cmd.get_name().to_string();
    let man = share.join("man/man1");
    fs::create_dir_all(&man)?;
    // Pages of earlier builds whose subcommand is gone must not linger.
    for entry in fs::read_dir(&man)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name == format!("{bin}.1") || name.starts_with(&format!("{bin}-")) {
            fs::remove_file(&path)?;
        }
    }
    clap_mangen::generate_to(cmd.clone(), &man)?;
    let mut written: Vec<PathBuf> = fs::read_dir(&man)?
        .map(|e| e.map(|e| Path::new("man/man1").join(e.file_name())))
        .collect::<io::Result<_>>()?;
    let visible = without_hidden(cmd);
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let rel = completion_path(shell, &bin);
        let path = share.join(&rel);
        fs::create_dir_all(path.parent().expect("completion paths have a directory"))?;
        let text = match shell {
            Shell::Bash => bash_completion(&visible, &bin),
            _ => {
                let mut text = Vec::new();
                clap_complete::generate(shell, &mut visible.clone(), &bin, &mut text);
                text
            }
        };
        fs::write(&path, text)?;
        written.push(rel);
    }
    written.sort();
    Ok(written)
}

/// The bash completion of `cmd`. clap_complete 4.6 names the case labels of a subcommand's
/// options after the binary with `-` turned into its command separator, but dispatches to
/// names with `-` turned into `__`: for `solum-agent logs` nothing but subcommands would ever
/// complete. So the script is made for the name with `_` for `-` (consistent throughout) and
/// registered for the real name; bash passes the typed name to the function, so nothing else
/// depends on it.
fn bash_completion(cmd: &clap::Command, bin: &str) -> Vec<u8> {
    let safe = bin.replace('-', "_");
    let mut text = Vec::new();
    clap_complete::generate(Shell::Bash, &mut cmd.clone(), &safe, &mut text);
    let text = String::from_utf8_lossy(&text);
    let mut out = String::new();
    for line in text.lines() {
        match line.strip_suffix(&format!(" {safe}")) {
            Some(head) if line.trim_start().starts_with("complete ") => {
                out.push_str(head);
                out.push(' ');
                out.push_str(bin);
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out.into_bytes()
}

/// A copy of `cmd` without its hidden subcommands: clap_complete would offer them (the man
/// pages leave them out by themselves). Built first, so each subcommand carries the global
/// options and the help flags it has.
pub fn without_hidden(mut cmd: clap::Command) -> clap::Command {
    cmd.build();
    copy_visible(&cmd)
}

fn copy_visible(cmd: &clap::Command) -> clap::Command {
    let mut out = clap::Command::new(cmd.get_name().to_string())
        .disable_help_flag(true)
        .disable_version_flag(true)
        .disable_help_subcommand(true)
        .args(cmd.get_arguments().cloned());
    if let Some(about) = cmd.get_about() {
        out = out.about(about.clone());
    }
    if let Some(version) = cmd.get_version() {
        out = out.version(version.to_string());
    }
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        out = out.subcommand(copy_visible(sub));
    }
    out
}

/// The build script's whole job: `write_all` into `$OUT_DIR/share`, then a copy into
/// `share/` of the profile directory (`target/<profile>/share`, three levels above
/// `OUT_DIR`), so that installers find the files next to the binary. Build scripts should
/// not write outside `OUT_DIR`; this copy is the one exception, made because cargo has no
/// way to install man pages or completions (rust-lang/cargo#2729).
pub fn build_script(cmd: clap::Command) -> io::Result<()> {
    let out = PathBuf::from(
        std::env::var_os("OUT_DIR")
            .ok_or_else(|| io::Error::other("OUT_DIR is not set: run from a build script"))?,
    );
    let share = out.join("share");
    let written = write_all(cmd, &share)?;
    if let Some(profile) = profile_dir(&out) {
        for rel in &written {
            let dest = profile.join("share").join(rel);
            fs::create_dir_all(dest.parent().expect("has a parent"))?;
            // Written beside and renamed: a reader never sees half a file.
            let tmp = dest.with_extension(format!("part-{}", std::process::id()));
            fs::copy(share.join(rel), &tmp)?;
            fs::rename(&tmp, &dest)?;
        }
    }
    Ok(())
}

/// `target/<profile>` from `target/<profile>/build/<pkg>-<hash>/out`, if it has that shape.
pub fn profile_dir(out_dir: &Path) -> Option<PathBuf> {
    let build = out_dir.parent()?.parent()?;
    (build.file_name()? == "build").then(|| build.parent().map(Path::to_path_buf))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_dir_is_three_levels_above_out_dir() {
        assert_eq!(
            profile_dir(Path::new("/w/target/release/build/solum-agent-0123/out")),
            Some(PathBuf::from("/w/target/release"))
        );
        assert_eq!(profile_dir(Path::new("/tmp/out")), None);
        assert_eq!(profile_dir(Path::new("out")), None);
    }

    #[test]
    fn pages_for_each_visible_subcommand_and_three_shells() {
        let cmd = clap::Command::new("tool")
            .about("A tool")
            .subcommand(clap::Command::new("go").about("Go"))
            .subcommand(
                clap::Command::new("nest")
                    .about("Nested")
                    .subcommand(clap::Command::new("deep").about("Deep")),
            )
            .subcommand(clap::Command::new("secret").hide(true));
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let written = write_all(cmd, dir).unwrap();
        let names: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(
            names,
            [
                "bash-completion/completions/tool",
                "fish/vendor_completions.d/tool.fish",
                "man/man1/tool-go.1",
                "man/man1/tool-nest-deep.1",
                "man/man1/tool-nest.1",
                "man/man1/tool.1",
                "zsh/site-functions/_tool",
            ]
        );
        let page = fs::read_to_string(dir.join("man/man1/tool.1")).unwrap();
        assert!(page.contains("tool\\-go(1)"), "{page}");
        assert!(!page.contains("secret"), "{page}");
        for rel in [
            "bash-completion/completions/tool",
            "fish/vendor_completions.d/tool.fish",
        ] {
            let text = fs::read_to_string(dir.join(rel)).unwrap();
            assert!(
                text.contains("deep") && !text.contains("secret"),
                "{rel}: {text}"
            );
        }
    }

    #[test]
    fn bash_dispatch_names_agree_for_a_name_with_a_dash() {
        let go = clap::Command::new("go").arg(
            clap::Arg::new("json")
                .long("json")
                .action(clap::ArgAction::SetTrue),
        );
        let cmd = clap::Command::new("my-tool").subcommand(go);
        let text = String::from_utf8(bash_completion(&without_hidden(cmd), "my-tool")).unwrap();
        assert!(
            text.contains("my_tool,go)\n                cmd=\"my_tool__subcmd__go\""),
            "{text}"
        );
        assert!(text.contains("\n        my_tool__subcmd__go)\n"), "{text}");
        assert!(text.contains("-o default my-tool\n"), "{text}");
    }
}
