//! The socket server that hands the sockets to the command on Windows.
//!
//! Windows sockets cannot be inherited at fixed descriptor numbers, so systemfd
//! (like systemfd 0.4, whose client is the `listenfd` crate) runs a small TCP
//! server on `127.0.0.1` and tells the command where it is and a secret, in
//! `SYSTEMFD_SOCKET_SERVER` and `SYSTEMFD_SOCKET_SECRET`. The command connects,
//! writes `SECRET|PID`, shuts down its write side and reads to EOF: one
//! `WSAPROTOCOL_INFOW` per socket, in `-s` order, made for PID. Anything else
//! gets the connection closed with no data. The protocol is written down in
//! `docs/protocol.md` ("Windows: the socket-server protocol"); the client it
//! must satisfy is `listenfd` 1.0 (`src/windows.rs`, `get_fds`).
//!
//! Each command served gets a secret of its own ([`Server::issue`]): in
//! supervise mode a request thereby tells which start of the command it
//! comes from (its pid may be a grandchild's), and an ended start's secret
//! is revoked.
//!
//! Every local process can reach the server, so it must withstand any input:
//! each connection is handled on its own thread with a size and time bound,
//! never blocking the accept loop; secrets are compared in constant time;
//! nothing a client sends can panic it. All of that is portable and tested on
//! every platform; only making the `WSAPROTOCOL_INFOW` records is Windows
//! code, which the platform module passes in as the `duplicate` function.

#![warn(missing_docs)]

use std::fmt;
use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq as _;

/// The variable that holds the server's address, `127.0.0.1:PORT` in
/// `SocketAddr` text form; `listenfd` parses it as a `SocketAddr`
/// (`docs/protocol.md`, "The environment").
pub const SERVER_VAR: &str = "SYSTEMFD_SOCKET_SERVER";
/// The variable that holds the secret a request must start with, as
/// [`Secret::as_str`] gives it; `listenfd` parses it as a UUID
/// (`docs/protocol.md`, "The environment").
pub const SECRET_VAR: &str = "SYSTEMFD_SOCKET_SECRET";

/// The size in bytes of one `WSAPROTOCOL_INFOW`, the record the reply is
/// made of (`docs/protocol.md`, "The exchange"): `listenfd` counts the
/// records by dividing the reply's length by `size_of::<WSAPROTOCOL_INFOW>()`.
/// The Windows module checks this value against the real struct at compile
/// time.
pub const PROTOCOL_INFO_LEN: usize = 628;

/// One `WSAPROTOCOL_INFOW`, as the [`PROTOCOL_INFO_LEN`] bytes sent on the
/// wire.
pub type ProtocolInfo = [u8; PROTOCOL_INFO_LEN];

/// The length in bytes (ASCII characters) of the secret's text form: a
/// hyphenated UUID, 32 hex digits and 4 hyphens.
pub const SECRET_LEN: usize = 36;

/// The longest honest request in bytes, 47: the secret, `|`, and a pid of
/// at most ten digits (`u32::MAX`). Anything longer is refused unread
/// (`docs/protocol.md`, "Refusals").
pub const MAX_REQUEST_LEN: usize = SECRET_LEN + 1 + 10;

/// The secret that authenticates a request: a random (version 4) UUID in the
/// lowercase hyphenated form. `listenfd` parses [`SECRET_VAR`] as a UUID and
/// writes it back with `Display`, which is that form, so only that form is
/// accepted (`docs/protocol.md`, "The environment"). `Debug` never shows it.
#[derive(Clone)]
pub struct Secret {
    text: String,
}

impl Secret {
    /// A new secret: 16 bytes from the operating system's secure random
    /// source, in the form of [`Secret::from_random_bytes`].
    ///
    /// # Errors
    ///
    /// When the random source fails (`getrandom`'s error, which names the
    /// cause); no secret is made from anything weaker.
    pub fn generate() -> Result<Secret, getrandom::Error> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes)?;
        Ok(Secret::from_random_bytes(bytes))
    }

    /// The UUID text for 16 random bytes, with the version and variant bits
    /// set as RFC 9562 says for version 4 (122 random bits remain): always
    /// [`SECRET_LEN`] lowercase characters, hyphenated 8-4-4-4-12.
    pub fn from_random_bytes(mut bytes: [u8; 16]) -> Secret {
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let mut text = String::with_capacity(SECRET_LEN);
        for (index, byte) in bytes.iter().enumerate() {
            if matches!(index, 4 | 6 | 8 | 10) {
                text.push('-');
            }
            text.push_str(&format!("{byte:02x}"));
        }
        Secret { text }
    }

    /// The secret's text, [`SECRET_LEN`] ASCII characters: the value of
    /// [`SECRET_VAR`], and what a request must start with.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `candidate` (raw request bytes) is exactly the secret's text,
    /// in time that does not depend on where the two differ. Case matters:
    /// `listenfd` sends the lowercase form.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        bool::from(self.text.as_bytes().ct_eq(candidate))
    }
}

