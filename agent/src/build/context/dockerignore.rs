//! `.dockerignore` rules with the Docker client's exact semantics (moby `ignorefile.ReadAll` +
//! `patternmatcher`): one pattern a line, `#` comments (only at column 0), surrounding blanks
//! trimmed, `!` re-includes, later lines win, patterns cleaned like Go's `filepath.Clean` and
//! anchored at the context root; `*`/`?`/`[...]` never cross `/` (a class may, as in Docker's
//! regexp), `**` spans any number of directories, and a path is excluded when it or one of its
//! parent directories matches. Pure: no I/O.
//!
//! Cost is bounded for hostile sources: a pattern is at most `MAX_PATTERN_CHARS`, runs of
//! `**/` collapse into one token, and matching is linear in tokens × path length (a 90 KB
//! `**/**/...` line cost 25 s of CPU before).

/// Patterns longer than this are refused: no path on Linux is longer (PATH_MAX).
pub const MAX_PATTERN_CHARS: usize = 4096;

/// A `.dockerignore` line that Docker would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: bad pattern {pattern:?}: {reason}")]
pub struct PatternError {
    pub line: usize,
    pub pattern: String,
    pub reason: &'static str,
}

/// The parsed rules of one `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Pattern {
    /// `!pattern`: re-includes what earlier patterns excluded.
    exclusion: bool,
    /// The cleaned pattern text (without `!`).
    text: String,
    kind: Kind,
}

/// How a pattern matches, chosen exactly as moby's `Pattern.compile` does (its shortcut kinds
/// are observable: `**foo` is a plain suffix test and also matches `barfoo`).
#[derive(Debug, Clone)]
enum Kind {
    Exact,
    /// `literal**`: the path starts with `literal`.
    Prefix(String),
    /// `**literal`: the path ends with `literal` (or is it, without the leading `/`).
    Suffix(String),
    Glob(Vec<Tok>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(char),
    /// `?`: one character except `/`.
    One,
    /// `*`: any run of characters except `/`.
    Star,
    /// `**` (with its `/` eaten) not at the end: `(.*/)?`.
    Dirs,
    /// `**` at the end: `.*`.
    Rest,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Rules {
    /// Parses a `.dockerignore` text the way `ignorefile.ReadAll` and `patternmatcher.New` do.
    pub fn parse(text: &str) -> Result<Rules, PatternError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut patterns = Vec::new();
        for (idx, raw) in text.lines().enumerate() {
            let line = idx + 1;
            if raw.starts_with('#') {
                continue;
            }
            let trimmed = raw.trim();
            if trimmed.is_empty() {
                continue;
            }
            let (exclusion, body) = match trimmed.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, trimmed),
            };
            let err = |reason| PatternError {
                line,
                pattern: shown(raw),
                reason,
            };
            if body.chars().count() > MAX_PATTERN_CHARS {
                return Err(err("longer than 4096 characters (no path is)"));
            }
            if body.is_empty() {
                return Err(err("a lone \"!\" re-includes nothing"));
            }
            let mut cleaned = clean(body);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            validate(&cleaned).map_err(err)?;
            patterns.push(Pattern {
                exclusion,
                kind: compile(&cleaned),
                text: cleaned,
            });
        }
        Ok(Rules { patterns })
    }

    /// What the Docker CLI does before sending a context (`TrimBuildFilesFromExcludes`): the
    /// `.dockerignore` and the Dockerfile are always sent, even when a pattern excludes them.
    pub fn keep_build_files(&mut self, dockerfile: &str) {
        for name in [".dockerignore", dockerfile] {
            if self.excludes(name) {
                let text = clean(name);
                self.patterns.push(Pattern {
                    exclusion: true,
                    kind: compile(&text),
                    text,
                });
            }
        }
    }

    /// True when `path` (relative to the context root, `/`-separated) is left out of the
    /// context: the last pattern matching it or one of its parent directories is not a `!`.
    pub fn excludes(&self, path: &str) -> bool {
        let mut matched = false;
        let parents: Vec<&str> = match path.rfind('/') {
            Some(i) => path[..i].split('/').collect(),
            None => Vec::new(),
        };
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            let mut hit = p.matches(path);
            if !hit {
                let mut end = 0;
                for dir in &parents {
                    end += dir.len();
                    if p.matches(&path[..end]) {
                        hit = true;
                        break;
                    }
                    end += 1;
                }
            }
            if hit {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// Whether any `!` pattern could re-include something below the excluded directory `dir`,
    /// so the walk must descend into it. Docker's classic client only checks whether a `!`
    /// pattern starts with `dir/` (so `!**/keep` never reaches into an excluded directory);
    /// this compares component by component and treats `**` as "maybe", like BuildKit, which
    /// finds everything the prefix test finds and more.
    pub fn may_include_under(&self, dir: &str) -> bool {
        let dir_parts: Vec<&str> = dir.split('/').collect();
        self.patterns.iter().filter(|p| p.exclusion).any(|p| {
            let pat_parts: Vec<&str> = p.text.split('/').collect();
            for (i, d) in dir_parts.iter().enumerate() {
                let Some(pp) = pat_parts.get(i) else {
                    return false;
                };
                if pp.contains("**") {
                    return true;
                }
                if !compile_component(pp).matches(d) {
                    return false;
                }
            }
            pat_parts.len() > dir_parts.len()
        })
    }

    /// True when there is at least one `!` pattern.
    pub fn has_exclusions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }
}

