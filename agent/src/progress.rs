//! Where long work (builds, stack images) reports its progress: a leaf module, so that every
//! stage can take a [`LogFn`] without depending on another stage.

use std::sync::Arc;

/// Where build output (compile logs, Docker build stream) goes, one line at a time.
/// The CLI prints it to stderr; the daemon keeps it for the deployment signal.
pub type LogFn = Arc<dyn Fn(&str) + Send + Sync>;
