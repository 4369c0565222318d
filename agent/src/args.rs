//! solum-agent's command line: the clap definition and nothing else (clap and std only), read
//! by the binary (`cli.rs`) and by the build script, which makes the man pages and shell
//! completions from it.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueHint};

#[derive(Parser)]
#[command(
    name = "solum-agent",
    version,
    about = "From a Solum Planfile to a healthy app in Docker",
    long_about = "From a Solum Planfile to a healthy app in Docker.\n\n\
        On a Docker host, `deploy` fetches an app's source, builds it (Heroku buildpack, \
        Dockerfile or Solum language pack), runs its unit tests and starts it, switching \
        releases without refusing a connection. Inside an app VM booted by Heat, `run` is the \
        daemon that applies Heat's software deployments and signals Heat.\n\n\
        Logging: warnings go to stderr (-v adds info, -vv debug; RUST_LOG \
        overrides). No colour unless stderr is a terminal and NO_COLOR is unset; under systemd \
        (JOURNAL_STREAM) each line carries its syslog priority for journalctl -p.\n\n\
        Files: /etc/solum-agent/config.yaml (the configuration), /var/lib/solum-agent (the \
        state: apps, releases, deployment records, the signal outbox)."
)]
pub struct Cli {
    /// Configuration file (YAML). Default: /etc/solum-agent/config.yaml if it exists.
    #[arg(long, global = true, env = "SOLUM_AGENT_CONFIG", value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub config: Option<PathBuf>,
    /// State directory (overrides the configuration's `state_dir`).
    #[arg(long, global = true, env = "SOLUM_STATE_DIR", value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub state_dir: Option<PathBuf>,
    /// Address the apps' public ports are bound on (overrides `bind_address`; default all).
    #[arg(long, global = true, value_name = "ADDR")]
    pub bind_address: Option<IpAddr>,
    /// More log output (-v info, -vv debug); RUST_LOG works too.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// Where Nova's metadata comes from (`run`, `init`, `collect`).
#[derive(Args)]
pub struct MetadataArgs {
    /// The config drive: a device, an image file or a directory holding `openstack/latest`.
    /// Default: the filesystem labelled config-2.
    #[arg(long, value_name = "PATH", value_hint = ValueHint::AnyPath)]
    pub config_drive: Option<PathBuf>,
    /// The Nova metadata service. Default: http://169.254.169.254.
    #[arg(long, value_name = "URL", value_hint = ValueHint::Url)]
    pub metadata_url: Option<String>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Build and run the app(s) of a Planfile on this host; exits 0 once healthy.
    Deploy {
        /// The Planfile (Solum's v1 format, or a Solum app file v1).
        #[arg(value_name = "PLANFILE", value_hint = ValueHint::FilePath)]
        planfile: PathBuf,
        /// Use this directory or URL as the source instead of the Planfile's.
        #[arg(long, value_name = "DIR|URL", value_hint = ValueHint::AnyPath)]
        source: Option<String>,
        /// Print the result as JSON on stdout (build output stays on stderr).
        #[arg(long)]
        json: bool,
    },
    /// Show the apps, their releases, health and URLs.
    Status {
        /// Only this app (an error if there is no such app here).
        #[arg(value_name = "APP")]
        app: Option<String>,
        /// Print `{"apps": [...]}` as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Print an app's logs.
    ///
    /// The logs of the current release's containers: each line prefixed by its process type,
    /// or with --json one object per line.
    Logs {
        /// The app.
        #[arg(value_name = "APP")]
        app: String,
        /// Keep following.
        #[arg(short, long)]
        follow: bool,
        /// One JSON object per line: app, process, container, stream, timestamp, message.
        #[arg(long)]
        json: bool,
    },
    /// Stop an app (its containers; the release and images are kept).
    Stop {
        /// The app.
        #[arg(value_name = "APP")]
        app: String,
    },
    /// Start a stopped app again.
    Start {
        /// The app.
        #[arg(value_name = "APP")]
        app: String,
    },
    /// Remove an app: containers, images, build cache and state.
    ///
    /// The containers of its local services that no other app of the plan uses are removed
    /// too; their volumes (the data) and credentials stay unless --purge is given.
    Destroy {
        /// The app.
        #[arg(value_name = "APP")]
        app: String,
        /// Also delete the data of its services: their volumes and credentials.
        #[arg(long)]
        purge: bool,
    },
    /// The plans' services: list them, export or import a database.
    ///
    /// Without a subcommand: every service with its plan and apps, kind, local or bound,
    /// container state, whether it answers, volume and host port (never credentials).
    Services {
        #[command(subcommand)]
        command: Option<ServicesCommand>,
        /// Print `{"services": [...]}` as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// The buildpack stack images and the services image.
    Stack {
        #[command(subcommand)]
        command: StackCommand,
    },
    /// The daemon inside the app VM (run by solum-agent.service).
    ///
    /// Heat and Nova metadata in, deployments applied once, signals, registration and health
    /// beats out.
    Run(MetadataArgs),
    /// First-boot set-up from Nova's metadata: hostname and ssh keys.
    ///
    /// What cloud-init would do: the hostname and the key pair's ssh keys for the login user
    /// (`login_user`, default debian). Run by solum-agent-init.service at every boot.
    Init(MetadataArgs),
    /// Fetch the metadata once from every source and print the merged document as JSON.
    Collect(MetadataArgs),
    /// Run the supervisor (proxy, health checks, restarts). Internal: started by the agent
    /// itself inside the `solum-supervisor-<id>` container.
    #[command(hide = true)]
    Supervise,
}

#[derive(Subcommand)]
pub enum ServicesCommand {
    /// Dump a database service (postgresql: pg_dump's SQL; mysql: mysqldump's) into FILE.
    ///
    /// FILE is written whole or not at all, mode 0600.
    Export {
        /// The app (or plan) using the service.
        #[arg(value_name = "APP")]
        app: String,
        /// The service's id in the Planfile.
        #[arg(value_name = "SERVICE")]
        service: String,
        /// Where the dump goes.
        #[arg(value_name = "FILE", value_hint = ValueHint::FilePath)]
        file: PathBuf,
    },
    /// Load a dump made by `export` (or pg_dump, mysqldump) into a database service.
    Import {
        /// The app (or plan) using the service.
        #[arg(value_name = "APP")]
        app: String,
        /// The service's id in the Planfile.
        #[arg(value_name = "SERVICE")]
        service: String,
        /// The dump to load.
        #[arg(value_name = "FILE", value_hint = ValueHint::FilePath)]
        file: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum StackCommand {
    /// Make solum/stack-build, solum/stack-run and solum/services (PostgreSQL, MariaDB,
    /// RabbitMQ, Redis) locally (there is no registry to pull from).
    Build {
        /// Rebuild even if the images exist.
        #[arg(long)]
        force: bool,
        /// Make only the two stack images, not the services image.
        #[arg(long)]
        no_services: bool,
        /// Print the images as JSON on stdout: `{"build_image": ..., "run_image": ...,
        /// "services_image": ...}` (no `services_image` with --no-services).
        #[arg(long)]
        json: bool,
    },
    /// Make the stack images and the services image current here, then copy them into the
    /// Docker data root of an image tree (e.g. TREE/var/lib/docker), so that a VM booted from
    /// it has them.
    Preload {
        /// The engine data root to fill (created if missing).
        #[arg(value_name = "DATA_ROOT", value_hint = ValueHint::DirPath)]
        data_root: PathBuf,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn metadata_flags_belong_to_the_commands_that_read_metadata() {
        let cmd = Cli::command();
        for sub in cmd.get_subcommands() {
            let has = sub.get_arguments().any(|a| a.get_id() == "config_drive");
            let wants = matches!(sub.get_name(), "run" | "init" | "collect");
            assert_eq!(has, wants, "{}", sub.get_name());
        }
        assert!(Cli::try_parse_from(["solum-agent", "--config-drive", "x", "run"]).is_err());
        let cli = Cli::try_parse_from(["solum-agent", "run", "--config-drive", "/d"]).unwrap();
        assert!(matches!(cli.command, Command::Run(m) if m.config_drive == Some("/d".into())));
    }

    #[test]
    fn supervise_is_hidden_and_positionals_are_described() {
        let cmd = Cli::command();
        let supervise = cmd.find_subcommand("supervise").unwrap();
        assert!(supervise.is_hide_set());
        fn check(cmd: &clap::Command) {
            for a in cmd.get_positionals() {
                assert!(
                    a.get_help().is_some(),
                    "{}: {} has no help",
                    cmd.get_name(),
                    a.get_id()
                );
            }
            for sub in cmd.get_subcommands() {
                check(sub);
            }
        }
        check(&cmd);
    }
}
