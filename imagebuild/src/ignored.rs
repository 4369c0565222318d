//! The `DIB_*` variables diskimage-builder documents (its `disk-image-create`,
//! its block-device layer, and the READMEs of its elements that solum-image's
//! own elements and builder replace: base, debian-minimal, debootstrap,
//! bootloader, vm) that solum-image does not honour, in one table. A build
//! warns once for each one set in the caller's environment, unless a file of
//! a selected element mentions it (then an element reads it: DIB's own
//! `bootloader` on `ELEMENTS_PATH`, say). Pure.

use std::collections::BTreeMap;

/// (variable, what solum-image does instead).
pub const IGNORED: &[(&str, &str)] = &[
    (
        "DIB_APT_KEYRING",
        "the base tree is made from Debian's own keyring",
    ),
    (
        "DIB_APT_MINIMAL_CREATE_INTERFACES",
        "networking is the vm element's (systemd-networkd)",
    ),
    ("DIB_APT_SOURCES_CONF", "use DIB_APT_SOURCES"),
    ("DIB_ARM_KERNEL", "images are amd64"),
    (
        "DIB_AVOID_PACKAGES_UPDATE",
        "the base tree starts from the release, its updates and its security suite",
    ),
    (
        "DIB_BLOCK_DEVICE_CONFIG",
        "the disk layout is fixed: BIOS boot, ESP, ext4 root",
    ),
    ("DIB_BLOCK_SIZE", "the disk layout is fixed"),
    (
        "DIB_BOOTLOADER_DEFAULT_CMDLINE",
        "extra kernel arguments come from the tree's /etc/solum-image/cmdline",
    ),
    (
        "DIB_BOOTLOADER_SERIAL_CONSOLE",
        "GRUB and the kernel always use tty0 and ttyS0,115200n8",
    ),
    (
        "DIB_BOOTLOADER_USE_SERIAL_CONSOLE",
        "GRUB and the kernel always use tty0 and ttyS0,115200n8",
    ),
    (
        "DIB_BOOTLOADER_VIRTUAL_TERMINAL",
        "GRUB and the kernel always use tty0 and ttyS0,115200n8",
    ),
    ("DIB_BOOT_LABEL", "there is no boot partition"),
    (
        "DIB_CLOUD_INIT_ETC_HOSTS",
        "solum-agent init writes /etc/hosts from Nova's metadata",
    ),
    (
        "DIB_DEBIAN_DEBOOTSTRAP_SCRIPT",
        "the builder runs mmdebstrap itself",
    ),
    (
        "DIB_DEBIAN_SECURITY_SUBPATH",
        "the security suite is RELEASE-security",
    ),
    (
        "DIB_DEBIAN_USE_DEBOOTSTRAP_CACHE",
        "the base tree is always cached, keyed by what makes it",
    ),
    (
        "DIB_DEBOOTSTRAP_EXTRA_ARGS",
        "the builder runs mmdebstrap itself",
    ),
    ("DIB_GRUB_TIMEOUT", "GRUB boots at once (timeout 0)"),
    (
        "DIB_GRUB_TIMEOUT_STYLE",
        "GRUB boots at once (style menu, timeout 0)",
    ),
    ("DIB_GZIP_BIN", "no output is gzipped"),
    (
        "DIB_IMAGE_EXTRA_SIZE",
        "the root is sized by DIB's rule (tree / 0.6 + 64 MiB); use --image-size",
    ),
    ("DIB_IMAGE_SIZE", "use --image-size"),
    ("DIB_JOURNAL_SIZE", "use --mkfs-options '-J size=MB'"),
    (
        "DIB_MIN_TMPFS",
        "the tree is built on the cache's file system, never in a tmpfs",
    ),
    (
        "DIB_MMDEBSTRAP_EXTRA_ARGS",
        "the builder runs mmdebstrap itself",
    ),
    (
        "DIB_NETWORK_INTERFACE_NAMES",
        "networking is the vm element's (systemd-networkd)",
    ),
    (
        "DIB_NO_TIMER_CHECK",
        "the kernel command line is the builder's (no no_timer_check)",
    ),
    ("DIB_NO_TIMESTAMP", "log lines carry no timestamp"),
    (
        "DIB_NO_TMPFS",
        "the tree is built on the cache's file system, never in a tmpfs",
    ),
    ("DIB_QUIET", "scripts' output is always shown"),
    ("DIB_ROOT_FSTYPE", "the root file system is ext4"),
    (
        "DIB_SHOW_IMAGE_USAGE",
        "no usage report; see the timing profile",
    ),
    (
        "DIB_SHOW_IMAGE_USAGE_FULL",
        "no usage report; see the timing profile",
    ),
    (
        "DIB_SKIP_BASE_PACKAGE_INSTALL",
        "the base element installs no packages of its own",
    ),
    (
        "DIB_SKIP_GRUB_PACKAGE_INSTALL",
        "GRUB is not installed in the image: the builder writes the boot code",
    ),
];

/// The names in the table.
pub fn names() -> Vec<&'static str> {
    IGNORED.iter().map(|(n, _)| *n).collect()
}

/// One warning line for each table variable set in `env` that no selected
/// element reads (`read_by_element`), in the table's order.
pub fn warnings(
    env: &BTreeMap<String, String>,
    read_by_element: impl Fn(&str) -> bool,
) -> Vec<String> {
    IGNORED
        .iter()
        .filter(|(name, _)| env.contains_key(*name) && !read_by_element(name))
        .map(|(name, instead)| {
            format!("solum-image: warning: {name} is set but ignored by solum-image ({instead})")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_unique_and_dib_only() {
        let n = names();
        let mut sorted = n.clone();
        sorted.sort_by_key(|s| s.to_ascii_uppercase());
        sorted.dedup();
        assert_eq!(n, sorted);
        assert!(n.iter().all(|v| v.starts_with("DIB_")));
        // What solum-image honours is never in the table.
        for honoured in [
            "DIB_RELEASE",
            "DIB_ROOT_LABEL",
            "DIB_IMAGE_CACHE",
            "DIB_CHECKSUM",
            "DIB_DEBUG_TRACE",
            "DIB_APT_SOURCES",
            "DIB_DISTRIBUTION_MIRROR",
            "DIB_DEBIAN_COMPONENTS",
        ] {
            assert!(!n.contains(&honoured), "{honoured}");
        }
    }

    #[test]
    fn warns_once_per_set_variable_unless_an_element_reads_it() {
        let env: BTreeMap<String, String> = [
            ("DIB_GRUB_TIMEOUT", "5"),
            ("DIB_NO_TMPFS", "1"),
            ("DIB_RELEASE", "bookworm"),
            ("HOME", "/root"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let w = warnings(&env, |_| false);
        assert_eq!(
            w,
            vec![
                "solum-image: warning: DIB_GRUB_TIMEOUT is set but ignored by solum-image (GRUB boots at once (timeout 0))".to_string(),
                "solum-image: warning: DIB_NO_TMPFS is set but ignored by solum-image (the tree is built on the cache's file system, never in a tmpfs)".to_string(),
            ]
        );
        let w = warnings(&env, |v| v == "DIB_GRUB_TIMEOUT");
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("DIB_NO_TMPFS"));
        assert!(warnings(&BTreeMap::new(), |_| false).is_empty());
    }
}
