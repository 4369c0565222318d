//! Ignition config spec 3.x (3.0.0 to 3.4.0): types, parsing with warnings, validation that
//! agrees with Ignition's own `ignition-validate`, a builder, and a Butane (`variant: fcos`)
//! subset. Invariant: this crate does no I/O; callers hand in bytes and get bytes back.

pub mod builder;
pub mod butane;
pub mod dataurl;
pub mod error;
pub mod hash;
pub mod parse;
pub mod report;
pub mod types;
pub mod unit;
pub mod url;
pub mod validate;
pub mod version;

pub use butane::butane_to_ignition;
pub use error::Error;
pub use parse::{check, parse, parse_valid, to_json, to_json_pretty, Parsed};
pub use report::{Entry, Report, Severity, Warning};
pub use types::*;
pub use validate::validate;
pub use version::Version;
