//! The build/start status that systemfd's own clients show in their
//! banner, and its two `systemfd-status` messages: with the details for
//! clients from an allowed origin, without them for the others.
//!
//! The texts are cleaned here, once per status: escape sequences and
//! control characters removed (with `anstyle-parse`), the cause cut to
//! [`MAX_CAUSE`] bytes on one line, the output to its last [`MAX_LINES`]
//! lines and [`MAX_OUTPUT`] bytes.

use anstyle_parse::{Params, Parser, Perform};

use super::message;

/// The most bytes of the cause sent.
pub const MAX_CAUSE: usize = 1024;
/// The most bytes of the output sent: its last ones.
pub const MAX_OUTPUT: usize = 16 * 1024;
/// The most lines of the output sent: its last ones.
pub const MAX_LINES: usize = 200;

/// What COMMAND's build or start is doing, for the banner of systemfd's
/// own clients (those whose LiveReload `hello` lists `systemfd-status-1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// A change was seen; the new version is being built or started. The
    /// banner says "rebuilding…".
    Building,
    /// The new version failed to build or start, so the page shows the
    /// previous one.
    Failed {
        /// Why, one line, e.g. "the build failed: it exited with status
        /// 101"; escape sequences and control characters are removed, and
        /// it is cut at 1 KiB.
        cause: String,
        /// The build's output, or its last lines; escape sequences and
        /// control characters (but line ends and tabs) are removed, and
        /// only the last 200 lines, at most 16 KiB, are sent.
        output: String,
    },
    /// The new version runs: the banner is hidden.
    Ok,
}

/// A status as the thread sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The status is [`Status::Ok`]: a client that greets later is not
    /// told it.
    pub ok: bool,
    /// The message for clients from an allowed origin.
    pub full: String,
    /// The message for the others: the state alone.
    pub bare: String,
}

impl Report {
    /// The messages of `status`, its texts cleaned.
    pub fn new(status: &Status) -> Report {
        match status {
            Status::Building => Report::same("building"),
            Status::Ok => Report {
                ok: true,
                ..Report::same("ok")
            },
            Status::Failed { cause, output } => Report {
                ok: false,
                full: message::status("failed", Some((&clean_cause(cause), &clean_output(output)))),
                bare: message::status("failed", None),
            },
        }
    }

    fn same(state: &str) -> Report {
        let text = message::status(state, None);
        Report {
            ok: false,
            full: text.clone(),
            bare: text,
        }
    }
}

/// The cause on one line (line ends and tabs become spaces), without
/// escape sequences, trimmed, cut at [`MAX_CAUSE`] bytes. Only its first
/// 4 KiB are looked at.
fn clean_cause(cause: &str) -> String {
    let head = &cause[..floor_boundary(cause, 4 * MAX_CAUSE)];
    let text = plain(head).replace(['\n', '\t'], " ");
    let text = text.trim();
    text[..floor_boundary(text, MAX_CAUSE)].to_owned()
}

/// The output's last lines without escape sequences: at most
/// [`MAX_LINES`] lines and [`MAX_OUTPUT`] bytes, whole lines but for a
/// last line longer than that alone, of which the end is kept. Only its
/// last 64 KiB are looked at (their first line, cut, left out), so that a
/// huge output costs little.
fn clean_output(output: &str) -> String {
    let from = ceil_boundary(output, output.len().saturating_sub(64 * 1024));
    let mut text = plain(&output[from..]);
    if from > 0 {
        if let Some(end) = text.find('\n') {
            text.drain(..=end);
        }
    }
    let text = text.trim_end_matches('\n');
    // Where each line starts, the last line's first.
    let starts = text.rmatch_indices('\n').map(|(index, _)| index + 1);
    let mut kept = text.len();
    for (lines, start) in starts.chain([0]).enumerate() {
        if lines == MAX_LINES || text.len() - start > MAX_OUTPUT {
            break;
        }
        kept = start;
    }
    if kept == text.len() {
        kept = ceil_boundary(text, text.len().saturating_sub(MAX_OUTPUT));
    }
    text[kept..].to_owned()
}

/// The greatest char boundary of `text` at or before `at`.
fn floor_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The least char boundary of `text` at or after `at`.
fn ceil_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

/// `text` with escape sequences and control characters removed, `\n` and
/// `\t` kept.
fn plain(text: &str) -> String {
    struct Keep(String);
    impl Perform for Keep {
        fn print(&mut self, c: char) {
            // C1 controls and DEL arrive here as characters.
            if !c.is_control() {
                self.0.push(c);
            }
        }
        fn execute(&mut self, byte: u8) {
            if matches!(byte, b'\n' | b'\t') {
                self.0.push(char::from(byte));
            }
        }
        fn csi_dispatch(&mut self, _: &Params, _: &[u8], _: bool, _: u8) {}
    }
    let mut keep = Keep(String::with_capacity(text.len()));
    let mut parser = Parser::<anstyle_parse::Utf8Parser>::new();
    for &byte in text.as_bytes() {
        parser.advance(&mut keep, byte);
    }
    keep.0
}

#[cfg(test)]
mod tests;
