//! solum-image: builds VM and container images from diskimage-builder-style
//! elements. Planning (element, resolve, packages, runparts, phase, plan,
//! collect, hash, planner) is pure or read-only; building (cmd, namespace,
//! mounts, cache, rootfs, hooks, run, output, build) does the side effects.

pub mod boot;
pub mod bootcode;
pub mod build;
pub mod cache;
pub mod cmd;
pub mod collect;
pub mod dibenv;
pub mod disk;
pub mod element;
pub mod envprobe;
pub mod hash;
pub mod hooks;
pub mod ignition_cmd;
pub mod ignored;
pub mod inputs;
pub mod layout;
pub mod mounts;
pub mod namespace;
pub mod output;
pub mod packages;
pub mod phase;
pub mod plan;
pub mod planner;
pub mod progress;
pub mod resolve;
pub mod rootfs;
pub mod run;
pub mod runparts;
pub mod tidy;
pub mod upload;
pub mod vagrant;
