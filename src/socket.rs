//! Creating the sockets that a command inherits.
//!
//! Every socket is created close-on-exec; the platform module decides how the
//! command receives it. A Unix socket file that systemfd creates is removed
//! again when the [`Sockets`] are dropped, if its path still names it
//! (`socket/file.rs`), so a failed start leaves nothing behind; after a
//! successful exec, the files belong to the command.

#[cfg(unix)]
mod file;

#[cfg(unix)]
pub use file::SocketFile;

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
#[cfg(unix)]
use std::path::Path;

use anyhow::{anyhow, Context as _, Result};
#[cfg(unix)]
use socket2::SockAddr;
use socket2::{Domain, Protocol, Socket, Type};

use crate::holder;
use crate::spec::{Address, SocketKind, SocketSpec};

// The socket server's replies are made of the records `sys::duplicate` makes.
#[cfg(windows)]
const _: () = assert!(crate::sys::PROTOCOL_INFO_LEN == crate::socket_server::PROTOCOL_INFO_LEN);

/// How sockets are set up.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// The listen backlog; the kernel caps it at its own maximum.
    pub backlog: i32,
    /// `SO_REUSEADDR` on Unix, so a restarted systemfd can rebind at once.
    /// On Windows that option would let another process take the port, so
    /// there this selects `SO_EXCLUSIVEADDRUSE` instead.
    pub reuse_addr: bool,
    /// `SO_REUSEPORT` (Unix only): lets other processes bind the same port.
    pub reuse_port: bool,
    /// Hand the sockets over in non-blocking mode.
    pub nonblocking: bool,
    /// The permission bits of the Unix socket files (`--socket-mode`, as
    /// systemd's `SocketMode=`); `None`: what the umask leaves.
    pub mode: Option<u32>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            backlog: i32::MAX,
            reuse_addr: true,
            reuse_port: false,
            nonblocking: false,
            mode: None,
        }
    }
}

/// A socket created from a spec.
#[derive(Debug)]
pub struct OpenSocket {
    pub spec: SocketSpec,
    pub socket: Socket,
    /// What the socket is bound to, as the user should see it.
    pub local: LocalAddr,
    /// The file `bind` made, for a Unix socket with a path.
    #[cfg(unix)]
    pub file: Option<SocketFile>,
}

/// The address a socket ended up bound to (with the real port for port 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocalAddr {
    Ip(SocketAddr),
    #[cfg(unix)]
    Unix(String),
}

impl OpenSocket {
    /// The one-line description printed for this socket, in the style of
    /// systemfd 0.4: `http://127.0.0.1:5000/`, `127.0.0.1:5000 (tcp listener)`.
    pub fn describe(&self) -> String {
        match (&self.local, self.spec.kind) {
            (LocalAddr::Ip(addr), SocketKind::Http) => format!("http://{addr}/"),
            (LocalAddr::Ip(addr), SocketKind::Https) => format!("https://{addr}/"),
            (local, kind) => format!("{local} ({})", kind_label(kind)),
        }
    }
}

fn kind_label(kind: SocketKind) -> &'static str {
    match kind {
        SocketKind::Tcp | SocketKind::Http | SocketKind::Https => "tcp listener",
        SocketKind::Udp => "udp",
        SocketKind::Unix => "unix listener",
        SocketKind::UnixDgram => "unix datagram",
        SocketKind::UnixSeqpacket => "unix seqpacket listener",
    }
}

impl fmt::Display for LocalAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocalAddr::Ip(addr) => write!(f, "{addr}"),
            #[cfg(unix)]
            LocalAddr::Unix(path) => f.write_str(path),
        }
    }
}

/// The sockets for one run, in `-s` order.
#[derive(Debug, Default)]
pub struct Sockets {
    pub sockets: Vec<OpenSocket>,
    /// Unix socket files created here, removed on drop while their paths
    /// still name them.
    #[cfg(unix)]
    created: Vec<SocketFile>,
}

impl Sockets {
    /// A second handle to each socket, in order, for a thread that waits
    /// on them (`--on-demand`).
    ///
    /// # Errors
    /// When a socket cannot be duplicated (out of descriptors).
    pub fn duplicates(&self) -> Result<Vec<Socket>> {
        self.sockets
            .iter()
            .map(|open| open.socket.try_clone())
            .collect::<std::io::Result<Vec<_>>>()
            .context("cannot duplicate a socket to wait for connections")
    }

    /// Creates every socket in order. On failure the sockets made so far are
    /// closed and their files removed before the error is returned.
    pub fn open(specs: &[SocketSpec], options: &Options) -> Result<Sockets> {
        let mut sockets = Sockets::default();
        for spec in specs {
            let open = sockets
                .open_one(spec, options)
                .with_context(|| format!("cannot create socket '{}'", spec.text))?;
            sockets.sockets.push(open);
        }
        Ok(sockets)
    }

