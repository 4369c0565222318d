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
        let mut text = Vec::new();
        clap_complete::generate(shell, &mut visible.clone(), &bin, &mut text);
        fs::write(&path, text)?;
        written.push(rel);
    }
    written.sort();
    Ok(written)
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
}
