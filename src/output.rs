//! What systemfd prints on stderr: one `~>` line per event, in systemfd 0.4's style.

use std::io::{IsTerminal as _, Write as _};
use std::time::Duration;

use anstyle::{AnsiColor, Style};

use crate::config::{Color, Output};
use crate::sys::Stream;

const ARROW: Style = Style::new()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Cyan)))
    .bold();
const SUBJECT: Style = Style::new().bold();
const WARN: Style = Style::new()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Yellow)))
    .bold();

/// COMMAND and the build step as a user would type them: `target/debug/app
/// (built by: cargo build)`. Arguments with blanks or quotes are quoted.
pub fn command_line(command: &[std::ffi::OsString], build: Option<&std::ffi::OsString>) -> String {
    let quoted: Vec<String> = command
        .iter()
        .map(|arg| {
            let arg = arg.to_string_lossy();
            // The characters a shell (Windows: a command line) reads.
            let special = if cfg!(windows) { "\"" } else { "'\"\\$`" };
            let plain = !arg.is_empty()
                && !arg.contains(|c: char| c.is_whitespace() || special.contains(c));
            if plain {
                arg.into_owned()
            } else if cfg!(windows) {
                // The convention Windows programs split their command line by.
                format!("\"{}\"", arg.replace('"', "\\\""))
            } else {
                format!("'{}'", arg.replace('\'', r"'\''"))
            }
        })
        .collect();
    let mut text = quoted.join(" ");
    if let Some(build) = build {
        text.push_str(&format!(" (built by: {})", build.to_string_lossy()));
    }
    text
}

/// `text` (a command line) as one status line shows it: its first line,
/// with ` …` when more follow.
pub fn one_line(text: &std::ffi::OsStr) -> String {
    let text = text.to_string_lossy();
    let mut lines = text.trim().lines();
    let first = lines.next().unwrap_or_default().to_owned();
    match lines.next() {
        Some(_) => format!("{first} …"),
        None => first,
    }
}

/// Writes status lines to stderr, honouring `--quiet` and `--color`.
#[derive(Clone, Copy, Debug)]
pub struct Printer {
    quiet: bool,
    color: bool,
}

impl Printer {
    pub fn new(output: Output) -> Printer {
        let color = match output.color {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stderr().is_terminal()
            }
        };
        Printer {
            quiet: output.quiet,
            color,
        }
    }

    /// Whether the lines are coloured (`--color`, `NO_COLOR`, a terminal):
    /// the build step's output is coloured alike.
    pub fn colors(&self) -> bool {
        self.color
    }

    /// `~> socket DESCRIPTION -> fd #N`, with the name when one was given.
    pub fn socket_line(&self, description: &str, target: &str, name: Option<&str>) -> String {
        let mut line = format!(
            "{} socket {} -> {}",
            self.paint(ARROW, "~>"),
            self.paint(SUBJECT, description),
            target
        );
        if let Some(name) = name {
            line.push_str(&format!(" (name {name})"));
        }
        line.push('\n');
        line
    }

    /// A free-form `~>` status line.
    pub fn status(&self, message: &str) {
        self.write(&format!("{} {message}\n", self.paint(ARROW, "~>")));
    }

    /// `systemfd: error: …`, shown even with `--quiet`.
    pub fn error(&self, message: &str) {
        let line = format!("systemfd: error: {message}\n");
        // A closed or broken stderr must not stop systemfd: nothing to do.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    pub fn warn(&self, message: &str) {
        self.write(&format!("{} {message}\n", self.paint(WARN, "~> warning:")));
    }

    /// Clears the terminal and its scrollback (`--clear`), when stdout or
    /// stderr is one; a pipe or a file gets nothing. (A Windows console
    /// takes the same escape sequences once they are turned on.) `keep`,
    /// lines that must stay in sight (where the sockets are), is written
    /// again at the top of a cleared stderr, unless quiet.
    pub fn clear_screen(&self, keep: &str) {
        const CLEAR: &[u8] = b"\x1b[H\x1b[2J\x1b[3J";
        let stdout = std::io::stdout();
        let stderr = std::io::stderr();
        if stdout.is_terminal() {
            crate::sys::enable_escape_sequences(Stream::Stdout);
            let mut stdout = stdout.lock();
            let _ = stdout.write_all(CLEAR).and_then(|()| stdout.flush());
        } else if stderr.is_terminal() {
            crate::sys::enable_escape_sequences(Stream::Stderr);
            let _ = stderr.lock().write_all(CLEAR);
        } else {
            return;
        }
        if stderr.is_terminal() {
            self.write(keep);
        }
    }

    /// Writes already-formatted lines in one call, unless quiet.
    pub fn write(&self, text: &str) {
        if !self.quiet && !text.is_empty() {
            let _ = std::io::stderr().lock().write_all(text.as_bytes());
        }
    }

    fn paint(&self, style: Style, text: &str) -> String {
        if self.color {
            format!("{style}{text}{style:#}")
        } else {
            text.to_owned()
        }
    }
}

/// `500ms`, `5s`, `1.5s`: the forms `--stop-timeout` accepts.
pub fn humanize(duration: Duration) -> String {
    if duration.subsec_millis() == 0 && duration.as_secs() > 0 {
        format!("{}s", duration.as_secs())
    } else if duration.as_secs() == 0 {
        format!("{}ms", duration.as_millis())
    } else {
        format!("{}s", duration.as_secs_f64())
    }
}
