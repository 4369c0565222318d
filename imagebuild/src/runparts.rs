//! dib-run-parts rules, as pure functions: which file names run, and in which order.
//!
//! DIB runs only executable regular files whose names match `^[0-9A-Za-z_-]+$`
//! (so `10-foo.sh` is silently skipped) and orders them with `LANG=C sort -n`.
//! environment.d fragments use the wider pattern `^[0-9A-Za-z_.-]+$` and need
//! not be executable. The ordering here reproduces GNU `sort -n` in the C
//! locale exactly: compare the leading (optionally negative) integer prefix
//! numerically (no prefix counts as 0), and break ties by comparing the whole
//! names byte by byte (sort's last-resort comparison).

use std::cmp::Ordering;

/// True when a hook file with this name is run by dib-run-parts.
pub fn is_hook_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// True when an environment.d file with this name is sourced.
pub fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

/// The numeric key of `sort -n` for one line: sign, significant integer
/// digits and significant fraction digits (C locale: '.' is the decimal point).
#[derive(Debug, PartialEq, Eq)]
struct NumKey<'a> {
    negative: bool,
    /// Integer digits without leading zeros; empty means zero.
    int: &'a str,
    /// Fraction digits without trailing zeros; empty means zero.
    frac: &'a str,
}

fn digits_prefix(s: &str) -> &str {
    let end = s
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    &s[..end]
}

fn num_key(s: &str) -> NumKey<'_> {
    // sort -n skips leading blanks; hook names have none but keep the rule.
    let s = s.trim_start_matches([' ', '\t']);
    let (negative, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let int_digits = digits_prefix(rest);
    let frac = rest[int_digits.len()..]
        .strip_prefix('.')
        .map(|f| digits_prefix(f).trim_end_matches('0'))
        .unwrap_or("");
    let int = int_digits.trim_start_matches('0');
    NumKey {
        // -0 is 0.
        negative: negative && !(int.is_empty() && frac.is_empty()),
        int,
        frac,
    }
}

/// Compare magnitudes of two keys.
fn cmp_magnitude(a: &NumKey<'_>, b: &NumKey<'_>) -> Ordering {
    a.int
        .len()
        .cmp(&b.int.len())
        .then_with(|| a.int.cmp(b.int))
        .then_with(|| a.frac.cmp(b.frac))
}

/// `LANG=C sort -n` comparison of two lines.
pub fn sort_n_cmp(a: &str, b: &str) -> Ordering {
    let (ka, kb) = (num_key(a), num_key(b));
    let numeric = match (ka.negative, kb.negative) {
        (false, true) => Ordering::Greater,
        (true, false) => Ordering::Less,
        (false, false) => cmp_magnitude(&ka, &kb),
        (true, true) => cmp_magnitude(&kb, &ka),
    };
    numeric.then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

/// Sort names in place the way `LANG=C sort -n` would.
pub fn sort_n<S: AsRef<str>>(names: &mut [S]) {
    names.sort_by(|a, b| sort_n_cmp(a.as_ref(), b.as_ref()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &[&str], expected: &[&str]) {
        let mut v: Vec<&str> = input.to_vec();
        sort_n(&mut v);
        assert_eq!(v, expected, "sort -n of {input:?}");
    }

    #[test]
    fn hook_names() {
        for ok in ["10-foo", "99_bar", "a", "install-packages", "-x", "01"] {
            assert!(is_hook_name(ok), "{ok}");
        }
        for bad in ["10-foo.sh", "", "a b", "x~", ".hidden", "é"] {
            assert!(!is_hook_name(bad), "{bad}");
        }
    }

    #[test]
    fn env_names() {
        assert!(is_env_name("10-debian.bash"));
        assert!(!is_env_name("10 debian"));
        assert!(!is_env_name("x~"));
    }

    #[test]
    fn numeric_prefix_order_not_lexical() {
        check(
            &["10-b", "9-a", "100-c", "01-d"],
            &["01-d", "9-a", "10-b", "100-c"],
        );
    }

    #[test]
    fn no_number_counts_as_zero_and_ties_break_bytewise() {
        // "foo" and "bar" are 0, "0-x" is 0 too: all tie numerically, then bytes.
        check(&["foo", "1-a", "bar", "0-x"], &["0-x", "bar", "foo", "1-a"]);
    }

    #[test]
    fn leading_zeros_equal_then_bytes() {
        // 010 == 10 numerically; "010-a" < "10-a" bytewise.
        check(&["10-a", "010-a", "10-A"], &["010-a", "10-A", "10-a"]);
    }

    #[test]
    fn negative_numbers_first() {
        check(
            &["1-a", "-5x", "-10y", "z", "-"],
            &["-10y", "-5x", "-", "z", "1-a"],
        );
    }

    #[test]
    fn minus_zero_is_zero() {
        // -0 ties with 0; then bytes: '-' (0x2d) < '0' (0x30).
        check(&["0a", "-0a"], &["-0a", "0a"]);
    }

    #[test]
    fn huge_numbers_compare_by_length() {
        check(
            &["100000000000000000000000-a", "99999999999999999999999-b"],
            &["99999999999999999999999-b", "100000000000000000000000-a"],
        );
    }

    #[test]
    fn fractions_in_env_names() {
        check(&["1.5-x", "1.10-y", "1-z"], &["1-z", "1.10-y", "1.5-x"]);
    }

    #[test]
    fn uppercase_and_underscore_bytes() {
        check(&["50_b", "50-b", "50B"], &["50-b", "50B", "50_b"]);
    }
}
