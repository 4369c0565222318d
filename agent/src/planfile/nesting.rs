//! A cheap check before the YAML parser sees the text: libyaml takes time quadratic in the
//! nesting depth of flow collections (`[[[[...`), so a 1 MiB file of brackets would stall the
//! agent. Depth beyond serde_norway's own limit (128) is refused up front.

/// Flow collections nested deeper than this are refused.
pub const MAX_FLOW_DEPTH: usize = 128;

/// The 1-based line where flow nesting first exceeds `MAX_FLOW_DEPTH`, if it does. Brackets in
/// quoted strings and comments do not count; brackets inside plain scalars do (a conservative
/// over-count that real Planfiles do not reach).
pub fn too_deep_at(text: &str) -> Option<usize> {
    let mut depth: usize = 0;
    let mut line = 1;
    let mut quote: Option<char> = None;
    let mut comment = false;
    let mut prev = '\n';
    for c in text.chars() {
        if c == '\n' {
            line += 1;
            comment = false;
            prev = c;
            continue;
        }
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if comment => {}
            None => match c {
                '#' if prev.is_whitespace() => comment = true,
                '"' | '\'' if prev.is_whitespace() || "[{,:".contains(prev) => quote = Some(c),
                '[' | '{' => {
                    depth += 1;
                    if depth > MAX_FLOW_DEPTH {
                        return Some(line);
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
        prev = c;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth() {
        let deep = |n| format!("a: 1\nb: {}{}\n", "[".repeat(n), "]".repeat(n));
        assert_eq!(too_deep_at(&deep(MAX_FLOW_DEPTH)), None);
        assert_eq!(too_deep_at(&deep(MAX_FLOW_DEPTH + 1)), Some(2));
        let quoted = format!("a: \"{0}\"\nb: '{0}'\n# {0}\nc: x # {0}\n", "[".repeat(500));
        assert_eq!(too_deep_at(&quoted), None);
        let siblings = "[a], ".repeat(1000);
        assert_eq!(too_deep_at(&siblings), None);
    }
}
