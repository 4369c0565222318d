// solum-image's command line: the clap definition and nothing else, included by `main.rs`
// and by the build script (which makes the man pages and shell completions from it). Both
// bring `Parser`, `Subcommand` and `PathBuf` into scope; clap and std are all it may use.

#[derive(Parser)]
#[command(
    name = "solum-image",
    version,
    about = "Build images from diskimage-builder-style elements"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build an image from elements (like disk-image-create).
    Build(BuildArgs),
    /// Boot an image in qemu for a quick look (Ctrl-A X quits).
    Boot(BootArgs),
    /// Upload an image to Glance (OS_* variables or OS_CLOUD + clouds.yaml).
    Upload(UploadArgs),
    /// Ignition configs: from Butane, for an app VM, or embedded into a CoreOS disk image.
    Ignition(Box<IgnitionArgs>),
}

#[derive(clap::Args)]
struct UploadArgs {
    /// The image file (qcow2 or raw; the format is read from the file).
    image: PathBuf,
    /// The image's name in Glance (default: the file name without extension).
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    glance: GlanceArgs,
    /// Refuse the upload unless the file really is this format.
    #[arg(long, value_name = "FORMAT")]
    disk_format: Option<String>,
}

/// Options shared by `upload` and `build --upload`.
#[derive(clap::Args)]
struct GlanceArgs {
    /// An image property (repeatable); overrides the builder's defaults.
    #[arg(long = "property", value_name = "K=V", value_parser = parse_property)]
    properties: Vec<(String, String)>,
    /// Image visibility.
    #[arg(long, value_parser = ["public", "private", "shared", "community"])]
    visibility: Option<String>,
    /// Upload even if an image of that name exists, then delete the old one(s).
    #[arg(long)]
    replace: bool,
    /// How to send the bytes: auto (glance-direct import if offered), upload, glance-direct.
    #[arg(long, default_value = "auto", value_parser = ["auto", "upload", "glance-direct"])]
    method: String,
}

/// An ext4 label: at most 16 bytes, printable, no quotes or spaces (it
/// goes into /etc/fstab as LABEL=...).
fn parse_label(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 16 {
        return Err("a label is 1 to 16 bytes (ext4's limit)".into());
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_graphic() && !b"\"'\\=#".contains(&b))
    {
        return Err("a label is printable ASCII without spaces, quotes, '=', '#' or '\\'".into());
    }
    Ok(s.to_string())
}

/// `key=value[,key=value...]`, as `qemu-img convert -o` takes them.
fn parse_qemu_img_options(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.split(',').all(|kv| {
            kv.split_once('=').is_some_and(|(k, v)| {
                !k.is_empty()
                    && !v.is_empty()
                    && k.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
            })
        });
    if ok {
        Ok(s.to_string())
    } else {
        Err("expected key=value[,key=value...], e.g. cluster_size=128k".into())
    }
}

/// `--property K=V`.
fn parse_property(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("--property {s}: expected KEY=VALUE")),
    }
}

#[derive(clap::Args)]
struct IgnitionArgs {
    /// Convert this Butane (variant fcos) file; `local:` files are read next to it.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["agent", "agent_url", "embed"])]
    butane: Option<PathBuf>,
    /// App VM: embed this solum-agent binary.
    #[arg(long, value_name = "BINARY")]
    agent: Option<PathBuf>,
    /// App VM: let Ignition download the agent from this URL instead...
    #[arg(
        long,
        value_name = "URL",
        conflicts_with = "agent",
        requires = "agent_sha512"
    )]
    agent_url: Option<String>,
    /// ...and check it against this sha512 (hex).
    #[arg(long, value_name = "HEX", requires = "agent_url")]
    agent_sha512: Option<String>,
    /// App VM: the image already has the agent (solum-agent element); write only its unit and config.
    #[arg(long, conflicts_with_all = ["agent", "agent_url"])]
    agent_installed: bool,
    /// App VM: the agent's systemd unit (default: the workspace's agent/systemd/solum-agent.service).
    #[arg(long, value_name = "FILE")]
    agent_unit: Option<PathBuf>,
    /// App VM: the agent's config.yaml (default: a minimal one).
    #[arg(long, value_name = "FILE")]
    agent_config: Option<PathBuf>,
    /// App VM: the user that gets the SSH keys.
    #[arg(long, value_name = "NAME", default_value = "solum")]
    user: String,
    /// App VM: an SSH public key, or a file of them (repeatable).
    #[arg(long, value_name = "KEY")]
    ssh_key: Vec<String>,
    /// App VM: a Planfile for the agent to deploy at first start.
    #[arg(long, value_name = "FILE")]
    planfile: Option<PathBuf>,
    /// Put the config (--config) into this CoreOS disk image's `boot` filesystem.
    #[arg(long, value_name = "IMAGE", requires = "config")]
    embed: Option<PathBuf>,
    /// With --embed: the Ignition config to embed.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// With --embed: also write a Heat template snippet passing the config as user_data.
    #[arg(long, value_name = "FILE", requires = "embed")]
    heat_snippet: Option<PathBuf>,
    /// Write the JSON here instead of standard output.
    #[arg(short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(clap::Args)]
