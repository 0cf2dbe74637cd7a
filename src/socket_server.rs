//! The socket server that hands the sockets to the command on Windows.
//!
//! Windows sockets cannot be inherited at fixed descriptor numbers, so systemfd
//! (like systemfd 0.4, whose client is the `listenfd` crate) runs a small TCP
//! server on `127.0.0.1` and tells the command where it is and a secret, in
//! `SYSTEMFD_SOCKET_SERVER` and `SYSTEMFD_SOCKET_SECRET`. The command connects,
//! writes `SECRET|PID`, shuts down its write side and reads to EOF: one
//! `WSAPROTOCOL_INFOW` per socket, in `-s` order, made for PID. Anything else
//! gets the connection closed with no data. The protocol is written down in
//! `docs/protocol.md`.
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

use std::fmt;
use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq as _;

/// The variable that holds the server's address, `127.0.0.1:PORT`.
pub const SERVER_VAR: &str = "SYSTEMFD_SOCKET_SERVER";
/// The variable that holds the secret a request must start with.
pub const SECRET_VAR: &str = "SYSTEMFD_SOCKET_SECRET";

/// The size of one `WSAPROTOCOL_INFOW`, the record the reply is made of
/// (the Windows module checks it against the real struct at compile time).
pub const PROTOCOL_INFO_LEN: usize = 628;

/// One `WSAPROTOCOL_INFOW`, as the bytes sent on the wire.
pub type ProtocolInfo = [u8; PROTOCOL_INFO_LEN];

/// The length of the secret's text form: a hyphenated UUID.
pub const SECRET_LEN: usize = 36;

/// The longest honest request: the secret, `|`, and a pid of at most ten
/// digits (`u32::MAX`). Anything longer is refused unread.
pub const MAX_REQUEST_LEN: usize = SECRET_LEN + 1 + 10;

/// The secret that authenticates a request: a random (version 4) UUID in the
/// lowercase hyphenated form, which is how `listenfd` writes it back.
#[derive(Clone)]
pub struct Secret {
    text: String,
}

impl Secret {
    /// A new secret from the operating system's secure random source.
    pub fn generate() -> Result<Secret, getrandom::Error> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes)?;
        Ok(Secret::from_random_bytes(bytes))
    }

    /// The UUID text for 16 random bytes, with the version and variant bits
    /// set as RFC 9562 says for version 4 (122 random bits remain).
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

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `candidate` is the secret, in time that does not depend on
    /// where the two differ.
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
/// revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key(pub u64);

/// An authenticated request: send the sockets to this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    pub pid: u32,
    /// The secret it carried.
    pub key: Key,
}

/// Why a connection was closed without data.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the request is longer than {MAX_REQUEST_LEN} bytes")]
    TooLong,
    #[error("no complete request within {} s", .0.as_secs_f32())]
    TimedOut(Duration),
    #[error("the request is not SECRET|PID")]
    Malformed,
    #[error("wrong secret")]
    WrongSecret,
    #[error("cannot read the request ({0})")]
    Unreadable(io::ErrorKind),
    #[error("too many connections at once (at most {0})")]
    Busy(usize),
}

/// Parses and authenticates a complete request, `SECRET|PID`, against the
/// secrets in force. Every one of them is compared, in constant time, so the
/// time taken tells nothing about which came close.
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

/// The reply: the records back to back, with no header. The client divides
/// the length by [`PROTOCOL_INFO_LEN`] to count them.
pub fn frame_reply(records: &[ProtocolInfo]) -> Vec<u8> {
    records.concat()
}

/// Bounds on what one client may cost the server.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// How long a client has to send its whole request (and read the reply).
    pub timeout: Duration,
    /// How many connections are handled at once; more are closed at once.
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

