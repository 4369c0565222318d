//! solum-agent: from a Planfile to a healthy app in Docker, driven by Heat and Nova metadata.
//! The binary (`main.rs`, `cli.rs`) only wires these modules together; see ARCHITECTURE.md.

pub mod appname;
pub mod build;
pub mod collect;
pub mod config;
pub mod daemon;
pub mod deployments;
pub mod docker;
pub mod heat;
pub mod hostsetup;
pub mod labels;
pub mod metadata;
pub mod netaddr;
pub mod planfile;
pub mod progress;
pub mod report;
pub mod runtime;
pub mod services;
pub mod source;
pub mod stack;
pub mod state;
pub mod workdir;
pub mod workflow;
