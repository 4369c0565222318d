//! Makes solum-image's man pages and bash, zsh and fish completions from its clap definition
//! (`src/args.rs`) into `$OUT_DIR/share` and `target/<profile>/share` (`solum_cli::assets`).
#![allow(dead_code)]

use clap::{Parser, Subcommand};
use std::path::PathBuf;

include!("src/args.rs");

fn main() {
    println!("cargo:rerun-if-changed=src/args.rs");
    println!("cargo:rerun-if-changed=build.rs");
    let cmd = <Cli as clap::CommandFactory>::command();
    if let Err(e) = solum_cli::assets::build_script(cmd) {
        eprintln!("solum-image build script: cannot write the man pages and completions: {e}");
        std::process::exit(1);
    }
}
