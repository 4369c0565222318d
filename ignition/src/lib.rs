//! Ignition config spec 3.x (3.0.0 to 3.4.0): types, parsing with warnings, validation that
//! agrees with Ignition's own `ignition-validate`, a builder, and a Butane (`variant: fcos`)
//! subset. Invariant: this crate does no I/O; callers hand in bytes and get bytes back.
//!
//! ```
//! use solum_ignition::{Config, Unit, Version};
//!
//! let (cfg, _warnings) = Config::new(Version::V3_3)
//!     .file("/etc/motd", b"hello\n", 0o644)
//!     .unit(Unit::new("app.service", "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n").enabled())
//!     .user("core", &["ssh-ed25519 AAAA core@host"])
//!     .validated()?;
//! let json = solum_ignition::to_json(&cfg);
//! let report = solum_ignition::check(json.as_bytes())?;
//! assert!(!report.is_fatal());
//! # Ok::<(), solum_ignition::Error>(())
//! ```

pub mod builder;
pub mod butane;
pub mod dataurl;
pub mod error;
mod gojson;
pub mod hash;
mod nullable;
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