fn compile_component(text: &str) -> Pattern {
    Pattern {
        exclusion: false,
        kind: compile(text),
        text: text.to_string(),
    }
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => path == self.text,
            Kind::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Kind::Suffix(suffix) => {
                path.ends_with(suffix.as_str())
                    || suffix.strip_prefix('/').is_some_and(|s| path == s)
            }
            Kind::Glob(toks) => glob_match(toks, path),
        }
    }
}

/// A pattern as quoted in an error: its first 80 characters.
fn shown(raw: &str) -> String {
    match raw.char_indices().nth(80) {
        Some((i, _)) => format!("{}...", &raw[..i]),
        None => raw.to_string(),
    }
}

/// Go's `filepath.Clean` for `/`-separated paths.
pub fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            p => out.push(p),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// The syntax check Docker does with `filepath.Match(pattern, ".")`: classes closed and
/// well formed, no trailing `\`.
fn validate(pattern: &str) -> Result<(), &'static str> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if i + 1 >= chars.len() {
                    return Err("it ends with an escaping backslash");
                }
                i += 2;
            }
            '[' => {
                let (_, next) = parse_class(&chars, i + 1)?;
                i = next;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Parses a character class whose body starts at `start` (after `[`); returns the class and
/// the index after its `]`. Follows `filepath.Match`: `^` negates, `\` escapes, a range item
/// may not start with `-` or `]`.
fn parse_class(chars: &[char], start: usize) -> Result<(Tok, usize), &'static str> {
    let mut i = start;
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        match chars.get(i) {
            None => return Err("a character class is not closed with ]"),
            Some(']') if !first => return Ok((Tok::Class { negated, ranges }, i + 1)),
            _ => {}
        }
        first = false;
        let (lo, next) = class_char(chars, i)?;
        i = next;
        let mut hi = lo;
        if chars.get(i) == Some(&'-') {
            let (h, next) = class_char(chars, i + 1)?;
            hi = h;
            i = next;
            if hi < lo {
                return Err("a character range is reversed");
            }
        }
        ranges.push((lo, hi));
    }
}

fn class_char(chars: &[char], i: usize) -> Result<(char, usize), &'static str> {
    match chars.get(i) {
        None => Err("a character class is not closed with ]"),
        Some('-') | Some(']') => Err("a character class item starts with - or ]"),
        Some('\\') => match chars.get(i + 1) {
            Some(c) => Ok((*c, i + 2)),
            None => Err("it ends with an escaping backslash"),
        },
        Some(c) => Ok((*c, i + 1)),
    }
}

/// moby's `Pattern.compile`, producing tokens instead of a regexp. `pattern` is validated.
fn compile(pattern: &str) -> Kind {
    #[derive(PartialEq)]
    enum K {
        Exact,
        Prefix,
        Suffix,
        Glob,
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut toks = Vec::new();
    let mut kind = K::Exact;
    let mut i = 0;
    let mut first = true;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        match ch {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= chars.len() {
                    if kind == K::Exact {
                        kind = K::Prefix;
                    } else {
                        kind = K::Glob;
                    }
                    // `(.*/)?.*` is `.*`.
                    if toks.last() == Some(&Tok::Dirs) {
                        toks.pop();
                    }
                    toks.push(Tok::Rest);
                } else {
                    kind = K::Glob;
                    // `(.*/)?(.*/)?` is `(.*/)?`: a run of `**/` is one token.
                    if toks.last() != Some(&Tok::Dirs) {
                        toks.push(Tok::Dirs);
                    }
                }
                if first {
                    kind = K::Suffix;
                }
            }
            '*' => {
                kind = K::Glob;
                toks.push(Tok::Star);
            }
            '?' => {
                kind = K::Glob;
                toks.push(Tok::One);
            }
            '\\' => {
                if let Some(c) = chars.get(i) {
                    i += 1;
                    toks.push(Tok::Lit(*c));
                    kind = K::Glob;
                } else {
                    toks.push(Tok::Lit('\\'));
                }
            }
            '[' => {
                kind = K::Glob;
                match parse_class(&chars, i) {
                    Ok((class, next)) => {
                        toks.push(class);
                        i = next;
                    }
                    Err(_) => toks.push(Tok::Lit('[')),
                }
            }
            c => toks.push(Tok::Lit(c)),
        }
        first = false;
    }
    match kind {
        K::Exact => Kind::Exact,
        K::Prefix => Kind::Prefix(pattern[..pattern.len() - 2].to_string()),
        K::Suffix => Kind::Suffix(pattern[2..].to_string()),
        K::Glob => Kind::Glob(toks),
    }
}

