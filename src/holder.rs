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
//! `holder/found.rs` says what was found; `holder/table.rs` parses what
//! `/proc` shows (the TCP and UDP tables, which `--idle-stop`'s counting of
//! connections reads too), and is tested on every platform.

mod found;
#[cfg(target_os = "linux")]
mod linux;
pub mod table;

use std::net::SocketAddr;

#[cfg(target_os = "linux")]
use found::LIMIT;
pub use found::{Holder, Protocol};

/// Who keeps `addr` from being bound for `protocol` (a bind just failed
/// with "address in use"), looked for for `LIMIT` (50 ms) at most. `None` where
/// that cannot be seen: outside Linux, when the kernel's tables show
/// nothing on the address, or when they could not be read in time.
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
