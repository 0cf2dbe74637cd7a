//! Which passed socket a program's `bind()` asks for: the address read from
//! its memory, compared with the sockets systemfd holds. Plain data in and
//! out, tested on every platform.
//!
//! The `sockaddr` layouts are Linux's (`<linux/in.h>`, `<linux/in6.h>`,
//! `<linux/un.h>`), whatever the platform this is compiled for: only Linux
//! hands them over.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::path::PathBuf;

/// Linux's address family numbers.
const AF_UNIX: u16 = 1;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

/// The largest address a `bind` may give (`sizeof(struct sockaddr_storage)`),
/// in bytes: a longer length is not read.
pub const MAX_ADDRESS_LEN: usize = 128;

/// What a program asked to bind to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requested {
    /// An IPv4 or IPv6 address and port.
    Ip(SocketAddr),
    /// A Unix socket path, as given (maybe relative).
    Path(PathBuf),
    /// A Unix socket name in Linux's abstract namespace (without its
    /// leading NUL byte).
    Abstract(Vec<u8>),
    /// Anything else: an unnamed Unix socket, another family.
    Other,
}

/// Parses the `sockaddr` a program passed to `bind`, `len` bytes as read
/// from its memory.
pub fn parse_sockaddr(bytes: &[u8]) -> Requested {
    if bytes.len() < 2 {
        return Requested::Other;
    }
    let family = u16::from_ne_bytes([bytes[0], bytes[1]]);
    let port = |b: &[u8]| u16::from_be_bytes([b[2], b[3]]);
    match family {
        AF_INET if bytes.len() >= 8 => {
            let ip = Ipv4Addr::new(bytes[4], bytes[5], bytes[6], bytes[7]);
            Requested::Ip(SocketAddr::V4(SocketAddrV4::new(ip, port(bytes))))
        }
        AF_INET6 if bytes.len() >= 24 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&bytes[8..24]);
            let scope = bytes
                .get(24..28)
                .map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
            let ip = Ipv6Addr::from(octets);
            Requested::Ip(SocketAddr::V6(SocketAddrV6::new(ip, port(bytes), 0, scope)))
        }
        AF_UNIX => {
            let path = &bytes[2..];
            // An empty path is an unnamed socket, a leading NUL an abstract
            // one, whose name is every byte after it.
            match path.first() {
                None => return Requested::Other,
                Some(0) => return Requested::Abstract(path[1..].to_vec()),
                Some(_) => {}
            }
            let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
            Requested::Path(path_from_bytes(&path[..end]))
        }
        _ => Requested::Other,
    }
}

#[cfg(unix)]
fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt as _;
    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

#[cfg(not(unix))]
fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
}

/// Why a program's address names a held socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    /// The same address.
    Same,
    /// The program asked for every address (`0.0.0.0` or `::`) on the port.
    Wildcard,
    /// The program asked for `127.0.0.1` or `[::1]`, and the socket is on
    /// loopback, maybe in the other family (`localhost` often binds `[::1]`,
    /// systemfd's `http::3000` is `127.0.0.1`).
    Loopback,
}

impl Match {
    /// The words for the terminal.
    pub fn describe(self) -> &'static str {
        match self {
            Match::Same => "the same address",
            Match::Wildcard => "a wildcard address",
            Match::Loopback => "loopback",
        }
    }
}

/// Whether a bind to `requested` should get the held socket bound to
/// `held`: the same port (never 0, which asks for any port), and the same
/// host, or a wildcard host, or `127.0.0.1` or `[::1]` for a socket on
/// loopback. (Another address of `127.0.0.0/8` is a host of its own:
/// clients that connect to it would not reach a socket on `127.0.0.1`.)
pub fn match_ip(requested: SocketAddr, held: SocketAddr) -> Option<Match> {
    if requested.port() == 0 || requested.port() != held.port() {
        return None;
    }
    let (asked, have) = (canonical(requested.ip()), canonical(held.ip()));
    if asked == have {
        Some(Match::Same)
    } else if asked.is_unspecified() {
        Some(Match::Wildcard)
    } else if (asked == IpAddr::V4(Ipv4Addr::LOCALHOST) || asked == IpAddr::V6(Ipv6Addr::LOCALHOST))
        && have.is_loopback()
    {
        Some(Match::Loopback)
    } else {
        None
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`) as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Whether the descriptor `/proc/PID/fdinfo/FD` describes is
/// close-on-exec: its `flags:` line is octal, and holds `O_CLOEXEC`
/// (02000000 on Linux) when it is. `None` when there is no such line.
pub fn fdinfo_cloexec(fdinfo: &str) -> Option<bool> {
    const O_CLOEXEC: u32 = 0o2000000;
    let flags = fdinfo
        .lines()
        .find_map(|line| line.strip_prefix("flags:"))?
        .trim();
    let flags = u32::from_str_radix(flags, 8).ok()?;
    Some(flags & O_CLOEXEC != 0)
}

#[cfg(test)]
mod tests;
