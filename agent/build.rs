//! Makes solum-agent's man pages and bash, zsh and fish completions from its clap definition
//! (`src/args.rs`) into `$OUT_DIR/share` and `target/<profile>/share` (`solum_cli::assets`).

#[allow(dead_code)]
#[path = "src/args.rs"]
mod args;

fn main() {
    println!("cargo:rerun-if-changed=src/args.rs");
    println!("cargo:rerun-if-changed=build.rs");
    let cmd = <args::Cli as clap::CommandFactory>::command();
    if let Err(e) = solum_cli::assets::build_script(cmd) {
        eprintln!("solum-agent build script: cannot write the man pages and completions: {e}");
        std::process::exit(1);
    }
}