impl fmt::Debug for Secret {
    /// Never prints the secret itself.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Which of the server's secrets a request carried. Every command the
/// server serves gets a secret of its own ([`Server::issue`]), so a request
/// tells which command it comes from, and a stopped command's secret can be
/// revoked. The number is the order of issue, from 0; it never leaves
/// systemfd.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key(pub u64);

/// An authenticated request: send the sockets to this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// The process the records are made for, as the client wrote it: 1 to
    /// `u32::MAX`. `listenfd` sends its own pid; a client may name another.
    pub pid: u32,
    /// The secret it carried.
    pub key: Key,
}

/// Why a connection was closed without data; the message is the reason
/// shown on stderr after `rejected a request from ADDR: `. The cases are
/// the refusals of `docs/protocol.md` ("Refusals").
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// More than [`MAX_REQUEST_LEN`] bytes arrived; the rest is not read.
    #[error("the request is longer than {MAX_REQUEST_LEN} bytes")]
    TooLong,
    /// The client did not end its request (EOF) within [`Limits::timeout`],
    /// the value carried.
    #[error("no complete request within {} s", .0.as_secs_f32())]
    TimedOut(Duration),
    /// Not `SECRET|PID` with a pid of 1 to 10 decimal digits, non-zero and
    /// fitting in 32 bits.
    #[error("the request is not SECRET|PID")]
    Malformed,
    /// Well formed, but the secret is none of those in force.
    #[error("wrong secret")]
    WrongSecret,
    /// Reading failed with this kind of error (the connection was reset,
    /// say).
    #[error("cannot read the request ({0})")]
    Unreadable(io::ErrorKind),
    /// [`Limits::max_connections`], the value carried, were already being
    /// handled; the connection was closed unread.
    #[error("too many connections at once (at most {0})")]
    Busy(usize),
}

/// Parses and authenticates a complete request, `SECRET|PID` as `listenfd`
/// writes it (`docs/protocol.md`, "The exchange"), against `secrets`, the
/// secrets in force with their keys. Every one of them is compared, in
/// constant time, so the time taken tells nothing about which came close.
/// Returns the pid and the key of the secret that matched.
///
/// # Errors
///
/// [`Rejection::TooLong`] beyond [`MAX_REQUEST_LEN`] bytes,
/// [`Rejection::Malformed`] when the bytes are not `SECRET|PID` with a
/// valid pid, [`Rejection::WrongSecret`] when no secret in force matches.
pub fn parse_request(bytes: &[u8], secrets: &[(Key, Secret)]) -> Result<Request, Rejection> {
    if bytes.len() > MAX_REQUEST_LEN {
        return Err(Rejection::TooLong);
    }
    let split = bytes
        .iter()
        .position(|&b| b == b'|')
        .ok_or(Rejection::Malformed)?;
    let (candidate, pid) = (&bytes[..split], &bytes[split + 1..]);
    let pid = parse_pid(pid).ok_or(Rejection::Malformed)?;
    let key = secrets.iter().fold(None, |found, (key, secret)| {
        if secret.matches(candidate) {
            Some(*key)
        } else {
            found
        }
    });
    match key {
        Some(key) => Ok(Request { pid, key }),
        None => Err(Rejection::WrongSecret),
    }
}

/// A pid in plain decimal, as `listenfd` writes it: one to ten digits, not
/// zero.
fn parse_pid(digits: &[u8]) -> Option<u32> {
    if !(1..=10).contains(&digits.len()) || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let pid: u32 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    (pid != 0).then_some(pid)
}

/// The reply for `records`: the records back to back, with no header,
/// `records.len() * PROTOCOL_INFO_LEN` bytes (empty for no records). The
/// client divides the length by [`PROTOCOL_INFO_LEN`] to count them
/// (`docs/protocol.md`, "The exchange"; `listenfd`'s `get_fds`).
pub fn frame_reply(records: &[ProtocolInfo]) -> Vec<u8> {
    records.concat()
}