/// What happened to one connection, or to the server.
#[derive(Debug)]
pub enum Event {
    /// The sockets were sent for `pid`, which asked with the secret `key`.
    Served {
        peer: SocketAddr,
        pid: u32,
        count: usize,
        key: Key,
    },
    /// The connection was closed without data.
    Rejected { peer: SocketAddr, reason: Rejection },
    /// An authenticated request could not be answered.
    Failed {
        peer: SocketAddr,
        pid: u32,
        error: io::Error,
    },
    /// A connection could not be accepted or handled.
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

/// Makes one record per socket, in order, for the process with this pid.
pub type Duplicate = dyn Fn(u32) -> io::Result<Vec<ProtocolInfo>> + Send + Sync;
/// Receives every [`Event`]; called from the server's threads.
pub type Report = dyn Fn(Event) + Send + Sync;

/// A running socket server. Its threads serve until the process exits.
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
    /// listening). No request is answered until a secret is issued.
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

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A fresh secret for one command, in force until revoked.
    pub fn issue(&self) -> io::Result<(Key, Secret)> {
        let secret = Secret::generate().map_err(io::Error::other)?;
        let mut keys = self.shared.keys();
        let key = Key(keys.next);
        keys.next += 1;
        keys.live.push((key, secret.clone()));
        Ok((key, secret))
    }

    /// Refuses the secret `key` from now on (its command has ended).
    pub fn revoke(&self, key: Key) {
        self.shared.keys().live.retain(|&(live, _)| live != key);
    }

    /// The variables that tell a command how to reach the server, and the
    /// secret it was issued.
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
mod tests {
    use super::*;

    use std::net::Shutdown;
    use std::sync::mpsc;
    use std::sync::Mutex;

    /// How long a test waits for anything.
    const WAIT: Duration = Duration::from_secs(20);

    fn secret() -> Secret {
        Secret::from_random_bytes([0xab; 16])
    }

    #[test]
    fn secret_is_a_version_4_uuid_in_lowercase_hyphenated_form() {
        let secret = secret();
        assert_eq!(secret.as_str(), "abababab-abab-4bab-abab-abababababab");
        let zero = Secret::from_random_bytes([0; 16]);
        assert_eq!(zero.as_str(), "00000000-0000-4000-8000-000000000000");
        let ones = Secret::from_random_bytes([0xff; 16]);
        assert_eq!(ones.as_str(), "ffffffff-ffff-4fff-bfff-ffffffffffff");
    }

    #[test]
    fn generated_secrets_differ_and_are_well_formed() {
        let a = Secret::generate().unwrap();
        let b = Secret::generate().unwrap();
        assert_ne!(a.as_str(), b.as_str());
        for s in [&a, &b] {
            let text = s.as_str();
            assert_eq!(text.len(), SECRET_LEN);
            assert_eq!(&text[14..15], "4", "{text}");
            assert!("89ab".contains(&text[19..20]), "{text}");
            assert!(text
                .chars()
                .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c)));
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let secret = secret();
        assert!(!format!("{secret:?}").contains("abab"));
    }

    #[test]
    fn matches_only_the_exact_secret() {
        let secret = secret();
        assert!(secret.matches(secret.as_str().as_bytes()));
        assert!(!secret.matches(secret.as_str().to_uppercase().as_bytes()));
        assert!(!secret.matches(&secret.as_str().as_bytes()[..35]));
        assert!(!secret.matches(b""));
        let mut off_by_one = secret.as_str().as_bytes().to_vec();
        off_by_one[35] ^= 1;
        assert!(!secret.matches(&off_by_one));
    }

    /// The secrets in force when `secret` is the only one, as key 0.
    fn only(secret: &Secret) -> Vec<(Key, Secret)> {
        vec![(Key(0), secret.clone())]
    }

    fn request(secret: &Secret, pid: &str) -> Vec<u8> {
        format!("{}|{pid}", secret.as_str()).into_bytes()
    }

