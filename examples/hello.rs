//! A tiny HTTP server that takes its socket from systemfd through `listenfd`:
//!
//! ```text
//! $ cargo run -- -s http::5000 -- cargo run --example hello
//! $ cargo run -- -s http::5000 -w examples -- cargo run --example hello
//! ```
//!
//! Run on its own (or with `--bind PORT`), it binds 127.0.0.1:5000 (or PORT)
//! itself. Once it serves, it sends `READY=1` to `NOTIFY_SOCKET` when that is
//! set, so that systemfd's supervise mode (`-w`) hands over to it without a
//! gap. On SIGTERM it finishes the request in hand and exits: a connection it
//! has accepted is never dropped, and one it has not accepted stays queued on
//! the shared socket for the next server. `--start-ms N` makes it wait N ms
//! before serving, like a server with real start-up work (the restart
//! benchmark, `benches/restart.rs`, uses 200). `--say-listening` prints
//! `hello: listening at NS (pid N)` on stderr right before it first waits for
//! a connection, NS the time since the Unix epoch in nanoseconds (the live
//! reload benchmark, `benches/livereload.rs`, times pages from it).

use std::io::{self, BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

pub fn main() {
    if let Err(err) = serve(std::env::args().skip(1).collect()) {
        eprintln!("hello: {err}");
        std::process::exit(1);
    }
}

/// Serves with the given arguments (`--start-ms N`, `--bind PORT`,
/// `--say-listening`) until SIGTERM.
pub fn serve(args: Vec<String>) -> io::Result<()> {
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .map(|v| {
                v.parse::<u16>()
                    .map_err(|e| io::Error::other(format!("{flag}: {e}")))
            })
            .transpose()
    };
    let start = Duration::from_millis(value("--start-ms")?.unwrap_or(0).into());
    let bind = value("--bind")?;
    let say_listening = args.iter().any(|a| a == "--say-listening");

    #[cfg(unix)]
    let stop = unix::Stop::on_sigterm()?;
    std::thread::sleep(start); // the work a real server does before serving
    let passed = match bind {
        Some(_) => None,
        None => listenfd::ListenFd::from_env().take_tcp_listener(0)?,
    };
    let listener = match passed {
        Some(listener) => listener,
        None => TcpListener::bind(("127.0.0.1", bind.unwrap_or(5000)))?,
    };
    eprintln!("hello: serving http://{}/", listener.local_addr()?);
    #[cfg(unix)]
    {
        if let Err(err) = unix::notify_ready() {
            eprintln!("hello: cannot report readiness: {err}");
        }
        if say_listening {
            say_listening_now();
        }
        while let Some(stream) = stop.accept(&listener)? {
            report(respond(stream));
        }
    }
    #[cfg(not(unix))]
    if say_listening {
        say_listening_now();
    }
    #[cfg(not(unix))]
    for stream in listener.incoming() {
        report(stream.and_then(respond));
    }
    Ok(())
}

/// `hello: listening at NS (pid N)`: the moment it starts waiting for
/// connections, in nanoseconds since the Unix epoch.
fn say_listening_now() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    eprintln!(
        "hello: listening at {} (pid {})",
        now.as_nanos(),
        std::process::id()
    );
}

fn report(result: io::Result<()>) {
    if let Err(err) = result {
        eprintln!("hello: {err}");
    }
}

fn respond(mut stream: TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
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

#[cfg(unix)]
mod unix {
    use std::io;
    use std::net::{TcpListener, TcpStream};
    use std::os::unix::net::{UnixDatagram, UnixStream};

    use rustix::event::{poll, PollFd, PollFlags};

    /// SIGTERM, turned into something to wait on beside the listener: the
    /// signal handler only writes to this pipe.
    pub struct Stop(UnixStream);

    impl Stop {
        pub fn on_sigterm() -> io::Result<Stop> {
            let (stop, writer) = UnixStream::pair()?;
            signal_hook::low_level::pipe::register(signal_hook::consts::SIGTERM, writer)?;
            Ok(Stop(stop))
        }

        /// The next connection, or `None` once SIGTERM has arrived.
        pub fn accept(&self, listener: &TcpListener) -> io::Result<Option<TcpStream>> {
            loop {
                let mut fds = [
                    PollFd::new(listener, PollFlags::IN),
                    PollFd::new(&self.0, PollFlags::IN),
                ];
                match poll(&mut fds, None) {
                    Ok(_) => {}
                    Err(rustix::io::Errno::INTR) => continue,
                    Err(err) => return Err(err.into()),
                }
                if !fds[1].revents().is_empty() {
                    return Ok(None);
                }
                if !fds[0].revents().is_empty() {
                    // Another server sharing the socket may take the
                    // connection first; then this waits for the next one.
                    return listener.accept().map(|(stream, _)| Some(stream));
                }
            }
        }
    }

    /// sd_notify: one `READY=1` datagram to the socket NOTIFY_SOCKET names
    /// (`@name`: Linux's abstract namespace).
    pub fn notify_ready() -> io::Result<()> {
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
}
