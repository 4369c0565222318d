//! The crate's error type: what went wrong and where (JSON pointer, JSON or YAML line).

use crate::report::Report;

/// Everything that can make parsing, building or converting a config fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Over `parse::BUDGET` (size, values, nesting): refused before it is built.
    #[error("config refused: {0}")]
    Budget(#[from] solum_limits::BudgetError),
    /// Not JSON at all, or truncated JSON.
    #[error("invalid JSON at line {line} column {column}: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    /// `ignition.version` is missing or not a semantic version.
    #[error("invalid config version at /ignition/version: {0:?} is not a version (expected e.g. \"3.3.0\")")]
    InvalidVersion(String),
    /// `ignition.version` is a version this crate does not know.
    #[error("unsupported config version at /ignition/version: {0:?} (supported: 3.0.0 to 3.4.0)")]
    UnknownVersion(String),
    /// A value has the wrong JSON type (e.g. a string where a number belongs).
    #[error("wrong type at {pointer}: {message}")]
    Type { pointer: String, message: String },
    /// The config parsed but failed validation; the report lists every finding.
    #[error("config is not valid:\n{0}")]
    Invalid(Report),
    /// A Butane (YAML) input problem, with its line when known.
    #[error("butane{}: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Butane {
        line: Option<usize>,
        message: String,
    },
    /// A `data:` URL that cannot be decoded.
    #[error("invalid data URL: {0}")]
    DataUrl(String),
}

/// Drops the offending value from a serde message ("invalid type: string \"s3cr3t\", expected
/// i64" becomes "invalid type, expected i64"): the value may be a password hash or a token.
pub(crate) fn redact(message: &str) -> String {
    let mut out = message.to_string();
    for kind in ["invalid type", "invalid value"] {
        let Some(start) = out.find(&format!("{kind}: ")) else {
            continue;
        };
        let from = start + kind.len();
        if let Some(len) = out[from..].find(", expected") {
            out.replace_range(from..from + len, "");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn values_are_redacted_from_type_errors() {
        assert_eq!(
            redact("invalid type: string \"s3cr3t\", expected i64 at line 3 column 4"),
            "invalid type, expected i64 at line 3 column 4"
        );
        assert_eq!(redact("missing field `path`"), "missing field `path`");
    }
}
