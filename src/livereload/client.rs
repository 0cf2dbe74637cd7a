//! One WebSocket client: its LiveReload handshake (the `hello`, due within
//! the handshake time of its acceptance), the messages sent to it, and its
//! liveness (a Ping after [`Limits::ping_interval`] of silence, closed
//! when that too goes unanswered). tungstenite frames the messages over
//! the non-blocking socket and keeps what the socket does not take yet, up
//! to [`Limits::max_backlog_bytes`]; the client is closed beyond that.

use std::io;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Error, Message, WebSocket};

use super::conn::Upgrade;
use super::limits::{after, Limits};
use super::message::{self, Incoming};
use super::status::Report;
use crate::sys::Interest;

/// The largest message or frame read from a client: LiveReload clients
/// send a few hundred bytes.
const MAX_MESSAGE: usize = 64 * 1024;
/// The most messages read from one client per round, so that one that
/// floods cannot starve the others.
const READS_PER_ROUND: usize = 32;
/// The shortest Ping interval, so that a zero in the limits cannot spin.
const MIN_PING_INTERVAL: Duration = Duration::from_millis(10);

/// Whether a client goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// It stays.
    Wait,
    /// It is done, or failed: drop it, closing it.
    Close,
}

/// Where a client is in the LiveReload handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hello {
    /// Its hello is due by then.
    Due(Instant),
    /// It has greeted; `status`: it listed systemfd's status protocol.
    Done { status: bool },
}

/// One WebSocket client.
#[derive(Debug)]
pub struct Client {
    ws: WebSocket<TcpStream>,
    /// Its `Origin` is allowed (or it sent none): it may see the details.
    trusted: bool,
    hello: Hello,
    /// When it was last heard from (any frame).
    heard: Instant,
    /// When it was sent a Ping that it has not answered (by anything).
    pinged: Option<Instant>,
    /// tungstenite holds bytes the socket did not take.
    unflushed: bool,
    /// Messages may wait in tungstenite's buffer, unread.
    more: bool,
}

