//! What both formats share while turning raw YAML structs into the model: the error context
//! (file, text, warnings), deserializing with unknown-key warnings, the source of an artifact,
//! and checks across artifacts (names, ports).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use super::locate::{line_of, FieldPath};
use super::model::{Artifact, Secret, SourceSpec};
use super::PlanError;
use crate::source;

/// Unknown keys beyond this many are still reported, but without looking up their line.
const MAX_LOCATED_WARNINGS: usize = 50;

pub(super) struct Ctx<'a> {
    pub file: &'a Path,
    /// Relative source directories resolve against this (the file's directory).
    pub base: PathBuf,
    pub text: &'a str,
    pub source_override: Option<SourceSpec>,
    pub warnings: Vec<String>,
}

impl<'a> Ctx<'a> {
    pub fn new(
        file: &'a Path,
        base: PathBuf,
        text: &'a str,
        source_override: Option<SourceSpec>,
    ) -> Self {
        Ctx {
            file,
            base,
            text,
            source_override,
            warnings: Vec::new(),
        }
    }

    fn at_line(&self, path: &FieldPath) -> String {
        match line_of(self.text, path) {
            Some(line) => format!(" at line {line}"),
            None => String::new(),
        }
    }

    pub fn yaml_error(&self, e: &serde_norway::Error) -> PlanError {
        PlanError::new(format!("{}: {e}", self.file.display()))
    }

    pub fn error_at_file(&self, msg: &str) -> PlanError {
        PlanError::new(format!("{}: {msg}", self.file.display()))
    }

    /// An error about the field at `path`, with its line when it can be found.
    pub fn error(&self, path: &FieldPath, msg: &str) -> PlanError {
        PlanError::new(format!(
            "{}: {path}: {msg}{}",
            self.file.display(),
            self.at_line(path)
        ))
    }

    pub fn warn(&mut self, path: &FieldPath, msg: &str) {
        let line = if self.warnings.len() < MAX_LOCATED_WARNINGS {
            self.at_line(path)
        } else {
            String::new()
        };
        let w = format!("{}: {path}: {msg}{line}", self.file.display());
        self.warnings.push(w);
    }

    /// Deserializes the whole document, turning every unknown key into a warning.
    pub fn deserialize<T: DeserializeOwned>(&mut self) -> Result<T, PlanError> {
        let mut unknown = Vec::new();
        let de = serde_norway::Deserializer::from_str(self.text);
        let value = serde_ignored::deserialize(de, |p| unknown.push(FieldPath::from_ignored(&p)))
            .map_err(|e| self.yaml_error(&e))?;
        for path in unknown {
            self.warn(&path, "unknown key, ignored");
        }
        Ok(value)
    }

    /// The source of one artifact: the file's `href` (checked and classified, with `revision`
    /// and `sha256` applied), replaced by the override when there is one.
    pub fn source(
        &self,
        owner: &FieldPath,
        fields: SourceFields<'_>,
    ) -> Result<SourceSpec, PlanError> {
        let from_file = match fields.href {
            Some((path, href)) => {
                Some(self.classify(&path, href, fields.revision, fields.sha256)?)
            }
            None => {
                for (path, _) in [fields.revision, fields.sha256].into_iter().flatten() {
                    if self.source_override.is_none() {
                        return Err(
                            self.error(&path, &format!("given without `{}`", fields.href_name))
                        );
                    }
                }
                None
            }
        };
        match (&self.source_override, from_file) {
            (Some(over), _) => Ok(over.clone()),
            (None, Some(spec)) => Ok(spec),
            (None, None) => Err(self.error(
                owner,
                &format!(
                    "no source: set `{}` (or give a source override, e.g. --source)",
                    fields.href_name
                ),
            )),
        }
    }

    fn classify(
        &self,
        href_path: &FieldPath,
        href: &str,
        revision: Option<(FieldPath, &str)>,
        sha256: Option<(FieldPath, &str)>,
    ) -> Result<SourceSpec, PlanError> {
        let mut spec = source::classify_checked(href, &self.base)
            .map_err(|e| self.error(href_path, &e.to_string()))?;
        if let Some((path, rev)) = revision {
            let rev = rev.trim();
            if rev.starts_with('-') || rev.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(self.error(&path, &format!("invalid revision {rev:?}")));
            }
            match &mut spec {
                SourceSpec::Git {
                    revision: Some(frag),
                    ..
                } if frag != rev => {
                    return Err(self.error(
                        &path,
                        &format!("{rev:?} conflicts with the #{frag} of the source URL"),
                    ));
                }
                SourceSpec::Git { revision, .. } => *revision = Some(rev.to_owned()),
                _ => return Err(self.error(&path, "a revision only applies to git sources")),
            }
        }
        if let Some((path, sum)) = sha256 {
            let sum = sum.trim().to_ascii_lowercase();
            if !source::is_sha256_hex(&sum) {
                return Err(self.error(&path, "must be 64 hexadecimal digits"));
            }
            match &mut spec {
                SourceSpec::Tarball {
                    sha256: Some(frag), ..
                } if *frag != sum => {
                    return Err(self.error(&path, "conflicts with the #sha256= of the source URL"));
                }
                SourceSpec::Tarball { sha256, .. } => *sha256 = Some(sum),
                _ => return Err(self.error(&path, "a sha256 only applies to tarball sources")),
            }
        }
        Ok(spec)
    }

    /// Artifact names are unique, and so are ports (within and across artifacts).
    pub fn check_artifacts(&self, artifacts: &[(FieldPath, Artifact)]) -> Result<(), PlanError> {
        let mut names: HashSet<&str> = HashSet::new();
        let mut ports: HashMap<u16, &str> = HashMap::new();
        for (path, a) in artifacts {
            if !names.insert(&a.name) {
                return Err(self.error(
                    &path.key("name"),
                    &format!("artifact name {:?} is used twice", a.name),
                ));
            }
            for (i, p) in a.ports.iter().enumerate() {
                if let Some(other) = ports.insert(p.number, &a.name) {
                    let port_path = match &p.name {
                        Some(name) => path.key("ports").key(name),
                        None if a.ports.len() > 1 => path.key("ports").index(i),
                        None => path.key("ports"),
                    };
                    let whose = if other == a.name {
                        "this artifact".to_owned()
                    } else {
                        format!("artifact {other:?}")
                    };
                    return Err(self.error(
                        &port_path,
                        &format!("port {} is already used by {whose}", p.number),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Where an artifact's source fields are and what they say.
pub(super) struct SourceFields<'r> {
    /// How the href is written in this format, for messages (`content.href`, `source.repository`).
    pub href_name: &'static str,
    pub href: Option<(FieldPath, &'r str)>,
    pub revision: Option<(FieldPath, &'r str)>,
    pub sha256: Option<(FieldPath, &'r str)>,
}

/// An empty token counts as none.
pub(super) fn secret(token: Option<String>) -> Option<Secret> {
    token
        .filter(|t| !t.trim().is_empty())
        .map(|t| Secret(t.trim().to_owned()))
}
