//! Heat's side of the conversation, as pure data and pure functions: the metadata document
//! (`document`), software deployments (`deployment`), the signal bodies Heat accepts
//! (`signal`), the boot-time cfn-init-data inside MIME user_data (`cfninit`) and the EC2
//! signature v2 that the cfn API demands (`ec2sign`). No I/O here: the transports that fetch
//! and send live in the metadata and report modules.

pub mod cfninit;
pub mod deployment;
pub mod document;
pub mod ec2sign;
pub mod occ_conf;
pub mod signal;
