//! Terminal output as text for the page: the escape sequences parsed with
//! `anstyle-parse`, the SGR colours (30–37, 90–97), bold and their resets
//! kept as HTML `<span>`s with classes, every other escape or control
//! sequence dropped, and `\n` and `\t` kept.

use anstyle_parse::{Params, Parser, Perform};

/// What the text is turned into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// HTML to put inside a `<pre>`: escaped, colours as `<span>`s with the
    /// classes `f0` to `f15` (the 16 terminal colours) and `b` (bold).
    Html,
    /// Plain text: the printable characters alone.
    Plain,
}

/// Converts `text`, appending to `out`; only what lies from the byte offset
/// `from` on is written, the part before it only sets the style (a colour
/// set before `from` still applies after it). `out` grows by less than
/// 6 bytes per byte of `text` (the worst: a colour change before every
/// escaped character).
pub fn convert(text: &str, from: usize, target: Target, out: &mut String) {
    let mut writer = Writer {
        out,
        target,
        emit: from == 0,
        style: Style::default(),
        open: None,
    };
    let mut parser = Parser::<anstyle_parse::Utf8Parser>::new();
    for (index, &byte) in text.as_bytes().iter().enumerate() {
        if index == from {
            writer.emit = true;
        }
        parser.advance(&mut writer, byte);
    }
    writer.close();
}

/// `text` with escape sequences and control characters removed (`\n` and
/// `\t` kept): the form for the page's one-line facts.
pub fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    convert(text, 0, Target::Plain, &mut out);
    out
}

/// Appends `text` to `out` escaped for HTML text and attribute values.
pub fn escape_html(text: &str, out: &mut String) {
    for c in text.chars() {
        push_escaped(c, out);
    }
}

fn push_escaped(c: char, out: &mut String) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&#39;"),
        c => out.push(c),
    }
}

/// The attributes of text that are shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Style {
    /// One of the 16 terminal colours: 0–7 normal, 8–15 bright.
    colour: Option<u8>,
    bold: bool,
}

impl Style {
    /// Applies an SGR sequence's parameters. Those not shown (background,
    /// underline, 256 and true colours, …) are skipped whole, so that the
    /// arguments of `38;5;N` or `38;2;R;G;B` are not taken for attributes.
    fn apply(&mut self, params: &Params) {
        let mut groups = params.iter();
        while let Some(group) = groups.next() {
            match group.first().copied().unwrap_or(0) {
                0 => *self = Style::default(),
                1 => self.bold = true,
                22 => self.bold = false,
                n @ 30..=37 => self.colour = Some((n - 30) as u8),
                n @ 90..=97 => self.colour = Some((n - 90 + 8) as u8),
                39 => self.colour = None,
                // An extended colour written with `;`: its arguments follow
                // as parameters of their own. (With `:` they are in `group`.)
                38 | 48 | 58 if group.len() == 1 => {
                    let arguments = match groups.next().and_then(|g| g.first().copied()) {
                        Some(5) => 1,
                        Some(2) => 3,
                        _ => 0,
                    };
                    for _ in 0..arguments {
                        groups.next();
                    }
                }
                _ => {}
            }
        }
    }
}

struct Writer<'a> {
    out: &'a mut String,
    target: Target,
    /// Whether the text has reached the part to write.
    emit: bool,
    style: Style,
    /// The style of the open `<span>`, if one is open.
    open: Option<Style>,
}

impl Writer<'_> {
    /// Makes the open span match the current style before text is written.
    fn sync(&mut self) {
        if self.target != Target::Html || self.open == Some(self.style) {
            return;
        }
        self.close();
        if self.style == Style::default() {
            return;
        }
        self.out.push_str("<span class=\"");
        if let Some(colour) = self.style.colour {
            self.out.push('f');
            self.out.push_str(&colour.to_string());
            if self.style.bold {
                self.out.push(' ');
            }
        }
        if self.style.bold {
            self.out.push('b');
        }
        self.out.push_str("\">");
        self.open = Some(self.style);
    }

    fn close(&mut self) {
        if self.open.take().is_some() {
            self.out.push_str("</span>");
        }
    }

    fn write(&mut self, c: char) {
        if !self.emit {
            return;
        }
        match self.target {
            Target::Html => {
                self.sync();
                push_escaped(c, self.out);
            }
            Target::Plain => self.out.push(c),
        }
    }
}

impl Perform for Writer<'_> {
    fn print(&mut self, c: char) {
        // C1 controls and DEL arrive here as characters.
        if !c.is_control() {
            self.write(c);
        }
    }

    fn execute(&mut self, byte: u8) {
        if matches!(byte, b'\n' | b'\t') {
            self.write(char::from(byte));
        }
    }

    fn csi_dispatch(&mut self, params: &Params, intermediates: &[u8], ignore: bool, action: u8) {
        if action == b'm' && intermediates.is_empty() && !ignore {
            self.style.apply(params);
        }
    }
}
