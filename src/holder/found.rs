//! What holds an address, and how the error message says it.

// Found on Linux only; elsewhere a bind's error keeps its errno.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use std::fmt;
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
