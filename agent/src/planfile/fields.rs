//! Validating newtypes for Planfile fields. Validation happens inside `Deserialize`, so the YAML
//! parser attaches the field path and line to every error for free.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::model::{ArtifactKind, Instances, LanguagePack, Port, MAX_INSTANCES};

/// `version`: only 1 exists (written `1` or `"1"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version;

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Version;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("version 1")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Version, E> {
                if v == 1 {
                    Ok(Version)
                } else {
                    Err(E::custom(format!(
                        "unsupported version {v}: only version 1 exists"
                    )))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Version, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!(
                        "unsupported version {v}: only version 1 exists"
                    ))),
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Version, E> {
                if v.trim() == "1" {
                    Ok(Version)
                } else {
                    Err(E::custom(format!(
                        "unsupported version {v:?}: only version 1 exists"
                    )))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// Is `s` a valid plan, artifact or port name (`^[a-zA-Z0-9-_]{1,100}$`)?
pub fn is_valid_name(s: &str) -> bool {
    (1..=100).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Is `s` usable as an environment variable name (`^[A-Za-z_][A-Za-z0-9_]*$`)?
pub fn is_env_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn name_error(what: &str, s: &str) -> String {
    let shown: String = s.chars().take(120).collect();
    format!("invalid {what} {shown:?}: must match ^[a-zA-Z0-9-_]{{1,100}}$")
}

/// Reads a string scalar (numbers and booleans as written) and checks it inside the visitor, so
/// the YAML parser attaches the value's own path and line to the error.
fn checked_str<'de, D, T>(
    d: D,
    expecting: &'static str,
    check: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    struct V<F>(&'static str, F);
    impl<T, F: FnOnce(&str) -> Result<T, String>> Visitor<'_> for V<F> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            (self.1)(v).map_err(E::custom)
        }
    }
    d.deserialize_str(V(expecting, check))
}

/// A known key that solum-agent does not use (`services`, `requirements`, ...). Read as a
/// value (not skipped) so that serde_ignored does not report it as unknown.
#[derive(Debug, Clone, PartialEq)]
pub struct Unsupported;

impl<'de> Deserialize<'de> for Unsupported {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde_norway::Value::deserialize(d).map(|_| Unsupported)
    }
}

/// A plan or artifact name, checked against `^[a-zA-Z0-9-_]{1,100}$`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(pub String);

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked_str(d, "a name", |s| {
            if is_valid_name(s) {
                Ok(Name(s.to_owned()))
            } else {
                Err(name_error("name", s))
            }
        })
    }
}

/// One port number, 1-65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortNumber(pub u16);

fn port_from_u64<E: de::Error>(v: u64) -> Result<u16, E> {
    match u16::try_from(v) {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(E::custom(format!("invalid port {v}: must be 1-65535"))),
    }
}

impl<'de> Deserialize<'de> for PortNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = PortNumber;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a port number (an integer 1-65535)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PortNumber, E> {
                port_from_u64(v).map(PortNumber)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PortNumber, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!("invalid port {v}: must be 1-65535"))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// A port name (the key of `ports: {http: 5000}`), same rule as other names.
struct PortName(String);

impl<'de> Deserialize<'de> for PortName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked_str(d, "a port name", |s| {
            if is_valid_name(s) {
                Ok(PortName(s.to_owned()))
            } else {
                Err(name_error("port name", s))
            }
        })
    }
}

/// `ports`: `5000`, `[5000, 5001]` or `{http: 5000}`; never empty; order kept (first is `$PORT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ports(pub Vec<Port>);

impl<'de> Deserialize<'de> for Ports {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ports;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a port number (1-65535), a list of them or a map of name to port")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Ports, E> {
                let number = port_from_u64(v)?;
                Ok(Ports(vec![Port { name: None, number }]))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Ports, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!("invalid port {v}: must be 1-65535"))),
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Ports, A::Error> {
                let mut ports = Vec::new();
                while let Some(PortNumber(number)) = seq.next_element()? {
                    ports.push(Port { name: None, number });
                }
                non_empty(ports)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ports, A::Error> {
                let mut ports = Vec::new();
                while let Some((PortName(name), PortNumber(number))) = map.next_entry()? {
                    ports.push(Port {
                        name: Some(name),
                        number,
                    });
                }
                non_empty(ports)
            }
        }
        d.deserialize_any(V)
    }
}

fn non_empty<E: de::Error>(ports: Vec<Port>) -> Result<Ports, E> {
    if ports.is_empty() {
        Err(E::custom(
            "ports must not be empty (leave `ports` out for the default 80)",
        ))
    } else {
        Ok(Ports(ports))
    }
}

/// One `parameters` value: any scalar, kept as written (numbers and booleans become strings).
struct ParamValue(String);

/// Reads the value of parameter `.0` (named in the error for a missing value).
struct ParamSeed<'k>(&'k str);

impl<'de> de::DeserializeSeed<'de> for ParamSeed<'_> {
    type Value = ParamValue;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<ParamValue, D::Error> {
        let key = self.0;
        struct Scalar;
        impl Visitor<'_> for Scalar {
            type Value = ParamValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ParamValue, E> {
                Ok(ParamValue(v.to_owned()))
            }
        }
        struct NotNull<'k>(&'k str);
        impl<'de> Visitor<'de> for NotNull<'_> {
            type Value = ParamValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_none<E: de::Error>(self) -> Result<ParamValue, E> {
                Err(E::custom(format!(
                    "parameter {} has no value (write \"\" for an empty string)",
                    self.0
                )))
            }
            fn visit_unit<E: de::Error>(self) -> Result<ParamValue, E> {
                self.visit_none()
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<ParamValue, D2::Error> {
                d.deserialize_str(Scalar)
            }
        }
        d.deserialize_option(NotNull(key))
    }
}

