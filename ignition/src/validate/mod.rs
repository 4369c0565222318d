//! Validation of a parsed config, rule for rule as Ignition's `ignition-validate` does it
//! (errors and warnings at JSON pointers), plus one stricter check of our own: embedded
//! `data:` contents must match their `verification.hash` and decompress (see `contents`).

mod contents;
pub use contents::embedded_contents as contents_of;
mod devices;
mod nodes;

use std::collections::HashSet;

use crate::report::{join, Report};
use crate::types::{Config, Resource};
use crate::unit;
use crate::url;
use crate::version::Version;
use crate::{hash, Error};

pub(crate) const DUPLICATE: &str = "duplicate entry defined";

/// Validates `cfg` for the version named in `cfg.ignition.version`. Fields that version lacks
/// (e.g. `kernelArguments` in 3.2.0) are warnings, as Ignition ignores them.
pub fn validate(cfg: &Config) -> Report {
    let mut r = Report::default();
    let v = match Version::parse(&cfg.ignition.version) {
        Ok(v) => v,
        Err(e) => {
            r.error("/ignition/version", strip_kind(&e));
            return r;
        }
    };
    if v < Version::V3_4 {
        if let Ok(mut value) = serde_json::to_value(cfg) {
            crate::version::gate(&mut value, v, &mut r);
        }
    }
    validate_as(cfg, v, &mut r);
    r
}

fn strip_kind(e: &Error) -> String {
    let s = e.to_string();
    s.split_once(": ").map(|(_, m)| m.to_string()).unwrap_or(s)
}

/// Validates `cfg` under the rules of spec `v` (fields `v` lacks must already be gated off).
pub fn validate_as(cfg: &Config, v: Version, r: &mut Report) {
    let ig = &cfg.ignition;
    for (i, m) in ig.config.merge.iter().enumerate() {
        required_resource(m, &join("/ignition/config/merge", i), v, r);
    }
    dups(
        ig.config
            .merge
            .iter()
            .map(|m| m.source.clone().unwrap_or_default()),
        "/ignition/config/merge",
        r,
    );
    if ig.config.replace != Resource::default() {
        resource(&ig.config.replace, "/ignition/config/replace", v, r);
    }
    let cas = &ig.security.tls.certificate_authorities;
    let ca_ptr = "/ignition/security/tls/certificateAuthorities";
    for (i, ca) in cas.iter().enumerate() {
        required_resource(ca, &join(ca_ptr, i), v, r);
    }
    dups(
        cas.iter().map(|c| c.source.clone().unwrap_or_default()),
        ca_ptr,
        r,
    );
    for (key, val) in [
        ("httpProxy", &ig.proxy.http_proxy),
        ("httpsProxy", &ig.proxy.https_proxy),
    ] {
        if let Some(p) = val.as_deref() {
            if url::check_http(p).is_err() {
                r.error(join("/ignition/proxy", key), "proxies must be http(s)");
            }
        }
    }
    dups(ig.proxy.no_proxy.iter(), "/ignition/proxy/noProxy", r);
    let ka = &cfg.kernel_arguments;
    let mut seen = HashSet::new();
    for (list, name) in [
        (&ka.should_exist, "shouldExist"),
        (&ka.should_not_exist, "shouldNotExist"),
    ] {
        for (i, a) in list.iter().enumerate() {
            if !seen.insert(a.as_str()) {
                r.error(join(&join("/kernelArguments", name), i), DUPLICATE);
            }
        }
    }
    nodes::validate(&cfg.storage, v, r);
    devices::validate(&cfg.storage, v, r);
    systemd(cfg, r);
    passwd(cfg, r);
    contents::validate(cfg, r);
}

/// Reports every entry whose key was already seen, at the later entry's pointer.
pub(crate) fn dups<K: Eq + std::hash::Hash>(
    keys: impl Iterator<Item = K>,
    ptr: &str,
    r: &mut Report,
) {
    let mut seen = HashSet::new();
    for (i, k) in keys.enumerate() {
        if !seen.insert(k) {
            r.error(join(ptr, i), DUPLICATE);
        }
    }
}

/// A resource that must name a source (config merge, CA certificates).
fn required_resource(res: &Resource, ptr: &str, v: Version, r: &mut Report) {
    if v == Version::V3_0 {
        // 3.0.0 config references need no source; CA references check theirs as a URL.
        if ptr.contains("certificateAuthorities") && res.source.as_deref().unwrap_or("").is_empty()
        {
            r.error(join(ptr, "source"), url::SCHEME);
        }
        return resource(res, ptr, v, r);
    }
    match res.source.as_deref().filter(|s| !s.is_empty()) {
        None => r.error(ptr, "source is required"),
        Some(src) => {
            if let Err(e) = url::check_source(src, v) {
                r.error(ptr, e);
            }
        }
    }
    resource(res, ptr, v, r);
}

