//! Keeping secrets out of messages: URL passwords and tokens become `***`.

/// Replaces the password of every `scheme://user:pass@host` in `text` with `***`
/// (`https://user:***@host`); a lone user part of an http(s) URL (often a token) is replaced
/// whole (`https://***@host`).
pub fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (before, after) = rest.split_at(i + 3);
        out.push_str(before);
        let end = after
            .find(|c: char| {
                c == '/' || c == '?' || c == '#' || c.is_whitespace() || "'\"<>`".contains(c)
            })
            .unwrap_or(after.len());
        let authority = &after[..end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                let scheme = before[..i]
                    .rsplit(|c: char| !c.is_ascii_alphanumeric())
                    .next()
                    .unwrap_or("");
                match userinfo.split_once(':') {
                    Some((user, _)) => {
                        out.push_str(user);
                        out.push_str(":***");
                    }
                    None if scheme.eq_ignore_ascii_case("http")
                        || scheme.eq_ignore_ascii_case("https") =>
                    {
                        out.push_str("***")
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// `redact_urls`, and every occurrence of each secret replaced with `***`.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(s, "***");
    }
    redact_urls(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let cases = [
            (
                "https://user:pass@host/x.git",
                "https://user:***@host/x.git",
            ),
            ("https://tok3n@host/x", "https://***@host/x"),
            ("ssh://git@host/x", "ssh://git@host/x"),
            ("git@host:x/y.git", "git@host:x/y.git"),
            ("https://host/x", "https://host/x"),
            (
                "fatal: 'https://u:p@h' nope; http://a:b@c:80/x",
                "fatal: 'https://u:***@h' nope; http://a:***@c:80/x",
            ),
            ("https://u:p:q@h", "https://u:***@h"),
            ("https://u:p@h?x#y", "https://u:***@h?x#y"),
            ("no url here", "no url here"),
            ("://x@y", "://x@y"),
        ];
        for (input, expected) in cases {
            assert_eq!(redact_urls(input), expected, "{input}");
        }
    }

    #[test]
    fn secrets() {
        assert_eq!(
            redact("header: Basic c2VjcmV0 and secret", &["secret", "c2VjcmV0"]),
            "header: Basic *** and ***"
        );
        assert_eq!(
            redact("a b", &["a"]),
            "a b",
            "too short secrets are not replaced"
        );
    }
}
