//! The log output of both binaries: one tracing subscriber on stderr whose form follows where
//! stderr goes.
//!
//! - The journal (`JOURNAL_STREAM` holds stderr's `device:inode`, as systemd sets it for a
//!   service's stdout/stderr; sd-daemon(3)): every line starts with its syslog priority,
//!   `<3>` error, `<4>` warning, `<6>` info, `<7>` debug and trace, so `journalctl -p warning`
//!   finds the warnings; no timestamp (journald adds its own) and no colour.
//! - A terminal: colour, unless `NO_COLOR` is set to anything but the empty string
//!   (no-color.org).
//! - Anything else (a file, a pipe, a container's log): no escape codes.

use std::fmt::{self, Write as _};
use std::io::IsTerminal;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// Where stderr goes, as far as the log's form is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// systemd's journal: priority prefixes, no timestamp, no colour.
    Journal,
    /// A terminal that may have colour.
    Colour,
    /// Anything else, or `NO_COLOR`: no escape codes.
    Plain,
}

impl Style {
    /// The style for this process's stderr and environment.
    pub fn detect() -> Style {
        let journal = std::env::var("JOURNAL_STREAM").ok();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style::decide(
            journal.as_deref(),
            stderr_id(),
            std::io::stderr().is_terminal(),
            no_color,
        )
    }

    /// The pure decision: `journal_stream` is `JOURNAL_STREAM`'s value, `stderr` the device
    /// and inode of stderr. A `JOURNAL_STREAM` that names another file (stderr redirected by
    /// a child of the service) is not the journal.
    pub fn decide(
        journal_stream: Option<&str>,
        stderr: Option<(u64, u64)>,
        terminal: bool,
        no_color: bool,
    ) -> Style {
        if journal_stream
            .and_then(parse_journal_stream)
            .is_some_and(|j| Some(j) == stderr)
        {
            Style::Journal
        } else if terminal && !no_color {
            Style::Colour
        } else {
            Style::Plain
        }
    }
}

/// `JOURNAL_STREAM`'s `DEVICE:INODE` (both decimal).
pub fn parse_journal_stream(s: &str) -> Option<(u64, u64)> {
    let (dev, ino) = s.trim().split_once(':')?;
    Some((dev.parse().ok()?, ino.parse().ok()?))
}

/// The device and inode of stderr (through a duplicate of the descriptor).
fn stderr_id() -> Option<(u64, u64)> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let fd = std::io::stderr().as_fd().try_clone_to_owned().ok()?;
    let meta = std::fs::File::from(fd).metadata().ok()?;
    Some((meta.dev(), meta.ino()))
}

/// The syslog priority of a level, as the journal reads it from a `<N>` prefix.
pub fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// How a line looks outside the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    /// tracing's usual line: time, level, message (the agent: its lines are read later).
    Timestamped,
    /// `PROG: warning: message`, as command-line tools write (solum-image).
    Prefixed(&'static str),
}

/// Installs the subscriber: `RUST_LOG` if set, else `default_filter`; returns the style used.
pub fn init(default_filter: &str, look: Look) -> Style {
    init_with_writer(default_filter, look, std::io::stderr)
}

/// `init`, the lines written through `writer` (a program that draws progress on stderr passes
/// one that prints above it); the style is still decided by stderr.
pub fn init_with_writer<W>(default_filter: &str, look: Look, writer: W) -> Style
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let style = Style::detect();
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false)
        .with_ansi(style == Style::Colour);
    // A second call (tests) keeps the first subscriber.
    let _ = match (style, look) {
        (Style::Journal, _) => builder.event_format(JournalFormat).try_init(),
        (_, Look::Prefixed(prog)) => builder.event_format(PrefixedFormat { prog }).try_init(),
        (_, Look::Timestamped) => builder.try_init(),
    };
    style
}

/// A command's last words (its error), on stderr, in the current style: with the error
/// priority in the journal, so that `journalctl -p err` shows why a service failed.
pub fn eprint_error(text: &str) {
    eprint!("{}", error_lines(Style::detect(), text));
}

/// The text `eprint_error` writes (pure): each line prefixed with `<3>` in the journal.
pub fn error_lines(style: Style, text: &str) -> String {
    match style {
        Style::Journal => journal_lines(3, text),
        _ => format!("{text}\n"),
    }
}

/// `<p>` before every line of `text` (journald reads the priority of each line alone).
fn journal_lines(p: u8, text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let _ = writeln!(out, "<{p}>{line}");
    }
    if out.is_empty() {
        let _ = writeln!(out, "<{p}>");
    }
    out
}

/// The event's spans, `name{fields}: ` each, outermost first.
fn scope_text<S, N>(ctx: &FmtContext<'_, S, N>) -> String
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    let mut text = String::new();
    if let Some(scope) = ctx.event_scope() {
        for span in scope.from_root() {
            text.push_str(span.name());
            let ext = span.extensions();
            if let Some(fields) = ext.get::<FormattedFields<N>>() {
                if !fields.is_empty() {
                    let _ = write!(text, "{{{fields}}}");
                }
            }
            text.push_str(": ");
        }
    }
    text
}

/// The journal's form: `<N>` and the message, on every line of it.
#[derive(Debug, Clone, Copy)]
pub struct JournalFormat;

impl<S, N> FormatEvent<S, N> for JournalFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut text = scope_text(ctx);
        ctx.format_fields(Writer::new(&mut text), event)?;
        writer.write_str(&journal_lines(priority(event.metadata().level()), &text))
    }
}

/// `PROG: warning: message` (the level word coloured on a colour terminal; none for info).
#[derive(Debug, Clone, Copy)]
pub struct PrefixedFormat {
    pub prog: &'static str,
}

