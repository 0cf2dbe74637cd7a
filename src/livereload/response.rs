//! The HTTP answers as bytes on the wire: each a [`Response`], made once
//! when the thread starts and handed to every connection that needs it
//! without a copy. The client script is `client.js`, built into the
//! binary.
//!
//! Every answer closes the connection (`Connection: close`) and is never
//! cached (`Cache-Control: no-store`).

use crate::local_server::Response;

/// The client script (see the module documentation).
pub const CLIENT_JS: &str = include_str!("client.js");

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
