//! The labels the agent puts on Docker objects, in one place (a leaf module, so that the build
//! and runtime stages share them without depending on each other). Every container the agent
//! makes carries [`LABEL_AGENT`] and [`LABEL_APP`] (empty on the supervisor, which serves
//! every app) and a [`LABEL_ROLE`] unless it is a release container (`solum.release`).

/// The agent's id (`StateDir::agent_id`): an agent never touches containers without its own.
pub const LABEL_AGENT: &str = "solum.agent";
/// The app's name.
pub const LABEL_APP: &str = "solum.app";
/// What a container that serves no release is for: `build`, `assemble`, `unittest`,
/// `supervisor`.
pub const LABEL_ROLE: &str = "solum.role";
