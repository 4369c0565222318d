//! solum-image's element files: element-deps, package-installs, pkg-map, file names.

use std::collections::BTreeMap;
use std::path::Path;

use solum_image::element::parse_names;
use solum_image::packages::{self, Format, PkgMap, Target};
use solum_image::plan::package_steps;
use solum_image::runparts;

use super::utf8;

fn target() -> Target {
    Target {
        distro: "debian".into(),
        family: "debian".into(),
        release: "bookworm".into(),
        arch: "amd64".into(),
        env: BTreeMap::from([("DIB_FOO".into(), "1".into())]),
    }
}

/// `element-deps` / `element-provides` (read as UTF-8 text).
pub fn element_deps(data: &[u8]) {
    let Some(text) = utf8(data) else { return };
    let _ = parse_names(text, Path::new("/elements/fuzz/element-deps"));
}

/// `package-installs.yaml` (or `.json` when the input starts with `{`), then the package steps
/// of the plan with an empty pkg-map.
pub fn package_installs(data: &[u8]) {
    let Some(text) = utf8(data) else { return };
    let format = if text.trim_start().starts_with('{') {
        Format::Json
    } else {
        Format::Yaml
    };
    let file = Path::new("/elements/fuzz/package-installs.yaml");
    let Ok(entries) = packages::parse_package_installs(text, file, format) else {
        return;
    };
    let entries: Vec<(String, packages::PackageEntry)> = entries
        .into_iter()
        .map(|e| ("fuzz".to_string(), e))
        .collect();
    package_steps(&entries, &BTreeMap::new(), &target());
}

/// An existing vagrant catalog (`NAME.json`) as `-t vagrant` reads it before adding a
/// version: the next version, the version of a checksum, the catalog with a version added.
pub fn vagrant_catalog(data: &[u8]) {
    use solum_image::vagrant;
    let Ok(doc) = vagrant::parse_catalog(data, "app", Path::new("/out/app.json")) else {
        return;
    };
    let version = vagrant::next_version(Some(&doc), "20261207");
    assert!(version.starts_with("20261207."), "{version}");
    let _ = vagrant::version_with_checksum(&doc, "ab12");
    let added = vagrant::add_version(Some(doc), "app", &version, "file:///b", "ab12", "fuzz");
    let text = vagrant::render(&added);
    let again = vagrant::parse_catalog(text.as_bytes(), "app", Path::new("/out/app.json"))
        .expect("a catalog with a version added is a catalog");
    assert!(
        vagrant::version_with_checksum(&again, "ab12").is_some(),
        "the added version is found by its checksum"
    );
}

/// `pkg-map` (JSON), then the names it maps for the build's target.
pub fn pkg_map(data: &[u8]) {
    let Some(text) = utf8(data) else { return };
    let Ok(map) = PkgMap::parse(text, Path::new("/elements/fuzz/pkg-map")) else {
        return;
    };
    let t = target();
    let flat = map.flatten(&t);
    for name in flat.keys().take(64) {
        map.map(name, &t);
    }
    map.map("not-mapped", &t);
}

/// File names of `environment.d/` and the phase directories, one a line: which are used, and
/// dib-run-parts' order (`sort -n`).
pub fn element_names(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut env: Vec<&str> = text.lines().filter(|n| runparts::is_env_name(n)).collect();
    let mut hooks: Vec<&str> = text.lines().filter(|n| runparts::is_hook_name(n)).collect();
    runparts::sort_n(&mut env);
    runparts::sort_n(&mut hooks);
    for pair in env.windows(2) {
        assert_ne!(
            runparts::sort_n_cmp(pair[0], pair[1]),
            std::cmp::Ordering::Greater,
            "sort_n left {:?} before {:?}",
            pair[0],
            pair[1]
        );
    }
}