impl<S, N> FormatEvent<S, N> for PrefixedFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let ansi = writer.has_ansi_escapes();
        let (word, colour) = match *event.metadata().level() {
            Level::ERROR => ("error", "1;31"),
            Level::WARN => ("warning", "1;33"),
            Level::INFO => ("", ""),
            Level::DEBUG => ("debug", "34"),
            Level::TRACE => ("trace", "35"),
        };
        write!(writer, "{}: ", self.prog)?;
        match (word.is_empty(), ansi) {
            (true, _) => {}
            (false, true) => write!(writer, "\x1b[{colour}m{word}\x1b[0m: ")?,
            (false, false) => write!(writer, "{word}: ")?,
        }
        writer.write_str(&scope_text(ctx))?;
        ctx.format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    #[test]
    fn the_journal_only_when_journal_stream_names_stderr() {
        let me = Some((2049, 77));
        assert_eq!(
            Style::decide(Some("2049:77"), me, false, false),
            Style::Journal
        );
        // NO_COLOR or a terminal changes nothing in the journal.
        assert_eq!(
            Style::decide(Some("2049:77\n"), me, true, true),
            Style::Journal
        );
        // stderr redirected elsewhere by a parent inside the service: not the journal.
        assert_eq!(
            Style::decide(Some("2049:78"), me, false, false),
            Style::Plain
        );
        assert_eq!(
            Style::decide(Some("2049:78"), me, true, false),
            Style::Colour
        );
        for bad in ["", "2049", ":77", "x:77", "2049:77:1", "-1:77"] {
            assert_eq!(
                Style::decide(Some(bad), me, false, false),
                Style::Plain,
                "{bad}"
            );
        }
        assert_eq!(Style::decide(None, None, false, false), Style::Plain);
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert_eq!(Style::decide(None, None, true, false), Style::Colour);
        assert_eq!(Style::decide(None, None, true, true), Style::Plain);
        assert_eq!(Style::decide(None, None, false, false), Style::Plain);
    }

    #[test]
    fn priorities_follow_syslog() {
        assert_eq!(priority(&Level::ERROR), 3);
        assert_eq!(priority(&Level::WARN), 4);
        assert_eq!(priority(&Level::INFO), 6);
        assert_eq!(priority(&Level::DEBUG), 7);
        assert_eq!(priority(&Level::TRACE), 7);
    }

    #[test]
    fn error_lines_carry_the_priority_on_each_line_in_the_journal() {
        assert_eq!(
            error_lines(Style::Journal, "solum-agent: a\nb"),
            "<3>solum-agent: a\n<3>b\n"
        );
        assert_eq!(error_lines(Style::Plain, "x: y"), "x: y\n");
        assert_eq!(error_lines(Style::Journal, ""), "<3>\n");
    }

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl<'a> MakeWriter<'a> for Buf {
        type Writer = Buf;
        fn make_writer(&'a self) -> Buf {
            self.clone()
        }
    }

    /// What `emit` logs through a subscriber made like `init`'s for `style` and `look`.
    fn logged(style: Style, look: Look, emit: impl FnOnce()) -> String {
        let buf = Buf::default();
        let builder = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new("trace"))
            .with_writer(buf.clone())
            .with_target(false)
            .with_ansi(style == Style::Colour);
        match (style, look) {
            (Style::Journal, _) => tracing::subscriber::with_default(
                builder.event_format(JournalFormat).finish(),
                emit,
            ),
            (_, Look::Prefixed(prog)) => tracing::subscriber::with_default(
                builder.event_format(PrefixedFormat { prog }).finish(),
                emit,
            ),
            (_, Look::Timestamped) => tracing::subscriber::with_default(builder.finish(), emit),
        }
        let bytes = buf.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    fn every_level() {
        tracing::error!("broken");
        tracing::warn!(path = "/x", "cut off by an agent restart");
        let span = tracing::info_span!("deploy", app = "web");
        let _g = span.enter();
        tracing::info!("applying\nsecond line");
        tracing::debug!("detail");
        tracing::trace!("fine");
    }

    #[test]
    fn the_journal_gets_priorities_and_no_time_nor_colour() {
        let out = logged(Style::Journal, Look::Timestamped, every_level);
        assert_eq!(
            out,
            "<3>broken\n\
             <4>cut off by an agent restart path=\"/x\"\n\
             <6>deploy{app=\"web\"}: applying\n\
             <6>second line\n\
             <7>deploy{app=\"web\"}: detail\n\
             <7>deploy{app=\"web\"}: fine\n"
        );
    }

    #[test]
    fn prefixed_lines_name_the_program_and_the_level() {
        let out = logged(Style::Plain, Look::Prefixed("solum-image"), every_level);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "solum-image: error: broken");
        assert_eq!(
            lines[1],
            "solum-image: warning: cut off by an agent restart path=\"/x\""
        );
        assert_eq!(lines[2], "solum-image: deploy{app=\"web\"}: applying");
        assert!(!out.contains('\u{1b}'), "{out}");
        let colour = logged(Style::Colour, Look::Prefixed("solum-image"), every_level);
        assert!(
            colour.contains("\u{1b}[1;33mwarning\u{1b}[0m: "),
            "{colour}"
        );
    }

    #[test]
    fn plain_timestamped_lines_have_no_escape_codes() {
        let out = logged(Style::Plain, Look::Timestamped, every_level);
        assert!(out.contains(" WARN cut off by an agent restart"), "{out}");
        assert!(!out.contains('\u{1b}'), "{out}");
        let colour = logged(Style::Colour, Look::Timestamped, every_level);
        assert!(colour.contains("\u{1b}["), "{colour}");
    }
}
