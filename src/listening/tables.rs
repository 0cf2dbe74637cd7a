//! What tells an accepted connection and a stopped thread, as plain data:
//! a passed listener's address ([`Endpoint`]), which every connection it
//! accepts bears, and the state of a thread (its `stat` line), which tells
//! whether it is stopped.

// The parsing is checked on every platform but needed only where `/proc`
// is read.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use std::net::SocketAddr;

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

impl Endpoint {
    /// Whether a connection whose own address is `own` was accepted on
    /// this listener: the same port, and the same address unless the
    /// listener's is unspecified (an IPv4 client of a dual-stack listener
    /// has `::ffff:a.b.c.d`); or, for Unix sockets, the same name (Linux
    /// gives every connection a listener accepts the listener's name).
    pub fn bears(&self, own: &Endpoint) -> bool {
        match (self, own) {
            (Endpoint::Tcp(listener), Endpoint::Tcp(own)) => {
                own.port() == listener.port()
                    && (listener.ip().is_unspecified()
                        || own.ip().to_canonical() == listener.ip().to_canonical())
            }
            (Endpoint::Unix(listener), Endpoint::Unix(own)) => {
                !listener.is_empty() && listener == own
            }
            _ => false,
        }
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