    #[test]
    fn parses_the_request_listenfd_sends() {
        let secret = secret();
        assert_eq!(
            parse_request(&request(&secret, "4242"), &only(&secret)),
            Ok(Request {
                pid: 4242,
                key: Key(0)
            })
        );
        assert_eq!(
            parse_request(&request(&secret, "4294967295"), &only(&secret)),
            Ok(Request {
                pid: u32::MAX,
                key: Key(0)
            })
        );
        assert_eq!(request(&secret, "4294967295").len(), MAX_REQUEST_LEN);
    }

    #[test]
    fn refuses_a_wrong_secret() {
        let secret = secret();
        let other = Secret::from_random_bytes([0xac; 16]);
        assert_eq!(
            parse_request(&request(&other, "1"), &only(&secret)),
            Err(Rejection::WrongSecret)
        );
        assert_eq!(
            parse_request(b"|1", &only(&secret)),
            Err(Rejection::WrongSecret)
        );
        assert_eq!(
            parse_request(&request(&secret, "1"), &[]),
            Err(Rejection::WrongSecret)
        );
    }

    #[test]
    fn a_request_names_the_secret_it_carried() {
        let first = secret();
        let second = Secret::from_random_bytes([0xcd; 16]);
        let live = [(Key(1), first.clone()), (Key(7), second.clone())];
        assert_eq!(
            parse_request(&request(&second, "5"), &live).map(|r| r.key),
            Ok(Key(7))
        );
        assert_eq!(
            parse_request(&request(&first, "5"), &live).map(|r| r.key),
            Ok(Key(1))
        );
    }

