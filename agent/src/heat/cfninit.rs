//! Heat's SOFTWARE_CONFIG / HEAT_CFNTOOLS user_data without cloud-init: a MIME multipart
//! message (made by Python's `email.mime`) whose parts include `text/x-cfninitdata` ones; the
//! part named `cfn-init-data` is the server's initial metadata document. heat-cfntools would
//! write each such part to `/var/lib/heat-cfntools/<filename>`.

use base64::Engine;

/// Where heat-cfntools keeps the parts.
pub const CFN_DIR: &str = "/var/lib/heat-cfntools";

/// Multiparts nested deeper than this are refused (Heat nests one level; each level copies
/// what it holds, so the depth must be bounded).
pub const MAX_DEPTH: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub content_type: String,
    /// From `Content-Disposition: attachment; filename="..."`.
    pub filename: Option<String>,
    pub body: Vec<u8>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MimeError {
    #[error("user_data: multipart message without a boundary")]
    NoBoundary,
    #[error("user_data: multiparts nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("user_data: part {index}: {message}")]
    Part { index: usize, message: String },
    #[error("user_data: part {index}: file name {name:?} is not a plain file name")]
    BadFilename { index: usize, name: String },
}

/// Splits MIME user_data into its leaf parts (nested multiparts are flattened). Data that is
/// not MIME at all yields `Ok(vec![])`.
pub fn parse(data: &[u8]) -> Result<Vec<Part>, MimeError> {
    let text = String::from_utf8_lossy(data);
    let (headers, body) = split_headers(&text);
    let ctype = header(&headers, "content-type").unwrap_or_default();
    if !ctype.to_ascii_lowercase().starts_with("multipart/") {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    collect(&ctype, body, &mut out, 1)?;
    Ok(out)
}

/// The initial metadata document (the `cfn-init-data` part), if present.
pub fn cfn_init_data(data: &[u8]) -> Result<Option<Vec<u8>>, MimeError> {
    Ok(parse(data)?
        .into_iter()
        .find(|p| {
            p.content_type == "text/x-cfninitdata" && p.filename.as_deref() == Some("cfn-init-data")
        })
        .map(|p| p.body))
}

fn collect(ctype: &str, body: &str, out: &mut Vec<Part>, depth: usize) -> Result<(), MimeError> {
    if depth > MAX_DEPTH {
        return Err(MimeError::TooDeep);
    }
    let boundary = param(ctype, "boundary").ok_or(MimeError::NoBoundary)?;
    let delim = format!("--{boundary}");
    let mut sections = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in body.split_inclusive('\n') {
        let trimmed = line.trim_end_matches(['\r', '\n']);
        if trimmed == delim || trimmed == format!("{delim}--") {
            if let Some(lines) = current.take() {
                sections.push(lines.concat());
            }
            if trimmed.ends_with("--") && trimmed != delim {
                break;
            }
            current = Some(Vec::new());
        } else if let Some(lines) = current.as_mut() {
            lines.push(line);
        }
    }
    for section in sections {
        let index = out.len();
        let (headers, body) = split_headers(&section);
        // The line break before a boundary belongs to the boundary.
        let body = body
            .strip_suffix("\r\n")
            .or_else(|| body.strip_suffix('\n'))
            .unwrap_or(body);
        let ctype = header(&headers, "content-type").unwrap_or_else(|| "text/plain".into());
        let bare = ctype
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if bare.starts_with("multipart/") {
            collect(&ctype, body, out, depth + 1)?;
            continue;
        }
        let filename = header(&headers, "content-disposition").and_then(|d| param(&d, "filename"));
        if let Some(name) = &filename {
            if name.is_empty()
                || name.contains('/')
                || name == "."
                || name == ".."
                || name.contains('\0')
            {
                return Err(MimeError::BadFilename {
                    index,
                    name: name.clone(),
                });
            }
        }
        let encoding = header(&headers, "content-transfer-encoding")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let bytes = match encoding.trim() {
            "base64" => {
                let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
                base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .map_err(|e| MimeError::Part {
                        index,
                        message: format!("bad base64: {e}"),
                    })?
            }
            "" | "7bit" | "8bit" | "binary" => body.as_bytes().to_vec(),
            other => {
                return Err(MimeError::Part {
                    index,
                    message: format!("unsupported transfer encoding {other}"),
                })
            }
        };
        out.push(Part {
            content_type: bare,
            filename,
            body: bytes,
        });
    }
    Ok(())
}

/// Splits at the first empty line; headers are unfolded (continuation lines joined).
fn split_headers(text: &str) -> (Vec<(String, String)>, &str) {
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        pos += line.len();
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            return (headers, &text[pos..]);
        }
        if l.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                last.1.push(' ');
                last.1.push_str(l.trim());
            }
        } else if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    (headers, "")
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

