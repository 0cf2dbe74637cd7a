//! A request head: found in the bytes read, parsed with `httparse`, and
//! sorted into what is answered, with the trust decision that says whether
//! the client may see the details.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The path of the wait protocol (see the module documentation).
pub const WAIT_PATH: &str = "/.systemfd/wait";

/// The most header lines parsed; more are answered as too large.
const MAX_HEADERS: usize = 64;

/// What a complete request head asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// The page: any request but a trusted wait.
    Page {
        /// A `HEAD` request: the head of the answer only.
        head_only: bool,
        /// The client accepts `text/html` (a browser).
        html: bool,
        /// The client may see the details ([`trusted`]).
        trusted: bool,
        /// Where it asked for: its path and query when it gave one
        /// (origin-form), else `/`.
        target: String,
    },
    /// `GET /.systemfd/wait?page=N` from a trusted client.
    Wait {
        /// N, when it is a number.
        page: Option<u64>,
    },
    /// The head is larger than allowed, or has too many headers.
    TooLarge,
    /// The bytes are not an HTTP request head.
    Malformed,
}

/// Whether `buf` holds the empty line that ends a request head, looking
/// only at what follows the first `searched` bytes (and the 3 before them),
/// so that a head trickling in byte by byte costs linear time.
pub fn has_end(buf: &[u8], searched: usize) -> bool {
    let from = searched.saturating_sub(3);
    let new = buf.get(from..).unwrap_or_default();
    new.windows(2).any(|w| w == b"\n\n") || new.windows(3).any(|w| w == b"\n\r\n")
}

/// Parses the head in `buf`, which holds its end ([`has_end`]) or is
/// `full` (as large as allowed). `None`: not complete yet.
pub fn parse(buf: &[u8], full: bool, peer: IpAddr, hosts: &Hosts) -> Option<Request> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(buf) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) if full => return Some(Request::TooLarge),
        Ok(httparse::Status::Partial) => return None,
        Err(httparse::Error::TooManyHeaders) => return Some(Request::TooLarge),
        Err(_) => return Some(Request::Malformed),
    }
    let find = |name: &'static str| {
        request
            .headers
            .iter()
            .filter(move |header| header.name.eq_ignore_ascii_case(name))
            .map(|header| header.value)
    };
    let trusted = trusted(peer, find("host").next(), hosts);
    let method = request.method.unwrap_or_default();
    let (path, query) = match request.path.unwrap_or_default().split_once('?') {
        Some((path, query)) => (path, query),
        None => (request.path.unwrap_or_default(), ""),
    };
    if trusted && method == "GET" && path == WAIT_PATH {
        let page = query
            .split('&')
            .find_map(|pair| pair.strip_prefix("page="))
            .and_then(|n| n.parse().ok());
        return Some(Request::Wait { page });
    }
    let html = find("accept").any(|value| {
        value
            .windows(b"text/html".len())
            .any(|w| w.eq_ignore_ascii_case(b"text/html"))
    });
    let target = request
        .path
        .filter(|target| target.starts_with('/'))
        .unwrap_or("/")
        .to_owned();
    Some(Request::Page {
        head_only: method == "HEAD",
        html,
        trusted,
        target,
    })
}

/// The host names and addresses a `Host` header may name to be trusted,
/// besides the loopback literals and `localhost`: the hosts of the `-s`
/// specs and the addresses the sockets are bound to.
#[derive(Clone, Debug, Default)]
pub struct Hosts {
    names: Vec<String>,
    addresses: Vec<IpAddr>,
}

impl Hosts {
    /// Trusts `names` (any case, a final dot ignored) and `addresses` (an
    /// unspecified one, `0.0.0.0` or `::`, is no host and is left out).
    pub fn new(
        names: impl IntoIterator<Item = String>,
        addresses: impl IntoIterator<Item = IpAddr>,
    ) -> Hosts {
        Hosts {
            names: names.into_iter().map(|name| normalise(&name)).collect(),
            addresses: addresses
                .into_iter()
                .filter(|address| !address.is_unspecified())
                .collect(),
        }
    }
}

/// Whether a client may see the details: it connects from a loopback
/// address (so it runs on this machine), and its `Host` header (without
/// the port) names this machine: a loopback literal, `localhost`, or one
/// of `hosts`. A page that DNS rebinding let into the developer's browser
/// has its own host name in `Host` (`evil.example`), and is not trusted.
pub fn trusted(peer: IpAddr, host: Option<&[u8]>, hosts: &Hosts) -> bool {
    is_loopback(peer)
        && host
            .and_then(parse_host)
            .is_some_and(|host| host.is_in(hosts))
}

fn is_loopback(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// What a `Host` header names.
#[derive(Debug, PartialEq, Eq)]
enum Host {
    Address(IpAddr),
    Name(String),
}

impl Host {
    fn is_in(&self, hosts: &Hosts) -> bool {
        match self {
            Host::Address(address) => is_loopback(*address) || hosts.addresses.contains(address),
            Host::Name(name) => name == "localhost" || hosts.names.contains(name),
        }
    }
}

/// The host of a `Host` header, without its port: `[::1]:8000` is `::1`,
/// `Example.COM.:80` is the name `example.com`.
fn parse_host(value: &[u8]) -> Option<Host> {
    let text = std::str::from_utf8(value).ok()?.trim();
    let port_ok = |port: &str| port.is_empty() || port.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = text.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':').unwrap_or(after);
        if !(after.is_empty() || after.starts_with(':')) || !port_ok(port) {
            return None;
        }
        return inside
            .parse::<Ipv6Addr>()
            .ok()
            .map(|a| Host::Address(a.into()));
    }
    let (host, port) = text.rsplit_once(':').unwrap_or((text, ""));
    if host.is_empty() || !port_ok(port) || host.contains(':') {
        return None;
    }
    match host.parse::<Ipv4Addr>() {
        Ok(address) => Some(Host::Address(address.into())),
        Err(_) => Some(Host::Name(normalise(host))),
    }
}

fn normalise(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

#[cfg(test)]
mod tests;
