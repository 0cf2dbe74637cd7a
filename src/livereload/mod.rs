//! LiveReload: a server that tells the browser pages of the app under
//! development to reload once its new version runs, so that the LiveReload
//! browser extensions and the stock `livereload.js` work unchanged, and
//! systemfd's own small client script as well. Supervise mode wires it in
//! (`--livereload [ADDR]`).
//!
//! # The protocol
//!
//! LiveReload's protocol, version 7 (livereload-js, `src/protocol.js`):
//! JSON messages over a WebSocket at `/livereload`. The client sends
//! `{"command":"hello","protocols":["http://livereload.com/protocols/official-7",
//! …]}`; the server answers `{"command":"hello","protocols":[…official-7],
//! "serverName":"systemfd"}`, and later sends `{"command":"reload","path":"/",
//! "liveCSS":false,"liveImg":false}`, upon which the page reloads. What else
//! a client sends (`info`, `url`, …) is ignored; a client whose hello does
//! not list version 7 is closed. `alert` is never sent: livereload.js shows
//! it as a blocking `window.alert`.
//!
//! systemfd's own client also lists the protocol `systemfd-status-1`,
//! which the server's hello then lists too, and is sent the build/start
//! status for its banner: `{"command":"systemfd-status","state":"building"}`,
//! `…"state":"failed","cause":"…","output":"…"}` and `…"state":"ok"}`.
//! (Other clients are not: livereload.js drops the connection on a command
//! it does not know.) A client that greets gets the current status at once,
//! unless it is `ok`. The cause and the output of a failure go only to
//! clients whose upgrade request had no `Origin` header or an allowed one
//! (the app's own origins, given to [`LiveReload::start`]); any other page
//! that connects learns only the state.
//!
//! # HTTP on the same port
//!
//! - `GET /livereload.js` (any query): `200`, the client script
//!   (`client.js`, built into the binary). It connects back to where it
//!   was loaded from, reloads the page on `reload`, shows the status in a
//!   small banner, and reconnects (0.5 s doubling to 5 s) when systemfd
//!   restarts, without reloading by itself.
//! - `GET /livereload` with `Upgrade: websocket`: the WebSocket (`426`
//!   without the upgrade, `400` for an upgrade tungstenite refuses).
//! - anything else: `404`; a head larger than [`Limits::max_head`] `431`;
//!   bytes that are not HTTP `400`.
//!
//! Every HTTP answer has `Connection: close` and `Cache-Control: no-store`.
//!
//! # Bounds
//!
//! One thread, `livereload`, does everything over non-blocking sockets and
//! one `poll`, so no client can hold up another or the owner; the owner's
//! calls wait for it at most [`Limits::stop_limit`]. [`Limits`] caps the
//! connections, the time to finish the handshake (request head and hello),
//! the silence allowed (a Ping, then closed), and the bytes waiting for a
//! client that does not read (closed beyond them). Nothing is printed,
//! nothing is read from disk, no input makes it panic. The address bound is
//! the caller's choice (loopback by default).
//!
//! Where to look: `control` (the owner's orders and their confirmation),
//! `server` (the thread's loop), `conn` (a connection while it speaks
//! HTTP), `request` and `response` (the HTTP side), `client` (a WebSocket
//! client), `message` (the LiveReload messages), `status` (the banner's
//! status and its cleaned texts).

mod client;
mod conn;
mod control;
mod limits;
mod message;
mod request;
mod response;
mod server;
mod status;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use control::Control;
use status::Report;

pub use limits::Limits;
pub use status::Status;

/// The LiveReload server: one thread, steered from here. Dropping it ends
/// the thread (waiting for it at most [`Limits::stop_limit`]).
#[derive(Debug)]
pub struct LiveReload {
    control: Arc<Control>,
    thread: Option<JoinHandle<()>>,
    limits: Limits,
    local: SocketAddr,
    fell_back: bool,
}

