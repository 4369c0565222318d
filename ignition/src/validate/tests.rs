//! Rule-by-rule tests: each case is a config snippet and the pointers/messages expected.

use crate::parse::parse;
use crate::Severity;

/// Parses `json` (a 3.3.0 config unless it names its version), validates it, and compares
/// the errors (pointer + message fragment) with `errors`.
fn check(json: &str, errors: &[(&str, &str)]) {
    let full = if json.contains("\"ignition\"") {
        json.to_string()
    } else {
        format!("{{\"ignition\":{{\"version\":\"3.3.0\"}},{json}}}")
    };
    let parsed = parse(full.as_bytes()).expect("parses");
    let report = super::validate(&parsed.config);
    let got: Vec<(String, String)> = report
        .entries
        .iter()
        .filter(|e| e.severity == Severity::Error)
        .map(|e| (e.pointer.clone(), e.message.clone()))
        .collect();
    assert_eq!(got.len(), errors.len(), "{full}\n{report}");
    for ((gp, gm), (ep, em)) in got.iter().zip(errors) {
        assert_eq!(gp, ep, "{full}");
        assert!(gm.contains(em), "{full}: {gm:?} lacks {em:?}");
    }
}

#[test]
fn paths() {
    check(
        r#""storage":{"files":[{"path":"a"}]}"#,
        &[("/storage/files/0/path", "not absolute")],
    );
    check(
        r#""storage":{"files":[{"path":"/a/"}]}"#,
        &[("/storage/files/0/path", "simplified")],
    );
    check(
        r#""storage":{"files":[{}]}"#,
        &[("/storage/files/0/path", "not specified")],
    );
    check(r#""storage":{"files":[{"path":"/"}]}"#, &[]);
}

#[test]
fn duplicates_and_links() {
    check(
        r#""storage":{"files":[{"path":"/a"}],"links":[{"path":"/a","target":"/b"}]}"#,
        &[("/storage/links/0", "duplicate")],
    );
    check(
        r#""storage":{"files":[{"path":"/a/x"}],"links":[{"path":"/a","target":"/b"}]}"#,
        &[("/storage/files/0", "includes link")],
    );
    check(
        r#""storage":{"links":[{"path":"/l","target":"../d","hard":true}],"directories":[{"path":"/d"}]}"#,
        &[("/storage/links/0", "hard link target is a directory")],
    );
    check(
        r#""storage":{"links":[{"path":"/a"}]}"#,
        &[("/storage/links/0/target", "required")],
    );
    check(
        r#""kernelArguments":{"shouldExist":["a"],"shouldNotExist":["a"]}"#,
        &[("/kernelArguments/shouldNotExist/0", "duplicate")],
    );
}

#[test]
fn modes_and_owners() {
    check(
        r#""storage":{"files":[{"path":"/a","mode":4096}]}"#,
        &[("/storage/files/0/mode", "illegal")],
    );
    check(r#""storage":{"files":[{"path":"/a","mode":2541}]}"#, &[]);
    check(
        r#""storage":{"files":[{"path":"/a","user":{"id":1,"name":"x"}}]}"#,
        &[("/storage/files/0/user", "both")],
    );
}

#[test]
fn resources_and_hashes() {
    let h = crate::hash::sha512(b"hello");
    check(
        &format!(
            r#""storage":{{"files":[{{"path":"/a","contents":{{"source":"data:,hello","verification":{{"hash":"{h}"}}}}}}]}}"#
        ),
        &[],
    );
    check(
        &format!(
            r#""storage":{{"files":[{{"path":"/a","contents":{{"source":"data:,hellx","verification":{{"hash":"{h}"}}}}}}]}}"#
        ),
        &[(
            "/storage/files/0/contents/verification/hash",
            "do not match",
        )],
    );
    check(
        r#""storage":{"files":[{"path":"/a","contents":{"source":"data:,x","verification":{"hash":"sha512-abc"}}}]}"#,
        &[(
            "/storage/files/0/contents/verification/hash",
            "incorrect size",
        )],
    );
    check(
        r#""storage":{"files":[{"path":"/a","contents":{"source":"ftp://x"}}]}"#,
        &[("/storage/files/0/contents/source", "scheme")],
    );
    check(
        r#""storage":{"files":[{"path":"/a","contents":{"source":"data:,x","compression":"gzip"}}]}"#,
        &[("/storage/files/0/contents/source", "gzip")],
    );
    check(
        r#""storage":{"files":[{"path":"/a","overwrite":true}]}"#,
        &[("/storage/files/0/overwrite", "source")],
    );
    check(
        r#""storage":{"files":[{"path":"/a","contents":{"source":"data:,x","httpHeaders":[{"name":"a"}]}}]}"#,
        &[("/storage/files/0/contents/httpHeaders", "scheme")],
    );
}

#[test]
fn units_and_users() {
    check(
        r#""systemd":{"units":[{"name":"a.foo"}]}"#,
        &[("/systemd/units/0/name", "extension")],
    );
    check(
        r#""systemd":{"units":[{"name":"a.service","dropins":[{"name":"x.cfg"}]}]}"#,
        &[("/systemd/units/0/dropins/0/name", "drop-in")],
    );
    check(
        r#""systemd":{"units":[{"name":"a.service","contents":"[Unit"}]}"#,
        &[("/systemd/units/0/contents", "end of section")],
    );
    check(
        r#""passwd":{"users":[{"name":"a"},{"name":"a"}]}"#,
        &[("/passwd/users/1", "duplicate")],
    );
}

#[test]
fn devices() {
    check(
        r#""storage":{"filesystems":[{"device":"/d","label":"l"}]}"#,
        &[
            ("/storage/filesystems/0/format", "cannot be empty"),
            ("/storage/filesystems/0/label", "must specify format"),
        ],
    );
    check(
        r#""storage":{"disks":[{"device":"/d","partitions":[{}]}]}"#,
        &[("/storage/disks/0/partitions/0", "number >= 1")],
    );
    check(
        r#""storage":{"raid":[{"name":"r","level":"raid9","devices":["/a"]}]}"#,
        &[("/storage/raid/0/level", "unrecognized")],
    );
    check(
        r#""storage":{"luks":[{"name":"x"}]}"#,
        &[("/storage/luks/0/device", "required")],
    );
}

#[test]
fn fields_newer_than_the_version_are_warned_about() {
    let cfg = crate::Config::new(crate::Version::V3_2).kernel_argument("quiet");
    let r = super::validate(&cfg);
    assert!(!r.is_fatal(), "{r}");
    let w: Vec<&str> = r.warnings().map(|w| w.pointer.as_str()).collect();
    assert_eq!(w, ["/kernelArguments"]);
}
