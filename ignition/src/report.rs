//! Validation reports: one entry per finding, each an error or a warning at a JSON pointer.

use std::fmt;

/// How serious a finding is: errors make a config invalid, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// One finding: where (a JSON pointer such as `/storage/files/3/path`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub severity: Severity,
    pub pointer: String,
    pub message: String,
}

/// A warning found while parsing or validating (same shape as an error entry).
pub type Warning = Entry;

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let at = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "{kind} at {at}: {}", self.message)
    }
}

/// All findings about one config, in the order they were found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub entries: Vec<Entry>,
}

impl Report {
    pub fn error(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Error, pointer.into(), message.into());
    }

    pub fn warn(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Warning, pointer.into(), message.into());
    }

    fn push(&mut self, severity: Severity, pointer: String, message: String) {
        self.entries.push(Entry {
            severity,
            pointer,
            message,
        });
    }

    /// True when at least one entry is an error.
    pub fn is_fatal(&self) -> bool {
        self.entries.iter().any(|e| e.severity == Severity::Error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Entry> {
        self.entries
            .iter()
            .filter(|e| e.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Entry> {
        self.entries
            .iter()
            .filter(|e| e.severity == Severity::Warning)
    }

    pub fn extend(&mut self, entries: impl IntoIterator<Item = Entry>) {
        self.entries.extend(entries);
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.entries {
            writeln!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Appends one reference token to a JSON pointer, escaping `~` and `/` (RFC 6901).
pub fn join(pointer: &str, token: impl fmt::Display) -> String {
    let token = token.to_string().replace('~', "~0").replace('/', "~1");
    format!("{pointer}/{token}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_escape_and_entries_display() {
        assert_eq!(join("/storage/files", 3), "/storage/files/3");
        assert_eq!(join("", "a/b~c"), "/a~1b~0c");
        let mut r = Report::default();
        r.warn("/foo", "unused key foo");
        assert!(!r.is_fatal());
        r.error("", "bad");
        assert!(r.is_fatal());
        assert_eq!(
            r.to_string(),
            "warning at /foo: unused key foo\nerror at /: bad\n"
        );
    }
}
