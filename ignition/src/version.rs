//! Spec versions: parsing `ignition.version`, and which fields each version allows. A field the
//! version does not know is dropped with an "unused key" warning, as Ignition itself does.

use crate::report::Report;
use serde_json::Value;

use crate::report::join;
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

    /// Parses a version string as Ignition does (coreos/go-semver: leading zeros and an empty
    /// `-` suffix are accepted, so "3.03.0" is 3.3.0): not a version is `InvalidVersion`; a
    /// version we do not support (2.x, 3.5.0, 3.4.0-experimental, 3.3.0+meta) is
    /// `UnknownVersion`.
    pub fn parse(s: &str) -> Result<Version, Error> {
        let (major, minor, patch, pre, meta) =
            go_semver(s).ok_or_else(|| Error::InvalidVersion(s.to_string()))?;
        let found = Version::ALL.into_iter().find(|v| {
            let n = match v {
                Version::V3_0 => 0,
                Version::V3_1 => 1,
                Version::V3_2 => 2,
                Version::V3_3 => 3,
                Version::V3_4 => 4,
            };
            (major, minor, patch) == (3, n, 0) && pre.is_empty() && meta.is_empty()
        });
        found.ok_or_else(|| Error::UnknownVersion(s.to_string()))
    }
}

/// `MAJOR.MINOR.PATCH[-PRE][+META]` the way coreos/go-semver reads it.
fn go_semver(s: &str) -> Option<(i64, i64, i64, &str, &str)> {
    let (rest, meta) = s.split_once('+').unwrap_or((s, ""));
    let (core, pre) = rest.split_once('-').unwrap_or((rest, ""));
    let ident_ok = |id: &str| {
        id.is_empty()
            || id.split('.').all(|part| {
                !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    };
    if !ident_ok(pre) || !ident_ok(meta) {
        return None;
    }
    let mut parts = core.splitn(3, '.');
    let mut num = || -> Option<i64> {
        let p = parts.next()?;
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse().ok()
    };
    Some((num()?, num()?, num()?, pre, meta))
}

/// Fields newer than 3.0.0: the first version that has them, and where they live (`*` is any
/// list index). Verified one by one against ignition-validate's "Unused key" warnings.
const GATED: &[(Version, &str)] = &[
    (Version::V3_1, "/ignition/proxy"),
    (Version::V3_1, "/ignition/config/merge/*/compression"),
    (Version::V3_1, "/ignition/config/replace/compression"),
    (
        Version::V3_1,
        "/ignition/security/tls/certificateAuthorities/*/compression",
    ),
    (Version::V3_1, "/ignition/config/merge/*/httpHeaders"),
    (Version::V3_1, "/ignition/config/replace/httpHeaders"),
    (
        Version::V3_1,
        "/ignition/security/tls/certificateAuthorities/*/httpHeaders",
    ),
    (Version::V3_1, "/storage/files/*/contents/httpHeaders"),
    (Version::V3_1, "/storage/files/*/append/*/httpHeaders"),
    (Version::V3_1, "/storage/filesystems/*/mountOptions"),
    (Version::V3_2, "/storage/luks"),
    (Version::V3_2, "/passwd/users/*/shouldExist"),
    (Version::V3_2, "/passwd/groups/*/shouldExist"),
    (Version::V3_2, "/storage/disks/*/partitions/*/resize"),
    (Version::V3_3, "/kernelArguments"),
    (Version::V3_4, "/storage/luks/*/discard"),
    (Version::V3_4, "/storage/luks/*/openOptions"),
    (Version::V3_4, "/storage/luks/*/clevis/tang/*/advertisement"),
];

/// Drops from raw JSON each field `v` does not have, with an "unused key" warning, before
/// types are checked: like Ignition, a field the version lacks is ignored whatever it holds.
pub fn gate(value: &mut Value, v: Version, report: &mut Report) {
    for (since, pattern) in GATED {
        if v < *since {
            let segs: Vec<&str> = pattern.split('/').skip(1).collect();
            drop_matching(value, &segs, String::new(), v, report);
        }
    }
}

fn drop_matching(value: &mut Value, segs: &[&str], at: String, v: Version, report: &mut Report) {
    let Some((first, rest)) = segs.split_first() else {
        return;
    };
    match (value, *first) {
        (Value::Array(items), "*") => {
            for (i, item) in items.iter_mut().enumerate() {
                drop_matching(item, rest, join(&at, i), v, report);
            }
        }
        (Value::Object(map), key) => {
            if !rest.is_empty() {
                if let Some(child) = map.get_mut(key) {
                    drop_matching(child, rest, join(&at, key), v, report);
                }
            } else if map.remove(key).is_some() {
                let msg = format!("unused key {key} (not in spec {})", v.as_str());
                report.warn(join(&at, key), msg);
            }
        }
        _ => {}
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
        check("03.3.0", Ok(Version::V3_3));
        check("3.03.0", Ok(Version::V3_3));
        check("3.3.0-", Ok(Version::V3_3));
        check("3.3.0+meta", Err("unknown"));
        check("3.3.0-rc.1", Err("unknown"));
        check("3.3.0-a..b", Err("invalid"));
        check("3.3.0.0", Err("invalid"));
        check("v3.3.0", Err("invalid"));
        check(" 3.3.0", Err("invalid"));
    }

    #[test]
    fn gating_drops_newer_fields_with_warnings() {
        let mut v = serde_json::json!({
            "ignition": {"version": "3.0.0", "proxy": {"httpProxy": 5}},
            "kernelArguments": true,
            "storage": {"files": [{"path": "/a", "contents": {"httpHeaders": []}}], "luks": 1},
            "passwd": {"users": [{"name": "a", "shouldExist": false}, {"name": "b"}]}
        });
        let mut r = Report::default();
        gate(&mut v, Version::V3_0, &mut r);
        let ptrs: Vec<&str> = r.warnings().map(|w| w.pointer.as_str()).collect();
        assert_eq!(
            ptrs,
            [
                "/ignition/proxy",
                "/storage/files/0/contents/httpHeaders",
                "/storage/luks",
                "/passwd/users/0/shouldExist",
                "/kernelArguments"
            ]
        );
        let left = serde_json::json!({
            "ignition": {"version": "3.0.0"},
            "storage": {"files": [{"path": "/a", "contents": {}}]},
            "passwd": {"users": [{"name": "a"}, {"name": "b"}]}
        });
        assert_eq!(v, left);
        let mut r = Report::default();
        gate(&mut v, Version::V3_4, &mut r);
        assert!(r.entries.is_empty());
    }
}
