//! What the source stage is asked for: where the source is ([`SourceSpec`]) and the token that
//! may fetch it ([`Secret`]). The Planfile's model re-exports both.

use std::fmt;

/// Where the app's source comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// A git remote; `revision` is a branch, tag or commit sha (default: the remote's HEAD).
    Git {
        url: String,
        revision: Option<String>,
    },
    /// A directory on this host.
    Dir { path: std::path::PathBuf },
    /// A tarball (.tar, .tar.gz, .tgz) by URL (http, https or file), optionally verified.
    Tarball { url: String, sha256: Option<String> },
}

/// A string that must never reach a log: `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}
