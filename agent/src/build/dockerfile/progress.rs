//! Reading the classic builder's output: the `stream` chunks of `POST /build` (or a
//! container's log frames) cut into whole lines, the last `Step N/M : ...` remembered, and a
//! failure turned into an error that names the step. Pure.

use crate::build::BuildError;

/// Turns arbitrary chunks into lines; remembers the last build step seen.
#[derive(Debug, Default)]
pub struct Progress {
    partial: String,
    /// The last character was `\r`: a `\n` right after it ends no extra line.
    after_cr: bool,
    last_step: Option<String>,
}

impl Progress {
    /// Feeds one chunk; returns the lines it completed (without line ends; `\r\n` and lone
    /// `\r` end lines too, so progress bars do not pile up in one line).
    pub fn push(&mut self, chunk: &str) -> Vec<String> {
        let mut lines = Vec::new();
        for ch in chunk.chars() {
            match ch {
                '\n' if self.after_cr => self.after_cr = false,
                '\n' | '\r' => {
                    let line = std::mem::take(&mut self.partial);
                    self.note(&line);
                    lines.push(line);
                    self.after_cr = ch == '\r';
                }
                c => {
                    self.partial.push(c);
                    self.after_cr = false;
                }
            }
        }
        lines
    }

    /// The unterminated rest, if any, at the end of the stream.
    pub fn finish(&mut self) -> Option<String> {
        if self.partial.is_empty() {
            return None;
        }
        let line = std::mem::take(&mut self.partial);
        self.note(&line);
        Some(line)
    }

    fn note(&mut self, line: &str) {
        if is_step(line) {
            self.last_step = Some(line.trim().to_string());
        }
    }

    /// The last `Step N/M : INSTRUCTION` line seen.
    pub fn last_step(&self) -> Option<&str> {
        self.last_step.as_deref()
    }

    /// The error for a failed build, naming the step it failed at.
    pub fn failure(&self, message: &str) -> BuildError {
        BuildError::DockerfileFailed {
            step: self
                .last_step()
                .unwrap_or("the start (before the first step)")
                .to_string(),
            message: message.trim().to_string(),
        }
    }
}

/// `Step 3/7 : RUN make` (the classic builder's step header).
pub fn is_step(line: &str) -> bool {
    let Some(rest) = line.trim_start().strip_prefix("Step ") else {
        return false;
    };
    let Some((counts, _)) = rest.split_once(" : ") else {
        return false;
    };
    let Some((n, m)) = counts.split_once('/') else {
        return false;
    };
    !n.is_empty() && !m.is_empty() && n.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit())
}

/// The image of a `Step N/M : FROM [--platform=...] image [AS name]` line.
pub fn from_image(step: &str) -> Option<&str> {
    let (_, instruction) = step.split_once(" : ")?;
    let mut words = instruction.split_whitespace();
    if !words.next()?.eq_ignore_ascii_case("FROM") {
        return None;
    }
    words.find(|w| !w.starts_with("--"))
}

/// The message for a FROM that failed because the image is not here and cannot be pulled.
pub fn missing_base_message(image: &str, daemon_message: &str) -> String {
    format!(
        "base image {image} is missing: it is not in this host's image store and cannot be pulled \
         (no container registry is reachable from here); build or load it first. Docker said: {}",
        daemon_message.trim()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_become_lines() {
        let mut p = Progress::default();
        assert_eq!(
            p.push("Step 1/2 : FROM x\n ---> abc\nhal"),
            vec!["Step 1/2 : FROM x", " ---> abc"]
        );
        assert_eq!(p.push("f line\r\n"), vec!["half line"]);
        assert_eq!(p.push("10%\r20%\r"), vec!["10%", "20%"]);
        assert_eq!(p.push("\ndone"), Vec::<String>::new());
        assert_eq!(p.finish().as_deref(), Some("done"));
        assert_eq!(p.finish(), None);
        assert_eq!(p.last_step(), Some("Step 1/2 : FROM x"));
    }

    #[test]
    fn failure_names_the_last_step() {
        let mut p = Progress::default();
        p.push("Step 1/3 : FROM base\nStep 2/3 : RUN false\nsome output\n");
        match p.failure("The command '/bin/sh -c false' returned a non-zero code: 1\n") {
            BuildError::DockerfileFailed { step, message } => {
                assert_eq!(step, "Step 2/3 : RUN false");
                assert_eq!(
                    message,
                    "The command '/bin/sh -c false' returned a non-zero code: 1"
                );
            }
            other => panic!("{other:?}"),
        }
        let none = Progress::default().failure("bad");
        assert!(none.to_string().contains("before the first step"), "{none}");
    }

    #[test]
    fn step_lines() {
        for (line, want) in [
            ("Step 1/2 : FROM x", true),
            ("Step 12/13 : RUN a : b", true),
            ("Step x/2 : RUN", false),
            ("Steps 1/2 : RUN", false),
            ("output Step 1/2 : RUN", false),
        ] {
            assert_eq!(is_step(line), want, "{line}");
        }
    }

    #[test]
    fn from_lines() {
        assert_eq!(from_image("Step 1/2 : FROM nope:1"), Some("nope:1"));
        assert_eq!(
            from_image("Step 1/2 : from --platform=linux/amd64 a/b:c AS build"),
            Some("a/b:c")
        );
        assert_eq!(from_image("Step 2/2 : RUN true"), None);
        assert!(missing_base_message("nope:1", "no such host\n").contains("nope:1 is missing"));
    }
}
