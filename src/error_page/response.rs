//! The answers as bytes on the wire: each a [`Response`], made once (the
//! pages once per outage) and handed to every connection that needs it
//! without a copy.
//!
//! Every answer closes the connection (`Connection: close`) and is never
//! cached (`Cache-Control: no-store`).

use super::outage::Outage;
use super::render;
use crate::local_server::Response;

const HTML: &str = "Content-Type: text/html; charset=utf-8";
const PLAIN: &str = "Content-Type: text/plain; charset=utf-8";
const NOSNIFF: &str = "X-Content-Type-Options: nosniff";
/// The page loads nothing from elsewhere, and its script may only ask this
/// origin (for the wait protocol); with `script` (the LiveReload client's
/// URL), that script too, and its WebSocket.
fn page_policy(script: Option<&str>) -> String {
    let origin = script.and_then(|url| {
        let rest = url.strip_prefix("http://")?;
        let host = rest.split('/').next()?;
        // Only what a URL's authority holds: nothing that ends the header.
        host.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".:[]-".contains(&b))
            .then(|| host.to_owned())
    });
    let (scripts, sockets) = match &origin {
        Some(host) => (format!(" http://{host}"), format!(" ws://{host}")),
        None => (String::new(), String::new()),
    };
    format!(
        "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; \
         script-src 'unsafe-inline'{scripts}; connect-src 'self'{sockets}"
    )
}
const BARE_POLICY: &str = "Content-Security-Policy: default-src 'none'";

/// `503 Service Unavailable`, to be asked again in a second.
fn unavailable(content_type: &str, policy: &str, body: &str) -> Response {
    Response::new(
        "503 Service Unavailable",
        &[content_type, "Retry-After: 1", NOSNIFF, policy],
        body.as_bytes(),
    )
}

/// The answers that do not depend on the outage, made once.
#[derive(Debug)]
pub struct Fixed {
    /// The bare `503` pages, for clients that are not trusted.
    pub bare_html: Response,
    /// See `bare_html`.
    pub bare_plain: Response,
    /// `200`, `X-Systemfd: reload`: the page is out of date.
    pub reload: Response,
    /// `204`, `X-Systemfd: wait`: nothing changed while held; ask again.
    pub wait: Response,
    /// `429`, `X-Systemfd: busy`: too many held; ask again in 5 s.
    pub busy: Response,
    /// `431`: the request head is larger than allowed.
    pub too_large: Response,
    /// `400`: the request head is not HTTP.
    pub malformed: Response,
}

impl Fixed {
    /// Makes them.
    pub fn new() -> Fixed {
        Fixed {
            bare_html: unavailable(HTML, BARE_POLICY, render::BARE_HTML),
            bare_plain: unavailable(PLAIN, BARE_POLICY, render::BARE_PLAIN),
            reload: Response::new("200 OK", &[PLAIN, "X-Systemfd: reload"], b"reload\n"),
            wait: Response::new("204 No Content", &["X-Systemfd: wait"], b""),
            busy: Response::new(
                "429 Too Many Requests",
                &[PLAIN, "X-Systemfd: busy", "Retry-After: 5"],
                b"too many waiting requests\n",
            ),
            too_large: Response::new(
                "431 Request Header Fields Too Large",
                &[PLAIN],
                b"request head too large\n",
            ),
            malformed: Response::new("400 Bad Request", &[PLAIN], b"bad request\n"),
        }
    }
}

/// `307 Temporary Redirect` to `target` (a request's own path and query):
/// the answer to a request on a connection accepted while the page was up
/// that comes once it is down, when a server may be back. The client asks
/// again on a new connection, which the server takes; the method and body
/// are kept.
pub fn again(target: &str) -> Response {
    Response::new(
        "307 Temporary Redirect",
        &[PLAIN, &format!("Location: {target}")],
        b"the server is back: ask again\n",
    )
}

/// The pages of one outage, rendered once.
#[derive(Debug)]
pub struct Pages {
    /// The outage's number, which the page's script sends back
    /// (`?page=EPOCH`).
    pub epoch: u64,
    html: Response,
    plain: Response,
    bare_html: Response,
    bare_plain: Response,
}

impl Pages {
    /// Renders the pages of `outage`, number `epoch`; the bare pages are
    /// `fixed`'s, shared.
    pub fn new(outage: &Outage, epoch: u64, fixed: &Fixed) -> Pages {
        Pages {
            epoch,
            html: unavailable(
                HTML,
                &page_policy(outage.script.as_deref()),
                &render::html(outage, epoch),
            ),
            plain: unavailable(PLAIN, BARE_POLICY, &render::plain(outage)),
            bare_html: fixed.bare_html.clone(),
            bare_plain: fixed.bare_plain.clone(),
        }
    }

    /// The page for a client: with the details when `trusted`, as HTML
    /// when `html` (it accepts `text/html`), else as plain text.
    pub fn page(&self, html: bool, trusted: bool) -> &Response {
        match (html, trusted) {
            (true, true) => &self.html,
            (false, true) => &self.plain,
            (true, false) => &self.bare_html,
            (false, false) => &self.bare_plain,
        }
    }
}
