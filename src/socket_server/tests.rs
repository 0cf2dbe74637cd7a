use std::io::{self, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{mpsc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::{
    frame_reply, parse_request, Event, Key, Limits, ProtocolInfo, Rejection, Request, Secret,
    Server, MAX_REQUEST_LEN, PROTOCOL_INFO_LEN, SECRET_LEN,
};

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
