//! solum-image: builds VM and container images from diskimage-builder-style
//! elements. Planning (element, resolve, packages, runparts, phase, plan,
//! collect, hash, planner) is pure or read-only; building (cmd, mounts,
//! rootfs, run, output, build) does the side effects.

pub mod collect;
pub mod element;
pub mod hash;
pub mod packages;
pub mod phase;
pub mod plan;
pub mod planner;
pub mod resolve;
pub mod runparts;
