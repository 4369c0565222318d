//! Reading JSON the way Go's encoding/json does for Ignition, where it differs from serde_json:
//! invalid UTF-8 and lone surrogate escapes become U+FFFD, `-0` is an integer, and object keys
//! match field names case-insensitively (`"Path"` sets `path`; Ignition still warns that the
//! key as written is unused). When a key is given both exactly and in another case, the exact
//! one wins here (Go takes the later one in document order).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde_json::Value;

use crate::report::{join, Report};
use crate::types::*;

/// The JSON text with Go's replacements applied (borrowed when nothing changes).
pub fn text(bytes: &[u8]) -> Cow<'_, str> {
    let s = String::from_utf8_lossy(bytes);
    if !needs_rewrite(&s) {
        return s;
    }
    Cow::Owned(rewrite(&s))
}

/// A surrogate escape, or `-0` right after `:`, `[` or `,` (whitespace aside).
fn needs_rewrite(s: &str) -> bool {
    if s.contains("\\ud") || s.contains("\\uD") {
        return true;
    }
    s.match_indices("-0").any(|(i, _)| {
        let before = s[..i].trim_end();
        before.ends_with(':') || before.ends_with('[') || before.ends_with(',')
    })
}

/// Replaces lone surrogate escapes by `\uFFFD` and a bare `-0` number by `0`.
fn rewrite(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut in_string = false;
    let surrogate = |at: usize| -> Option<u16> {
        let hex = s.get(at + 2..at + 6)?;
        let v = u16::from_str_radix(hex, 16).ok()?;
        (b.get(at) == Some(&b'\\') && b.get(at + 1) == Some(&b'u') && (0xD800..0xE000).contains(&v))
            .then_some(v)
    };
    while i < b.len() {
        let c = b[i];
        if in_string {
            if c == b'\\' {
                if let Some(v) = surrogate(i) {
                    let pair_ok = v < 0xDC00 && surrogate(i + 6).is_some_and(|w| w >= 0xDC00);
                    if pair_ok {
                        out.push_str(&s[i..i + 12]);
                        i += 12;
                    } else {
                        out.push_str("\\uFFFD");
                        i += 6;
                    }
                    continue;
                }
                // Keep the backslash and the whole character it escapes.
                out.push('\\');
                i += 1;
                if let Some(ch) = s[i..].chars().next() {
                    out.push(ch);
                    i += ch.len_utf8();
                }
                continue;
            }
            if c == b'"' {
                in_string = false;
            }
        } else if c == b'"' {
            in_string = true;
        } else if c == b'-'
            && b.get(i + 1) == Some(&b'0')
            && !b
                .get(i + 2)
                .is_some_and(|n| n.is_ascii_digit() || matches!(n, b'.' | b'e' | b'E'))
        {
            out.push('0');
            i += 2;
            continue;
        }
        let len = s[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&s[i..i + len]);
        i += len;
    }
    out
}

/// Records the field names a struct asks for, then stops.
struct FieldNames(&'static [&'static str]);

#[derive(Debug)]
struct Stop;

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stop")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Stop
    }
}

