//! Command-line interface (the commands README.md documents). Only wiring: parse flags, build the
//! pieces, run, print. Errors are printed once, as a chain, with exit code 1.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;

use solum_agent::build::LogFn;
use solum_agent::config::{self, Config};
use solum_agent::runtime::AppStatus;
use solum_agent::workflow::{Agent, DeployOptions};
use solum_agent::{docker, hostsetup, runtime, stack};

use crate::args::{Cli, Command, ServicesCommand, StackCommand};

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The daemon's journal tells an operator what it did; one-shot commands stay quiet.
    let daemon = matches!(cli.command, Command::Run(_) | Command::Init(_));
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
            solum_cli::log::eprint_error(&format!("solum-agent: {}", chain(&e)));
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
    let daemon = matches!(cli.command, Command::Run(_) | Command::Supervise);
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
    let default = match (verbose, daemon) {
        (0, false) => "warn",
        (0, true) | (1, _) => "info",
        _ => "debug",
    };
    solum_cli::log::init(default, solum_cli::log::Look::Timestamped);
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
    if let Command::Run(m) | Command::Init(m) | Command::Collect(m) = &cli.command {
        if let Some(d) = &m.config_drive {
            cfg.config_drive = Some(d.clone());
        }
        if let Some(u) = &m.metadata_url {
            cfg.metadata_url = Some(u.clone());
        }
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
                planfile: None,
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
        Command::Logs { app, follow, json } => {
            let agent = agent(cfg).await?;
            let form = if json {
                runtime::LogForm::Json
            } else {
                runtime::LogForm::Text
            };
            agent
                .runtime
                .logs(&app, follow, form, &mut tokio::io::stdout())
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
        Command::Destroy { app, purge } => {
            let removed = agent(cfg).await?.destroy_with(&app, purge).await?;
            println!("{app} destroyed");
            for r in &removed {
                println!("  removed {r}");
            }
        }
        Command::Services { command, json } => {
            let agent = agent(cfg).await?;
            let image = stack::services_image(&agent.config.stack);
            let services = agent.services(&image);
            match command {
                None => {
                    let list =
                        solum_agent::services::inventory::list(&agent.docker, &services.store)
                            .await?;
                    if json {
                        println!(
                            "{}",
                            serde_json::to_string_pretty(&serde_json::json!({ "services": list }))?
                        );
                    } else {
                        print_services(&list);
                    }
                }
                Some(ServicesCommand::Export { app, service, file }) => {
                    let bytes = services.export(&app, &service, &file).await?;
                    println!(
                        "exported {service} of {app} to {} ({bytes} bytes)",
                        file.display()
                    );
                }
                Some(ServicesCommand::Import { app, service, file }) => {
                    let bytes = services.import(&app, &service, &file).await?;
                    println!(
                        "imported {} into {service} of {app} ({bytes} bytes)",
                        file.display()
                    );
                }
            }
        }
        Command::Stack {
            command:
                StackCommand::Build {
                    force,
                    no_services,
                    json,
                },
        } => {
            let docker = docker::connect().await?;
            stack::build(&docker, &cfg.stack, force, stderr_log()).await?;
            let services = (!no_services).then(|| stack::services_image(&cfg.stack));
            if services.is_some() {
                stack::ensure_services_image(&docker, &cfg.stack, force, stderr_log()).await?;
            }
            if json {
                let mut doc = serde_json::json!({
                    "build_image": cfg.stack.build_image,
                    "run_image": cfg.stack.run_image,
                });
                if let Some(services) = &services {
                    doc["services_image"] = services.clone().into();
                }
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                println!("{}\n{}", cfg.stack.build_image, cfg.stack.run_image);
                if let Some(services) = &services {
                    println!("{services}");
                }
            }
        }
        Command::Stack {
            command: StackCommand::Preload { data_root },
        } => {
            let docker = docker::connect().await?;
            stack::preload(&docker, &cfg.stack, &data_root, stderr_log()).await?;
        }
        Command::Run(_) => {
            let opts = cfg.run_options();
            solum_agent::daemon::run(cfg, opts)
                .await
                .context("the daemon stopped")?;
        }
        Command::Init(_) => {
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
        Command::Collect(_) => {
            let doc = solum_agent::daemon::collect_once(&cfg.run_options()).await;
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Command::Supervise => {
            runtime::supervisor::supervise(&cfg.state_dir).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_services(list: &[solum_agent::services::inventory::ServiceStatus]) {
    if list.is_empty() {
        println!("no services");
        return;
    }
    println!(
        "{:<16} {:<12} {:<10} {:<6} {:<9} {:<5} {:<6} VOLUME / APPS",
        "PLAN", "SERVICE", "KIND", "WHERE", "STATE", "READY", "PORT"
    );
    for s in list {
        let port = if s.host_port == 0 {
            "-".to_string()
        } else {
            s.host_port.to_string()
        };
        let volume = match &s.url_parameter {
            Some(p) => format!("(url in {p})"),
            None => s.volume.clone(),
        };
        println!(
            "{:<16} {:<12} {:<10} {:<6} {:<9} {:<5} {:<6} {volume} / {}",
            s.plan,
            s.id,
            s.kind,
            s.binding,
            s.state,
            if s.ready { "yes" } else { "no" },
            port,
            if s.apps.is_empty() {
                "-".to_string()
            } else {
                s.apps.join(",")
            }
        );
    }
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
