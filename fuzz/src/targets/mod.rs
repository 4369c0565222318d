//! The targets, grouped by the crate whose parsers they call.

pub mod agent;
pub mod heat;
pub mod ignition;
pub mod image;
pub mod metadata;
pub mod openstack;

/// The input as text the way a reader that insists on UTF-8 gets it (`None`: refused).
pub(crate) fn utf8(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// The input as parts separated by NUL bytes (for targets that read several files).
pub(crate) fn parts(data: &[u8]) -> Vec<&[u8]> {
    data.split(|b| *b == 0).collect()
}
