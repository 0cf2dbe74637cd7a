//! A socket-activation consumer built on the `listenfd` crate, used by the
//! integration tests to see exactly what a server started by systemfd gets.
//!
//! `probe` prints a report and exits; `probe serve` then answers every TCP
//! connection on its first socket with its pid and the request's first line.

use std::io::{BufRead as _, BufReader, Write as _};

use listenfd::ListenFd;

fn main() {
    let serve = std::env::args().nth(1).as_deref() == Some("serve");
    let mut out = String::new();
    out.push_str(&format!("pid={}\n", std::process::id()));
    for name in [
        "LISTEN_FDS",
        "LISTEN_PID",
        "LISTEN_FDNAMES",
        "LISTEN_FDS_FIRST_FD",
    ] {
        let value = std::env::var(name).unwrap_or_else(|_| "<unset>".into());
        out.push_str(&format!("{name}={value}\n"));
    }
    #[cfg(unix)]
    out.push_str(&format!("fds={}\n", unix::open_fds()));

    // Read before listenfd runs: it takes nothing but what the variables name.
    let mut fds = ListenFd::from_env();
    out.push_str(&format!("count={}\n", fds.len()));
    let mut first_tcp = None;
    for index in 0..fds.len() {
        let kind = describe(&mut fds, index, &mut first_tcp);
        out.push_str(&format!("socket{index}={kind}\n"));
    }
    print!("{out}");
    let _ = std::io::stdout().flush();

    if serve {
        let listener = first_tcp.expect("serve needs a TCP socket");
        println!("serving");
        let _ = std::io::stdout().flush();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            let _ = BufReader::new(&stream).read_line(&mut line);
            let _ = writeln!(stream, "{} {}", std::process::id(), line.trim_end());
        }
    }
}

fn describe(
    fds: &mut ListenFd,
    index: usize,
    first_tcp: &mut Option<std::net::TcpListener>,
) -> String {
    if let Ok(Some(listener)) = fds.take_tcp_listener(index) {
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        first_tcp.get_or_insert(listener);
        return format!("tcp {addr}");
    }
    if let Ok(Some(socket)) = fds.take_udp_socket(index) {
        let addr = socket
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        return format!("udp {addr}");
    }
    #[cfg(unix)]
    if let Some(kind) = unix::describe(fds, index) {
        return kind;
    }
    "unrecognised".into()
}

#[cfg(unix)]
mod unix {
    use listenfd::ListenFd;

    /// The open descriptors below 1024, comma-separated, each with its kind
    /// (`s` socket, `p` pipe, `f` anything else) and `c` when close-on-exec.
    pub fn open_fds() -> String {
        let mut fds = Vec::new();
        for fd in 0..1024 {
            // SAFETY: F_GETFD only queries the descriptor table.
            let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
            if flags < 0 {
                continue;
            }
            // SAFETY: a zeroed stat is a valid out-buffer for fstat.
            let mut stat: libc::stat = unsafe { std::mem::zeroed() };
            // SAFETY: `stat` is a valid, writable stat buffer.
            let kind = if unsafe { libc::fstat(fd, &mut stat) } < 0 {
                "?"
            } else {
                match stat.st_mode & libc::S_IFMT {
                    libc::S_IFSOCK => "s",
                    libc::S_IFIFO => "p",
                    _ => "f",
                }
            };
            let cloexec = if flags & libc::FD_CLOEXEC != 0 {
                "c"
            } else {
                ""
            };
            fds.push(format!("{fd}{kind}{cloexec}"));
        }
        fds.join(",")
    }

    pub fn describe(fds: &mut ListenFd, index: usize) -> Option<String> {
        if let Ok(Some(listener)) = fds.take_unix_listener(index) {
            let addr = listener.local_addr().ok()?;
            return Some(format!("unix {}", unix_name(&addr)));
        }
        if let Ok(Some(socket)) = fds.take_unix_datagram(index) {
            let addr = socket.local_addr().ok()?;
            return Some(format!("unix-dgram {}", unix_name(&addr)));
        }
        None
    }

    fn unix_name(addr: &std::os::unix::net::SocketAddr) -> String {
        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::SocketAddrExt as _;
            if let Some(name) = addr.as_abstract_name() {
                return format!("@{}", String::from_utf8_lossy(name));
            }
        }
        addr.as_pathname()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "<unnamed>".into())
    }
}
