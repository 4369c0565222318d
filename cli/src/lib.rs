//! What the command lines of `solum-agent` and `solum-image` share, so that both look and log
//! alike: `log`, the tracing subscriber (colour only on a terminal and without `NO_COLOR`;
//! sd-daemon priority prefixes and no timestamps when `JOURNAL_STREAM` says stderr is the
//! journal), and `assets`, the man pages and shell completions that each binary's build script
//! makes from its clap definition.

#[cfg(feature = "assets")]
pub mod assets;
#[cfg(feature = "log")]
pub mod log;
