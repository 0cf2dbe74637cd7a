//! One accepted connection while it speaks HTTP: reading its request head
//! (bounded in size and time), writing the answer (bounded in time), and
//! then either draining what the client still sends until it closes, or,
//! after a `101`, handing the socket over to become a WebSocket client.
//! Every socket call is non-blocking.

use std::io;
use std::net::{Shutdown, TcpStream};
use std::time::Instant;

use super::limits::{after, Limits};
use super::request::{self, Request};
use super::response::Fixed;
use crate::local_server::{self, Response, Sending, Stop, DRAIN_BYTES, DRAIN_TIME};
use crate::sys::Interest;

/// What a connection needs from the server next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Nothing: wait for its socket or its deadline.
    Wait,
    /// Its `101` is written: make it a WebSocket client ([`Conn::upgrade`]).
    Upgrade,
    /// It is done: drop it, closing it.
    Close,
}

#[derive(Debug)]
enum Phase {
    /// Reading the request head.
    Head { buf: Vec<u8> },
    /// Writing the answer, then draining, or upgrading when `upgrade` is
    /// given.
    Write {
        sending: Sending,
        deadline: Instant,
        upgrade: Option<Upgrade>,
    },
    /// Written, the write side shut down; reading until the client closes.
    Drain { deadline: Instant, read: usize },
}

/// What a WebSocket client starts with.
#[derive(Debug)]
pub struct Upgrade {
    /// Its `Origin` is allowed (or it sent none).
    pub trusted: bool,
    /// What it sent after its request head: WebSocket data.
    pub rest: Vec<u8>,
    /// When it was accepted: its hello is due within the handshake time.
    pub accepted: Instant,
}

/// One accepted connection, speaking HTTP.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    accepted: Instant,
    phase: Phase,
}

impl Conn {
    /// Takes up `stream`, accepted `now`, and makes it non-blocking.
    ///
    /// # Errors
    /// When the socket cannot be made non-blocking (it is then dropped).
    pub fn new(stream: TcpStream, now: Instant) -> io::Result<Conn> {
        stream.set_nonblocking(true)?;
        Ok(Conn {
            stream,
            accepted: now,
            phase: Phase::Head { buf: Vec::new() },
        })
    }

    /// The socket, to poll.
    pub fn socket(&self) -> &TcpStream {
        &self.stream
    }

    /// What its socket is polled for.
    pub fn interest(&self) -> Interest {
        match self.phase {
            Phase::Write { .. } => Interest::Write,
            _ => Interest::Read,
        }
    }

    /// When its current phase ends: the handshake time after its
    /// acceptance while reading its head.
    pub fn deadline(&self, limits: &Limits) -> Instant {
        match &self.phase {
            Phase::Head { .. } => after(self.accepted, limits.handshake_timeout),
            Phase::Write { deadline, .. } | Phase::Drain { deadline, .. } => *deadline,
        }
    }

    /// Whether a new connection may take its place: it has no request
    /// yet, or its answer is written.
    pub fn evictable(&self) -> bool {
        matches!(self.phase, Phase::Head { .. } | Phase::Drain { .. })
    }

    /// Moves it along now that poll found its socket ready; `origins` are
    /// the origins allowed to see the details.
    pub fn on_ready(&mut self, limits: &Limits, origins: &[String], fixed: &Fixed) -> Next {
        match &mut self.phase {
            Phase::Head { buf } => match read_head(&self.stream, buf, limits.max_head) {
                Ok(Some(full)) => match request::parse(buf, full, origins) {
                    Some(request) => self.answer(request, fixed, limits),
                    None => Next::Wait,
                },
                Ok(None) => Next::Wait,
                Err(()) => Next::Close,
            },
            Phase::Drain { read, .. } => discard(&self.stream, read),
            Phase::Write { .. } => self.flush(),
        }
    }

    /// Starts writing the answer to `request`.
    fn answer(&mut self, request: Request, fixed: &Fixed, limits: &Limits) -> Next {
        let (response, head_only, upgrade) = match request {
            Request::Script { head_only } => (fixed.script.clone(), head_only, None),
            Request::NotFound { head_only } => (fixed.not_found.clone(), head_only, None),
            Request::NotUpgraded => (fixed.upgrade_required.clone(), false, None),
            Request::BadUpgrade => (fixed.bad_upgrade.clone(), false, None),
            Request::TooLarge => (fixed.too_large.clone(), false, None),
            Request::Malformed => (fixed.malformed.clone(), false, None),
            Request::Socket {
                answer,
                trusted,
                head_len,
            } => {
                let rest = match &mut self.phase {
                    Phase::Head { buf } => buf.split_off(head_len.min(buf.len())),
                    _ => Vec::new(),
                };
                let upgrade = Upgrade {
                    trusted,
                    rest,
                    accepted: self.accepted,
                };
                (Response::raw(answer), false, Some(upgrade))
            }
        };
        self.phase = Phase::Write {
            sending: Sending::new(response, head_only),
            deadline: after(Instant::now(), limits.handshake_timeout),
            upgrade,
        };
        self.flush()
    }

    /// Writes what the socket takes of the answer; once all is written,
    /// upgrades, or shuts down the write side and drains.
    fn flush(&mut self) -> Next {
        let Phase::Write {
            sending, upgrade, ..
        } = &mut self.phase
        else {
            return Next::Wait;
        };
        match sending.write(&self.stream) {
            Stop::Done => {}
            Stop::Blocked => return Next::Wait,
            Stop::Closed => return Next::Close,
        }
        if upgrade.is_some() {
            return Next::Upgrade;
        }
        if self.stream.shutdown(Shutdown::Write).is_err() {
            return Next::Close;
        }
        self.phase = Phase::Drain {
            deadline: after(Instant::now(), DRAIN_TIME),
            read: 0,
        };
        Next::Wait
    }

    /// The socket and what the WebSocket client starts with, once
    /// [`Next::Upgrade`] was returned; `None` otherwise.
    pub fn upgrade(self) -> Option<(TcpStream, Upgrade)> {
        match self.phase {
            Phase::Write {
                upgrade: Some(upgrade),
                ..
            } => Some((self.stream, upgrade)),
            _ => None,
        }
    }
}

/// Reads what has come of the head into `buf`, up to `max_head` bytes.
/// `Some(full)` once it holds the head's end or is `full` (as large as
/// allowed); `None` while more is to come; `Err` when the client has
/// closed or failed.
fn read_head(stream: &TcpStream, buf: &mut Vec<u8>, max_head: usize) -> Result<Option<bool>, ()> {
    let searched = buf.len();
    if local_server::read_into(stream, buf, max_head) == Stop::Closed {
        return Err(());
    }
    let full = buf.len() >= max_head;
    Ok((full || request::has_end(buf, searched)).then_some(full))
}

/// Reads and drops what the client sends, until it closes (or fails, or
/// has sent more than [`DRAIN_BYTES`] in all, counted in `read`).
fn discard(stream: &TcpStream, read: &mut usize) -> Next {
    match local_server::discard(stream, read, DRAIN_BYTES) {
        Stop::Closed => Next::Close,
        Stop::Done | Stop::Blocked => Next::Wait,
    }
}
