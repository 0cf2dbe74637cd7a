//! A test server with a slow start, for the restart benchmark
//! (`benches/restart.rs`) and for trying supervise mode by hand:
//!
//! ```text
//! $ systemfd -s http::5000 -w examples -- cargo run --example slow_server
//! $ cargo run --example slow_server -- --bind 5000     # without systemfd
//! ```
//!
//! It spends 200 ms "starting" (`--start-ms N`), then serves HTTP on the
//! socket systemfd passed (fd 3, through `listenfd`), or on 127.0.0.1:PORT
//! that it binds itself with `--bind PORT`. Once it serves, it sends
//! `READY=1` to `NOTIFY_SOCKET` if that is set. On SIGTERM it finishes the
//! request in hand and exits: a connection it has accepted is never dropped,
//! and one it has not accepted stays queued on the shared socket for the
//! next server.

#[cfg(unix)]
pub fn main() {
    if let Err(err) = unix::serve(std::env::args().skip(1).collect()) {
        eprintln!("slow_server: {err}");
        std::process::exit(1);
    }
}

#[cfg(not(unix))]
pub fn main() {
    eprintln!("slow_server: Unix only");
    std::process::exit(1);
}

#[cfg(unix)]
mod unix {
    use std::io::{self, BufRead as _, BufReader, Write as _};
    use std::net::{TcpListener, TcpStream};
    use std::os::unix::net::{UnixDatagram, UnixStream};
    use std::time::Duration;

    use rustix::event::{poll, PollFd, PollFlags};

    pub fn serve(args: Vec<String>) -> io::Result<()> {
        let value = |flag: &str| {
            args.iter()
                .position(|a| a == flag)
                .and_then(|i| args.get(i + 1))
                .map(|v| {
                    v.parse::<u64>()
                        .map_err(|e| io::Error::other(format!("{flag}: {e}")))
                })
                .transpose()
        };
        let start = Duration::from_millis(value("--start-ms")?.unwrap_or(200));
        let bind = value("--bind")?;

        // The stop signal only writes to this pipe; set up first so that a
        // stop during start-up is not lost.
        let (stop, stop_writer) = UnixStream::pair()?;
        signal_hook::low_level::pipe::register(signal_hook::consts::SIGTERM, stop_writer)?;

        std::thread::sleep(start); // the work a real server does before serving
        let listener = match bind {
            Some(port) => TcpListener::bind(("127.0.0.1", port as u16))?,
            None => listenfd::ListenFd::from_env()
                .take_tcp_listener(0)?
                .ok_or_else(|| io::Error::other("no socket from systemfd (and no --bind)"))?,
        };
        if let Some(path) = std::env::var_os("NOTIFY_SOCKET") {
            UnixDatagram::unbound()?.send_to(b"READY=1", path)?;
        }

        loop {
            let mut fds = [
                PollFd::new(&listener, PollFlags::IN),
                PollFd::new(&stop, PollFlags::IN),
            ];
            match poll(&mut fds, None) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(err) => return Err(err.into()),
            }
            if !fds[1].revents().is_empty() {
                return Ok(());
            }
            if !fds[0].revents().is_empty() {
                // Another server sharing the socket may take the connection
                // first; then this accept waits for the next one, and a stop
                // meanwhile ends a process that holds no connection.
                let (stream, _) = listener.accept()?;
                let _ = respond(stream);
            }
        }
    }

    fn respond(mut stream: TcpStream) -> io::Result<()> {
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut reader = BufReader::new(&stream);
        let mut line = String::new();
        while reader.read_line(&mut line)? > 2 {
            line.clear();
        }
        let body = format!("ok from pid {}\n", std::process::id());
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }
}