/// A parameter of a structured header value: `name="value"` or `name=value`.
fn param(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().trim_matches('"').to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape Heat's `_build_userdata` produces (Python email.mime, nested multipart).
    const USER_DATA: &str = "Content-Type: multipart/mixed; boundary=\"===============1==\"\nMIME-Version: 1.0\n\n--===============1==\nContent-Type: text/cloud-config; charset=\"us-ascii\"\nMIME-Version: 1.0\nContent-Transfer-Encoding: 7bit\nContent-Disposition: attachment; filename=\"cloud-config\"\n\nruncmd: []\n\n--===============1==\nContent-Type: text/x-cfninitdata; charset=\"us-ascii\"\nMIME-Version: 1.0\nContent-Transfer-Encoding: 7bit\nContent-Disposition: attachment; filename=\"cfn-init-data\"\n\n{\"os-collect-config\": {\"collectors\": [\"request\"]}}\n--===============1==\nContent-Type: text/x-cfninitdata; charset=\"us-ascii\"\nMIME-Version: 1.0\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment;\n filename=\"cfn-watch-server\"\n\naGVsbG8=\n--===============1==--\n";

    #[test]
    fn finds_cfn_init_data() {
        let doc = cfn_init_data(USER_DATA.as_bytes()).unwrap().unwrap();
        assert_eq!(
            doc,
            b"{\"os-collect-config\": {\"collectors\": [\"request\"]}}"
        );
        let parts = parse(USER_DATA.as_bytes()).unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].filename.as_deref(), Some("cloud-config"));
        assert_eq!(
            parts[2].filename.as_deref(),
            Some("cfn-watch-server"),
            "folded header"
        );
        assert_eq!(parts[2].body, b"hello");
    }

    #[test]
    fn non_mime_is_no_parts() {
        assert_eq!(parse(b"#!/bin/sh\necho hi\n").unwrap(), vec![]);
        assert_eq!(cfn_init_data(b"{}").unwrap(), None);
    }

    #[test]
    fn hostile_filenames_and_bad_base64_are_errors() {
        let evil = USER_DATA.replace(
            "filename=\"cfn-init-data\"",
            "filename=\"../../etc/passwd\"",
        );
        assert!(matches!(
            parse(evil.as_bytes()),
            Err(MimeError::BadFilename { index: 1, .. })
        ));
        let bad = USER_DATA.replace("aGVsbG8=", "!!notbase64");
        assert!(matches!(
            parse(bad.as_bytes()),
            Err(MimeError::Part { index: 2, .. })
        ));
        let nob = "Content-Type: multipart/mixed\n\nx";
        assert_eq!(parse(nob.as_bytes()), Err(MimeError::NoBoundary));
    }

    #[test]
    fn crlf_and_nested_multiparts() {
        let inner = "Content-Type: multipart/alternative; boundary=in\r\n\r\n--in\r\nContent-Type: text/x-cfninitdata\r\nContent-Disposition: attachment; filename=cfn-init-data\r\n\r\n{}\r\n--in--\r\n";
        let outer = format!(
            "Content-Type: multipart/mixed; boundary=out\r\n\r\n--out\r\n{inner}--out--\r\n"
        );
        assert_eq!(
            cfn_init_data(outer.as_bytes()).unwrap(),
            Some(b"{}".to_vec())
        );
    }

    #[test]
    fn deep_multipart_nesting_is_refused() {
        let mut msg = String::from("leaf\n");
        for i in 0..1_000 {
            msg = format!(
                "Content-Type: multipart/mixed; boundary=\"b{i}\"\n\n--b{i}\n{msg}\n--b{i}--\n"
            );
        }
        let started = std::time::Instant::now();
        assert_eq!(parse(msg.as_bytes()), Err(MimeError::TooDeep));
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
