//! The one rule for app names. An app is named by its plan (`<plan>` or `<plan>-<artifact>`),
//! and the name goes into container names, labels, image repositories, volume names and paths
//! of the state directory: so at most 63 letters, digits, '_', '.' and '-', starting with a
//! letter or digit. Every place that takes an app name (deploy, status, stop, start, destroy, the
//! supervisor) checks it here.

/// The longest app name.
pub const MAX_LEN: usize = 63;

/// `Ok` when `name` is a valid app name; else the message that says why.
pub fn check(name: &str) -> Result<(), String> {
    let ok = name.len() <= MAX_LEN
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid app name {name:?}: use letters, digits, '_', '.' and '-' (at most {MAX_LEN}, starting with a letter or digit)"
        ))
    }
}

/// Whether `name` is a valid app name.
pub fn is_valid(name: &str) -> bool {
    check(name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule() {
        assert!(is_valid("my-app_1"));
        assert!(is_valid(&"a".repeat(MAX_LEN)));
        assert!(!is_valid(""));
        assert!(!is_valid("../x"));
        assert!(!is_valid("a/b"));
        assert!(is_valid("a.b"));
        assert!(!is_valid("-a"));
        assert!(!is_valid(&"a".repeat(MAX_LEN + 1)));
        assert!(!is_valid(&"a".repeat(101)));
        assert!(check("x y").unwrap_err().contains("invalid app name"));
    }
}
