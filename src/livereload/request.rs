//! A request head: found in the bytes read, parsed with `httparse`, and
//! sorted into what is answered. A WebSocket upgrade is checked, and its
//! `101` answer made, by tungstenite; its `Origin` header decides whether
//! the client may see a failed build's details.

use tungstenite::handshake::server::{create_response, write_response};
use tungstenite::http;

/// Where the client script is served.
pub const SCRIPT_PATH: &str = "/livereload.js";
/// Where the WebSocket is, as LiveReload clients expect it.
pub const SOCKET_PATH: &str = "/livereload";

/// The most header lines parsed; more are answered as too large.
const MAX_HEADERS: usize = 64;

/// What a complete request head asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// `GET` (or `HEAD`) [`SCRIPT_PATH`], with any query.
    Script {
        /// A `HEAD` request: the head of the answer only.
        head_only: bool,
    },
    /// A valid WebSocket upgrade on [`SOCKET_PATH`].
    Socket {
        /// The `101 Switching Protocols` answer.
        answer: Vec<u8>,
        /// Its `Origin` header is allowed, or it has none.
        trusted: bool,
        /// The length of the head: what follows is WebSocket data.
        head_len: usize,
    },
    /// A request on [`SOCKET_PATH`] without `Upgrade: websocket`.
    NotUpgraded,
    /// An upgrade on [`SOCKET_PATH`] that tungstenite refuses (method,
    /// version, key).
    BadUpgrade,
    /// Any other request.
    NotFound {
        /// A `HEAD` request: the head of the answer only.
        head_only: bool,
    },
    /// The head is larger than allowed, or has too many headers.
    TooLarge,
    /// The bytes are not an HTTP request head.
    Malformed,
}

/// Whether `buf` holds the empty line that ends a request head, looking
/// only at what follows the first `searched` bytes (and the 3 before them),
/// so that a head trickling in byte by byte costs linear time.
pub fn has_end(buf: &[u8], searched: usize) -> bool {
    let from = searched.saturating_sub(3);
    let new = buf.get(from..).unwrap_or_default();
    new.windows(2).any(|w| w == b"\n\n") || new.windows(3).any(|w| w == b"\n\r\n")
}

/// Parses the head in `buf`, which holds its end ([`has_end`]) or is
/// `full` (as large as allowed). `origins` are the origins allowed to see
/// the details. `None`: not complete yet.
pub fn parse(buf: &[u8], full: bool, origins: &[String]) -> Option<Request> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let head_len = match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if full => return Some(Request::TooLarge),
        Ok(httparse::Status::Partial) => return None,
        Err(httparse::Error::TooManyHeaders) => return Some(Request::TooLarge),
        Err(_) => return Some(Request::Malformed),
    };
    let method = request.method.unwrap_or_default();
    let target = request.path.unwrap_or_default();
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    let head_only = method == "HEAD";
    if path == SCRIPT_PATH && (method == "GET" || head_only) {
        return Some(Request::Script { head_only });
    }
    if path != SOCKET_PATH {
        return Some(Request::NotFound { head_only });
    }
    let upgrade = request.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("upgrade") && h.value.eq_ignore_ascii_case(b"websocket")
    });
    if !upgrade {
        return Some(Request::NotUpgraded);
    }
    let Some(answer) = accept(&request) else {
        return Some(Request::BadUpgrade);
    };
    let origins_sent = request
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("origin"))
        .map(|h| h.value);
    Some(Request::Socket {
        answer,
        trusted: allowed(origins_sent, origins),
        head_len,
    })
}

/// The `101` answer to a WebSocket upgrade, made by tungstenite; `None`
/// when it refuses the request.
fn accept(request: &httparse::Request<'_, '_>) -> Option<Vec<u8>> {
    let mut builder = http::Request::builder()
        .method(request.method?)
        .uri(request.path?)
        .version(match request.version? {
            0 => http::Version::HTTP_10,
            _ => http::Version::HTTP_11,
        });
    for header in request.headers.iter() {
        builder = builder.header(header.name, header.value);
    }
    let request = builder.body(()).ok()?;
    let response = create_response(&request).ok()?;
    let mut answer = Vec::with_capacity(160);
    write_response(&mut answer, &response).ok()?;
    Some(answer)
}

/// Whether every `Origin` header sent is one of `allowed` (compared as
/// ASCII without case; a final `/` in `allowed` ignored); true when none is
/// sent, as by a client that is not a browser. A sandboxed page's `null`
/// is allowed only if listed.
fn allowed<'a>(mut sent: impl Iterator<Item = &'a [u8]>, allowed: &[String]) -> bool {
    sent.all(|value| {
        let value = std::str::from_utf8(value).unwrap_or_default().trim();
        !value.is_empty()
            && allowed
                .iter()
                .any(|origin| origin.trim_end_matches('/').eq_ignore_ascii_case(value))
    })
}

#[cfg(test)]
mod tests;
