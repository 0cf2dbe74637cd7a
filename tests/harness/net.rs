//! Talking to the sockets systemfd opened, from the test: the probe's line
//! protocol, and plain HTTP/1.1 for the servers.

use std::io::{self, BufRead as _, BufReader, Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use super::DEADLINE;

/// A port that was free a moment ago (bound to port 0, then released).
pub fn free_port() -> u16 {
    free_port_on(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// A port of `ip` that was free a moment ago.
pub fn free_port_on(ip: IpAddr) -> u16 {
    TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .unwrap_or_else(|e| panic!("bind {ip} port 0: {e}"))
        .port()
}

/// The `127.0.0.1:PORT` in a line such as `~> socket 127.0.0.1:5000 (tcp
/// listener) -> fd #3`, `~> socket http://127.0.0.1:5000/ -> socket #0` or
/// the probe's `socket0=tcp 127.0.0.1:5000 …`.
pub fn addr_in(line: &str) -> SocketAddr {
    let start = line
        .find("127.0.0.1:")
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    let rest = &line[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))
        .unwrap_or(rest.len());
    rest[..end]
        .parse()
        .unwrap_or_else(|e| panic!("bad address in {line:?}: {e}"))
}

/// The probe's answer to `line` sent to its TCP socket at `addr`: `PID LINE`,
/// which must come whole (with its newline, left off here) within `limit`.
pub fn ask_probe(addr: SocketAddr, line: &str, limit: Duration) -> String {
    let mut stream = TcpStream::connect_timeout(&addr, limit)
        .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
    stream.set_read_timeout(Some(limit)).unwrap();
    writeln!(stream, "{line}").unwrap();
    let mut answer = String::new();
    BufReader::new(&stream)
        .read_line(&mut answer)
        .unwrap_or_else(|e| panic!("no answer from {addr}: {e}"));
    match answer.strip_suffix('\n') {
        Some(answer) => answer.to_owned(),
        None => panic!("an answer cut short from {addr}: {answer:?}"),
    }
}

/// Sends `request` to 127.0.0.1:`port` on a fresh connection and returns all
/// that the server sends back before it closes the connection.
pub fn exchange(port: u16, request: &[u8]) -> io::Result<String> {
    exchange_at(SocketAddr::from(([127, 0, 0, 1], port)), request)
}

/// [`exchange`] with the server at `addr`.
pub fn exchange_at(addr: SocketAddr, request: &[u8]) -> io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, DEADLINE)?;
    stream.set_read_timeout(Some(DEADLINE))?;
    stream.set_write_timeout(Some(DEADLINE))?;
    stream.write_all(request)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// `GET /` on 127.0.0.1:`port`: the status line and the body.
pub fn http_get(port: u16) -> io::Result<(String, String)> {
    http_get_at(SocketAddr::from(([127, 0, 0, 1], port)))
}

/// The body of the `200` answer to `GET /` on `addr`; otherwise stops
/// `run` (the server, or systemfd running it) and panics with its output.
pub fn body_of_ok(addr: SocketAddr, run: &mut super::Running) -> String {
    let problem = match http_get_at(addr) {
        Ok((status, body)) if status.starts_with("HTTP/1.") && status.contains(" 200 ") => {
            return body
        }
        Ok((status, body)) => format!("GET / on {addr} answered {status:?} with {body:?}"),
        Err(err) => format!("GET / on {addr}: {err}"),
    };
    run.signal(super::Signal::TERM);
    run.wait();
    panic!("{problem}\n{}", run.report());
}

/// `GET /` on `addr`, with `Host` naming it: the status line and the body.
pub fn http_get_at(addr: SocketAddr) -> io::Result<(String, String)> {
    let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let text = exchange_at(addr, request.as_bytes())?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| io::Error::other(format!("no end of the head in {text:?}")))?;
    let status = head.lines().next().unwrap_or_default().to_owned();
    Ok((status, body.to_owned()))
}

/// The pid in the greeting every test server answers with: `Hello from
/// …pid N!` and a newline.
pub fn hello_pid(body: &str) -> Option<u32> {
    body.rsplit_once("pid ")?
        .1
        .strip_suffix("!\n")?
        .parse()
        .ok()
}
