//! The kernel's socket tables as Linux shows them (`/proc/net/tcp`,
//! `tcp6`, `udp`, `udp6`), parsed, and the choice of the row that keeps an
//! address from being bound: plain data, tested on every platform.

// Parsed on every platform, so it is tested everywhere; read on Linux only.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// TCP states as the `st` column numbers them (`include/net/tcp_states.h`).
pub mod state {
    /// A connection open both ways.
    pub const ESTABLISHED: u8 = 0x01;
    /// A connection being set up (the handshake's last step awaited).
    pub const SYN_RECV: u8 = 0x03;
    /// A closed connection the kernel keeps for a while; no descriptor
    /// holds it (its inode is 0).
    pub const TIME_WAIT: u8 = 0x06;
    /// For TCP a bound socket that neither listens nor connects, and the
    /// state of every unconnected UDP socket.
    pub const CLOSE: u8 = 0x07;
    /// Closed by the client, not yet by the server.
    pub const CLOSE_WAIT: u8 = 0x08;
    /// A listener.
    pub const LISTEN: u8 = 0x0A;
}

/// One row of a table:
/// `sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode …`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    /// The socket's own address.
    pub local: SocketAddr,
    /// The TCP state, as the kernel numbers them (see [`state`]).
    pub state: u8,
    /// For a listener, the connections waiting in its backlog; otherwise
    /// the bytes not yet read.
    pub rx_queue: u32,
    /// The user that made the socket.
    pub uid: u32,
    /// The socket's inode, the number in `socket:[…]` of a descriptor that
    /// holds it; 0 when none does (`TIME_WAIT`).
    pub inode: u64,
}

impl Row {
    /// A row of any of the four tables; `None` for the header and anything
    /// else.
    ///
    /// The kernel prints each 32-bit word of an address as a number in its
    /// own byte order (`0100007F` is 127.0.0.1 on a little-endian machine),
    /// so the text is read back in this machine's order: the kernel this
    /// machine runs wrote it.
    pub fn parse(line: &str) -> Option<Row> {
        let mut words = line.split_ascii_whitespace();
        words.next()?.strip_suffix(':')?;
        let local = address(words.next()?)?;
        let _remote = address(words.next()?)?;
        let state = u8::from_str_radix(words.next()?, 16).ok()?;
        let (_, rx) = words.next()?.split_once(':')?;
        let rx_queue = u32::from_str_radix(rx, 16).ok()?;
        // tr:tm->when, retrnsmt, then the uid.
        let uid = words.nth(2)?.parse().ok()?;
        // timeout, inode.
        let inode = words.nth(1)?.parse().ok()?;
        Some(Row {
            local,
            state,
            rx_queue,
            uid,
            inode,
        })
    }

    /// Whether the row is a TCP listener.
    pub fn listens(&self) -> bool {
        self.state == state::LISTEN
    }

    /// Whether the row's address overlaps `addr`: the same port, and the
    /// same address, or either one unspecified (a wildcard takes the port
    /// on every address; an IPv6 one, on IPv4's too unless it is
    /// `IPV6_V6ONLY`, which the table does not show).
    pub fn overlaps(&self, addr: &SocketAddr) -> bool {
        self.local.port() == addr.port()
            && (self.local.ip().is_unspecified()
                || addr.ip().is_unspecified()
                || self.local.ip().to_canonical() == addr.ip().to_canonical())
    }
}

/// `0100007F:1F90` (IPv4) or 32 hex digits and a port (IPv6).
fn address(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |at: usize| -> Option<[u8; 4]> {
        let hex = ip.get(at..at + 8)?;
        Some(u32::from_str_radix(hex, 16).ok()?.to_ne_bytes())
    };
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for (index, chunk) in bytes.chunks_exact_mut(4).enumerate() {
                chunk.copy_from_slice(&word(index * 8)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// What the tables say keeps `addr` from being bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocker {
    /// A socket (by inode) that a descriptor holds, made by `uid`.
    Socket { inode: u64, uid: u32 },
    /// Only connections in `TIME_WAIT`: no process holds the address.
    TimeWait,
}

/// The row of `rows` that most likely keeps `addr` from being bound: a
/// listener first, then a bound socket that neither listens nor connects
/// (an unconnected UDP socket), then any other socket a descriptor holds;
/// else, when only `TIME_WAIT` connections use the port, that. `None` when
/// the tables show nothing on the address (the holder is out of sight: in
/// another network namespace, say).
pub fn blocker(rows: impl IntoIterator<Item = Row>, addr: &SocketAddr) -> Option<Blocker> {
    let mut best: Option<(u8, Row)> = None;
    let mut time_wait = false;
    for row in rows.into_iter().filter(|row| row.overlaps(addr)) {
        if row.inode == 0 {
            time_wait |= row.state == state::TIME_WAIT;
            continue;
        }
        let rank = match row.state {
            state::LISTEN => 0,
            state::CLOSE => 1,
            _ => 2,
        };
        if best.is_none_or(|(was, _)| rank < was) {
            best = Some((rank, row));
        }
    }
    match best {
        Some((_, row)) => Some(Blocker::Socket {
            inode: row.inode,
            uid: row.uid,
        }),
        None => time_wait.then_some(Blocker::TimeWait),
    }
}

/// The name of user `uid` in a `passwd` file's text (`name:x:uid:…`
/// lines), if it has one.
pub fn user_name(passwd: &str, uid: u32) -> Option<&str> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?.parse::<u32>().ok()?;
        (id == uid && !name.is_empty()).then_some(name)
    })
}

/// A process's command line as `/proc/PID/cmdline` holds it (arguments
/// ending in NUL bytes), as one line of at most `max` characters: the
/// arguments joined by spaces, cut with `…`. `None` when it is empty (a
/// kernel thread, a zombie).
pub fn command_line(raw: &[u8], max: usize) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let words: Vec<&str> = text.split('\0').filter(|word| !word.is_empty()).collect();
    if words.is_empty() {
        return None;
    }
    let line = words.join(" ");
    let line: String = line
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    Some(match line.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    })
}

#[cfg(test)]
mod tests;
