//! Fuzz targets: one per parser of untrusted input, each a thin `fn(&[u8])` that hands the
//! bytes to the real entry point and checks what must hold for any input (no panic; for the
//! tarball extractor, nothing written outside its directory; for converters, output that their
//! own parser accepts). A target returns normally for every input the parser refuses.
//!
//! The same functions serve three runners: the afl.rs harness (`src/bin/solum-fuzz-afl.rs`,
//! built by `scripts/fuzz.sh`), the corpus replay of `cargo test` (`tests/corpus.rs`) and
//! `solum-fuzz-afl --replay` for one input. Seeds live in `corpus/<target>/`.

pub mod targets;

/// One fuzz target: its name (also its corpus directory) and what it fuzzes.
pub struct Target {
    pub name: &'static str,
    pub about: &'static str,
    pub run: fn(&[u8]),
}

/// Every target, in the order scripts run them.
pub const TARGETS: &[Target] = &[
    t("planfile", "Planfile v1 and app file v1 (solum-agent deploy, group: solum)", targets::agent::planfile),
    t("heat_document", "Heat metadata document: deployments list, os-collect-config block, merge", targets::heat::document),
    t("heat_deployment", "one software deployment: inputs, signal target, hook stdin, component, hook result, signal body", targets::heat::deployment),
    t("user_data", "MIME user_data and its cfn-init-data part", targets::heat::user_data),
    t("occ_conf", "/etc/os-collect-config.conf (INI)", targets::heat::occ_conf),
    t("cfn_answer", "the cfn transport's DescribeStackResource XML answer", targets::heat::cfn_answer),
    t("nova_metadata", "meta_data.json, network_data.json, vendor data, user_data; hostname and ssh keys from them", targets::metadata::nova),
    t("iso9660", "the ISO 9660 reader (Joliet, Rock Ridge) over an image in memory", targets::metadata::iso9660),
    t("config_drive", "a config drive image (ISO 9660 or vfat) read as solum-agent reads a device", targets::metadata::config_drive),
    t("source_tarball", "the safe tarball extractor, into a temporary directory: nothing may land outside it", targets::agent::source_tarball),
    t("dockerignore", ".dockerignore patterns and matching", targets::agent::dockerignore),
    t("buildpack", "buildpack bin/release YAML, Procfile, .buildpacks, the image environment", targets::agent::buildpack),
    t("element_deps", "element-deps / element-provides", targets::image::element_deps),
    t("package_installs", "package-installs.yaml / .json", targets::image::package_installs),
    t("pkg_map", "pkg-map", targets::image::pkg_map),
    t("vagrant_catalog", "an existing vagrant catalog (NAME.json) that -t vagrant adds a version to", targets::image::vagrant_catalog),
    t("element_names", "environment.d and hook file names, dib-run-parts order", targets::image::element_names),
    t("butane", "Butane (variant fcos) to Ignition, as solum-image ignition --butane reads a file", targets::ignition::butane),
    t("ignition", "Ignition config parsing and validation", targets::ignition::ignition),
    t("keystone", "Keystone token answers: the service catalog", targets::openstack::keystone),
    t("glance", "Glance answers: created image, image lists, import methods, image status, error bodies", targets::openstack::glance),
];

const fn t(name: &'static str, about: &'static str, run: fn(&[u8])) -> Target {
    Target { name, about, run }
}

/// The target called `name`.
pub fn find(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}
