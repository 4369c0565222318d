//! Everything the agent sends out: deployment signals to Heat (`signal`), wait-condition
//! signals (`signal::wait_condition`), registration and health beats to a registrar
//! (`registrar`). Sends go through a durable outbox (`outbox`): a message is written to disk
//! before the first try and removed only once delivered, so a dead endpoint or an agent
//! restart never loses one, and the pipeline never blocks on a send.

pub mod outbox;
pub mod registrar;
pub mod signal;
