//! The labels the agent puts on Docker objects, in one place (a leaf module, so that the build
//! and runtime stages and the local services share them without depending on each other).
//! Every container the agent makes carries [`LABEL_AGENT`] and [`LABEL_APP`] (empty on the supervisor, which serves
//! every app) and a [`LABEL_ROLE`] unless it is a release container (`solum.release`).

/// The agent's id (`StateDir::agent_id`): an agent never touches containers without its own.
pub const LABEL_AGENT: &str = "solum.agent";
/// The app's name (a local service's: its plan's name).
pub const LABEL_APP: &str = "solum.app";
/// What a container that serves no release is for: `build`, `assemble`, `unittest`,
/// `supervisor`, `service`.
pub const LABEL_ROLE: &str = "solum.role";
/// `LABEL_ROLE` of a plan's local service (`services`).
pub const ROLE_SERVICE: &str = "service";
/// A local service's id in its plan (`Service::id`); `LABEL_APP` is the plan's name.
pub const LABEL_SERVICE: &str = "solum.service";
/// A local service's kind (`postgresql`, `mysql`, `rabbitmq`, `redis`).
pub const LABEL_SERVICE_KIND: &str = "solum.service.kind";
