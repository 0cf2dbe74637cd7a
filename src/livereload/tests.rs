//! The LiveReload server over real sockets on 127.0.0.1: tungstenite's
//! client for the WebSocket, raw streams for HTTP, every wait bounded.

use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use tungstenite::client::IntoClientRequest as _;
use tungstenite::http::HeaderValue;
use tungstenite::{Message, WebSocket};

use super::message::{PROTOCOL_7, STATUS_1};
use super::{Limits, LiveReload, Status};

/// How long a test waits for anything that should happen.
const WAIT: Duration = Duration::from_secs(20);
/// How long a test waits to see that something does not happen.
const QUIET: Duration = Duration::from_millis(300);

const RELOAD: &str = r#"{"command":"reload","path":"/","liveCSS":false,"liveImg":false}"#;
const HELLO: &str = r#"{"command":"hello","protocols":["http://livereload.com/protocols/official-7"],"serverName":"systemfd"}"#;
const HELLO_STATUS: &str = r#"{"command":"hello","protocols":["http://livereload.com/protocols/official-7","systemfd-status-1"],"serverName":"systemfd"}"#;
const ALLOWED: &str = "http://localhost:5000";

fn start(limits: Limits) -> LiveReload {
    let origins = vec!["http://127.0.0.1:5000".to_owned(), ALLOWED.to_owned()];
    LiveReload::start(local(0), true, origins, limits).unwrap()
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, WAIT).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.set_write_timeout(Some(WAIT)).unwrap();
    stream
}

type Ws = WebSocket<TcpStream>;

/// A WebSocket client on `stream`, its upgrade sent with `origin`.
fn upgrade(stream: TcpStream, addr: SocketAddr, origin: Option<&str>) -> Ws {
    let mut request = format!("ws://{addr}/livereload")
        .into_client_request()
        .unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("Origin", HeaderValue::from_str(origin).unwrap());
    }
    let (ws, response) = tungstenite::client(request, stream).unwrap();
    assert_eq!(response.status(), 101);
    ws
}

fn ws(addr: SocketAddr, origin: Option<&str>) -> Ws {
    upgrade(connect(addr), addr, origin)
}

/// Sends a hello listing `protocols`, and returns the server's.
fn greet(ws: &mut Ws, protocols: &[&str]) -> String {
    let list: Vec<String> = protocols.iter().map(|p| format!("\"{p}\"")).collect();
    let hello = format!(
        r#"{{"command":"hello","protocols":[{}],"ver":"4.0.2"}}"#,
        list.join(",")
    );
    ws.send(Message::text(hello)).unwrap();
    next_text(ws)
}

/// A client that has greeted, listing systemfd's status protocol if
/// `status`.
fn greeted(addr: SocketAddr, origin: Option<&str>, status: bool) -> Ws {
    let mut client = ws(addr, origin);
    let answer = if status {
        greet(&mut client, &[PROTOCOL_7, STATUS_1])
    } else {
        greet(
            &mut client,
            &["http://livereload.com/protocols/official-6", PROTOCOL_7],
        )
    };
    assert_eq!(answer, if status { HELLO_STATUS } else { HELLO });
    client
}

/// The next text message (Pings are answered on the way); never `alert`.
fn next_text(ws: &mut Ws) -> String {
    loop {
        match ws.read().unwrap() {
            Message::Text(text) => {
                assert!(!text.contains("alert"), "{text}");
                return text.as_str().to_owned();
            }
            Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => {}
        }
    }
}

/// Nothing comes on `ws` for a while.
fn assert_quiet(ws: &mut Ws) {
    ws.get_ref().set_read_timeout(Some(QUIET)).unwrap();
    match ws.read() {
        Err(tungstenite::Error::Io(err))
            if matches!(
                err.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) => {}
        other => panic!("expected nothing, got {other:?}"),
    }
    ws.get_ref().set_read_timeout(Some(WAIT)).unwrap();
}

/// Reads the raw socket to its end (frames the server sent, then EOF); a
/// reset ends it too.
fn read_all(stream: &mut TcpStream) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) if err.kind() == io::ErrorKind::ConnectionReset => break,
            Err(err) => panic!("reading to the end: {err} after {bytes:?}"),
        }
    }
    bytes
}

