//! HTTP/1.1 answers as a test judges them: the status, the headers and the
//! body apart, from a raw exchange on a fresh connection whose every read
//! and write is bounded.

use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// One answer, taken apart.
#[derive(Debug)]
pub struct Answer {
    /// The status code: `503`.
    pub status: u16,
    /// The head as sent, status line and headers, without the blank line.
    pub head: String,
    /// The bytes after the head.
    pub body: Vec<u8>,
}

impl Answer {
    /// Takes `bytes`, all that came back, apart.
    pub fn parse(bytes: &[u8]) -> Result<Answer, String> {
        let shown = || String::from_utf8_lossy(bytes).into_owned();
        let end = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| format!("no end of the head in {:?}", shown()))?;
        let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
        let status = head
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("HTTP/1."))
            .and_then(|rest| rest.get(2..5))
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| format!("no status line in {:?}", shown()))?;
        Ok(Answer {
            status,
            head,
            body: bytes[end + 4..].to_vec(),
        })
    }

    /// The value of the first header called `name` (any case), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then_some(value.trim())
        })
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What became of a request.
#[derive(Debug)]
pub enum Outcome {
    /// An answer came, and the connection was closed after it.
    Answered(Vec<u8>),
    /// The connection was closed (or reset) with nothing sent back.
    Closed,
    /// Nothing came within the limit; what had come so far.
    Silent(Vec<u8>),
}

/// Sends `request` to `addr` on a fresh connection and reads until the
/// server closes it, all within `limit`.
pub fn exchange(addr: SocketAddr, request: &[u8], limit: Duration) -> io::Result<Outcome> {
    let end = Instant::now() + limit;
    let mut stream = TcpStream::connect_timeout(&addr, limit)?;
    stream.set_write_timeout(Some(limit))?;
    match stream.write_all(request) {
        Ok(()) => {}
        // The server may answer and close before it has read everything
        // (a head too large): what it answered is still to be read.
        Err(err) if closed(&err) => {}
        Err(err) => return Err(err),
    }
    read_until_closed(&mut stream, end)
}

/// Reads `stream` until the server closes it or `end` comes.
pub fn read_until_closed(stream: &mut TcpStream, end: Instant) -> io::Result<Outcome> {
    let mut got = Vec::new();
    let mut buf = [0; 16 * 1024];
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Outcome::Silent(got));
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(Outcome::Silent(got))
            }
            Err(err) if closed(&err) => break,
            Err(err) => return Err(err),
        }
    }
    Ok(if got.is_empty() {
        Outcome::Closed
    } else {
        Outcome::Answered(got)
    })
}

/// Whether `err` says the peer closed or reset the connection.
fn closed(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// `METHOD PATH` on `addr` with `headers` (each `Name: value`) and
/// `Connection: close`, answered within `limit`; a failure says what came
/// instead.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[&str],
    limit: Duration,
) -> Result<Answer, String> {
    let mut text = format!("{method} {path} HTTP/1.1\r\n");
    for header in headers {
        text.push_str(header);
        text.push_str("\r\n");
    }
    text.push_str("Connection: close\r\n\r\n");
    match exchange(addr, text.as_bytes(), limit) {
        Ok(Outcome::Answered(bytes)) => Answer::parse(&bytes),
        Ok(Outcome::Closed) => Err(format!("{method} {path} on {addr}: closed unanswered")),
        Ok(Outcome::Silent(got)) => Err(format!(
            "{method} {path} on {addr}: no whole answer within {limit:?}, only {:?}",
            String::from_utf8_lossy(&got)
        )),
        Err(err) => Err(format!("{method} {path} on {addr}: {err}")),
    }
}

/// Asserts that `answer` is systemfd's error page: `503` with the headers
/// it promises and a `Content-Type` starting with `content_type`; `context`
/// tells what ran, for the message.
pub fn assert_error_page(answer: &Answer, content_type: &str, context: impl Fn() -> String) {
    let report = || format!("{answer:?}\n{}", context());
    assert!(
        answer
            .head
            .starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{}",
        report()
    );
    for (name, value) in [
        ("Retry-After", "1"),
        ("Cache-Control", "no-store"),
        ("Connection", "close"),
    ] {
        assert_eq!(answer.header(name), Some(value), "{}", report());
    }
    let shown = answer.header("Content-Type").unwrap_or_default();
    assert!(
        shown.starts_with(content_type),
        "not {content_type}: {}",
        report()
    );
}