/// Bounds on what one client may cost the server. The default is what
/// `docs/protocol.md` ("Refusals") promises: 10 seconds and 64
/// connections.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// How long a client has, from when its connection is taken up, to send
    /// its whole request and read the reply; one deadline for the whole
    /// exchange, not per read.
    pub timeout: Duration,
    /// How many connections are handled at once; more are closed at once,
    /// unread.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // An honest client writes its request right after connecting.
            timeout: Duration::from_secs(10),
            max_connections: 64,
        }
    }
}

/// What happened to one connection, or to the server. `Display` gives the
/// line systemfd prints, without its `socket server: ` prefix.
#[derive(Debug)]
pub enum Event {
    /// The sockets were sent for `pid`, which asked with the secret `key`.
    Served {
        /// The client's address.
        peer: SocketAddr,
        /// The process the records were made for.
        pid: u32,
        /// How many records (sockets) were sent.
        count: usize,
        /// The secret the request carried.
        key: Key,
    },
    /// The connection was closed without data.
    Rejected {
        /// The client's address.
        peer: SocketAddr,
        /// Why.
        reason: Rejection,
    },
    /// An authenticated request could not be answered; nothing was sent.
    Failed {
        /// The client's address.
        peer: SocketAddr,
        /// The process the records were to be made for.
        pid: u32,
        /// The duplication's error, or the write's (a timeout included).
        error: io::Error,
    },
    /// A connection could not be accepted or handled; the server goes on.
    ServerError(io::Error),
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Served {
                peer, pid, count, ..
            } => {
                write!(f, "sent {count} socket(s) for pid {pid} to {peer}")
            }
            Event::Rejected { peer, reason } => {
                write!(f, "rejected a request from {peer}: {reason}")
            }
            Event::Failed { peer, pid, error } => {
                write!(
                    f,
                    "cannot send the sockets for pid {pid} to {peer}: {error}"
                )
            }
            Event::ServerError(error) => write!(f, "{error}"),
        }
    }
}

/// Makes one record per socket, in `-s` order, for the process with the
/// pid given (`WSADuplicateSocketW` on Windows). An error is reported as
/// [`Event::Failed`] and the client gets no data.
pub type Duplicate = dyn Fn(u32) -> io::Result<Vec<ProtocolInfo>> + Send + Sync;
/// Receives every [`Event`], on the server's threads: once per
/// connection, after it is closed, and once per server error.
pub type Report = dyn Fn(Event) + Send + Sync;

/// A running socket server. Its threads serve until the process exits;
/// dropping the `Server` stops nothing.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server").field("addr", &self.addr).finish()
    }
}

/// The secrets in force, and the next key to issue.
#[derive(Default)]
struct Keys {
    next: u64,
    live: Vec<(Key, Secret)>,
}

struct Shared {
    keys: Mutex<Keys>,
    limits: Limits,
    duplicate: Box<Duplicate>,
    report: Box<Report>,
    active: AtomicUsize,
}

impl Server {
    /// Starts serving on `listener` (bound to a loopback address and
    /// listening) on a thread of its own, each connection within `limits`.
    /// `duplicate` makes the records for a request's pid; `report` hears of
    /// every connection's end. No request is answered until a secret is
    /// issued ([`Server::issue`]).
    ///
    /// # Errors
    ///
    /// When the listener's address cannot be read, or the accepting thread
    /// cannot be started.
    pub fn start(
        listener: TcpListener,
        limits: Limits,
        duplicate: Box<Duplicate>,
        report: Box<Report>,
    ) -> io::Result<Server> {
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            keys: Mutex::new(Keys::default()),
            limits,
            duplicate,
            report,
            active: AtomicUsize::new(0),
        });
        let accepting = Arc::clone(&shared);
        thread::Builder::new()
            .name("socket server".into())
            .spawn(move || accept_loop(&listener, &accepting))?;
        Ok(Server { addr, shared })
    }

    /// The address the server listens on, the value of [`SERVER_VAR`].
    /// (Commands learn it from [`Server::variables`]; the tests ask here.)
    #[cfg(test)]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A fresh secret for one command, in force until revoked, with the key
    /// that names it in [`Event::Served`].
    ///
    /// # Errors
    ///
    /// When the operating system's random source fails
    /// ([`Secret::generate`]); the error is of kind `Other`.
    pub fn issue(&self) -> io::Result<(Key, Secret)> {
        let secret = Secret::generate().map_err(io::Error::other)?;
        let mut keys = self.shared.keys();
        let key = Key(keys.next);
        keys.next += 1;
        keys.live.push((key, secret.clone()));
        Ok((key, secret))
    }

    /// Refuses the secret `key` from now on (its command has ended). A key
    /// not in force is ignored.
    pub fn revoke(&self, key: Key) {
        self.shared.keys().live.retain(|&(live, _)| live != key);
    }

    /// The variables that tell a command how to reach the server, and the
    /// secret it was issued: `[(SERVER_VAR, address), (SECRET_VAR, secret)]`,
    /// names and values to set in its environment.
    pub fn variables(&self, secret: &Secret) -> [(&'static str, String); 2] {
        [
            (SERVER_VAR, self.addr.to_string()),
            (SECRET_VAR, secret.as_str().to_owned()),
        ]
    }
}

