//! JSON documents measured in one pass over the text before serde_json builds them: size,
//! values (strings, numbers, literals, arrays, objects; keys count as values) and nesting.
//! JSON has no aliases, so the expanded size is the text's own; the count still matters
//! because a value built in memory costs many times the bytes of `[],`.

use serde::de::DeserializeOwned;

use crate::{check_size, Budget, BudgetError, Meter};

/// Checks `bytes` against `budget` without building it. Syntax is left to serde_json: the scan
/// only counts.
pub fn check(bytes: &[u8], budget: &Budget) -> Result<(), BudgetError> {
    check_size(bytes.len(), budget)?;
    let mut meter = Meter::new(budget);
    let mut line = 1;
    let mut in_string = false;
    let mut escaped = false;
    let mut in_bare = false;
    let mut string_bytes: u64 = 0;
    for &b in bytes {
        if b == b'\n' {
            line += 1;
        }
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => {
                    in_string = false;
                    meter.add(0, string_bytes, line)?;
                    string_bytes = 0;
                    continue;
                }
                _ => {}
            }
            string_bytes += 1;
            continue;
        }
        match b {
            b'"' => {
                in_bare = false;
                in_string = true;
                meter.add(1, 0, line)?;
            }
            b'[' | b'{' => {
                in_bare = false;
                meter.enter(line)?;
                meter.add(1, 0, line)?;
            }
            b']' | b'}' => {
                in_bare = false;
                meter.leave();
            }
            b',' | b':' | b' ' | b'\t' | b'\r' | b'\n' => in_bare = false,
            _ if !in_bare => {
                in_bare = true;
                meter.add(1, 0, line)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// A JSON document refused by its budget or by the deserializer.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    #[error(transparent)]
    Budget(#[from] BudgetError),
    #[error(transparent)]
    Parse(#[from] serde_json::Error),
}

impl JsonError {
    /// The 1-based line of the problem, when known.
    pub fn line(&self) -> Option<usize> {
        match self {
            JsonError::Budget(e) => e.line(),
            JsonError::Parse(e) => Some(e.line()),
        }
    }
}

/// `check`, then `serde_json::from_slice`.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8], budget: &Budget) -> Result<T, JsonError> {
    check(bytes, budget)?;
    Ok(serde_json::from_slice(bytes)?)
}

/// What kind of value `v` is, in words for messages ("a string", "a list", ...); a map is
/// called `map` ("an object" in JSON's words, "a mapping" in YAML's).
pub fn kind(v: &serde_json::Value, map: &'static str) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => map,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Budget {
        Budget {
            max_bytes: 1 << 20,
            max_expanded_bytes: 100,
            max_nodes: 10,
            max_depth: 4,
        }
    }

    #[test]
    fn counts_values_keys_and_string_bytes() {
        // 1 object + 3 keys + 3 values = 7
        check(br#"{"a": 1, "b": "x\"y", "c": [true]}"#, &small()).unwrap();
        let eleven = br#"[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"#;
        assert!(matches!(
            check(eleven, &small()),
            Err(BudgetError::Nodes { line: 1, max: 10 })
        ));
        let long = format!("[\n\"{}\"]", "a".repeat(101));
        assert!(matches!(
            check(long.as_bytes(), &small()),
            Err(BudgetError::Expanded { line: 2, max: 100 })
        ));
    }

    #[test]
    fn depth_and_size() {
        assert!(matches!(
            check(b"[[[[[]]]]]", &small()),
            Err(BudgetError::Depth { line: 1, max: 4 })
        ));
        check(b"[[[[]]]]", &small()).unwrap();
        check(br#"["[[[[[[[[["]"#, &small()).unwrap();
        assert!(matches!(
            check(b"[1, 2]", &small().with_max_bytes(5)),
            Err(BudgetError::TooLarge { size: 6, max: 5 })
        ));
    }

    #[test]
    fn from_slice_checks_then_deserializes() {
        let v: serde_json::Value = from_slice(br#"{"a": [1, 2]}"#, &small()).unwrap();
        assert_eq!(v["a"][1], 2);
        let e = from_slice::<serde_json::Value>(b"{\n\"a\": }", &small()).unwrap_err();
        assert_eq!(e.line(), Some(2));
    }
}