impl Client {
    /// The client on `stream` (non-blocking, its `101` written), starting
    /// with `upgrade`; its hello is due within the handshake time of its
    /// acceptance.
    pub fn new(stream: TcpStream, upgrade: Upgrade, limits: &Limits, now: Instant) -> Client {
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0)
            .max_write_buffer_size(limits.max_backlog_bytes.max(1))
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE));
        let more = !upgrade.rest.is_empty();
        let ws = WebSocket::from_partially_read(stream, upgrade.rest, Role::Server, Some(config));
        Client {
            ws,
            trusted: upgrade.trusted,
            hello: Hello::Due(after(upgrade.accepted, limits.handshake_timeout)),
            heard: now,
            pinged: None,
            unflushed: false,
            more,
        }
    }

    /// The socket, to poll.
    pub fn socket(&self) -> &TcpStream {
        self.ws.get_ref()
    }

    /// What its socket is polled for: room to write while tungstenite holds
    /// bytes for it (a client that does not read is not heard either).
    pub fn interest(&self) -> Interest {
        if self.unflushed {
            Interest::Write
        } else {
            Interest::Read
        }
    }

    /// Whether it has completed its hello.
    pub fn greeted(&self) -> bool {
        matches!(self.hello, Hello::Done { .. })
    }

    /// Whether it is sent `systemfd-status` messages.
    pub fn wants_status(&self) -> bool {
        self.hello == Hello::Done { status: true }
    }

    /// Whether messages may wait unread: the server polls without waiting.
    pub fn pending(&self) -> bool {
        self.more
    }

    /// When its deadline comes: its hello's, a Ping's, or closing it for
    /// silence.
    pub fn deadline(&self, limits: &Limits) -> Instant {
        let interval = limits.ping_interval.max(MIN_PING_INTERVAL);
        let live = after(self.pinged.unwrap_or(self.heard), interval);
        match self.hello {
            Hello::Due(due) => due.min(live),
            Hello::Done { .. } => live,
        }
    }

    /// Moves it along now that poll found its socket ready (or messages
    /// wait unread): writes what tungstenite holds, then reads and answers
    /// its messages. `report` is the current status.
    pub fn on_ready(&mut self, report: Option<&Report>, now: Instant) -> Next {
        if self.unflushed && self.flush() == Next::Close {
            return Next::Close;
        }
        self.more = false;
        for _ in 0..READS_PER_ROUND {
            match self.ws.read() {
                Ok(message) => {
                    self.heard = now;
                    self.pinged = None;
                    if self.receive(message, report) == Next::Close {
                        return Next::Close;
                    }
                }
                Err(Error::Io(err)) if err.kind() == io::ErrorKind::WouldBlock => {
                    return Next::Wait;
                }
                Err(Error::Io(err)) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Next::Close,
            }
        }
        self.more = true;
        Next::Wait
    }

    /// Handles one message read.
    fn receive(&mut self, message: Message, report: Option<&Report>) -> Next {
        let text = match message {
            Message::Text(text) => text,
            Message::Close(_) => {
                // tungstenite has queued the answering Close: try to send
                // it, then go.
                let _ = self.ws.flush();
                return Next::Close;
            }
            // Pings are answered by tungstenite; Pongs and the rest only
            // show that the client lives.
            _ => return Next::Wait,
        };
        let Hello::Due(_) = self.hello else {
            return Next::Wait;
        };
        match message::parse(&text) {
            Incoming::Hello {
                official_7: true,
                status,
            } => {
                self.hello = Hello::Done { status };
                if self.send(&message::hello(status)) == Next::Close {
                    return Next::Close;
                }
                match report {
                    Some(report) if status && !report.ok => self.status(report),
                    _ => Next::Wait,
                }
            }
            // A client that cannot speak version 7.
            Incoming::Hello { .. } => Next::Close,
            // Nothing but its hello is read before it.
            Incoming::Other => Next::Wait,
        }
    }

    /// Moves it along once its deadline has passed: closes it when its
    /// hello is late or its Ping unanswered, else sends a Ping. `report`
    /// is the current status.
    pub fn on_deadline(&mut self, report: Option<&Report>, limits: &Limits, now: Instant) -> Next {
        // What came meanwhile counts (a Pong, say), even while it was not
        // polled for reading.
        if self.on_ready(report, now) == Next::Close {
            return Next::Close;
        }
        if let Hello::Due(due) = self.hello {
            if now >= due {
                return Next::Close;
            }
        }
        let interval = limits.ping_interval.max(MIN_PING_INTERVAL);
        match self.pinged {
            Some(pinged) if now >= after(pinged, interval) => Next::Close,
            Some(_) => Next::Wait,
            None if now >= after(self.heard, interval) => {
                self.pinged = Some(now);
                self.write(Message::Ping(Default::default()))
            }
            None => Next::Wait,
        }
    }

    /// Sends it a status: with the details if it is trusted. Only for a
    /// client that [`wants_status`](Client::wants_status).
    pub fn status(&mut self, report: &Report) -> Next {
        let text = if self.trusted {
            &report.full
        } else {
            &report.bare
        };
        self.send(text)
    }

    /// Sends it a text message.
    pub fn send(&mut self, text: &str) -> Next {
        self.write(Message::text(text))
    }

    /// Writes `message`; what the socket does not take waits in
    /// tungstenite, up to the backlog limit.
    fn write(&mut self, message: Message) -> Next {
        match self.ws.write(message) {
            Ok(()) => self.flush(),
            Err(Error::Io(err))
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                self.unflushed = true;
                Next::Wait
            }
            // WriteBufferFull: it reads too little.
            Err(_) => Next::Close,
        }
    }

    /// Writes what tungstenite holds.
    fn flush(&mut self) -> Next {
        match self.ws.flush() {
            Ok(()) => {
                self.unflushed = false;
                Next::Wait
            }
            Err(Error::Io(err))
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                self.unflushed = true;
                Next::Wait
            }
            Err(_) => Next::Close,
        }
    }
}
