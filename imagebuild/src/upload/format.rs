//! The image file's real disk format (from its magic bytes), the check against what the user
//! claims, and the properties the builder knows. Pure.

/// Bytes needed by [`detect`].
pub const HEADER_LEN: usize = 512;

/// Detect Glance's `disk_format` from the first bytes of a file.
pub fn detect(header: &[u8]) -> &'static str {
    if header.starts_with(b"QFI\xfb") {
        "qcow2"
    } else if header.starts_with(b"KDMV") {
        "vmdk"
    } else if header.starts_with(b"vhdxfile") {
        "vhdx"
    } else {
        "raw"
    }
}

/// Refuse a claimed format that differs from the detected one.
pub fn check_claim(detected: &str, claimed: Option<&str>) -> Result<&'static str, String> {
    let d = match detected {
        "qcow2" => "qcow2",
        "vmdk" => "vmdk",
        "vhdx" => "vhdx",
        _ => "raw",
    };
    match claimed {
        Some(c) if c != d => Err(format!(
            "the file is {d}, not {c} as claimed by --disk-format"
        )),
        _ => Ok(d),
    }
}

/// Properties set for the user unless `--property` says otherwise.
pub fn default_properties() -> Vec<(String, String)> {
    let arch = match std::env::consts::ARCH {
        "aarch64" => "aarch64",
        _ => "x86_64",
    };
    [
        ("architecture", arch),
        ("os_distro", "debian"),
        ("os_version", "12"),
        ("hw_disk_bus", "virtio"),
        ("hw_firmware_type", "bios"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Defaults overridden by the user's properties, in order, without duplicates.
pub fn merge_properties(user: &[(String, String)]) -> Vec<(String, String)> {
    let mut out = default_properties();
    for (k, v) in user {
        match out.iter_mut().find(|(ok, _)| ok == k) {
            Some(slot) => slot.1 = v.clone(),
            None => out.push((k.clone(), v.clone())),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic() {
        assert_eq!(detect(b"QFI\xfb\0\0\0\x03"), "qcow2");
        assert_eq!(detect(&[0u8; 512]), "raw");
        assert_eq!(detect(b""), "raw");
        assert_eq!(detect(b"KDMV...."), "vmdk");
    }

    #[test]
    fn claims() {
        assert_eq!(check_claim("qcow2", None), Ok("qcow2"));
        assert_eq!(check_claim("raw", Some("raw")), Ok("raw"));
        assert_eq!(
            check_claim("raw", Some("qcow2")).unwrap_err(),
            "the file is raw, not qcow2 as claimed by --disk-format"
        );
    }

    #[test]
    fn properties() {
        let m = merge_properties(&[("os_version".into(), "13".into()), ("x".into(), "y".into())]);
        assert!(m.contains(&("os_version".into(), "13".into())));
        assert_eq!(m.iter().filter(|(k, _)| k == "os_version").count(), 1);
        assert_eq!(m.last(), Some(&("x".into(), "y".into())));
    }
}
