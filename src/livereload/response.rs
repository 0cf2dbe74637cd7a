//! The HTTP answers as bytes on the wire: each a complete HTTP/1.1
//! response, head and body in one shared buffer, made once when the
//! thread starts and handed to every connection that needs it without a
//! copy. The client script is `client.js`, built into the binary.
//!
//! Every answer closes the connection (`Connection: close`) and is never
//! cached (`Cache-Control: no-store`).

use std::sync::Arc;

/// The client script (see the module documentation).
pub const CLIENT_JS: &str = include_str!("client.js");

/// One complete response, shared.
#[derive(Clone, Debug)]
pub struct Response {
    bytes: Arc<[u8]>,
    head_len: usize,
}

impl Response {
    /// The response `status` (code and reason) with `headers` (each a
    /// whole line without its CRLF) and `body`.
    fn new(status: &str, headers: &[&str], body: &[u8]) -> Response {
        let mut head = format!("HTTP/1.1 {status}\r\n");
        for header in headers {
            head.push_str(header);
            head.push_str("\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        head.push_str("Cache-Control: no-store\r\nConnection: close\r\n\r\n");
        let mut bytes = Vec::with_capacity(head.len() + body.len());
        bytes.extend_from_slice(head.as_bytes());
        bytes.extend_from_slice(body);
        Response {
            bytes: bytes.into(),
            head_len: head.len(),
        }
    }

    /// Bytes made elsewhere (the `101` answer), sent whole.
    pub fn raw(bytes: Vec<u8>) -> Response {
        let head_len = bytes.len();
        Response {
            bytes: bytes.into(),
            head_len,
        }
    }

    /// The bytes to send: the head alone for a `HEAD` request.
    pub fn bytes(&self, head_only: bool) -> &[u8] {
        if head_only {
            &self.bytes[..self.head_len]
        } else {
            &self.bytes
        }
    }
}

const PLAIN: &str = "Content-Type: text/plain; charset=utf-8";
const NOSNIFF: &str = "X-Content-Type-Options: nosniff";

/// The answers, made once.
#[derive(Debug)]
pub struct Fixed {
    /// `200`: the client script.
    pub script: Response,
    /// `404`: anything but the script and the WebSocket.
    pub not_found: Response,
    /// `426`: the WebSocket's path without an upgrade.
    pub upgrade_required: Response,
    /// `400`: an upgrade tungstenite refuses.
    pub bad_upgrade: Response,
    /// `431`: the request head is larger than allowed.
    pub too_large: Response,
    /// `400`: the request head is not HTTP.
    pub malformed: Response,
}

impl Fixed {
    /// Makes them.
    pub fn new() -> Fixed {
        Fixed {
            script: Response::new(
                "200 OK",
                &[
                    "Content-Type: application/javascript; charset=utf-8",
                    NOSNIFF,
                    // Pages that require it (COEP) may load it too.
                    "Cross-Origin-Resource-Policy: cross-origin",
                ],
                CLIENT_JS.as_bytes(),
            ),
            not_found: Response::new(
                "404 Not Found",
                &[PLAIN, NOSNIFF],
                b"not found: systemfd's LiveReload server has /livereload.js and the WebSocket /livereload\n",
            ),
            upgrade_required: Response::new(
                "426 Upgrade Required",
                &[PLAIN, NOSNIFF, "Upgrade: websocket"],
                b"a WebSocket upgrade is required\n",
            ),
            bad_upgrade: Response::new(
                "400 Bad Request",
                &[PLAIN, NOSNIFF],
                b"bad WebSocket upgrade\n",
            ),
            too_large: Response::new(
                "431 Request Header Fields Too Large",
                &[PLAIN, NOSNIFF],
                b"request head too large\n",
            ),
            malformed: Response::new("400 Bad Request", &[PLAIN, NOSNIFF], b"bad request\n"),
        }
    }
}
