//! Who holds an address that a bind found in use: `cannot bind
//! 127.0.0.1:5000: in use by pid 4242 (node server.js)` rather than the
//! bare errno, for the most common error of a development server (an old
//! server left running in another terminal).
//!
//! Linux shows it (`holder/linux.rs`): the socket tables under `/proc/net`
//! name the socket in the way, with its inode and the user that made it,
//! and the descriptors of that user's processes tell which holds it. The
//! search gives up after [`LIMIT`]. Another user's processes are not looked
//! into (systemfd may not), and a port held only by closed connections in
//! `TIME_WAIT` has no holder: each of these is said instead. Other systems
//! show none of it without privileges (macOS's `proc_pidfdinfo` for one's
//! own processes aside), so there the error keeps its errno.
//!
//! `holder/table.rs` parses what `/proc` shows, and is tested on every
//! platform.

#[cfg(target_os = "linux")]
mod linux;
mod table;

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// How long the search for a holder may take: an error message must not
/// keep the user waiting.
pub const LIMIT: Duration = Duration::from_millis(50);

/// The protocol of the socket that could not be bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
}

/// What holds an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holder {
    /// A process that holds the socket in the way: its pid and command line
    /// (`None` when it has none to show).
    Process { pid: u32, command: Option<String> },
    /// A socket of another user, whose processes systemfd may not look
    /// into: the uid, and its name where `/etc/passwd` has one.
    OtherUser { uid: u32, name: Option<String> },
    /// Only connections in `TIME_WAIT`: no process holds the port.
    TimeWait,
    /// A socket of the user's whose process was not found: not within
    /// [`LIMIT`] (`timed_out`), or not at all (a process in another PID
    /// namespace, such as a container's).
    Unseen { timed_out: bool },
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Holder::Process {
                pid,
                command: Some(command),
            } => write!(f, "in use by pid {pid} ({command})"),
            Holder::Process { pid, command: None } => write!(f, "in use by pid {pid}"),
            Holder::OtherUser { uid, name } => {
                f.write_str("in use by a process of another user, ")?;
                match name {
                    Some(name) => write!(f, "{name} (uid {uid})")?,
                    None => write!(f, "uid {uid}")?,
                }
                f.write_str(", which systemfd may not look into")
            }
            Holder::TimeWait => f.write_str(
                "in use only by closed connections in TIME_WAIT, from a server that has exited: no process holds it, and the kernel frees it within a minute",
            ),
            Holder::Unseen { timed_out: true } => write!(
                f,
                "in use by a socket of this user; no process of it was found holding it within {} ms",
                LIMIT.as_millis()
            ),
            Holder::Unseen { timed_out: false } => f.write_str(
                "in use by a socket of this user that no process in sight holds (one in a container?)",
            ),
        }
    }
}

/// Who keeps `addr` from being bound for `protocol` (a bind just failed
/// with "address in use"), looked for for [`LIMIT`] at most. `None` where
/// that cannot be seen: outside Linux, or when the kernel's tables show
/// nothing on the address.
pub fn find(protocol: Protocol, addr: &SocketAddr) -> Option<Holder> {
    #[cfg(target_os = "linux")]
    return linux::find(protocol, addr, std::time::Instant::now() + LIMIT);
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (protocol, addr);
        None
    }
}

#[cfg(test)]
mod tests;
