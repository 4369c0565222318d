//! Making an image's root tree as a tar file: which packages each image gets (pure), the
//! mmdebstrap / debootstrap command lines (pure), and running them with their output logged.
//! The same steps make the stack images and the services image (`Recipe`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use solum_edge::bootstrap::{self, Bootstrapper, Debian};

use super::StackError;
use crate::progress::LogFn;

/// Lines of a failed command's output quoted in its error.
const TAIL_LINES: usize = 20;

/// The two stack images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Where buildpacks compile: compilers, git, curl.
    Build,
    /// Where apps run: as small as bash + python3 allow.
    Run,
}

impl Flavor {
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Build => "build",
            Flavor::Run => "run",
        }
    }

    /// Packages added to Debian's minbase variant: the build stack's are the
    /// `buildpack-stack` element's `package-installs.yaml`; the run stack's are the few of
    /// those an app needs at run time.
    pub fn packages(self) -> Vec<&'static str> {
        match self {
            Flavor::Build => element_packages(super::ELEMENT_PACKAGES),
            Flavor::Run => RUN_PACKAGES.to_vec(),
        }
    }

    /// What `make_tar` makes for this stack image.
    pub fn recipe(self) -> Recipe {
        Recipe {
            label: match self {
                Flavor::Build => "build stack",
                Flavor::Run => "run stack",
            },
            packages: self.packages(),
        }
    }
}

/// One image's root tree: Debian's minbase variant with `packages`; `label` names it in log
/// lines and errors ("run stack", "services").
#[derive(Debug, Clone)]
pub struct Recipe {
    pub label: &'static str,
    pub packages: Vec<&'static str>,
}

impl Recipe {
    /// A name for file and directory names.
    fn slug(&self) -> String {
        self.label.replace(' ', "-")
    }
}

/// The run stack: a subset of the build stack's packages (a test keeps it one).
const RUN_PACKAGES: &[&str] = &["bash", "python3", "python3-venv", "ca-certificates", "curl"];

