//! `solum-image ignition`: reads the inputs (Butane file and its `local:` files, agent binary,
//! unit, Planfile, keys), hands them to the pure builders and returns Ignition JSON; `--embed`
//! puts a config into a CoreOS disk image (see `embed`).

pub mod appvm;
pub mod embed;

use std::path::{Component, Path, PathBuf};

use appvm::{AgentSource, AppVm};

#[derive(Debug, thiserror::Error)]
pub enum IgnitionCmdError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    ReadText(#[from] solum_limits::ReadError),
    #[error("{path}: {message}")]
    Butane { path: PathBuf, message: String },
    #[error("{0}")]
    AppVm(#[from] appvm::AppVmError),
    #[error("{0}")]
    Usage(String),
}

fn read(path: &Path) -> Result<Vec<u8>, IgnitionCmdError> {
    std::fs::read(path).map_err(|source| IgnitionCmdError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// A text input (Butane, agent configuration, Planfile, unit, keys), at most the shared
/// budget's size.
fn read_text(path: &Path) -> Result<String, IgnitionCmdError> {
    Ok(solum_limits::read_text(
        path,
        solum_limits::Budget::DEFAULT.max_bytes,
    )?)
}

/// Reads `local:` names relative to `dir`, refusing names that leave it (also through symlinks).
fn resolve_local(dir: &Path, name: &str) -> Result<Vec<u8>, String> {
    solum_ignition::butane::check_local_name(name)?;
    let joined = dir.join(name);
    if joined
        .components()
        .any(|c| matches!(c, Component::ParentDir))
    {
        return Err(format!("{name:?} leaves the files directory"));
    }
    let base = dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let real = joined
        .canonicalize()
        .map_err(|e| format!("local file {name:?} ({}): {e}", joined.display()))?;
    if !real.starts_with(&base) {
        return Err(format!(
            "local file {name:?} resolves outside {}",
            base.display()
        ));
    }
    std::fs::read(&real).map_err(|e| format!("local file {name:?}: {e}"))
}

/// `--butane FILE`: the Ignition JSON (pretty) and its warnings as text.
pub fn butane_file(path: &Path) -> Result<(String, Vec<String>), IgnitionCmdError> {
    let yaml = read_text(path)?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let resolver = move |name: &str| resolve_local(&dir, name);
    let (cfg, warnings) = solum_ignition::butane_to_ignition(&yaml, &resolver).map_err(|e| {
        IgnitionCmdError::Butane {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    })?;
    Ok((
        solum_ignition::to_json_pretty(&cfg),
        warnings.iter().map(|w| w.to_string()).collect(),
    ))
}

/// The inputs of an app VM's config, as paths and flags.
#[derive(Debug, Default, Clone)]
pub struct AppVmArgs {
    pub agent: Option<PathBuf>,
    pub agent_url: Option<String>,
    pub agent_sha512: Option<String>,
    /// The image already has the agent (`solum-agent` element).
    pub agent_installed: bool,
    pub unit: PathBuf,
    pub agent_config: Option<PathBuf>,
    pub user: String,
    pub ssh_keys: Vec<String>,
    pub planfile: Option<PathBuf>,
}

/// The default agent configuration of an app VM (every key has a default in the agent).
pub const DEFAULT_AGENT_CONFIG: &str = "# solum-agent configuration, written by Ignition at first boot.\nstate_dir: /var/lib/solum-agent\n";

/// `--ssh-key` takes a key or a path to a `.pub` file (one or more keys, one a line).
fn keys_of(arg: &str) -> Result<Vec<String>, IgnitionCmdError> {
    let trimmed = arg.trim();
    if trimmed.contains(' ') {
        return Ok(vec![trimmed.to_string()]);
    }
    let text = read_text(Path::new(arg))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect())
}

/// `--agent ...`: the app VM's Ignition JSON (pretty).
pub fn app_vm(args: &AppVmArgs) -> Result<String, IgnitionCmdError> {
    let agent =
        match (&args.agent, &args.agent_url, &args.agent_sha512) {
            (None, None, None) if args.agent_installed => AgentSource::Installed,
            (Some(p), None, None) => AgentSource::Embedded(read(p)?),
            (None, Some(url), Some(sum)) => AgentSource::Url {
                url: url.clone(),
                sha512: sum.clone(),
            },
            (None, Some(_), None) => {
                return Err(IgnitionCmdError::Usage(
                    "--agent-url needs --agent-sha512 (Ignition verifies the download)".into(),
                ))
            }
            _ => return Err(IgnitionCmdError::Usage(
                "give one of --agent BINARY, --agent-url URL --agent-sha512 HEX, --agent-installed"
                    .into(),
            )),
        };
    let agent_config = match &args.agent_config {
        Some(p) => {
            let text = read_text(p)?;
            let budget = solum_limits::Budget::DEFAULT;
            solum_limits::yaml::from_str::<serde_norway::Value>(&text, &budget).map_err(|e| {
                IgnitionCmdError::Butane {
                    path: p.clone(),
                    message: format!("not YAML: {e}"),
                }
            })?;
            text
        }
        None => DEFAULT_AGENT_CONFIG.to_string(),
    };
    let mut ssh_keys = Vec::new();
    for k in &args.ssh_keys {
        ssh_keys.extend(keys_of(k)?);
    }
    let planfile = args.planfile.as_deref().map(read_text).transpose()?;
    let vm = AppVm {
        agent,
        unit: read_text(&args.unit)?,
        agent_config,
        user: args.user.clone(),
        ssh_keys,
        planfile,
    };
    let (cfg, _) = appvm::app_vm_config(&vm)?;
    Ok(solum_ignition::to_json_pretty(&cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_names_stay_inside_the_directory() {
        let d = tempfile::tempdir().expect("tmp");
        std::fs::write(d.path().join("a.txt"), b"hi").expect("write");
        std::fs::create_dir(d.path().join("sub")).expect("mkdir");
        std::os::unix::fs::symlink("/etc/hostname", d.path().join("sub/escape")).expect("ln");
        assert_eq!(resolve_local(d.path(), "a.txt").expect("read"), b"hi");
        assert!(resolve_local(d.path(), "../x").is_err());
        assert!(resolve_local(d.path(), "/etc/hostname").is_err());
        let e = resolve_local(d.path(), "sub/escape").unwrap_err();
        assert!(e.contains("outside"), "{e}");
    }
}