/// Checks compression, hash format, source URL and HTTP headers of one resource.
pub(crate) fn resource(res: &Resource, ptr: &str, v: Version, r: &mut Report) {
    if let Some(c) = res.compression.as_deref() {
        if !matches!(c, "" | "gzip") {
            r.error(join(ptr, "compression"), "invalid compression method");
        }
    }
    if let Some(h) = res.verification.hash.as_deref() {
        let hp = format!("{ptr}/verification/hash");
        if res.source.is_none() {
            r.error(&hp, "source must be specified if verification is specified");
        }
        if let Err(e) = hash::parse(h, v >= Version::V3_1) {
            r.error(&hp, e.message());
        }
    }
    if let Some(src) = res.source.as_deref().filter(|s| !s.is_empty()) {
        if let Err(e) = url::check_source(src, v) {
            r.error(join(ptr, "source"), e);
        }
    }
    if !res.http_headers.is_empty() {
        let hp = join(ptr, "httpHeaders");
        match res
            .source
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(url::scheme)
        {
            None | Some(Err(_)) => r.error(&hp, url::PARSE),
            Some(Ok(s)) if s != "http" && s != "https" => {
                r.error(&hp, "cannot use HTTP headers with this source scheme")
            }
            Some(Ok(_)) => {}
        }
        for (i, h) in res.http_headers.iter().enumerate() {
            if h.name.is_empty() {
                r.error(
                    join(&join(&hp, i), "name"),
                    "HTTP header name can't be empty",
                );
            }
        }
        dups(res.http_headers.iter().map(|h| h.name.as_str()), &hp, r);
    }
}

const UNIT_SUFFIXES: [&str; 12] = [
    "service",
    "socket",
    "device",
    "mount",
    "automount",
    "swap",
    "target",
    "path",
    "timer",
    "snapshot",
    "slice",
    "scope",
];

/// Go's `path.Ext`: the suffix after the last dot of the last path element.
fn ext(name: &str) -> &str {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.rfind('.').map(|i| &base[i + 1..]).unwrap_or("")
}

fn systemd(cfg: &Config, r: &mut Report) {
    let units = &cfg.systemd.units;
    for (i, u) in units.iter().enumerate() {
        let up = join("/systemd/units", i);
        let ext_ok = name_has_ext(&u.name) && UNIT_SUFFIXES.contains(&ext(&u.name));
        if !ext_ok {
            r.error(join(&up, "name"), "invalid systemd unit extension");
        }
        let cp = join(&up, "contents");
        match unit::parse(u.contents.as_deref().unwrap_or("")) {
            Err(e) => r.error(&cp, format!("invalid unit content: {e}")),
            Ok(opts) => {
                let has_contents = u.contents.as_deref().is_some_and(|c| !c.is_empty());
                if u.enabled == Some(true) && has_contents && !unit::has_install_section(&opts) {
                    r.warn(&cp, format!("unit {:?} is enabled, but has no install section so enable does nothing", u.name));
                }
            }
        }
        for (j, d) in u.dropins.iter().enumerate() {
            let dp = join(&join(&up, "dropins"), j);
            if let Err(e) = unit::parse(d.contents.as_deref().unwrap_or("")) {
                r.error(join(&dp, "contents"), format!("invalid unit content: {e}"));
            }
            if !name_has_ext(&d.name) || ext(&d.name) != "conf" {
                r.error(join(&dp, "name"), "invalid systemd drop-in extension");
            }
        }
        dups(
            u.dropins.iter().map(|d| d.name.as_str()),
            &join(&up, "dropins"),
            r,
        );
    }
    dups(units.iter().map(|u| u.name.as_str()), "/systemd/units", r);
}

fn name_has_ext(name: &str) -> bool {
    name.rsplit('/').next().is_some_and(|b| b.contains('.'))
}

fn passwd(cfg: &Config, r: &mut Report) {
    let users = &cfg.passwd.users;
    for (i, u) in users.iter().enumerate() {
        let up = join("/passwd/users", i);
        dups(
            u.ssh_authorized_keys.iter(),
            &join(&up, "sshAuthorizedKeys"),
            r,
        );
        dups(u.groups.iter(), &join(&up, "groups"), r);
    }
    dups(users.iter().map(|u| u.name.as_str()), "/passwd/users", r);
    dups(
        cfg.passwd.groups.iter().map(|g| g.name.as_str()),
        "/passwd/groups",
        r,
    );
}

#[cfg(test)]
mod tests;
