//! Command-line interface (the contract of DESIGN.md). Only wiring: parse flags, build the
//! pieces, run, print; errors are printed once, as a chain, with exit code 1.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "solum-agent",
    version,
    about = "Planfile to a healthy app in Docker"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the per-host supervisor (proxy, health checks); started by the agent in a container.
    Supervise {
        #[arg(long, default_value = solum_agent::config::DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("solum-agent: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Runtime::new()?;
    match cli.command {
        Command::Supervise { state_dir } => {
            rt.block_on(solum_agent::runtime::supervisor::supervise(&state_dir))?
        }
    }
    Ok(ExitCode::SUCCESS)
}