impl<'de> Deserializer<'de> for &mut FieldNames {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Stop> {
        self.0 = fields;
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

fn fields_of<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    let mut names = FieldNames(&[]);
    let _ = T::deserialize(&mut names);
    names.0
}

struct Known {
    exact: HashSet<&'static str>,
    folded: HashMap<String, &'static str>,
}

fn known() -> &'static Known {
    static KNOWN: OnceLock<Known> = OnceLock::new();
    KNOWN.get_or_init(|| {
        let lists = [
            fields_of::<Config>(),
            fields_of::<Ignition>(),
            fields_of::<IgnitionConfig>(),
            fields_of::<Proxy>(),
            fields_of::<Security>(),
            fields_of::<Tls>(),
            fields_of::<Timeouts>(),
            fields_of::<KernelArguments>(),
            fields_of::<Resource>(),
            fields_of::<HttpHeader>(),
            fields_of::<Verification>(),
            fields_of::<Storage>(),
            fields_of::<NodeUser>(),
            fields_of::<NodeGroup>(),
            fields_of::<File>(),
            fields_of::<Directory>(),
            fields_of::<Link>(),
            fields_of::<Disk>(),
            fields_of::<Partition>(),
            fields_of::<Filesystem>(),
            fields_of::<Raid>(),
            fields_of::<Luks>(),
            fields_of::<Clevis>(),
            fields_of::<ClevisCustom>(),
            fields_of::<Tang>(),
            fields_of::<Systemd>(),
            fields_of::<Unit>(),
            fields_of::<Dropin>(),
            fields_of::<Passwd>(),
            fields_of::<PasswdUser>(),
            fields_of::<PasswdGroup>(),
        ];
        let exact: HashSet<&'static str> = lists.iter().flat_map(|l| l.iter().copied()).collect();
        let folded = exact.iter().map(|k| (k.to_lowercase(), *k)).collect();
        Known { exact, folded }
    })
}

/// Renames keys that match a field name only case-insensitively, warning at each.
pub fn fold_keys(value: &mut Value, at: &str, report: &mut Report) {
    match value {
        Value::Object(map) => {
            let k = known();
            let odd: Vec<String> = map
                .keys()
                .filter(|key| !k.exact.contains(key.as_str()))
                .filter(|key| k.folded.contains_key(&key.to_lowercase()))
                .cloned()
                .collect();
            for key in odd {
                let canonical = k.folded[&key.to_lowercase()];
                report.warn(
                    join(at, &key),
                    format!("unused key {key} (read as {canonical})"),
                );
                if let Some(v) = map.remove(&key) {
                    if !map.contains_key(canonical) {
                        map.insert(canonical.to_string(), v);
                    }
                }
            }
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                if let Some(child) = map.get_mut(&key) {
                    fold_keys(child, &join(at, &key), report);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                fold_keys(item, &join(at, i), report);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_rewrites_like_go() {
        assert_eq!(text(b"{\"a\":\"\xff\"}"), "{\"a\":\"\u{fffd}\"}");
        assert_eq!(text(br#"{"a":"\ud800x"}"#), r#"{"a":"\uFFFDx"}"#);
        assert_eq!(text(br#"{"a":"\ud83d\ude00"}"#), r#"{"a":"\ud83d\ude00"}"#);
        assert_eq!(text(br#"{"a":"\\ud800"}"#), r#"{"a":"\\ud800"}"#);
        assert_eq!(
            text(br#"{"a":-0,"b":-0.5,"c":-01,"d":"-0"}"#),
            r#"{"a":0,"b":-0.5,"c":-01,"d":"-0"}"#
        );
        assert!(matches!(text(br#"{"a":1}"#), Cow::Borrowed(_)));
        // Not JSON, but must not panic on a multi-byte character after a backslash.
        assert_eq!(
            text("{\"a\":\"\\é\\ud800\",\"b\":-0}".as_bytes()),
            "{\"a\":\"\\é\\uFFFD\",\"b\":0}"
        );
    }

    #[test]
    fn keys_fold_to_field_names() {
        let mut v = serde_json::json!({"Ignition": {"VERSION": "3.3.0"}, "storage": {"files": [{"path": "/a", "Path": "b", "MODE": 1}]}, "other": 1});
        let mut r = Report::default();
        fold_keys(&mut v, "", &mut r);
        assert_eq!(
            v,
            serde_json::json!({"ignition": {"version": "3.3.0"}, "storage": {"files": [{"path": "/a", "mode": 1}]}, "other": 1})
        );
        assert_eq!(r.entries.len(), 4, "{r}");
        assert!(
            known().folded.len() == known().exact.len(),
            "two field names differ only in case"
        );
    }
}
