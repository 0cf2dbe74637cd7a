//! The page server over real sockets: a listening socket on 127.0.0.1, raw
//! clients with deadlines.

use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant, UNIX_EPOCH};

use socket2::{Domain, Socket, Type};

use super::{ErrorPage, Limits, Outage, Site};
use crate::sys::{self, Interest, PollEntry};

/// How long a test waits for anything that should happen.
const WAIT: Duration = Duration::from_secs(20);
/// How long a test waits to see that something does not happen.
const QUIET: Duration = Duration::from_millis(300);

struct Fixture {
    page: ErrorPage,
    /// The original listening socket; the page has a clone.
    listener: Socket,
    addr: SocketAddr,
}

fn start(limits: Limits) -> Fixture {
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    listener.bind(&any.into()).unwrap();
    listener.listen(1024).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let site = Site {
        socket: listener.try_clone().unwrap(),
        local: addr,
        host: Some("myhost.local".to_owned()),
    };
    let page = ErrorPage::start(vec![site], limits).unwrap();
    Fixture {
        page,
        listener,
        addr,
    }
}

fn answering(limits: Limits) -> Fixture {
    let fixture = start(limits);
    fixture
        .page
        .answer(outage("pid 4242 exited with status 42"));
    fixture
}

impl Fixture {
    /// The listening socket's own flags are as they were: blocking.
    fn assert_listener_untouched(&self) {
        #[cfg(unix)]
        assert!(!self.listener.nonblocking().unwrap());
    }

    /// Waits for a connection in the backlog and accepts it itself.
    fn accept_here(&self) -> SocketAddr {
        let deadline = Instant::now() + WAIT;
        loop {
            let mut entries = [PollEntry::new(&self.listener, Interest::Read)];
            sys::poll(&mut entries, Some(Duration::from_millis(100))).unwrap();
            if entries[0].ready() {
                break;
            }
            assert!(Instant::now() < deadline, "no connection waiting");
        }
        let (_, peer) = self.listener.accept().unwrap();
        peer.as_socket().unwrap()
    }
}

fn outage(cause: &str) -> Outage {
    Outage {
        cause: cause.to_owned(),
        at: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        change: Some("src/main.rs (and 2 more)".to_owned()),
        command: "cargo run".to_owned(),
        output: Some(b"\x1b[1m\x1b[31merror\x1b[0m: <script>alert(1)</script>\n".to_vec()),
        script: None,
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, WAIT).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.set_write_timeout(Some(WAIT)).unwrap();
    stream
}

/// Reads to the end; a reset ends it too (what came before is kept).
fn read_all(stream: &mut TcpStream) -> String {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) if err.kind() == io::ErrorKind::ConnectionReset => break,
            Err(err) => panic!("reading the answer: {err} after {bytes:?}"),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn send(addr: SocketAddr, request: &str) -> TcpStream {
    let mut stream = connect(addr);
    stream.write_all(request.as_bytes()).unwrap();
    stream
}

fn exchange(addr: SocketAddr, request: &str) -> Answer {
    Answer::parse(&read_all(&mut send(addr, request)))
}

fn get(addr: SocketAddr, target: &str, host: &str, accept: &str) -> Answer {
    exchange(
        addr,
        &format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nAccept: {accept}\r\n\r\n"),
    )
}

fn wait_request(epoch: u64) -> String {
    format!("GET /.systemfd/wait?page={epoch} HTTP/1.1\r\nHost: localhost\r\n\r\n")
}

