//! What systemfd's own servers on its machine (the error page, the
//! LiveReload server) share: the waker that ends their thread's poll, an
//! HTTP response made once and shared, and the non-blocking reads and
//! writes of one connection.
//!
//! Each of those servers is one thread that polls its sockets; its owner
//! steers it through a state under a mutex and wakes it with a datagram
//! ([`waker`]). Every answer is a complete HTTP/1.1 response, head and
//! body in one shared buffer ([`Response`]), made once and handed to every
//! connection that needs it without a copy; it closes the connection
//! (`Connection: close`) and is never cached (`Cache-Control: no-store`).
//! Once it is written the write side is shut down, and what the client
//! still sends is read and dropped ([`discard`], at most [`DRAIN_BYTES`]
//! for at most [`DRAIN_TIME`]) until it closes.

use std::io::{self, Read, Write};
use std::net::UdpSocket;
use std::sync::Arc;
use std::time::Duration;

/// How long a connection whose answer is written may drain what the client
/// still sends, waiting for it to close: closing a socket with unread data
/// resets the connection, and the client may lose the answer.
pub const DRAIN_TIME: Duration = Duration::from_secs(2);
/// The most bytes drained before the connection is closed all the same.
pub const DRAIN_BYTES: usize = 64 * 1024;

/// The owner's end of the waker: a datagram from it ends the thread's poll.
#[derive(Debug)]
pub struct Waker(UdpSocket);

/// The thread's end of the waker, to poll for reading.
#[derive(Debug)]
pub struct Wakeup(UdpSocket);

/// A waker and the thread's end of it: a pair of connected loopback UDP
/// sockets, both non-blocking (they work on every OS, with poll and
/// `WSAPoll` alike).
///
/// # Errors
/// When the sockets cannot be made, bound, connected or made
/// non-blocking.
pub fn waker() -> io::Result<(Waker, Wakeup)> {
    let waker = UdpSocket::bind("127.0.0.1:0")?;
    let wakeup = UdpSocket::bind("127.0.0.1:0")?;
    waker.connect(wakeup.local_addr()?)?;
    wakeup.connect(waker.local_addr()?)?;
    waker.set_nonblocking(true)?;
    wakeup.set_nonblocking(true)?;
    Ok((Waker(waker), Wakeup(wakeup)))
}

impl Waker {
    /// Ends the thread's poll, now or at its next one. Never blocks, and
    /// never fails: a full buffer means a wake-up is pending anyway.
    pub fn wake(&self) {
        let _ = self.0.send(&[1]);
    }
}

impl Wakeup {
    /// The socket to poll for reading.
    pub fn socket(&self) -> &UdpSocket {
        &self.0
    }

    /// Reads the pending wake-ups, a bounded number of them (64), so that
    /// the next poll waits again.
    pub fn drain(&self) {
        let mut buf = [0u8; 16];
        for _ in 0..64 {
            if self.0.recv(&mut buf).is_err() {
                break;
            }
        }
    }
}

/// One complete response, shared: cloning it copies a pointer.
#[derive(Clone, Debug)]
pub struct Response {
    bytes: Arc<[u8]>,
    head_len: usize,
}

impl Response {
    /// The response `status` (code and reason, `"200 OK"`) with `headers`
    /// (each a whole line without its CRLF) and `body`; `Content-Length`
    /// is added unless the status is 204 (which has none), then
    /// `Cache-Control: no-store` and `Connection: close`.
    pub fn new(status: &str, headers: &[&str], body: &[u8]) -> Response {
        let mut head = format!("HTTP/1.1 {status}\r\n");
        for header in headers {
            head.push_str(header);
            head.push_str("\r\n");
        }
        if !status.starts_with("204") {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("Cache-Control: no-store\r\nConnection: close\r\n\r\n");
        let mut bytes = Vec::with_capacity(head.len() + body.len());
        bytes.extend_from_slice(head.as_bytes());
        bytes.extend_from_slice(body);
        Response {
            bytes: bytes.into(),
            head_len: head.len(),
        }
    }

    /// `bytes` made elsewhere (a `101` answer), sent whole: all head.
    pub fn raw(bytes: Vec<u8>) -> Response {
        let head_len = bytes.len();
        Response {
            bytes: bytes.into(),
            head_len,
        }
    }

    /// The bytes to send: the head alone when `head_only` (a `HEAD`
    /// request).
    pub fn bytes(&self, head_only: bool) -> &[u8] {
        if head_only {
            &self.bytes[..self.head_len]
        } else {
            &self.bytes
        }
    }
}

/// Where a non-blocking read or write on a connection stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    /// It has done all it was to do: written everything, or read as much
    /// as allowed.
    Done,
    /// The socket would block: poll it again.
    Blocked,
    /// The client has closed the connection, or it failed (or sent more
    /// than allowed): close it.
    Closed,
}

/// A response being written to one connection.
#[derive(Debug)]
pub struct Sending {
    response: Response,
    head_only: bool,
    /// How many of its bytes are written.
    written: usize,
}

impl Sending {
    /// `response` to write, its head alone when `head_only`.
    pub fn new(response: Response, head_only: bool) -> Sending {
        Sending {
            response,
            head_only,
            written: 0,
        }
    }

    /// Writes to `socket` (non-blocking) what it takes of the rest.
    /// [`Stop::Done`] once all is written, [`Stop::Blocked`] when the
    /// socket is full, [`Stop::Closed`] when it has failed.
    pub fn write(&mut self, mut socket: impl Write) -> Stop {
        let bytes = self.response.bytes(self.head_only);
        while self.written < bytes.len() {
            match socket.write(&bytes[self.written..]) {
                Ok(0) => return Stop::Closed,
                Ok(n) => self.written += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Stop::Blocked,
                Err(_) => return Stop::Closed,
            }
        }
        Stop::Done
    }
}

/// Reads from `socket` (non-blocking) what has come into `buf`, until it
/// holds `max` bytes. [`Stop::Done`] once it does, [`Stop::Blocked`] when
/// nothing more has come yet, [`Stop::Closed`] when the client has closed
/// or failed.
pub fn read_into(mut socket: impl Read, buf: &mut Vec<u8>, max: usize) -> Stop {
    let mut chunk = [0u8; 4096];
    while buf.len() < max {
        let room = (max - buf.len()).min(chunk.len());
        match socket.read(&mut chunk[..room]) {
            Ok(0) => return Stop::Closed,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Stop::Blocked,
            Err(_) => return Stop::Closed,
        }
    }
    Stop::Done
}

/// Reads from `socket` (non-blocking) and drops what the client sends,
/// counting the bytes in `read`. [`Stop::Blocked`] when nothing more has
/// come yet; [`Stop::Closed`] when the client has closed, or failed, or
/// has sent more than `most` bytes in all.
pub fn discard(mut socket: impl Read, read: &mut usize, most: usize) -> Stop {
    let mut chunk = [0u8; 4096];
    loop {
        match socket.read(&mut chunk) {
            Ok(0) => return Stop::Closed,
            Ok(n) => {
                *read += n;
                if *read > most {
                    return Stop::Closed;
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Stop::Blocked,
            Err(_) => return Stop::Closed,
        }
    }
}

#[cfg(test)]
mod tests;
