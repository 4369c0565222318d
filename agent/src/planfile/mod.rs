//! Solum's Planfile v1 and app file v1, parsed strictly into one model (`model`).
//! No I/O beyond reading the one file in `load`; `parse` is pure.
//!
//! Layout: `fields` validates single fields inside `Deserialize` (so errors carry the YAML line),
//! `planfile_v1` and `appfile_v1` map each format onto the model, `convert` holds what both
//! share (error context, sources, checks across artifacts), `locate` finds lines of paths.
//!
//! Sources: `parse` requires every artifact to name its source. `parse_with_source` (and
//! `load_with_source`) take an override, e.g. the CLI's `--source DIR|URL`: when given, it
//! replaces the source of every artifact and the file need not name one (a source the file does
//! name is still checked).

mod appfile_v1;
mod convert;
mod fields;
mod locate;
mod model;
mod planfile_v1;
mod services;

pub use fields::ARTIFACT_TYPES;
pub use model::*;
pub use services::MAX_SERVICES;

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::de::IgnoredAny;
use serde::Deserialize;

use convert::Ctx;

/// Planfiles larger than this are refused before parsing.
pub const MAX_PLANFILE_BYTES: u64 = 1 << 20;

/// What a Planfile may cost: `MAX_PLANFILE_BYTES` of text, and the shared budget of values
/// once aliases are expanded and of nesting, checked before any deserializer runs.
pub const BUDGET: solum_limits::Budget =
    solum_limits::Budget::DEFAULT.with_max_bytes(MAX_PLANFILE_BYTES as usize);

/// A Planfile that cannot be used. The message names the file, the field and, when the YAML
/// parser knows it, the line.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct PlanError {
    pub message: String,
}

impl PlanError {
    fn new(message: String) -> Self {
        PlanError { message }
    }
}

/// Reads and parses a Planfile or app file (refusing files over `MAX_PLANFILE_BYTES`).
pub fn load(path: &Path) -> Result<Plan, PlanError> {
    load_with_source(path, None)
}

/// `load`, with the source of every artifact replaced by `source_override` when given.
pub fn load_with_source(
    path: &Path,
    source_override: Option<SourceSpec>,
) -> Result<Plan, PlanError> {
    let text = read_limited(path)?;
    let base = std::path::absolute(path)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| base_of(path));
    parse_in(path, base, &text, source_override)
}

/// Parses Planfile/app file text. `file` is used in messages and to resolve relative source
/// paths (relative to the file's directory).
pub fn parse(file: &Path, text: &str) -> Result<Plan, PlanError> {
    parse_with_source(file, text, None)
}

/// `parse`, with the source of every artifact replaced by `source_override` when given (the
/// file then need not name a source).
pub fn parse_with_source(
    file: &Path,
    text: &str,
    source_override: Option<SourceSpec>,
) -> Result<Plan, PlanError> {
    parse_in(file, base_of(file), text, source_override)
}

/// Parses text that has no file of its own (a Heat deployment's config): `name` is used in
/// messages, relative source paths resolve against `base`.
pub fn parse_relative_to(name: &Path, base: &Path, text: &str) -> Result<Plan, PlanError> {
    parse_in(name, base.to_path_buf(), text, None)
}

/// The directory relative sources resolve against: the file's own.
fn base_of(file: &Path) -> PathBuf {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn parse_in(
    file: &Path,
    base: PathBuf,
    text: &str,
    source_override: Option<SourceSpec>,
) -> Result<Plan, PlanError> {
    let mut ctx = Ctx::new(file, base, text, source_override);
    solum_limits::yaml::check(text, &BUDGET).map_err(|e| ctx.error_at_file(&e.to_string()))?;
    match detect(&ctx)? {
        Format::Planfile => planfile_v1::parse(&mut ctx),
        Format::AppFile => appfile_v1::parse(&mut ctx),
    }
}

fn read_limited(path: &Path) -> Result<String, PlanError> {
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => PlanError::new(format!("{shown}: no such file")),
        _ => PlanError::new(format!("{shown}: cannot open: {e}")),
    })?;
    let meta = file
        .metadata()
        .map_err(|e| PlanError::new(format!("{shown}: cannot read: {e}")))?;
    if meta.is_dir() {
        return Err(PlanError::new(format!(
            "{shown}: is a directory, not a Planfile"
        )));
    }
    let too_big = || {
        PlanError::new(format!(
            "{shown}: larger than the 1 MiB limit ({MAX_PLANFILE_BYTES} bytes)"
        ))
    };
    if meta.len() > MAX_PLANFILE_BYTES {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    file.take(MAX_PLANFILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| PlanError::new(format!("{shown}: cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_PLANFILE_BYTES {
        return Err(too_big());
    }
    String::from_utf8(bytes).map_err(|e| {
        PlanError::new(format!(
            "{shown}: not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Planfile,
    AppFile,
}

/// Just enough of either format to tell which one it is (and check `version` first).
#[derive(Deserialize)]
#[serde(expecting = "a mapping (a Planfile or an app file)")]
struct Probe {
    version: Option<fields::Version>,
    artifacts: Option<IgnoredAny>,
    languagepack: Option<IgnoredAny>,
    source: Option<IgnoredAny>,
    workflow_config: Option<IgnoredAny>,
}

const APP_KEYS: &str = "`languagepack`, `source` or `workflow_config`";

fn detect(ctx: &Ctx) -> Result<Format, PlanError> {
    let probe: Option<Probe> = serde_norway::from_str(ctx.text).map_err(|e| ctx.yaml_error(&e))?;
    let Some(probe) = probe else {
        return Err(ctx.error_at_file("the file is empty"));
    };
    if probe.version.is_none() {
        return Err(ctx.error_at_file("Version attribute is missing in Plan"));
    }
    let app =
        probe.languagepack.is_some() || probe.source.is_some() || probe.workflow_config.is_some();
    match (probe.artifacts.is_some(), app) {
        (true, false) => Ok(Format::Planfile),
        (false, true) => Ok(Format::AppFile),
        (true, true) => Err(ctx.error(
            &locate::FieldPath::default().key("artifacts"),
            &format!("has both `artifacts` (Planfile) and {APP_KEYS} (app file): use one format"),
        )),
        (false, false) => Err(ctx.error_at_file(&format!(
            "neither a Planfile (no `artifacts`) nor an app file (no {APP_KEYS})"
        ))),
    }
}

#[cfg(test)]
mod tests;
