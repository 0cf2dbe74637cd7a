//! A tiny HTTP server that takes its socket from systemfd through `listenfd`:
//!
//! ```text
//! $ cargo run -- -s http::5000 -- cargo run --example hello
//! ```
//!
//! Run on its own, it binds 127.0.0.1:5000 itself.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};

fn main() -> std::io::Result<()> {
    let listener = match listenfd::ListenFd::from_env().take_tcp_listener(0)? {
        Some(listener) => listener,
        None => TcpListener::bind("127.0.0.1:5000")?,
    };
    eprintln!("hello: serving http://{}/", listener.local_addr()?);
    for stream in listener.incoming() {
        if let Err(err) = stream.and_then(respond) {
            eprintln!("hello: {err}");
        }
    }
    Ok(())
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
