//! Command-line interface (the contract of DESIGN.md). Only wiring: parse flags, build the
//! pieces, run, print. Errors are printed once, as a chain, with exit code 1.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use solum_agent::build::LogFn;
use solum_agent::config::{self, Config};
use solum_agent::runtime::AppStatus;
use solum_agent::workflow::{Agent, DeployOptions};
use solum_agent::{docker, hostsetup, runtime, stack};

#[derive(Parser)]
#[command(
    name = "solum-agent",
    version,
    about = "From a Solum Planfile to a healthy app in Docker"
)]
struct Cli {
    /// Configuration file (YAML). Default: /etc/solum-agent/config.yaml if it exists.
    #[arg(long, global = true, env = "SOLUM_AGENT_CONFIG")]
    config: Option<PathBuf>,
    /// State directory (overrides the configuration's `state_dir`).
    #[arg(long, global = true, env = "SOLUM_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Address the apps' public ports are bound on (overrides `bind_address`; default all).
    #[arg(long, global = true)]
    bind_address: Option<IpAddr>,
    /// `run`/`collect`: the config drive (a device, an image file or a directory holding
    /// `openstack/latest`); default: the filesystem labelled config-2.
    #[arg(long, global = true)]
    config_drive: Option<PathBuf>,
    /// `run`/`collect`: the Nova metadata service (default http://169.254.169.254).
    #[arg(long, global = true)]
    metadata_url: Option<String>,
    /// More log output (-v info, -vv debug); RUST_LOG works too.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build and run the app(s) of a Planfile on this host; exits 0 once healthy.
    Deploy {
        planfile: PathBuf,
        /// Use this directory or URL as the source instead of the Planfile's.
        #[arg(long)]
        source: Option<String>,
        /// Print the result as JSON on stdout (build output stays on stderr).
        #[arg(long)]
        json: bool,
    },
    /// Show the apps, their releases, health and URLs.
    Status {
        app: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Print an app's logs.
    Logs {
        app: String,
        /// Keep following.
        #[arg(short, long)]
        follow: bool,
    },
    /// Stop an app (its containers; the release and images are kept).
    Stop { app: String },
    /// Start a stopped app again.
    Start { app: String },
    /// Remove an app: containers, images, build cache and state.
    Destroy { app: String },
    /// The buildpack stack images.
    Stack {
        #[command(subcommand)]
        command: StackCommand,
    },
    /// The daemon inside the app VM: Heat and Nova metadata in, deployments applied once,
    /// signals, registration and health beats out.
    Run,
    /// First-boot set-up from Nova's metadata, as cloud-init would do it: the hostname and the
    /// key pair's ssh keys for the login user (`login_user`, default debian).
    Init,
    /// Fetch the metadata once from every source and print the merged document.
    Collect {
        /// Print the merged document (the default and only output).
        #[arg(long)]
        print: bool,
    },
    /// Run the supervisor (proxy, health checks, restarts). Normally started by the agent
    /// itself inside the `solum-supervisor-<id>` container.
    Supervise,
}

#[derive(Subcommand)]
enum StackCommand {
    /// Make solum/stack-build and solum/stack-run locally (there is no registry to pull from).
    Build {
        /// Rebuild even if the images exist.
        #[arg(long)]
        force: bool,
    },
    /// Make the stack images current here, then copy them into the Docker data root of an
    /// image tree (e.g. TREE/var/lib/docker), so that a VM booted from it has them.
    Preload {
        /// The engine data root to fill (created if missing).
        data_root: PathBuf,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The daemon's journal tells an operator what it did; one-shot commands stay quiet.
    let daemon = matches!(cli.command, Command::Run | Command::Init);
    init_tracing(cli.verbose, daemon);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("solum-agent: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run_interruptible(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("solum-agent: {}", chain(&e));
            match solum_edge::interrupt::received() {
                Some(sig) => ExitCode::from(128 + sig as u8),
                None => ExitCode::FAILURE,
            }
        }
    }
}

/// How long a command running a bootstrapper may take to unwind after SIGINT, SIGTERM or
/// SIGHUP (the bootstrapper gets SIGTERM and up to 20 s to clean up) before it is dropped.
const UNWIND_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// `run`, stopped by SIGINT, SIGTERM or SIGHUP. The daemon and a command running a
/// bootstrapper see the signal (`solum_agent::interrupt`), stop and return, within
/// `UNWIND_GRACE`; anything else is dropped at once. Dropping runs every guard (child groups
/// killed, temporary directories removed) before the process exits.
async fn run_interruptible(cli: Cli) -> Result<ExitCode> {
    solum_edge::interrupt::install();
    // The daemon and the supervisor stop by themselves on a signal (flushing what they owe).
    let daemon = matches!(cli.command, Command::Run | Command::Supervise);
    let work = run(cli);
    tokio::pin!(work);
    let signal = tokio::select! {
        r = &mut work => return r,
        signal = solum_edge::interrupt::requested() => signal,
    };
    let grace = if daemon || solum_edge::interrupt::graceful_children() {
        UNWIND_GRACE
    } else {
        std::time::Duration::ZERO
    };
    match tokio::time::timeout(grace, &mut work).await {
        // The daemon returns Ok when asked to stop: that is a clean exit.
        Ok(Ok(code)) => Ok(code),
        Ok(Err(e)) => Err(e.context(format!("stopped by signal {signal}"))),
        Err(_) => Err(anyhow::anyhow!("stopped by signal {signal}")),
    }
}

fn chain(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    parts.join(": ")
}

fn init_tracing(verbose: u8, daemon: bool) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let default = match (verbose, daemon) {
        (0, false) => "warn",
        (0, true) | (1, _) => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Colour only on a terminal (never into the journal or a file), and never with NO_COLOR.
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi)
        .init();
}

