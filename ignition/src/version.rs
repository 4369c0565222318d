//! Spec versions: parsing `ignition.version`, and which fields each version allows. A field the
//! version does not know is dropped with an "unused key" warning, as Ignition itself does.

use crate::report::Report;
use crate::types::Config;
use crate::Error;

/// A config spec version this crate knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    V3_0,
    V3_1,
    V3_2,
    V3_3,
    V3_4,
}

impl Version {
    pub const ALL: [Version; 5] = [
        Version::V3_0,
        Version::V3_1,
        Version::V3_2,
        Version::V3_3,
        Version::V3_4,
    ];

    /// The string written in `ignition.version`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V3_0 => "3.0.0",
            Version::V3_1 => "3.1.0",
            Version::V3_2 => "3.2.0",
            Version::V3_3 => "3.3.0",
            Version::V3_4 => "3.4.0",
        }
    }

    /// Parses a version string: not a semantic version is `InvalidVersion`, a version we do not
    /// support (2.x, 3.5.0, 3.4.0-experimental) is `UnknownVersion`.
    pub fn parse(s: &str) -> Result<Version, Error> {
        if !is_semver(s) {
            return Err(Error::InvalidVersion(s.to_string()));
        }
        Version::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| Error::UnknownVersion(s.to_string()))
    }
}

/// `MAJOR.MINOR.PATCH` with an optional `-pre` and `+build` (digits without leading zeros).
fn is_semver(s: &str) -> bool {
    let core = s.split(['-', '+']).next().unwrap_or("");
    let rest = &s[core.len()..];
    let nums: Vec<&str> = core.split('.').collect();
    let num_ok = |n: &&str| {
        !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
            && (n.len() == 1 || !n.starts_with('0'))
    };
    let ident_ok = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    };
    nums.len() == 3 && nums.iter().all(num_ok) && (rest.is_empty() || ident_ok(&rest[1..]))
}

/// Drops each field `v` does not allow, with an unused-key warning at its pointer.
pub fn gate(cfg: &mut Config, v: Version, report: &mut Report) {
    let mut drop = |present: bool, pointer: String, key: &str| {
        if present {
            report.warn(
                pointer,
                format!("unused key {key} (not in spec {})", v.as_str()),
            );
        }
    };
    if v < Version::V3_1 {
        drop(
            cfg.ignition.proxy != Default::default(),
            "/ignition/proxy".into(),
            "proxy",
        );
        cfg.ignition.proxy = Default::default();
        for_each_resource(cfg, &mut |res, ptr| {
            drop(
                !res.http_headers.is_empty(),
                format!("{ptr}/httpHeaders"),
                "httpHeaders",
            );
            res.http_headers.clear();
        });
        for (i, fs) in cfg.storage.filesystems.iter_mut().enumerate() {
            let p = format!("/storage/filesystems/{i}/mountOptions");
            drop(!fs.mount_options.is_empty(), p, "mountOptions");
            fs.mount_options.clear();
        }
    }
    if v < Version::V3_2 {
        drop(!cfg.storage.luks.is_empty(), "/storage/luks".into(), "luks");
        cfg.storage.luks.clear();
        for (i, u) in cfg.passwd.users.iter_mut().enumerate() {
            let p = format!("/passwd/users/{i}/shouldExist");
            drop(u.should_exist.take().is_some(), p, "shouldExist");
        }
        for (i, g) in cfg.passwd.groups.iter_mut().enumerate() {
            let p = format!("/passwd/groups/{i}/shouldExist");
            drop(g.should_exist.take().is_some(), p, "shouldExist");
        }
        for (d, disk) in cfg.storage.disks.iter_mut().enumerate() {
            for (i, part) in disk.partitions.iter_mut().enumerate() {
                let p = format!("/storage/disks/{d}/partitions/{i}/resize");
                drop(part.resize.take().is_some(), p, "resize");
            }
        }
    }
    if v < Version::V3_3 {
        let present = cfg.kernel_arguments != Default::default();
        drop(present, "/kernelArguments".into(), "kernelArguments");
        cfg.kernel_arguments = Default::default();
    }
    if v < Version::V3_4 {
        for (i, l) in cfg.storage.luks.iter_mut().enumerate() {
            let p = format!("/storage/luks/{i}");
            drop(
                l.discard.take().is_some(),
                format!("{p}/discard"),
                "discard",
            );
            let oo = std::mem::take(&mut l.open_options);
            drop(!oo.is_empty(), format!("{p}/openOptions"), "openOptions");
            for (t, tang) in l.clevis.tang.iter_mut().enumerate() {
                let tp = format!("{p}/clevis/tang/{t}/advertisement");
                drop(tang.advertisement.take().is_some(), tp, "advertisement");
            }
        }
    }
}

/// Calls `f` on every resource in the config with its JSON pointer.
pub fn for_each_resource(cfg: &mut Config, f: &mut dyn FnMut(&mut crate::Resource, &str)) {
    let ic = &mut cfg.ignition.config;
    for (i, r) in ic.merge.iter_mut().enumerate() {
        f(r, &format!("/ignition/config/merge/{i}"));
    }
    f(&mut ic.replace, "/ignition/config/replace");
    let cas = &mut cfg.ignition.security.tls.certificate_authorities;
    for (i, r) in cas.iter_mut().enumerate() {
        f(
            r,
            &format!("/ignition/security/tls/certificateAuthorities/{i}"),
        );
    }
    for (i, file) in cfg.storage.files.iter_mut().enumerate() {
        f(&mut file.contents, &format!("/storage/files/{i}/contents"));
        for (j, r) in file.append.iter_mut().enumerate() {
            f(r, &format!("/storage/files/{i}/append/{j}"));
        }
    }
    for (i, l) in cfg.storage.luks.iter_mut().enumerate() {
        f(&mut l.key_file, &format!("/storage/luks/{i}/keyFile"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: Result<Version, &str>) {
        let got = Version::parse(input).map_err(|e| match e {
            Error::InvalidVersion(_) => "invalid",
            Error::UnknownVersion(_) => "unknown",
            _ => "other",
        });
        assert_eq!(got, expect, "{input:?}");
    }

    #[test]
    fn versions() {
        check("3.0.0", Ok(Version::V3_0));
        check("3.4.0", Ok(Version::V3_4));
        check("3.5.0", Err("unknown"));
        check("2.2.0", Err("unknown"));
        check("3.4.0-experimental", Err("unknown"));
        check("", Err("invalid"));
        check("abc", Err("invalid"));
        check("3.3", Err("invalid"));
        check("03.3.0", Err("invalid"));
    }

    #[test]
    fn gating_drops_newer_fields_with_warnings() {
        let mut cfg = Config::default();
        cfg.kernel_arguments.should_exist.push("quiet".into());
        cfg.ignition.proxy.http_proxy = Some("http://p".into());
        let mut r = Report::default();
        gate(&mut cfg, Version::V3_0, &mut r);
        assert!(cfg.kernel_arguments.should_exist.is_empty());
        assert_eq!(cfg.ignition.proxy, Default::default());
        let ptrs: Vec<&str> = r.warnings().map(|w| w.pointer.as_str()).collect();
        assert_eq!(ptrs, ["/ignition/proxy", "/kernelArguments"]);
        assert!(!r.is_fatal());
    }
}