/// Sends `request` on a new connection and reads the answer to its end.
fn exchange(addr: SocketAddr, request: &str) -> String {
    let mut stream = connect(addr);
    stream.write_all(request.as_bytes()).unwrap();
    String::from_utf8_lossy(&read_all(&mut stream)).into_owned()
}

/// The status line, the headers (names in lower case) and the body.
fn split(answer: &str) -> (&str, Vec<(String, &str)>, &str) {
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete answer: {answer:?}"));
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap();
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(": ").unwrap();
            (name.to_ascii_lowercase(), value)
        })
        .collect();
    (status, headers, body)
}

fn header<'a>(headers: &[(String, &'a str)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
}

#[test]
fn hello_is_answered_with_protocol_7() {
    let server = start(Limits::default());
    let addr = server.local_addr();
    // As livereload.js greets: official-7 among others.
    greeted(addr, None, false);
    // systemfd's own client: its protocol is listed back.
    greeted(addr, None, true);
}

#[test]
fn a_hello_without_protocol_7_is_closed() {
    let server = start(Limits::default());
    let mut client = ws(server.local_addr(), None);
    client
        .send(Message::text(
            r#"{"command":"hello","protocols":["http://livereload.com/protocols/official-6"]}"#,
        ))
        .unwrap();
    let mut raw = client.get_mut().try_clone().unwrap();
    assert!(read_all(&mut raw).is_empty());
}