/// The package names of a `package-installs.yaml` (pure): its top-level keys, in order.
/// The element's file is plain (`name:` lines, comments); a line of another shape is left
/// out, and a test keeps the element's file free of them.
pub fn element_packages(text: &'static str) -> Vec<&'static str> {
    text.lines()
        .filter(|l| !l.starts_with([' ', '\t', '#']))
        .filter_map(|l| l.trim_end().strip_suffix(':'))
        .filter(|n| !n.is_empty())
        .collect()
}

/// Files the customize step needs on the host: the glue script and the element's files it
/// puts into the tree, given to it after ROOT in this order (`customize.sh ROOT SETUP SLIM
/// PROGRAM...`).
#[derive(Debug, Clone)]
pub struct Customize {
    pub script: PathBuf,
    pub files: Vec<PathBuf>,
}

/// Quotes `s` for a POSIX shell.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `mmdebstrap` arguments writing the tree of `recipe` straight into the tar `out`.
pub fn mmdebstrap_args(
    recipe: &Recipe,
    release: &str,
    mirror: &str,
    custom: &Customize,
    out: &Path,
) -> Vec<OsString> {
    let files: Vec<String> = custom
        .files
        .iter()
        .map(|f| sh_quote(&f.to_string_lossy()))
        .collect();
    let hook = format!(
        "sh {} \"$1\" {}",
        sh_quote(&custom.script.to_string_lossy()),
        files.join(" ")
    );
    let mut args = debian(&recipe.packages).args();
    args.extend::<[OsString; 2]>(["--mode=root".into(), "--format=tar".into()]);
    args.extend::<Vec<OsString>>(vec![
        "--dpkgopt=path-exclude=/usr/share/man/*".into(),
        "--dpkgopt=path-exclude=/usr/share/info/*".into(),
        "--dpkgopt=path-exclude=/usr/share/doc/*".into(),
        "--dpkgopt=path-include=/usr/share/doc/*/copyright".into(),
        "--aptopt=APT::Install-Recommends \"false\"".into(),
        // The builder's directories live in /tmp, which mmdebstrap empties by default.
        "--skip=cleanup/tmp".into(),
        format!("--customize-hook={hook}").into(),
    ]);
    args.push(release.into());
    args.push(out.into());
    args.push(mirror.into());
    args
}

/// Debian's minbase variant with `packages`, for either bootstrapper.
fn debian<'a>(packages: &'a [&'a str]) -> Debian<'a> {
    Debian {
        variant: "minbase",
        arch: None,
        include: packages,
    }
}

/// `debootstrap` arguments (the fallback) bootstrapping `recipe` into the directory `root`.
pub fn debootstrap_args(
    recipe: &Recipe,
    release: &str,
    mirror: &str,
    root: &Path,
) -> Vec<OsString> {
    debian(&recipe.packages).debootstrap_args(None, release, root, mirror)
}

/// Makes `out` (a tar of the root tree) with mmdebstrap, or debootstrap + tar without it.
pub async fn make_tar(
    recipe: &Recipe,
    release: &str,
    mirror: &str,
    custom: &Customize,
    scratch: &Path,
    out: &Path,
    log: &LogFn,
) -> Result<(), StackError> {
    let found = Bootstrapper::find();
    if found == Some(Bootstrapper::Mmdebstrap) {
        log(&format!("-----> mmdebstrap {release} ({})", recipe.label));
        return run_logged(
            "mmdebstrap",
            &mmdebstrap_args(recipe, release, mirror, custom, out),
            scratch,
            log,
        )
        .await;
    }
    if found.is_none() {
        return Err(StackError::NoBootstrapper {
            image: format!("the {} image", recipe.label),
        });
    }
    let root = scratch.join(format!("{}-root", recipe.slug()));
    log(&format!(
        "-----> debootstrap {release} ({}; mmdebstrap not found)",
        recipe.label
    ));
    run_logged(
        "debootstrap",
        &debootstrap_args(recipe, release, mirror, &root),
        scratch,
        log,
    )
    .await?;
    let mut customize: Vec<OsString> = vec![custom.script.clone().into(), root.clone().into()];
    customize.extend(custom.files.iter().map(|f| f.as_os_str().to_owned()));
    run_logged("sh", &customize, scratch, log).await?;
    let tar: Vec<OsString> = vec![
        "--numeric-owner".into(),
        "--xattrs".into(),
        "-C".into(),
        root.clone().into(),
        "-cf".into(),
        out.into(),
        ".".into(),
    ];
    run_logged("tar", &tar, scratch, log).await
}

/// Runs `program` with its stdout and stderr logged line by line; a failure carries the last
/// lines of its output. It runs as `solum_edge::bootstrap` runs bootstrappers: in its own
/// process group and private mount namespace, with `TMPDIR` set to `tmp` (the caller's
/// scratch directory, removed with it), stopped gracefully on a signal, SIGKILLed if dropped:
/// no process, mount or directory is left behind.
pub async fn run_logged(
    program: &str,
    args: &[OsString],
    tmp: &Path,
    log: &LogFn,
) -> Result<(), StackError> {
    let line = |l: &str| log(&format!("       {l}"));
    let c = bootstrap::command(program, args, Some(tmp));
    Ok(bootstrap::run(c, &line, TAIL_LINES).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom() -> Customize {
        Customize {
            script: "/tmp/s d/customize.sh".into(),
            files: vec![
                "/tmp/it's/solum-start".into(),
                "/tmp/u".into(),
                "/tmp/s".into(),
            ],
        }
    }

    #[test]
    fn build_stack_has_the_promised_tools() {
        let p = Flavor::Build.packages();
        for tool in [
            "git",
            "curl",
            "build-essential",
            "python3",
            "tar",
            "gzip",
            "ca-certificates",
        ] {
            assert!(p.contains(&tool), "{tool}");
        }
        assert!(!Flavor::Run.packages().contains(&"build-essential"));
        for p in Flavor::Run.packages() {
            assert!(
                Flavor::Build.packages().contains(&p),
                "{p}: the run stack is a subset"
            );
        }
        // Every line of the element's file is a package, a comment or blank: none is lost.
        let lines = super::super::ELEMENT_PACKAGES
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .count();
        assert_eq!(lines, p.len());
        assert_eq!(
            element_packages("a:\n# c\n  nested: x\nb-1.0:\n\n"),
            ["a", "b-1.0"]
        );
    }

    #[test]
    fn mmdebstrap_args_keep_tmp_and_quote_the_hook() {
        let args = mmdebstrap_args(
            &Flavor::Run.recipe(),
            "bookworm",
            "http://m/debian",
            &custom(),
            Path::new("/o/run.tar"),
        );
        let args: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(args.contains(&"--skip=cleanup/tmp".to_string()));
        assert!(
            args.contains(&"--include=bash,python3,python3-venv,ca-certificates,curl".to_string())
        );
        let hook = args
            .iter()
            .find(|a| a.starts_with("--customize-hook="))
            .unwrap();
        assert_eq!(
            hook,
            r#"--customize-hook=sh '/tmp/s d/customize.sh' "$1" '/tmp/it'\''s/solum-start' '/tmp/u' '/tmp/s'"#
        );
        assert_eq!(
            &args[args.len() - 3..],
            ["bookworm", "/o/run.tar", "http://m/debian"]
        );
    }

    #[test]
    fn debootstrap_args_end_with_release_root_mirror() {
        let args = debootstrap_args(
            &Flavor::Build.recipe(),
            "bookworm",
            "http://m",
            Path::new("/r"),
        );
        let args: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(args[0], "--variant=minbase");
        assert_eq!(&args[2..], ["bookworm", "/r", "http://m"]);
    }
}
