//! A tiny HTTP server that takes its socket from systemfd through `listenfd`:
//!
//! ```text
//! $ cargo run -- -s http::5000 -- cargo run --example hello
//! ```
//!
//! Run on its own, it binds 127.0.0.1:5000 itself. Once it serves, it sends
//! `READY=1` to `NOTIFY_SOCKET` when that is set, so that systemfd's
//! supervise mode (`-w`) hands over to it without a gap.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};

fn main() -> std::io::Result<()> {
    let listener = match listenfd::ListenFd::from_env().take_tcp_listener(0)? {
        Some(listener) => listener,
        None => TcpListener::bind("127.0.0.1:5000")?,
    };
    eprintln!("hello: serving http://{}/", listener.local_addr()?);
    #[cfg(unix)]
    if let Err(err) = notify_ready() {
        eprintln!("hello: cannot report readiness: {err}");
    }
    for stream in listener.incoming() {
        if let Err(err) = stream.and_then(respond) {
            eprintln!("hello: {err}");
        }
    }
    Ok(())
}

/// sd_notify: one `READY=1` datagram to the socket NOTIFY_SOCKET names
/// (`@name`: Linux's abstract namespace).
#[cfg(unix)]
fn notify_ready() -> std::io::Result<()> {
    use std::os::unix::net::UnixDatagram;
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(());
    };
    let socket = UnixDatagram::unbound()?;
    #[cfg(target_os = "linux")]
    if let Some(name) = target.to_str().and_then(|t| t.strip_prefix('@')) {
        use std::os::linux::net::SocketAddrExt as _;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        return socket.send_to_addr(b"READY=1", &addr).map(drop);
    }
    socket.send_to(b"READY=1", target).map(drop)
}

fn respond(mut stream: TcpStream) -> std::io::Result<()> {
    // Read the request head; the answer does not depend on it.
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let body = format!("Hello from pid {}!\n", std::process::id());
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}