#[test]
fn a_hello_sent_with_the_upgrade_is_read() {
    let server = start(Limits::default());
    let addr = server.local_addr();
    let mut request = format!(
        "GET /livereload HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    .into_bytes();
    let hello = format!(r#"{{"command":"hello","protocols":["{PROTOCOL_7}"]}}"#);
    // A masked text frame, its mask all zero: the payload as it is.
    request.extend_from_slice(&[0x81, 0x80 | u8::try_from(hello.len()).unwrap(), 0, 0, 0, 0]);
    request.extend_from_slice(hello.as_bytes());
    let mut stream = connect(addr);
    stream.write_all(&request).unwrap();
    let mut ws = WebSocket::from_raw_socket(stream, tungstenite::protocol::Role::Client, None);
    // The 101 comes first, as raw bytes; then the frames.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        ws.get_mut().read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101 "), "{head:?}");
    assert_eq!(next_text(&mut ws), HELLO);
    assert_eq!(server.reload(), 1);
    assert_eq!(next_text(&mut ws), RELOAD);
}

#[test]
fn reload_reaches_the_greeted_clients_only() {
    let server = start(Limits::default());
    let addr = server.local_addr();
    assert_eq!(server.reload(), 0);
    let mut first = greeted(addr, None, false);
    let mut second = greeted(addr, Some("http://elsewhere.example"), true);
    let mut silent = ws(addr, None);
    // Others ignored before the hello, and after it.
    silent
        .send(Message::text(r#"{"command":"info","plugins":{}}"#))
        .unwrap();
    first
        .send(Message::text(r#"{"command":"url","url":"http://x/"}"#))
        .unwrap();
    let _idle_http = connect(addr);
    assert_eq!(server.reload(), 2);
    assert_eq!(next_text(&mut first), RELOAD);
    assert_eq!(next_text(&mut second), RELOAD);
    assert_quiet(&mut silent);
    assert_eq!(server.reload(), 2);
    assert_eq!(next_text(&mut first), RELOAD);
    drop(first);
    // The closed client is gone once the server has seen the close.
    let deadline = Instant::now() + WAIT;
    while server.reload() != 1 {
        assert!(Instant::now() < deadline, "the closed client still counts");
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_client_that_never_reads_is_closed_and_holds_up_no_one() {
    let limits = Limits {
        max_backlog_bytes: 64 * 1024,
        ..Limits::default()
    };
    let server = start(limits);
    let addr = server.local_addr();
    // A small receive buffer, so that its socket fills soon.
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect_timeout(&addr.into(), WAIT).unwrap();
    let stream = TcpStream::from(socket);
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.set_write_timeout(Some(WAIT)).unwrap();
    let mut stuck = upgrade(stream, addr, None);
    assert_eq!(greet(&mut stuck, &[PROTOCOL_7, STATUS_1]), HELLO_STATUS);
    let mut reader = greeted(addr, None, true);

    let line = "x".repeat(79) + "\n";
    let deadline = Instant::now() + WAIT;
    for round in 0.. {
        assert!(Instant::now() < deadline, "not closed after {round} rounds");
        let output = format!("round {round}\n{}", line.repeat(150));
        server.status(Status::Failed {
            cause: format!("round {round}"),
            output,
        });
        let began = Instant::now();
        let reached = server.reload();
        assert!(began.elapsed() < Duration::from_secs(2));
        let status = next_text(&mut reader);
        assert!(status.contains(&format!("\"cause\":\"round {round}\"")));
        assert_eq!(next_text(&mut reader), RELOAD);
        if reached == 1 {
            break;
        }
        assert_eq!(reached, 2);
    }
    // Its socket is closed: what it holds, then the end.
    let mut raw = stuck.get_mut().try_clone().unwrap();
    read_all(&mut raw);
    assert_eq!(server.reload(), 1);
    assert_eq!(next_text(&mut reader), RELOAD);
}

#[test]
fn failed_details_go_only_to_allowed_origins() {
    let server = start(Limits::default());
    let addr = server.local_addr();
    let mut allowed = greeted(addr, Some(ALLOWED), true);
    let mut no_origin = greeted(addr, None, true);
    let mut foreign = greeted(addr, Some("http://evil.example"), true);
    let mut stock = greeted(addr, Some(ALLOWED), false);

    server.status(Status::Building);
    let building = r#"{"command":"systemfd-status","state":"building"}"#;
    for client in [&mut allowed, &mut no_origin, &mut foreign] {
        assert_eq!(next_text(client), building);
    }

    server.status(Status::Failed {
        cause: "the build failed: it exited with status 101".to_owned(),
        output: "\x1b[1;31merror\x1b[0m: \"<b>\"\n".to_owned(),
    });
    let full = r#"{"command":"systemfd-status","state":"failed","cause":"the build failed: it exited with status 101","output":"error: \"<b>\""}"#;
    let bare = r#"{"command":"systemfd-status","state":"failed"}"#;
    assert_eq!(next_text(&mut allowed), full);
    assert_eq!(next_text(&mut no_origin), full);
    assert_eq!(next_text(&mut foreign), bare);

    // A client that greets now is told at once.
    let mut late = greeted(addr, Some(ALLOWED), true);
    assert_eq!(next_text(&mut late), full);
    let mut late_foreign = greeted(addr, Some("http://evil.example"), true);
    assert_eq!(next_text(&mut late_foreign), bare);

    server.status(Status::Ok);
    let ok = r#"{"command":"systemfd-status","state":"ok"}"#;
    for client in [&mut allowed, &mut no_origin, &mut foreign, &mut late] {
        assert_eq!(next_text(client), ok);
    }
    // Once it is ok, a new client is told nothing; and the stock client
    // was never sent a status: the reload is the first it gets.
    let mut fresh = greeted(addr, None, true);
    assert_eq!(server.reload(), 7);
    assert_eq!(next_text(&mut fresh), RELOAD);
    assert_eq!(next_text(&mut stock), RELOAD);
}

#[test]
fn the_script_is_served_and_the_rest_is_not_found() {
    let server = start(Limits::default());
    let addr = server.local_addr();
    let answer = exchange(
        addr,
        "GET /livereload.js?snipver=1 HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    let (status, headers, body) = split(&answer);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(
        header(&headers, "content-type"),
        Some("application/javascript; charset=utf-8")
    );
    assert_eq!(header(&headers, "cache-control"), Some("no-store"));
    assert_eq!(header(&headers, "connection"), Some("close"));
    assert_eq!(
        header(&headers, "content-length"),
        Some(&*body.len().to_string())
    );
    assert!(body.contains("livereload"));
    assert!(body.contains("systemfd-status-1"));
    assert!(!body.contains("innerHTML"));

    let head = exchange(addr, "HEAD /livereload.js HTTP/1.1\r\n\r\n");
    let (status, _, body) = split(&head);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body, "");

    for (request, expected) in [
        (
            "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            "HTTP/1.1 404 Not Found",
        ),
        (
            "GET /livereload HTTP/1.1\r\n\r\n",
            "HTTP/1.1 426 Upgrade Required",
        ),
        (
            "GET /livereload HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            "HTTP/1.1 400 Bad Request",
        ),
        (
            "\x16\x03\x01\x02\x00 not http\r\n\r\n",
            "HTTP/1.1 400 Bad Request",
        ),
    ] {
        let answer = exchange(addr, request);
        let (status, headers, _) = split(&answer);
        assert_eq!(status, expected, "{request:?}");
        assert_eq!(header(&headers, "connection"), Some("close"));
        assert_eq!(header(&headers, "cache-control"), Some("no-store"));
    }
}

#[test]
fn a_huge_head_gets_431() {
    let server = start(Limits::default());
    let addr = server.local_addr();
    let mut head = "GET / HTTP/1.1\r\nX-Big: ".to_owned();
    head.push_str(&"a".repeat(16 * 1024));
    head.push_str("\r\n\r\n");
    let answer = exchange(addr, &head);
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer:?}");
    // And it goes on.
    greeted(addr, None, false);
}

#[test]
fn an_unfinished_handshake_is_closed_in_time() {
    let limits = Limits {
        handshake_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let server = start(limits);
    let addr = server.local_addr();
    let began = Instant::now();
    let mut silent = connect(addr);
    let mut partial = connect(addr);
    partial
        .write_all(b"GET /livereload HTTP/1.1\r\nHo")
        .unwrap();
    let no_hello = ws(addr, None);
    assert!(read_all(&mut silent).is_empty());
    assert!(read_all(&mut partial).is_empty());
    let mut raw = no_hello.get_ref().try_clone().unwrap();
    assert!(read_all(&mut raw).is_empty());
    let elapsed = began.elapsed();
    assert!(elapsed >= limits.handshake_timeout, "{elapsed:?}");
    assert!(elapsed < WAIT / 2, "{elapsed:?}");
}

#[test]
fn a_silent_client_is_pinged_then_closed() {
    let limits = Limits {
        ping_interval: Duration::from_millis(200),
        ..Limits::default()
    };
    let server = start(limits);
    let addr = server.local_addr();
    // Before its hello, which the server hears last.
    let began = Instant::now();
    let silent = greeted(addr, None, false);
    let mut lively = greeted(addr, None, false);
    // The silent one reads nothing, so answers nothing: it gets a Ping
    // (0x89, no payload), then the end.
    let mut raw = silent.get_ref().try_clone().unwrap();
    let closing = thread::spawn(move || (read_all(&mut raw), began.elapsed()));
    // The lively one answers its Pings (tungstenite does, while reading).
    lively
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut pings = 0;
    while began.elapsed() < 6 * limits.ping_interval {
        match lively.read() {
            Ok(Message::Ping(_)) => pings += 1,
            Ok(other) => panic!("{other:?}"),
            Err(tungstenite::Error::Io(err))
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(err) => panic!("the lively client was closed: {err}"),
        }
    }
    assert!(pings >= 2, "{pings}");
    let (bytes, elapsed) = closing.join().unwrap();
    assert!(bytes.starts_with(&[0x89, 0x00]), "{bytes:?}");
    assert!(elapsed >= 2 * limits.ping_interval, "{elapsed:?}");
    drop(silent);
    lively.get_ref().set_read_timeout(Some(WAIT)).unwrap();
    assert_eq!(server.reload(), 1);
    assert_eq!(next_text(&mut lively), RELOAD);
}

#[test]
fn garbage_frames_close_that_client_only() {
    let server = start(Limits::default());
    let addr = server.local_addr();
    let mut good = greeted(addr, None, false);
    let bad = ws(addr, None);
    let mut raw = bad.get_ref().try_clone().unwrap();
    // An unmasked frame with a reserved opcode and a huge length.
    raw.write_all(&[0x8b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
        .unwrap();
    read_all(&mut raw);
    assert_eq!(server.reload(), 1);
    assert_eq!(next_text(&mut good), RELOAD);
}

#[test]
fn a_full_server_evicts_a_connection_without_handshake() {
    let limits = Limits {
        max_connections: 2,
        ..Limits::default()
    };
    let server = start(limits);
    let addr = server.local_addr();
    let mut first = greeted(addr, None, false);
    let mut idle = connect(addr);
    // Accepted once the idle one is; the backlog is first in, first out.
    let answer = exchange(addr, "GET /livereload.js HTTP/1.1\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer:?}");
    assert!(read_all(&mut idle).is_empty(), "the idle one is evicted");
    // Two greeted clients fill it: a third connection is closed at once.
    let _second = greeted(addr, None, false);
    let mut refused = connect(addr);
    assert!(read_all(&mut refused).is_empty());
    assert_eq!(server.reload(), 2);
    assert_eq!(next_text(&mut first), RELOAD);
}

#[test]
fn a_drop_ends_the_thread_soon_and_closes_its_clients() {
    let server = start(Limits::default());
    let client = greeted(server.local_addr(), None, false);
    let began = Instant::now();
    drop(server);
    assert!(began.elapsed() < Duration::from_secs(2));
    let mut raw = client.get_ref().try_clone().unwrap();
    assert!(read_all(&mut raw).is_empty());
}

#[test]
fn an_explicit_address_taken_is_an_error_naming_it() {
    let taken = TcpListener::bind(local(0)).unwrap();
    let addr = taken.local_addr().unwrap();
    let err = LiveReload::start(addr, true, Vec::new(), Limits::default()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[test]
fn the_default_address_taken_falls_back_to_a_free_port() {
    let taken = TcpListener::bind(local(0)).unwrap();
    let addr = taken.local_addr().unwrap();
    let server = LiveReload::start(addr, false, Vec::new(), Limits::default()).unwrap();
    assert!(server.fell_back());
    assert_eq!(server.local_addr().ip(), addr.ip());
    assert_ne!(server.local_addr().port(), addr.port());
    greeted(server.local_addr(), None, false);

    let free = start(Limits::default());
    assert!(!free.fell_back());
}

#[test]
fn the_script_url_names_no_wildcard() {
    let server = start(Limits::default());
    let port = server.local_addr().port();
    assert_eq!(
        server.script_url(),
        format!("http://127.0.0.1:{port}/livereload.js")
    );
    let any = LiveReload::start(
        SocketAddr::from(([0, 0, 0, 0], 0)),
        true,
        Vec::new(),
        Limits::default(),
    )
    .unwrap();
    let port = any.local_addr().port();
    assert_eq!(
        any.script_url(),
        format!("http://127.0.0.1:{port}/livereload.js")
    );
    // IPv6, where the machine has it.
    if let Ok(any6) = LiveReload::start(
        "[::]:0".parse().unwrap(),
        true,
        Vec::new(),
        Limits::default(),
    ) {
        let port = any6.local_addr().port();
        assert_eq!(
            any6.script_url(),
            format!("http://[::1]:{port}/livereload.js")
        );
    }
}

/// Debian's python3-websocket (websocket-client), a client that is not
/// tungstenite, does the LiveReload handshake and gets a reload. Skipped,
/// saying so, where /usr/bin/python3 lacks the module (.ci/run does not
/// install it yet).
#[cfg(unix)]
#[test]
fn python_websocket_client_does_the_handshake() {
    use std::io::{BufRead as _, BufReader};
    use std::process::{Command, Stdio};

    let python = "/usr/bin/python3";
    let found = Command::new(python)
        .args(["-c", "import websocket"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!(
            "skipped: needs Python's websocket module for {python} \
             (Debian: apt-get install python3-websocket)"
        );
        return;
    }
    let server = start(Limits::default());
    let script = format!(
        "import json, websocket\n\
         ws = websocket.create_connection('ws://{}/livereload', timeout=20)\n\
         ws.send(json.dumps({{'command': 'hello', 'protocols': ['{PROTOCOL_7}']}}))\n\
         print(ws.recv(), flush=True)\n\
         print(ws.recv(), flush=True)\n\
         ws.close()\n",
        server.local_addr()
    );
    let mut child = Command::new(python)
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let hello = lines.next().unwrap().unwrap();
    assert_eq!(hello, HELLO);
    assert_eq!(server.reload(), 1);
    assert_eq!(lines.next().unwrap().unwrap(), RELOAD);
    assert!(child.wait().unwrap().success());
}
