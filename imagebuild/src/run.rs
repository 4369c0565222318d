//! Running the phases of a plan: each phase's scripts in order, outside or
//! in the chroot, with DIB's variables and the environment.d fragments,
//! package installs around the in-chroot phases, and a timing profile.

use crate::cmd::{self, CmdError};
use crate::dibenv::{self, View, IN_TARGET, OWN_DIR};
use crate::hooks;
use crate::mounts::{Chroot, MountError};
use crate::namespace;
use crate::phase::{Phase, Place};
use crate::plan::{PackageStep, PkgAction, Plan, When};
use crate::progress;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Lines of output kept for a failing script's error.
const TAIL_LINES: usize = 20;

/// A phase could not complete.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{phase} script '{script}' (element '{element}') failed with {status}; last lines of its output:\n{tail}")]
    ScriptFailed {
        phase: Phase,
        script: String,
        element: String,
        status: String,
        code: Option<i32>,
        tail: String,
    },
    #[error("{phase}: {what} failed: {source}")]
    Step {
        phase: Phase,
        what: String,
        source: CmdError,
    },
    #[error(transparent)]
    Mount(#[from] MountError),
    #[error("interrupted")]
    Interrupted,
}

/// Everything the runner needs besides the plan.
#[derive(Debug, Clone)]
pub struct RunContext<'a> {
    pub plan: &'a Plan,
    /// The tree ($TARGET_ROOT).
    pub root: &'a Path,
    /// The merged hooks ($TMP_HOOKS_PATH outside).
    pub hooks: &'a Path,
    /// $TMP_BUILD_DIR.
    pub build_dir: &'a Path,
    /// $TMP_IMAGE_DIR.
    pub image_dir: &'a Path,
    pub cache_dir: &'a Path,
    /// The apt archive directory bound into the chroot, if any.
    pub apt_archives: Option<&'a Path>,
    pub elements_path: &'a [PathBuf],
    pub offline: bool,
    pub trace: bool,
    /// The caller's environment (scripts get what `dibenv::passes`).
    pub caller_env: &'a BTreeMap<String, String>,
}

/// One timed step.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    pub phase: Phase,
    pub name: String,
    pub seconds: f64,
}

/// Per-script timings, printed at the end like DIB's profile.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profile {
    pub steps: Vec<Timing>,
}

impl Profile {
    pub fn render(&self) -> String {
        let mut s = String::from("solum-image: profile (seconds)\n");
        let mut phase: Option<Phase> = None;
        let mut total = 0.0;
        for t in &self.steps {
            if phase != Some(t.phase) {
                let _ = writeln!(s, "  {}", t.phase);
                phase = Some(t.phase);
            }
            let _ = writeln!(s, "    {:<40} {:>9.3}", t.name, t.seconds);
            total += t.seconds;
        }
        let _ = writeln!(s, "  {:<42} {:>9.3}", "total", total);
        s
    }
}

/// The variables every script gets (pure). `inside` selects the chroot view.
pub fn script_env(ctx: &RunContext<'_>, inside: bool) -> BTreeMap<String, String> {
    let rt = dibenv::Runtime {
        cache_dir: ctx.cache_dir,
        elements_path: ctx.elements_path,
        offline: ctx.offline,
        trace: ctx.trace,
    };
    let view = if inside {
        View::Inside
    } else {
        View::Outside {
            root: ctx.root,
            hooks: ctx.hooks,
            build_dir: ctx.build_dir,
            image_dir: ctx.image_dir,
        }
    };
    dibenv::script_env(ctx.plan, ctx.caller_env, &rt, &view)
}

/// What the scripts' output must not show.
fn secrets(ctx: &RunContext<'_>) -> Vec<String> {
    dibenv::secret_values(ctx.caller_env)
}

fn chroot_command(ctx: &RunContext<'_>, args: &[&str]) -> Command {
    let mut c = Command::new("chroot");
    c.arg(ctx.root)
        .args(args)
        .env_clear()
        .envs(script_env(ctx, true));
    c
}

