//! Butane input (`variant: fcos`, versions 1.0.0 to 1.5.0): the subset people write by hand
//! (files with inline/local contents and octal modes, directories, links, units with dropins,
//! users, groups, kernel arguments), converted into a validated Ignition config. Unknown keys
//! are errors with their YAML line. Local files come through a caller-given resolver.

use crate::report::{Report, Warning};
use crate::types as ign;
use crate::types::Config;
use crate::version::Version;
use crate::Error;
use schema::{Butane, Mode, Resource};

/// Resolves `contents.local` / `contents_local` names to bytes (the caller does the I/O).
pub type LocalResolver<'a> = &'a dyn Fn(&str) -> Result<Vec<u8>, String>;

/// Checks a `local` name before a resolver joins it to its files directory: it must be a
/// relative path that stays inside that directory (no `..`, no absolute path, no empty name).
pub fn check_local_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty local file name".into());
    }
    if name.starts_with('/') || name.contains('\\') {
        return Err(format!(
            "{name:?} must be a relative path inside the files directory"
        ));
    }
    if name.split('/').any(|seg| seg == "..") {
        return Err(format!("{name:?} leaves the files directory"));
    }
    Ok(())
}

/// The Ignition spec version a Butane `fcos` version translates to.
pub fn fcos_target(version: &str) -> Option<Version> {
    Some(match version {
        "1.0.0" => Version::V3_0,
        "1.1.0" => Version::V3_1,
        "1.2.0" | "1.3.0" => Version::V3_2,
        "1.4.0" => Version::V3_3,
        "1.5.0" => Version::V3_4,
        _ => return None,
    })
}

fn err(at: &str, message: impl std::fmt::Display) -> Error {
    Error::Butane {
        line: None,
        message: format!("{at}: {message}"),
    }
}

/// Converts Butane YAML into a validated Ignition config plus its warnings.
pub fn butane_to_ignition(
    yaml: &str,
    local: LocalResolver,
) -> Result<(Config, Vec<Warning>), Error> {
    let b: Butane =
        solum_limits::yaml::from_str(yaml, &solum_limits::Budget::DEFAULT).map_err(|e| {
            Error::Butane {
                line: e.line(),
                message: crate::error::redact(&e.to_string()),
            }
        })?;
    if b.variant != "fcos" {
        return Err(err(
            "variant",
            format!("{:?} is not supported (only \"fcos\")", b.variant),
        ));
    }
    let version = fcos_target(&b.version).ok_or_else(|| {
        err(
            "version",
            format!(
                "{:?} is not a known fcos version (1.0.0 to 1.5.0)",
                b.version
            ),
        )
    })?;
    let mut cfg = Config::new(version);
    cfg.kernel_arguments = ign::KernelArguments {
        should_exist: b.kernel_arguments.should_exist,
        should_not_exist: b.kernel_arguments.should_not_exist,
    };
    for (i, f) in b.storage.files.into_iter().enumerate() {
        let at = format!("storage.files[{i}]");
        let contents = match f.contents {
            Some(c) => resource(c, &format!("{at}.contents"), local)?,
            None => ign::Resource::default(),
        };
        let append = f
            .append
            .into_iter()
            .enumerate()
            .map(|(j, a)| resource(a, &format!("{at}.append[{j}]"), local))
            .collect::<Result<_, _>>()?;
        cfg.storage.files.push(ign::File {
            path: f.path,
            overwrite: f.overwrite,
            user: ign::NodeUser {
                id: f.user.id,
                name: f.user.name,
            },
            group: ign::NodeGroup {
                id: f.group.id,
                name: f.group.name,
            },
            mode: mode(f.mode, &format!("{at}.mode"))?,
            contents,
            append,
        });
    }
    for (i, d) in b.storage.directories.into_iter().enumerate() {
        cfg.storage.directories.push(ign::Directory {
            path: d.path,
            overwrite: d.overwrite,
            user: ign::NodeUser {
                id: d.user.id,
                name: d.user.name,
            },
            group: ign::NodeGroup {
                id: d.group.id,
                name: d.group.name,
            },
            mode: mode(d.mode, &format!("storage.directories[{i}].mode"))?,
        });
    }
    for l in b.storage.links {
        cfg.storage.links.push(ign::Link {
            path: l.path,
            overwrite: l.overwrite,
            user: ign::NodeUser {
                id: l.user.id,
                name: l.user.name,
            },
            group: ign::NodeGroup {
                id: l.group.id,
                name: l.group.name,
            },
            target: l.target,
            hard: l.hard,
        });
    }
    for (i, u) in b.systemd.units.into_iter().enumerate() {
        let at = format!("systemd.units[{i}]");
        let contents = text(u.contents, u.contents_local, &at, local)?;
        let mut dropins = Vec::new();
        for (j, d) in u.dropins.into_iter().enumerate() {
            let dat = format!("{at}.dropins[{j}]");
            let contents = text(d.contents, d.contents_local, &dat, local)?;
            dropins.push(ign::Dropin {
                name: d.name,
                contents,
            });
        }
        cfg.systemd.units.push(ign::Unit {
            name: u.name,
            enabled: u.enabled,
            mask: u.mask,
            contents,
            dropins,
        });
    }
    for (i, u) in b.passwd.users.into_iter().enumerate() {
        let mut keys = u.ssh_authorized_keys;
        for name in &u.ssh_authorized_keys_local {
            let at = format!("passwd.users[{i}].ssh_authorized_keys_local");
            keys.extend(key_lines(name, &at, local)?);
        }
        cfg.passwd.users.push(ign::PasswdUser {
            name: u.name,
            password_hash: u.password_hash,
            ssh_authorized_keys: keys,
            uid: u.uid,
            gecos: u.gecos,
            home_dir: u.home_dir,
            no_create_home: u.no_create_home,
            primary_group: u.primary_group,
            groups: u.groups,
            no_user_group: u.no_user_group,
            no_log_init: u.no_log_init,
            shell: u.shell,
            system: u.system,
            should_exist: u.should_exist,
        });
    }
    for g in b.passwd.groups {
        cfg.passwd.groups.push(ign::PasswdGroup {
            name: g.name,
            gid: g.gid,
            password_hash: g.password_hash,
            system: g.system,
            should_exist: g.should_exist,
        });
    }
    let mut report = Report::default();
    // Fields the target version lacks are dropped (with a warning) as a parser would.
    let mut value = serde_json::to_value(&cfg).map_err(|e| err("output", e))?;
    crate::version::gate(&mut value, version, &mut report);
    let cfg: Config = serde_json::from_value(value).map_err(|e| err("output", e))?;
    crate::validate::validate_as(&cfg, version, &mut report);
    if report.is_fatal() {
        return Err(Error::Invalid(report));
    }
    Ok((cfg, report.entries))
}

