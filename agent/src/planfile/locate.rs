//! Field paths (`artifacts[0].ports`) and finding the line of a path in YAML text.
//!
//! serde_norway does not expose positions, but it attaches the position of the current event to
//! any error a visitor returns. `line_of` walks the document along the path and fails on purpose
//! at the target, then reads the line off that error. Used for findings that only show up after
//! deserialization (unknown keys, duplicate ports, a missing source).

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A field path like `artifacts[0].content.href`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(pub Vec<Seg>);

impl FieldPath {
    pub fn key(&self, k: &str) -> FieldPath {
        let mut v = self.0.clone();
        v.push(Seg::Key(k.to_owned()));
        FieldPath(v)
    }

    pub fn index(&self, i: usize) -> FieldPath {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        FieldPath(v)
    }

    /// Converts the path serde_ignored reports for an ignored key.
    pub fn from_ignored(path: &serde_ignored::Path) -> FieldPath {
        fn walk(p: &serde_ignored::Path, out: &mut Vec<Seg>) {
            use serde_ignored::Path as P;
            match p {
                P::Root => {}
                P::Seq { parent, index } => {
                    walk(parent, out);
                    out.push(Seg::Index(*index));
                }
                P::Map { parent, key } => {
                    walk(parent, out);
                    out.push(Seg::Key(key.clone()));
                }
                P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
                    walk(parent, out)
                }
            }
        }
        let mut out = Vec::new();
        walk(path, &mut out);
        FieldPath(out)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str(".");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

const MARKER: &str = "solum-locate-marker";

/// The 1-based line where `path` is written in `text` (the key's line for a map key, the
/// element's for a list index), if it is there.
pub fn line_of(text: &str, path: &FieldPath) -> Option<usize> {
    if path.0.is_empty() {
        return None;
    }
    let de = serde_norway::Deserializer::from_str(text);
    match (Walk { path: &path.0 }).deserialize(de) {
        Err(e) if e.to_string().contains(MARKER) => e.location().map(|l| l.line()),
        _ => None,
    }
}

struct Walk<'p> {
    path: &'p [Seg],
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        match self.path.first() {
            None => d.deserialize_any(Fail),
            Some(Seg::Key(_)) => d.deserialize_map(self),
            Some(Seg::Index(_)) => d.deserialize_seq(self),
        }
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("anything")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (Some(Seg::Key(wanted)), rest) = (self.path.first(), &self.path[1..]) else {
            return Ok(());
        };
        while let Some(found) = map.next_key_seed(KeySeed {
            wanted,
            last: rest.is_empty(),
        })? {
            if found {
                return map.next_value_seed(Walk { path: rest });
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let (Some(Seg::Index(wanted)), rest) = (self.path.first(), &self.path[1..]) else {
            return Ok(());
        };
        for _ in 0..*wanted {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
        }
        seq.next_element_seed(Walk { path: rest }).map(|_| ())
    }
    // Anything else: the path does not exist.
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// Reads one map key; fails with the marker when it is the last step of the path, so the error
/// carries the key's position.
struct KeySeed<'a> {
    wanted: &'a str,
    last: bool,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        match (v == self.wanted, self.last) {
            (true, true) => Err(E::custom(MARKER)),
            (found, _) => Ok(found),
        }
    }
}

/// Fails at whatever value it is given.
struct Fail;

impl Visitor<'_> for Fail {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(MARKER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(segs: &[Seg]) -> FieldPath {
        FieldPath(segs.to_vec())
    }

    #[test]
    fn display() {
        let path = FieldPath::default().key("artifacts").index(0).key("ports");
        assert_eq!(path.to_string(), "artifacts[0].ports");
        assert_eq!(FieldPath::default().to_string(), ".");
    }

    #[test]
    fn finds_lines() {
        let text = "version: 1\nname: x\nartifacts:\n- name: a\n  ports: 1\n- name: b\n  ports:\n    - 2\n    - 3\n";
        let k = |s: &str| Seg::Key(s.to_owned());
        assert_eq!(line_of(text, &p(&[k("name")])), Some(2));
        assert_eq!(line_of(text, &p(&[k("artifacts")])), Some(3));
        assert_eq!(line_of(text, &p(&[k("artifacts"), Seg::Index(1)])), Some(6));
        assert_eq!(
            line_of(text, &p(&[k("artifacts"), Seg::Index(1), k("ports")])),
            Some(7)
        );
        assert_eq!(
            line_of(
                text,
                &p(&[k("artifacts"), Seg::Index(1), k("ports"), Seg::Index(1)])
            ),
            Some(9)
        );
        assert_eq!(line_of(text, &p(&[k("artifacts"), Seg::Index(2)])), None);
        assert_eq!(line_of(text, &p(&[k("nope")])), None);
        assert_eq!(line_of(text, &p(&[k("name"), k("deeper")])), None);
    }
}
