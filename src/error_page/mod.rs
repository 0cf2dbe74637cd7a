//! The error page: while COMMAND has crashed and nothing serves, systemfd
//! itself answers on its `http::` listening sockets, with a `503` page that
//! says why, until it is told to stop.
//!
//! # States
//!
//! An [`ErrorPage`] owns one thread, `error-page`, which is either
//!
//! - **idle** (from [`ErrorPage::start`], and after [`ErrorPage::stop`]): it
//!   accepts nothing, so connections wait in the kernel's backlog for the
//!   next server; or
//! - **answering** (after [`ErrorPage::answer`]): it accepts on every
//!   `http::` socket and answers each request with the page of the
//!   [`Outage`] it was given, number N (outages are numbered in order).
//!
//! Connections already accepted are served to their end in either state:
//! they cannot go to the new server.
//!
//! # What is answered
//!
//! Every request gets `503 Service Unavailable` (`Retry-After: 1`,
//! `Cache-Control: no-store`, `Connection: close`), as HTML when its
//! `Accept` header names `text/html` (a browser), else as plain text; a head
//! larger than [`Limits::max_head`] gets `431`, one that is not HTTP `400`.
//! No body is read, nothing is served from disk, nothing is printed. Once an
//! answer is written the write side is shut down, and what the client still
//! sends is read and dropped (at most 64 KiB, for at most 2 s) until it
//! closes: closing with unread data would reset the connection, and the
//! client could lose the answer.
//!
//! The details (cause, time, change, command, build output) are shown only
//! when the client connects from a loopback address and its `Host` header
//! names this machine (a loopback literal, `localhost`, or a host of the
//! sockets); anyone else gets a bare page, so that a page that DNS
//! rebinding brought into the developer's browser cannot read them.
//!
//! Every connection's cost is bounded by [`Limits`]; the page is rendered
//! once per outage and shared by all connections.
//!
//! # The wait protocol
//!
//! The HTML page waits for the server and reloads itself. Its script asks
//! `GET /.systemfd/wait?page=N` in a loop, N being the outage it shows. The
//! answer (to trusted clients; others get the bare page) is:
//!
//! - `200` with `X-Systemfd: reload` at once when N is not the outage now
//!   answered, and when the page server is stopped or given a new outage
//!   while the request is held;
//! - otherwise nothing yet: the request is held, up to [`Limits::hold`],
//!   then answered `204` with `X-Systemfd: wait`;
//! - `429` with `X-Systemfd: busy` and `Retry-After: 5` at once when
//!   [`Limits::max_held_per_client`] requests from the client's address, or
//!   [`Limits::max_held`] in all, are held already.
//!
//! The script asks again at once on `wait`, after 5 s on `busy`, after 1 s
//! on a network error, and reloads the page on any other answer: `reload`,
//! or an answer without the header, which is the real server's, back on the
//! port. Without script, the page refreshes itself every 5 s.
//!
//! # Which sockets
//!
//! Only `http::` sockets are answered. `https::`: systemfd has no
//! certificate, so a TLS client would read garbage. `tcp::`: not known to
//! speak HTTP. UDP and other datagram sockets have no connections. Unix
//! sockets: their clients are proxies (nginx, say), whose own error
//! handling applies.
//!
//! # The listening sockets are shared
//!
//! Their flags belong to every process that holds them, the next server
//! included, so they are never changed: the thread waits on them with poll
//! and accepts once per ready socket per round. That leaves one race: if
//! another process takes the connection between the poll and the accept,
//! the accept blocks until the next connection comes. Only a process outside
//! COMMAND's tree can do that, since the page is answered only while none of
//! COMMAND's processes lives; [`ErrorPage::stop`] then times out (false)
//! and the caller goes on.
//!
//! Where to look: `control` (the orders and their confirmation), `server`
//! (the thread's loop), `conn` (one connection), `request` (parsing and the
//! trust decision), `response` and `render` (the answers, the page), `ansi`
//! (the build output's escape sequences).

mod ansi;
mod conn;
mod control;
mod limits;
mod outage;
mod render;
mod request;
mod response;
mod server;

use std::io;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use control::Control;

pub use limits::Limits;
pub use outage::Outage;
pub use server::Site;

/// The error page server: one thread, steered from here. Dropping it ends
/// the thread (waiting for it at most [`Limits::stop_limit`]).
#[derive(Debug)]
pub struct ErrorPage {
    control: Arc<Control>,
    thread: Option<JoinHandle<()>>,
    limits: Limits,
}

impl ErrorPage {
    /// Starts the thread, idle: it accepts nothing until
    /// [`answer`](ErrorPage::answer). `sites` are the held `http::`
    /// sockets; `limits` bound what it spends.
    ///
    /// # Errors
    /// When the waker (a pair of loopback UDP sockets) cannot be made, or
    /// the thread cannot be started.
    pub fn start(sites: Vec<Site>, limits: Limits) -> io::Result<ErrorPage> {
        let (control, wakeup) = Control::new()?;
        let control = Arc::new(control);
        let theirs = Arc::clone(&control);
        let thread = thread::Builder::new()
            .name("error-page".into())
            .spawn(move || server::run(&theirs, wakeup, sites, limits))?;
        Ok(ErrorPage {
            control,
            thread: Some(thread),
            limits,
        })
    }

    /// Answers with `outage` from now on: returns at once, and the thread
    /// accepts and answers (rendering the page once). A new outage while
    /// answering replaces the old one, and pages waiting on the old one
    /// reload.
    pub fn answer(&self, outage: Outage) {
        self.control.answer(outage);
    }

    /// Stops answering: returns true once the thread has confirmed that it
    /// no longer polls or accepts the listening sockets (until the next
    /// [`answer`](ErrorPage::answer)), so that connections wait in the
    /// backlog for the next server; false when it has not confirmed within
    /// [`Limits::stop_limit`] (see the race in the module documentation).
    /// Held wait requests are answered `reload`; connections already
    /// accepted are served to their end.
    pub fn stop(&self) -> bool {
        self.control.stop(self.limits.stop_limit)
    }
}

impl Drop for ErrorPage {
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

#[cfg(test)]
mod tests;