#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn parse(text: &str) -> Answer {
        let (head, body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no complete answer: {text:?}"));
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap();
        assert!(status.starts_with("HTTP/1.1 "), "{status}");
        Answer {
            status: status[9..12].parse().unwrap(),
            headers: lines
                .map(|line| {
                    let (name, value) = line.split_once(": ").unwrap();
                    (name.to_ascii_lowercase(), value.to_owned())
                })
                .collect(),
            body: body.to_owned(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        let mut values = self.headers.iter().filter(|(n, _)| *n == name);
        let value = values.next().map(|(_, v)| v.as_str());
        assert!(values.next().is_none(), "two {name} headers");
        value
    }

    /// The outage number the page's script waits on.
    fn epoch(&self) -> u64 {
        let (_, rest) = self.body.split_once("?page=").expect("no wait in the page");
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().unwrap()
    }

    /// The headers every answer carries.
    fn assert_closes_uncached(&self) {
        assert_eq!(self.header("connection"), Some("close"), "{self:?}");
        assert_eq!(self.header("cache-control"), Some("no-store"), "{self:?}");
    }
}

/// Nothing comes on `stream` for a while (it is neither answered nor closed).
fn assert_quiet(stream: &mut TcpStream) {
    stream.set_read_timeout(Some(QUIET)).unwrap();
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Err(err)
            if matches!(
                err.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) => {}
        other => panic!("expected nothing, got {other:?}"),
    }
    stream.set_read_timeout(Some(WAIT)).unwrap();
}