    #[test]
    fn refuses_malformed_requests() {
        let secret = secret();
        let s = secret.as_str();
        for bad in [
            String::new(),
            s.to_owned(),
            format!("{s}|"),
            format!("{s}|0"),
            format!("{s}|-1"),
            format!("{s}|+1"),
            format!("{s}| 1"),
            format!("{s}|1\n"),
            format!("{s}|1|2"),
            format!("{s}|4294967296"),
            "|00000000001".to_owned(),
            format!("{s}|12x"),
            format!("{s}1"),
        ] {
            assert_eq!(
                parse_request(bad.as_bytes(), &only(&secret)),
                Err(Rejection::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(
            parse_request(&[0xff, b'|', b'1'], &only(&secret)),
            Err(Rejection::WrongSecret)
        );
    }

    #[test]
    fn refuses_a_request_that_is_too_long() {
        let secret = secret();
        let long = request(&secret, "00000000001");
        assert_eq!(
            parse_request(&long, &only(&secret)),
            Err(Rejection::TooLong)
        );
    }

    #[test]
    fn parsing_never_panics() {
        use proptest::prelude::*;
        let secret = secret();
        proptest!(|(bytes in proptest::collection::vec(any::<u8>(), 0..100))| {
            let _ = parse_request(&bytes, &only(&secret));
        });
    }

    #[test]
    fn reply_is_the_records_back_to_back() {
        let mut first = [0u8; PROTOCOL_INFO_LEN];
        first[0] = 1;
        let mut second = [0u8; PROTOCOL_INFO_LEN];
        second[PROTOCOL_INFO_LEN - 1] = 2;
        let reply = frame_reply(&[first, second]);
        assert_eq!(reply.len(), 2 * PROTOCOL_INFO_LEN);
        // As listenfd reads it: the length divided by the record size.
        let records: Vec<&[u8]> = reply.chunks_exact(PROTOCOL_INFO_LEN).collect();
        assert_eq!(records, [&first[..], &second[..]]);
        assert!(frame_reply(&[]).is_empty());
    }

    /// A server whose "duplication" makes records that name the pid and the
    /// socket's position, and whose events arrive on a channel.
    struct TestServer {
        server: Server,
        /// The secret issued at start.
        secret: Secret,
        events: Mutex<mpsc::Receiver<Event>>,
    }

    fn record(pid: u32, index: u8) -> ProtocolInfo {
        let mut record = [index; PROTOCOL_INFO_LEN];
        record[..4].copy_from_slice(&pid.to_le_bytes());
        record
    }

    fn start(limits: Limits) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let server = Server::start(
            listener,
            limits,
            Box::new(|pid| {
                if pid == 13 {
                    return Err(io::Error::other("no such process"));
                }
                Ok(vec![record(pid, 0), record(pid, 1)])
            }),
            Box::new(move |event| {
                let _ = tx.lock().unwrap().send(event);
            }),
        )
        .unwrap();
        let (_, secret) = server.issue().unwrap();
        TestServer {
            server,
            secret,
            events: Mutex::new(rx),
        }
    }

    impl TestServer {
        fn connect(&self) -> TcpStream {
            let stream = TcpStream::connect(self.server.addr()).unwrap();
            stream.set_read_timeout(Some(WAIT)).unwrap();
            stream
        }

        /// Sends `bytes` as listenfd does and returns the whole reply.
        fn ask(&self, bytes: &[u8]) -> io::Result<Vec<u8>> {
            let mut stream = self.connect();
            stream.write_all(bytes)?;
            stream.shutdown(Shutdown::Write)?;
            let mut reply = Vec::new();
            stream.read_to_end(&mut reply)?;
            Ok(reply)
        }

        fn honest(&self, pid: u32) -> Vec<u8> {
            self.ask(&request(&self.secret, &pid.to_string())).unwrap()
        }

        fn next_event(&self) -> Event {
            self.events
                .lock()
                .unwrap()
                .recv_timeout(WAIT)
                .expect("an event from the server")
        }

        /// Waits for the rejection of one request and returns its reason.
        fn rejection(&self) -> Rejection {
            match self.next_event() {
                Event::Rejected { reason, .. } => reason,
                other => panic!("expected a rejection, got {other}"),
            }
        }
    }

    #[test]
    fn serves_an_honest_client_its_records_in_order() {
        let server = start(Limits::default());
        let reply = server.honest(4242);
        assert_eq!(reply, frame_reply(&[record(4242, 0), record(4242, 1)]));
        assert!(matches!(
            server.next_event(),
            Event::Served {
                pid: 4242,
                count: 2,
                ..
            }
        ));
        // And again: a restarted command asks again.
        assert_eq!(server.honest(7).len(), 2 * PROTOCOL_INFO_LEN);
    }

    #[test]
    fn variables_name_the_server_and_the_secret() {
        let server = start(Limits::default());
        let [(server_var, addr), (secret_var, secret)] = server.server.variables(&server.secret);
        assert_eq!(server_var, "SYSTEMFD_SOCKET_SERVER");
        assert_eq!(addr.parse::<SocketAddr>().unwrap(), server.server.addr());
        assert!(server.server.addr().ip().is_loopback());
        assert_eq!(secret_var, "SYSTEMFD_SOCKET_SECRET");
        assert_eq!(secret, server.secret.as_str());
    }

    #[test]
    fn each_command_has_its_secret_until_it_is_revoked() {
        let server = start(Limits::default());
        let (second, secret) = server.server.issue().unwrap();
        let reply = server.ask(&request(&secret, "8")).unwrap();
        assert_eq!(reply.len(), 2 * PROTOCOL_INFO_LEN);
        match server.next_event() {
            Event::Served { key, pid: 8, .. } => assert_eq!(key, second),
            other => panic!("expected the sockets sent, got {other}"),
        }
        server.server.revoke(second);
        assert_eq!(server.ask(&request(&secret, "8")).unwrap(), b"");
        assert_eq!(server.rejection(), Rejection::WrongSecret);
        // The first command's secret is still in force.
        assert_eq!(server.honest(9).len(), 2 * PROTOCOL_INFO_LEN);
    }

    #[test]
    fn wrong_secret_garbage_and_oversized_requests_get_no_data() {
        let server = start(Limits::default());
        let wrong = Secret::from_random_bytes([1; 16]);
        assert_eq!(server.ask(&request(&wrong, "1")).unwrap(), b"");
        assert_eq!(server.rejection(), Rejection::WrongSecret);

        assert_eq!(server.ask(b"GET / HTTP/1.0\r\n\r\n").unwrap(), b"");
        assert_eq!(server.rejection(), Rejection::Malformed);

        // A client that keeps sending may see the connection reset rather
        // than closed, but never data.
        let mut stream = server.connect();
        let _ = stream.write_all(&[b'x'; 1 << 20]);
        let mut reply = Vec::new();
        let _ = stream.read_to_end(&mut reply);
        assert!(reply.is_empty());
        assert_eq!(server.rejection(), Rejection::TooLong);

        assert!(!server.honest(1).is_empty());
    }

    #[test]
    fn a_failed_duplication_sends_nothing() {
        let server = start(Limits::default());
        assert_eq!(server.honest(13), b"");
        match server.next_event() {
            Event::Failed { pid: 13, error, .. } => {
                assert!(error.to_string().contains("no such process"))
            }
            other => panic!("expected a failure, got {other}"),
        }
    }

    #[test]
    fn stalled_clients_do_not_hold_up_an_honest_one() {
        let server = start(Limits {
            timeout: Duration::from_secs(60),
            ..Limits::default()
        });
        // Connected and silent; half a request; a full request, never ended.
        let silent = server.connect();
        let mut half = server.connect();
        half.write_all(&server.secret.as_str().as_bytes()[..10])
            .unwrap();
        let mut unfinished = server.connect();
        unfinished
            .write_all(&request(&server.secret, "99"))
            .unwrap();

        let reply = server.honest(5);
        assert_eq!(reply, frame_reply(&[record(5, 0), record(5, 1)]));
        drop((silent, half, unfinished));
    }

    #[test]
    fn a_client_that_does_not_finish_in_time_is_dropped() {
        let server = start(Limits {
            timeout: Duration::from_millis(200),
            ..Limits::default()
        });
        let started = Instant::now();
        let mut stalled = server.connect();
        stalled.write_all(b"abc").unwrap();
        assert_eq!(
            server.rejection(),
            Rejection::TimedOut(Duration::from_millis(200))
        );
        assert!(started.elapsed() >= Duration::from_millis(200));
        let mut reply = Vec::new();
        let _ = stalled.read_to_end(&mut reply);
        assert!(reply.is_empty());
    }

    #[test]
    fn a_slow_trickle_is_bounded_by_the_whole_deadline() {
        let server = start(Limits {
            timeout: Duration::from_millis(300),
            ..Limits::default()
        });
        let mut stalled = server.connect();
        let started = Instant::now();
        // One byte every 100 ms: each read is quick, the request never ends.
        let trickle = thread::spawn(move || {
            for _ in 0..20 {
                if stalled.write_all(b"a").is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(100));
            }
        });
        assert!(matches!(server.rejection(), Rejection::TimedOut(_)));
        assert!(started.elapsed() < Duration::from_millis(1500));
        trickle.join().unwrap();
    }

    #[test]
    fn connections_beyond_the_limit_are_closed_at_once() {
        let server = start(Limits {
            timeout: Duration::from_secs(60),
            max_connections: 2,
        });
        let held = [server.connect(), server.connect()];
        let mut refused = server.connect();
        assert_eq!(server.rejection(), Rejection::Busy(2));
        let mut reply = Vec::new();
        let _ = refused.read_to_end(&mut reply);
        assert!(reply.is_empty());
        drop(held);
        // The held connections end with an empty request; then their slots
        // are free and the server serves again.
        assert_eq!(server.rejection(), Rejection::Malformed);
        assert_eq!(server.rejection(), Rejection::Malformed);
        assert!(!server.honest(3).is_empty());
    }
}