struct BootArgs {
    /// The image: NAME.raw or NAME.qcow2 (never modified).
    image: PathBuf,
    /// Attach an OpenStack config drive made from this directory.
    #[arg(long, value_name = "DIR")]
    config_drive: Option<PathBuf>,
    /// Pass this Ignition config through qemu fw_cfg.
    #[arg(long, value_name = "FILE")]
    ignition: Option<PathBuf>,
    /// Boot with OVMF (UEFI) instead of SeaBIOS.
    #[arg(long)]
    uefi: bool,
    /// Guest memory in MiB.
    #[arg(long, default_value_t = 1024)]
    memory: u32,
    /// Forward 127.0.0.1:PORT to the guest's ssh.
    #[arg(long, value_name = "PORT")]
    ssh_port: Option<u16>,
}

#[derive(clap::Args)]
struct BuildArgs {
    /// Output name: files are NAME.tar, NAME.qcow2, ... (IMAGE_NAME is its last component).
    #[arg(short = 'o', value_name = "NAME")]
    output: PathBuf,
    /// Output types, comma-separated: qcow2, raw, tar, docker, vagrant.
    #[arg(
        short = 't',
        value_name = "TYPES",
        default_value = "qcow2",
        value_delimiter = ',',
        value_parser = clap::builder::PossibleValuesParser::new(KNOWN_TYPES)
    )]
    types: Vec<String>,
    /// Trace scripts (DIB_DEBUG_TRACE=1).
    #[arg(short = 'x')]
    trace: bool,
    /// Extra packages to install (comma-separated), in install.d.
    #[arg(short = 'p', value_name = "PKGS", value_delimiter = ',')]
    packages: Vec<String>,
    /// Do not add the implied `base` element.
    #[arg(short = 'n')]
    no_base: bool,
    /// Disk size in GB (disk outputs).
    #[arg(long, value_name = "G")]
    image_size: Option<f64>,
    /// Print the plan and stop.
    #[arg(long)]
    dry_run: bool,
    /// Print the result as one JSON document on stdout (with --dry-run: the plan).
    #[arg(long)]
    json: bool,
    /// Build from the cache alone; fail if something is not cached.
    #[arg(long)]
    offline: bool,
    /// Tag for `-t docker` (default NAME:latest).
    #[arg(long, visible_alias = "docker-target", value_name = "TAG")]
    docker_tag: Option<String>,
    /// Base URL the vagrant boxes will be served from: the catalog (NAME.json) then names
    /// BASE/NAME-VERSION.box instead of a file:// URL.
    #[arg(long, value_name = "URL")]
    box_base_url: Option<String>,
    /// Also write NAME.EXT.md5 beside each file output (a .sha256 is always written).
    #[arg(long)]
    checksum: bool,
    /// The image cache (DIB_IMAGE_CACHE; default ~/.cache/image-create).
    #[arg(long, value_name = "DIR")]
    image_cache: Option<PathBuf>,
    /// Do not compress the qcow2.
    #[arg(short = 'u')]
    uncompressed: bool,
    /// The root file system's label (DIB_ROOT_LABEL; default cloudimg-rootfs).
    #[arg(long, value_name = "LABEL", value_parser = parse_label)]
    root_label: Option<String>,
    /// Options for the root file system's mkfs.ext4, as one string.
    #[arg(long, value_name = "OPTS", allow_hyphen_values = true)]
    mkfs_options: Option<String>,
    /// Options for `qemu-img convert -o` (comma-separated key=value).
    #[arg(long, value_name = "OPTS", value_parser = parse_qemu_img_options)]
    qemu_img_options: Option<String>,
    /// Upload the qcow2 (or raw) output to Glance after the build, named after -o.
    #[arg(long)]
    upload: bool,
    #[command(flatten)]
    glance: GlanceArgs,
    /// Elements to build.
    #[arg(required = true, value_name = "ELEMENT")]
    elements: Vec<String>,
}

const KNOWN_TYPES: &[&str] = &["qcow2", "raw", "tar", "docker", "vagrant"];