#[test]
fn idle_it_accepts_nothing() {
    let fixture = start(Limits::default());
    let mut client = send(fixture.addr, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_quiet(&mut client);
    assert!(fixture.page.stop());
    assert_eq!(fixture.accept_here(), client.local_addr().unwrap());
    fixture.assert_listener_untouched();
}

#[test]
fn answers_503_as_html_or_plain_text() {
    let fixture = answering(Limits::default());
    let html = get(fixture.addr, "/", "localhost:1", "text/html,*/*;q=0.8");
    assert_eq!(html.status, 503);
    html.assert_closes_uncached();
    assert_eq!(html.header("retry-after"), Some("1"));
    assert_eq!(
        html.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        html.header("content-length"),
        Some(&*html.body.len().to_string())
    );
    assert!(html.body.starts_with("<!DOCTYPE html>"));

    let plain = get(fixture.addr, "/x?y", "127.0.0.1", "*/*");
    assert_eq!(plain.status, 503);
    plain.assert_closes_uncached();
    assert_eq!(plain.header("retry-after"), Some("1"));
    assert_eq!(
        plain.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert!(plain
        .body
        .starts_with("Service Unavailable: the server is not running\n"));
    fixture.assert_listener_untouched();
}

#[test]
fn head_gets_the_head_alone() {
    let fixture = answering(Limits::default());
    let head = exchange(
        fixture.addr,
        "HEAD / HTTP/1.1\r\nHost: localhost\r\nAccept: text/html\r\n\r\n",
    );
    assert_eq!(head.status, 503);
    assert_eq!(head.body, "");
    let length: usize = head.header("content-length").unwrap().parse().unwrap();
    let get = get(fixture.addr, "/", "localhost", "text/html");
    assert_eq!(length, get.body.len());
}

#[test]
fn trusted_clients_see_the_details_escaped() {
    let fixture = answering(Limits::default());
    let html = get(fixture.addr, "/", "localhost", "text/html");
    assert!(html.body.contains("pid 4242 exited with status 42"));
    assert!(html
        .body
        .contains("<span class=\"f1 b\">error</span>: &lt;script&gt;alert(1)"));
    assert!(!html.body.contains("<script>alert"));
    let plain = get(fixture.addr, "/", "myhost.local:8000", "*/*");
    assert!(plain.body.contains("pid 4242 exited with status 42"));
    assert!(plain.body.contains("error: <script>alert(1)</script>"));
}

#[test]
fn untrusted_hosts_get_the_bare_page() {
    let fixture = answering(Limits::default());
    for accept in ["text/html", "*/*"] {
        let answer = get(fixture.addr, "/", "evil.example:8000", accept);
        assert_eq!(answer.status, 503);
        assert!(answer
            .body
            .to_lowercase()
            .contains("the server is not running"));
        assert!(!answer.body.contains("4242"), "{answer:?}");
        assert!(!answer.body.contains("<script"), "{answer:?}");
        assert!(!answer.body.contains("cargo"), "{answer:?}");
    }
    // Nor does the wait protocol answer it.
    let wait = get(
        fixture.addr,
        "/.systemfd/wait?page=1",
        "evil.example",
        "*/*",
    );
    assert_eq!(wait.status, 503);
    assert_eq!(wait.header("x-systemfd"), None);
}

#[test]
fn stop_answers_a_held_wait_reload_and_accepts_no_more() {
    let fixture = answering(Limits::default());
    let epoch = get(fixture.addr, "/", "localhost", "text/html").epoch();
    let mut held = send(fixture.addr, &wait_request(epoch));
    assert_quiet(&mut held);
    assert!(fixture.page.stop());
    let answer = Answer::parse(&read_all(&mut held));
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-systemfd"), Some("reload"));
    answer.assert_closes_uncached();

    // The next connection waits in the backlog, for the next server.
    let mut next = send(fixture.addr, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_quiet(&mut next);
    assert_eq!(fixture.accept_here(), next.local_addr().unwrap());
    assert!(fixture.page.stop(), "a second stop is confirmed too");
    fixture.assert_listener_untouched();
}

#[test]
fn answering_again_after_a_stop() {
    let fixture = answering(Limits::default());
    let first = get(fixture.addr, "/", "localhost", "text/html").epoch();
    assert!(fixture.page.stop());
    fixture
        .page
        .answer(outage("the build failed: it exited with status 101"));
    let page = get(fixture.addr, "/", "localhost", "text/html");
    assert!(page.epoch() > first);
    assert!(page.body.contains("the build failed"));
}

#[test]
fn a_new_outage_reloads_held_pages() {
    let fixture = answering(Limits::default());
    let epoch = get(fixture.addr, "/", "localhost", "text/html").epoch();
    let mut held = send(fixture.addr, &wait_request(epoch));
    assert_quiet(&mut held);
    fixture.page.answer(outage("pid 4243 exited with status 1"));
    let answer = Answer::parse(&read_all(&mut held));
    assert_eq!(answer.header("x-systemfd"), Some("reload"));
    let page = get(fixture.addr, "/", "localhost", "text/html");
    assert!(page.body.contains("pid 4243"));
    assert_ne!(page.epoch(), epoch);
}

#[test]
fn a_stale_page_reloads_at_once() {
    let fixture = answering(Limits::default());
    let epoch = get(fixture.addr, "/", "localhost", "text/html").epoch();
    let began = Instant::now();
    let answer = exchange(fixture.addr, &wait_request(epoch - 1));
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-systemfd"), Some("reload"));
    answer.assert_closes_uncached();
    assert!(began.elapsed() < Limits::default().hold / 2);
}

#[test]
fn a_held_wait_times_out_as_wait() {
    let limits = Limits {
        hold: Duration::from_millis(200),
        ..Limits::default()
    };
    let fixture = answering(limits);
    let epoch = get(fixture.addr, "/", "localhost", "text/html").epoch();
    let began = Instant::now();
    let answer = exchange(fixture.addr, &wait_request(epoch));
    assert!(began.elapsed() >= limits.hold);
    assert_eq!(answer.status, 204);
    assert_eq!(answer.header("x-systemfd"), Some("wait"));
    assert_eq!(answer.body, "");
    answer.assert_closes_uncached();
}

/// Sends `count` wait requests at once; expects all but `held` answered
/// `busy`, then the held ones `reload` at the stop.
fn cap(limits: Limits, count: usize, held: usize) {
    let fixture = answering(limits);
    let epoch = get(fixture.addr, "/", "localhost", "text/html").epoch();
    let mut clients: Vec<TcpStream> = (0..count)
        .map(|_| send(fixture.addr, &wait_request(epoch)))
        .collect();
    // Once `count - held` are answered busy, the others are held (the cap
    // was reached), whatever the order the heads were read in.
    let mut busy = Vec::new();
    let deadline = Instant::now() + WAIT;
    while busy.len() < count - held {
        assert!(Instant::now() < deadline, "only {} busy", busy.len());
        for (index, client) in clients.iter_mut().enumerate() {
            if busy.contains(&index) {
                continue;
            }
            client
                .set_read_timeout(Some(Duration::from_millis(20)))
                .unwrap();
            let mut byte = [0u8; 1];
            if client.peek(&mut byte).is_ok() {
                client.set_read_timeout(Some(WAIT)).unwrap();
                let answer = Answer::parse(&read_all(client));
                assert_eq!(answer.status, 429, "{answer:?}");
                assert_eq!(answer.header("x-systemfd"), Some("busy"));
                assert_eq!(answer.header("retry-after"), Some("5"));
                answer.assert_closes_uncached();
                busy.push(index);
            }
        }
    }
    assert!(fixture.page.stop());
    for (index, client) in clients.iter_mut().enumerate() {
        if !busy.contains(&index) {
            client.set_read_timeout(Some(WAIT)).unwrap();
            let answer = Answer::parse(&read_all(client));
            assert_eq!(answer.header("x-systemfd"), Some("reload"));
        }
    }
}

#[test]
fn held_waits_are_capped_per_client() {
    let limits = Limits {
        max_held_per_client: 2,
        ..Limits::default()
    };
    cap(limits, 5, 2);
}

#[test]
fn held_waits_are_capped_in_all() {
    let limits = Limits {
        max_held: 3,
        max_held_per_client: 10,
        ..Limits::default()
    };
    cap(limits, 5, 3);
}

#[test]
fn a_slow_client_is_closed() {
    let limits = Limits {
        head_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let fixture = answering(limits);
    let began = Instant::now();
    let mut slow = send(fixture.addr, "GET / HTTP/1.1\r\nHost: loc");
    assert_eq!(read_all(&mut slow), "");
    assert!(began.elapsed() >= limits.head_timeout);
    assert_eq!(get(fixture.addr, "/", "localhost", "*/*").status, 503);
}

#[test]
fn a_huge_head_is_refused_and_the_server_goes_on() {
    let fixture = answering(Limits::default());
    let mut client = connect(fixture.addr);
    let mut writer = client.try_clone().unwrap();
    let sending = thread::spawn(move || {
        let mut head = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: ".to_vec();
        head.resize(head.len() + 1024 * 1024, b'a');
        // The server stops reading; the write may fail.
        let _ = writer.write_all(&head);
    });
    let answer = read_all(&mut client);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431 "),
        "{answer:?}"
    );
    drop(client);
    sending.join().unwrap();
    let bad = exchange(fixture.addr, "\x16\x03\x01\x02\x00 not http\r\n\r\n");
    assert_eq!(bad.status, 400);
    bad.assert_closes_uncached();
    assert_eq!(get(fixture.addr, "/", "localhost", "*/*").status, 503);
    fixture.assert_listener_untouched();
}

#[test]
fn many_connections_are_all_answered_or_closed() {
    let fixture = answering(Limits::default());
    let mut clients: Vec<TcpStream> = (0..500).map(|_| connect(fixture.addr)).collect();
    for client in &mut clients {
        // An evicted connection may be reset already.
        let _ = client.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    }
    let mut answered = 0;
    for client in &mut clients {
        let answer = read_all(client);
        if !answer.is_empty() {
            assert!(answer.starts_with("HTTP/1.1 503 "), "{answer:?}");
            answered += 1;
        }
    }
    assert!(
        answered >= Limits::default().max_connections / 2,
        "{answered}"
    );
    drop(clients);
    assert_eq!(get(fixture.addr, "/", "localhost", "*/*").status, 503);
    fixture.assert_listener_untouched();
}

#[test]
fn a_drop_ends_the_thread_soon() {
    let fixture = answering(Limits::default());
    let mut held = send(fixture.addr, "GET / HTTP/1.1\r\n");
    assert_quiet(&mut held);
    let began = Instant::now();
    drop(fixture.page);
    assert!(began.elapsed() < Duration::from_secs(2));
    // Its connections are closed.
    assert_eq!(read_all(&mut held), "");
}

#[test]
fn a_full_server_evicts_the_oldest_idle_connection() {
    let limits = Limits {
        max_connections: 4,
        ..Limits::default()
    };
    let fixture = answering(limits);
    let mut idle: Vec<TcpStream> = (0..4).map(|_| connect(fixture.addr)).collect();
    // The backlog is first in, first out: the idle four are accepted first.
    let answer = get(fixture.addr, "/", "localhost", "*/*");
    assert_eq!(answer.status, 503);
    assert_eq!(read_all(&mut idle[0]), "", "the oldest is closed");
    assert_quiet(&mut idle[1]);
}

#[test]
fn a_full_server_closes_a_new_connection_when_none_can_go() {
    let limits = Limits {
        max_connections: 2,
        ..Limits::default()
    };
    let fixture = answering(limits);
    let epoch = get(fixture.addr, "/", "localhost", "text/html").epoch();
    let mut held: Vec<TcpStream> = (0..2)
        .map(|_| send(fixture.addr, &wait_request(epoch)))
        .collect();
    for client in &mut held {
        assert_quiet(client);
    }
    let mut refused = send(fixture.addr, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(read_all(&mut refused), "");
    assert!(fixture.page.stop());
    for client in &mut held {
        let answer = Answer::parse(&read_all(client));
        assert_eq!(answer.header("x-systemfd"), Some("reload"));
    }
}

#[test]
fn a_held_wait_whose_client_leaves_frees_its_place() {
    let limits = Limits {
        max_held_per_client: 1,
        ..Limits::default()
    };
    let fixture = answering(limits);
    let epoch = get(fixture.addr, "/", "localhost", "text/html").epoch();
    let mut first = send(fixture.addr, &wait_request(epoch));
    assert_quiet(&mut first);
    drop(first);
    // Refused (busy) until the server has seen the close, then held.
    let deadline = Instant::now() + WAIT;
    let mut next = loop {
        assert!(Instant::now() < deadline, "the closed wait is still held");
        let mut next = send(fixture.addr, &wait_request(epoch));
        next.set_read_timeout(Some(QUIET)).unwrap();
        if next.peek(&mut [0u8; 1]).is_err() {
            break next;
        }
        next.set_read_timeout(Some(WAIT)).unwrap();
        let answer = Answer::parse(&read_all(&mut next));
        assert_eq!(answer.header("x-systemfd"), Some("busy"));
    };
    assert!(fixture.page.stop());
    next.set_read_timeout(Some(WAIT)).unwrap();
    let answer = Answer::parse(&read_all(&mut next));
    assert_eq!(answer.header("x-systemfd"), Some("reload"));
}

#[test]
fn a_request_that_comes_after_the_stop_is_sent_back_to_ask_again() {
    let fixture = answering(Limits::default());
    // Accepted while answering (a browser's preconnected connection)…
    let mut early = send(fixture.addr, "GET /x?y=1 HTTP/1.1\r\n");
    let deadline = Instant::now() + WAIT;
    while get(fixture.addr, "/", "localhost", "*/*").status != 503 {
        assert!(Instant::now() < deadline, "the page does not answer");
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(fixture.page.stop());
    // … whose request comes once a server may be back.
    early
        .write_all(b"Host: localhost\r\nAccept: text/html\r\n\r\n")
        .unwrap();
    let answer = Answer::parse(&read_all(&mut early));
    assert_eq!(answer.status, 307, "{answer:?}");
    assert_eq!(answer.header("location"), Some("/x?y=1"));
    answer.assert_closes_uncached();
}
