//! The LiveReload protocol's messages (version 7: livereload-js's
//! `src/protocol.js`), each one JSON object in one WebSocket text message:
//! the few the server sends, written here by hand, and the one it reads,
//! the client's `hello`, found with a small JSON reader. Everything else a
//! client sends (`info`, `url`, …) is read and ignored.
//!
//! systemfd's own client (`client.js`) also lists [`STATUS_1`] in its
//! `hello`; only such a client is sent `systemfd-status` messages, since
//! livereload.js drops the connection on a command it does not know.

/// The LiveReload protocol, version 7.
pub const PROTOCOL_7: &str = "http://livereload.com/protocols/official-7";
/// systemfd's extra protocol: `systemfd-status` messages, for the banner.
pub const STATUS_1: &str = "systemfd-status-1";

/// What a client sent, as far as the server cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// `{"command":"hello","protocols":[…]}`, with which of the two
    /// protocols it lists.
    Hello {
        /// It lists [`PROTOCOL_7`].
        official_7: bool,
        /// It lists [`STATUS_1`].
        status: bool,
    },
    /// Any other command, or what is not a JSON object with a `command`.
    Other,
}

/// The server's `hello`: the protocols it speaks with this client,
/// [`STATUS_1`] too when `status` (the client listed it).
pub fn hello(status: bool) -> String {
    let mut out = String::from("{\"command\":\"hello\",\"protocols\":[");
    push_string(&mut out, PROTOCOL_7);
    if status {
        out.push(',');
        push_string(&mut out, STATUS_1);
    }
    out.push_str("],\"serverName\":\"systemfd\"}");
    out
}

/// `reload` of the whole page: `path` `/` with live CSS and images off,
/// so that livereload.js reloads the page rather than patching it.
pub const RELOAD: &str =
    "{\"command\":\"reload\",\"path\":\"/\",\"liveCSS\":false,\"liveImg\":false}";

/// A `systemfd-status` message in state `state` (`building`, `failed`,
/// `ok`), with `cause` and `output` when given.
pub fn status(state: &str, details: Option<(&str, &str)>) -> String {
    let mut out = String::from("{\"command\":\"systemfd-status\",\"state\":");
    push_string(&mut out, state);
    if let Some((cause, output)) = details {
        out.push_str(",\"cause\":");
        push_string(&mut out, cause);
        out.push_str(",\"output\":");
        push_string(&mut out, output);
    }
    out.push('}');
    out
}

/// Appends `text` as a JSON string: quoted, with `"`, `\` and every
/// control character escaped, and U+2028 and U+2029 too, which some
/// JavaScript parsers take for line ends.
fn push_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// How deep arrays and objects may nest in a client's message.
const MAX_DEPTH: usize = 32;

/// Reads a client's message: a `hello` is a JSON object whose `command` is
/// `"hello"`, with the protocols of its `protocols` array (other members
/// and non-string entries are skipped). Anything else, including text that
/// is not JSON, is [`Incoming::Other`]. As in JavaScript's `JSON.parse`, a
/// member given twice counts by its last value.
pub fn parse(text: &str) -> Incoming {
    let mut reader = Reader {
        bytes: text.as_bytes(),
        at: 0,
    };
    match reader.hello() {
        Some(Some(hello)) if reader.end() => hello,
        _ => Incoming::Other,
    }
}

