//! Solum's Planfile v1 and app file v1, parsed strictly into one model (`model`).
//! No I/O beyond reading the one file in `load`; `parse` is pure.

mod model;

pub use model::*;

use std::path::Path;

/// Planfiles larger than this are refused before parsing.
pub const MAX_PLANFILE_BYTES: u64 = 1 << 20;

/// A Planfile that cannot be used. The message names the file, the field and, when the YAML
/// parser knows it, the line.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct PlanError {
    pub message: String,
}

/// Reads and parses a Planfile or app file (refusing files over `MAX_PLANFILE_BYTES`).
pub fn load(path: &Path) -> Result<Plan, PlanError> {
    let _ = path;
    unimplemented!("planfile::load")
}

/// Parses Planfile/app file text. `file` is used in messages and to resolve relative source
/// paths (relative to the file's directory).
pub fn parse(file: &Path, text: &str) -> Result<Plan, PlanError> {
    let _ = (file, text);
    unimplemented!("planfile::parse")
}