    /// Starts the socket server on 127.0.0.1 with a random port, serving
    /// duplicates of these sockets (see `crate::socket_server`) to the
    /// holders of the secrets it issues; `report` hears what happens to each
    /// connection. The server's own port is claimed exclusively too, so no
    /// other process can intercept a secret.
    #[cfg(windows)]
    pub fn serve(
        self,
        report: Box<crate::socket_server::Report>,
    ) -> Result<crate::socket_server::Server> {
        use std::net::{Ipv4Addr, TcpListener};
        use std::sync::Arc;

        use crate::socket_server::{Limits, Server};

        let listener = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))
            .context("cannot create the socket server's socket")?;
        crate::sys::set_reuse(&listener, true, false)?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        listener
            .bind(&addr.into())
            .and_then(|()| listener.listen(128))
            .with_context(|| format!("cannot listen on {addr} for the socket server"))?;
        let sockets = Arc::new(self);
        Server::start(
            TcpListener::from(listener),
            Limits::default(),
            Box::new(move |pid| {
                sockets
                    .sockets
                    .iter()
                    .map(|open| crate::sys::duplicate(&open.socket, pid))
                    .collect()
            }),
            report,
        )
        .context("cannot start the socket server")
    }

    /// How many sockets there are.
    pub fn len(&self) -> usize {
        self.sockets.len()
    }

    /// The sockets' descriptors, in order, borrowed.
    #[cfg(unix)]
    pub fn fds(&self) -> Vec<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd as _;
        self.sockets
            .iter()
            .map(|open| open.socket.as_fd())
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }

    /// The files of the Unix sockets with a path, in order.
    #[cfg(unix)]
    pub fn files(&self) -> Vec<SocketFile> {
        self.sockets
            .iter()
            .filter_map(|open| open.file.clone())
            .collect()
    }

    /// The `LISTEN_FDNAMES` value: one name per socket, `:`-separated.
    pub fn fd_names(&self) -> String {
        let names: Vec<&str> = self.sockets.iter().map(|s| s.spec.fd_name()).collect();
        names.join(":")
    }

    fn open_one(&mut self, spec: &SocketSpec, options: &Options) -> Result<OpenSocket> {
        #[cfg(unix)]
        let mut file = None;
        let (socket, local) = match &spec.addr {
            Address::Ip(addr) => open_ip(spec.kind, *addr, options)?,
            Address::Host { host, port } => {
                let addr = resolve(host, *port)?;
                open_ip(spec.kind, addr, options)?
            }
            #[cfg(unix)]
            Address::Path(path) => {
                let (socket, made) = self.open_unix_path(spec.kind, path, options)?;
                file = Some(made);
                (socket, LocalAddr::Unix(path.display().to_string()))
            }
            #[cfg(unix)]
            Address::Abstract(name) => {
                use std::os::unix::ffi::OsStrExt as _;

                // A leading NUL byte puts the name in the abstract namespace.
                let mut bytes = vec![0u8];
                bytes.extend_from_slice(name.as_bytes());
                let addr = SockAddr::unix(std::ffi::OsStr::from_bytes(&bytes))?;
                let socket =
                    bind_unix(spec.kind, &addr).with_context(|| format!("cannot bind @{name}"))?;
                listen(spec.kind, &socket, options)?;
                (socket, LocalAddr::Unix(format!("@{name}")))
            }
            #[cfg(not(unix))]
            Address::Path(_) | Address::Abstract(_) => {
                return Err(anyhow!("Unix sockets are not supported on this platform"))
            }
        };
        socket
            .set_nonblocking(options.nonblocking)
            .context("cannot set the blocking mode")?;
        Ok(OpenSocket {
            spec: spec.clone(),
            socket,
            local,
            #[cfg(unix)]
            file,
        })
    }

    /// Binds a Unix socket at `path`, replacing a stale socket file but
    /// never a live socket or a file that is not a socket, and gives the
    /// file `options.mode`. Returns the socket and its file.
    #[cfg(unix)]
    fn open_unix_path(
        &mut self,
        kind: SocketKind,
        path: &Path,
        options: &Options,
    ) -> Result<(Socket, SocketFile)> {
        use std::os::unix::fs::FileTypeExt as _;

        let addr = SockAddr::unix(path)?;
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() => {
                let live = is_live(kind, &addr)
                    .with_context(|| format!("cannot tell whether {} is in use", path.display()))?;
                if live {
                    return Err(anyhow!(
                        "{} is in use: another process is listening on it",
                        path.display()
                    ));
                }
                std::fs::remove_file(path)
                    .with_context(|| format!("cannot remove stale socket {}", path.display()))?;
            }
            Ok(meta) => {
                let what = if meta.is_dir() {
                    "a directory"
                } else if meta.is_symlink() {
                    "a symbolic link"
                } else if meta.is_file() {
                    "a regular file"
                } else {
                    "not a socket"
                };
                return Err(anyhow!(
                    "{} exists and is {what}; refusing to replace it",
                    path.display()
                ));
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => {
                return Err(err).with_context(|| format!("cannot inspect {}", path.display()))
            }
        }
        let socket = Socket::new(Domain::UNIX, socket_type(kind), None)?;
        let bound = match options.mode {
            // The file is made with what the umask leaves of 0777: under a
            // umask that leaves only `mode`, it is never more open than
            // asked, not even until the chmod below (which a default ACL
            // on the directory, overriding the umask, makes necessary).
            Some(mode) => crate::sys::with_umask(0o777 & !mode, || socket.bind(&addr)),
            None => socket.bind(&addr),
        };
        bound.with_context(|| format!("cannot bind {}", path.display()))?;
        let file = match SocketFile::bound(path) {
            Ok(file) => file,
            Err(err) => {
                // Not known to be ours: left alone.
                return Err(err).with_context(|| {
                    format!(
                        "cannot look at the socket file {} just bound",
                        path.display()
                    )
                });
            }
        };
        self.created.push(file.clone());
        if let Some(mode) = options.mode {
            file.set_mode(mode).with_context(|| {
                format!("cannot set the mode of {} to {mode:04o}", path.display())
            })?;
        }
        listen(kind, &socket, options)?;
        Ok((socket, file))
    }
}

