//! Source URL checks as Ignition makes them: Go `net/url` parse errors, allowed schemes per
//! spec version, and `data:` URLs that must decode.

use crate::dataurl;
use crate::version::Version;

pub const PARSE: &str = "unable to parse url";
pub const SCHEME: &str = "invalid url scheme";

/// The lower-cased scheme of a URL that Go's `url.Parse` accepts, or its error message.
pub fn scheme(s: &str) -> Result<String, String> {
    if s.bytes().any(|c| c < 0x20 || c == 0x7f) {
        return Err(PARSE.into());
    }
    let mut scheme_end = None;
    for (i, c) in s.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err(PARSE.into()),
            b':' => {
                scheme_end = Some(i);
                break;
            }
            _ => break,
        }
    }
    let Some(end) = scheme_end else {
        let first = s.split('/').next().unwrap_or("");
        if first.contains(':') {
            return Err(PARSE.into());
        }
        return Ok(String::new());
    };
    let rest = &s[end + 1..];
    let (before_frag, frag) = rest.split_once('#').unwrap_or((rest, ""));
    let before_query = before_frag.split('?').next().unwrap_or("");
    if !escapes_ok(before_query) || !escapes_ok(frag) {
        return Err(PARSE.into());
    }
    if let Some(auth) = before_query.strip_prefix("//") {
        authority_ok(auth.split('/').next().unwrap_or("")).map_err(|()| PARSE.to_string())?;
    }
    Ok(s[..end].to_ascii_lowercase())
}

/// Go's checks of `[userinfo@]host[:port]`.
fn authority_ok(auth: &str) -> Result<(), ()> {
    let (userinfo, host) = match auth.rfind('@') {
        Some(i) => (Some(&auth[..i]), &auth[i + 1..]),
        None => (None, auth),
    };
    if let Some(u) = userinfo {
        let ok = |c: u8| c.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&c);
        if !u.bytes().all(ok) || !escapes_ok(u) {
            return Err(());
        }
    }
    let port = if host.starts_with('[') {
        &host[host.rfind(']').ok_or(())? + 1..]
    } else {
        host.rfind(':').map(|i| &host[i..]).unwrap_or("")
    };
    if let Some(digits) = port.strip_prefix(':') {
        if !digits.bytes().all(|c| c.is_ascii_digit()) {
            return Err(());
        }
    } else if !port.is_empty() {
        return Err(());
    }
    let b = host.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'%' {
            let hex = b.get(i + 1..i + 3).ok_or(())?;
            let hi = (hex[0] as char).to_digit(16).ok_or(())?;
            (hex[1] as char).to_digit(16).ok_or(())?;
            if hi < 8 && hex != b"25" {
                return Err(());
            }
        } else if c < 0x80 && !c.is_ascii_alphanumeric() && !b"-_.~!$&'()*+,;=:[]<>\"".contains(&c)
        {
            return Err(());
        }
    }
    Ok(())
}

fn escapes_ok(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().all(|(i, &c)| {
        c != b'%'
            || (b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

/// Checks a resource source for spec `v`.
pub fn check_source(s: &str, v: Version) -> Result<(), String> {
    match scheme(s)?.as_str() {
        "http" | "https" | "tftp" | "s3" => Ok(()),
        "gs" if v >= Version::V3_1 => Ok(()),
        "arn" if v >= Version::V3_4 => Ok(()),
        "data" => dataurl::decode(s).map(|_| ()),
        _ => Err(SCHEME.into()),
    }
}

/// Checks a URL that must be http or https (proxies, tang servers).
pub fn check_http(s: &str) -> Result<(), String> {
    match scheme(s)?.as_str() {
        "http" | "https" => Ok(()),
        _ => Err(SCHEME.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str, v: Version, expect: Result<(), &str>) {
        let got = check_source(url, v);
        match expect {
            Ok(()) => assert_eq!(got, Ok(()), "{url}"),
            Err(frag) => assert!(got.expect_err(url).contains(frag), "{url}"),
        }
    }

    #[test]
    fn sources() {
        let v33 = Version::V3_3;
        for ok in [
            "https://x/y",
            "HTTP://x/y",
            "http:x",
            "http://x/ y",
            "tftp://b/o",
            "s3://b/o",
        ] {
            check(ok, v33, Ok(()));
        }
        check("http://x/?a=%zz", v33, Ok(()));
        check("gs://b/o", v33, Ok(()));
        check("gs://b/o", Version::V3_0, Err(SCHEME));
        check("arn:aws:s3:::b/o", v33, Err(SCHEME));
        check("arn:aws:s3:::b/o", Version::V3_4, Ok(()));
        check("ftp://x/y", v33, Err(SCHEME));
        check("/abs", v33, Err(SCHEME));
        check("a:b:c", v33, Err(SCHEME));
        check("1http://x", v33, Err(PARSE));
        check(":x", v33, Err(PARSE));
        check("http://%zz", v33, Err(PARSE));
        check("http://x/%zz", v33, Err(PARSE));
        check("http://x/#%zz", v33, Err(PARSE));
        check("http://x:abc/", v33, Err(PARSE));
        check("http://a:b:c/", v33, Err(PARSE));
        check("http://x y/", v33, Err(PARSE));
        check("http://x{/", v33, Err(PARSE));
        check("http://u v@x/", v33, Err(PARSE));
        check("http://%41/", v33, Err(PARSE));
        check("http://x%25/", v33, Ok(()));
        check("http://[::1/", v33, Err(PARSE));
        check("http://[::1]x/", v33, Err(PARSE));
        check("http://[::1]:80/", v33, Ok(()));
        check("http://\u{e9}/", v33, Ok(()));
        check("http://x/a b|{}", v33, Ok(()));
        check("data:,a b", v33, Err("invalid data character"));
        check("data:,ok", v33, Ok(()));
    }
}
