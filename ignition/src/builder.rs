//! One-line constructors for the common things: a file from bytes (embedded as a `data:` URL,
//! gzipped when that is smaller, with its sha512), a unit with dropins, a user with keys.

use std::io::Write;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use flate2::write::GzEncoder;
use flate2::Compression;

use crate::report::{Report, Warning};
use crate::types::*;
use crate::version::Version;
use crate::{dataurl, hash, validate, Error};

/// Below this size gzip never pays off for a `data:` URL.
const GZIP_MIN: usize = 256;

fn gzip(data: &[u8]) -> Option<Vec<u8>> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::best());
    enc.write_all(data).ok()?;
    enc.finish().ok()
}

impl Resource {
    /// Embeds `data` as a `data:` URL (the shortest of percent, base64 and gzip+base64) with
    /// `verification.hash` = sha512 of `data` itself (Ignition hashes decompressed contents).
    pub fn from_bytes(data: &[u8]) -> Resource {
        let mut res = Resource {
            source: Some(dataurl::encode(data)),
            verification: Verification {
                hash: Some(hash::sha512(data)),
            },
            ..Default::default()
        };
        if data.len() >= GZIP_MIN {
            if let Some(gz) = gzip(data) {
                let url = format!("data:;base64,{}", STANDARD.encode(gz));
                if res.source.as_ref().is_some_and(|s| url.len() < s.len()) {
                    res.source = Some(url);
                    res.compression = Some("gzip".into());
                }
            }
        }
        res
    }

    /// A resource fetched from `url` (no hash).
    pub fn from_url(url: &str) -> Resource {
        Resource {
            source: Some(url.to_string()),
            ..Default::default()
        }
    }
}

impl File {
    /// A file at `path` with `data` and octal permissions `mode` (e.g. `0o644`).
    pub fn from_bytes(path: &str, data: &[u8], mode: u32) -> File {
        File {
            path: path.to_string(),
            mode: Some(i64::from(mode)),
            contents: Resource::from_bytes(data),
            overwrite: Some(true),
            ..Default::default()
        }
    }
}

impl Directory {
    pub fn new(path: &str, mode: u32) -> Directory {
        Directory {
            path: path.to_string(),
            mode: Some(i64::from(mode)),
            ..Default::default()
        }
    }
}

impl Link {
    pub fn symlink(path: &str, target: &str) -> Link {
        Link {
            path: path.to_string(),
            target: Some(target.to_string()),
            ..Default::default()
        }
    }
}

impl Unit {
    /// A unit with contents; chain `.enabled()`, `.dropin(..)`.
    pub fn new(name: &str, contents: &str) -> Unit {
        Unit {
            name: name.to_string(),
            contents: Some(contents.to_string()),
            ..Default::default()
        }
    }

    /// Only dropins for an existing unit (e.g. a distribution's `getty@.service`).
    pub fn dropins_only(name: &str) -> Unit {
        Unit {
            name: name.to_string(),
            ..Default::default()
        }
    }

    pub fn enabled(mut self) -> Unit {
        self.enabled = Some(true);
        self
    }

    pub fn masked(mut self) -> Unit {
        self.mask = Some(true);
        self
    }

    pub fn dropin(mut self, name: &str, contents: &str) -> Unit {
        self.dropins.push(Dropin {
            name: name.to_string(),
            contents: Some(contents.to_string()),
        });
        self
    }
}

impl PasswdUser {
    pub fn with_keys<S: AsRef<str>>(name: &str, keys: &[S]) -> PasswdUser {
        PasswdUser {
            name: name.to_string(),
            ssh_authorized_keys: keys.iter().map(|k| k.as_ref().to_string()).collect(),
            ..Default::default()
        }
    }
}

impl Config {
    /// An empty config of spec `version`.
    pub fn new(version: Version) -> Config {
        let mut c = Config::default();
        c.ignition.version = version.as_str().to_string();
        c
    }

    pub fn file(mut self, path: &str, data: &[u8], mode: u32) -> Config {
        self.storage.files.push(File::from_bytes(path, data, mode));
        self
    }

    pub fn directory(mut self, path: &str, mode: u32) -> Config {
        self.storage.directories.push(Directory::new(path, mode));
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Config {
        self.storage.links.push(Link::symlink(path, target));
        self
    }

    pub fn unit(mut self, unit: Unit) -> Config {
        self.systemd.units.push(unit);
        self
    }

    pub fn user<S: AsRef<str>>(mut self, name: &str, keys: &[S]) -> Config {
        self.passwd.users.push(PasswdUser::with_keys(name, keys));
        self
    }

    pub fn kernel_argument(mut self, arg: &str) -> Config {
        self.kernel_arguments.should_exist.push(arg.to_string());
        self
    }

    /// Validates and returns the config with its warnings, or `Error::Invalid`.
    pub fn validated(self) -> Result<(Config, Vec<Warning>), Error> {
        let report: Report = validate(&self);
        if report.is_fatal() {
            return Err(Error::Invalid(report));
        }
        Ok((self, report.entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::contents_of;

    #[test]
    fn common_things_are_one_line_each_and_valid() {
        let big = "line of text\n".repeat(200);
        let (cfg, warnings) = Config::new(Version::V3_3)
            .file("/etc/motd", b"hello world\n", 0o644)
            .file("/etc/big.txt", big.as_bytes(), 0o600)
            .file("/usr/local/bin/x", &[0, 1, 2, 255], 0o755)
            .directory("/var/lib/app", 0o750)
            .symlink("/etc/localtime", "/usr/share/zoneinfo/UTC")
            .unit(
                Unit::new(
                    "app.service",
                    "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
                )
                .enabled(),
            )
            .unit(
                Unit::dropins_only("getty@.service")
                    .dropin("10-autologin.conf", "[Service]\nExecStart=\n"),
            )
            .user("core", &["ssh-ed25519 AAAAC3Nza core@host"])
            .kernel_argument("console=ttyS0")
            .validated()
            .expect("valid");
        assert!(warnings.is_empty(), "{warnings:?}");
        let files = &cfg.storage.files;
        assert_eq!(files[0].mode, Some(420));
        assert_eq!(
            files[0].contents.source.as_deref(),
            Some("data:,hello%20world%0A")
        );
        assert_eq!(files[1].contents.compression.as_deref(), Some("gzip"));
        assert_eq!(contents_of(&files[1].contents), Some(Ok(big.into_bytes())));
        assert_eq!(
            contents_of(&files[2].contents),
            Some(Ok(vec![0, 1, 2, 255]))
        );
        let json = crate::to_json(&cfg);
        let back = crate::parse_valid(json.as_bytes()).expect("round trip").0;
        assert_eq!(back, cfg);
    }

    #[test]
    fn invalid_built_configs_are_refused() {
        let e = Config::new(Version::V3_3)
            .file("etc/motd", b"x", 0o644)
            .validated()
            .expect_err("relative path");
        assert!(e.to_string().contains("/storage/files/0/path"), "{e}");
    }
}