impl Shared {
    /// The keys; a panic elsewhere while they were held leaves them whole.
    fn keys(&self) -> std::sync::MutexGuard<'_, Keys> {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Accepts forever, handing every connection to its own thread.
fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    loop {
        match listener.accept() {
            Ok((stream, peer)) => dispatch(stream, peer, shared),
            Err(err) => {
                (shared.report)(Event::ServerError(io::Error::new(
                    err.kind(),
                    format!("cannot accept a connection: {err}"),
                )));
                // Out of descriptors or memory: give the system a moment
                // instead of spinning on the same error.
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Counts a connection for as long as it lives.
struct Slot(Arc<Shared>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

fn dispatch(stream: TcpStream, peer: SocketAddr, shared: &Arc<Shared>) {
    let max = shared.limits.max_connections;
    if shared.active.fetch_add(1, Ordering::SeqCst) >= max {
        shared.active.fetch_sub(1, Ordering::SeqCst);
        drop(stream);
        (shared.report)(Event::Rejected {
            peer,
            reason: Rejection::Busy(max),
        });
        return;
    }
    let slot = Slot(Arc::clone(shared));
    let spawned = thread::Builder::new()
        .name("socket server connection".into())
        .spawn(move || {
            let event = serve(stream, peer, &slot.0);
            // Free the slot before reporting, so whoever hears of the
            // connection's end can connect again at once.
            let shared = Arc::clone(&slot.0);
            drop(slot);
            (shared.report)(event);
        });
    if let Err(err) = spawned {
        (shared.report)(Event::ServerError(io::Error::new(
            err.kind(),
            format!("cannot start a thread for {peer}: {err}"),
        )));
    }
}

/// Answers one connection; dropping `stream` closes it.
fn serve(mut stream: TcpStream, peer: SocketAddr, shared: &Shared) -> Event {
    let deadline = Instant::now() + shared.limits.timeout;
    let request = read_request(&mut stream, deadline, shared.limits.timeout)
        .and_then(|bytes| parse_request(&bytes, &shared.keys().live.clone()));
    let (pid, key) = match request {
        Ok(Request { pid, key }) => (pid, key),
        Err(reason) => return Event::Rejected { peer, reason },
    };
    let sent = (shared.duplicate)(pid).and_then(|records| {
        let left = deadline.saturating_duration_since(Instant::now());
        stream.set_write_timeout(Some(left.max(Duration::from_millis(1))))?;
        stream.write_all(&frame_reply(&records))?;
        Ok(records.len())
    });
    match sent {
        Ok(count) => Event::Served {
            peer,
            pid,
            count,
            key,
        },
        Err(error) => Event::Failed { peer, pid, error },
    }
}

/// Reads until EOF, refusing more than [`MAX_REQUEST_LEN`] bytes or a client
/// that has not finished by `deadline`.
fn read_request(
    stream: &mut TcpStream,
    deadline: Instant,
    timeout: Duration,
) -> Result<Vec<u8>, Rejection> {
    let mut buf = [0u8; MAX_REQUEST_LEN + 1];
    let mut len = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Rejection::TimedOut(timeout));
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|err| Rejection::Unreadable(err.kind()))?;
        match stream.read(&mut buf[len..]) {
            Ok(0) => return Ok(buf[..len].to_vec()),
            Ok(n) => {
                len += n;
                if len > MAX_REQUEST_LEN {
                    return Err(Rejection::TooLong);
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(Rejection::TimedOut(timeout));
            }
            Err(err) => return Err(Rejection::Unreadable(err.kind())),
        }
    }
}

#[cfg(test)]
mod tests;
