//! A socket-activation consumer built on the `listenfd` crate, used by the
//! integration tests to see exactly what a server started by systemfd gets.
//!
//! `probe` prints a report and exits (the socket-passing variables, each
//! `LISTEN_*` variable's name in `listen_vars=`, the fds, the sockets);
//! `probe serve` then answers every TCP connection on its first socket
//! with its pid and the request's first line.
//! With `poll` as well, it accepts in
//! non-blocking mode, taking a connection only once one is there: Wine
//! loses a connection it accepts for a process that is being terminated
//! while waiting in accept.
//! With `wait` as well, it prints the environment part of the report and
//! `waiting`, then reads a line from stdin before it asks for the sockets
//! (on Windows: before it contacts the socket server).
//!
//! On Windows, `serve` also handles Ctrl-C: it prints `interrupted` and exits
//! with status 3, so a test can tell that the command itself saw it. Each
//! socket's line also tells whether the socket claims its
//! port exclusively: `socket0=tcp 127.0.0.1:5000 exclusiveaddruse=1 reuseaddr=0`.
//!
//! `probe run-copy DEST ARGS…` does what `cargo run` does: it writes a copy
//! of the probe to DEST (the build's output), exiting 101 if it cannot, then
//! runs it with ARGS.
//!
//! `probe bind-reuse ADDR` binds a TCP listener to ADDR with `SO_REUSEADDR`
//! (on Windows: a port hijack, unless the owner claimed it exclusively) and
//! prints `bound` or `bind failed: ERROR`, exiting 1 in the latter case.

use std::io::{BufRead as _, BufReader, Write as _};

use listenfd::ListenFd;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("run-copy") {
        run_copy(&args[1..]);
    }
    if args.first().map(String::as_str) == Some("bind-reuse") {
        bind_reuse(args.get(1).map(String::as_str).unwrap_or_default());
        return;
    }
    let serve = args.iter().any(|a| a == "serve");
    let wait = args.iter().any(|a| a == "wait");
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
    // Every LISTEN_* variable by name, known or not, for parity checks.
    let mut listen: Vec<String> = std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .filter(|name| name.starts_with("LISTEN_"))
        .collect();
    listen.sort();
    out.push_str(&format!("listen_vars={}\n", listen.join(",")));
    #[cfg(unix)]
    out.push_str(&format!("fds={}\n", unix::open_fds()));
    #[cfg(windows)]
    for name in ["SYSTEMFD_SOCKET_SERVER", "SYSTEMFD_SOCKET_SECRET"] {
        let value = std::env::var(name).unwrap_or_else(|_| "<unset>".into());
        out.push_str(&format!("{name}={value}\n"));
    }
    if wait {
        println!("{out}waiting");
        let _ = std::io::stdout().flush();
        out.clear();
        let _ = std::io::stdin().read_line(&mut String::new());
    }

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
        #[cfg(windows)]
        windows::exit_on_ctrl_c();
        println!("serving");
        let _ = std::io::stdout().flush();
        // `poll`: accept only when a connection is there, never waiting in
        // accept (see the module's documentation).
        let poll = args.iter().any(|a| a == "poll");
        if poll {
            listener.set_nonblocking(true).expect("nonblocking");
        }
        loop {
            let stream = match listener.accept() {
                Ok((stream, _)) => stream,
                Err(err) if poll && err.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                    continue;
                }
                Err(_) => continue,
            };
            let Ok(line) = read_line(&stream) else {
                continue;
            };
            // In one write, so that an answer is whole or not sent.
            let answer = format!("{} {}\n", std::process::id(), line.trim_end());
            let _ = (&stream).write_all(answer.as_bytes());
        }
    }
}

#[cfg(windows)]
use windows::describe;

#[cfg(not(windows))]
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

/// The first line a client sends, waiting for it even on a socket that an
/// accept in non-blocking mode made non-blocking.
fn read_line(stream: &std::net::TcpStream) -> std::io::Result<String> {
    let _ = stream.set_nonblocking(false);
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        match reader.read_line(&mut line) {
            Ok(_) => return Ok(line),
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Err(err) => return Err(err),
        }
    }
}

