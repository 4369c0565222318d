//! Parsing JSON bytes into a `Config`: syntax errors with line and column, the version check,
//! type errors with a JSON pointer, unknown keys and fields the version lacks as warnings.

use serde_json::Value;

use crate::report::{join, Report, Warning};
use crate::types::Config;
use crate::version::{gate, Version};
use crate::Error;
use crate::{gojson, validate};

/// A parsed config with its version and the warnings found while parsing.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub config: Config,
    pub version: Version,
    pub warnings: Vec<Warning>,
}

/// What an Ignition config may cost before it is built: 64 MiB of text and of strings (files
/// are embedded as `data:` URLs), the shared limits on values and nesting.
pub const BUDGET: solum_limits::Budget = solum_limits::Budget {
    max_bytes: 64 << 20,
    max_expanded_bytes: 64 << 20,
    ..solum_limits::Budget::DEFAULT
};

/// Parses an Ignition config. Fields unknown to its version are dropped with a warning.
pub fn parse(bytes: &[u8]) -> Result<Parsed, Error> {
    solum_limits::json::check(bytes, &BUDGET)?;
    let text = gojson::text(bytes);
    let mut value: Value = serde_json::from_str(&text).map_err(|e| Error::Json {
        line: e.line(),
        column: e.column(),
        message: e
            .to_string()
            .split(" at line ")
            .next()
            .unwrap_or("")
            .to_string(),
    })?;
    let mut folded = Report::default();
    gojson::fold_keys(&mut value, "", &mut folded);
    let version_str = match value.pointer("/ignition/version") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(Error::InvalidVersion(other.to_string())),
        None => return Err(Error::InvalidVersion(String::new())),
    };
    let version = Version::parse(&version_str)?;
    let mut report = Report::default();
    gate(&mut value, version, &mut report);
    let mut unknown = Vec::new();
    let mut on_unknown = |path: serde_ignored::Path| unknown.push(pointer_of(&path));
    let de = serde_ignored::Deserializer::new(value, &mut on_unknown);
    let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
        let pointer = e.path().iter().fold(String::new(), |p, seg| match seg {
            serde_path_to_error::Segment::Seq { index } => join(&p, index),
            serde_path_to_error::Segment::Map { key } => join(&p, key),
            _ => p,
        });
        Error::Type {
            pointer,
            message: crate::error::redact(&e.into_inner().to_string()),
        }
    })?;
    let mut unknown_report = folded;
    for p in unknown {
        let key = p.rsplit('/').next().unwrap_or("").to_string();
        unknown_report.warn(p, format!("unused key {key}"));
    }
    // Unknown keys first, then those of a newer version (document order within each).
    unknown_report.extend(report.entries);
    let report = unknown_report;
    Ok(Parsed {
        config,
        version,
        warnings: report.entries,
    })
}

fn pointer_of(path: &serde_ignored::Path) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => join(&pointer_of(parent), index),
        Path::Map { parent, key } => join(&pointer_of(parent), key),
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => pointer_of(parent),
    }
}

/// Parses and validates: the full report (parse warnings first), or the parse error.
pub fn check(bytes: &[u8]) -> Result<Report, Error> {
    let parsed = parse(bytes)?;
    let mut report = Report {
        entries: parsed.warnings,
    };
    validate::validate_as(&parsed.config, parsed.version, &mut report);
    Ok(report)
}

/// Parses and validates; a config with errors is `Error::Invalid`. Returns config + warnings.
pub fn parse_valid(bytes: &[u8]) -> Result<(Config, Vec<Warning>), Error> {
    let parsed = parse(bytes)?;
    let mut report = Report {
        entries: parsed.warnings,
    };
    validate::validate_as(&parsed.config, parsed.version, &mut report);
    if report.is_fatal() {
        return Err(Error::Invalid(report));
    }
    Ok((parsed.config, report.entries))
}

/// Serializes compactly (unset fields omitted).
pub fn to_json(cfg: &Config) -> String {
    serde_json::to_string(cfg).unwrap_or_default()
}

/// Serializes with indentation (unset fields omitted).
pub fn to_json_pretty(cfg: &Config) -> String {
    serde_json::to_string_pretty(cfg).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_err(input: &str, expect: &str) {
        let e = parse(input.as_bytes()).expect_err(input).to_string();
        assert!(e.contains(expect), "{input}: {e}");
    }

    #[test]
    fn bad_input_says_what_and_where() {
        check_err("", "invalid JSON at line 1 column 0");
        check_err("{\"ignition\":{\"version\":\"3.3.0\"}", "invalid JSON");
        check_err("[]", "invalid config version");
        check_err("{}", "invalid config version");
        check_err(
            r#"{"ignition":{"version":"3.5.0"}}"#,
            "unsupported config version",
        );
        check_err(
            r#"{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"/a"},{"path":"/b","mode":"420"}]}}"#,
            "wrong type at /storage/files/1/mode: invalid type, expected i64",
        );
        check_err(
            r#"{"ignition":{"version":"3.3.0"},"storage":[]}"#,
            "wrong type at /storage: invalid type, expected struct Storage",
        );
        check_err(
            r#"{"ignition":{"version":"3.3.0"},"storage":{"files":[[]]}}"#,
            "wrong type at /storage/files/0",
        );
        // A field the version lacks is ignored whatever it holds (Ignition does the same).
        parse(br#"{"ignition":{"version":"3.2.0"},"kernelArguments":true}"#)
            .expect("3.2.0 ignores it");
        let e = parse(br#"{"ignition":{"version":"3.3.0"},"passwd":{"users":[{"name":"a","uid":"hunter2"}]}}"#)
            .expect_err("uid must be a number")
            .to_string();
        assert!(
            !e.contains("hunter2") && e.contains("/passwd/users/0/uid"),
            "{e}"
        );
    }

    #[test]
    fn unknown_and_version_gated_keys_warn() {
        let p = parse(br#"{"ignition":{"version":"3.2.0"},"foo":1,"storage":{"files":[{"path":"/a","bad":2}]},"kernelArguments":{"shouldExist":["x"]}}"#)
            .expect("parses");
        let w: Vec<String> = p.warnings.iter().map(|w| w.pointer.clone()).collect();
        assert_eq!(w, ["/foo", "/storage/files/0/bad", "/kernelArguments"]);
        assert_eq!(p.version, Version::V3_2);
    }

    #[test]
    fn serialization_round_trips() {
        let src = r#"{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"/a","mode":420,"contents":{"source":"data:,x"}}]}}"#;
        let p = parse(src.as_bytes()).expect("parses");
        assert_eq!(to_json(&p.config), src);
        assert!(!to_json_pretty(&p.config).contains("null"));
    }
}