/// Whole-string match of tokens against `path` by dynamic programming (no exponential
/// backtracking): `ok[t][s]` = tokens `t..` match characters `s..`. Linear in tokens × path:
/// `.*` and `(.*/)?` look right through running ORs, not by rescanning.
fn glob_match(toks: &[Tok], path: &str) -> bool {
    let s: Vec<char> = path.chars().collect();
    let n = s.len();
    let mut next = vec![false; n + 1];
    next[n] = true;
    for tok in toks.iter().rev() {
        let mut cur = vec![false; n + 1];
        // For `Rest`: some next[k], k >= j. For `Dirs`: some `/` at k >= j with next[k + 1].
        let mut any_after = false;
        for j in (0..=n).rev() {
            any_after = match tok {
                Tok::Rest => any_after || next[j],
                Tok::Dirs => any_after || (j < n && s[j] == '/' && next[j + 1]),
                _ => false,
            };
            cur[j] = match tok {
                Tok::Lit(c) => j < n && s[j] == *c && next[j + 1],
                Tok::One => j < n && s[j] != '/' && next[j + 1],
                Tok::Class { negated, ranges } => {
                    j < n
                        && ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&s[j])) != *negated
                        && next[j + 1]
                }
                // `*` at j: stop here, or eat one non-`/` and keep going.
                Tok::Star => next[j] || (j < n && s[j] != '/' && cur[j + 1]),
                // `.*`: anything to any later point.
                Tok::Rest => any_after,
                // `(.*/)?`: nothing, or up to and including some later `/`.
                Tok::Dirs => next[j] || any_after,
            };
        }
        next = cur;
    }
    next[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (dockerignore text, path, excluded?)
    fn check(cases: &[(&str, &str, bool)]) {
        for (rules, path, want) in cases {
            let r = Rules::parse(rules).unwrap_or_else(|e| panic!("{rules:?}: {e}"));
            assert_eq!(r.excludes(path), *want, "rules {rules:?} path {path:?}");
        }
    }

    #[test]
    fn docker_documentation_examples() {
        // https://docs.docker.com/build/concepts/context/#dockerignore-files
        let doc = "# comment\n*/temp*\n*/*/temp*\ntemp?\n";
        check(&[
            (doc, "somedir/temporary.txt", true),
            (doc, "somedir/temp", true),
            (doc, "somedir/temp/inner.txt", true),
            (doc, "somedir/subdir/temporary.txt", true),
            (doc, "tempa", true),
            (doc, "tempb", true),
            (doc, "temp", false),
            (doc, "temporary.txt", false),
            (doc, "a/b/c/temp.txt", false),
            (doc, "# comment", false),
            ("**/*.go", "main.go", true),
            ("**/*.go", "a/b/c/main.go", true),
            ("**/*.go", "main.gox", false),
            ("*.md\n!README.md", "CHANGES.md", true),
            ("*.md\n!README.md", "README.md", false),
            (
                "*.md\n!README*.md\nREADME-secret.md",
                "README-secret.md",
                true,
            ),
            (
                "*.md\n!README*.md\nREADME-secret.md",
                "README-public.md",
                false,
            ),
            ("*.md\n!README*.md\nREADME-secret.md", "other.md", true),
            (
                "*.md\nREADME-secret.md\n!README*.md",
                "README-secret.md",
                false,
            ),
            ("*.md\nREADME-secret.md\n!README*.md", "notes.md", true),
        ]);
    }

    #[test]
    fn anchoring_cleaning_and_parents() {
        check(&[
            ("foo", "foo", true),
            ("foo", "foo/bar/baz", true),
            ("foo", "a/foo", false),
            ("/foo/bar/", "foo/bar/x", true),
            ("./foo", "foo", true),
            ("foo//bar/../baz", "foo/baz", true),
            ("  spaced  ", "spaced", true),
            ("  # not a comment", "# not a comment", true),
            ("*", "anything", true),
            ("*", "dir/deep/file", true),
            ("*.txt", "dir/a.txt", false),
            ("dir/*.txt", "dir/a.txt", true),
            ("dir/*.txt", "dir/sub/a.txt", false),
            ("dir/**", "dir/sub/a.txt", true),
            ("dir/**", "dir", false),
            ("dir/**/*.txt", "dir/a.txt", true),
            ("dir/**/*.txt", "dir/x/y/a.txt", true),
            ("**", "x/y", true),
            ("**/node_modules", "node_modules", true),
            ("**/node_modules", "a/b/node_modules/x.js", true),
            ("**foo", "barfoo", true), // moby's suffix shortcut
            ("?", "a", true),
            ("?", "ab", false),
            ("[a-c]x", "bx", true),
            ("[a-c]x", "dx", false),
            ("[^a-c]x", "dx", true),
            ("\\*star", "*star", true),
            ("\\*star", "xstar", false),
            (".git", ".git/config", true),
            ("*.py[co]", "m.pyc", true),
        ]);
    }

    #[test]
    fn later_lines_win() {
        let rules = "logs\n!logs/keep.log\nlogs/keep.log";
        check(&[(rules, "logs/keep.log", true), (rules, "logs/other", true)]);
        let rules = "*\n!src\nsrc/tmp";
        check(&[
            (rules, "src/main.rs", false),
            (rules, "src/tmp/x", true),
            (rules, "Cargo.toml", true),
        ]);
    }

    #[test]
    fn build_files_are_kept() {
        let mut r = Rules::parse("*\n").unwrap();
        assert!(r.excludes("Dockerfile") && r.excludes(".dockerignore"));
        r.keep_build_files("Dockerfile");
        assert!(!r.excludes("Dockerfile"));
        assert!(!r.excludes(".dockerignore"));
        assert!(r.excludes("other"));
    }

    #[test]
    fn descending_into_excluded_dirs() {
        let r = Rules::parse("vendor\n!vendor/keep\n").unwrap();
        assert!(r.may_include_under("vendor"));
        assert!(!r.may_include_under("other"));
        let r = Rules::parse("*\n!**/keep.txt\n").unwrap();
        assert!(r.may_include_under("a/b"));
        let r = Rules::parse("*\n!src\n").unwrap();
        assert!(
            !r.may_include_under("src/sub"),
            "src itself is re-included, not skipped"
        );
        assert!(!Rules::parse("a\n").unwrap().may_include_under("a"));
    }

    #[test]
    fn bad_patterns_name_the_line() {
        for (text, line) in [
            ("ok\n[abc", 2),
            ("!", 1),
            ("a\n\nfoo\\", 3),
            ("[]", 1),
            ("[z-a]", 1),
        ] {
            let e = Rules::parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
        }
    }

    #[test]
    fn go_clean() {
        for (i, o) in [
            ("", "."),
            ("a/", "a"),
            ("/", "/"),
            ("./a/./b", "a/b"),
            ("a/../..", ".."),
            ("/../a", "/a"),
        ] {
            assert_eq!(clean(i), o, "{i:?}");
        }
    }

    #[test]
    fn many_stars_stay_fast() {
        let r = Rules::parse("*a*a*a*a*a*a*a*a*b").unwrap();
        assert!(!r.excludes(&"a".repeat(2000)));
    }

    /// Issue 11: a 90 KB line of `**/` cost 25 s of CPU on a small source.
    #[test]
    fn dockerignore_line_of_90_kb_of_double_stars_is_cheap() {
        let started = std::time::Instant::now();
        let line = format!("{}x", "**/".repeat(1300));
        let r = Rules::parse(&line).unwrap();
        for i in 0..2000 {
            let path = format!("a/b/c/d/e/f/g/h/file-{i}");
            assert!(!r.excludes(&path));
            assert!(r.excludes(&format!("{path}/x")));
        }
        let huge = "**/".repeat(30_000);
        let e = Rules::parse(&huge).unwrap_err();
        assert!(e.to_string().contains("longer than 4096 characters"), "{e}");
        assert!(e.to_string().len() < 200, "the error quotes the whole line");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
    }
}