fn run_packages(
    ctx: &RunContext<'_>,
    step: &PackageStep,
    profile: &mut Profile,
) -> Result<(), RunError> {
    if step.packages.is_empty() {
        return Ok(());
    }
    // Through dib-run-script like every hook: DIB runs package installs as
    // phase scripts, so elements' environment.d applies to them too.
    let runner = format!("{IN_TARGET}/{OWN_DIR}/dib-run-script");
    let helper = format!("{IN_TARGET}/{OWN_DIR}/bin/install-packages");
    let mut args: Vec<&str> = vec![&runner, "/bin/bash", &helper];
    if step.action == PkgAction::Uninstall {
        args.push("-e");
    }
    args.extend(step.packages.iter().map(|p| p.package.as_str()));
    let what = match step.action {
        PkgAction::Install => "install-packages",
        PkgAction::Uninstall => "install-packages -e",
    };
    progress::line(&format!(
        "solum-image: {}: {what} {}",
        step.phase,
        args[3..].join(" ")
    ));
    progress::step(&format!("{}: {what}", step.phase));
    let start = Instant::now();
    let c = chroot_command(ctx, &args);
    cmd::run_streamed_hiding(c, "  ", TAIL_LINES, &secrets(ctx)).map_err(|source| {
        if namespace::interrupted() {
            return RunError::Interrupted;
        }
        RunError::Step {
            phase: step.phase,
            what: what.into(),
            source,
        }
    })?;
    profile.steps.push(Timing {
        phase: step.phase,
        name: format!("({what})"),
        seconds: start.elapsed().as_secs_f64(),
    });
    Ok(())
}

fn install_files(ctx: &RunContext<'_>, profile: &mut Profile) -> Result<(), RunError> {
    if ctx.plan.static_files.is_empty()
        && ctx.plan.bin_files.is_empty()
        && ctx.plan.init_scripts.is_empty()
    {
        return Ok(());
    }
    let start = Instant::now();
    let tarball = format!("{IN_TARGET}/{OWN_DIR}/{}", hooks::FILES_TAR);
    let mut c = chroot_command(
        ctx,
        &[
            "tar",
            "-x",
            "-p",
            "--no-overwrite-dir",
            "--keep-directory-symlink",
            "-f",
            &tarball,
            "-C",
            "/",
        ],
    );
    cmd::run(&mut c).map_err(|source| RunError::Step {
        phase: Phase::PreInstall,
        what: "installing static/, bin/ and init-scripts/ files".into(),
        source,
    })?;
    profile.steps.push(Timing {
        phase: Phase::PreInstall,
        name: "(static/, bin/, init-scripts/)".into(),
        seconds: start.elapsed().as_secs_f64(),
    });
    Ok(())
}

fn keep_dns(chroot: &mut Option<Chroot>) -> Result<(), RunError> {
    if let Some(c) = chroot.as_mut() {
        c.keep_dns()?;
    }
    Ok(())
}

