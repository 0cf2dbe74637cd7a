//! The kernel's socket tables, `/proc/net/tcp`, `tcp6` and `unix`, parsed,
//! and the connections of the passed listeners counted in them
//! (`--idle-stop`).
//!
//! A connection a listener accepted, or holds in its backlog, bears the
//! listener's address as its own (see [`Endpoint::bears`]): for TCP its
//! local address and port, for a Unix socket the listener's name, which
//! Linux gives every connection it accepts. The formats are those of
//! `net/ipv4/tcp_ipv4.c` (`tcp4_seq_show`), `net/ipv6/tcp_ipv6.c` and
//! `net/unix/af_unix.c` (`unix_seq_show`), described in `proc_net(5)`.

// The parsing is checked on every platform but needed only where `/proc`
// is read.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use std::collections::HashSet;

use super::tables::Endpoint;

/// One row of `/proc/net/tcp` or `tcp6`: for a connection a listener
/// accepted, its local address is the listener's.
pub use crate::holder::table::{state, Row as TcpRow};

/// One row of `/proc/net/unix`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnixRow {
    /// A listening socket (`__SO_ACCEPTCON` in its flags).
    pub listening: bool,
    /// Connected (`SS_CONNECTED`): a connection, accepted or in a backlog.
    pub connected: bool,
    /// 0 for a connection no process holds yet (in a backlog).
    pub inode: u64,
    /// The name as bound: a path, `@` and an abstract name, or empty.
    pub name: Vec<u8>,
}

/// `__SO_ACCEPTCON`, the flag of a listening Unix socket.
const ACCEPTCON: u32 = 1 << 16;
/// `SS_CONNECTED`.
const CONNECTED: u8 = 3;

impl UnixRow {
    /// `ffff8d…: 00000002 00000000 00010000 0001 01 12345 /tmp/app.sock`:
    /// `Num RefCount Protocol Flags Type St Inode Path`. `None` for the
    /// header and for lines not of that form.
    pub fn parse(line: &[u8]) -> Option<UnixRow> {
        // Everything up to the inode is ASCII; the path may be anything.
        let mut rest = line;
        let mut fields = Vec::with_capacity(7);
        for _ in 0..7 {
            let start = rest.iter().position(|b| *b != b' ')?;
            rest = &rest[start..];
            let end = rest.iter().position(|b| *b == b' ').unwrap_or(rest.len());
            fields.push(std::str::from_utf8(&rest[..end]).ok()?);
            rest = &rest[end..];
        }
        fields[0].strip_suffix(':')?;
        let flags = u32::from_str_radix(fields[3], 16).ok()?;
        let state = u8::from_str_radix(fields[5], 16).ok()?;
        let inode = fields[6].parse().ok()?;
        let name = match rest.iter().position(|b| *b != b' ') {
            Some(start) => rest[start..].to_vec(),
            None => Vec::new(),
        };
        Some(UnixRow {
            listening: flags & ACCEPTCON != 0,
            connected: state == CONNECTED,
            inode,
            name,
        })
    }
}

/// The connections of `listeners` in the tables, left out those on
/// `own`'s inodes (systemfd's): TCP connections established, being set
/// up (`SYN_RECV`) or closed by the client only (`CLOSE_WAIT`), never
/// `TIME_WAIT` or `FIN_WAIT2`, whose server side is done; the backlog of
/// each listener; and the connected Unix sockets bearing a listener's name.
/// A connection in a backlog may count twice (as a row and in its
/// listener's backlog): the count is 0 exactly when there is none.
pub fn count(
    listeners: &[Endpoint],
    own: &HashSet<u64>,
    tcp: impl IntoIterator<Item = TcpRow>,
    unix: impl IntoIterator<Item = UnixRow>,
) -> usize {
    let bears = |own: &Endpoint| listeners.iter().any(|listener| listener.bears(own));
    let mut total = 0;
    for row in tcp {
        if own.contains(&row.inode) || !bears(&Endpoint::Tcp(row.local)) {
            continue;
        }
        total += match row.state {
            state::LISTEN => row.rx_queue as usize,
            state::ESTABLISHED | state::SYN_RECV | state::CLOSE_WAIT => 1,
            _ => 0,
        };
    }
    for row in unix {
        let counts = row.connected && !row.listening && !own.contains(&row.inode);
        if counts && bears(&Endpoint::Unix(row.name)) {
            total += 1;
        }
    }
    total
}

#[cfg(test)]
mod tests;