/// A `parameters` key: a valid environment variable name.
struct ParamKey(String);

impl<'de> Deserialize<'de> for ParamKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked_str(d, "a parameter name", |s| {
            if is_env_name(s) {
                Ok(ParamKey(s.to_owned()))
            } else {
                let shown: String = s.chars().take(120).collect();
                Err(format!(
                    "invalid parameter name {shown:?}: must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)"
                ))
            }
        })
    }
}

/// `parameters`: a map of environment variable names to scalars.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parameters(pub BTreeMap<String, String>);

impl<'de> Deserialize<'de> for Parameters {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Parameters;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of environment variable names to strings, numbers or booleans")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parameters, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(ParamKey(key)) = map.next_key()? {
                    let ParamValue(value) = map.next_value_seed(ParamSeed(&key))?;
                    if out.insert(key.clone(), value).is_some() {
                        return Err(de::Error::custom(format!("parameter {key} is given twice")));
                    }
                }
                Ok(Parameters(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// `artifact_type`, case-insensitive. Accepted (the documented set):
/// `heroku`, `buildpack`, `application.heroku` -> buildpack build;
/// `dockerfile`, `docker` -> the source's Dockerfile. Anything else is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArtifactType(pub ArtifactKind);

pub const ARTIFACT_TYPES: &[(&str, ArtifactKind)] = &[
    ("heroku", ArtifactKind::Buildpack),
    ("buildpack", ArtifactKind::Buildpack),
    ("application.heroku", ArtifactKind::Buildpack),
    ("dockerfile", ArtifactKind::Dockerfile),
    ("docker", ArtifactKind::Dockerfile),
];

impl<'de> Deserialize<'de> for ArtifactType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked_str(d, "an artifact type", |s| {
            let lower = s.trim().to_ascii_lowercase();
            match ARTIFACT_TYPES.iter().find(|(name, _)| *name == lower) {
                Some((_, kind)) => Ok(ArtifactType(*kind)),
                None => {
                    let known: Vec<&str> = ARTIFACT_TYPES.iter().map(|(n, _)| *n).collect();
                    let shown: String = s.chars().take(120).collect();
                    Err(format!(
                        "unknown artifact_type {shown:?}: expected one of {}",
                        known.join(", ")
                    ))
                }
            }
        })
    }
}

/// `language_pack` / `languagepack`: `auto` (any case) or a non-empty name/URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanguagePackField(pub LanguagePack);

impl<'de> Deserialize<'de> for LanguagePackField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked_str(d, "a language pack (`auto` or a name or URL)", |s| {
            let t = s.trim();
            if t.is_empty() {
                Err("language pack must not be empty (use `auto` to detect)".to_owned())
            } else if t.eq_ignore_ascii_case("auto") {
                Ok(LanguagePackField(LanguagePack::Auto))
            } else {
                Ok(LanguagePackField(LanguagePack::Named(t.to_owned())))
            }
        })
    }
}

/// A string that must not be empty (commands, hrefs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonEmpty(pub String);

impl<'de> Deserialize<'de> for NonEmpty {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked_str(d, "a string", |s| {
            if s.trim().is_empty() {
                Err("must not be empty".to_owned())
            } else {
                Ok(NonEmpty(s.to_owned()))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "web-app_1", &"x".repeat(100)] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in ["", "a b", "a.b", "ä", &"x".repeat(101)] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn env_names() {
        for ok in ["A", "_x", "DB_URL2"] {
            assert!(is_env_name(ok), "{ok}");
        }
        for bad in ["", "1A", "A-B", "A B", "a.b"] {
            assert!(!is_env_name(bad), "{bad}");
        }
    }
}

/// `instances`: `3` (every process type) or `{web: 3, worker: 1}` (the others stay at 1);
/// each count 1..=MAX_INSTANCES.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstancesField(pub Instances);

fn instance_count<E: de::Error>(v: u64) -> Result<u16, E> {
    match u16::try_from(v) {
        Ok(n) if (1..=MAX_INSTANCES).contains(&n) => Ok(n),
        _ => Err(E::custom(format!(
            "instances {v}: must be 1 to {MAX_INSTANCES} on one app VM (more instances: more VMs, see heat/app-scaled.yaml)"
        ))),
    }
}

/// One count of `instances`.
struct InstanceCount(u16);

impl<'de> Deserialize<'de> for InstanceCount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = InstanceCount;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a number of instances (1 to {MAX_INSTANCES})")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<InstanceCount, E> {
                instance_count(v).map(InstanceCount)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<InstanceCount, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!(
                        "instances {v}: must be 1 to {MAX_INSTANCES}"
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for InstancesField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = InstancesField;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(
                    f,
                    "a number of instances (1 to {MAX_INSTANCES}) or a map of process type to number"
                )
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<InstancesField, E> {
                Ok(InstancesField(Instances {
                    default: instance_count(v)?,
                    per_process: BTreeMap::new(),
                }))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<InstancesField, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!(
                        "instances {v}: must be 1 to {MAX_INSTANCES}"
                    ))),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<InstancesField, A::Error> {
                let mut per_process = BTreeMap::new();
                while let Some((Name(process), InstanceCount(n))) = map.next_entry()? {
                    if per_process.insert(process.clone(), n).is_some() {
                        return Err(de::Error::custom(format!(
                            "instances of {process} given twice"
                        )));
                    }
                }
                Ok(InstancesField(Instances {
                    default: 1,
                    per_process,
                }))
            }
        }
        d.deserialize_any(V)
    }
}