/// A cursor over a JSON text; each method returns `None` on a syntax
/// error.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Takes `byte` (after white space), or fails.
    fn expect(&mut self, byte: u8) -> Option<()> {
        self.skip_space();
        (self.peek() == Some(byte)).then(|| self.at += 1)
    }

    /// Whether only white space is left.
    fn end(&mut self) -> bool {
        self.skip_space();
        self.at == self.bytes.len()
    }

    /// The top-level object: `Some(None)` when it is valid but no hello.
    fn hello(&mut self) -> Option<Option<Incoming>> {
        let mut command = None;
        let mut protocols = None;
        self.expect(b'{')?;
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Some(None);
        }
        loop {
            let key = self.string()?;
            self.expect(b':')?;
            self.skip_space();
            match key.as_str() {
                "command" if self.peek() == Some(b'"') => command = Some(self.string()?),
                "protocols" if self.peek() == Some(b'[') => protocols = Some(self.protocols()?),
                "command" => {
                    command = None;
                    self.skip_value(1)?;
                }
                "protocols" => {
                    protocols = None;
                    self.skip_value(1)?;
                }
                _ => self.skip_value(1)?,
            }
            self.skip_space();
            match self.peek() {
                Some(b',') => {
                    self.at += 1;
                    self.skip_space();
                }
                Some(b'}') => {
                    self.at += 1;
                    break;
                }
                _ => return None,
            }
        }
        if command.as_deref() != Some("hello") {
            return Some(None);
        }
        let (official_7, status) = protocols.unwrap_or_default();
        Some(Some(Incoming::Hello { official_7, status }))
    }

    /// An array of protocols: whether it holds [`PROTOCOL_7`], and
    /// [`STATUS_1`]. Entries that are not strings are skipped.
    fn protocols(&mut self) -> Option<(bool, bool)> {
        let (mut official_7, mut status) = (false, false);
        self.expect(b'[')?;
        self.skip_space();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Some((false, false));
        }
        loop {
            self.skip_space();
            if self.peek() == Some(b'"') {
                let protocol = self.string()?;
                official_7 |= protocol == PROTOCOL_7;
                status |= protocol == STATUS_1;
            } else {
                self.skip_value(2)?;
            }
            self.skip_space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Some((official_7, status));
                }
                _ => return None,
            }
        }
    }

    /// A string (after white space), its escapes decoded.
    fn string(&mut self) -> Option<String> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            let start = self.at;
            while !matches!(self.peek(), None | Some(b'"' | b'\\')) {
                if self.peek()? < 0x20 {
                    return None;
                }
                self.at += 1;
            }
            // The input is a `str` and the stops are ASCII: a boundary.
            out.push_str(std::str::from_utf8(&self.bytes[start..self.at]).ok()?);
            match self.peek()? {
                b'"' => {
                    self.at += 1;
                    return Some(out);
                }
                _ => {
                    self.at += 1;
                    let escaped = self.peek()?;
                    self.at += 1;
                    out.push(match escaped {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode()?,
                        _ => return None,
                    });
                }
            }
        }
    }

    /// The character of a `\u` escape, whose `\u` is read; a surrogate pair
    /// is two escapes, and a lone surrogate becomes U+FFFD.
    fn unicode(&mut self) -> Option<char> {
        let first = self.hex4()?;
        if !(0xD800..0xDC00).contains(&first) {
            return Some(char::from_u32(first).unwrap_or('\u{FFFD}'));
        }
        if self.bytes.get(self.at..self.at + 2) != Some(b"\\u") {
            return Some('\u{FFFD}');
        }
        self.at += 2;
        let second = self.hex4()?;
        if !(0xDC00..0xE000).contains(&second) {
            return Some('\u{FFFD}');
        }
        char::from_u32(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.bytes.get(self.at..self.at + 4)?;
        let digits = std::str::from_utf8(digits).ok()?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.at += 4;
        u32::from_str_radix(digits, 16).ok()
    }

    /// Skips one value (after white space) at nesting `depth`.
    fn skip_value(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.skip_space();
        match self.peek()? {
            b'"' => self.string().map(drop),
            open @ (b'{' | b'[') => {
                let close = if open == b'{' { b'}' } else { b']' };
                self.at += 1;
                self.skip_space();
                if self.peek() == Some(close) {
                    self.at += 1;
                    return Some(());
                }
                loop {
                    if open == b'{' {
                        self.string()?;
                        self.expect(b':')?;
                    }
                    self.skip_value(depth + 1)?;
                    self.skip_space();
                    match self.peek()? {
                        b',' => self.at += 1,
                        b if b == close => {
                            self.at += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b't' => self.word(b"true"),
            b'f' => self.word(b"false"),
            b'n' => self.word(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn word(&mut self, word: &[u8]) -> Option<()> {
        let found = self.bytes.get(self.at..self.at + word.len())? == word;
        found.then(|| self.at += word.len())
    }

    /// A number, as JSON writes it.
    fn number(&mut self) -> Option<()> {
        let digits = |reader: &mut Reader<'_>| {
            let start = reader.at;
            while reader.peek().is_some_and(|b| b.is_ascii_digit()) {
                reader.at += 1;
            }
            (reader.at > start).then_some(())
        };
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        if self.peek() == Some(b'0') {
            self.at += 1;
        } else {
            digits(self)?;
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            digits(self)?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            digits(self)?;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests;