/// `run-copy DEST ARGS…`, as `cargo run` does: writes a copy of this program
/// to DEST (the build's output), then runs it with ARGS and exits with its
/// status. Fails with 101, as cargo does, when DEST cannot be written (on
/// Windows, while a program runs from it).
fn run_copy(args: &[String]) -> ! {
    let Some((dest, rest)) = args.split_first() else {
        eprintln!("run-copy needs DEST");
        std::process::exit(2);
    };
    let copied = std::env::current_exe().and_then(|me| std::fs::copy(me, dest));
    if let Err(err) = copied {
        eprintln!("cannot write {dest}: {err}");
        std::process::exit(101);
    }
    // A relative DEST names a file in the current directory.
    let program = std::env::current_dir().unwrap_or_default().join(dest);
    match std::process::Command::new(program).args(rest).status() {
        Ok(status) => std::process::exit(status.code().unwrap_or(1)),
        Err(err) => {
            eprintln!("cannot run {dest}: {err}");
            std::process::exit(101);
        }
    }
}

fn bind_reuse(addr: &str) {
    let bound = addr
        .parse::<std::net::SocketAddr>()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
        .and_then(|addr| {
            use socket2::{Domain, Socket, Type};
            let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
            socket.set_reuse_address(true)?;
            socket.bind(&addr.into())?;
            socket.listen(1)
        });
    match bound {
        Ok(()) => println!("bound"),
        Err(err) => {
            println!("bind failed: {err}");
            std::process::exit(1);
        }
    }
}

#[cfg(windows)]
mod windows {
    use std::net::{TcpListener, UdpSocket};
    use std::os::windows::io::{AsRawSocket as _, AsSocket, OwnedSocket};

    use listenfd::ListenFd;
    use socket2::{SockRef, Type};
    use windows_sys::Win32::Networking::WinSock::{
        getsockopt, SOCKET, SOL_SOCKET, SO_EXCLUSIVEADDRUSE,
    };
    use windows_sys::Win32::System::Console::SetConsoleCtrlHandler;

    pub fn exit_on_ctrl_c() {
        unsafe extern "system" fn on_ctrl(_kind: u32) -> windows_sys::core::BOOL {
            println!("interrupted");
            std::process::exit(3)
        }
        // SAFETY: `on_ctrl` has the signature of a handler routine.
        unsafe { SetConsoleCtrlHandler(Some(on_ctrl), 1) };
    }

    /// On Windows `listenfd` hands out any socket as whatever is asked for,
    /// so the socket itself is asked what it is.
    pub fn describe(
        fds: &mut ListenFd,
        index: usize,
        first_tcp: &mut Option<TcpListener>,
    ) -> String {
        let Ok(Some(listener)) = fds.take_tcp_listener(index) else {
            return "unrecognised".into();
        };
        match SockRef::from(&listener).r#type() {
            Ok(Type::STREAM) => {
                let addr = listener
                    .local_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_default();
                let options = options(&listener);
                first_tcp.get_or_insert(listener);
                format!("tcp {addr} {options}")
            }
            Ok(Type::DGRAM) => {
                let socket = UdpSocket::from(OwnedSocket::from(listener));
                let addr = socket
                    .local_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_default();
                format!("udp {addr} {}", options(&socket))
            }
            Ok(other) => format!("unrecognised {other:?}"),
            Err(err) => format!("unrecognised ({err})"),
        }
    }

    /// `exclusiveaddruse=N reuseaddr=N`, as the socket reports them.
    fn options(socket: &impl AsSocket) -> String {
        let reuse = SockRef::from(socket)
            .reuse_address()
            .map_or_else(|e| e.to_string(), |on| u8::from(on).to_string());
        let mut exclusive: i32 = -1;
        let mut len = std::mem::size_of::<i32>() as i32;
        // SAFETY: the socket is open for the call (borrowed); `exclusive` and
        // `len` are valid for writes and `len` holds the buffer's size.
        let rv = unsafe {
            getsockopt(
                socket.as_socket().as_raw_socket() as SOCKET,
                SOL_SOCKET,
                SO_EXCLUSIVEADDRUSE,
                std::ptr::from_mut(&mut exclusive).cast(),
                &mut len,
            )
        };
        let exclusive = if rv == 0 {
            exclusive.to_string()
        } else {
            format!("({})", std::io::Error::last_os_error())
        };
        format!("exclusiveaddruse={exclusive} reuseaddr={reuse}")
    }
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
