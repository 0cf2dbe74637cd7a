//! The socket specification given to `-s`: `[NAME=][TYPE::]VALUE`.
//!
//! Parsing is pure: it touches no socket and resolves no host name, so every
//! spec on the command line is checked before anything is created. Host names
//! are kept as text and resolved by [`crate::socket`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

/// The longest name `LISTEN_FDNAMES` may carry for one socket (systemd's rule).
pub const MAX_NAME_LEN: usize = 255;

/// The longest Unix socket path this platform's `sockaddr_un` holds, without
/// the terminating NUL.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub const MAX_UNIX_PATH_LEN: usize = 107;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub const MAX_UNIX_PATH_LEN: usize = 103;

/// What kind of socket a spec asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketKind {
    /// A TCP listener.
    Tcp,
    /// A TCP listener, shown as an `http://` URL.
    Http,
    /// A TCP listener, shown as an `https://` URL.
    Https,
    /// A bound UDP socket.
    Udp,
    /// A Unix stream listener.
    Unix,
    /// A bound Unix datagram socket.
    UnixDgram,
    /// A Unix sequenced-packet listener.
    UnixSeqpacket,
}

impl SocketKind {
    /// Every kind, in the order the help text lists them.
    pub const ALL: [SocketKind; 7] = [
        SocketKind::Tcp,
        SocketKind::Http,
        SocketKind::Https,
        SocketKind::Udp,
        SocketKind::Unix,
        SocketKind::UnixDgram,
        SocketKind::UnixSeqpacket,
    ];

    /// The name used in a spec, and for an unnamed socket in `LISTEN_FDNAMES`.
    pub fn as_str(self) -> &'static str {
        match self {
            SocketKind::Tcp => "tcp",
            SocketKind::Http => "http",
            SocketKind::Https => "https",
            SocketKind::Udp => "udp",
            SocketKind::Unix => "unix",
            SocketKind::UnixDgram => "unix-dgram",
            SocketKind::UnixSeqpacket => "unix-seqpacket",
        }
    }

    /// Whether the socket lives in the Unix domain (takes a path, not a port).
    pub fn is_unix(self) -> bool {
        matches!(
            self,
            SocketKind::Unix | SocketKind::UnixDgram | SocketKind::UnixSeqpacket
        )
    }

    /// Whether the socket is connection-oriented, so it is put into listening state.
    pub fn listens(self) -> bool {
        !matches!(self, SocketKind::Udp | SocketKind::UnixDgram)
    }
}

impl FromStr for SocketKind {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        SocketKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or(())
    }
}

impl fmt::Display for SocketKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a socket is bound.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// An IP address and port (a bare port means 127.0.0.1).
    Ip(SocketAddr),
    /// A host name and port, resolved when the socket is created.
    Host { host: String, port: u16 },
    /// A Unix socket path.
    Path(PathBuf),
    /// A name in Linux's abstract Unix namespace (written `@name`).
    Abstract(String),
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Ip(addr) => write!(f, "{addr}"),
            Address::Host { host, port } => write!(f, "{host}:{port}"),
            Address::Path(path) => write!(f, "{}", path.display()),
            Address::Abstract(name) => write!(f, "@{name}"),
        }
    }
}

/// One parsed `-s` argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketSpec {
    /// The spec as written on the command line, for messages.
    pub text: String,
    /// The name given with `NAME=`, if any.
    pub name: Option<String>,
    pub kind: SocketKind,
    pub addr: Address,
}

impl SocketSpec {
    /// The socket's entry in `LISTEN_FDNAMES`: its name, or else its type.
    pub fn fd_name(&self) -> &str {
        self.name.as_deref().unwrap_or(self.kind.as_str())
    }
}

/// Why a spec was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("the spec is empty")]
    Empty,
    #[error("unknown socket type '{0}' (expected one of: {types})", types = type_list())]
    UnknownType(String),
    #[error("the socket name is empty")]
    EmptyName,
    #[error("the socket name is {0} characters long; at most {MAX_NAME_LEN} are allowed")]
    NameTooLong(usize),
    #[error("the socket name contains {0:?}; names are printable ASCII without ':'")]
    NameChar(char),
    #[error("the address is empty")]
    EmptyValue,
    #[error("'{0}' is not a valid port (0-65535)")]
    BadPort(String),
    #[error("'{0}' is not a valid IPv6 address")]
    BadIpv6(String),
    #[error("'{0}' looks like an IPv6 address; write it in brackets, as [{0}]:PORT")]
    UnbracketedIpv6(String),
    #[error("'{0}' is not a valid host name")]
    BadHost(String),
    #[error("'{value}' is not a port or HOST:PORT, which {kind} sockets take")]
    NotIpAddress { kind: SocketKind, value: String },
    #[error("cannot tell the socket type of '{0}': give a port, HOST:PORT, a path containing '/', or TYPE::VALUE")]
    Ambiguous(String),
    #[error("the socket path is {0} bytes long; this system allows at most {MAX_UNIX_PATH_LEN}")]
    PathTooLong(usize),
    #[error("the abstract socket name is empty")]
    EmptyAbstract,
    #[error("abstract Unix sockets (@name) exist only on Linux")]
    AbstractUnsupported,
    #[error("{0} sockets are not supported on this platform")]
    Unsupported(SocketKind),
}

fn type_list() -> String {
    SocketKind::ALL.map(SocketKind::as_str).join(", ")
}

impl FromStr for SocketSpec {
    type Err = SpecError;