#[cfg(unix)]
impl Drop for Sockets {
    fn drop(&mut self) {
        for file in self.created.drain(..) {
            file.remove();
        }
    }
}

/// Whether something accepts connections (or datagrams) at a socket file.
#[cfg(unix)]
fn is_live(kind: SocketKind, addr: &SockAddr) -> io::Result<bool> {
    let probe = Socket::new(Domain::UNIX, socket_type(kind), None)?;
    // Non-blocking, so a listener whose backlog is full cannot hold us up.
    probe.set_nonblocking(true)?;
    match probe.connect(addr) {
        Ok(()) => Ok(true),
        // A listener with a full backlog: alive, just busy.
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(true),
        Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => Ok(true),
        // Nobody is bound there any more: the file is stale.
        Err(err) if err.raw_os_error() == Some(libc::ECONNREFUSED) => Ok(false),
        // A socket of another type is bound there: someone owns it.
        Err(err) if err.raw_os_error() == Some(libc::EPROTOTYPE) => Ok(true),
        Err(err) => Err(err),
    }
}

fn socket_type(kind: SocketKind) -> Type {
    match kind {
        SocketKind::Udp | SocketKind::UnixDgram => Type::DGRAM,
        SocketKind::UnixSeqpacket => Type::SEQPACKET,
        SocketKind::Tcp | SocketKind::Http | SocketKind::Https | SocketKind::Unix => Type::STREAM,
    }
}

fn resolve(host: &str, port: u16) -> Result<SocketAddr> {
    (host, port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve host name '{host}'"))?
        .next()
        .ok_or_else(|| anyhow!("host name '{host}' has no addresses"))
}

fn open_ip(kind: SocketKind, addr: SocketAddr, options: &Options) -> Result<(Socket, LocalAddr)> {
    let protocol = if kind.listens() {
        Protocol::TCP
    } else {
        Protocol::UDP
    };
    let socket = Socket::new(Domain::for_address(addr), socket_type(kind), Some(protocol))
        .context("cannot create socket")?;
    crate::sys::set_reuse(&socket, options.reuse_addr, options.reuse_port)?;
    if let Err(err) = socket.bind(&addr.into()) {
        let protocol = match kind.listens() {
            true => holder::Protocol::Tcp,
            false => holder::Protocol::Udp,
        };
        // Who holds it, where that can be seen, says more than the errno.
        let holder = (err.kind() == io::ErrorKind::AddrInUse)
            .then(|| holder::find(protocol, &addr))
            .flatten();
        let cause = match holder {
            Some(holder) => anyhow!("{holder}"),
            None => anyhow::Error::new(err),
        };
        return Err(cause.context(format!("cannot bind {addr}")));
    }
    listen(kind, &socket, options)?;
    let local = socket
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .unwrap_or(addr);
    Ok((socket, LocalAddr::Ip(local)))
}

/// A Unix socket of `kind` bound to `addr` (an abstract name: no file).
#[cfg(unix)]
fn bind_unix(kind: SocketKind, addr: &SockAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::UNIX, socket_type(kind), None)?;
    socket.bind(addr)?;
    Ok(socket)
}

fn listen(kind: SocketKind, socket: &Socket, options: &Options) -> Result<()> {
    if kind.listens() {
        socket.listen(options.backlog).context("cannot listen")?;
    }
    Ok(())
}
