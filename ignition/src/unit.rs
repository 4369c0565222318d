//! systemd unit file syntax, checked the way Ignition's unit parser (go-systemd) does: which
//! contents are rejected, and which sections hold options (for the `[Install]` warning).

/// systemd truncates longer lines; the parser rejects them.
const LINE_MAX: usize = 2048;

/// One `Name=value` found in a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitOption {
    pub section: String,
    pub name: String,
    pub value: String,
}

enum Step {
    NextSection,
    SectionName,
    SectionSuffix,
    SectionOrOption,
    OptionName,
    IgnoreLine(Box<Step>),
}

/// Parses unit contents into options; the error message matches go-systemd's.
pub fn parse(contents: &str) -> Result<Vec<UnitOption>, String> {
    let b = contents.as_bytes();
    let mut pos = 0;
    let mut section = String::new();
    let mut opts = Vec::new();
    let mut step = Step::NextSection;
    loop {
        let rest = &b[pos..];
        if rest.len() >= LINE_MAX && !rest[..LINE_MAX].iter().any(|&c| c == b'\n' || c == b'\r') {
            return Err(format!("line too long (max {LINE_MAX} bytes)"));
        }
        step = match step {
            Step::NextSection => match rest.first() {
                None => return Ok(opts),
                Some(c) => {
                    pos += 1;
                    match c {
                        b'[' => Step::SectionName,
                        b'#' | b';' => Step::IgnoreLine(Box::new(Step::NextSection)),
                        _ => Step::NextSection,
                    }
                }
            },
            Step::IgnoreLine(next) => loop {
                let Some(nl) = b[pos..].iter().position(|&c| c == b'\n') else {
                    return Ok(opts);
                };
                let line_end = pos + nl;
                pos = line_end + 1;
                if line_end == 0 || b[line_end - 1] != b'\\' {
                    break *next;
                }
            },
            Step::SectionName => {
                let end = rest
                    .iter()
                    .position(|&c| c == b']')
                    .ok_or("unable to find end of section")?;
                section = String::from_utf8_lossy(&rest[..end]).into_owned();
                pos += end + 1;
                Step::SectionSuffix
            }
            Step::SectionSuffix => {
                let (line, _) = to_eol(b, &mut pos);
                let garbage = line.trim();
                if !garbage.is_empty() {
                    return Err(format!(
                        "found garbage after section name {section}: {garbage:?}"
                    ));
                }
                Step::SectionOrOption
            }
            Step::SectionOrOption => {
                let Some(c) = contents[pos..].chars().next() else {
                    return Ok(opts);
                };
                if c.is_whitespace() {
                    pos += c.len_utf8();
                    Step::SectionOrOption
                } else if c == '[' {
                    pos += 1;
                    Step::SectionName
                } else if c == '#' || c == ';' {
                    pos += 1;
                    Step::IgnoreLine(Box::new(Step::SectionOrOption))
                } else {
                    Step::OptionName
                }
            }
            Step::OptionName => {
                let mut i = 0;
                loop {
                    match rest.get(i) {
                        None => return Err("EOF".into()),
                        Some(b'\n' | b'\r') => {
                            return Err(
                                "unexpected newline encountered while parsing option name".into()
                            )
                        }
                        Some(b'=') => break,
                        Some(_) => i += 1,
                    }
                }
                let name = contents[pos..pos + i].trim().to_string();
                pos += i + 1;
                let value = option_value(b, &mut pos);
                opts.push(UnitOption {
                    section: section.clone(),
                    name,
                    value,
                });
                Step::SectionOrOption
            }
        };
    }
}

/// Reads a value with `\` continuations (each continued line is one lexer step, so the
/// line-length check applies again at its start).
fn option_value(b: &[u8], pos: &mut usize) -> String {
    let mut partial = String::new();
    loop {
        let (line, eof) = to_eol(b, pos);
        if line.trim().is_empty() {
            break;
        }
        partial.push_str(&line);
        if !line.ends_with('\\') {
            break;
        }
        if !eof {
            partial.push('\n');
        }
        if eof {
            break;
        }
    }
    if partial.ends_with('\n') {
        format!("{}\n", partial.trim())
    } else {
        partial.trim().to_string()
    }
}

/// The rest of the line without `\n` / `\r\n`, and whether the input ended.
fn to_eol(b: &[u8], pos: &mut usize) -> (String, bool) {
    let rest = &b[*pos..];
    let (line, eof) = match rest.iter().position(|&c| c == b'\n') {
        Some(nl) => {
            *pos += nl + 1;
            (&rest[..nl], false)
        }
        None => {
            *pos = b.len();
            (rest, true)
        }
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    (String::from_utf8_lossy(line).into_owned(), eof)
}

/// True when some option lives in an `[Install]` section.
pub fn has_install_section(opts: &[UnitOption]) -> bool {
    opts.iter().any(|o| o.section == "Install")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Ok(true)` = parses and has an install section.
    fn check(contents: &str, expect: Result<bool, &str>) {
        let got = parse(contents).map(|o| has_install_section(&o));
        match expect {
            Ok(v) => assert_eq!(got, Ok(v), "{contents:?}"),
            Err(frag) => {
                let e = got.expect_err(contents);
                assert!(e.contains(frag), "{contents:?}: {e}");
            }
        }
    }

    #[test]
    fn agrees_with_go_systemd() {
        check("", Ok(false));
        check("garbage", Ok(false));
        check("A=b", Ok(false));
        check(
            "[Unit]\nA=b\n[Install]\nWantedBy=multi-user.target\n",
            Ok(true),
        );
        check("[Install]\n#x", Ok(false));
        check("[install]\nWantedBy=x", Ok(false));
        check("[Unit]\n [Install]\nWantedBy=x", Ok(true));
        check("x]\n[Install]\nA=b", Ok(true));
        check("[Unit]\nA=b\\\n[Install]\nx=y", Ok(false));
        check("[Unit]\r\nA=b\r\n", Ok(false));
        check("[Unit]\n#c\n;d\nA=b", Ok(false));
        check("[Unit]\n=x", Ok(false));
        check("[Unit", Err("unable to find end of section"));
        check("x\n[Unit", Err("unable to find end of section"));
        check("[Unit]]\nA=b", Err("found garbage after section name"));
        check("[Unit]\ngarbage", Err("EOF"));
        check("[Unit]\nA\nB=c", Err("unexpected newline"));
        check(
            &format!("[Unit]\nA={}", "x".repeat(5000)),
            Err("line too long"),
        );
        check(
            &format!("[Unit]\n{}=b", "x".repeat(5000)),
            Err("line too long"),
        );
    }

    #[test]
    fn option_values_keep_continuations() {
        let o = parse("[Service]\nExecStart=/bin/a \\\n  b\nUser=x\n").expect("valid");
        assert_eq!(o[0].value, "/bin/a \\\n  b");
        assert_eq!(o[1].name, "User");
    }
}
