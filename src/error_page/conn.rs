//! One accepted connection, from its request head to its close: reading the
//! head (bounded in size and time), held (a wait request), writing the
//! answer (bounded in time), and draining what the client still sends until
//! it closes. Every socket call is non-blocking.

use std::io;
use std::net::{IpAddr, Shutdown};
use std::time::Instant;

use socket2::Socket;

use super::limits::{after, Limits};
use super::request::{self, Hosts, Request};
use crate::local_server::{self, Response, Sending, Stop, DRAIN_BYTES, DRAIN_TIME};
use crate::sys::Interest;

/// What a connection needs from the server next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Nothing: wait for its socket or its deadline.
    Wait,
    /// Its request head is complete: decide the answer.
    Decide(Request),
    /// It is done: drop it, closing it.
    Close,
}

#[derive(Debug)]
enum Phase {
    /// Reading the request head.
    Head { buf: Vec<u8>, deadline: Instant },
    /// A wait request on outage `epoch`, held until `deadline`.
    Held {
        epoch: u64,
        deadline: Instant,
        read: usize,
    },
    /// Writing the answer.
    Write { sending: Sending, deadline: Instant },
    /// Written, the write side shut down; reading until the client closes.
    Drain { deadline: Instant, read: usize },
}

/// One accepted connection.
#[derive(Debug)]
pub struct Conn {
    socket: Socket,
    peer: IpAddr,
    phase: Phase,
}

impl Conn {
    /// Takes up `socket`, accepted from `peer`, and makes it non-blocking;
    /// its head is due within `limits.head_timeout` of `now`.
    ///
    /// # Errors
    /// When the socket cannot be made non-blocking (it is then dropped).
    pub fn new(socket: Socket, peer: IpAddr, limits: &Limits, now: Instant) -> io::Result<Conn> {
        socket.set_nonblocking(true)?;
        Ok(Conn {
            socket,
            peer,
            phase: Phase::Head {
                buf: Vec::new(),
                deadline: after(now, limits.head_timeout),
            },
        })
    }

    /// The socket, to poll.
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    /// The client's address.
    pub fn peer(&self) -> IpAddr {
        self.peer
    }

    /// What its socket is polled for.
    pub fn interest(&self) -> Interest {
        match self.phase {
            Phase::Write { .. } => Interest::Write,
            _ => Interest::Read,
        }
    }

    /// When its current phase ends.
    pub fn deadline(&self) -> Instant {
        match &self.phase {
            Phase::Head { deadline, .. }
            | Phase::Held { deadline, .. }
            | Phase::Write { deadline, .. }
            | Phase::Drain { deadline, .. } => *deadline,
        }
    }

    /// The outage of the wait request it holds, if it holds one.
    pub fn held(&self) -> Option<u64> {
        match self.phase {
            Phase::Held { epoch, .. } => Some(epoch),
            _ => None,
        }
    }

    /// Whether a new connection may take its place: it has no request yet,
    /// or its answer is written.
    pub fn evictable(&self) -> bool {
        matches!(self.phase, Phase::Head { .. } | Phase::Drain { .. })
    }

    /// Moves it along now that poll found its socket ready.
    pub fn on_ready(&mut self, limits: &Limits, hosts: &Hosts) -> Next {
        match &mut self.phase {
            Phase::Head { buf, .. } => read_head(&self.socket, buf, self.peer, limits, hosts),
            Phase::Held { read, .. } => discard(&self.socket, read, limits.max_head),
            Phase::Drain { read, .. } => discard(&self.socket, read, DRAIN_BYTES),
            Phase::Write { .. } => self.flush(),
        }
    }

    /// Moves it along once its deadline has passed: a held request is
    /// answered `wait`; anything else is closed.
    pub fn on_deadline(&mut self, wait: &Response, limits: &Limits, now: Instant) -> Next {
        match self.phase {
            Phase::Held { .. } => self.respond(wait.clone(), false, limits, now),
            _ => Next::Close,
        }
    }

    /// Holds its wait request on outage `epoch` until `deadline`.
    pub fn hold(&mut self, epoch: u64, deadline: Instant) {
        self.phase = Phase::Held {
            epoch,
            deadline,
            read: 0,
        };
    }

    /// Starts writing `response` (its head alone if `head_only`), within
    /// `limits.write_timeout` of `now`, and writes what it can at once.
    pub fn respond(
        &mut self,
        response: Response,
        head_only: bool,
        limits: &Limits,
        now: Instant,
    ) -> Next {
        self.phase = Phase::Write {
            sending: Sending::new(response, head_only),
            deadline: after(now, limits.write_timeout),
        };
        self.flush()
    }

    /// Writes what the socket takes of the answer; once all is written,
    /// shuts down the write side and drains.
    fn flush(&mut self) -> Next {
        let Phase::Write { sending, .. } = &mut self.phase else {
            return Next::Wait;
        };
        match sending.write(&self.socket) {
            Stop::Done => {}
            Stop::Blocked => return Next::Wait,
            Stop::Closed => return Next::Close,
        }
        if self.socket.shutdown(Shutdown::Write).is_err() {
            return Next::Close;
        }
        self.phase = Phase::Drain {
            deadline: after(Instant::now(), DRAIN_TIME),
            read: 0,
        };
        Next::Wait
    }
}

/// Reads what has come of the head into `buf`, up to `limits.max_head`
/// bytes, and parses it once it is complete or as large as allowed.
fn read_head(
    socket: &Socket,
    buf: &mut Vec<u8>,
    peer: IpAddr,
    limits: &Limits,
    hosts: &Hosts,
) -> Next {
    let searched = buf.len();
    if local_server::read_into(socket, buf, limits.max_head) == Stop::Closed {
        return Next::Close;
    }
    let full = buf.len() >= limits.max_head;
    if !full && !request::has_end(buf, searched) {
        return Next::Wait;
    }
    match request::parse(buf, full, peer, hosts) {
        Some(request) => Next::Decide(request),
        None => Next::Wait,
    }
}

/// Reads and drops what the client sends, until it closes (or fails, or
/// has sent more than `most` bytes in all, counted in `read`).
fn discard(socket: &Socket, read: &mut usize, most: usize) -> Next {
    match local_server::discard(socket, read, most) {
        Stop::Closed => Next::Close,
        Stop::Done | Stop::Blocked => Next::Wait,
    }
}