fn load_config(cli: &Cli) -> Result<Config> {
    let mut cfg = match &cli.config {
        Some(path) => Config::load(path, true)?,
        None => Config::load(Path::new(config::DEFAULT_CONFIG_PATH), false)?,
    };
    if let Some(dir) = &cli.state_dir {
        cfg.state_dir = dir.clone();
    }
    if let Some(addr) = cli.bind_address {
        cfg.bind_address = addr;
    }
    if let Some(d) = &cli.config_drive {
        cfg.config_drive = Some(d.clone());
    }
    if let Some(u) = &cli.metadata_url {
        cfg.metadata_url = Some(u.clone());
    }
    Ok(cfg)
}

async fn agent(cfg: Config) -> Result<Agent> {
    Ok(Agent::open(cfg).await?)
}

fn stderr_log() -> LogFn {
    Arc::new(|line: &str| eprintln!("{line}"))
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let cfg = load_config(&cli)?;
    match cli.command {
        Command::Deploy {
            planfile,
            source,
            json,
        } => {
            let agent = agent(cfg).await?;
            let opts = DeployOptions {
                source,
                log: stderr_log(),
            };
            let reports = agent.deploy_file(&planfile, &opts).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "apps": reports }))?
                );
            } else {
                for r in &reports {
                    let how = if r.unchanged {
                        "unchanged"
                    } else if r.cached {
                        "deployed (cached build)"
                    } else {
                        "deployed"
                    };
                    println!(
                        "{} {how}: release {} in {:.1} s",
                        r.app,
                        r.release,
                        r.duration_ms as f64 / 1000.0
                    );
                    for url in &r.urls {
                        println!("  {url}");
                    }
                }
            }
        }
        Command::Status { app, json } => {
            let agent = agent(cfg).await?;
            let statuses = agent.runtime.status(app.as_deref()).await?;
            if let Some(app) = &app {
                if statuses.is_empty() {
                    anyhow::bail!("no app named {app}");
                }
            }
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "apps": statuses }))?
                );
            } else {
                print_status(&statuses);
            }
        }
        Command::Logs { app, follow } => {
            let agent = agent(cfg).await?;
            agent
                .runtime
                .logs(&app, follow, &mut tokio::io::stdout())
                .await?;
        }
        Command::Stop { app } => {
            agent(cfg).await?.stop(&app).await?;
            println!("{app} stopped");
        }
        Command::Start { app } => {
            agent(cfg).await?.start(&app).await?;
            println!("{app} started");
        }
        Command::Destroy { app } => {
            agent(cfg).await?.destroy(&app).await?;
            println!("{app} destroyed");
        }
        Command::Stack {
            command: StackCommand::Build { force },
        } => {
            let docker = docker::connect().await?;
            stack::build(&docker, &cfg.stack, force, stderr_log()).await?;
            println!("{}\n{}", cfg.stack.build_image, cfg.stack.run_image);
        }
        Command::Stack {
            command: StackCommand::Preload { data_root },
        } => {
            let docker = docker::connect().await?;
            stack::preload(&docker, &cfg.stack, &data_root, stderr_log()).await?;
        }
        Command::Run => {
            let opts = cfg.run_options();
            solum_agent::daemon::run(cfg, opts)
                .await
                .context("the daemon stopped")?;
        }
        Command::Init => {
            let opts = cfg.run_options();
            let client = solum_agent::daemon::http_client();
            let Some(nova) = solum_agent::daemon::startup::nova(&opts, &client).await else {
                eprintln!("solum-agent init: no Nova metadata (no config drive, no metadata service): nothing to set up");
                return Ok(ExitCode::SUCCESS);
            };
            let setup = hostsetup::Options {
                root: PathBuf::from("/"),
                login_user: Some(cfg.login_user.clone()).filter(|u| !u.is_empty()),
                set_kernel_hostname: true,
            };
            let r = hostsetup::apply(&nova, &setup)?;
            println!(
                "solum-agent init: from {}: hostname {}; {} ssh key(s) for {}",
                nova.origin,
                r.hostname.as_deref().unwrap_or("(not in the metadata)"),
                r.keys,
                r.user.as_deref().unwrap_or("nobody")
            );
        }
        Command::Collect { print: _ } => {
            let doc = solum_agent::daemon::collect_once(&cfg.run_options()).await;
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Command::Supervise => {
            runtime::supervisor::supervise(&cfg.state_dir).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_status(statuses: &[AppStatus]) {
    if statuses.is_empty() {
        println!("no apps");
        return;
    }
    for s in statuses {
        let state = serde_json::to_value(s.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        println!(
            "{}  {}  release {}  restarts {}",
            s.app,
            state,
            s.release.as_deref().unwrap_or("-"),
            s.restarts
        );
        for url in &s.urls {
            println!("  {url}");
        }
        for p in &s.processes {
            println!(
                "  {:<8} {:<10} {:<9} {}",
                p.process, p.docker_state, p.health, p.container
            );
        }
        if let Some(e) = &s.last_error {
            println!("  last error: {e}");
        }
    }
}
