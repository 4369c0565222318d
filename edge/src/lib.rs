//! The edges both solum-guest binaries cross, one way each: signals (`interrupt`) and the
//! command runner (`cmd`), the URL redactor (`redact`), the HTTP client set-up with TLS
//! settings, retry and size limits (`http`), Keystone v3 and its catalog (`keystone`), the
//! OpenStack client's configuration (`cloud`), the Debian bootstrap (`bootstrap`).

pub mod bootstrap;
pub mod cloud;
pub mod cmd;
pub mod http;
pub mod interrupt;
pub mod keystone;
pub mod redact;
