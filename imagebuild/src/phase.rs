//! The DIB phases: their names, their order, and where each one runs.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a phase's scripts run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Place {
    /// On the host, with the tree at $TARGET_ROOT.
    Outside,
    /// Inside the chroot, hooks at /tmp/in_target.d.
    Chroot,
}

/// One DIB phase directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Phase {
    #[serde(rename = "root.d")]
    Root,
    #[serde(rename = "extra-data.d")]
    ExtraData,
    #[serde(rename = "pre-install.d")]
    PreInstall,
    #[serde(rename = "install.d")]
    Install,
    #[serde(rename = "post-install.d")]
    PostInstall,
    #[serde(rename = "post-root.d")]
    PostRoot,
    #[serde(rename = "block-device.d")]
    BlockDevice,
    #[serde(rename = "pre-finalise.d")]
    PreFinalise,
    #[serde(rename = "finalise.d")]
    Finalise,
    #[serde(rename = "cleanup.d")]
    Cleanup,
}

impl Phase {
    /// All phases in the order DIB runs them.
    pub const ALL: [Phase; 10] = [
        Phase::Root,
        Phase::ExtraData,
        Phase::PreInstall,
        Phase::Install,
        Phase::PostInstall,
        Phase::PostRoot,
        Phase::BlockDevice,
        Phase::PreFinalise,
        Phase::Finalise,
        Phase::Cleanup,
    ];

    /// The directory name inside an element, e.g. `install.d`.
    pub fn dir_name(self) -> &'static str {
        match self {
            Phase::Root => "root.d",
            Phase::ExtraData => "extra-data.d",
            Phase::PreInstall => "pre-install.d",
            Phase::Install => "install.d",
            Phase::PostInstall => "post-install.d",
            Phase::PostRoot => "post-root.d",
            Phase::BlockDevice => "block-device.d",
            Phase::PreFinalise => "pre-finalise.d",
            Phase::Finalise => "finalise.d",
            Phase::Cleanup => "cleanup.d",
        }
    }

    /// Parse a directory name (`install.d`) or a bare one (`install`).
    pub fn from_name(name: &str) -> Option<Phase> {
        let full = if name.ends_with(".d") {
            name.to_string()
        } else {
            format!("{name}.d")
        };
        Phase::ALL.into_iter().find(|p| p.dir_name() == full)
    }

    /// Where this phase's scripts run.
    pub fn place(self) -> Place {
        match self {
            Phase::PreInstall | Phase::Install | Phase::PostInstall | Phase::Finalise => {
                Place::Chroot
            }
            _ => Place::Outside,
        }
    }

    /// Phases in which package-installs may install packages.
    pub fn takes_packages(self) -> bool {
        matches!(
            self,
            Phase::PreInstall | Phase::Install | Phase::PostInstall
        )
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.dir_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_places() {
        let got: Vec<(&str, Place)> = Phase::ALL
            .iter()
            .map(|p| (p.dir_name(), p.place()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("root.d", Place::Outside),
                ("extra-data.d", Place::Outside),
                ("pre-install.d", Place::Chroot),
                ("install.d", Place::Chroot),
                ("post-install.d", Place::Chroot),
                ("post-root.d", Place::Outside),
                ("block-device.d", Place::Outside),
                ("pre-finalise.d", Place::Outside),
                ("finalise.d", Place::Chroot),
                ("cleanup.d", Place::Outside),
            ]
        );
        let mut sorted = Phase::ALL;
        sorted.sort();
        assert_eq!(sorted, Phase::ALL, "Ord follows DIB order");
    }

    #[test]
    fn names_round_trip() {
        for p in Phase::ALL {
            assert_eq!(Phase::from_name(p.dir_name()), Some(p));
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.dir_name()));
        }
        assert_eq!(Phase::from_name("install"), Some(Phase::Install));
        assert_eq!(Phase::from_name("bogus.d"), None);
    }
}
