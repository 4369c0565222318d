//! solum-image: the command line. Parses flags, makes the plan, hands it to
//! the builder; nothing else lives here.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use solum_image::build::{self, BuildOptions};
use solum_image::collect::PlanOptions;
use solum_image::{boot, dibenv, disk, element, ignored, namespace, planner, progress, upload};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

// The command line's clap definition, shared with the build script (man pages, completions).
include!("args.rs");

/// The project's own elements directory.
fn project_elements() -> PathBuf {
    if let Some(dir) = std::env::var_os("SOLUM_IMAGE_ELEMENTS_DIR") {
        return PathBuf::from(dir);
    }
    let built_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("../elements");
    if built_in.is_dir() {
        return built_in.canonicalize().unwrap_or(built_in);
    }
    PathBuf::from("/usr/share/solum-image/elements")
}

fn run_build(args: BuildArgs) -> Result<ExitCode> {
    let started = std::time::Instant::now();
    let upload_type = match (args.upload, args.dry_run) {
        (true, false) => Some(
            ["qcow2", "raw"]
                .into_iter()
                .find(|t| args.types.iter().any(|a| a == t))
                .context("--upload needs -t qcow2 or -t raw")?,
        ),
        _ => None,
    };
    for t in &args.types {
        if !KNOWN_TYPES.contains(&t.as_str()) {
            bail!(
                "-t: unknown output type '{t}' (known: {})",
                KNOWN_TYPES.join(", ")
            );
        }
    }
    let image_name = args
        .output
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty())
        .with_context(|| format!("-o {}: needs a file name", args.output.display()))?
        .to_string();
    // Outputs are written beside their final names (`*.part-PID`): a missing directory would
    // otherwise fail only after the whole tree is built, in the middle of writing.
    let out_dir = match args.output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    if !args.dry_run && !out_dir.is_dir() {
        bail!(
            "-o {}: the directory {} does not exist (make it first)",
            args.output.display(),
            out_dir.display()
        );
    }
    let (mut env, warnings) = dibenv::caller_env(std::env::vars_os());
    for w in warnings {
        eprintln!("solum-image: warning: {w}");
    }
    // disk-image-create's flags that set its variables.
    if let Some(dir) = &args.image_cache {
        env.insert("DIB_IMAGE_CACHE".into(), dir.display().to_string());
    }
    if let Some(label) = &args.root_label {
        env.insert("DIB_ROOT_LABEL".into(), label.clone());
    }
    let project = project_elements();
    let release = env
        .get("DIB_RELEASE")
        .cloned()
        .unwrap_or_else(|| "bookworm".to_string());
    let search = element::search_path(env.get("ELEMENTS_PATH").map(String::as_str), &project);
    // DIB_ARGS: disk-image-create's arguments, those that shape the tree
    // (output types, tracing and cache options do not key it).
    let mut dib_args = vec!["-o".to_string(), image_name.clone()];
    if args.no_base {
        dib_args.push("-n".into());
    }
    if !args.packages.is_empty() {
        dib_args.push("-p".into());
        dib_args.push(args.packages.join(","));
    }
    dib_args.extend(args.elements.iter().cloned());
    let opts = PlanOptions {
        image_name,
        outputs: args.types.clone(),
        release,
        arch: "amd64".into(),
        extra_packages: args.packages.clone(),
        env,
        args: dib_args.join(" "),
        builtin_dir: Some(project.clone()),
    };
    let mut plan = planner::make_plan(&search, &args.elements, args.no_base, &opts)?;
    let mut opts_env = opts.env.clone();
    if plan.elements.iter().any(|e| e.name == "solum-agent") {
        // The agent's files come from this workspace unless told otherwise.
        let workspace = project.parent().unwrap_or(Path::new("/"));
        let mut opts = opts;
        for (var, rel) in [
            ("SOLUM_AGENT_BINARY", "target/release/solum-agent"),
            ("SOLUM_AGENT_UNIT_FILE", "agent/systemd/solum-agent.service"),
            (
                "SOLUM_AGENT_INIT_UNIT_FILE",
                "agent/systemd/solum-agent-init.service",
            ),
        ] {
            opts.env
                .entry(var.to_string())
                .or_insert_with(|| workspace.join(rel).display().to_string());
        }
        plan = planner::make_plan(&search, &args.elements, args.no_base, &opts)?;
        opts_env = opts.env;
    }
    // DIB's variables this builder does not honour, unless an element reads them.
    let ignored = ignored::names();
    let readers = plan.elements_mentioning(&ignored)?;
    for w in ignored::warnings(&opts_env, |v| readers.get(v).is_some_and(|r| !r.is_empty())) {
        eprintln!("{w}");
    }
    let name_readers = plan.name_readers()?;
    if args.dry_run {
        let hash = plan.hash()?;
        let key = plan.key_parts()?;
        if args.json {
            let doc = serde_json::json!({
                "hash": hash,
                "key": key,
                "name_in_hash": !name_readers.is_empty(),
                "name_readers": name_readers,
                "plan": plan,
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        } else {
            print!("{}", plan.render_text());
            println!("the plan hash covers the plan above and:");
            for part in &key {
                println!("  {}  {}", part.digest, part.what);
            }
            if name_readers.is_empty() {
                println!(
                    "  the output name (-o, IMAGE_NAME) is not in it: no element file mentions IMAGE_NAME or DIB_ARGS"
                );
            } else {
                println!(
                    "  the output name (-o, IMAGE_NAME): element {} mentions IMAGE_NAME or DIB_ARGS",
                    name_readers.join(", ")
                );
            }
            println!("plan hash: {hash}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let cache_dir = opts_env
        .get("DIB_IMAGE_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/image-create")))
        .context("set DIB_IMAGE_CACHE or HOME for the image cache")?;
    let checksum = args.checksum
        || opts_env
            .get("DIB_CHECKSUM")
            .is_some_and(|v| v == "1" || v.contains("md5"));
    if std::env::var_os("SOLUM_IMAGE_SHARED_MOUNTS").is_none() {
        namespace::enter_private_mount_namespace()?;
    }
    namespace::install_interrupt_handler();
    if let Some(url) = &args.box_base_url {
        if !["http://", "https://", "file://"]
            .iter()
            .any(|p| url.starts_with(p))
        {
            anyhow::bail!("--box-base-url {url:?}: give an http://, https:// or file:// URL");
        }
    }
    let bopts = BuildOptions {
        output: args.output,
        cache_dir,
        elements_path: search,
        offline: args.offline,
        trace: args.trace,
        docker_tag: args.docker_tag,
        image_size_gb: args.image_size,
        box_base_url: args.box_base_url,
        disk: disk::DiskOptions {
            mkfs_options: args
                .mkfs_options
                .as_deref()
                .unwrap_or("")
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            qemu_img_options: args.qemu_img_options,
            compress: !args.uncompressed,
        },
        checksum,
        env: opts_env,
    };
    let output = bopts.output.clone();
    let report = build::build(&plan, &bopts)?;
    progress::clear();
    eprint!("{}", report.render_profile());
    let uploaded = match upload_type {
        Some(ext) => {
            let name = plan_name(&output)?;
            let image = solum_image::output::output_path(&output, ext);
            Some(run_upload(image, name, args.glance, None, !args.json)?)
        }
        None => None,
    };
    if args.json {
        let mut doc = result_json(&plan, &report, checksum, started.elapsed().as_secs_f64())?;
        doc["name_in_hash"] = (!name_readers.is_empty()).into();
        if let Some(id) = uploaded {
            doc["glance_image_id"] = id.into();
        }
        println!("{}", serde_json::to_string_pretty(&doc)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// The `--json` result of a build (see the README).
fn result_json(
    plan: &solum_image::plan::Plan,
    report: &build::BuildReport,
    checksum: bool,
    total: f64,
) -> Result<serde_json::Value> {
    use solum_image::output::{output_path, Produced};
    let mut outputs = Vec::new();
    for p in &report.produced {
        match p {
            Produced::File { path, sha256 } => {
                let size = std::fs::metadata(path)
                    .with_context(|| format!("{}", path.display()))?
                    .len();
                let format = match path.extension().and_then(|e| e.to_str()) {
                    Some("box") => "vagrant",
                    Some(e) => e,
                    None => "",
                };
                let abs = std::path::absolute(path).unwrap_or_else(|_| path.clone());
                let mut o = serde_json::json!({
                    "path": abs,
                    "format": format,
                    "size": size,
                    "sha256": sha256,
                    "sha256_file": output_path(&abs, "sha256"),
                });
                if checksum {
                    o["md5_file"] = serde_json::json!(output_path(&abs, "md5"));
                }
                outputs.push(o);
            }
            Produced::DockerImage { tag, id } => {
                outputs.push(serde_json::json!({"format": "docker", "tag": tag, "id": id}));
            }
        }
    }
    let mut phases: Vec<(String, f64)> = Vec::new();
    for t in &report.profile.steps {
        let name = t.phase.to_string();
        match phases.iter_mut().find(|(n, _)| *n == name) {
            Some((_, s)) => *s += t.seconds,
            None => phases.push((name, t.seconds)),
        }
    }
    let round = |s: f64| (s * 1000.0).round() / 1000.0;
    Ok(serde_json::json!({
        "ok": true,
        "image_name": plan.image_name,
        "plan_hash": report.plan_hash,
        "cache_hit": report.from_cache,
        "elements": plan.elements.iter().map(|e| e.name.clone()).collect::<Vec<_>>(),
        "outputs": outputs,
        "timings": {
            "phases": phases.iter().map(|(p, s)| serde_json::json!({"phase": p, "seconds": round(*s)})).collect::<Vec<_>>(),
            "outputs": report.output_timings.iter().map(|(o, s)| serde_json::json!({"output": o, "seconds": round(*s)})).collect::<Vec<_>>(),
            "total_seconds": round(total),
        },
    }))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if std::io::stderr().is_terminal() {
        progress::enable();
    }
    // Log lines (warnings) go above the progress line when one is drawn.
    solum_cli::log::init_with_writer(
        "info",
        solum_cli::log::Look::Prefixed("solum-image"),
        progress::LineWriter::default,
    );
    let mut json = false;
    let result = match cli.command {
        Command::Build(args) => {
            json = args.json;
            run_build(args)
        }
        Command::Upload(args) => {
            let name = match args.name {
                Some(n) => Ok(n),
                None => plan_name(&args.image.with_extension("")),
            };
            name.and_then(|n| run_upload(args.image, n, args.glance, args.disk_format, true))
                .map(|_| ExitCode::SUCCESS)
        }
        Command::Boot(args) => {
            // Outlive a signal so the temp files go; qemu ends on its own.
            namespace::install_interrupt_handler();
            run_boot(args)
        }
        Command::Ignition(args) => run_ignition(*args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            progress::clear();
            solum_cli::log::eprint_error(&format!("solum-image: error: {e:#}"));
            if json {
                let doc = serde_json::json!({"ok": false, "error": format!("{e:#}")});
                println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            }
            ExitCode::FAILURE
        }
    }
}

fn run_boot(args: BootArgs) -> Result<ExitCode> {
    boot::boot(&boot::BootOptions {
        image: args.image,
        config_drive: args.config_drive,
        ignition: args.ignition,
        uefi: args.uefi,
        memory_mb: args.memory,
        ssh_port: args.ssh_port,
    })
    .map(|()| ExitCode::SUCCESS)
    .map_err(anyhow::Error::from)
}

fn plan_name(path: &Path) -> Result<String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .with_context(|| {
            format!(
                "{}: cannot make an image name from it; use --name",
                path.display()
            )
        })
}

/// Upload; prints the image id on stdout when `print_id`, and returns it.
fn run_upload(
    image: PathBuf,
    name: String,
    g: GlanceArgs,
    disk_format: Option<String>,
    print_id: bool,
) -> Result<String> {
    let opts = upload::UploadOptions {
        image,
        name,
        properties: g.properties,
        visibility: g.visibility,
        replace: g.replace,
        disk_format,
        method: match g.method.as_str() {
            "upload" => upload::Method::Upload,
            "glance-direct" => upload::Method::GlanceDirect,
            _ => upload::Method::Auto,
        },
        progress: true,
    };
    let (env, warnings) = dibenv::caller_env(std::env::vars_os());
    for w in warnings {
        eprintln!("solum-image: warning: {w}");
    }
    let id = match upload::upload(&opts, &env)? {
        upload::Outcome::AlreadyThere { id } => {
            if print_id {
                println!("{id}");
            }
            eprintln!(
                "image '{}' is already in Glance with the same sha512: {id}",
                opts.name
            );
            id
        }
        upload::Outcome::Uploaded {
            id,
            bytes,
            seconds,
            replaced,
            ..
        } => {
            if print_id {
                println!("{id}");
            }
            eprintln!(
                "uploaded '{}' as {id}: {bytes} bytes in {seconds:.1} s, sha512 verified",
                opts.name
            );
            for old in replaced {
                eprintln!("deleted the replaced image {old}");
            }
            id
        }
    };
    Ok(id)
}

fn run_ignition(args: IgnitionArgs) -> Result<ExitCode> {
    use solum_image::ignition_cmd::{self, embed, AppVmArgs};
    let json = if let Some(butane) = &args.butane {
        let (json, warnings) = ignition_cmd::butane_file(butane)?;
        for w in warnings {
            eprintln!("solum-image: {}: {w}", butane.display());
        }
        json
    } else if let Some(image) = &args.embed {
        let config = args
            .config
            .as_deref()
            .context("--embed needs --config FILE")?;
        let report = embed::embed_file(image, config, args.heat_snippet.as_deref())?;
        eprintln!("{report}");
        return Ok(ExitCode::SUCCESS);
    } else if args.agent.is_some() || args.agent_url.is_some() || args.agent_installed {
        let unit = args.agent_unit.clone().unwrap_or_else(|| {
            project_elements()
                .parent()
                .unwrap_or(Path::new("/"))
                .join("agent/systemd/solum-agent.service")
        });
        ignition_cmd::app_vm(&AppVmArgs {
            agent: args.agent,
            agent_url: args.agent_url,
            agent_sha512: args.agent_sha512,
            agent_installed: args.agent_installed,
            unit,
            agent_config: args.agent_config,
            user: args.user,
            ssh_keys: args.ssh_key,
            planfile: args.planfile,
        })?
    } else {
        bail!("ignition: give --butane FILE, --agent BINARY (or --agent-url), or --embed IMAGE --config FILE");
    };
    match &args.output {
        Some(p) => std::fs::write(p, format!("{json}\n"))
            .with_context(|| format!("cannot write {}", p.display()))?,
        None => println!("{json}"),
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    //! The command line's definition (`args.rs`).
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn properties_are_key_value() {
        assert!(parse_property("=x").is_err());
        assert!(parse_property("x").is_err());
        assert_eq!(parse_property("a=b=c").unwrap(), ("a".into(), "b=c".into()));
    }

    #[test]
    fn output_types_are_known_values() {
        let t = Cli::command();
        let build = t.find_subcommand("build").unwrap();
        let types = build
            .get_arguments()
            .find(|a| a.get_id() == "types")
            .unwrap();
        let values: Vec<String> = types
            .get_possible_values()
            .iter()
            .map(|v| v.get_name().to_string())
            .collect();
        assert_eq!(values, KNOWN_TYPES);
        assert!(
            Cli::try_parse_from(["solum-image", "build", "-o", "x", "-t", "iso", "e"]).is_err()
        );
    }
}
