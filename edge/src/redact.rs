//! The one URL redactor: what a URL may show in an error, a log line, a report or a Heat
//! signal. No userinfo (passwords, tokens), no query string (Swift TempURL and other
//! signatures live there; a dropped query shows as `?...`), no fragment.

/// `u` fit for messages: scheme, host, port and path only (`?...` where a query was).
/// Something that does not parse as a URL is shown by the same rules, cut by hand.
pub fn url(u: &str) -> String {
    match url::Url::parse(u) {
        Ok(mut p) if p.has_host() || p.scheme() == "file" => {
            let _ = p.set_password(None);
            let _ = p.set_username("");
            let had_query = p.query().is_some();
            p.set_query(None);
            p.set_fragment(None);
            let mut s = p.to_string();
            if had_query {
                s.push_str("?...");
            }
            s
        }
        _ => by_hand(u),
    }
}

/// The same rules without a parser: the userinfo before `@` in the authority dropped, all
/// from `?` or `#` replaced by `?...`.
fn by_hand(u: &str) -> String {
    let (scheme, rest) = match u.find("://") {
        Some(i) => u.split_at(i + 3),
        None => ("", u),
    };
    let cut = rest.find(['?', '#']).unwrap_or(rest.len());
    let (main, tail) = rest.split_at(cut);
    let auth_end = main.find('/').unwrap_or(main.len());
    let main = if scheme.is_empty() {
        main.to_string()
    } else {
        match main[..auth_end].rfind('@') {
            Some(at) => main[at + 1..].to_string(),
            None => main.to_string(),
        }
    };
    let mut s = format!("{scheme}{main}");
    if tail.starts_with('?') {
        s.push_str("?...");
    }
    s
}

/// `text` with every `scheme://...` in it shown as [`url`] shows it (git's and reqwest's
/// messages quote the URL they were given).
pub fn text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        // The scheme: the letters, digits, `+`, `-` and `.` just before `://`.
        let start = rest[..i]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || "+-.".contains(c)))
            .map(|p| p + 1)
            .unwrap_or(0);
        let end = rest[i + 3..]
            .find(|c: char| c.is_whitespace() || "'\"<>`".contains(c))
            .map(|p| p + i + 3)
            .unwrap_or(rest.len());
        out.push_str(&rest[..start]);
        if start == i {
            // `://` with no scheme: not a URL.
            out.push_str(&rest[start..i + 3]);
            rest = &rest[i + 3..];
            continue;
        }
        out.push_str(&url(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Every occurrence of each (non-empty) secret in `text` replaced by `***`.
pub fn secrets<S: AsRef<str>>(text: &str, secrets: &[S]) -> String {
    let mut out = text.to_owned();
    for s in secrets.iter().map(AsRef::as_ref).filter(|s| !s.is_empty()) {
        if out.contains(s) {
            out = out.replace(s, "***");
        }
    }
    out
}

/// [`text`], with every occurrence of each secret 4 bytes or longer replaced by `***` first.
pub fn with_secrets(text_: &str, secrets_: &[&str]) -> String {
    let long: Vec<&str> = secrets_.iter().copied().filter(|s| s.len() >= 4).collect();
    text(&secrets(text_, &long))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_userinfo_query_and_fragment() {
        assert_eq!(
            url("http://u:p@h:8080/v1/x?temp_url_sig=abc"),
            "http://h:8080/v1/x?..."
        );
        assert_eq!(
            url("http://169.254.169.254/openstack/latest/meta_data.json"),
            "http://169.254.169.254/openstack/latest/meta_data.json"
        );
        assert_eq!(url("https://tok3n@host/x#frag"), "https://host/x");
        assert_eq!(url("file:///srv/x.tar?sig=1"), "file:///srv/x.tar?...");
        assert_eq!(url("./bp"), "./bp");
        assert_eq!(url("git@host:x/y.git"), "git@host:x/y.git");
        assert_eq!(url("https://u:p@[bad/x?s=1"), "https://[bad/x?...");
    }

    #[test]
    fn urls_in_text() {
        let cases = [
            ("https://user:pass@host/x.git", "https://host/x.git"),
            ("ssh://git@host/x", "ssh://host/x"),
            ("git@host:x/y.git", "git@host:x/y.git"),
            (
                "fatal: 'https://u:p@h' nope; http://a:b@c:80/x",
                "fatal: 'https://h/' nope; http://c/x",
            ),
            (
                "GET https://h/o.tar.gz?sig=abc&exp=1: 403",
                "GET https://h/o.tar.gz?... 403",
            ),
            ("no url here", "no url here"),
            ("://x@y", "://x@y"),
        ];
        for (input, expected) in cases {
            assert_eq!(text(input), expected, "{input}");
        }
    }

    #[test]
    fn secrets() {
        assert_eq!(
            with_secrets("header: Basic c2VjcmV0 and secret", &["secret", "c2VjcmV0"]),
            "header: Basic *** and ***"
        );
        assert_eq!(with_secrets("a b", &["a"]), "a b", "too short secrets stay");
    }
}
