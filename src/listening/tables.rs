//! What `/proc` shows of accepted connections, parsed: the rows of the TCP
//! tables (`/proc/net/tcp`, `/proc/net/tcp6`) and of the Unix socket table
//! (`/proc/net/unix`), which tell a connection accepted on a passed socket
//! from anything else a process holds, and the state of a thread (its
//! `stat` line), which tells whether it is stopped.
//!
//! A row names its socket by inode, the number in a descriptor's
//! `socket:[…]` link, so the sockets a process holds can be looked up in
//! the tables.

// The parsing is checked on every platform but needed only where `/proc`
// is read.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A passed socket that accepts connections, as the tables show the
/// connections it accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A TCP listener bound to this address (an unspecified IP: any).
    Tcp(SocketAddr),
    /// A Unix stream or sequenced-packet listener, by its name as
    /// `/proc/net/unix` shows it: the path's bytes as bound, or `@` and the
    /// abstract name (see [`abstract_name`]). Linux gives every connection
    /// it accepts the listener's name.
    Unix(Vec<u8>),
}

/// The `tcp_states` of `/proc/net/tcp`'s `st` column that are no accepted
/// connection: a listener (`0A`), and a socket that is closed on both sides
/// (`07`), which has nothing left to lose.
const TCP_LISTEN: u8 = 0x0A;
const TCP_CLOSE: u8 = 0x07;

/// One row of `/proc/net/tcp` or `/proc/net/tcp6`:
/// `sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode …`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpRow {
    /// The socket's own address.
    pub local: SocketAddr,
    /// The TCP state, as the kernel numbers them (`01` established, …).
    pub state: u8,
    /// The socket's inode; 0 for a connection that no descriptor holds yet
    /// (still in a listener's queue) or any more (`TIME_WAIT`).
    pub inode: u64,
}

impl TcpRow {
    /// A row of either table; `None` for the header and anything else.
    ///
    /// The kernel prints each 32-bit word of an address as a number in
    /// its own byte order (`0100007F` is 127.0.0.1 on a little-endian
    /// machine), so the text is read back in this machine's order: it is
    /// the kernel this machine runs that wrote it.
    pub fn parse(line: &str) -> Option<TcpRow> {
        let mut words = line.split_ascii_whitespace();
        words.next()?.strip_suffix(':')?;
        let local = tcp_address(words.next()?)?;
        let _remote = words.next()?;
        let state = u8::from_str_radix(words.next()?, 16).ok()?;
        // tx_queue:rx_queue, tr:tm->when, retrnsmt, uid, timeout.
        let inode = words.nth(5)?.parse().ok()?;
        Some(TcpRow {
            local,
            state,
            inode,
        })
    }

    /// Whether the row is a connection accepted on the listener bound to
    /// `listener`: the same local port, and the same address unless the
    /// listener's is unspecified (an IPv4 client of a dual-stack listener
    /// shows as `::ffff:a.b.c.d`).
    pub fn accepted_on(&self, listener: &SocketAddr) -> bool {
        self.state != TCP_LISTEN
            && self.state != TCP_CLOSE
            && self.local.port() == listener.port()
            && (listener.ip().is_unspecified()
                || self.local.ip().to_canonical() == listener.ip().to_canonical())
    }
}

/// `0100007F:1F90` (IPv4) or 32 hex digits and a port (IPv6).
fn tcp_address(text: &str) -> Option<SocketAddr> {
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

/// `__SO_ACCEPTCON` in `/proc/net/unix`'s `Flags` column: a listener.
const UNIX_LISTENING: u32 = 1 << 16;
/// `SS_UNCONNECTED` in its `St` column: neither connected nor connecting.
const UNIX_UNCONNECTED: u8 = 1;

/// One row of `/proc/net/unix`:
/// `Num: RefCount Protocol Flags Type St Inode Path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnixRow {
    pub flags: u32,
    /// `SS_UNCONNECTED` (1), `SS_CONNECTED` (3), ….
    pub state: u8,
    pub inode: u64,
    /// The socket's name as bound (empty for an unnamed one).
    pub path: Vec<u8>,
}

impl UnixRow {
    /// A row of the table (as bytes: a path need not be UTF-8); `None` for
    /// the header and anything else.
    pub fn parse(line: &[u8]) -> Option<UnixRow> {
        let mut rest = line;
        let mut word = || -> Option<&[u8]> {
            let start = rest.iter().position(|b| !b.is_ascii_whitespace())?;
            let tail = &rest[start..];
            let end = tail
                .iter()
                .position(u8::is_ascii_whitespace)
                .unwrap_or(tail.len());
            rest = &tail[end..];
            Some(&tail[..end])
        };
        word()?.strip_suffix(b":")?;
        let _refcount = word()?;
        let _protocol = word()?;
        let flags = u32::from_str_radix(std::str::from_utf8(word()?).ok()?, 16).ok()?;
        let _kind = word()?;
        let state = u8::from_str_radix(std::str::from_utf8(word()?).ok()?, 16).ok()?;
        let inode = std::str::from_utf8(word()?).ok()?.parse().ok()?;
        // The path follows one space, and may hold spaces itself.
        let path = rest.strip_prefix(b" ").unwrap_or(rest);
        let path = path.strip_suffix(b"\n").unwrap_or(path);
        Some(UnixRow {
            flags,
            state,
            inode,
            path: path.to_vec(),
        })
    }

    /// Whether the row is a connection accepted on the listener named
    /// `name`: it bears that name, and is connected, not listening.
    pub fn accepted_on(&self, name: &[u8]) -> bool {
        !name.is_empty()
            && self.path == name
            && self.flags & UNIX_LISTENING == 0
            && self.state != UNIX_UNCONNECTED
    }
}

/// An abstract socket's name as `/proc/net/unix` shows it: `@`, then the
/// name with each NUL byte shown as `@`.
pub fn abstract_name(name: &[u8]) -> Vec<u8> {
    std::iter::once(b'@')
        .chain(name.iter().map(|&b| if b == 0 { b'@' } else { b }))
        .collect()
}

/// What a thread's `/proc/PID/task/TID/stat` line says of it, as far as
/// holding a tree still goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Run {
    /// Stopped (`T`), or stopped by a tracer (`t`).
    Stopped,
    /// Exited (`Z`, `X`): it accepts nothing any more.
    Gone,
    /// Anything else: running, or asleep, and able to go on.
    Going,
}

impl Run {
    /// `PID (COMM) STATE …`; COMM may hold spaces and parentheses, so the
    /// state is the first field after the last `)`.
    pub fn parse(stat: &str) -> Option<Run> {
        let rest = &stat[stat.rfind(')')? + 1..];
        Some(match rest.split_ascii_whitespace().next()? {
            "T" | "t" => Run::Stopped,
            "Z" | "X" | "x" => Run::Gone,
            _ => Run::Going,
        })
    }
}

#[cfg(test)]
mod tests;