    fn from_str(spec: &str) -> Result<Self, SpecError> {
        if spec.is_empty() {
            return Err(SpecError::Empty);
        }
        let (name, kind, value) = split(spec)?;
        if let Some(name) = name {
            check_name(name)?;
        }
        let (kind, addr) = match kind {
            Some(kind) => (kind, parse_value(kind, value)?),
            None => infer(value)?,
        };
        if kind.is_unix() && cfg!(windows) {
            return Err(SpecError::Unsupported(kind));
        }
        Ok(SocketSpec {
            text: spec.to_owned(),
            name: name.map(str::to_owned),
            kind,
            addr,
        })
    }
}

/// Splits a spec into its optional name, optional type and value.
///
/// `TYPE::` is recognised only when the text between the last `=` and the
/// first `::` is a word (letters, digits, `-`, `_`), so `[::1]:80`, `::1:80`
/// (rejected later, for want of brackets) and `/tmp/a::b` stay values. With a
/// type, the name is everything before that `=` (any name systemd accepts can
/// be written this way); without one, `NAME=` is recognised only
/// when the text before the first `=` holds no `/`, so `/tmp/a=b` stays a path.
fn split(spec: &str) -> Result<(Option<&str>, Option<SocketKind>, &str), SpecError> {
    if let Some((prefix, value)) = spec.split_once("::") {
        let (name, ty) = match prefix.rsplit_once('=') {
            Some((name, ty)) => (Some(name), ty),
            None => (None, prefix),
        };
        let is_word = |t: &str| {
            !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if is_word(ty) {
            let kind = ty
                .parse()
                .map_err(|()| SpecError::UnknownType(ty.to_owned()))?;
            return Ok((name, Some(kind), value));
        }
    }
    match spec.split_once('=') {
        Some((name, value)) if !name.contains('/') => Ok((Some(name), None, value)),
        _ => Ok((None, None, spec)),
    }
}

fn check_name(name: &str) -> Result<(), SpecError> {
    if name.is_empty() {
        return Err(SpecError::EmptyName);
    }
    if let Some(c) = name
        .chars()
        .find(|&c| !c.is_ascii_graphic() && c != ' ' || c == ':')
    {
        return Err(SpecError::NameChar(c));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(SpecError::NameTooLong(name.len()));
    }
    Ok(())
}

/// Guesses the type of a value given without `TYPE::`.
fn infer(value: &str) -> Result<(SocketKind, Address), SpecError> {
    if value.is_empty() {
        return Err(SpecError::EmptyValue);
    }
    if value.contains('/') || value.starts_with('@') {
        return Ok((SocketKind::Unix, parse_unix(value)?));
    }
    if value.bytes().all(|b| b.is_ascii_digit()) || value.contains(':') {
        return Ok((SocketKind::Tcp, parse_ip(SocketKind::Tcp, value)?));
    }
    Err(SpecError::Ambiguous(value.to_owned()))
}

fn parse_value(kind: SocketKind, value: &str) -> Result<Address, SpecError> {
    if value.is_empty() {
        return Err(SpecError::EmptyValue);
    }
    if kind.is_unix() {
        parse_unix(value)
    } else {
        parse_ip(kind, value)
    }
}

fn parse_unix(value: &str) -> Result<Address, SpecError> {
    if let Some(name) = value.strip_prefix('@') {
        if !cfg!(any(target_os = "linux", target_os = "android")) {
            return Err(SpecError::AbstractUnsupported);
        }
        if name.is_empty() {
            return Err(SpecError::EmptyAbstract);
        }
        // The abstract name is stored after a leading NUL byte.
        if name.len() + 1 > MAX_UNIX_PATH_LEN + 1 {
            return Err(SpecError::PathTooLong(name.len() + 1));
        }
        return Ok(Address::Abstract(name.to_owned()));
    }
    if value.len() > MAX_UNIX_PATH_LEN {
        return Err(SpecError::PathTooLong(value.len()));
    }
    Ok(Address::Path(PathBuf::from(value)))
}

fn parse_port(text: &str) -> Result<u16, SpecError> {
    // `u16::from_str` accepts a leading '+'; a port is digits only.
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SpecError::BadPort(text.to_owned()));
    }
    text.parse()
        .map_err(|_| SpecError::BadPort(text.to_owned()))
}

fn parse_ip(kind: SocketKind, value: &str) -> Result<Address, SpecError> {
    if value.bytes().all(|b| b.is_ascii_digit()) {
        let port = parse_port(value)?;
        return Ok(Address::Ip(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
        )));
    }
    let not_ip = || SpecError::NotIpAddress {
        kind,
        value: value.to_owned(),
    };
    if value.contains('/') {
        return Err(not_ip());
    }
    if let Some(rest) = value.strip_prefix('[') {
        let (ip, port) = rest
            .split_once("]:")
            .ok_or_else(|| match rest.strip_suffix(']') {
                Some(_) => SpecError::BadPort(String::new()),
                None => not_ip(),
            })?;
        let ip: Ipv6Addr = ip.parse().map_err(|_| SpecError::BadIpv6(ip.to_owned()))?;
        return Ok(Address::Ip(SocketAddr::new(
            IpAddr::V6(ip),
            parse_port(port)?,
        )));
    }
    let (host, port) = value.rsplit_once(':').ok_or_else(not_ip)?;
    if host.contains(':') {
        return Err(SpecError::UnbracketedIpv6(host.to_owned()));
    }
    let port = parse_port(port)?;
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok(Address::Ip(SocketAddr::new(IpAddr::V4(ip), port)));
    }
    if !is_host_name(host) {
        return Err(SpecError::BadHost(host.to_owned()));
    }
    Ok(Address::Host {
        host: host.to_owned(),
        port,
    })
}

/// A DNS name: dot-separated labels of letters, digits, `-` and `_`.
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.trim_end_matches('.').split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests;