/// The keys in a local authorized_keys file: one per non-empty, non-comment line.
fn key_lines(name: &str, at: &str, local: LocalResolver) -> Result<Vec<String>, Error> {
    let bytes = local(name).map_err(|e| err(at, format!("{name:?}: {e}")))?;
    let text =
        String::from_utf8(bytes).map_err(|_| err(at, format!("{name:?} is not UTF-8 text")))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect())
}

/// Octal when written with a leading zero (`0644`), as Butane reads YAML; else decimal.
fn mode(m: Option<Mode>, at: &str) -> Result<Option<i64>, Error> {
    match m {
        None => Ok(None),
        Some(Mode::Int(n)) => Ok(Some(n)),
        Some(Mode::Text(s)) => {
            let digits = s.strip_prefix('0').filter(|d| !d.is_empty());
            digits
                .and_then(|d| i64::from_str_radix(d, 8).ok())
                .map(Some)
                .ok_or_else(|| err(at, format!("{s:?} is not a mode (write e.g. 0644)")))
        }
    }
}

fn text(
    inline: Option<String>,
    file: Option<String>,
    at: &str,
    local: LocalResolver,
) -> Result<Option<String>, Error> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(err(
            at,
            "contents and contents_local are mutually exclusive",
        )),
        (Some(s), None) => Ok(Some(s)),
        (None, Some(name)) => {
            let bytes =
                local(&name).map_err(|e| err(at, format!("contents_local {name:?}: {e}")))?;
            String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| err(at, format!("contents_local {name:?} is not UTF-8 text")))
        }
        (None, None) => Ok(None),
    }
}

fn resource(r: Resource, at: &str, local: LocalResolver) -> Result<ign::Resource, Error> {
    let data = match (r.source.is_some(), r.inline, r.local) {
        (false, Some(s), None) => Some(s.into_bytes()),
        (false, None, Some(name)) => {
            Some(local(&name).map_err(|e| err(at, format!("local {name:?}: {e}")))?)
        }
        (_, None, None) => None,
        _ => return Err(err(at, "only one of source, inline and local may be given")),
    };
    let Some(data) = data else {
        return Ok(ign::Resource {
            compression: r.compression,
            http_headers: r
                .http_headers
                .into_iter()
                .map(|h| ign::HttpHeader {
                    name: h.name,
                    value: h.value,
                })
                .collect(),
            source: r.source,
            verification: ign::Verification {
                hash: r.verification.hash,
            },
        });
    };
    if r.compression.is_some() || !r.http_headers.is_empty() {
        return Err(err(
            at,
            "compression and http_headers only apply to a source URL",
        ));
    }
    let mut res = ign::Resource::from_bytes(&data);
    if r.verification.hash.is_some() {
        res.verification.hash = r.verification.hash;
    }
    Ok(res)
}

mod schema;
#[cfg(test)]
mod tests;
