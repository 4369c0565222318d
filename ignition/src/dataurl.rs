//! RFC 2397 `data:` URLs: strict decoding (same rules as the Go `dataurl` package Ignition uses)
//! and encoding in the percent form or the base64 form.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// A decoded `data:` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataUrl {
    /// `type/subtype`, empty when the URL has none (meaning text/plain).
    pub media_type: String,
    pub base64: bool,
    pub data: Vec<u8>,
}

/// RFC 2045 token characters (media types, parameter names and values).
fn is_token(c: u8) -> bool {
    c > b' ' && c < 0x7f && !b"()<>@,;:\\\"/[]?=".contains(&c)
}

/// RFC 2396 URL characters allowed in the data part (besides `%HH`).
fn is_url_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-_.!~*'();/?:@&=+$,".contains(&c)
}

/// Decodes a `data:` URL; the error says what is wrong.
pub fn decode(url: &str) -> Result<DataUrl, String> {
    let rest = url.strip_prefix("data:").ok_or("missing data prefix")?;
    let b = rest.as_bytes();
    let mut i = 0;
    let take_token = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && is_token(b[*i]) {
            *i += 1;
        }
        &rest[start..*i]
    };
    let mut media_type = String::new();
    if i < b.len() && b[i] != b',' && b[i] != b';' {
        let ty = take_token(&mut i);
        match b.get(i) {
            None => return Err("missing media type slash".into()),
            Some(b'/') if !ty.is_empty() => i += 1,
            Some(_) => return Err("invalid character for media type".into()),
        }
        // RFC 2045 top-level types (case-sensitive here, as in Go's dataurl) or an x-token.
        let known = [
            "text",
            "image",
            "audio",
            "video",
            "application",
            "multipart",
            "message",
        ];
        if !known.contains(&ty) && !ty.starts_with("x-") && !ty.starts_with("X-") {
            return Err("invalid media type".into());
        }
        let sub = take_token(&mut i);
        if sub.is_empty() {
            return Err("invalid character for media subtype".into());
        }
        media_type = format!("{ty}/{sub}");
    }
    let mut base64 = false;
    while b.get(i) == Some(&b';') {
        i += 1;
        let name = take_token(&mut i);
        match b.get(i) {
            Some(b'=') if name.is_empty() => return Err("invalid media type".into()),
            Some(b'=') => {
                i += 1;
                if b.get(i) == Some(&b'"') {
                    let end = rest[i + 1..]
                        .find('"')
                        .ok_or("unterminated quoted string")?;
                    i += end + 2;
                } else if take_token(&mut i).is_empty() {
                    return Err(format!("missing value for parameter {name}"));
                }
            }
            Some(b',') if name == "base64" => base64 = true,
            Some(b',') | None => return Err(format!("expected base64, got {name}")),
            Some(_) => return Err("invalid character for parameter".into()),
        }
    }
    if b.get(i) != Some(&b',') {
        return Err("missing comma before data".into());
    }
    let raw = &b[i + 1..];
    let data = if base64 {
        let b64 = |c: u8| c.is_ascii_alphanumeric() || c == b'+' || c == b'/' || c == b'=';
        if let Some(bad) = raw.iter().find(|&&c| !b64(c)) {
            return Err(format!("invalid data character {:?}", *bad as char));
        }
        STANDARD
            .decode(raw)
            .map_err(|e| format!("invalid base64 data: {e}"))?
    } else {
        unescape(raw)?
    };
    Ok(DataUrl {
        media_type,
        base64,
        data,
    })
}

fn unescape(raw: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if c == b'%' {
            let hex = raw.get(i + 1..i + 3).ok_or("truncated % escape")?;
            let s = std::str::from_utf8(hex).map_err(|_| "invalid % escape")?;
            let v = u8::from_str_radix(s, 16).map_err(|_| format!("invalid % escape %{s}"))?;
            out.push(v);
            i += 3;
        } else if is_url_char(c) {
            out.push(c);
            i += 1;
        } else {
            return Err(format!("invalid data character {:?}", c as char));
        }
    }
    Ok(out)
}

/// `data:,` + percent-encoded bytes (readable for text).
pub fn encode_percent(data: &[u8]) -> String {
    let mut s = String::with_capacity(6 + data.len());
    s.push_str("data:,");
    for &c in data {
        if c.is_ascii_alphanumeric() || b"-_.!~*'()/:@=+$".contains(&c) {
            s.push(c as char);
        } else {
            s.push_str(&format!("%{c:02X}"));
        }
    }
    s
}

/// `data:;base64,` + base64 (compact for binary).
pub fn encode_base64(data: &[u8]) -> String {
    format!("data:;base64,{}", STANDARD.encode(data))
}

/// The shorter of the percent and base64 forms.
pub fn encode(data: &[u8]) -> String {
    let p = encode_percent(data);
    let b = encode_base64(data);
    if p.len() <= b.len() {
        p
    } else {
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str, expect: Result<&[u8], &str>) {
        let got = decode(url);
        match expect {
            Ok(data) => assert_eq!(got.map(|d| d.data), Ok(data.to_vec()), "{url}"),
            Err(fragment) => {
                let e = got.expect_err(url);
                assert!(e.contains(fragment), "{url}: {e}");
            }
        }
    }

    #[test]
    fn decoding_agrees_with_ignition() {
        check("data:,hello", Ok(b"hello"));
        check("data:,", Ok(b""));
        check("data:,%41%0a", Ok(b"A\n"));
        check("data:;base64,aGVsbG8=", Ok(b"hello"));
        check(
            "data:text/plain;charset=utf-8;base64,aGVsbG8=",
            Ok(b"hello"),
        );
        check("data:text/plain;charset=\"x\",a", Ok(b"a"));
        check("DATA:,ab", Err("missing data prefix"));
        check("data:hello", Err("missing media type slash"));
        check("data:text,a", Err("invalid character for media type"));
        check("data:", Err("missing comma"));
        check("data:text/plain;foo,a", Err("expected base64, got foo"));
        check("data:a/b;=d,x", Err("invalid media type"));
        check("data:a/b,x", Err("invalid media type"));
        check("data:TEXT/plain,x", Err("invalid media type"));
        check("data:font/x,x", Err("invalid media type"));
        check("data:x-a/b;c=d,x", Ok(b"x"));
        check("data:application/octet-stream;base64,AA==", Ok(&[0]));
        check("data:;base64,aGVsbG8", Err("base64"));
        check("data:;base64,!!!", Err("invalid data character"));
        check("data:,a b", Err("invalid data character"));
        check("data:,{}", Err("invalid data character"));
        check("data:,a#b", Err("invalid data character"));
        check("data:,a%zz", Err("escape"));
    }

    #[test]
    fn encodings_round_trip() {
        let samples: [&[u8]; 4] = [b"", b"hello world\n", b"{\"a\": [1]}#%", &[0, 255, 10, 13]];
        for s in samples {
            for url in [encode_percent(s), encode_base64(s), encode(s)] {
                assert_eq!(decode(&url).map(|d| d.data), Ok(s.to_vec()), "{url}");
            }
        }
        assert_eq!(encode(b"hi"), "data:,hi");
    }
}