/// Run every phase of the plan in order.
pub fn run_phases(ctx: &RunContext<'_>, profile: &mut Profile) -> Result<(), RunError> {
    let mut chroot: Option<Chroot> = None;
    let hidden = secrets(ctx);
    for p in &ctx.plan.phases {
        let steps: Vec<&PackageStep> = ctx
            .plan
            .packages
            .iter()
            .filter(|s| s.phase == p.phase)
            .collect();
        if p.place == Place::Outside {
            chroot = None;
        }
        if p.place == Place::Chroot
            && chroot.is_none()
            && (!p.scripts.is_empty() || !steps.is_empty() || p.phase == Phase::PreInstall)
        {
            chroot = Some(Chroot::enter(ctx.root, ctx.hooks, ctx.apt_archives)?);
        }
        if p.scripts.is_empty() && steps.is_empty() && p.phase != Phase::PreInstall {
            continue;
        }
        progress::line(&format!(
            "solum-image: phase {} ({})",
            p.phase,
            if p.place == Place::Chroot {
                "in chroot"
            } else {
                "outside"
            }
        ));
        if p.phase == Phase::PreInstall {
            install_files(ctx, profile)?;
        }
        for s in steps.iter().filter(|s| s.when == When::Early) {
            keep_dns(&mut chroot)?;
            run_packages(ctx, s, profile)?;
        }
        for s in &p.scripts {
            if namespace::interrupted() {
                return Err(RunError::Interrupted);
            }
            keep_dns(&mut chroot)?;
            progress::line(&format!(
                "solum-image: {} {} [{}]",
                p.phase, s.name, s.element
            ));
            progress::step(&format!("{} {} [{}]", p.phase, s.name, s.element));
            let start = Instant::now();
            let c = match p.place {
                Place::Chroot => {
                    let runner = format!("{IN_TARGET}/{OWN_DIR}/dib-run-script");
                    let script = format!("{IN_TARGET}/{}/{}", p.phase.dir_name(), s.name);
                    chroot_command(ctx, &["/bin/bash", &runner, &script])
                }
                Place::Outside => {
                    let mut c = Command::new("bash");
                    c.arg(ctx.hooks.join(OWN_DIR).join("dib-run-script"))
                        .arg(ctx.hooks.join(p.phase.dir_name()).join(&s.name))
                        .env_clear()
                        .envs(script_env(ctx, false));
                    c
                }
            };
            let result = cmd::run_streamed_hiding(c, "  ", TAIL_LINES, &hidden);
            profile.steps.push(Timing {
                phase: p.phase,
                name: s.name.clone(),
                seconds: start.elapsed().as_secs_f64(),
            });
            match result {
                Ok(()) => {}
                Err(_) if namespace::interrupted() => return Err(RunError::Interrupted),
                Err(CmdError::Failed {
                    status, code, tail, ..
                }) => {
                    return Err(RunError::ScriptFailed {
                        phase: p.phase,
                        script: s.name.clone(),
                        element: s.element.clone(),
                        status,
                        code,
                        tail,
                    })
                }
                Err(source) => {
                    return Err(RunError::Step {
                        phase: p.phase,
                        what: format!("script {}", s.name),
                        source,
                    })
                }
            }
        }
        for s in steps.iter().filter(|s| s.when == When::Late) {
            keep_dns(&mut chroot)?;
            run_packages(ctx, s, profile)?;
        }
        if namespace::interrupted() {
            return Err(RunError::Interrupted);
        }
    }
    drop(chroot);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_env_inside_and_outside() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("debian-minimal")).unwrap();
        std::fs::write(
            t.path().join("debian-minimal/element-provides"),
            "operating-system\n",
        )
        .unwrap();
        let caller: BTreeMap<String, String> = [
            ("DIB_X", "1"),
            ("DIB_DEV_USER_PASSWORD", "hunter2hunter2"),
            ("no_proxy", "example.invalid"),
            ("HOME", "/home/builder"),
            ("PATH", "/usr/bin:/bin"),
            ("TERM", "xterm"),
            ("TMPDIR", "/scratch"),
            ("LD_PRELOAD", "/evil.so"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let opts = crate::collect::PlanOptions {
            image_name: "img".into(),
            outputs: vec!["tar".into()],
            release: "trixie".into(),
            arch: "amd64".into(),
            extra_packages: vec![],
            env: caller.clone(),
            args: "-o img -n debian-minimal".into(),
            builtin_dir: None,
        };
        let plan = crate::planner::make_plan(
            &[t.path().to_path_buf()],
            &["debian-minimal".into()],
            true,
            &opts,
        )
        .unwrap();
        let paths = [t.path().to_path_buf()];
        let ctx = RunContext {
            plan: &plan,
            root: Path::new("/b/mnt"),
            hooks: Path::new("/b/hooks"),
            build_dir: Path::new("/b"),
            image_dir: Path::new("/b/image"),
            cache_dir: Path::new("/c"),
            apt_archives: None,
            elements_path: &paths,
            offline: true,
            trace: true,
            caller_env: &caller,
        };
        let out = script_env(&ctx, false);
        let get = |env: &BTreeMap<String, String>, k: &str| env.get(k).cloned();
        for (k, v) in [
            ("TARGET_ROOT", "/b/mnt"),
            ("TMP_MOUNT_PATH", "/b/mnt"),
            ("TMP_HOOKS_PATH", "/b/hooks"),
            ("TMP_BUILD_DIR", "/b"),
            ("TMP_IMAGE_DIR", "/b/image"),
            ("DIB_RELEASE", "trixie"),
            ("DIB_OFFLINE", "1"),
            ("DIB_DEBUG_TRACE", "1"),
            ("DIB_IMAGE_CACHE", "/c"),
            ("DIB_X", "1"),
            ("DIB_DEFAULT_INSTALLTYPE", "source"),
            ("DIB_ARGS", "-o img -n debian-minimal"),
            ("IMAGE_ELEMENT", "debian-minimal"),
            ("LC_ALL", "C"),
            ("no_proxy", "example.invalid"),
            ("HOME", "/home/builder"),
            ("TMPDIR", "/scratch"),
            ("DIB_DEV_USER_PASSWORD", "hunter2hunter2"),
        ] {
            assert_eq!(get(&out, k).as_deref(), Some(v), "{k}");
        }
        assert_eq!(get(&out, "TERM"), None);
        assert_eq!(get(&out, "LD_PRELOAD"), None);
        assert!(get(&out, "PATH")
            .unwrap()
            .starts_with("/b/hooks/.solum/host-bin:/b/hooks/.solum/bin:/usr/bin:/bin:"));
        let dib_env = get(&out, "DIB_ENV").unwrap();
        assert!(dib_env.contains("declare -x DIB_X=\"1\""), "{dib_env}");
        assert!(
            dib_env.contains("declare -x DIB_DEV_USER_PASSWORD=\"***\""),
            "{dib_env}"
        );
        assert!(get(&out, "IMAGE_ELEMENT_YAML")
            .unwrap()
            .starts_with("debian-minimal: "));
        assert!(out.contains_key("BASH_FUNC_get_image_element_array%%"));

        let inside = script_env(&ctx, true);
        assert_eq!(get(&inside, "TMP_HOOKS_PATH").as_deref(), Some(IN_TARGET));
        assert_eq!(get(&inside, "TARGET_ROOT"), None);
        assert_eq!(get(&inside, "TMPDIR"), None);
        assert_eq!(get(&inside, "HOME").as_deref(), Some("/root"));
        assert_eq!(get(&inside, "DISTRO_NAME").as_deref(), Some("debian"));
        assert_eq!(get(&inside, "DIB_INIT_SYSTEM").as_deref(), Some("systemd"));
        assert_eq!(get(&inside, "no_proxy").as_deref(), Some("example.invalid"));
        assert_eq!(
            get(&inside, "DIB_ROOT_LABEL").as_deref(),
            Some("cloudimg-rootfs")
        );
        assert!(get(&inside, "PATH")
            .unwrap()
            .starts_with("/tmp/in_target.d/.solum/bin:"));
        assert_eq!(secrets(&ctx), vec!["hunter2hunter2".to_string()]);
        // The plan shows no secret and keeps the passed variables apart.
        let text = plan.render_text();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("no_proxy=example.invalid"), "{text}");
        assert!(!text.contains("TERM="), "{text}");
    }

    #[test]
    fn profile_renders_per_phase() {
        let p = Profile {
            steps: vec![
                Timing {
                    phase: Phase::Root,
                    name: "10-a".into(),
                    seconds: 1.5,
                },
                Timing {
                    phase: Phase::Install,
                    name: "20-b".into(),
                    seconds: 0.25,
                },
            ],
        };
        let s = p.render();
        assert!(s.contains("  root.d\n    10-a"), "{s}");
        assert!(s.contains("total"), "{s}");
        assert!(s.contains("1.750"), "{s}");
    }
}