impl LiveReload {
    /// Binds `addr` and starts the thread. `explicit`: the user gave the
    /// address, and if it is taken that is an error; otherwise (the default,
    /// `127.0.0.1:35729`) a taken port falls back to a free port on the same
    /// IP address, and [`fell_back`](LiveReload::fell_back) says so.
    /// `origins` are the origins (e.g. `http://127.0.0.1:5000`,
    /// `http://localhost:5000`) whose pages may see a failed build's cause
    /// and output (see the module documentation); `limits` bound what it
    /// spends.
    ///
    /// # Errors
    /// When the address cannot be listened on (the message names it), or
    /// the waker (a pair of loopback UDP sockets) or the thread cannot be
    /// made.
    pub fn start(
        addr: SocketAddr,
        explicit: bool,
        origins: Vec<String>,
        limits: Limits,
    ) -> io::Result<LiveReload> {
        let (listener, fell_back) = bind(addr, explicit)?;
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        let (control, wakeup) = Control::new()?;
        let control = Arc::new(control);
        let theirs = Arc::clone(&control);
        let thread = thread::Builder::new()
            .name("livereload".into())
            .spawn(move || server::run(&theirs, wakeup, listener, origins, limits))?;
        Ok(LiveReload {
            control,
            thread: Some(thread),
            limits,
            local,
            fell_back,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Whether the default address was taken, so that it listens on another
    /// port ([`local_addr`](LiveReload::local_addr)).
    pub fn fell_back(&self) -> bool {
        self.fell_back
    }

    /// The client script's URL, for `SYSTEMFD_LIVERELOAD_URL`:
    /// `http://IP:PORT/livereload.js`. Never a wildcard: for `0.0.0.0` it is
    /// `127.0.0.1`, for `::` `[::1]` (the script connects back to the host
    /// it was loaded from anyway).
    pub fn script_url(&self) -> String {
        let ip = match self.local.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let at = SocketAddr::new(ip, self.local.port());
        format!("http://{at}{}", request::SCRIPT_PATH)
    }

    /// Sends LiveReload's `reload` to every client that has completed its
    /// hello; returns how many it reached, once the thread confirms. When it
    /// has not within [`Limits::stop_limit`], returns how many had completed
    /// their hello at its last count.
    pub fn reload(&self) -> usize {
        self.control.reload(self.limits.stop_limit)
    }

    /// Tells systemfd's own clients (those whose hello listed
    /// `systemfd-status-1`) the build/start status, for their banner; a
    /// failure's cause and output only to those from an allowed origin
    /// (see [`start`](LiveReload::start)), the state alone to the others.
    /// Clients that greet later are told it too, unless it is
    /// [`Status::Ok`]. Returns at once.
    pub fn status(&self, status: Status) {
        self.control.status(Report::new(&status));
    }
}

impl Drop for LiveReload {
    /// Ends the thread, closing its connections; waits for it at most
    /// [`Limits::stop_limit`], and otherwise leaves it to end alone.
    fn drop(&mut self) {
        if self.control.quit(self.limits.stop_limit) {
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

/// Listens on `addr`, or, unless `explicit`, on a free port of its IP
/// address when `addr` is taken; true when it fell back.
fn bind(addr: SocketAddr, explicit: bool) -> io::Result<(TcpListener, bool)> {
    match TcpListener::bind(addr) {
        Ok(listener) => Ok((listener, false)),
        Err(err) if !explicit && taken(&err) => {
            let any = SocketAddr::new(addr.ip(), 0);
            match TcpListener::bind(any) {
                Ok(listener) => Ok((listener, true)),
                Err(err) => Err(cannot_listen(any, &err)),
            }
        }
        Err(err) => Err(cannot_listen(addr, &err)),
    }
}

/// Whether a bind failed because the port is someone else's: in use, or
/// (Windows) in a range the system reserved, which it refuses as access
/// denied.
fn taken(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::AddrInUse | io::ErrorKind::PermissionDenied
    )
}

/// The error for an address that cannot be listened on, naming it.
fn cannot_listen(addr: SocketAddr, err: &io::Error) -> io::Error {
    io::Error::new(
        err.kind(),
        format!("cannot listen on {addr} for LiveReload: {err}"),
    )
}

#[cfg(test)]
mod tests;
